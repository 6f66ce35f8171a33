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
    (ix0, iz0): (i64, i64),
    side: usize,
    margin: usize,
    params: &ErosionParams,
) -> TrainingPair {
    let sim_margin = params.margin().max(margin);
    let noise = noise_tile(generator, ix0, iz0, side, sim_margin);
    let mut eroded = noise.clone();
    erode(&mut eroded, params);
    let cut = sim_margin - margin;
    let keep = noise.crop(cut, cut, side + 2 * margin, side + 2 * margin);
    let (before, after) = (
        noise.crop(sim_margin, sim_margin, side, side),
        eroded.crop(sim_margin, sim_margin, side, side),
    );
    TrainingPair {
        side,
        margin,
        spacing: noise.spacing,
        noise: keep.heights,
        target: after
            .heights
            .iter()
            .zip(&before.heights)
            .map(|(a, b)| a - b)
            .collect(),
    }
}
