//! Learned-texture maps kept in GPU memory on Bevy's render device: the buffers burn computed
//! them in, and the copies that put them into the terrain's layer arrays.

use super::*;

/// A grown texture's surface maps ([`surface`](crate::ai::surface)) in GPU memory on Bevy's
/// render device, ready to be copied into the terrain's layer arrays without a trip through
/// the CPU. Holding it keeps burn's buffers alive.
pub struct GpuSurface {
    /// Texels along a side of mip 0.
    pub size: u32,
    /// Where each mip level lies in both buffers.
    pub layout: PackedLayout,
    #[cfg(feature = "wgpu")]
    albedo: GpuBuffer,
    #[cfg(feature = "wgpu")]
    normal_roughness: GpuBuffer,
}

/// Two surfaces are equal only if they are the same buffers.
impl PartialEq for GpuSurface {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}

impl std::fmt::Debug for GpuSurface {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuSurface")
            .field("size", &self.size)
            .field("mips", &self.layout.mips.len())
            .finish_non_exhaustive()
    }
}

/// A slice of one of burn's pooled buffers, and the tensor that owns it (so the pool does not
/// hand the memory to another tensor while the slice is in use).
#[cfg(feature = "wgpu")]
struct GpuBuffer {
    owner: Tensor<Gpu, 1, burn::tensor::Int>,
    buffer: bevy::render::render_resource::Buffer,
    offset: u64,
}

#[cfg(feature = "wgpu")]
impl GpuBuffer {
    fn of(tensor: Tensor<Gpu, 1, burn::tensor::Int>, texels: u64) -> Result<Self, GrowError> {
        let primitive = tensor.clone().into_primitive();
        if primitive.dtype != burn::tensor::DType::I32 || !primitive.is_contiguous() {
            return Err(GrowError::Backend(format!(
                "packed texels are {:?}, contiguous: {}",
                primitive.dtype,
                primitive.is_contiguous()
            )));
        }
        let managed = primitive
            .client
            .get_resource(primitive.handle.clone())
            .map_err(|e| GrowError::Backend(format!("{e:?}")))?;
        let resource = managed.resource();
        if resource.size < texels * 4 {
            return Err(GrowError::Backend(format!(
                "packed buffer holds {} bytes, {} needed",
                resource.size,
                texels * 4
            )));
        }
        Ok(Self {
            owner: tensor,
            buffer: resource.buffer.clone().into(),
            offset: resource.offset,
        })
    }
}

#[cfg(feature = "wgpu")]
impl GpuSurface {
    /// Takes over the buffers of maps packed on the GPU (`size` texels along a side).
    pub(super) fn from_packed(
        packed: super::super::surface::PackedSurface<Gpu>,
        size: u32,
    ) -> Result<Self, GrowError> {
        let texels = packed.layout.total_texels;
        Ok(Self {
            size,
            albedo: GpuBuffer::of(packed.albedo, texels)?,
            normal_roughness: GpuBuffer::of(packed.normal_roughness, texels)?,
            layout: packed.layout,
        })
    }

    /// Reads both packed maps back as 32-bit texels (albedo, then normal and roughness), laid
    /// out as [`layout`](Self::layout) says. Blocks; for tests and tools.
    pub fn read_back(&self) -> Result<(Vec<u32>, Vec<u32>), GrowError> {
        let read = |buffer: &GpuBuffer| -> Result<Vec<u32>, GrowError> {
            let data = bevy::tasks::block_on(buffer.owner.clone().into_data_async())
                .map_err(|e| GrowError::Backend(format!("{e:?}")))?;
            let values = data
                .into_vec::<i32>()
                .map_err(|e| GrowError::Backend(format!("{e:?}")))?;
            Ok(values.into_iter().map(|v| v as u32).collect())
        };
        Ok((read(&self.albedo)?, read(&self.normal_roughness)?))
    }

    /// Records copies of every mip level into `layer` of the two layer arrays (`D2Array`
    /// textures of this size, with at least as many mips, usable as copy destinations).
    pub fn copy_into(
        &self,
        encoder: &mut bevy::render::render_resource::CommandEncoder,
        albedo: &bevy::render::render_resource::Texture,
        normal_roughness: &bevy::render::render_resource::Texture,
        layer: u32,
    ) {
        use bevy::render::render_resource::{
            Extent3d, Origin3d, TexelCopyBufferInfo, TexelCopyBufferLayout, TexelCopyTextureInfo,
            TextureAspect,
        };
        for (source, texture) in [
            (&self.albedo, albedo),
            (&self.normal_roughness, normal_roughness),
        ] {
            for (level, mip) in self.layout.mips.iter().enumerate() {
                encoder.copy_buffer_to_texture(
                    TexelCopyBufferInfo {
                        buffer: &source.buffer,
                        layout: TexelCopyBufferLayout {
                            offset: source.offset + mip.offset_texels * 4,
                            bytes_per_row: Some(mip.bytes_per_row()),
                            rows_per_image: Some(mip.size),
                        },
                    },
                    TexelCopyTextureInfo {
                        texture,
                        mip_level: level as u32,
                        origin: Origin3d {
                            x: 0,
                            y: 0,
                            z: layer,
                        },
                        aspect: TextureAspect::All,
                    },
                    Extent3d {
                        width: mip.size,
                        height: mip.size,
                        depth_or_array_layers: 1,
                    },
                );
            }
        }
    }
}
