//! Stacking material textures into the terrain's layer arrays, with mip levels. Pure Rust.

use std::sync::Arc;

use super::procedural::MaterialTexture;

/// Pixel data of both layer arrays, layer-major (each layer's mips, largest first, then the
/// next layer), as wgpu's `TextureDataOrder::LayerMajor` expects.
#[derive(Clone, Debug)]
pub struct LayerArrays {
    /// Pixels along a side of mip 0.
    pub size: u32,
    /// Number of layers.
    pub layers: u32,
    /// Mip levels per layer.
    pub mips: u32,
    /// RGBA8 sRGB albedo.
    pub albedo: Vec<u8>,
    /// RGBA8 linear normal (RGB) and roughness (A).
    pub normal_roughness: Vec<u8>,
}

/// Stacks `layers` (all the same size) with a full mip chain down to 4x4. Mips are 2x2 box
/// filters with wrap-free halving (sizes are powers of two, so a tileable texture stays
/// tileable at every level).
pub fn compose(layers: &[Arc<MaterialTexture>]) -> LayerArrays {
    let size = layers.first().map_or(1, |l| l.size);
    let mips = mip_count(size);
    let mut albedo = Vec::new();
    let mut normal_roughness = Vec::new();
    for layer in layers {
        push_mips(&mut albedo, &layer.albedo, size, mips);
        push_mips(&mut normal_roughness, &layer.normal_roughness, size, mips);
    }
    LayerArrays {
        size,
        layers: layers.len() as u32,
        mips,
        albedo,
        normal_roughness,
    }
}

/// Mip levels of a `size` x `size` layer: down to 4x4 (at least one).
pub fn mip_count(size: u32) -> u32 {
    (size.max(4).trailing_zeros() - 1).max(1)
}

fn push_mips(out: &mut Vec<u8>, base: &[u8], size: u32, mips: u32) {
    out.extend_from_slice(base);
    let mut level = base.to_vec();
    let mut n = size as usize;
    for _ in 1..mips {
        let half = n / 2;
        let mut next = vec![0u8; half * half * 4];
        for j in 0..half {
            for i in 0..half {
                for c in 0..4 {
                    let at = |x: usize, y: usize| level[(y * n + x) * 4 + c] as u32;
                    let sum = at(2 * i, 2 * j)
                        + at(2 * i + 1, 2 * j)
                        + at(2 * i, 2 * j + 1)
                        + at(2 * i + 1, 2 * j + 1);
                    next[(j * half + i) * 4 + c] = ((sum + 2) / 4) as u8;
                }
            }
        }
        out.extend_from_slice(&next);
        level = next;
        n = half;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_add_up() {
        let t = Arc::new(MaterialTexture {
            size: 16,
            albedo: vec![200; 16 * 16 * 4],
            normal_roughness: vec![128; 16 * 16 * 4],
        });
        let a = compose(&[t.clone(), t]);
        assert_eq!(a.mips, 3); // 16, 8, 4
        assert_eq!(a.albedo.len(), 2 * 4 * (256 + 64 + 16));
        assert!(a.albedo.iter().all(|&v| v == 200));
    }
}
