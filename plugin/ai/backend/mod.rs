//! The only module that names concrete burn backends.
//!
//! burn compiles its kernels again in every crate that names a backend type, so tests,
//! examples and the rest of the crate call the plain functions here instead (see BUILD.md).
//! CPU: burn's Flex backend (measured faster than ndarray for this workload, see
//! notes/textures.md). GPU (feature `wgpu`): burn's wgpu backend, on Bevy's own device when the
//! AI runtime plugin finds a real GPU, or on a device of its own in tools.

use burn::tensor::Tensor;

use super::nca::GrowPlan;
use super::nca::model::{self, Nca};
use super::nca::train::{Exemplar, TrainConfig, Trainer};
use super::nca::weights::NcaWeights;
use super::surface::{PackedLayout, SurfaceParams, pack_surface};

mod erosion;
#[cfg(feature = "wgpu")]
mod fused_nca;
mod gpu_surface;
pub mod llm;
pub use erosion::{ErosionDeviceError, ErosionOnDevice, ErosionTrainer, erosion_residual_burn};
pub use gpu_surface::GpuSurface;

/// The CPU backend.
type Cpu = burn::backend::Flex;
/// The CPU backend with gradients, for training.
type CpuTrain = burn::backend::Autodiff<Cpu>;
#[cfg(feature = "wgpu")]
type Gpu = burn::backend::Wgpu;

/// Where models run.
#[derive(Clone, Debug)]
pub enum ComputeDevice {
    /// burn's CPU backend on the model worker's thread.
    Cpu,
    /// burn's wgpu backend on this device.
    #[cfg(feature = "wgpu")]
    Gpu(burn::backend::wgpu::WgpuDevice),
}

impl ComputeDevice {
    /// A short name for logs and diagnostics: `"cpu"` or `"gpu"`.
    pub fn name(&self) -> &'static str {
        match self {
            ComputeDevice::Cpu => "cpu",
            #[cfg(feature = "wgpu")]
            ComputeDevice::Gpu(_) => "gpu",
        }
    }

    /// burn's default wgpu device (its own, not Bevy's), for tools and benches; `None` without
    /// the `wgpu` feature.
    pub fn default_gpu() -> Option<Self> {
        #[cfg(feature = "wgpu")]
        {
            Some(ComputeDevice::Gpu(
                burn::backend::wgpu::WgpuDevice::default(),
            ))
        }
        #[cfg(not(feature = "wgpu"))]
        {
            None
        }
    }

    /// A device on an existing wgpu setup (Bevy's render device and queue), so burn and Bevy
    /// share one GPU queue.
    #[cfg(feature = "wgpu")]
    pub fn gpu_from_setup(setup: burn::backend::wgpu::WgpuSetup) -> Self {
        let device = burn::backend::wgpu::init_device(setup, Default::default());
        ComputeDevice::Gpu(device)
    }
}

/// How a GPU grows NCA textures. The CPU always steps op by op (burn's Flex backend, in bands:
/// [`grow`](super::nca::grow())).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NcaKernels {
    /// One fused compute kernel per step (perception, update rule and mask in one dispatch).
    #[default]
    Fused,
    /// The reference: [`grow`](super::nca::grow())'s burn ops, dozens of small kernels per step.
    OpByOp,
}

/// Why [`grow_texture`] returned no pixels.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum GrowError {
    /// Cancelled between steps.
    #[error("cancelled")]
    Cancelled,
    /// The backend failed to run or read back the result.
    #[error("backend error: {0}")]
    Backend(String),
}

/// Grows a `size` x `size` texture with `weights` from `seed` and returns RGBA8 sRGB pixels.
/// `steps` overrides the weights' step count. `cancelled` is asked between steps. The GPU result
/// is read back with burn's async read, awaited on the calling (worker) thread.
/// On a GPU it uses the [fused kernel](NcaKernels::Fused).
pub fn grow_texture(
    device: &ComputeDevice,
    weights: &NcaWeights,
    size: u32,
    seed: u64,
    steps: Option<u32>,
    cancelled: &dyn Fn() -> bool,
) -> Result<Vec<u8>, GrowError> {
    grow_texture_with(
        device,
        NcaKernels::default(),
        weights,
        size,
        seed,
        steps,
        cancelled,
    )
}

/// [`grow_texture`] with a choice of GPU kernels (ignored on the CPU).
pub fn grow_texture_with(
    device: &ComputeDevice,
    kernels: NcaKernels,
    weights: &NcaWeights,
    size: u32,
    seed: u64,
    steps: Option<u32>,
    cancelled: &dyn Fn() -> bool,
) -> Result<Vec<u8>, GrowError> {
    match device {
        ComputeDevice::Cpu => {
            let _ = kernels;
            let plan = grow_plan(weights, size, seed, steps, GrowPlan::CPU_BAND_CELLS);
            let state = grow_state_on::<Cpu>(&Default::default(), weights, plan, cancelled)?;
            rgba_of(state)
        }
        #[cfg(feature = "wgpu")]
        ComputeDevice::Gpu(d) => rgba_of(grow_on_gpu(
            d, kernels, weights, size, seed, steps, cancelled,
        )?),
    }
}

/// The final state of a grown texture, `size * size * channels` numbers, channels last (the
/// first three plus 0.5 are the colour): for tests and tools comparing backends and kernels.
pub fn grow_state(
    device: &ComputeDevice,
    kernels: NcaKernels,
    weights: &NcaWeights,
    size: u32,
    seed: u64,
    steps: Option<u32>,
) -> Result<Vec<f32>, GrowError> {
    let read = |data: Result<burn::tensor::TensorData, _>| {
        data.map_err(|e| GrowError::Backend(format!("{e:?}")))?
            .into_vec::<f32>()
            .map_err(|e| GrowError::Backend(format!("{e:?}")))
    };
    match device {
        ComputeDevice::Cpu => {
            let _ = kernels;
            let plan = grow_plan(weights, size, seed, steps, GrowPlan::CPU_BAND_CELLS);
            let state = grow_state_on::<Cpu>(&Default::default(), weights, plan, &|| false)?;
            read(bevy::tasks::block_on(state.into_data_async()))
        }
        #[cfg(feature = "wgpu")]
        ComputeDevice::Gpu(d) => {
            let state = grow_on_gpu(d, kernels, weights, size, seed, steps, &|| false)?;
            read(bevy::tasks::block_on(state.into_data_async()))
        }
    }
}

/// Grows on burn's wgpu backend with `kernels`; returns the final state without waiting.
#[cfg(feature = "wgpu")]
fn grow_on_gpu(
    device: &burn::backend::wgpu::WgpuDevice,
    kernels: NcaKernels,
    weights: &NcaWeights,
    size: u32,
    seed: u64,
    steps: Option<u32>,
    cancelled: &dyn Fn() -> bool,
) -> Result<Tensor<Gpu, 4>, GrowError> {
    let plan = grow_plan(weights, size, seed, steps, GrowPlan::GPU_BAND_CELLS);
    match kernels {
        NcaKernels::Fused => fused_nca::FusedNca::new(weights, device)
            .grow(plan, cancelled, device)
            .map_err(|_| GrowError::Cancelled),
        NcaKernels::OpByOp => grow_state_on::<Gpu>(device, weights, plan, cancelled),
    }
}

/// The plan for growing `weights` at `size` from `seed` (`steps` overrides the model's count).
fn grow_plan(
    weights: &NcaWeights,
    size: u32,
    seed: u64,
    steps: Option<u32>,
    band_cells: usize,
) -> GrowPlan {
    GrowPlan {
        size: size as usize,
        steps: steps.unwrap_or(weights.steps),
        fire_rate: weights.fire_rate,
        seed,
        band_cells,
    }
}

/// The op-by-op path ([`grow`](super::nca::grow)) on backend `B`.
fn grow_state_on<B: burn::tensor::backend::Backend>(
    device: &B::Device,
    weights: &NcaWeights,
    plan: GrowPlan,
    cancelled: &dyn Fn() -> bool,
) -> Result<Tensor<B, 4>, GrowError> {
    let nca = Nca::<B>::from_weights(weights, device);
    super::nca::grow(&nca, plan, cancelled, device).map_err(|_| GrowError::Cancelled)
}

/// RGBA8 sRGB pixels of a grown state, read back with burn's async read (awaited here).
fn rgba_of<B: burn::tensor::backend::Backend>(state: Tensor<B, 4>) -> Result<Vec<u8>, GrowError> {
    let n = state.dims()[1];
    let rgb: Tensor<B, 4> = model::rgb(state).clamp(0.0, 1.0);
    let data = bevy::tasks::block_on(rgb.into_data_async())
        .map_err(|e| GrowError::Backend(format!("{e:?}")))?;
    let values = data
        .into_vec::<f32>()
        .map_err(|e| GrowError::Backend(format!("{e:?}")))?;
    let mut out = Vec::with_capacity(n * n * 4);
    for p in values.chunks_exact(3) {
        out.extend_from_slice(&[
            (p[0] * 255.0 + 0.5) as u8,
            (p[1] * 255.0 + 0.5) as u8,
            (p[2] * 255.0 + 0.5) as u8,
            255,
        ]);
    }
    Ok(out)
}

/// A texture grown by [`grow_surface`].
#[derive(Debug)]
pub enum GrownSurface {
    /// On the CPU: RGBA8 sRGB albedo pixels (the caller derives the rest on the CPU).
    Pixels(Vec<u8>),
    /// On a GPU: the packed surface maps, still in GPU memory.
    Gpu(std::sync::Arc<GpuSurface>),
}

/// Grows a texture like [`grow_texture`] (the fused kernel on a GPU); on a GPU, also computes its surface maps with `mips`
/// levels there ([`pack_surface`]) and keeps them in GPU memory instead of reading the albedo
/// back. Waits (on the calling, worker, thread) until the GPU has finished, so the buffers
/// are ready for any later copy on the same queue.
pub fn grow_surface(
    device: &ComputeDevice,
    weights: &NcaWeights,
    size: u32,
    seed: u64,
    steps: Option<u32>,
    surface: SurfaceParams,
    mips: u32,
    cancelled: &dyn Fn() -> bool,
) -> Result<GrownSurface, GrowError> {
    match device {
        ComputeDevice::Cpu => {
            let _ = (surface, mips);
            grow_texture(device, weights, size, seed, steps, cancelled).map(GrownSurface::Pixels)
        }
        #[cfg(feature = "wgpu")]
        ComputeDevice::Gpu(d) => {
            use burn::tensor::backend::Backend as _;
            let kernels = NcaKernels::default();
            let state = grow_on_gpu(d, kernels, weights, size, seed, steps, cancelled)?;
            let packed = pack_surface(model::rgb(state), surface, mips);
            let surface = GpuSurface::from_packed(packed, size)?;
            Gpu::sync(d).map_err(|e| GrowError::Backend(format!("{e:?}")))?;
            Ok(GrownSurface::Gpu(std::sync::Arc::new(surface)))
        }
    }
}

/// The packed surface maps of a texture grown on the CPU backend, read back as 32-bit texels
/// (albedo, normal and roughness): what [`grow_surface`] leaves in GPU memory, for tests and
/// tools.
pub fn grow_surface_texels(
    weights: &NcaWeights,
    size: u32,
    seed: u64,
    steps: Option<u32>,
    surface: SurfaceParams,
    mips: u32,
) -> (PackedLayout, Vec<u32>, Vec<u32>) {
    let device = Default::default();
    let nca = Nca::<Cpu>::from_weights(weights, &device);
    let plan = grow_plan(weights, size, seed, steps, GrowPlan::CPU_BAND_CELLS);
    let state = super::nca::grow(&nca, plan, &|| false, &device).expect("never cancelled");
    let packed = pack_surface(model::rgb(state), surface, mips);
    let texels = |t: Tensor<Cpu, 1, burn::tensor::Int>| -> Vec<u32> {
        t.into_data()
            .convert::<i64>()
            .into_vec::<i64>()
            .expect("integer texels")
            .into_iter()
            .map(|v| v as u32)
            .collect()
    };
    (
        packed.layout,
        texels(packed.albedo),
        texels(packed.normal_roughness),
    )
}

/// Trains a texture NCA on the CPU backend (non-generic wrapper of
/// [`Trainer`]).
pub struct TextureTrainer {
    inner: Trainer<CpuTrain>,
}

impl TextureTrainer {
    /// A trainer for `exemplar` with `config`.
    pub fn new(exemplar: Exemplar, config: TrainConfig) -> Self {
        Self {
            inner: Trainer::new(exemplar, config, &Default::default()),
        }
    }

    /// One iteration; returns its loss.
    pub fn step(&mut self) -> f32 {
        self.inner.step()
    }

    /// Iterations done.
    pub fn iteration(&self) -> usize {
        self.inner.iteration()
    }

    /// Style loss of a texture grown from nothing with fixed seeds (a steady progress measure).
    pub fn evaluate(&self) -> f32 {
        self.inner.evaluate()
    }

    /// The trained rule.
    pub fn weights(&self) -> NcaWeights {
        self.inner.weights()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stripes(n: usize) -> Exemplar {
        let rgb = (0..n * n)
            .flat_map(|k| {
                let v = if ((k % n) / 2).is_multiple_of(2) {
                    0.9
                } else {
                    0.1
                };
                [v, v * 0.5, 0.2]
            })
            .collect();
        Exemplar {
            width: n,
            height: n,
            rgb,
        }
    }

    #[test]
    fn growing_stops_when_cancelled() {
        let weights = TextureTrainer::new(stripes(8), TrainConfig::default()).weights();
        let calls = std::cell::Cell::new(0);
        let cancel_after_three = || {
            calls.set(calls.get() + 1);
            calls.get() > 3
        };
        let result = grow_texture(
            &ComputeDevice::Cpu,
            &weights,
            16,
            1,
            None,
            &cancel_after_three,
        );
        assert_eq!(result, Err(GrowError::Cancelled));
        assert_eq!(calls.get(), 4);
        let rgba = grow_texture(&ComputeDevice::Cpu, &weights, 16, 1, Some(2), &|| false).unwrap();
        assert_eq!(rgba.len(), 16 * 16 * 4);
    }

    /// The surface maps computed with tensors (what stays on a GPU) match the CPU path's
    /// layer arrays, every mip level, to one step of rounding (two at the smallest mips, where
    /// the CPU rounds at every level).
    #[test]
    fn tensor_surface_maps_match_the_cpu_path() {
        use crate::texture::{layers::compose, material_from_albedo, parse_texture_set};
        let weights = NcaWeights::from_bytes(include_bytes!("../../../assets/models/rock.nca"))
            .expect("shipped model");
        let set = parse_texture_set(crate::texture::DEFAULT_TEXTURES_RON, "default")
            .expect("built-in texture file");
        let recipe = &set.materials["rock"];
        let (size, seed) = (32, 11);
        let params = SurfaceParams {
            bump: recipe.bump,
            roughness: recipe.roughness,
        };
        let rgba = grow_texture(&ComputeDevice::Cpu, &weights, size, seed, None, &|| false)
            .expect("grown");
        let arrays = compose(&[std::sync::Arc::new(material_from_albedo(
            rgba, size, recipe,
        ))]);
        let (layout, albedo, normal) =
            grow_surface_texels(&weights, size, seed, None, params, arrays.mips);
        assert_eq!(layout.mips.len() as u32, arrays.mips);
        let mut offset = 0;
        for (level, mip) in layout.mips.iter().enumerate() {
            let bytes = (mip.size * mip.size * 4) as usize;
            let tolerance = if level < 2 { 1 } else { 2 };
            for (name, cpu, tensor) in [
                ("albedo", &arrays.albedo, &albedo),
                ("normal and roughness", &arrays.normal_roughness, &normal),
            ] {
                let expected = &cpu[offset..offset + bytes];
                let got = crate::ai::surface::unpack_level(tensor, &layout, level);
                let worst = expected
                    .iter()
                    .zip(&got)
                    .map(|(a, b)| a.abs_diff(*b))
                    .max()
                    .unwrap();
                assert!(worst <= tolerance, "{name} mip {level}: off by {worst}");
            }
            offset += bytes;
        }
        // A wrong sign in the normal shows (the check can fail).
        assert_ne!(
            crate::ai::surface::unpack_level(&normal, &layout, 0),
            arrays.normal_roughness[..(size * size * 4) as usize]
                .chunks_exact(4)
                .flat_map(|p| [255 - p[0], 255 - p[1], p[2], p[3]])
                .collect::<Vec<u8>>()
        );
    }

    #[test]
    fn a_short_training_run_reduces_the_loss() {
        let config = TrainConfig {
            channels: 8,
            hidden: 16,
            size: 16,
            batch: 2,
            pool: 8,
            steps: (6, 8),
            grow_steps: 8,
            iterations: 40,
            learning_rate: 5e-3,
            directions: 16,
            scales: 2,
            ..TrainConfig::default()
        };
        let mut trainer = TextureTrainer::new(stripes(16), config);
        let before = trainer.evaluate();
        for _ in 0..40 {
            assert!(trainer.step().is_finite());
        }
        let after = trainer.evaluate();
        assert!(after < before * 0.7, "loss {before} -> {after}");
    }
}
