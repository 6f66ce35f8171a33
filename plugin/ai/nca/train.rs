//! Training a texture NCA on one exemplar image, with a loss that needs no pretrained network:
//! multi-scale sliced Wasserstein distance between the distributions of 3x3 colour patches of
//! the NCA's output and of the exemplar (random projections of the patches, sorted, compared).
//! Matching patch distributions at several scales matches colour, local structure and
//! coarser arrangement, which is what a stochastic texture is.
//!
//! Follows the paper's recipe: a pool of states that persist between iterations (so the rule
//! learns to keep a texture alive, not only to grow one), one fresh empty state per batch, a
//! random number of steps per iteration, Adam with clipped gradients.

use burn::module::AutodiffModule;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Tensor, TensorData};

use super::model::{Nca, initial_state, rgb, update_mask};
use super::rng::SplitMix;
use super::weights::NcaWeights;

/// Training settings. Defaults train a ~2,000-parameter rule on 64x64 crops.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// State channels per cell.
    pub channels: usize,
    /// Hidden units of the update rule.
    pub hidden: usize,
    /// Side of the square states trained on.
    pub size: usize,
    /// States per iteration.
    pub batch: usize,
    /// States kept in the pool.
    pub pool: usize,
    /// Fewest and most steps per iteration.
    pub steps: (u32, u32),
    /// Steps recorded in the weights for growing from an empty state.
    pub grow_steps: u32,
    /// Probability that a cell updates in a step.
    pub fire_rate: f32,
    /// Learning rate (decays tenfold for the last 30% of iterations).
    pub learning_rate: f64,
    /// Iterations planned (for the decay).
    pub iterations: usize,
    /// Random projections per scale in the sliced Wasserstein loss.
    pub directions: usize,
    /// Scales (each half the previous).
    pub scales: usize,
    /// Seed of initialisation, batches and masks.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            channels: 12,
            hidden: 32,
            size: 64,
            batch: 4,
            pool: 64,
            steps: (32, 64),
            grow_steps: 64,
            fire_rate: 0.5,
            learning_rate: 2e-3,
            iterations: 2000,
            directions: 32,
            scales: 3,
            seed: 1,
        }
    }
}

/// An exemplar image: `width` x `height` pixels of sRGB colour in 0..1, row-major.
#[derive(Clone, Debug)]
pub struct Exemplar {
    /// Pixels along x.
    pub width: usize,
    /// Pixels along y.
    pub height: usize,
    /// `width * height * 3` values.
    pub rgb: Vec<f32>,
}

/// Trains one rule; call [`step`](Self::step) until the loss is low enough.
pub struct Trainer<B: AutodiffBackend> {
    model: Nca<B>,
    optim: burn::optim::adaptor::OptimizerAdaptor<burn::optim::Adam, Nca<B>, B>,
    pool: Vec<Vec<f32>>,
    exemplar: Exemplar,
    config: TrainConfig,
    rng: SplitMix,
    iteration: usize,
    device: B::Device,
}

impl<B: AutodiffBackend> Trainer<B> {
    /// A trainer for `exemplar` (sizes below `config.size` are not useful but work).
    pub fn new(exemplar: Exemplar, config: TrainConfig, device: &B::Device) -> Self {
        let model = Nca::new(config.channels, config.hidden, config.seed, device);
        let optim = AdamConfig::new()
            .with_grad_clipping(Some(burn::grad_clipping::GradientClippingConfig::Norm(1.0)))
            .init();
        let shape = (config.size, config.size);
        let pool = (0..config.pool.max(config.batch))
            .map(|i| initial_state(1, shape, config.channels, config.seed ^ (i as u64) << 20))
            .collect();
        Self {
            model,
            optim,
            pool,
            exemplar,
            rng: SplitMix::new(config.seed ^ 0x5eed),
            config,
            iteration: 0,
            device: device.clone(),
        }
    }

    /// Iterations done.
    pub fn iteration(&self) -> usize {
        self.iteration
    }

    /// One iteration; returns its loss.
    pub fn step(&mut self) -> f32 {
        let cfg = self.config.clone();
        let (n, c) = (cfg.size, cfg.channels);
        let mut picks: Vec<usize> = (0..cfg.batch)
            .map(|_| self.rng.below(self.pool.len()))
            .collect();
        picks.sort_unstable();
        picks.dedup();
        while picks.len() < cfg.batch {
            picks.push(self.rng.below(self.pool.len()));
        }
        // One state starts afresh each time, so growing from nothing stays learned.
        let fresh = initial_state(1, (n, n), c, self.rng.next_u64());
        self.pool[picks[0]].copy_from_slice(&fresh);
        let data: Vec<f32> = picks
            .iter()
            .flat_map(|&i| self.pool[i].iter().copied())
            .collect();
        let mut state =
            Tensor::<B, 4>::from_data(TensorData::new(data, [cfg.batch, n, n, c]), &self.device);
        let steps = cfg.steps.0 + self.rng.below((cfg.steps.1 - cfg.steps.0 + 1) as usize) as u32;
        let mask_seed = self.rng.next_u64();
        for step in 0..steps {
            let mask = update_mask(cfg.batch, (n, n), cfg.fire_rate, mask_seed, step);
            let mask = Tensor::from_data(TensorData::new(mask, [cfg.batch, n, n, 1]), &self.device);
            state = self.model.step(state, mask);
        }
        let texture = rgb(state.clone());
        let overflow = (state.clone() - state.clone().clamp(-1.0, 1.0))
            .abs()
            .mean();
        let mut rng = self.rng.clone();
        let loss = self.style_loss(texture, &mut rng) + overflow * 10.0;
        self.rng = rng;
        let value = loss
            .clone()
            .into_data()
            .into_vec::<f32>()
            .unwrap_or_default()[0];
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        let decay = if self.iteration as f64 >= cfg.iterations as f64 * 0.7 {
            0.1
        } else {
            1.0
        };
        self.model = self
            .optim
            .step(cfg.learning_rate * decay, self.model.clone(), grads);
        // Finished states go back to the pool for later iterations.
        let out = state
            .inner()
            .into_data()
            .into_vec::<f32>()
            .unwrap_or_default();
        for (k, &i) in picks.iter().enumerate() {
            let len = n * n * c;
            self.pool[i].copy_from_slice(&out[k * len..(k + 1) * len]);
        }
        self.iteration += 1;
        value
    }

    /// The style loss of a texture grown from an empty state with fixed seeds and fixed
    /// projections: a steady measure of progress (the training loss is noisy by design).
    pub fn evaluate(&self) -> f32 {
        let cfg = &self.config;
        let model = self.model.clone();
        let start = initial_state(1, (cfg.size, cfg.size), cfg.channels, 0xe7a1);
        let mut state = Tensor::<B, 4>::from_data(
            TensorData::new(start, [1, cfg.size, cfg.size, cfg.channels]),
            &self.device,
        );
        for step in 0..cfg.grow_steps {
            let mask = update_mask(1, (cfg.size, cfg.size), cfg.fire_rate, 0xe7a1, step);
            let mask = Tensor::from_data(
                TensorData::new(mask, [1, cfg.size, cfg.size, 1]),
                &self.device,
            );
            state = model.step(state, mask);
        }
        let loss = self.style_loss(rgb(state), &mut SplitMix::new(0xd12ec7));
        loss.into_data().into_vec::<f32>().unwrap_or_default()[0]
    }

    /// The rule as plain weights.
    pub fn weights(&self) -> NcaWeights {
        self.model
            .valid()
            .to_weights(self.config.grow_steps, self.config.fire_rate)
    }

    /// Multi-scale sliced Wasserstein loss of `texture` against the exemplar.
    ///
    /// # Shapes
    /// - `texture`: `[batch, size, size, 3]`
    fn style_loss(&self, texture: Tensor<B, 4>, rng: &mut SplitMix) -> Tensor<B, 1> {
        let ex = &self.exemplar;
        let mut target = Tensor::<B, 4>::from_data(
            TensorData::new(ex.rgb.clone(), [1, ex.height, ex.width, 3]),
            &self.device,
        );
        let mut texture = texture;
        let mut total = Tensor::<B, 1>::zeros([1], &self.device);
        for scale in 0..self.config.scales {
            if scale > 0 {
                texture = half(texture);
                target = half(target);
            }
            let k = self.config.directions;
            let dirs: Vec<f32> = random_directions(rng, 27, k);
            let dirs = Tensor::<B, 2>::from_data(TensorData::new(dirs, [27, k]), &self.device);
            let ours = project(texture.clone(), dirs.clone()).sort(1);
            let [b, count, _] = ours.dims();
            let theirs = project(target.clone(), dirs).sort(1);
            let theirs = resample_sorted(
                theirs
                    .inner()
                    .into_data()
                    .into_vec::<f32>()
                    .unwrap_or_default(),
                k,
                count,
            );
            let theirs =
                Tensor::<B, 3>::from_data(TensorData::new(theirs, [1, count, k]), &self.device);
            let diff = ours - theirs.repeat_dim(0, b);
            total = total + (diff.clone() * diff).mean().reshape([1]);
        }
        total
    }
}

/// 3x3 wrapped patches of every pixel projected on `dirs`.
///
/// # Shapes
/// - `image`: `[batch, height, width, 3]`, `dirs`: `[27, k]`
/// - output: `[batch, height * width, k]`
fn project<B: burn::tensor::backend::Backend>(
    image: Tensor<B, 4>,
    dirs: Tensor<B, 2>,
) -> Tensor<B, 3> {
    let [b, h, w, _] = image.dims();
    let mut shifted = Vec::with_capacity(9);
    for dy in [-1i64, 0, 1] {
        let row = if dy == 0 {
            image.clone()
        } else {
            image.clone().roll_dim(dy, 1)
        };
        for dx in [-1i64, 0, 1] {
            shifted.push(if dx == 0 {
                row.clone()
            } else {
                row.clone().roll_dim(dx, 2)
            });
        }
    }
    let k = dirs.dims()[1];
    Tensor::cat(shifted, 3)
        .reshape([b * h * w, 27])
        .matmul(dirs)
        .reshape([b, h * w, k])
}

/// 2x2 average pooling.
///
/// # Shapes
/// - `image`: `[batch, height, width, c]` -> `[batch, height / 2, width / 2, c]`
fn half<B: burn::tensor::backend::Backend>(image: Tensor<B, 4>) -> Tensor<B, 4> {
    let [b, h, w, c] = image.dims();
    let (h2, w2) = (h / 2, w / 2);
    image
        .narrow(1, 0, h2 * 2)
        .narrow(2, 0, w2 * 2)
        .reshape([b, h2, 2, w2 * 2, c])
        .mean_dim(2)
        .reshape([b, h2, w2, 2, c])
        .mean_dim(3)
        .reshape([b, h2, w2, c])
}

/// `k` random unit vectors of dimension `dim`, as a `[dim, k]` row-major matrix.
fn random_directions(rng: &mut SplitMix, dim: usize, k: usize) -> Vec<f32> {
    let mut m = vec![0.0f32; dim * k];
    for j in 0..k {
        let v: Vec<f32> = (0..dim).map(|_| rng.normal()).collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
        for i in 0..dim {
            m[i * k + j] = v[i] / norm;
        }
    }
    m
}

/// Sorted values `[n, k]` (row-major, sorted along n) resampled to `[count, k]` by quantile.
fn resample_sorted(sorted: Vec<f32>, k: usize, count: usize) -> Vec<f32> {
    let n = sorted.len() / k.max(1);
    if n == count {
        return sorted;
    }
    let mut out = Vec::with_capacity(count * k);
    for i in 0..count {
        let src = (((i as f64 + 0.5) * n as f64 / count as f64) as usize).min(n - 1);
        out.extend_from_slice(&sorted[src * k..(src + 1) * k]);
    }
    out
}
