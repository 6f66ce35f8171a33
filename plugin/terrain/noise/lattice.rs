//! Square-lattice noises (Perlin gradient noise and value noise), separable over grids.
//!
//! On a grid every column shares its x lattice cell, fraction, fade curve and half of the corner
//! hash, and every row shares the z half, so those are computed once per column and row instead
//! of once per sample.

use super::hash::{column, mix, row};
use super::{Axis, Coords};

/// One axis of a sample's lattice position with the hash halves of both neighbouring cells.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LatticeAxis {
    frac: f32,
    fade: f32,
    h0: u32,
    h1: u32,
}

impl LatticeAxis {
    #[inline(always)]
    fn column(coord: f64, frequency: f64) -> Self {
        let a = Axis::new(coord, frequency);
        Self {
            frac: a.frac,
            fade: fade(a.frac),
            h0: column(a.cell),
            h1: column(a.cell.wrapping_add(1)),
        }
    }

    #[inline(always)]
    fn row(coord: f64, frequency: f64, seed: u32) -> Self {
        let a = Axis::new(coord, frequency);
        Self {
            frac: a.frac,
            fade: fade(a.frac),
            h0: row(a.cell, seed),
            h1: row(a.cell.wrapping_add(1), seed),
        }
    }
}

/// Quintic fade: zero first and second derivatives at the lattice lines, so no creases.
#[inline(always)]
fn fade(t: f32) -> f32 {
    t * t * t * (t * (t * 6.0 - 15.0) + 10.0)
}

#[inline(always)]
fn lerp(a: f32, b: f32, t: f32) -> f32 {
    a + (b - a) * t
}

/// Dot product of offset `(x, z)` with one of eight gradients `(±1, ±2)`, `(±2, ±1)`.
#[inline(always)]
fn gradient(h: u32, x: f32, z: f32) -> f32 {
    let (u, v) = if h & 4 == 0 { (x, z) } else { (z, x) };
    let u = if h & 1 == 0 { u } else { -u };
    let v = if h & 2 == 0 { v } else { -v };
    u + 2.0 * v
}

/// Largest |value| of the raw gradient sum with these gradients is about 1.58; scale to about 1.
const PERLIN_SCALE: f32 = 0.63;

/// Perlin gradient noise at one sample, in -1..=1.
#[inline(always)]
pub(crate) fn perlin(x: &LatticeAxis, z: &LatticeAxis) -> f32 {
    let g00 = gradient(mix(x.h0 ^ z.h0), x.frac, z.frac);
    let g10 = gradient(mix(x.h1 ^ z.h0), x.frac - 1.0, z.frac);
    let g01 = gradient(mix(x.h0 ^ z.h1), x.frac, z.frac - 1.0);
    let g11 = gradient(mix(x.h1 ^ z.h1), x.frac - 1.0, z.frac - 1.0);
    let v = lerp(lerp(g00, g10, x.fade), lerp(g01, g11, x.fade), z.fade);
    (v * PERLIN_SCALE).clamp(-1.0, 1.0)
}

/// Random value of a lattice point in -1..1.
#[inline(always)]
fn lattice_value(h: u32) -> f32 {
    (h >> 8) as f32 * (2.0 / 16_777_216.0) - 1.0
}

/// Value noise at one sample, in -1..1.
#[inline(always)]
pub(crate) fn value(x: &LatticeAxis, z: &LatticeAxis) -> f32 {
    let v00 = lattice_value(mix(x.h0 ^ z.h0));
    let v10 = lattice_value(mix(x.h1 ^ z.h0));
    let v01 = lattice_value(mix(x.h0 ^ z.h1));
    let v11 = lattice_value(mix(x.h1 ^ z.h1));
    lerp(lerp(v00, v10, x.fade), lerp(v01, v11, x.fade), z.fade)
}

/// Fills `out` with `sample` over `coords`, passing each value through `emit`.
#[inline(always)]
pub(crate) fn fill(
    coords: &Coords,
    frequency: f64,
    seed: u32,
    out: &mut [f32],
    sample: impl Fn(&LatticeAxis, &LatticeAxis) -> f32,
    emit: &mut impl FnMut(&mut f32, f32),
) {
    match coords {
        Coords::Grid(g) => {
            let columns: Vec<LatticeAxis> = (0..g.nx)
                .map(|i| LatticeAxis::column(g.x(i), frequency))
                .collect();
            for (j, row_out) in out.chunks_exact_mut(g.nx).take(g.nz).enumerate() {
                let za = LatticeAxis::row(g.z(j), frequency, seed);
                for (o, xa) in row_out.iter_mut().zip(&columns) {
                    emit(o, sample(xa, &za));
                }
            }
        }
        Coords::Points { x, z } => {
            for ((o, &px), &pz) in out.iter_mut().zip(x.iter()).zip(z.iter()) {
                let xa = LatticeAxis::column(px, frequency);
                let za = LatticeAxis::row(pz, frequency, seed);
                emit(o, sample(&xa, &za));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perlin_is_zero_on_lattice_points_and_continuous_across_cells() {
        for cell in -3..3 {
            let a = LatticeAxis::column(cell as f64, 1.0);
            let b = LatticeAxis::row(0.0, 1.0, 5);
            assert_eq!(perlin(&a, &b), 0.0);
        }
        // Just either side of a cell boundary.
        let z = LatticeAxis::row(0.3, 1.0, 5);
        let left = perlin(&LatticeAxis::column(0.999_999, 1.0), &z);
        let right = perlin(&LatticeAxis::column(1.000_001, 1.0), &z);
        assert!((left - right).abs() < 1e-4);
    }
}
