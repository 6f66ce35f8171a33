//! The erosion network in burn, generic over the backend, and its training on pairs the
//! simulator makes ([`TrainingPair`]).
//!
//! Architecture: valid (unpadded) 3x3 convolutions with growing dilation (1, 2, 4, 8 by default),
//! a ReLU after each, and a 1x1 head giving the height change. Dilations give a receptive field
//! of 1 + 2 + 4 + 8 = 15 cells beyond what the [`features`](super::features) read, at the cost of
//! four small layers, enough to see the slope a gully drains; a wider field would make every
//! chunk's padded tile (and its cost) grow.

use burn::module::{AutodiffModule, Module, Param};
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::activation::relu;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Tensor, TensorData};

use super::features::{FeatureSet, features};
use super::weights::{ConvLayer, ErosionWeights};
use crate::ai::nca::rng::SplitMix;

/// One training example: noise heights around a square and the simulator's height change
/// inside it.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainingPair {
    /// Side of the square the target covers.
    pub side: usize,
    /// Cells of noise beyond each side of the square (at least the model's margin).
    pub margin: usize,
    /// Metres between samples.
    pub spacing: f32,
    /// `(side + 2 * margin)^2` noise heights, row-major.
    pub noise: Vec<f32>,
    /// `side^2` height changes (eroded minus noise), metres.
    pub target: Vec<f32>,
}

/// Training settings.
#[derive(Clone, Debug, PartialEq)]
pub struct ErosionTrainConfig {
    /// Channels of the hidden layers.
    pub hidden: usize,
    /// Dilation of each 3x3 layer.
    pub dilations: Vec<usize>,
    /// Side of the output squares trained on.
    pub crop: usize,
    /// Squares per iteration.
    pub batch: usize,
    /// Adam's learning rate (tenfold lower for the last 30% of iterations).
    pub learning_rate: f64,
    /// Iterations planned (for the decay).
    pub iterations: usize,
    /// Seed of initialisation and crops.
    pub seed: u64,
    /// The input features.
    pub features: FeatureSet,
}

impl Default for ErosionTrainConfig {
    fn default() -> Self {
        Self {
            hidden: 16,
            dilations: vec![1, 2, 4, 8],
            crop: 40,
            batch: 8,
            learning_rate: 2e-3,
            iterations: 1500,
            seed: 1,
            features: FeatureSet::default(),
        }
    }
}

impl ErosionTrainConfig {
    /// Cells of noise the model reads beyond each side of its output.
    pub fn margin(&self) -> usize {
        self.features.reach() + self.dilations.iter().sum::<usize>()
    }
}

/// The network's parameters: one weight and bias per layer.
#[derive(Module, Debug)]
pub struct ErosionModel<B: Backend> {
    /// `[outputs, inputs, k, k]` per layer.
    pub weight: Vec<Param<Tensor<B, 4>>>,
    /// `[outputs]` per layer.
    pub bias: Vec<Param<Tensor<B, 1>>>,
}

impl<B: Backend> ErosionModel<B> {
    /// The layers of `weights` on `device`.
    pub fn from_weights(weights: &ErosionWeights, device: &B::Device) -> Self {
        let weight = weights
            .layers
            .iter()
            .map(|l| {
                Param::from_tensor(Tensor::from_data(
                    TensorData::new(l.weight.clone(), [l.outputs, l.inputs, l.kernel, l.kernel]),
                    device,
                ))
            })
            .collect();
        let bias = weights
            .layers
            .iter()
            .map(|l| {
                Param::from_tensor(Tensor::from_data(
                    TensorData::new(l.bias.clone(), [l.outputs]),
                    device,
                ))
            })
            .collect();
        Self { weight, bias }
    }

    /// Network output (in units of the output scale) for features `x`.
    ///
    /// # Shapes
    /// - `x`: `[batch, inputs, h, w]` -> `[batch, 1, h - 2r, w - 2r]`, `r` the layers' reach
    pub fn forward(&self, x: Tensor<B, 4>, dilations: &[usize]) -> Tensor<B, 4> {
        let last = self.weight.len().saturating_sub(1);
        let mut x = x;
        for (k, (w, b)) in self.weight.iter().zip(&self.bias).enumerate() {
            let d = dilations.get(k).copied().unwrap_or(1);
            x = conv2d(
                x,
                w.val(),
                Some(b.val()),
                ConvOptions::new([1, 1], [0, 0], [d, d], 1),
            );
            if k != last {
                x = relu(x);
            }
        }
        x
    }

    /// Reads the parameters back (a synchronous read: training and tools only).
    pub fn to_weights(
        &self,
        features: FeatureSet,
        dilations: &[usize],
        scales: (f32, f32, f32),
    ) -> ErosionWeights {
        let layers = self
            .weight
            .iter()
            .zip(&self.bias)
            .enumerate()
            .map(|(k, (w, b))| {
                let [outputs, inputs, kernel, _] = w.dims();
                ConvLayer {
                    inputs,
                    outputs,
                    kernel,
                    dilation: if kernel == 1 {
                        1
                    } else {
                        dilations.get(k).copied().unwrap_or(1)
                    },
                    weight: w.val().into_data().into_vec::<f32>().unwrap_or_default(),
                    bias: b.val().into_data().into_vec::<f32>().unwrap_or_default(),
                }
            })
            .collect();
        ErosionWeights {
            spacing_m: scales.0,
            input_scale: scales.1,
            output_scale: scales.2,
            features,
            layers,
        }
    }
}

/// A fresh model's weights for `config`: uniform He-style initialisation from `config.seed`
/// (host-side random numbers, so every backend starts from the same values).
pub fn initial_weights(config: &ErosionTrainConfig, scales: (f32, f32, f32)) -> ErosionWeights {
    let mut rng = SplitMix::new(config.seed);
    let mut layers = Vec::new();
    let mut inputs = config.features.inputs();
    let shapes: Vec<(usize, usize, usize)> = config
        .dilations
        .iter()
        .map(|&d| (config.hidden, 3, d))
        .chain(std::iter::once((1, 1, 1)))
        .collect();
    for (outputs, kernel, dilation) in shapes {
        let fan_in = (inputs * kernel * kernel) as f32;
        let bound = if outputs == 1 {
            (1.0 / fan_in).sqrt() * 0.1
        } else {
            (6.0 / fan_in).sqrt()
        };
        let n = outputs * inputs * kernel * kernel;
        layers.push(ConvLayer {
            inputs,
            outputs,
            kernel,
            dilation,
            weight: (0..n)
                .map(|_| (rng.next_f32() * 2.0 - 1.0) * bound)
                .collect(),
            bias: vec![0.0; outputs],
        });
        inputs = outputs;
    }
    ErosionWeights {
        spacing_m: scales.0,
        input_scale: scales.1,
        output_scale: scales.2,
        features: config.features,
        layers,
    }
}

/// A pair's features and target, ready to crop.
struct Prepared {
    /// Side of the feature planes.
    side: usize,
    /// The feature set's planes.
    features: Vec<f32>,
    /// Target side and values, divided by the output scale.
    target_side: usize,
    target: Vec<f32>,
}

/// `p`'s features (the model's `margin` of noise around the square) and its target in
/// output-scale units.
fn prepare(
    p: &TrainingPair,
    set: FeatureSet,
    margin: usize,
    input_scale: f32,
    output_scale: f32,
) -> Prepared {
    let n = p.side + 2 * p.margin;
    let cut = p.margin - margin;
    let side = p.side + 2 * margin;
    let mut noise = Vec::with_capacity(side * side);
    for j in cut..cut + side {
        noise.extend_from_slice(&p.noise[j * n + cut..j * n + cut + side]);
    }
    Prepared {
        side: side - 2 * set.reach(),
        features: features(set, &noise, side, side, p.spacing, input_scale),
        target_side: p.side,
        target: p.target.iter().map(|t| t / output_scale).collect(),
    }
}

/// Trains one model on pairs; call [`step`](Self::step) until done.
pub struct ErosionTrainer<B: AutodiffBackend> {
    model: ErosionModel<B>,
    optim: burn::optim::adaptor::OptimizerAdaptor<burn::optim::Adam, ErosionModel<B>, B>,
    train: Vec<Prepared>,
    held_out: Vec<Prepared>,
    config: ErosionTrainConfig,
    scales: (f32, f32, f32),
    rng: SplitMix,
    iteration: usize,
    device: B::Device,
}

fn rms(values: impl Iterator<Item = f32>) -> f32 {
    let (mut sum, mut n) = (0.0f64, 0usize);
    for v in values {
        sum += f64::from(v) * f64::from(v);
        n += 1;
    }
    (sum / n.max(1) as f64).sqrt() as f32
}

impl<B: AutodiffBackend> ErosionTrainer<B> {
    /// A trainer on `train`, measuring on `held_out`. Pairs whose margin is smaller than the
    /// model's are skipped. Scales come from the training pairs: inputs to about unit size,
    /// output in units of the targets' RMS.
    pub fn new(
        config: ErosionTrainConfig,
        train: &[TrainingPair],
        held_out: &[TrainingPair],
        device: &B::Device,
    ) -> Self {
        let margin = config.margin();
        let usable = |p: &&TrainingPair| p.margin >= margin && p.side >= 1;
        let spacing = train.first().map_or(1.0, |p| p.spacing);
        let raw: Vec<f32> = train
            .iter()
            .filter(usable)
            .flat_map(|p| {
                let n = p.side + 2 * p.margin;
                features(config.features, &p.noise, n, n, p.spacing, 1.0)
            })
            .collect();
        let input_scale = 1.0 / rms(raw.into_iter()).max(1e-6);
        let output_scale = rms(train
            .iter()
            .filter(usable)
            .flat_map(|p| p.target.iter().copied()))
        .max(1e-6);
        let scales = (spacing, input_scale, output_scale);
        let set = config.features;
        let prepare = |p: &TrainingPair| prepare(p, set, margin, input_scale, output_scale);
        let model = ErosionModel::from_weights(&initial_weights(&config, scales), device);
        Self {
            model,
            optim: AdamConfig::new()
                .with_grad_clipping(Some(burn::grad_clipping::GradientClippingConfig::Norm(1.0)))
                .init(),
            train: train.iter().filter(usable).map(prepare).collect(),
            held_out: held_out.iter().filter(usable).map(prepare).collect(),
            rng: SplitMix::new(config.seed ^ 0xe205),
            config,
            scales,
            iteration: 0,
            device: device.clone(),
        }
    }

    /// Iterations done.
    pub fn iteration(&self) -> usize {
        self.iteration
    }

    /// Usable training and held-out pairs.
    pub fn pairs(&self) -> (usize, usize) {
        (self.train.len(), self.held_out.len())
    }

    /// One iteration on random crops; returns the mean squared error in units of the output
    /// scale (1.0 is "predicts nothing").
    pub fn step(&mut self) -> f32 {
        if self.train.is_empty() {
            return f32::NAN;
        }
        let cfg = self.config.clone();
        let (reach, inputs) = (cfg.margin() - cfg.features.reach(), cfg.features.inputs());
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        let mut crop = cfg.crop;
        for _ in 0..cfg.batch {
            let p = &self.train[self.rng.below(self.train.len())];
            crop = crop.min(p.target_side);
            let a = self.rng.below(p.target_side - crop + 1);
            let b = self.rng.below(p.target_side - crop + 1);
            let side = crop + 2 * reach;
            for c in 0..inputs {
                let plane = &p.features[c * p.side * p.side..(c + 1) * p.side * p.side];
                for j in b..b + side {
                    xs.extend_from_slice(&plane[j * p.side + a..j * p.side + a + side]);
                }
            }
            for j in b..b + crop {
                ys.extend_from_slice(
                    &p.target[j * p.target_side + a..j * p.target_side + a + crop],
                );
            }
        }
        let side = crop + 2 * reach;
        let (batch, dev) = (xs.len() / (inputs * side * side), &self.device);
        let x = Tensor::<B, 4>::from_data(TensorData::new(xs, [batch, inputs, side, side]), dev);
        let y = Tensor::<B, 4>::from_data(TensorData::new(ys, [batch, 1, crop, crop]), dev);
        let diff = self.model.forward(x, &cfg.dilations) - y;
        let loss = (diff.clone() * diff).mean();
        let value = loss
            .clone()
            .into_data()
            .into_vec::<f32>()
            .unwrap_or_default()[0];
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        let progress = self.iteration as f64 / cfg.iterations.max(1) as f64;
        let rate = cfg.learning_rate * if progress >= 0.7 { 0.1 } else { 1.0 };
        self.model = self.optim.step(rate, self.model.clone(), grads);
        self.iteration += 1;
        value
    }

    /// RMS height error on the held-out pairs as a fraction of the RMS of the simulator's own
    /// height change there (0 is perfect, 1 is no better than no erosion).
    pub fn held_out_error(&self) -> f32 {
        self.error(&self.held_out)
    }

    /// The same measure on other pairs (those whose margin is too small are skipped), for
    /// example held-out squares with a single simulator run as the target.
    pub fn error_on(&self, pairs: &[TrainingPair]) -> f32 {
        let margin = self.config.margin();
        let prepared: Vec<Prepared> = pairs
            .iter()
            .filter(|p| p.margin >= margin && p.side >= 1)
            .map(|p| {
                prepare(
                    p,
                    self.config.features,
                    margin,
                    self.scales.1,
                    self.scales.2,
                )
            })
            .collect();
        self.error(&prepared)
    }

    fn error(&self, pairs: &[Prepared]) -> f32 {
        let model = self.model.valid();
        let (mut err, mut depth) = (Vec::new(), Vec::new());
        for p in pairs {
            let x = Tensor::<B::InnerBackend, 4>::from_data(
                TensorData::new(
                    p.features.clone(),
                    [1, self.config.features.inputs(), p.side, p.side],
                ),
                &self.device,
            );
            let out = model.forward(x, &self.config.dilations);
            let out = out.into_data().into_vec::<f32>().unwrap_or_default();
            err.extend(out.iter().zip(&p.target).map(|(o, t)| o - t));
            depth.extend(p.target.iter().copied());
        }
        rms(err.into_iter()) / rms(depth.into_iter()).max(1e-12)
    }

    /// The model as plain weights.
    pub fn weights(&self) -> ErosionWeights {
        self.model
            .valid()
            .to_weights(self.config.features, &self.config.dilations, self.scales)
    }
}
