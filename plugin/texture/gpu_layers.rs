//! Learned layers grown on the GPU go from burn's buffers into the terrain's layer arrays with
//! GPU copies, without a trip through the CPU.
//!
//! The main world stacks every layer's pixels into new array images (a layer grown on the GPU
//! stands on its procedural pixels there) and lists the GPU-resident layers in
//! [`GpuLayerPatches`]. In the render world, once those images are on the GPU, one command
//! buffer copies each listed layer's albedo, normal and roughness, every mip level, over its
//! stand-in. It runs once per published pair of images; the images are never modified after
//! that (the texture systems publish new ones), so the copies are never overwritten.

use std::sync::Arc;

use bevy::prelude::*;

use crate::ai::backend::GpuSurface;

/// The layer arrays last published and the layers of them whose maps are in GPU memory.
/// Without the `wgpu` feature no layer is grown on the GPU and nothing reads this.
#[derive(Resource, Clone, Default)]
#[cfg_attr(not(feature = "wgpu"), allow(dead_code))]
#[cfg_attr(
    feature = "wgpu",
    derive(bevy::render::extract_resource::ExtractResource)
)]
pub(super) struct GpuLayerPatches {
    pub(super) albedo: Option<Handle<Image>>,
    pub(super) normal_roughness: Option<Handle<Image>>,
    /// Layer index and its maps.
    pub(super) layers: Vec<(u32, Arc<GpuSurface>)>,
}

/// Extracts the patches and copies them in the render world.
#[cfg(feature = "wgpu")]
pub(super) fn plugin(app: &mut App) {
    use bevy::render::extract_resource::ExtractResourcePlugin;
    use bevy::render::{Render, RenderApp, RenderSystems};
    // Headless apps (servers, benches) have no render world to copy into.
    let Some(render_app) = app.get_sub_app_mut(RenderApp) else {
        return;
    };
    render_app.add_systems(
        Render,
        copy_gpu_layers.in_set(RenderSystems::PrepareResources),
    );
    app.add_plugins(ExtractResourcePlugin::<GpuLayerPatches>::default());
}

/// Copies the GPU-resident layers into the arrays, once per published pair of images. Runs
/// after the images' upload (`PrepareAssets`) and submits before the frame is drawn, on the
/// queue burn shares.
#[cfg(feature = "wgpu")]
fn copy_gpu_layers(
    patches: Option<Res<GpuLayerPatches>>,
    images: Res<bevy::render::render_asset::RenderAssets<bevy::render::texture::GpuImage>>,
    device: Res<bevy::render::renderer::RenderDevice>,
    queue: Res<bevy::render::renderer::RenderQueue>,
    mut copied: Local<Option<(AssetId<Image>, AssetId<Image>)>>,
) {
    use bevy::render::render_resource::{CommandEncoderDescriptor, Texture};
    let Some(patches) = patches else {
        return;
    };
    let (Some(albedo), Some(normal)) = (&patches.albedo, &patches.normal_roughness) else {
        return;
    };
    let ids = (albedo.id(), normal.id());
    if *copied == Some(ids) {
        return;
    }
    // Not uploaded yet: try again next frame.
    let (Some(albedo), Some(normal)) = (images.get(ids.0), images.get(ids.1)) else {
        return;
    };
    *copied = Some(ids);
    if patches.layers.is_empty() {
        return;
    }
    let fits = |texture: &Texture, layer: u32, surface: &GpuSurface| {
        texture.width() == surface.size
            && texture.height() == surface.size
            && layer < texture.depth_or_array_layers()
            && texture.mip_level_count() as usize >= surface.layout.mips.len()
    };
    let mut encoder = device.create_command_encoder(&CommandEncoderDescriptor {
        label: Some("aigc_world learned layers"),
    });
    for (layer, surface) in &patches.layers {
        if fits(&albedo.texture, *layer, surface) && fits(&normal.texture, *layer, surface) {
            surface.copy_into(&mut encoder, &albedo.texture, &normal.texture, *layer);
        } else {
            warn!(
                "aigc_world: learned layer {layer} ({}x{}) does not fit the layer arrays; it keeps its procedural texture",
                surface.size, surface.size
            );
        }
    }
    queue.submit([encoder.finish()]);
}
