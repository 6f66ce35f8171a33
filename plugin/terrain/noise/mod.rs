//! Coherent noise sources and fractals, evaluated over whole chunk grids.
//!
//! Noise-rs evaluates one point per call through its `NoiseFn` trait. Terrain chunks are regular
//! grids, so here every source fills a buffer: per-column and per-row lattice positions are worked
//! out once and reused across the grid, and the per-sample work is plain arithmetic the compiler
//! can keep in registers. Arbitrary point sets (domain warping, height queries) go through the
//! same per-sample function, so a point query returns the same bits as the grid sample at the
//! same coordinate.
//!
//! Everything here is integer hashing and IEEE arithmetic with no transcendental functions, so the
//! output is bit-identical on every thread, run and x86-64 or ARM machine.

mod fractal;
pub(crate) mod hash;
mod lattice;
mod simplex;
mod worley;

pub use fractal::{FractalParams, fill_fractal};
pub use hash::seed_mix;

use crate::config::SourceKind;

/// Where to sample: a regular grid of world positions, or a list of points.
#[derive(Clone, Copy, Debug)]
pub enum Coords<'a> {
    /// `nx * nz` samples in row-major order (x fastest). Sample `(i, j)` is at world
    /// `((ix0 + i * stride) * spacing, (iz0 + j * stride) * spacing)`: integer sample indices
    /// times a spacing, so chunks that share an edge compute bit-identical coordinates.
    Grid(Grid),
    /// Arbitrary world positions.
    Points {
        /// World x of each point.
        x: &'a [f64],
        /// World z of each point.
        z: &'a [f64],
    },
}

impl Coords<'_> {
    /// Number of samples.
    pub fn len(&self) -> usize {
        match self {
            Coords::Grid(g) => g.nx * g.nz,
            Coords::Points { x, .. } => x.len(),
        }
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// World position of sample `k`.
    pub fn position(&self, k: usize) -> (f64, f64) {
        match self {
            Coords::Grid(g) => (g.x(k % g.nx), g.z(k / g.nx)),
            Coords::Points { x, z } => (x[k], z[k]),
        }
    }
}

/// A regular grid of samples on the world's base sample lattice.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Grid {
    /// Global sample index of the first column.
    pub ix0: i64,
    /// Global sample index of the first row.
    pub iz0: i64,
    /// Distance between neighbouring samples, in base samples.
    pub stride: i64,
    /// Metres between base samples.
    pub spacing: f64,
    /// Columns.
    pub nx: usize,
    /// Rows.
    pub nz: usize,
}

impl Grid {
    /// World x of column `i`.
    #[inline]
    pub fn x(&self, i: usize) -> f64 {
        (self.ix0 + i as i64 * self.stride) as f64 * self.spacing
    }

    /// World z of row `j`.
    #[inline]
    pub fn z(&self, j: usize) -> f64 {
        (self.iz0 + j as i64 * self.stride) as f64 * self.spacing
    }
}

/// Position of a coordinate on a unit lattice: its cell and where in the cell it is.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Axis {
    pub cell: i32,
    pub frac: f32,
}

impl Axis {
    /// `coord * frequency` split into cell and fraction. The cell wraps at 2^32, which keeps the
    /// noise defined (and still deterministic) at any distance.
    #[inline]
    pub fn new(coord: f64, frequency: f64) -> Self {
        let v = coord * frequency;
        let cell = floor(v);
        Axis {
            cell: cell as i32,
            frac: (v - cell as f64) as f32,
        }
    }
}

/// `x.floor()` as an integer, without a libm call: the default x86-64 target has no rounding
/// instruction, and `f64::floor` was a measurable share of generation time. Equal to
/// `x.floor() as i64` for every finite `|x| < 2^63`, which covers any world coordinate.
#[inline(always)]
pub(crate) fn floor(x: f64) -> i64 {
    let t = x as i64;
    t - i64::from((t as f64) > x)
}

/// One octave of `source` at `frequency` with `seed`, written (`accumulate = false`) or added with
/// weight `amplitude` (`accumulate = true`) into `out`, through `shape` (identity, ridge or billow).
pub(crate) fn fill_source(
    source: SourceKind,
    coords: &Coords,
    frequency: f64,
    seed: u32,
    out: &mut [f32],
    mut emit: impl FnMut(&mut f32, f32),
) {
    match source {
        SourceKind::Perlin => {
            lattice::fill(coords, frequency, seed, out, lattice::perlin, &mut emit)
        }
        SourceKind::Value => lattice::fill(coords, frequency, seed, out, lattice::value, &mut emit),
        SourceKind::OpenSimplex => pointwise(
            coords,
            frequency,
            seed,
            out,
            simplex::open_simplex,
            &mut emit,
        ),
        SourceKind::Worley => pointwise(coords, frequency, seed, out, worley::worley, &mut emit),
    }
}

/// Sources without a separable lattice (simplex skew, cellular search) sample point by point.
fn pointwise(
    coords: &Coords,
    frequency: f64,
    seed: u32,
    out: &mut [f32],
    sample: impl Fn(f64, f64, u32) -> f32,
    emit: &mut impl FnMut(&mut f32, f32),
) {
    match coords {
        Coords::Grid(g) => {
            let xs: Vec<f64> = (0..g.nx).map(|i| g.x(i) * frequency).collect();
            for j in 0..g.nz {
                let z = g.z(j) * frequency;
                let row = &mut out[j * g.nx..(j + 1) * g.nx];
                for (o, &x) in row.iter_mut().zip(&xs) {
                    emit(o, sample(x, z, seed));
                }
            }
        }
        Coords::Points { x, z } => {
            for ((o, &px), &pz) in out.iter_mut().zip(x.iter()).zip(z.iter()) {
                emit(o, sample(px * frequency, pz * frequency, seed));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> Grid {
        Grid {
            ix0: -40,
            iz0: 1000,
            stride: 3,
            spacing: 1.5,
            nx: 23,
            nz: 17,
        }
    }

    #[test]
    fn grid_and_points_give_identical_bits() {
        let g = grid();
        let n = g.nx * g.nz;
        let (xs, zs): (Vec<f64>, Vec<f64>) = (0..n).map(|k| Coords::Grid(g).position(k)).unzip();
        for source in [
            SourceKind::Perlin,
            SourceKind::Value,
            SourceKind::OpenSimplex,
            SourceKind::Worley,
        ] {
            let mut a = vec![0.0; n];
            let mut b = vec![0.0; n];
            fill_source(source, &Coords::Grid(g), 0.037, 7, &mut a, |o, v| *o = v);
            let pts = Coords::Points { x: &xs, z: &zs };
            fill_source(source, &pts, 0.037, 7, &mut b, |o, v| *o = v);
            assert!(
                a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()),
                "{source:?}"
            );
        }
    }

    #[test]
    fn sources_stay_in_range_and_vary() {
        let g = grid();
        let n = g.nx * g.nz;
        for source in [
            SourceKind::Perlin,
            SourceKind::Value,
            SourceKind::OpenSimplex,
            SourceKind::Worley,
        ] {
            let mut a = vec![0.0; n];
            fill_source(source, &Coords::Grid(g), 0.05, 1, &mut a, |o, v| *o = v);
            let (lo, hi) = a
                .iter()
                .fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
            assert!(
                lo >= -1.0 && hi <= 1.0,
                "{source:?} out of range {lo}..{hi}"
            );
            assert!(hi - lo > 0.3, "{source:?} barely varies {lo}..{hi}");
        }
    }

    #[test]
    fn fast_floor_matches_floor() {
        for x in [
            0.0,
            -0.0,
            0.5,
            -0.5,
            1.0,
            -1.0,
            1e-300,
            -1e-300,
            123456.789,
            -123456.789,
            4.5e15,
            -4.5e15,
            9.0e18,
            -9.0e18,
        ] {
            assert_eq!(floor(x), x.floor() as i64, "{x}");
        }
    }

    #[test]
    fn seeds_change_the_field() {
        let g = grid();
        let n = g.nx * g.nz;
        let mut a = vec![0.0; n];
        let mut b = vec![0.0; n];
        fill_source(
            SourceKind::Perlin,
            &Coords::Grid(g),
            0.05,
            1,
            &mut a,
            |o, v| *o = v,
        );
        fill_source(
            SourceKind::Perlin,
            &Coords::Grid(g),
            0.05,
            2,
            &mut b,
            |o, v| *o = v,
        );
        assert_ne!(a, b);
    }
}
