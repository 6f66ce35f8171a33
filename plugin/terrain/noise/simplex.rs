//! Gradient noise on a triangular (simplex) lattice, in the style of OpenSimplex2.
//!
//! Three corners contribute per sample instead of Perlin's four, and the triangular lattice has
//! no preferred axis, so ridges do not line up with the world's x and z.

use super::hash::point;

/// Skew from world space to the simplex lattice: (sqrt(3) - 1) / 2.
const SKEW: f64 = 0.366_025_403_784_438_6;
/// Unskew back: (3 - sqrt(3)) / 6.
const UNSKEW: f64 = 0.211_324_865_405_187_1;

/// Eight unit gradients, 45 degrees apart.
const GRADIENTS: [(f32, f32); 8] = [
    (1.0, 0.0),
    (0.707_106_77, 0.707_106_77),
    (0.0, 1.0),
    (-0.707_106_77, 0.707_106_77),
    (-1.0, 0.0),
    (-0.707_106_77, -0.707_106_77),
    (0.0, -1.0),
    (0.707_106_77, -0.707_106_77),
];

/// Normalises the summed corner kernels to about -1..1.
const SCALE: f32 = 99.0;

#[inline(always)]
fn corner(h: u32, x: f32, z: f32) -> f32 {
    let t = 0.5 - x * x - z * z;
    if t <= 0.0 {
        return 0.0;
    }
    let (gx, gz) = GRADIENTS[(h >> 29) as usize];
    let t2 = t * t;
    t2 * t2 * (gx * x + gz * z)
}

/// Simplex-lattice gradient noise at `(x, z)` (already scaled by frequency), in -1..=1.
#[inline]
pub(crate) fn open_simplex(x: f64, z: f64, seed: u32) -> f32 {
    let s = (x + z) * SKEW;
    let i = (x + s).floor();
    let j = (z + s).floor();
    let t = (i + j) * UNSKEW;
    let x0 = (x - (i - t)) as f32;
    let z0 = (z - (j - t)) as f32;
    let (i1, j1) = if x0 > z0 { (1, 0) } else { (0, 1) };
    let g = UNSKEW as f32;
    let x1 = x0 - i1 as f32 + g;
    let z1 = z0 - j1 as f32 + g;
    let x2 = x0 - 1.0 + 2.0 * g;
    let z2 = z0 - 1.0 + 2.0 * g;
    let ci = i as i64 as i32;
    let cj = j as i64 as i32;
    let n = corner(point(ci, cj, seed), x0, z0)
        + corner(
            point(ci.wrapping_add(i1), cj.wrapping_add(j1), seed),
            x1,
            z1,
        )
        + corner(point(ci.wrapping_add(1), cj.wrapping_add(1), seed), x2, z2);
    (n * SCALE).clamp(-1.0, 1.0)
}
