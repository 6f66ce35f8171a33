//! The erosion network in burn, generic over the backend, and its training on pairs the
//! simulator makes ([`TrainingPair`]).
//!
//! Architecture: valid (unpadded) 3x3 convolutions with growing dilation (1, 2, 4, 8 by default),
//! a ReLU after each, and a 1x1 head giving the height change. Dilations give a receptive field
//! of 1 + 2 + 4 + 8 = 15 cells beyond what the [`features`](super::features) read, at the cost of
//! four small layers, enough to see the slope a gully drains; a wider field would make every
//! chunk's padded tile (and its cost) grow.
//!
//! A two-scale model ([`ErosionTrainConfig::coarse_dilations`]) adds a branch on 2x2 means of the
//! features, whose 3x3 layers reach twice as far per tap at a quarter of the cost; a 2x2
//! transposed convolution brings it back to full detail, and 1x1 head layers read both
//! branches' channels side by side.

use burn::module::{AutodiffModule, Module, Param};
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::activation::relu;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::module::{avg_pool2d, conv_transpose2d, conv2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{Tensor, TensorData};

use super::features::{FeatureSet, features};
use super::weights::{ConvLayer, ErosionWeights, Stage};
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
    /// Dilation of each full-detail 3x3 layer.
    pub dilations: Vec<usize>,
    /// Dilation of each 3x3 layer on the half-detail grid (none: one scale only).
    pub coarse_dilations: Vec<usize>,
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
    /// Train on every feature channel scaled to unit RMS (the gains are folded into the first
    /// layers' weights on export, so a weights file keeps one input scale). Off by default: the
    /// default features' RMS differ by at most 3.3 times, and a 4,000-iteration run with it
    /// ended a point worse (BENCHMARKS.md).
    pub normalize_channels: bool,
    /// Which turned and mirrored crops training shows ([`Augment`]).
    pub augment: Augment,
}

/// Crops shown turned or mirrored in training: more ground from the same pairs, where the
/// simulator treats those directions alike.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Augment {
    /// Every crop as it lies.
    #[default]
    None,
    /// Half the crops transposed (x and z swapped, the slope channels with them). The default
    /// simulator erodes around the corner cell of a droplet's square, half a cell towards -x
    /// and -z, which a transposition keeps and a mirror does not.
    Transpose,
    /// All eight symmetries of the square, for targets from the
    /// [isotropic](super::ErosionParams::isotropic) simulator. On the default simulator's
    /// targets a run was 3 to 5 points worse at equal iterations (BENCHMARKS.md).
    Square,
}

impl Default for ErosionTrainConfig {
    fn default() -> Self {
        Self {
            hidden: 16,
            dilations: vec![1, 2, 4, 8],
            coarse_dilations: Vec::new(),
            crop: 40,
            batch: 8,
            learning_rate: 2e-3,
            iterations: 1500,
            seed: 1,
            features: FeatureSet::default(),
            normalize_channels: false,
            augment: Augment::None,
        }
    }
}

impl ErosionTrainConfig {
    /// Cells of noise the model reads beyond each side of its output.
    pub fn margin(&self) -> usize {
        let fine = self.dilations.iter().sum::<usize>();
        self.features.reach() + fine.max(2 * self.coarse_dilations.iter().sum::<usize>())
    }

    /// Every layer's stage and dilation, first to last.
    pub fn plan(&self) -> Vec<(Stage, usize)> {
        let fine = self.dilations.iter().map(|&d| (Stage::Fine, d));
        let coarse = self.coarse_dilations.iter().map(|&d| (Stage::Coarse, d));
        let up = (!self.coarse_dilations.is_empty()).then_some((Stage::Up, 1));
        let head: &[(Stage, usize)] = if self.coarse_dilations.is_empty() {
            &[(Stage::Head, 1)]
        } else {
            &[(Stage::Head, 1), (Stage::Head, 1)]
        };
        fine.chain(coarse)
            .chain(up)
            .chain(head.iter().copied())
            .collect()
    }
}

/// Every layer's stage and dilation in `weights`.
pub fn plan_of(weights: &ErosionWeights) -> Vec<(Stage, usize)> {
    weights
        .layers
        .iter()
        .map(|l| (l.stage, l.dilation))
        .collect()
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
                let shape = if l.stage == Stage::Up {
                    [l.inputs, l.outputs, l.kernel, l.kernel]
                } else {
                    [l.outputs, l.inputs, l.kernel, l.kernel]
                };
                Param::from_tensor(Tensor::from_data(
                    TensorData::new(l.weight.clone(), shape),
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

    /// Network output (in units of the output scale) for features `x`, the layers run as
    /// `plan` (stage and dilation per layer) says.
    ///
    /// # Shapes
    /// - `x`: `[batch, inputs, h, w]` -> `[batch, 1, h - 2r, w - 2r]`, `r` the layers' reach
    ///   (`h` and `w` even for a two-scale model)
    pub fn forward(&self, x: Tensor<B, 4>, plan: &[(Stage, usize)]) -> Tensor<B, 4> {
        let last = self.weight.len().saturating_sub(1);
        let reach = |stage: Stage| -> usize {
            plan.iter()
                .filter(|(s, _)| *s == stage)
                .map(|(_, d)| d)
                .sum()
        };
        let (rf, rc) = (reach(Stage::Fine), reach(Stage::Coarse));
        let two_scale = plan.iter().any(|(s, _)| *s == Stage::Coarse);
        let branches = if two_scale { rf.max(2 * rc) } else { rf };
        let mut coarse =
            two_scale.then(|| avg_pool2d(x.clone(), [2, 2], [2, 2], [0, 0], true, false));
        // The fine layers run only where the head reads them.
        let trim = branches - rf;
        let [n, c, h, wd] = x.dims();
        let mut fine = if trim == 0 {
            x
        } else {
            x.slice([0..n, 0..c, trim..h - trim, trim..wd - trim])
        };
        let mut up = None;
        let mut head: Option<Tensor<B, 4>> = None;
        for (k, (w, b)) in self.weight.iter().zip(&self.bias).enumerate() {
            let (stage, d) = plan.get(k).copied().unwrap_or((Stage::Head, 1));
            let activate = |x: Tensor<B, 4>| if k != last { relu(x) } else { x };
            let conv = |x: Tensor<B, 4>| {
                let options = ConvOptions::new([1, 1], [0, 0], [d, d], 1);
                activate(conv2d(x, w.val(), Some(b.val()), options))
            };
            match stage {
                Stage::Fine => fine = conv(fine),
                Stage::Coarse => coarse = coarse.map(conv),
                Stage::Up => {
                    let options = ConvTransposeOptions::new([2, 2], [0, 0], [0, 0], [1, 1], 1);
                    up = coarse
                        .clone()
                        .map(|c| activate(conv_transpose2d(c, w.val(), Some(b.val()), options)));
                }
                Stage::Head => {
                    let input = head.take().unwrap_or_else(|| match &up {
                        Some(u) => {
                            let [_, _, h, wd] = fine.dims();
                            let [n, c, _, _] = u.dims();
                            let off = branches - 2 * rc;
                            let u = u.clone().slice([0..n, 0..c, off..off + h, off..off + wd]);
                            Tensor::cat(vec![fine.clone(), u], 1)
                        }
                        None => fine.clone(),
                    });
                    head = Some(conv(input));
                }
            }
        }
        head.unwrap_or(fine)
    }

    /// Reads the parameters back (a synchronous read: training and tools only).
    pub fn to_weights(
        &self,
        features: FeatureSet,
        plan: &[(Stage, usize)],
        scales: (f32, f32, f32),
    ) -> ErosionWeights {
        let layers = self
            .weight
            .iter()
            .zip(&self.bias)
            .enumerate()
            .map(|(k, (w, b))| {
                let (stage, dilation) = plan.get(k).copied().unwrap_or((Stage::Head, 1));
                let [mut outputs, mut inputs, kernel, _] = w.dims();
                if stage == Stage::Up {
                    // burn's transposed weights are `[inputs, outputs, 2, 2]`.
                    (inputs, outputs) = (outputs, inputs);
                }
                ConvLayer {
                    stage,
                    inputs,
                    outputs,
                    kernel,
                    dilation: if kernel == 3 { dilation } else { 1 },
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
    let features = config.features.inputs();
    let (mut fine, mut coarse, mut up, mut head) = (features, features, 0, None);
    let plan = config.plan();
    let heads = plan.iter().filter(|(s, _)| *s == Stage::Head).count();
    for (stage, dilation) in plan {
        let (inputs, outputs, kernel) = match stage {
            Stage::Fine => (fine, config.hidden, 3),
            Stage::Coarse => (coarse, config.hidden, 3),
            Stage::Up => (coarse, config.hidden, 2),
            Stage::Head => {
                let inputs = head.unwrap_or(fine + up);
                let left = layers
                    .iter()
                    .filter(|l: &&ConvLayer| l.stage == Stage::Head)
                    .count();
                (inputs, if left + 1 == heads { 1 } else { config.hidden }, 1)
            }
        };
        // Taps per output: an up layer's output reads one cell of each input channel.
        let taps = if stage == Stage::Up {
            1
        } else {
            kernel * kernel
        };
        let fan_in = (inputs * taps) as f32;
        let bound = if outputs == 1 {
            (1.0 / fan_in).sqrt() * 0.1
        } else {
            (6.0 / fan_in).sqrt()
        };
        let n = outputs * inputs * kernel * kernel;
        layers.push(ConvLayer {
            stage,
            inputs,
            outputs,
            kernel,
            dilation,
            weight: (0..n)
                .map(|_| (rng.next_f32() * 2.0 - 1.0) * bound)
                .collect(),
            bias: vec![0.0; outputs],
        });
        match stage {
            Stage::Fine => fine = outputs,
            Stage::Coarse => coarse = outputs,
            Stage::Up => up = outputs,
            Stage::Head => head = Some(outputs),
        }
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
    (input_scale, gains): (f32, &[f32]),
    output_scale: f32,
) -> Prepared {
    let n = p.side + 2 * p.margin;
    let cut = p.margin - margin;
    let side = p.side + 2 * margin;
    let mut noise = Vec::with_capacity(side * side);
    for j in cut..cut + side {
        noise.extend_from_slice(&p.noise[j * n + cut..j * n + cut + side]);
    }
    let inner = side - 2 * set.reach();
    let mut x = features(set, &noise, side, side, p.spacing, input_scale);
    for (plane, gain) in x.chunks_exact_mut(inner * inner).zip(gains) {
        plane.iter_mut().for_each(|v| *v *= gain);
    }
    Prepared {
        side: inner,
        features: x,
        target_side: p.side,
        target: p.target.iter().map(|t| t / output_scale).collect(),
    }
}

/// One of the eight symmetries of a square: a transposition (x and z swapped) then mirrors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Symmetry {
    transpose: bool,
    flip_x: bool,
    flip_z: bool,
}

impl Symmetry {
    fn from_bits(bits: usize) -> Self {
        Self {
            transpose: bits & 1 != 0,
            flip_x: bits & 2 != 0,
            flip_z: bits & 4 != 0,
        }
    }

    /// The input channel output channel `c` reads, and its sign: the slopes (channels 0 and
    /// 1, along x and z) swap when transposed and change sign when mirrored across their axis;
    /// the other features have no direction.
    fn channel(self, c: usize) -> (usize, f32) {
        let sign = |flip: bool| if flip { -1.0 } else { 1.0 };
        match (c, self.transpose) {
            (0, false) => (0, sign(self.flip_x)),
            (1, false) => (1, sign(self.flip_z)),
            (0, true) => (1, sign(self.flip_z)),
            (1, true) => (0, sign(self.flip_x)),
            _ => (c, 1.0),
        }
    }

    /// Appends the `n` x `n` square from `(a, b)` of a `width`-wide plane, seen through this
    /// symmetry, times `sign`.
    fn copy(
        self,
        plane: &[f32],
        width: usize,
        (a, b): (usize, usize),
        n: usize,
        sign: f32,
        out: &mut Vec<f32>,
    ) {
        if self == Self::default() {
            for j in b..b + n {
                out.extend(
                    plane[j * width + a..j * width + a + n]
                        .iter()
                        .map(|v| v * sign),
                );
            }
            return;
        }
        for v in 0..n {
            for u in 0..n {
                let (x, z) = if self.transpose { (v, u) } else { (u, v) };
                let x = if self.flip_x { n - 1 - x } else { x };
                let z = if self.flip_z { n - 1 - z } else { z };
                out.push(plane[(b + z) * width + a + x] * sign);
            }
        }
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
    /// Per feature channel, what training multiplies it by beyond the input scale.
    gains: Vec<f32>,
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
        // Sums of squares per feature channel, and in all.
        let channels = config.features.inputs();
        let mut squares = vec![(0.0f64, 0usize); channels];
        for p in train.iter().filter(usable) {
            let n = p.side + 2 * p.margin;
            let x = features(config.features, &p.noise, n, n, p.spacing, 1.0);
            let plane = x.len() / channels.max(1);
            for (c, values) in x.chunks_exact(plane.max(1)).enumerate() {
                let sum = values.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>();
                squares[c].0 += sum;
                squares[c].1 += values.len();
            }
        }
        let total = squares.iter().map(|s| s.0).sum::<f64>();
        let count = squares.iter().map(|s| s.1).sum::<usize>().max(1);
        let all_rms = ((total / count as f64).sqrt() as f32).max(1e-6);
        let input_scale = 1.0 / all_rms;
        let gains: Vec<f32> = squares
            .iter()
            .map(|&(sum, n)| {
                let channel_rms = (sum / n.max(1) as f64).sqrt() as f32;
                if config.normalize_channels && channel_rms > 1e-6 * all_rms {
                    all_rms / channel_rms
                } else {
                    1.0
                }
            })
            .collect();
        let output_scale = rms(train
            .iter()
            .filter(usable)
            .flat_map(|p| p.target.iter().copied()))
        .max(1e-6);
        let scales = (spacing, input_scale, output_scale);
        let set = config.features;
        let prepare =
            |p: &TrainingPair| prepare(p, set, margin, (input_scale, &gains), output_scale);
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
            gains,
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
            let symmetry = match cfg.augment {
                Augment::None => Symmetry::default(),
                Augment::Transpose => Symmetry::from_bits(self.rng.below(2)),
                Augment::Square => Symmetry::from_bits(self.rng.below(8)),
            };
            let side = crop + 2 * reach;
            for c in 0..inputs {
                let plane = &p.features[c * p.side * p.side..(c + 1) * p.side * p.side];
                let (source, sign) = symmetry.channel(c);
                let source_plane =
                    &p.features[source * p.side * p.side..(source + 1) * p.side * p.side];
                let plane = if source == c { plane } else { source_plane };
                symmetry.copy(plane, p.side, (a, b), side, sign, &mut xs);
            }
            symmetry.copy(&p.target, p.target_side, (a, b), crop, 1.0, &mut ys);
        }
        let side = crop + 2 * reach;
        let (batch, dev) = (xs.len() / (inputs * side * side), &self.device);
        let x = Tensor::<B, 4>::from_data(TensorData::new(xs, [batch, inputs, side, side]), dev);
        let y = Tensor::<B, 4>::from_data(TensorData::new(ys, [batch, 1, crop, crop]), dev);
        let diff = self.model.forward(x, &cfg.plan()) - y;
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
                    (self.scales.1, &self.gains),
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
            let out = model.forward(x, &self.config.plan());
            let out = out.into_data().into_vec::<f32>().unwrap_or_default();
            err.extend(out.iter().zip(&p.target).map(|(o, t)| o - t));
            depth.extend(p.target.iter().copied());
        }
        rms(err.into_iter()) / rms(depth.into_iter()).max(1e-12)
    }

    /// What training multiplies each feature channel by beyond the input scale (all 1 without
    /// [`ErosionTrainConfig::normalize_channels`]).
    pub fn channel_gains(&self) -> &[f32] {
        &self.gains
    }

    /// The model as plain weights, the channel gains folded into the layers that read the
    /// features.
    pub fn weights(&self) -> ErosionWeights {
        let mut weights =
            self.model
                .valid()
                .to_weights(self.config.features, &self.config.plan(), self.scales);
        let channels = self.gains.len();
        let first_fine = weights.layers.iter().position(|l| l.stage == Stage::Fine);
        let first_coarse = weights.layers.iter().position(|l| l.stage == Stage::Coarse);
        // Without fine layers the head's first layer reads the features first.
        let first_head = first_fine
            .is_none()
            .then(|| weights.layers.iter().position(|l| l.stage == Stage::Head))
            .flatten();
        for k in [first_fine, first_coarse, first_head].into_iter().flatten() {
            let l = &mut weights.layers[k];
            let taps = l.kernel * l.kernel;
            for (i, w) in l.weight.iter_mut().enumerate() {
                let c = (i / taps) % l.inputs;
                if c < channels {
                    *w *= self.gains[c];
                }
            }
        }
        weights
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::erosion::test_field;

    #[test]
    fn a_turned_crop_has_the_features_of_the_turned_ground() {
        let set = FeatureSet::default();
        let (n, r) = (40, set.reach());
        let inner = n - 2 * r;
        let heights = test_field(n, n, 3, 5);
        let planes = features(set, &heights, n, n, 2.0, 1.0);
        for bits in 0..8 {
            let symmetry = Symmetry::from_bits(bits);
            let mut turned = Vec::new();
            symmetry.copy(&heights, n, (0, 0), n, 1.0, &mut turned);
            let expected = features(set, &turned, n, n, 2.0, 1.0);
            let mut seen = Vec::new();
            for c in 0..set.inputs() {
                let (source, sign) = symmetry.channel(c);
                let plane = &planes[source * inner * inner..(source + 1) * inner * inner];
                symmetry.copy(plane, inner, (0, 0), inner, sign, &mut seen);
            }
            for (k, (a, b)) in seen.iter().zip(&expected).enumerate() {
                assert!(
                    (a - b).abs() < 1e-4,
                    "{symmetry:?}: value {k}, {a} against {b}"
                );
            }
        }
    }
}
