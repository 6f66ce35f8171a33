//! Noise that tiles: lattice noises whose cell indices wrap with an integer period, so one period
//! laid on a torus has no seam (the terrain noise is infinite and never repeats, so it cannot be
//! reused for textures as is).
//!
//! Coordinates are in tile units, `0..1` across the texture; `period` lattice cells span one tile.
//! Everything is integer hashing and IEEE arithmetic, so output is identical on every machine.

/// Mixes the bits of `x` (the "lowbias32" finaliser by Chris Wellons).
#[inline(always)]
pub(crate) fn mix(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^= x >> 16;
    x
}

/// Hash of lattice point `(x, z)` wrapped to `period`, under `seed`.
#[inline(always)]
fn point(x: i32, z: i32, period: i32, seed: u32) -> u32 {
    let x = x.rem_euclid(period) as u32;
    let z = z.rem_euclid(period) as u32;
    mix(x.wrapping_mul(0x9e37_79b1) ^ mix(z.wrapping_mul(0x85eb_ca77) ^ seed))
}

/// A well-spread seed for layer `layer`, octave `octave` of a texture with `seed`.
pub fn sub_seed(seed: u64, layer: u32, octave: u32) -> u32 {
    mix(mix((seed as u32)
        ^ mix((seed >> 32) as u32 ^ 0x3c6e_f372)
        ^ layer.wrapping_mul(0x2545_f491))
    .wrapping_add(octave.wrapping_mul(0x6a09_e667)))
}

#[inline(always)]
fn fade(t: f32) -> f32 {
    t * t * t * (t * (t * 6.0 - 15.0) + 10.0)
}

#[inline(always)]
fn gradient(h: u32, x: f32, z: f32) -> f32 {
    let (u, v) = if h & 4 == 0 { (x, z) } else { (z, x) };
    let u = if h & 1 == 0 { u } else { -u };
    let v = if h & 2 == 0 { v } else { -v };
    u + 2.0 * v
}

/// Periodic Perlin noise at tile position `(u, v)` with `period` cells per tile, about -1..1.
#[inline]
pub fn perlin(u: f32, v: f32, period: i32, seed: u32) -> f32 {
    let x = u * period as f32;
    let z = v * period as f32;
    let (fx, fz) = (x.floor(), z.floor());
    let (cx, cz) = (fx as i32, fz as i32);
    let (tx, tz) = (x - fx, z - fz);
    let g00 = gradient(point(cx, cz, period, seed), tx, tz);
    let g10 = gradient(point(cx + 1, cz, period, seed), tx - 1.0, tz);
    let g01 = gradient(point(cx, cz + 1, period, seed), tx, tz - 1.0);
    let g11 = gradient(point(cx + 1, cz + 1, period, seed), tx - 1.0, tz - 1.0);
    let (sx, sz) = (fade(tx), fade(tz));
    let a = g00 + (g10 - g00) * sx;
    let b = g01 + (g11 - g01) * sx;
    ((a + (b - a) * sz) * 0.63).clamp(-1.0, 1.0)
}

/// Periodic cellular noise: distances `(f1, f2)` from `(u, v)` to the nearest and second nearest
/// of one random feature point per cell, in cell units (`f1` is 0 on a point, about 0..1).
#[inline]
pub fn worley(u: f32, v: f32, period: i32, seed: u32) -> (f32, f32) {
    let x = u * period as f32;
    let z = v * period as f32;
    let (fx, fz) = (x.floor(), z.floor());
    let (cx, cz) = (fx as i32, fz as i32);
    let (px, pz) = (x - fx, z - fz);
    let (mut f1, mut f2) = (f32::MAX, f32::MAX);
    for dz in -1..=1 {
        for dx in -1..=1 {
            let h = point(cx + dx, cz + dz, period, seed);
            let ox = dx as f32 + (h & 0xffff) as f32 * (1.0 / 65536.0) - px;
            let oz = dz as f32 + (h >> 16) as f32 * (1.0 / 65536.0) - pz;
            let d = ox * ox + oz * oz;
            if d < f1 {
                f2 = f1;
                f1 = d;
            } else if d < f2 {
                f2 = d;
            }
        }
    }
    (f1.sqrt(), f2.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noises_repeat_after_one_tile() {
        for k in 0..50 {
            let (u, v) = (k as f32 * 0.0173, k as f32 * 0.031);
            assert!((perlin(u, v, 5, 3) - perlin(u + 1.0, v, 5, 3)).abs() < 1e-4);
            assert!((perlin(u, v, 5, 3) - perlin(u, v + 1.0, 5, 3)).abs() < 1e-4);
            let (a, b) = (worley(u, v, 7, 3), worley(u + 1.0, v - 1.0, 7, 3));
            assert!((a.0 - b.0).abs() < 1e-4 && (a.1 - b.1).abs() < 1e-4);
        }
    }

    #[test]
    fn perlin_varies() {
        let values: Vec<f32> = (0..100)
            .map(|k| perlin(k as f32 * 0.013, 0.4, 8, 1))
            .collect();
        let spread = values.iter().cloned().fold(f32::MIN, f32::max)
            - values.iter().cloned().fold(f32::MAX, f32::min);
        assert!(spread > 0.5, "{spread}");
    }
}
