//! The reference erosion simulator: particle ("droplet") hydraulic erosion followed by thermal
//! erosion, on a square heightfield tile addressed in world-grid coordinates.
//!
//! It is the ground truth the learned model imitates and the source of its training pairs; it
//! also runs directly on small tiles for previews and comparisons. It is deterministic: droplets
//! are seeded from their world-grid cell and [`ErosionParams::seed`], start in row-major order
//! (or, [`ErosionParams::isotropic`], in hashed passes), and the thermal pass updates every cell
//! at once from the previous state. Droplets that would
//! leave the tile stop, so the outer [`ErosionParams::margin`] cells of a tile are less eroded than
//! the middle: callers simulate a tile larger than the area they keep.
//!
//! Units: heights in metres, horizontal positions in grid cells of `spacing` metres; slopes are
//! rise over run (metres per metre).

use crate::terrain::noise::hash;

/// Settings of the simulator. The defaults suit the default world's one-metre grid: gullies a
/// few metres wide on slopes, sediment collecting in hollows.
#[derive(Clone, Debug, PartialEq)]
pub struct ErosionParams {
    /// Droplets started per grid cell of the tile (0 turns hydraulic erosion off).
    pub droplets_per_cell: u32,
    /// Most steps a droplet takes (one cell each).
    pub lifetime: u32,
    /// How much of its direction a droplet keeps each step (0 follows the slope exactly).
    pub inertia: f32,
    /// Sediment a droplet can carry per unit of slope, speed and water (metres of height).
    pub capacity: f32,
    /// Slope assumed for the capacity on flat ground, so droplets keep carrying a little.
    pub min_slope: f32,
    /// Fraction of the free capacity taken from the ground per step.
    pub erode_rate: f32,
    /// Fraction of the excess sediment dropped per step.
    pub deposit_rate: f32,
    /// Fraction of water lost per step.
    pub evaporation: f32,
    /// Speed gained per unit of height lost (per metre of drop over one metre of run).
    pub gravity: f32,
    /// Radius in cells over which a droplet takes material (a soft brush, so no one-cell pits).
    pub brush_radius: u32,
    /// Most height a droplet removes in one step, in metres.
    pub max_erode: f32,
    /// Thermal passes after the droplets.
    pub thermal_iterations: u32,
    /// Steepest stable slope (rise over run) for loose material; steeper slopes slump.
    pub talus: f32,
    /// Fraction of the excess over the talus slope moved per thermal pass.
    pub thermal_rate: f32,
    /// Seed of the droplets' start positions.
    pub seed: u32,
    /// Treat every direction alike: droplets start in passes of one per cell, each pass in an
    /// order hashed from the cells' world positions, and take material around the cell nearest
    /// them. Off (the default, which the shipped model was trained on), droplets start in
    /// row-major order and take material around the corner cell of their square, half a cell
    /// towards -x and -z: the same ground transposed or mirrored erodes differently
    /// (`erosion_floor --symmetry 1`).
    pub isotropic: bool,
}

impl Default for ErosionParams {
    fn default() -> Self {
        Self {
            droplets_per_cell: 2,
            lifetime: 30,
            inertia: 0.1,
            capacity: 2.0,
            min_slope: 0.01,
            erode_rate: 0.1,
            deposit_rate: 0.1,
            evaporation: 0.05,
            gravity: 4.0,
            brush_radius: 2,
            max_erode: 0.05,
            thermal_iterations: 10,
            talus: 1.0,
            thermal_rate: 0.25,
            seed: 0x0e05_1017,
            isotropic: false,
        }
    }
}

impl ErosionParams {
    /// These settings for the `run`-th of several differently seeded runs (run 0 is these
    /// settings): training targets averaged over runs, and the tools that compare with them,
    /// seed runs this way.
    pub fn for_run(&self, run: usize) -> Self {
        Self {
            seed: self.seed ^ (run as u32).wrapping_mul(0x9e37_79b9),
            ..self.clone()
        }
    }

    /// Cells at a tile's edge that cannot be trusted: droplets from outside the tile would have
    /// reached them. About the distance a droplet travels before it has lost most of its water.
    pub fn margin(&self) -> usize {
        let half_life = (0.5f32.ln() / (1.0 - self.evaporation.clamp(0.001, 0.999)).ln()).ceil();
        (half_life as usize).min(self.lifetime as usize) + self.brush_radius as usize
    }
}

/// A square-cornered window of the world grid with one height per cell.
#[derive(Clone, Debug, PartialEq)]
pub struct HeightTile {
    /// World-grid column of the first sample.
    pub ix0: i64,
    /// World-grid row of the first sample.
    pub iz0: i64,
    /// Samples along x.
    pub nx: usize,
    /// Samples along z.
    pub nz: usize,
    /// Metres between samples.
    pub spacing: f32,
    /// `nx * nz` heights in metres, row-major (x fastest).
    pub heights: Vec<f32>,
}

impl HeightTile {
    /// Height at sample `(i, j)`.
    #[inline]
    pub fn at(&self, i: usize, j: usize) -> f32 {
        self.heights[j * self.nx + i]
    }

    /// The `nx` x `nz` window starting at sample `(i0, j0)` (clamped to the tile).
    pub fn crop(&self, i0: usize, j0: usize, nx: usize, nz: usize) -> HeightTile {
        let nx = nx.min(self.nx.saturating_sub(i0));
        let nz = nz.min(self.nz.saturating_sub(j0));
        let mut heights = Vec::with_capacity(nx * nz);
        for j in j0..j0 + nz {
            heights.extend_from_slice(&self.heights[j * self.nx + i0..j * self.nx + i0 + nx]);
        }
        HeightTile {
            ix0: self.ix0 + i0 as i64,
            iz0: self.iz0 + j0 as i64,
            nx,
            nz,
            spacing: self.spacing,
            heights,
        }
    }
}

/// Runs the droplets, then the thermal passes, on `tile` in place.
pub fn erode(tile: &mut HeightTile, params: &ErosionParams) {
    if tile.nx < 4 || tile.nz < 4 || tile.heights.len() != tile.nx * tile.nz {
        return;
    }
    hydraulic(tile, params);
    thermal(tile, params);
}

/// A brush: cell offsets and weights summing to 1.
fn brush(radius: u32) -> Vec<(i32, i32, f32)> {
    let r = radius as i32;
    let mut cells = Vec::new();
    for dz in -r..=r {
        for dx in -r..=r {
            let w = radius as f32 + 0.5 - ((dx * dx + dz * dz) as f32).sqrt();
            if w > 0.0 {
                cells.push((dx, dz, w));
            }
        }
    }
    let total: f32 = cells.iter().map(|c| c.2).sum();
    cells.iter_mut().for_each(|c| c.2 /= total);
    cells
}

/// Bilinear height and gradient (metres per cell) at `(x, z)`; the caller keeps the point
/// inside the tile.
#[inline]
fn height_and_gradient(tile: &HeightTile, x: f32, z: f32) -> (f32, f32, f32) {
    let (i, j) = (x as usize, z as usize);
    let (u, v) = (x - i as f32, z - j as f32);
    let h00 = tile.at(i, j);
    let h10 = tile.at(i + 1, j);
    let h01 = tile.at(i, j + 1);
    let h11 = tile.at(i + 1, j + 1);
    let gx = (h10 - h00) * (1.0 - v) + (h11 - h01) * v;
    let gz = (h01 - h00) * (1.0 - u) + (h11 - h10) * u;
    let h = h00 * (1.0 - u) * (1.0 - v) + h10 * u * (1.0 - v) + h01 * (1.0 - u) * v + h11 * u * v;
    (h, gx, gz)
}

/// A number in 0..1 from a hash.
#[inline]
fn unit(bits: u32) -> f32 {
    (bits >> 8) as f32 / (1u32 << 24) as f32
}

fn hydraulic(tile: &mut HeightTile, p: &ErosionParams) {
    let (nx, nz) = (tile.nx, tile.nz);
    let brush = brush(p.brush_radius);
    let spacing = tile.spacing.max(1e-3);
    let inside =
        |x: f32, z: f32| x >= 0.0 && z >= 0.0 && x < (nx - 1) as f32 && z < (nz - 1) as f32;
    // Where and in which order droplets start: (cell column, cell row, droplet of the cell).
    let mut starts: Vec<(usize, usize, u32)> = Vec::new();
    if p.isotropic {
        let mut cells: Vec<(u32, usize, usize)> = Vec::with_capacity((nx - 1) * (nz - 1));
        for k in 0..p.droplets_per_cell {
            cells.clear();
            let order = hash::mix(p.seed ^ 0x0bde_5eed ^ k.wrapping_mul(0x632b_e5ab));
            for j in 0..nz - 1 {
                for i in 0..nx - 1 {
                    let (wx, wz) = ((tile.ix0 + i as i64) as i32, (tile.iz0 + j as i64) as i32);
                    cells.push((hash::point(wx, wz, order), i, j));
                }
            }
            cells.sort_unstable();
            starts.extend(cells.iter().map(|&(_, i, j)| (i, j, k)));
        }
    } else {
        for j in 0..nz - 1 {
            for i in 0..nx - 1 {
                starts.extend((0..p.droplets_per_cell).map(|k| (i, j, k)));
            }
        }
    }
    for (i, j, k) in starts {
        let (wx, wz) = ((tile.ix0 + i as i64) as i32, (tile.iz0 + j as i64) as i32);
        let seed = hash::mix(p.seed ^ k.wrapping_mul(0x2c1b_3c6d));
        let bits = hash::point(wx, wz, seed);
        let (mut x, mut z) = (i as f32 + unit(bits), j as f32 + unit(hash::mix(bits)));
        // `i + 0.99999994` rounds up to `i + 1` in f32: in the last row or column that
        // start is outside, and its bilinear lookup would read past the tile.
        if !inside(x, z) {
            continue;
        }
        let (mut dx, mut dz) = (0.0f32, 0.0f32);
        let (mut speed, mut water, mut sediment) = (1.0f32, 1.0f32, 0.0f32);
        for _ in 0..p.lifetime {
            let (h, gx, gz) = height_and_gradient(tile, x, z);
            dx = dx * p.inertia - gx * (1.0 - p.inertia);
            dz = dz * p.inertia - gz * (1.0 - p.inertia);
            let len = (dx * dx + dz * dz).sqrt();
            if len < 1e-6 {
                break;
            }
            dx /= len;
            dz /= len;
            let (cx, cz) = (x as usize, z as usize);
            let (u, v) = (x - cx as f32, z - cz as f32);
            let (nx2, nz2) = (x + dx, z + dz);
            if !inside(nx2, nz2) {
                break;
            }
            let (h2, _, _) = height_and_gradient(tile, nx2, nz2);
            let drop = h - h2;
            let capacity = (drop / spacing).max(p.min_slope) * speed * water * p.capacity;
            if drop < 0.0 || sediment > capacity {
                // Uphill: fill the hollow behind; overloaded: drop part of the load.
                let amount = if drop < 0.0 {
                    sediment.min(-drop)
                } else {
                    (sediment - capacity) * p.deposit_rate
                };
                sediment -= amount;
                let cells = [
                    (cx, cz, (1.0 - u) * (1.0 - v)),
                    (cx + 1, cz, u * (1.0 - v)),
                    (cx, cz + 1, (1.0 - u) * v),
                    (cx + 1, cz + 1, u * v),
                ];
                for (ci, cj, w) in cells {
                    tile.heights[cj * nx + ci] += amount * w;
                }
            } else {
                // Never dig below the point the droplet moves to.
                let amount = ((capacity - sediment) * p.erode_rate)
                    .min(drop)
                    .min(p.max_erode);
                let mut taken = 0.0;
                // Around the nearest cell when isotropic, else the square's corner.
                let (bx, bz) = if p.isotropic {
                    ((x + 0.5) as i64, (z + 0.5) as i64)
                } else {
                    (cx as i64, cz as i64)
                };
                for &(ox, oz, w) in &brush {
                    let (bi, bj) = (bx + i64::from(ox), bz + i64::from(oz));
                    if bi < 0 || bj < 0 || bi >= nx as i64 || bj >= nz as i64 {
                        continue;
                    }
                    let cell = &mut tile.heights[bj as usize * nx + bi as usize];
                    *cell -= amount * w;
                    taken += amount * w;
                }
                sediment += taken;
            }
            speed = (speed * speed + drop / spacing * p.gravity).max(0.0).sqrt();
            water *= 1.0 - p.evaporation;
            x = nx2;
            z = nz2;
        }
    }
}

fn thermal(tile: &mut HeightTile, p: &ErosionParams) {
    let (nx, nz) = (tile.nx, tile.nz);
    let limit = p.talus * tile.spacing;
    let mut delta = vec![0.0f32; nx * nz];
    for _ in 0..p.thermal_iterations {
        delta.iter_mut().for_each(|d| *d = 0.0);
        for j in 0..nz {
            for i in 0..nx {
                let h = tile.heights[j * nx + i];
                // Each pair of neighbours once: right and down.
                for (ni, nj) in [(i + 1, j), (i, j + 1)] {
                    if ni >= nx || nj >= nz {
                        continue;
                    }
                    let n = nj * nx + ni;
                    let diff = h - tile.heights[n];
                    let excess = diff.abs() - limit;
                    if excess > 0.0 {
                        let moved = excess * p.thermal_rate * 0.5 * diff.signum();
                        delta[j * nx + i] -= moved;
                        delta[n] += moved;
                    }
                }
            }
        }
        for (h, d) in tile.heights.iter_mut().zip(&delta) {
            *h += d;
        }
    }
}

/// FNV-1a 64 of the heights' bits, for golden tests.
pub fn height_hash(heights: &[f32]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for h in heights {
        for b in h.to_bits().to_le_bytes() {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bowl with a ripple, so droplets run down, meet and drop their load.
    fn hill(n: usize) -> HeightTile {
        let c = n as f32 / 2.0;
        let heights = (0..n * n)
            .map(|k| {
                let (x, z) = ((k % n) as f32 - c, (k / n) as f32 - c);
                0.02 * (x * x + z * z) + 2.0 * (x * 0.4).sin() * (z * 0.3).cos()
            })
            .collect();
        HeightTile {
            ix0: -7,
            iz0: 11,
            nx: n,
            nz: n,
            spacing: 1.0,
            heights,
        }
    }

    #[test]
    fn erosion_is_deterministic_and_carves() {
        let mut a = hill(48);
        let before = a.clone();
        erode(&mut a, &ErosionParams::default());
        let mut b = hill(48);
        erode(&mut b, &ErosionParams::default());
        assert_eq!(a, b);
        let diff: Vec<f32> = a
            .heights
            .iter()
            .zip(&before.heights)
            .map(|(x, y)| x - y)
            .collect();
        let lowest = diff.iter().copied().fold(0.0f32, f32::min);
        let highest = diff.iter().copied().fold(0.0f32, f32::max);
        assert!(lowest < -0.05, "something is carved: {lowest}");
        assert!(highest > 0.01, "something is deposited: {highest}");
        assert!(a.heights.iter().all(|h| h.is_finite()));
    }

    #[test]
    fn droplets_are_seeded_from_world_cells() {
        let mut a = hill(32);
        let mut b = hill(32);
        b.ix0 += 1;
        let params = ErosionParams {
            thermal_iterations: 0,
            ..ErosionParams::default()
        };
        erode(&mut a, &params);
        erode(&mut b, &params);
        assert_ne!(a.heights, b.heights, "another place, other droplets");
    }

    #[test]
    fn isotropic_droplets_erode_a_mirrored_ground_alike() {
        // Ground with every symmetry of the square: the erosion should have them too, but for
        // the droplets' chance.
        let n = 48;
        let c = (n - 1) as f32 / 2.0;
        let ground = HeightTile {
            ix0: 0,
            iz0: 0,
            nx: n,
            nz: n,
            spacing: 1.0,
            heights: (0..n * n)
                .map(|k| {
                    let (x, z) = ((k % n) as f32 - c, (k / n) as f32 - c);
                    let r = (x * x + z * z).sqrt();
                    0.03 * r * r + 1.5 * (r * 0.7).sin()
                })
                .collect(),
        };
        // RMS of the change minus its mirror image across x, over the RMS change.
        let asymmetry = |isotropic: bool| {
            let mut t = ground.clone();
            erode(
                &mut t,
                &ErosionParams {
                    isotropic,
                    ..ErosionParams::default()
                },
            );
            let change: Vec<f32> = t
                .heights
                .iter()
                .zip(&ground.heights)
                .map(|(a, b)| a - b)
                .collect();
            let (mut diff, mut depth) = (0.0f64, 0.0f64);
            for j in 0..n {
                for i in 0..n {
                    let (a, b) = (change[j * n + i], change[j * n + n - 1 - i]);
                    diff += f64::from(a - b).powi(2);
                    depth += f64::from(a).powi(2);
                }
            }
            (diff / depth).sqrt()
        };
        let (row_major, isotropic) = (asymmetry(false), asymmetry(true));
        eprintln!("asymmetry: row-major {row_major:.3}, isotropic {isotropic:.3}");
        assert!(
            isotropic < 0.75 * row_major,
            "{isotropic} against {row_major}"
        );
    }

    #[test]
    fn golden_hash() {
        let mut tile = hill(40);
        erode(&mut tile, &ErosionParams::default());
        assert_eq!(
            height_hash(&tile.heights),
            2_772_129_821_655_841_901,
            "update if the simulator changed on purpose"
        );
    }

    #[test]
    fn tiny_or_inconsistent_tiles_are_left_alone() {
        let mut tile = hill(3);
        let before = tile.clone();
        erode(&mut tile, &ErosionParams::default());
        assert_eq!(tile, before);
        tile.heights.pop();
        erode(&mut tile, &ErosionParams::default());
    }

    #[test]
    fn thermal_erosion_flattens_cliffs_to_the_talus_slope() {
        let mut tile = hill(16);
        for (k, h) in tile.heights.iter_mut().enumerate() {
            *h = if k % 16 < 8 { 10.0 } else { 0.0 };
        }
        let params = ErosionParams {
            droplets_per_cell: 0,
            thermal_iterations: 200,
            ..ErosionParams::default()
        };
        erode(&mut tile, &params);
        for j in 0..16 {
            for i in 0..15 {
                let step = (tile.at(i, j) - tile.at(i + 1, j)).abs();
                assert!(step < params.talus * 1.2, "{step} at {i},{j}");
            }
        }
    }
}
