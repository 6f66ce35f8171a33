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
pub fn grow_texture(
    device: &ComputeDevice,
    weights: &NcaWeights,
    size: u32,
    seed: u64,
    steps: Option<u32>,
    cancelled: &dyn Fn() -> bool,
) -> Result<Vec<u8>, GrowError> {
    let plan = |band_cells| GrowPlan {
        size: size as usize,
        steps: steps.unwrap_or(weights.steps),
        fire_rate: weights.fire_rate,
        seed,
        band_cells,
    };
    match device {
        ComputeDevice::Cpu => grow_on::<Cpu>(
            &Default::default(),
            weights,
            plan(GrowPlan::CPU_BAND_CELLS),
            cancelled,
        ),
        #[cfg(feature = "wgpu")]
        ComputeDevice::Gpu(d) => {
            grow_on::<Gpu>(d, weights, plan(GrowPlan::GPU_BAND_CELLS), cancelled)
        }
    }
}

fn grow_on<B: burn::tensor::backend::Backend>(
    device: &B::Device,
    weights: &NcaWeights,
    plan: GrowPlan,
    cancelled: &dyn Fn() -> bool,
) -> Result<Vec<u8>, GrowError> {
    let nca = Nca::<B>::from_weights(weights, device);
    let n = plan.size;
    let state =
        super::nca::grow(&nca, plan, cancelled, device).map_err(|_| GrowError::Cancelled)?;
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
