//! Textures for the terrain's biome layers.
//!
//! [`BiomeTextures`] is the hand-over point between whoever makes layer textures (procedural
//! recipes, learned models) and the terrain material that draws them.

use bevy::prelude::*;

/// Texture arrays for the terrain material, one layer per biome id (biome `i` of the world's
/// table samples layer `i`). Empty until textures are ready; the material falls back to the
/// biomes' plain colours meanwhile.
#[derive(Resource, Clone, Debug, Default)]
pub struct BiomeTextures {
    /// `D2Array` image with [`MAX_BIOMES`](crate::config::MAX_BIOMES) layers: sRGB albedo,
    /// tileable.
    pub albedo: Option<Handle<Image>>,
    /// `D2Array` image with the same layers: tangent-space normal in RGB (linear, 0.5 = flat),
    /// roughness in A.
    pub normal_roughness: Option<Handle<Image>>,
    /// World metres covered by one repeat of a texture.
    pub metres_per_tile: f32,
    /// Grows by one whenever the images change.
    pub version: u64,
}
