//! Cellular (Worley) noise: distance to the nearest of one random feature point per cell.

use super::floor;
use super::hash::point;

/// Worley F1 noise at `(x, z)` (already scaled by frequency): the distance to the nearest
/// feature point, 0 (on a point) to about 1, mapped to -1..=1.
#[inline]
pub(crate) fn worley(x: f64, z: f64, seed: u32) -> f32 {
    let (fx, fz) = (floor(x), floor(z));
    let (cx, cz) = (fx as i32, fz as i32);
    let (px, pz) = ((x - fx as f64) as f32, (z - fz as f64) as f32);
    let mut nearest = f32::MAX;
    for dz in -1..=1 {
        for dx in -1..=1 {
            let h = point(cx.wrapping_add(dx), cz.wrapping_add(dz), seed);
            let ox = dx as f32 + (h & 0xffff) as f32 * (1.0 / 65536.0) - px;
            let oz = dz as f32 + (h >> 16) as f32 * (1.0 / 65536.0) - pz;
            nearest = nearest.min(ox * ox + oz * oz);
        }
    }
    (nearest.sqrt() * 2.0 - 1.0).clamp(-1.0, 1.0)
}
