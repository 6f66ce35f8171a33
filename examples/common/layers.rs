//! Reading the terrain's layer arrays back from the GPU into PNGs (the sandbox's
//! `--dump-layers`): what the GPU really samples.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aigc_world::texture::BiomeTextures;
use bevy::prelude::*;
use bevy::render::gpu_readback::{Readback, ReadbackComplete};

/// Reads both layer arrays back from the GPU and writes `DIR/{albedo,normal}_LAYER.png` (mip 0)
/// for each layer; `pending` counts the arrays still on their way.
pub fn dump_layers(
    commands: &mut Commands,
    textures: &BiomeTextures,
    images: &Assets<Image>,
    dir: &std::path::Path,
    pending: &Arc<AtomicUsize>,
) {
    let _ = std::fs::create_dir_all(dir);
    let arrays = [
        ("albedo", textures.albedo.clone()),
        ("normal", textures.normal_roughness.clone()),
    ];
    for (name, handle) in arrays {
        let Some(handle) = handle else { continue };
        let Some(side) = images.get(&handle).map(|i| i.width()) else {
            continue;
        };
        let (dir, pending) = (dir.to_path_buf(), pending.clone());
        let written = std::sync::atomic::AtomicBool::new(false);
        pending.fetch_add(1, Ordering::AcqRel);
        commands.spawn(Readback::texture(handle)).observe(
            move |event: On<ReadbackComplete>, mut commands: Commands| {
                // Readbacks repeat every frame until the entity is gone; keep the first.
                if written.swap(true, Ordering::AcqRel) {
                    return;
                }
                // Rows of 256 * 4 bytes or more need no padding: the layers follow each other.
                let layer_bytes = (side * side * 4) as usize;
                for (layer, pixels) in event.data.chunks_exact(layer_bytes).enumerate() {
                    let path = dir.join(format!("{name}_{layer}.png"));
                    let saved = image::RgbaImage::from_raw(side, side, pixels.to_vec())
                        .map(|picture| picture.save(&path));
                    if !matches!(saved, Some(Ok(()))) {
                        eprintln!("sandbox: could not write {}", path.display());
                    }
                }
                commands.entity(event.entity).despawn();
                pending.fetch_sub(1, Ordering::AcqRel);
            },
        );
    }
}
