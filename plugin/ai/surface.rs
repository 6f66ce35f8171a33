//! A grown texture's surface maps computed where the texture was grown, so that on a GPU they
//! never leave it: albedo, normal and roughness with their mip chains, packed as RGBA8 texels
//! in rows ready for a buffer-to-texture copy. Generic over burn's backend.
//!
//! This is the tensor twin of the CPU path ([`material_from_albedo`] then the layer arrays'
//! mips); `backend::tests` checks that both give the same bytes to within one step of
//! rounding.
//!
//! [`material_from_albedo`]: crate::texture::material_from_albedo

use burn::prelude::*;
use burn::tensor::ElementConversion;

/// How a grown albedo becomes a surface: the material's relief and roughness range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SurfaceParams {
    /// Height-to-normal strength, as in the material recipe.
    pub bump: f32,
    /// Roughness at the lowest and highest points.
    pub roughness: (f32, f32),
}

/// Where one mip level lies in a packed buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackedMip {
    /// Texels along a side.
    pub size: u32,
    /// First texel of the level in the buffer.
    pub offset_texels: u64,
    /// Texels per row in the buffer (at least 64, so a row is a multiple of the 256 bytes a
    /// buffer-to-texture copy needs).
    pub row_texels: u32,
}

impl PackedMip {
    /// Bytes per row of the level in the buffer.
    pub fn bytes_per_row(&self) -> u32 {
        self.row_texels * 4
    }
}

/// The mip levels of a packed surface map, largest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackedLayout {
    /// One entry per mip level.
    pub mips: Vec<PackedMip>,
    /// Texels in the whole buffer.
    pub total_texels: u64,
}

/// Rows are padded to this many texels: wgpu copies rows of multiples of 256 bytes.
const MIN_ROW_TEXELS: u32 = 64;

/// The packed layout of a `size` x `size` map with `mips` levels (each half the last).
pub fn packed_layout(size: u32, mips: u32) -> PackedLayout {
    let mut levels = Vec::with_capacity(mips as usize);
    let mut offset = 0u64;
    for level in 0..mips {
        let side = (size >> level).max(1);
        let row_texels = side.div_ceil(MIN_ROW_TEXELS) * MIN_ROW_TEXELS;
        levels.push(PackedMip {
            size: side,
            offset_texels: offset,
            row_texels,
        });
        offset += row_texels as u64 * side as u64;
    }
    PackedLayout {
        mips: levels,
        total_texels: offset,
    }
}

/// The surface maps of a grown texture, packed: RGBA8 texels as 32-bit integers (red in the
/// low byte), laid out as [`packed_layout`] says.
pub struct PackedSurface<B: Backend> {
    /// sRGB albedo, opaque.
    pub albedo: Tensor<B, 1, Int>,
    /// Linear normal (RGB, 0.5 = flat) and roughness (A).
    pub normal_roughness: Tensor<B, 1, Int>,
    /// Where each mip level lies.
    pub layout: PackedLayout,
}

/// Computes the surface maps of `rgb` (`[1, size, size, 3]`, 0..1, the grown texture) with
/// `mips` levels, the way the CPU path does: the albedo is quantised to bytes, its luminance
/// blurred on the torus and stretched to 0..1 as height, the normal taken from the wrapped
/// central differences, the roughness from the height; mips are 2x2 means of the level above.
pub fn pack_surface<B: Backend>(
    rgb: Tensor<B, 4>,
    params: SurfaceParams,
    mips: u32,
) -> PackedSurface<B> {
    let [_, n, _, _] = rgb.dims();
    let device = rgb.device();
    let rgb: Tensor<B, 3> = rgb.squeeze_dim(0);
    // The CPU path stores the albedo as bytes first and derives everything from those.
    let rgb = (rgb.clamp(0.0, 1.0) * 255.0 + 0.5).floor() / 255.0;
    let albedo = Tensor::cat(vec![rgb.clone(), Tensor::ones([n, n, 1], &device)], 2);

    let channel = |c: usize| rgb.clone().narrow(2, c, 1);
    let luminance = channel(0) * 0.299 + channel(1) * 0.587 + channel(2) * 0.114;
    let height = stretch(blur_wrapped(luminance));
    let scale = params.bump * n as f32 * 0.5;
    // burn's roll by +1 gives each cell its next neighbour. Rows grow downwards and the
    // normal's y points up the image, as on the CPU.
    let dx = (height.clone().roll(&[1], &[1]) - height.clone().roll(&[-1], &[1])) * scale;
    let dy_up = (height.clone().roll(&[-1], &[0]) - height.clone().roll(&[1], &[0])) * scale;
    let inverse_length = (dx.clone().powi_scalar(2) + dy_up.clone().powi_scalar(2) + 1.0)
        .sqrt()
        .recip();
    let (r0, r1) = params.roughness;
    let normal_roughness = Tensor::cat(
        vec![
            -dx * inverse_length.clone() * 0.5 + 0.5,
            -dy_up * inverse_length.clone() * 0.5 + 0.5,
            inverse_length * 0.5 + 0.5,
            height * (r1 - r0) + r0,
        ],
        2,
    );
    let layout = packed_layout(n as u32, mips);
    PackedSurface {
        albedo: pack_mips(albedo, &layout),
        normal_roughness: pack_mips(normal_roughness, &layout),
        layout,
    }
}

/// The 3x3 binomial blur on the torus (`[n, n, 1]`).
fn blur_wrapped<B: Backend>(values: Tensor<B, 3>) -> Tensor<B, 3> {
    let along = |v: Tensor<B, 3>, dim: usize| {
        (v.clone().roll(&[1], &[dim]) + v.clone() * 2.0 + v.roll(&[-1], &[dim])) * 0.25
    };
    along(along(values, 1), 0)
}

/// Stretches values to 0..1 (all zeros when they are all equal).
fn stretch<B: Backend>(values: Tensor<B, 3>) -> Tensor<B, 3> {
    let low = values.clone().min().reshape([1, 1, 1]);
    let high = values.clone().max().reshape([1, 1, 1]);
    let range = high - low.clone();
    let scale = range.clone().greater_elem(0.0).float() / range.clamp_min(f32::MIN_POSITIVE);
    (values - low) * scale
}

/// Quantises `[n, n, 4]` values in 0..1 level by level and packs each texel into one integer.
fn pack_mips<B: Backend>(values: Tensor<B, 3>, layout: &PackedLayout) -> Tensor<B, 1, Int> {
    let device = values.device();
    let mut level = values;
    let mut packed = Vec::with_capacity(layout.mips.len());
    for (index, mip) in layout.mips.iter().enumerate() {
        if index > 0 {
            let [n, _, c] = level.dims();
            let half = n / 2;
            level = level
                .reshape([half, 2, half, 2, c])
                .mean_dim(3)
                .mean_dim(1)
                .reshape([half, half, c]);
        }
        let side = mip.size as usize;
        let bytes = (level.clone().clamp(0.0, 1.0) * 255.0 + 0.5).floor().int();
        let byte = |c: usize, shift: i64| {
            bytes
                .clone()
                .narrow(2, c, 1)
                .bitwise_left_shift_scalar(shift.elem())
        };
        let mut texels = byte(0, 0)
            .bitwise_or(byte(1, 8))
            .bitwise_or(byte(2, 16))
            .bitwise_or(byte(3, 24))
            .reshape([side, side]);
        let padding = mip.row_texels as usize - side;
        if padding > 0 {
            let zeros = Tensor::<B, 2, Int>::zeros([side, padding], &device);
            texels = Tensor::cat(vec![texels, zeros], 1);
        }
        packed.push(texels.reshape([side * mip.row_texels as usize]));
    }
    Tensor::cat(packed, 0)
}

/// Unpacks level `mip` of a packed map (as 32-bit texels, red in the low byte) into tightly
/// packed RGBA8 bytes.
pub fn unpack_level(texels: &[u32], layout: &PackedLayout, mip: usize) -> Vec<u8> {
    let level = layout.mips[mip];
    let side = level.size as usize;
    let mut out = Vec::with_capacity(side * side * 4);
    for row in 0..side {
        let start = level.offset_texels as usize + row * level.row_texels as usize;
        for texel in &texels[start..start + side] {
            out.extend_from_slice(&texel.to_le_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_copyable_and_levels_follow_each_other() {
        let layout = packed_layout(256, 7);
        let sizes: Vec<u32> = layout.mips.iter().map(|m| m.size).collect();
        assert_eq!(sizes, [256, 128, 64, 32, 16, 8, 4]);
        for mip in &layout.mips {
            assert_eq!(mip.bytes_per_row() % 256, 0);
            assert!(mip.row_texels >= mip.size);
            assert_eq!((mip.offset_texels * 4) % 256, 0);
        }
        let last = layout.mips.last().unwrap();
        assert_eq!(
            layout.total_texels,
            last.offset_texels + (last.row_texels * last.size) as u64
        );
        assert_eq!(layout.mips[1].offset_texels, 256 * 256);
        assert_eq!(layout.mips[4].row_texels, 64);
    }
}
