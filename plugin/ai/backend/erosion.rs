//! The erosion model on concrete backends: training on the CPU, burn's forward pass for
//! checking the plain-Rust inference against, and batches of windows on a device
//! ([`ErosionOnDevice`]: on a GPU, many blocks of a flight in one pass).

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

#[cfg(feature = "wgpu")]
use super::Gpu;
use super::{ComputeDevice, Cpu, CpuTrain};
use crate::erosion::features::features;
use crate::erosion::model::{
    ErosionModel, ErosionTrainConfig, ErosionTrainer as Trainer, TrainingPair, plan_of,
};
use crate::erosion::weights::ErosionWeights;

/// Trains an erosion model on the CPU backend (non-generic wrapper of
/// [`ErosionTrainer`](crate::erosion::model::ErosionTrainer)).
pub struct ErosionTrainer {
    inner: Trainer<CpuTrain>,
}

impl ErosionTrainer {
    /// A trainer on `train`, measuring on `held_out`.
    pub fn new(
        config: ErosionTrainConfig,
        train: &[TrainingPair],
        held_out: &[TrainingPair],
    ) -> Self {
        Self {
            inner: Trainer::new(config, train, held_out, &Default::default()),
        }
    }

    /// One iteration; returns its loss (mean squared error in output-scale units).
    pub fn step(&mut self) -> f32 {
        self.inner.step()
    }

    /// Iterations done.
    pub fn iteration(&self) -> usize {
        self.inner.iteration()
    }

    /// Usable training and held-out pairs.
    pub fn pairs(&self) -> (usize, usize) {
        self.inner.pairs()
    }

    /// Held-out RMS error as a fraction of the simulator's RMS height change.
    pub fn held_out_error(&self) -> f32 {
        self.inner.held_out_error()
    }

    /// The same measure on other pairs (for example single-run targets).
    pub fn error_on(&self, pairs: &[TrainingPair]) -> f32 {
        self.inner.error_on(pairs)
    }

    /// What training multiplies each feature channel by beyond the input scale.
    pub fn channel_gains(&self) -> &[f32] {
        self.inner.channel_gains()
    }

    /// The trained model.
    pub fn weights(&self) -> ErosionWeights {
        self.inner.weights()
    }
}

/// The height change burn's CPU backend computes for the middle of an `n` x `n` noise window:
/// what [`ErosionNet::residual`](crate::erosion::ErosionNet::residual) computes in plain Rust.
/// Empty when the window does not fit the model.
pub fn erosion_residual_burn(weights: &ErosionWeights, noise: &[f32], n: usize) -> Vec<f32> {
    ErosionOnDevice::new(weights, &ComputeDevice::Cpu)
        .residuals(&[noise], n)
        .ok()
        .and_then(|mut out| out.pop())
        .unwrap_or_default()
}

/// Why [`ErosionOnDevice::residuals`] gave no height changes.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ErosionDeviceError {
    /// A window is too small for the model, or its length is not `n * n`.
    #[error("window {index} does not fit the model ({len} heights for a side of {n})")]
    Window {
        /// Which window.
        index: usize,
        /// Its length.
        len: usize,
        /// The side asked for.
        n: usize,
    },
    /// The backend failed to read the result back.
    #[error("backend error: {0}")]
    Backend(String),
}

/// The model on one backend.
enum Loaded {
    Cpu(ErosionModel<Cpu>),
    #[cfg(feature = "wgpu")]
    Gpu(ErosionModel<Gpu>, burn::backend::wgpu::WgpuDevice),
}

/// An erosion model loaded on a [`ComputeDevice`], running burn's forward pass on batches of
/// equal windows: what [`ErosionNet::residual`](crate::erosion::ErosionNet::residual) computes
/// for one window in plain Rust, for many at once. On a GPU a batch is one upload, one pass and
/// one read-back. The features are computed on the CPU (exact max and min filters). A GPU's sums
/// may round otherwise than the CPU's, so its changes match the plain-Rust ones to a
/// tolerance, not to the bit; the same batch on the same device gives the same bits each run.
pub struct ErosionOnDevice {
    weights: ErosionWeights,
    plan: Vec<(crate::erosion::Stage, usize)>,
    model: Loaded,
}

impl ErosionOnDevice {
    /// `weights` loaded on `device`.
    pub fn new(weights: &ErosionWeights, device: &ComputeDevice) -> Self {
        let model = match device {
            ComputeDevice::Cpu => {
                Loaded::Cpu(ErosionModel::from_weights(weights, &Default::default()))
            }
            #[cfg(feature = "wgpu")]
            ComputeDevice::Gpu(d) => Loaded::Gpu(ErosionModel::from_weights(weights, d), d.clone()),
        };
        Self {
            weights: weights.clone(),
            plan: plan_of(weights),
            model,
        }
    }

    /// Height changes in metres for the middles of `windows`, each `n` x `n` noise heights
    /// (row-major), in their order: `n - 2 m` squared values each, `m` the model's margin.
    /// Two-scale models need windows placed as
    /// [`ErosionNet::residual_at`](crate::erosion::ErosionNet::residual_at) places them.
    ///
    /// Waits for the device to finish and read back: call it from a worker thread, a pool task
    /// or a tool, never from a system on the frame thread.
    pub fn residuals(
        &self,
        windows: &[&[f32]],
        n: usize,
    ) -> Result<Vec<Vec<f32>>, ErosionDeviceError> {
        let w = &self.weights;
        let set = w.features;
        let side = n.saturating_sub(2 * set.reach());
        let mut x = Vec::with_capacity(windows.len() * set.inputs() * side * side);
        for (index, window) in windows.iter().enumerate() {
            let f = features(set, window, n, n, w.spacing_m, w.input_scale);
            let two_scale_odd = w.is_two_scale() && side % 2 == 1;
            if f.is_empty() || n <= 2 * w.margin() || two_scale_odd {
                return Err(ErosionDeviceError::Window {
                    index,
                    len: window.len(),
                    n,
                });
            }
            x.extend(f);
        }
        if windows.is_empty() {
            return Ok(Vec::new());
        }
        let shape = [windows.len(), set.inputs(), side, side];
        let out = match &self.model {
            Loaded::Cpu(model) => forward(model, x, shape, &self.plan, &Default::default()),
            #[cfg(feature = "wgpu")]
            Loaded::Gpu(model, device) => forward(model, x, shape, &self.plan, device),
        }?;
        let per = out.len() / windows.len();
        Ok(out
            .chunks_exact(per.max(1))
            .map(|c| c.iter().map(|v| v * w.output_scale).collect())
            .collect())
    }
}

/// burn's forward pass on features `x` of `shape`, read back.
fn forward<B: Backend>(
    model: &ErosionModel<B>,
    x: Vec<f32>,
    shape: [usize; 4],
    plan: &[(crate::erosion::Stage, usize)],
    device: &B::Device,
) -> Result<Vec<f32>, ErosionDeviceError> {
    let x = Tensor::<B, 4>::from_data(TensorData::new(x, shape), device);
    let out = model.forward(x, plan);
    bevy::tasks::block_on(out.into_data_async())
        .map_err(|e| ErosionDeviceError::Backend(format!("{e:?}")))?
        .into_vec::<f32>()
        .map_err(|e| ErosionDeviceError::Backend(format!("{e:?}")))
}
