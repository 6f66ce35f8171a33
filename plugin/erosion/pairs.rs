//! Training pairs from a world's noise graph: noise heights around a square of the world grid
//! and the height change the simulator makes there.

use super::model::TrainingPair;
use super::sim::{ErosionParams, HeightTile, erode};
use crate::terrain::TerrainGenerator;

/// Noise heights of a square of the world grid, `side` cells from grid index `(ix0, iz0)`,
/// with `margin` more on each side.
pub fn noise_tile(
    generator: &TerrainGenerator,
    ix0: i64,
    iz0: i64,
    side: usize,
    margin: usize,
) -> HeightTile {
    let n = side + 2 * margin;
    let (x, z) = (ix0 - margin as i64, iz0 - margin as i64);
    HeightTile {
        ix0: x,
        iz0: z,
        nx: n,
        nz: n,
        spacing: generator.spacing() as f32,
        heights: generator.noise_window(x, z, n, n),
    }
}

/// The pair for the `side` x `side` square at grid index `(ix0, iz0)`: the simulator runs on the
/// square plus its own margin ([`ErosionParams::margin`]), and the pair keeps `margin` cells of
/// noise around the square for the model to read.
pub fn make_pair(
    generator: &TerrainGenerator,
    at: (i64, i64),
    side: usize,
    margin: usize,
    params: &ErosionParams,
) -> TrainingPair {
    make_pair_averaged(generator, at, side, margin, params, 1).0
}

/// Like [`make_pair`], with the target the mean height change of `runs` simulator runs whose
/// droplets are seeded differently (run 0 uses `params.seed`). Droplet erosion is stochastic:
/// which cell a gully passes through depends on where droplets happen to start, which no model
/// of the noise alone can predict; the mean over runs keeps what the ground itself decides.
/// Returns the averaged pair and the pair of run 0 alone.
pub fn make_pair_averaged(
    generator: &TerrainGenerator,
    at: (i64, i64),
    side: usize,
    margin: usize,
    params: &ErosionParams,
    runs: usize,
) -> (TrainingPair, TrainingPair) {
    // The simulator always runs on the square plus its own margin, so targets do not depend on
    // how far the model reads.
    make_pair_simulated_wider(generator, at, side, margin, params, runs, params.margin())
}

/// Like [`make_pair_averaged`], with the simulator run on the square plus `sim_margin` cells
/// (at least its own [`ErosionParams::margin`]) on each side. The simulator's result near a
/// tile's edge depends on where the tile ends; a wider tile gives targets closer to what the
/// simulator would make of an endless world, which is what a seam-free model can learn.
pub fn make_pair_simulated_wider(
    generator: &TerrainGenerator,
    (ix0, iz0): (i64, i64),
    side: usize,
    margin: usize,
    params: &ErosionParams,
    runs: usize,
    sim_margin: usize,
) -> (TrainingPair, TrainingPair) {
    let sim_margin = sim_margin.max(params.margin());
    let wide = sim_margin.max(margin);
    let all = noise_tile(generator, ix0, iz0, side, wide);
    let cut = wide - margin;
    let keep = all.crop(cut, cut, side + 2 * margin, side + 2 * margin);
    let cut = wide - sim_margin;
    let noise = all.crop(cut, cut, side + 2 * sim_margin, side + 2 * sim_margin);
    let before = noise.crop(sim_margin, sim_margin, side, side);
    let mut sum = vec![0.0f32; side * side];
    let mut first = Vec::new();
    for run in 0..runs.max(1) {
        let mut eroded = noise.clone();
        erode(&mut eroded, &params.for_run(run));
        let after = eroded.crop(sim_margin, sim_margin, side, side);
        let change: Vec<f32> = after
            .heights
            .iter()
            .zip(&before.heights)
            .map(|(a, b)| a - b)
            .collect();
        sum.iter_mut().zip(&change).for_each(|(s, c)| *s += c);
        if run == 0 {
            first = change;
        }
    }
    let runs = runs.max(1) as f32;
    let pair = |target: Vec<f32>| TrainingPair {
        side,
        margin,
        spacing: noise.spacing,
        noise: keep.heights.clone(),
        target,
    };
    (pair(sum.iter().map(|s| s / runs).collect()), pair(first))
}
