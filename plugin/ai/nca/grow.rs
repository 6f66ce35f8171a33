//! Growing a texture: the inference path of the NCA, arranged for speed on every backend.
//!
//! [`Nca::step`] is the definition (and what training differentiates); [`grow`] computes the
//! same steps with far fewer passes over memory, which is what bounds a CPU backend here:
//!
//! - The grid is kept with a one-cell wrap-around border (a padded torus) and flattened to
//!   `[cells, channels]`, so a neighbour one column or one row away is a contiguous `narrow` of
//!   the same buffer: no `roll` copies.
//! - The filters' scale factors (Sobel's 1/8, the Laplacian's 1/16 and its centre term) are
//!   folded into the first layer's weights once per grow, so perception is a few adds.
//! - Temporaries are consumed as soon as they are used, so backends that reuse a uniquely
//!   owned buffer (burn's Flex does) update it in place instead of allocating.
//!
//! The border cells are recomputed from the interior after every step, so they never drift.
//! Results match [`Nca::step`] to rounding (see the tests).

use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

use super::model::{Cancelled, Nca, initial_state, update_mask};

/// Grows a texture as `plan` says, from a start state ([`initial_state`]); `cancelled` is
/// asked between steps. Returns the final state (read its colour with
/// [`rgb`](super::model::rgb)).
///
/// # Shapes
/// - output: `[1, size, size, channels]`
pub fn grow<B: Backend>(
    model: &Nca<B>,
    plan: GrowPlan,
    cancelled: &dyn Fn() -> bool,
    device: &B::Device,
) -> Result<Tensor<B, 4>, Cancelled> {
    let GrowPlan {
        size,
        steps,
        fire_rate,
        seed,
        band_cells,
    } = plan;
    let grid = PaddedGrid::new(size, model.channels());
    let weights = folded_weights(model);
    let start = grid.pad(&initial_state(1, (size, size), grid.channels, seed));
    let mut state = Tensor::<B, 2>::from_data(
        TensorData::new(start, [grid.stored_cells(), grid.channels]),
        device,
    );
    let guard = Tensor::<B, 2>::zeros([1, grid.channels], device);
    for step in 0..steps {
        if cancelled() {
            return Err(Cancelled);
        }
        let mask = grid.pad_mask(&update_mask(1, (size, size), fire_rate, seed, step));
        let mask = Tensor::<B, 2>::from_data(TensorData::new(mask, [grid.rows_cells(), 1]), device);
        let rows = grid.step(state, &weights, mask, band_cells);
        state = grid.wrap(rows, guard.clone());
    }
    Ok(grid.interior(state))
}

/// The weights with the perception's constants folded into the first layer.
///
/// [`Nca::perceive`] feeds `[s, sobel_x, sobel_y, lap]` with `sobel = raw / 8` and
/// `lap = raw_lap / 16 - s`; [`band_step`] feeds the raw sums instead, so the rows of
/// `w1` are scaled by 1/8 and 1/16 (exact in binary) and the Laplacian's `-s` moves into the
/// identity rows.
fn folded_weights<B: Backend>(model: &Nca<B>) -> FoldedWeights<B> {
    let c = model.channels();
    let w1 = model.w1.val();
    let lap = w1.clone().narrow(0, 3 * c, c);
    let identity = w1.clone().narrow(0, 0, c) - lap.clone();
    let sobel = w1.narrow(0, c, 2 * c) / 8.0;
    let w1 = Tensor::cat(vec![identity, sobel, lap / 16.0], 0);
    FoldedWeights {
        w1,
        b1: model.b1.val().unsqueeze::<2>(),
        w2: model.w2.val(),
    }
}

/// How to grow a texture.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GrowPlan {
    /// Width and height of the texture, in cells (pixels).
    pub size: usize,
    /// Update steps.
    pub steps: u32,
    /// Probability that a cell updates in a step.
    pub fire_rate: f32,
    /// Varies the start state and the update masks.
    pub seed: u64,
    /// Cells computed together in one band of rows. On a CPU, small bands keep every
    /// temporary in a core's cache and let the allocator recycle it instead of mapping fresh
    /// pages (256x256 grew 2.3x faster at 2,048 cells than in one band, see BENCHMARKS.md); a
    /// GPU wants one band, the fewest kernel launches.
    pub band_cells: usize,
}

impl GrowPlan {
    /// Band size for CPU backends (measured on burn's Flex).
    pub const CPU_BAND_CELLS: usize = 2048;
    /// Band size for GPU backends: the whole grid at once.
    pub const GPU_BAND_CELLS: usize = usize::MAX;
}

/// The folded first layer ([`folded_weights`]), its bias as a row, and the second layer.
struct FoldedWeights<B: Backend> {
    w1: Tensor<B, 2>,
    b1: Tensor<B, 2>,
    w2: Tensor<B, 2>,
}

/// One step for `rows` working rows of `row` cells: perception by shifted views of `input`
/// (laid out as [`PaddedGrid`] storage for those rows), the folded update, the mask.
fn band_step<B: Backend>(
    input: Tensor<B, 2>,
    rows: usize,
    row: usize,
    weights: &FoldedWeights<B>,
    mask: Tensor<B, 2>,
) -> Tensor<B, 2> {
    let (padded, cells) = ((rows + 2) * row, rows * row);
    // Horizontal passes over every padded cell; `left[i]` is cell `i - 1`.
    let left = input.clone().narrow(0, 0, padded);
    let centre = input.clone().narrow(0, 1, padded);
    let right = input.clone().narrow(0, 2, padded);
    let dx = left.clone() - right.clone();
    let sx = left + right + centre.clone() + centre;
    // Vertical passes over the working rows; `up` is one padded row earlier.
    let up = |t: &Tensor<B, 2>| t.clone().narrow(0, 0, cells);
    let mid = |t: &Tensor<B, 2>| t.clone().narrow(0, row, cells);
    let down = |t: &Tensor<B, 2>| t.clone().narrow(0, 2 * row, cells);
    let sobel_x = up(&dx) + down(&dx) + mid(&dx) + mid(&dx);
    drop(dx);
    let sobel_y = up(&sx) - down(&sx);
    let laplacian = up(&sx) + down(&sx) + mid(&sx) + mid(&sx);
    drop(sx);
    let own = input.narrow(0, 1 + row, cells);
    let perception = Tensor::cat(vec![own.clone(), sobel_x, sobel_y, laplacian], 1);
    let hidden = relu(perception.matmul(weights.w1.clone()) + weights.b1.clone());
    hidden.matmul(weights.w2.clone()) * mask + own
}

/// Index arithmetic of a `size` x `size` torus stored with a one-cell border.
///
/// Storage is `[guard, (size + 2) x (size + 2) cells row by row, guard]`: the two guard cells
/// let every cell read its left and right neighbours through one `narrow`. Rows `1..=size` of
/// the padded grid (border columns included) are the *working rows* a step computes on; the
/// border columns' results are thrown away by [`PaddedGrid::wrap`].
struct PaddedGrid {
    size: usize,
    channels: usize,
}

impl PaddedGrid {
    fn new(size: usize, channels: usize) -> Self {
        Self { size, channels }
    }

    /// Cells in a padded row.
    fn row(&self) -> usize {
        self.size + 2
    }

    /// Cells of the padded grid, border included.
    fn padded_cells(&self) -> usize {
        self.row() * self.row()
    }

    /// Cells in storage: the padded grid and the two guards.
    fn stored_cells(&self) -> usize {
        self.padded_cells() + 2
    }

    /// Cells in the working rows.
    fn rows_cells(&self) -> usize {
        self.size * self.row()
    }

    /// Storage for a channels-last `size` x `size` grid: border filled by wrap-around, guards
    /// zero.
    fn pad(&self, grid: &[f32]) -> Vec<f32> {
        let (n, c, row) = (self.size, self.channels, self.row());
        let mut out = vec![0.0; self.stored_cells() * c];
        for py in 0..row {
            let y = (py + n - 1) % n;
            for px in 0..row {
                let x = (px + n - 1) % n;
                let dst = (1 + py * row + px) * c;
                let src = (y * n + x) * c;
                out[dst..dst + c].copy_from_slice(&grid[src..src + c]);
            }
        }
        out
    }

    /// The update mask of a `size` x `size` grid laid out over the working rows (border
    /// columns never fire).
    fn pad_mask(&self, mask: &[f32]) -> Vec<f32> {
        let (n, row) = (self.size, self.row());
        let mut out = vec![0.0; self.rows_cells()];
        for y in 0..n {
            out[y * row + 1..y * row + 1 + n].copy_from_slice(&mask[y * n..(y + 1) * n]);
        }
        out
    }

    /// One step over the working rows, in bands of about `band_cells` cells. Returns the new
    /// working rows, `[rows_cells, channels]`.
    fn step<B: Backend>(
        &self,
        state: Tensor<B, 2>,
        weights: &FoldedWeights<B>,
        mask: Tensor<B, 2>,
        band_cells: usize,
    ) -> Tensor<B, 2> {
        let row = self.row();
        let band = (band_cells / row).clamp(1, self.size);
        let mut bands = Vec::with_capacity(self.size.div_ceil(band));
        let mut first = 0;
        while first < self.size {
            let rows = band.min(self.size - first);
            // A band of working rows reads one padded row above and below, and the guard or
            // neighbouring cell at each end: the same layout as the whole storage.
            let input = state.clone().narrow(0, first * row, (rows + 2) * row + 2);
            let mask = mask.clone().narrow(0, first * row, rows * row);
            bands.push(band_step(input, rows, row, weights, mask));
            first += rows;
        }
        if bands.len() == 1 {
            bands.pop().unwrap_or_else(|| unreachable!())
        } else {
            Tensor::cat(bands, 0)
        }
    }

    /// Storage from new working rows: border columns and rows refilled from the interior.
    fn wrap<B: Backend>(&self, rows: Tensor<B, 2>, guard: Tensor<B, 2>) -> Tensor<B, 2> {
        let (n, c, row) = (self.size, self.channels, self.row());
        let rows = rows.reshape([n, row, c]);
        let interior = rows.narrow(1, 1, n);
        let rows = Tensor::cat(
            vec![
                interior.clone().narrow(1, n - 1, 1),
                interior.clone(),
                interior.narrow(1, 0, 1),
            ],
            1,
        )
        .reshape([n * row, c]);
        Tensor::cat(
            vec![
                guard.clone(),
                rows.clone().narrow(0, (n - 1) * row, row),
                rows.clone(),
                rows.narrow(0, 0, row),
                guard,
            ],
            0,
        )
    }

    /// The `size` x `size` grid out of storage, `[1, size, size, channels]`.
    fn interior<B: Backend>(&self, state: Tensor<B, 2>) -> Tensor<B, 4> {
        let (n, c, row) = (self.size, self.channels, self.row());
        state
            .narrow(0, 1 + row, n * row)
            .reshape([n, row, c])
            .narrow(1, 1, n)
            .reshape([1, n, n, c])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    type B = Flex;

    fn max_difference(a: Tensor<B, 4>, b: Tensor<B, 4>) -> f32 {
        (a - b).abs().max().into_scalar()
    }

    /// The reference: [`Nca::step`] on the unpadded grid with the same start and masks.
    fn reference(model: &Nca<B>, size: usize, steps: u32, seed: u64) -> Tensor<B, 4> {
        let device = Default::default();
        let c = model.channels();
        let start = initial_state(1, (size, size), c, seed);
        let mut state =
            Tensor::<B, 4>::from_data(TensorData::new(start, [1, size, size, c]), &device);
        for step in 0..steps {
            let mask = update_mask(1, (size, size), 0.5, seed, step);
            let mask = Tensor::from_data(TensorData::new(mask, [1, size, size, 1]), &device);
            state = model.step(state, mask);
        }
        state
    }

    fn trained_like(seed: u64) -> Nca<B> {
        // A fresh rule has a zero second layer; give it a random one so steps change the state.
        let device = Default::default();
        let mut weights = Nca::<B>::new(12, 32, seed, &device).to_weights(8, 0.5);
        let mut rng = super::super::rng::SplitMix::new(seed ^ 7);
        for w in &mut weights.w2 {
            *w = (rng.next_f32() * 2.0 - 1.0) * 0.2;
        }
        Nca::from_weights(&weights, &device)
    }

    #[test]
    fn matches_the_reference_steps() {
        // One band, several bands, and bands of one row with a shorter last band.
        for (size, seed, band_cells) in [(5, 1, usize::MAX), (16, 2, 100), (23, 3, 1)] {
            let model = trained_like(seed);
            let plan = GrowPlan {
                size,
                steps: 8,
                fire_rate: 0.5,
                seed,
                band_cells,
            };
            let fast = grow(&model, plan, &|| false, &Default::default())
                .unwrap_or_else(|_| panic!("not cancelled"));
            let slow = reference(&model, size, 8, seed);
            let difference = max_difference(fast, slow);
            assert!(
                difference < 1e-4,
                "size {size}: max difference {difference}"
            );
        }
    }

    #[test]
    fn cancels_between_steps() {
        let model = trained_like(4);
        let plan = GrowPlan {
            size: 8,
            steps: 4,
            fire_rate: 0.5,
            seed: 1,
            band_cells: GrowPlan::CPU_BAND_CELLS,
        };
        let result = grow(&model, plan, &|| true, &Default::default());
        assert!(result.is_err());
    }

    #[test]
    fn padding_wraps_rows_and_columns() {
        let grid = PaddedGrid::new(3, 1);
        let cells: Vec<f32> = (0..9).map(|i| i as f32).collect();
        let padded = grid.pad(&cells);
        // Guard, then the 5x5 padded grid: its first row is the grid's last row, wrapped.
        assert_eq!(padded[0], 0.0);
        assert_eq!(&padded[1..6], &[8.0, 6.0, 7.0, 8.0, 6.0]);
        assert_eq!(&padded[6..11], &[2.0, 0.0, 1.0, 2.0, 0.0]);
        assert_eq!(&padded[21..26], &[2.0, 0.0, 1.0, 2.0, 0.0]);
        assert_eq!(padded.len(), 27);
    }
}
