//! Lakes: the ground's closed basins filled to the height where they would spill over. Pure
//! core, no Bevy types.
//!
//! The world is cut into square cells (the world file's `lakes.cell_m`). A cell's lakes come
//! from the ground sampled every `sample_m` over a window of the cell and one cell around it: a
//! priority flood from the window's edge raises every sample to the lowest height at which water
//! could leave the window from it, and each connected region that rose (a basin) whose lowest
//! sample lies inside the cell itself, deep and wide enough, is one of the cell's lakes. So a
//! lake is a function of its cell alone: every chunk that overlaps it, in any order and on any
//! thread, sees the same lake to the bit, and no lake is counted by two cells.
//!
//! A lake covers the full-detail vertices around its flooded samples (every vertex of a sample
//! square with a flooded corner); its water surface is flat at the lake's level, and the shore is
//! wherever the full-detail ground rises above that level, as with the sea.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use crate::config::LakeConfig;
use crate::terrain::noise::Grid;

/// A basin of a height window, as [`fill_basins`] finds it.
#[derive(Clone, Debug, PartialEq)]
pub struct Basin {
    /// Height of its water surface: where it would spill over.
    pub level: f32,
    /// Index of its lowest sample (the lowest index among equals).
    pub pit: usize,
    /// Its flooded samples (ground below `level`), row-major indices in ascending order.
    pub samples: Vec<usize>,
}

/// Height ordered totally, for the flood's queue.
#[derive(Clone, Copy, PartialEq)]
struct Height(f32);

impl Eq for Height {}

impl PartialOrd for Height {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Height {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// The basins of an `nx` x `nz` window of heights (row-major, x fastest): a priority flood from
/// the window's edge (water leaves there), then the connected (4-neighbour) regions it raised.
/// Samples that are not finite count as walls. Deterministic: ties go to the lower index.
pub fn fill_basins(heights: &[f32], nx: usize, nz: usize) -> Vec<Basin> {
    let n = nx * nz;
    if nx < 3 || nz < 3 || heights.len() < n {
        return Vec::new();
    }
    let ground: Vec<f32> = heights[..n]
        .iter()
        .map(|&h| if h.is_finite() { h } else { f32::MAX })
        .collect();
    let neighbours = |i: usize| {
        let (x, z) = (i % nx, i / nx);
        [
            (x > 0).then(|| i - 1),
            (x + 1 < nx).then(|| i + 1),
            (z > 0).then(|| i - nx),
            (z + 1 < nz).then(|| i + nx),
        ]
        .into_iter()
        .flatten()
    };
    let mut filled = ground.clone();
    let mut reached = vec![false; n];
    let mut open = BinaryHeap::new();
    for (i, reached) in reached.iter_mut().enumerate() {
        let (x, z) = (i % nx, i / nx);
        if x == 0 || z == 0 || x + 1 == nx || z + 1 == nz {
            *reached = true;
            open.push(Reverse((Height(filled[i]), i)));
        }
    }
    while let Some(Reverse((Height(level), i))) = open.pop() {
        for j in neighbours(i) {
            if !reached[j] {
                reached[j] = true;
                filled[j] = filled[j].max(level);
                open.push(Reverse((Height(filled[j]), j)));
            }
        }
    }
    let mut seen = vec![false; n];
    let mut basins = Vec::new();
    let mut stack = Vec::new();
    for start in 0..n {
        if seen[start] || filled[start] <= ground[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let mut samples = Vec::new();
        while let Some(i) = stack.pop() {
            samples.push(i);
            for j in neighbours(i) {
                if !seen[j] && filled[j] > ground[j] {
                    seen[j] = true;
                    stack.push(j);
                }
            }
        }
        samples.sort_unstable();
        let pit = samples
            .iter()
            .copied()
            .min_by(|&a, &b| ground[a].total_cmp(&ground[b]).then(a.cmp(&b)))
            .unwrap_or(start);
        basins.push(Basin {
            level: filled[pit],
            pit,
            samples,
        });
    }
    basins
}

/// One lake: a flat water surface over the full-detail vertices around its flooded samples.
#[derive(Clone, Debug, PartialEq)]
pub struct Lake {
    /// Height of the water surface, metres.
    pub level: f32,
    /// Depth at its lowest sample, metres.
    pub max_depth: f32,
    /// Water surface, square metres (flooded samples times the area of one).
    pub area_m2: f32,
    /// Full-detail vertex index of the mask's first sample.
    ix0: i64,
    iz0: i64,
    /// Full-detail vertices between samples.
    stride: i64,
    nx: usize,
    nz: usize,
    /// Flooded samples, row-major; the mask has one dry sample around them.
    flooded: Vec<bool>,
}

impl Lake {
    /// Whether full-detail vertex `(ix, iz)` is under this lake's surface: a corner of the
    /// sample square holding it is flooded.
    pub fn covers(&self, ix: i64, iz: i64) -> bool {
        let (a, b) = (
            (ix - self.ix0).div_euclid(self.stride),
            (iz - self.iz0).div_euclid(self.stride),
        );
        if a < 0 || b < 0 || a + 1 >= self.nx as i64 || b + 1 >= self.nz as i64 {
            return false;
        }
        let k = b as usize * self.nx + a as usize;
        self.flooded[k] || self.flooded[k + 1] || self.flooded[k + self.nx] || {
            self.flooded[k + self.nx + 1]
        }
    }

    /// Full-detail vertices it may cover: `(ix_min, iz_min, ix_max, iz_max)`, inclusive.
    pub fn bounds(&self) -> (i64, i64, i64, i64) {
        let reach = |n: usize| (n as i64 - 1) * self.stride - 1;
        (
            self.ix0,
            self.iz0,
            self.ix0 + reach(self.nx),
            self.iz0 + reach(self.nz),
        )
    }

    fn overlaps(&self, ix0: i64, iz0: i64, ix1: i64, iz1: i64) -> bool {
        let (a0, b0, a1, b1) = self.bounds();
        a0 <= ix1 && ix0 <= a1 && b0 <= iz1 && iz0 <= b1
    }
}

/// The lakes of a world: its lake rules on its vertex grid, and the lakes of the cells asked
/// about so far (shared by every clone of the generator; a cell's lakes never change).
#[derive(Debug)]
pub struct Lakes {
    /// Full-detail vertices between samples.
    stride: i64,
    /// Samples along a cell's side.
    per_cell: i64,
    spacing: f64,
    min_depth: f32,
    min_area: f32,
    sea_level: f32,
    cells: Mutex<HashMap<(i64, i64), Arc<[Arc<Lake>]>>>,
    /// Height samples of cells (edges included), so the nine cells whose windows share a cell
    /// sample it once.
    blocks: Mutex<HashMap<(i64, i64), Arc<Vec<f32>>>>,
}

/// Most cells kept (each a few lakes); the cache starts over when full.
const MAX_CELLS: usize = 4096;
/// Most blocks of height samples kept (at most 129 x 129 samples each, usually 33 x 33); the
/// cache starts over when full.
const MAX_BLOCKS: usize = 1024;

impl Lakes {
    /// Lakes by `config` on a grid of vertices `spacing` metres apart, over a sea at
    /// `sea_level` (basins that would not rise above it are the sea's).
    pub fn new(config: &LakeConfig, spacing: f64, sea_level: f32) -> Self {
        let spacing = if spacing.is_finite() && spacing > 0.0 {
            spacing
        } else {
            1.0
        };
        let stride = ((config.sample_m / spacing).round() as i64).clamp(1, 1 << 16);
        let per_cell = ((config.cell_m / (stride as f64 * spacing)).round() as i64).clamp(4, 128);
        Self {
            stride,
            per_cell,
            spacing,
            min_depth: config.min_depth_m,
            min_area: config.min_area_m2,
            sea_level,
            cells: Mutex::default(),
            blocks: Mutex::default(),
        }
    }

    /// Full-detail vertices along a cell's side.
    fn cell_vertices(&self) -> i64 {
        self.stride * self.per_cell
    }

    /// The height-sample grid for cell `(cx, cz)`: the cell and one cell around it.
    pub fn window(&self, cx: i64, cz: i64) -> Grid {
        let c = self.cell_vertices();
        let side = (3 * self.per_cell + 1) as usize;
        Grid {
            ix0: (cx - 1) * c,
            iz0: (cz - 1) * c,
            stride: self.stride,
            spacing: self.spacing,
            nx: side,
            nz: side,
        }
    }

    /// The lakes of cell `(cx, cz)` from the heights over its [`window`](Self::window).
    pub fn cell_lakes(&self, cx: i64, cz: i64, heights: &[f32]) -> Vec<Lake> {
        let grid = self.window(cx, cz);
        let (n, core) = (grid.nx, self.per_cell as usize);
        let sample_area = (self.stride as f64 * self.spacing).powi(2) as f32;
        let mut lakes = Vec::new();
        for basin in fill_basins(heights, n, n) {
            let (px, pz) = (basin.pit % n, basin.pit / n);
            let depth = basin.level - heights[basin.pit];
            let area = basin.samples.len() as f32 * sample_area;
            let in_core = |p: usize| (core..2 * core).contains(&p);
            if !(in_core(px) && in_core(pz))
                || basin.level <= self.sea_level
                || depth < self.min_depth
                || area < self.min_area
                || basin.level >= f32::MAX
            {
                continue;
            }
            // The mask: the flooded samples' bounding box and one sample around it.
            let (mut x0, mut z0, mut x1, mut z1) = (n, n, 0, 0);
            for &s in &basin.samples {
                let (x, z) = (s % n, s / n);
                (x0, z0, x1, z1) = (x0.min(x), z0.min(z), x1.max(x), z1.max(z));
            }
            let (mx, mz) = (x1 - x0 + 3, z1 - z0 + 3);
            let mut flooded = vec![false; mx * mz];
            for &s in &basin.samples {
                let (x, z) = (s % n, s / n);
                flooded[(z + 1 - z0) * mx + (x + 1 - x0)] = true;
            }
            lakes.push(Lake {
                level: basin.level,
                max_depth: depth,
                area_m2: area,
                ix0: grid.ix0 + (x0 as i64 - 1) * self.stride,
                iz0: grid.iz0 + (z0 as i64 - 1) * self.stride,
                stride: self.stride,
                nx: mx,
                nz: mz,
                flooded,
            });
        }
        lakes
    }

    /// Every lake that may cover a full-detail vertex of `ix0..=ix1` x `iz0..=iz1`, finding the
    /// lakes of cells not asked about before with `heights_on` (the ground over a grid).
    pub fn near(
        &self,
        (ix0, iz0, ix1, iz1): (i64, i64, i64, i64),
        heights_on: impl Fn(Grid) -> Vec<f32>,
    ) -> Vec<Arc<Lake>> {
        let c = self.cell_vertices();
        // A cell's lakes lie inside its window: one cell either side of it.
        let (cx0, cx1) = (ix0.div_euclid(c) - 1, ix1.div_euclid(c) + 1);
        let (cz0, cz1) = (iz0.div_euclid(c) - 1, iz1.div_euclid(c) + 1);
        let mut found = Vec::new();
        for cz in cz0..=cz1 {
            for cx in cx0..=cx1 {
                let cached = lock(&self.cells).get(&(cx, cz)).cloned();
                let lakes = cached.unwrap_or_else(|| {
                    let lakes: Arc<[Arc<Lake>]> = self
                        .cell_lakes(cx, cz, &self.window_heights(cx, cz, &heights_on))
                        .into_iter()
                        .map(Arc::new)
                        .collect();
                    let mut cells = lock(&self.cells);
                    if cells.len() >= MAX_CELLS {
                        cells.clear();
                    }
                    cells.insert((cx, cz), lakes.clone());
                    lakes
                });
                found.extend(
                    lakes
                        .iter()
                        .filter(|l| l.overlaps(ix0, iz0, ix1, iz1))
                        .cloned(),
                );
            }
        }
        found
    }

    /// The heights over cell `(cx, cz)`'s [`window`](Self::window), put together from the
    /// blocks of the nine cells in it. Every sample has the bits `heights_on` gives it over any
    /// grid, so this equals `heights_on(self.window(cx, cz))`.
    pub fn window_heights(
        &self,
        cx: i64,
        cz: i64,
        heights_on: &impl Fn(Grid) -> Vec<f32>,
    ) -> Vec<f32> {
        let p = self.per_cell as usize;
        let side = 3 * p + 1;
        let blocks: Vec<Arc<Vec<f32>>> = (0..9)
            .map(|k| self.block(cx - 1 + k % 3, cz - 1 + k / 3, heights_on))
            .collect();
        let mut heights = Vec::with_capacity(side * side);
        for j in 0..side {
            let (bz, lz) = ((j / p).min(2), j - (j / p).min(2) * p);
            for i in 0..side {
                let (bx, lx) = ((i / p).min(2), i - (i / p).min(2) * p);
                heights.push(blocks[bz * 3 + bx][lz * (p + 1) + lx]);
            }
        }
        heights
    }

    /// Height samples of cell `(cx, cz)`, both edges included: `(per_cell + 1)^2`.
    fn block(&self, cx: i64, cz: i64, heights_on: &impl Fn(Grid) -> Vec<f32>) -> Arc<Vec<f32>> {
        if let Some(block) = lock(&self.blocks).get(&(cx, cz)) {
            return block.clone();
        }
        let c = self.cell_vertices();
        let n = (self.per_cell + 1) as usize;
        let mut heights = heights_on(Grid {
            ix0: cx * c,
            iz0: cz * c,
            stride: self.stride,
            spacing: self.spacing,
            nx: n,
            nz: n,
        });
        heights.resize(n * n, f32::NAN);
        let block = Arc::new(heights);
        let mut blocks = lock(&self.blocks);
        if blocks.len() >= MAX_BLOCKS {
            blocks.clear();
        }
        blocks.insert((cx, cz), block.clone());
        block
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The highest lake level over each vertex of a `side` x `side` grid whose first vertex is
/// full-detail vertex `(ix0, iz0)` and whose vertices are `step` apart (`NEG_INFINITY` where no
/// lake is), or `None` when no lake covers any of them.
pub fn lake_levels(
    lakes: &[Arc<Lake>],
    (ix0, iz0): (i64, i64),
    step: i64,
    side: usize,
) -> Option<Vec<f32>> {
    if lakes.is_empty() {
        return None;
    }
    let levels: Vec<f32> = (0..side * side)
        .map(|k| {
            let (i, j) = ((k % side) as i64, (k / side) as i64);
            surface_over(lakes, f32::NEG_INFINITY, ix0 + i * step, iz0 + j * step)
        })
        .collect();
    levels.iter().any(|l| l.is_finite()).then_some(levels)
}

/// The water surface over full-detail vertex `(ix, iz)`: the highest of `below` (the sea's
/// level, or `NEG_INFINITY` for none) and the levels of the `lakes` covering it.
pub fn surface_over(lakes: &[Arc<Lake>], below: f32, ix: i64, iz: i64) -> f32 {
    lakes
        .iter()
        .filter(|l| l.covers(ix, iz))
        .fold(below, |w, l| w.max(l.level))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bowl: a 9x9 window, high everywhere but a pit of `depth` around the middle with one
    /// notch in its rim at `rim`.
    fn bowl() -> Vec<f32> {
        let mut h = vec![10.0; 81];
        for z in 3..6 {
            for x in 3..6 {
                h[z * 9 + x] = 2.0;
            }
        }
        h[4 * 9 + 4] = 1.0;
        // The rim's lowest gap, at height 6, between the pit and the window's edge.
        h[4 * 9 + 2] = 6.0;
        h[4 * 9 + 1] = 6.0;
        h[4 * 9] = 6.0;
        h
    }

    #[test]
    fn a_bowl_fills_to_its_lowest_gap() {
        let basins = fill_basins(&bowl(), 9, 9);
        assert_eq!(basins.len(), 1);
        let b = &basins[0];
        assert_eq!(b.level, 6.0);
        assert_eq!(b.pit, 4 * 9 + 4);
        assert_eq!(b.samples.len(), 9, "the pit's 3x3 samples, not the gap");
        // Without the gap it fills to the rim.
        let mut closed = bowl();
        closed[4 * 9 + 2] = 10.0;
        assert_eq!(fill_basins(&closed, 9, 9)[0].level, 10.0);
    }

    #[test]
    fn slopes_and_the_window_edge_hold_no_water() {
        let ramp: Vec<f32> = (0..81).map(|i| (i % 9) as f32).collect();
        assert!(fill_basins(&ramp, 9, 9).is_empty());
        // A pit on the edge drains out of the window.
        let mut h = vec![5.0; 81];
        h[4 * 9] = 0.0;
        assert!(fill_basins(&h, 9, 9).is_empty());
        // Bad input: NaN is a wall, short input nothing.
        let mut h = bowl();
        h[4 * 9 + 2] = f32::NAN;
        assert_eq!(fill_basins(&h, 9, 9)[0].level, 10.0);
        assert!(fill_basins(&h[..10], 9, 9).is_empty());
    }

    #[test]
    fn two_pits_under_one_surface_are_one_lake() {
        let mut h = vec![9.0; 81];
        h[4 * 9 + 2] = 1.0;
        h[4 * 9 + 6] = 0.5;
        for x in 3..6 {
            h[4 * 9 + x] = 4.0; // a ridge under the surface between them
        }
        let basins = fill_basins(&h, 9, 9);
        assert_eq!(basins.len(), 1);
        assert_eq!(basins[0].level, 9.0);
        assert_eq!(basins[0].pit, 4 * 9 + 6);
    }

    fn config() -> LakeConfig {
        LakeConfig {
            cell_m: 32.0,
            sample_m: 8.0,
            min_depth_m: 1.0,
            min_area_m2: 0.0,
        }
    }

    /// Cell (0, 0)'s window (samples -4..=8 on 8 m, so 13 a side) with a lake of the given
    /// floor height in the middle sample of the cell.
    fn window_with_pit(floor: f32) -> Vec<f32> {
        let mut h = vec![10.0; 13 * 13];
        h[6 * 13 + 6] = floor;
        h
    }

    #[test]
    fn a_cell_keeps_the_deep_lakes_whose_lowest_point_is_its_own() {
        let lakes = Lakes::new(&config(), 1.0, 0.0);
        assert_eq!((lakes.stride, lakes.per_cell), (8, 4));
        let found = lakes.cell_lakes(0, 0, &window_with_pit(2.0));
        assert_eq!(found.len(), 1);
        let lake = &found[0];
        assert_eq!(
            (lake.level, lake.max_depth, lake.area_m2),
            (10.0, 8.0, 64.0)
        );
        // Sample (6, 6) of the window is vertex (-32 + 48, ...) = (16, 16): every vertex of the
        // four sample squares around it is covered, none beyond.
        assert!(lake.covers(16, 16) && lake.covers(8, 8) && lake.covers(23, 23));
        assert!(!lake.covers(24, 16) && !lake.covers(7, 16) && !lake.covers(16, 24));
        assert_eq!(lake.bounds(), (8, 8, 23, 23));
        // Too shallow, or below the sea: dry.
        assert!(lakes.cell_lakes(0, 0, &window_with_pit(9.5)).is_empty());
        let high_sea = Lakes::new(&config(), 1.0, 10.0);
        assert!(high_sea.cell_lakes(0, 0, &window_with_pit(2.0)).is_empty());
        // A pit in the margin belongs to the neighbouring cell.
        let mut h = vec![10.0; 13 * 13];
        h[6 * 13 + 2] = 2.0;
        assert!(lakes.cell_lakes(0, 0, &h).is_empty());
    }

    #[test]
    fn near_finds_each_cells_lakes_once_whoever_asks() {
        let lakes = Lakes::new(&config(), 1.0, 0.0);
        // Ground with a pit at every sample whose indices are both 2 mod 4 (one per cell).
        let ground = |g: Grid| -> Vec<f32> {
            (0..g.nx * g.nz)
                .map(|k| {
                    let ix = g.ix0 + (k % g.nx) as i64 * g.stride;
                    let iz = g.iz0 + (k / g.nx) as i64 * g.stride;
                    let pit = |i: i64| (i / 8).rem_euclid(4) == 2;
                    if pit(ix) && pit(iz) { 0.0 } else { 10.0 }
                })
                .collect()
        };
        let a = lakes.near((0, 0, 31, 31), ground);
        assert_eq!(a.len(), 1, "one pit within reach of cell (0, 0)'s vertices");
        assert_eq!(a[0].bounds(), (8, 8, 23, 23));
        let b = lakes.near((-40, -40, 100, 100), ground);
        assert!(b.iter().any(|l| Arc::ptr_eq(l, &a[0])), "cached, shared");
        // The window put together from blocks is the window sampled at once.
        assert_eq!(
            lakes.window_heights(3, -2, &ground),
            ground(lakes.window(3, -2))
        );
        let levels = lake_levels(&b, (0, 0), 4, 9).unwrap();
        assert_eq!(levels[0], f32::NEG_INFINITY);
        assert_eq!(levels[4 * 9 + 4], 10.0);
        assert!(lake_levels(&[], (0, 0), 1, 3).is_none());
    }
}
