//! Procedural PBR layers: pure, deterministic, seamless.
//!
//! A recipe's noise layers sum into a height field on a torus; the albedo is a colour ramp over
//! the height times a soft brightness variation, the normal map comes from the height's wrapped
//! gradient and roughness from a ramp over the height. Every sample reads its neighbours with
//! wrap-around, so the right edge continues into the left one exactly as an interior pixel
//! continues into its neighbour.

use super::periodic::{perlin, sub_seed, worley};
use super::recipe::{LayerKind, MaterialRecipe, NoiseLayer};

/// The layers of one material, `size` x `size` pixels, rows top to bottom.
#[derive(Clone, Debug, PartialEq)]
pub struct MaterialTexture {
    /// Pixels along a side.
    pub size: u32,
    /// RGBA8, sRGB albedo (alpha 255).
    pub albedo: Vec<u8>,
    /// RGBA8, linear: tangent-space normal in RGB (0.5 = flat; R along +u, G towards the top of
    /// the image, as glTF and Bevy expect), roughness in A.
    pub normal_roughness: Vec<u8>,
}

impl MaterialTexture {
    /// Roughness channel as bytes (one per pixel), for previews.
    pub fn roughness(&self) -> Vec<u8> {
        self.normal_roughness
            .chunks_exact(4)
            .map(|p| p[3])
            .collect()
    }

    /// Normal map with alpha forced opaque, for previews.
    pub fn normal_rgba(&self) -> Vec<u8> {
        let mut out = self.normal_roughness.clone();
        out.chunks_exact_mut(4).for_each(|p| p[3] = 255);
        out
    }
}

/// Generates a material's layers at `size` x `size` from its recipe and `seed`.
pub fn generate_material(recipe: &MaterialRecipe, size: u32, seed: u64) -> MaterialTexture {
    let height = height_field(recipe, size, seed);
    let n = size as usize;
    let variation = recipe.variation.as_ref().map(|v| {
        let s = sub_seed(seed, 1000, 0);
        sample_grid(n, |u, w| {
            let a = perlin(u, w, v.frequency as i32, s);
            let b = 0.5 * perlin(u, w, 2 * v.frequency as i32, s ^ 0x55);
            1.0 + v.strength * (a + b) / 1.5
        })
    });
    let mut albedo = Vec::with_capacity(n * n * 4);
    for (k, &h) in height.iter().enumerate() {
        let (r, g, b) = ramp(&recipe.colors, h);
        let f = variation.as_ref().map_or(1.0, |v| v[k]);
        albedo.extend_from_slice(&[to_u8(r * f), to_u8(g * f), to_u8(b * f), 255]);
    }
    let normal_roughness = normal_roughness(&height, size, recipe);
    MaterialTexture {
        size,
        albedo,
        normal_roughness,
    }
}

/// Builds layers around a given albedo (a learned one): height from its luminance, then normal
/// and roughness as for a procedural texture. `albedo` is RGBA8 sRGB, `size` x `size`.
pub fn material_from_albedo(
    albedo: Vec<u8>,
    size: u32,
    recipe: &MaterialRecipe,
) -> MaterialTexture {
    let lum: Vec<f32> = albedo
        .chunks_exact(4)
        .map(|p| (0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32) / 255.0)
        .collect();
    let height = normalise(blur_wrapped(&lum, size as usize));
    let normal_roughness = normal_roughness(&height, size, recipe);
    MaterialTexture {
        size,
        albedo,
        normal_roughness,
    }
}

/// The recipe's height field normalised to 0..1, row-major.
pub fn height_field(recipe: &MaterialRecipe, size: u32, seed: u64) -> Vec<f32> {
    let n = size as usize;
    let mut height = vec![0.0f32; n * n];
    for (index, layer) in recipe.layers.iter().enumerate() {
        let values = layer_values(layer, n, seed, index as u32);
        for (h, v) in height.iter_mut().zip(values) {
            *h += layer.weight * v;
        }
    }
    normalise(height)
}

/// One layer's values in 0..1 over the grid.
fn layer_values(layer: &NoiseLayer, n: usize, seed: u64, index: u32) -> Vec<f32> {
    let base = sub_seed(seed, index.wrapping_add(layer.seed.wrapping_mul(97)), 0);
    let warp_seed = sub_seed(seed, index ^ 0x8000, 1);
    let f = layer.frequency as i32;
    sample_grid(n, |u, v| {
        let (u, v) = if layer.warp != 0.0 {
            let wf = (f / 2).max(1);
            (
                u + layer.warp * perlin(u, v, wf, warp_seed),
                v + layer.warp * perlin(u, v, wf, warp_seed ^ 0x9e37),
            )
        } else {
            (u, v)
        };
        let mut total = 0.0;
        let mut norm = 0.0;
        let mut amplitude = 1.0;
        for octave in 0..layer.octaves {
            let period = f << octave;
            let s = base.wrapping_add(octave.wrapping_mul(0x6a09_e667));
            let value = match layer.kind {
                LayerKind::Fbm => 0.5 + 0.5 * perlin(u, v, period, s),
                LayerKind::Ridged => {
                    let r = 1.0 - perlin(u, v, period, s).abs();
                    r * r
                }
                LayerKind::Billow => perlin(u, v, period, s).abs(),
                LayerKind::Cells => (1.0 - worley(u, v, period, s).0).max(0.0),
                LayerKind::Cracks => {
                    let (f1, f2) = worley(u, v, period, s);
                    ((f2 - f1) * 3.0).min(1.0)
                }
                LayerKind::Ripples(a, b) => {
                    let phase = (a * (1 << octave)) as f32 * u + (b * (1 << octave)) as f32 * v;
                    0.5 + 0.5 * (std::f32::consts::TAU * phase).sin()
                }
            };
            total += amplitude * value;
            norm += amplitude;
            amplitude *= layer.gain;
        }
        (total / norm).clamp(0.0, 1.0).powf(layer.power)
    })
}

/// Evaluates `f(u, v)` at pixel centres of an `n` x `n` grid covering one tile.
fn sample_grid(n: usize, f: impl Fn(f32, f32) -> f32) -> Vec<f32> {
    let inv = 1.0 / n as f32;
    let mut out = Vec::with_capacity(n * n);
    for j in 0..n {
        let v = j as f32 * inv;
        for i in 0..n {
            out.push(f(i as f32 * inv, v));
        }
    }
    out
}

fn normalise(mut values: Vec<f32>) -> Vec<f32> {
    let (lo, hi) = values
        .iter()
        .fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let scale = if hi > lo { 1.0 / (hi - lo) } else { 0.0 };
    values.iter_mut().for_each(|v| *v = (*v - lo) * scale);
    values
}

/// A 3x3 binomial blur with wrap-around (learned albedo is noisy at pixel scale).
fn blur_wrapped(values: &[f32], n: usize) -> Vec<f32> {
    let at = |i: usize, j: usize| values[(j % n) * n + (i % n)];
    let mut out = vec![0.0; n * n];
    for j in 0..n {
        for i in 0..n {
            let (l, r, u, d) = (i + n - 1, i + 1, j + n - 1, j + 1);
            out[j * n + i] = (4.0 * at(i, j)
                + 2.0 * (at(l, j) + at(r, j) + at(i, u) + at(i, d))
                + at(l, u)
                + at(r, u)
                + at(l, d)
                + at(r, d))
                / 16.0;
        }
    }
    out
}

/// Normal from the wrapped central-difference gradient, roughness from the height.
fn normal_roughness(height: &[f32], size: u32, recipe: &MaterialRecipe) -> Vec<u8> {
    let n = size as usize;
    // Height spans `bump` tiles; a pixel is 1/n tile: slope = dh * bump * n / 2 per difference.
    let scale = recipe.bump * n as f32 * 0.5;
    let (r0, r1) = recipe.roughness;
    let mut out = Vec::with_capacity(n * n * 4);
    for j in 0..n {
        let up = ((j + n - 1) % n) * n;
        let down = ((j + 1) % n) * n;
        for i in 0..n {
            let (left, right) = ((i + n - 1) % n, (i + 1) % n);
            let dx = (height[j * n + right] - height[j * n + left]) * scale;
            // Rows grow downwards; the normal's y points up the image.
            let dy_up = (height[up + i] - height[down + i]) * scale;
            let (x, y, z) = (-dx, -dy_up, 1.0f32);
            let len = (x * x + y * y + z * z).sqrt();
            let h = height[j * n + i];
            out.extend_from_slice(&[
                to_u8(0.5 + 0.5 * x / len),
                to_u8(0.5 + 0.5 * y / len),
                to_u8(0.5 + 0.5 * z / len),
                to_u8(r0 + (r1 - r0) * h),
            ]);
        }
    }
    out
}

fn ramp(stops: &[(f32, (f32, f32, f32))], t: f32) -> (f32, f32, f32) {
    let Some(first) = stops.first() else {
        return (t, t, t);
    };
    if t <= first.0 {
        return first.1;
    }
    for w in stops.windows(2) {
        let ((a, ca), (b, cb)) = (w[0], w[1]);
        if t <= b {
            let s = if b > a { (t - a) / (b - a) } else { 1.0 };
            return (
                ca.0 + (cb.0 - ca.0) * s,
                ca.1 + (cb.1 - ca.1) * s,
                ca.2 + (cb.2 - ca.2) * s,
            );
        }
    }
    stops[stops.len() - 1].1
}

#[inline]
fn to_u8(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8
}

/// How seamless an RGBA8 texture is: the mean absolute difference across the wrapped edges
/// (last column to first, last row to first) divided by the same between interior neighbours.
/// About 1 for a seamless texture; a seam makes it several times larger.
pub fn seam_ratio(rgba: &[u8], size: u32) -> f32 {
    let n = size as usize;
    let px = |i: usize, j: usize| &rgba[(j * n + i) * 4..(j * n + i) * 4 + 3];
    let diff = |a: &[u8], b: &[u8]| -> f32 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (*x as f32 - *y as f32).abs())
            .sum()
    };
    let (mut edge, mut interior) = (0.0, 0.0);
    for k in 0..n {
        edge += diff(px(n - 1, k), px(0, k)) + diff(px(k, n - 1), px(k, 0));
        let m = n / 2;
        interior += diff(px(m - 1, k), px(m, k)) + diff(px(k, m - 1), px(k, m));
    }
    edge / interior.max(1e-6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::texture::recipe::parse_texture_set;

    fn shipped() -> crate::texture::recipe::TextureSetConfig {
        parse_texture_set(
            include_str!("../../assets/textures/default.textures.ron"),
            "default",
        )
        .unwrap()
    }

    #[test]
    fn materials_are_deterministic_and_seed_dependent() {
        let set = shipped();
        let grass = &set.materials["grass"];
        let a = generate_material(grass, 32, 1);
        assert_eq!(a, generate_material(grass, 32, 1));
        assert_ne!(a.albedo, generate_material(grass, 32, 2).albedo);
    }

    #[test]
    fn every_shipped_material_tiles() {
        let set = shipped();
        for (name, recipe) in &set.materials {
            let t = generate_material(recipe, 64, set.seed);
            let albedo = seam_ratio(&t.albedo, 64);
            let normal = seam_ratio(&t.normal_roughness, 64);
            assert!(albedo < 1.6 && normal < 1.6, "{name}: {albedo} {normal}");
        }
    }

    #[test]
    fn seam_ratio_catches_a_seam() {
        let n = 32usize;
        let rgba: Vec<u8> = (0..n * n)
            .flat_map(|k| {
                let v = ((k % n) * 8) as u8;
                [v, v, v, 255]
            })
            .collect();
        assert!(seam_ratio(&rgba, n as u32) > 10.0);
    }
}
