//! The erosion model on concrete backends: training on the CPU, and burn's forward pass for
//! checking the plain-Rust inference against.

use burn::tensor::{Tensor, TensorData};

use super::{Cpu, CpuTrain};
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
pub fn erosion_residual_burn(weights: &ErosionWeights, noise: &[f32], n: usize) -> Vec<f32> {
    let set = weights.features;
    let x = features(set, noise, n, n, weights.spacing_m, weights.input_scale);
    let side = n.saturating_sub(2 * set.reach());
    if x.is_empty() {
        return Vec::new();
    }
    let device = Default::default();
    let model = ErosionModel::<Cpu>::from_weights(weights, &device);
    let plan = plan_of(weights);
    let x = Tensor::<Cpu, 4>::from_data(TensorData::new(x, [1, set.inputs(), side, side]), &device);
    let out = model.forward(x, &plan);
    let mut out = out.into_data().into_vec::<f32>().unwrap_or_default();
    out.iter_mut().for_each(|v| *v *= weights.output_scale);
    out
}
