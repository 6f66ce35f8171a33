//! Textures for the terrain's biome layers.
//!
//! [`BiomeTextures`] is the hand-over point between whoever makes layer textures (procedural
//! recipes, learned models) and the terrain material that draws them.
//!
//! [`TexturePlugin`] fills it: each biome of the active world maps to a material of the texture
//! file (`assets/textures/default.textures.ron`); procedural layers are generated first on the
//! async compute pool, then materials with a learned model (`.nca` weights, loaded through a
//! Bevy asset loader) are grown by the [AI runtime](crate::ai)'s worker and replace the
//! procedural albedo. On a GPU the learned maps never leave it: the worker derives normal,
//! roughness and mips there and the render world copies them into the layer arrays. Every texture is made once per recipe, size and seed and cached. A missing
//! or broken weights file gives one warning naming the file and the reason, and the procedural
//! texture stays. Weights files hot-reload like the RON files: an edited model grows its
//! texture again (the old one stays on screen meanwhile), a broken edit keeps the last good
//! model.
//!
//! - [`periodic`], [`procedural`], [`recipe`], [`layers`]: the pure, deterministic part.

mod gpu_layers;
pub mod layers;
mod models;
pub mod periodic;
pub mod procedural;
pub mod recipe;
mod systems;

use bevy::prelude::*;

use crate::AigcWorldUpdate;

use crate::ai::nca::NcaWeights;
use crate::config::{ConfigError, ConfigErrorKind};
use crate::kinds::{self, Active, FileKind, FileKindPlugin, FileKindSystems, FileStatus};
pub use procedural::{MaterialTexture, generate_material, material_from_albedo, seam_ratio};
pub use recipe::{MaterialRecipe, TextureSetConfig, parse_texture_set};

/// The texture file that ships with the crate, used until (or unless) a texture file loads.
pub const DEFAULT_TEXTURES_RON: &str = include_str!("../../assets/textures/default.textures.ron");

/// The seed a material's textures are made with: the texture file's seed mixed with the
/// material's name, so materials differ and the same file gives the same textures everywhere.
pub fn material_seed(set_seed: u64, material: &str) -> u64 {
    set_seed ^ crate::ai::nca::weights::fnv1a(material.as_bytes())
}

/// Texture arrays for the terrain material, one layer per biome id (biome `i` of the world's
/// table samples layer `i`). Empty until textures are ready; the material falls back to the
/// biomes' plain colours meanwhile.
///
/// Every change publishes new images (new handles), so follow [`version`](Self::version).
/// Learned layers grown on a GPU are copied into the GPU textures there; the images' CPU-side
/// data holds those layers' procedural texture.
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

/// How the layer images are filtered. Anisotropic filtering keeps textures sharp on ground seen
/// at a grazing angle, but software renderers (lavapipe) run it several times slower than the
/// rest of the frame: the terrain material plugin lowers it to 1 on such adapters.
#[derive(Resource, Reflect, Clone, Debug, PartialEq)]
#[reflect(Resource)]
pub struct TextureSampling {
    /// Maximum anisotropy (1 = off, up to 16).
    pub anisotropy: u16,
}

impl Default for TextureSampling {
    fn default() -> Self {
        Self { anisotropy: 8 }
    }
}

/// Generates the biome layer textures and keeps [`BiomeTextures`] current.
#[derive(Clone, Debug)]
pub struct TexturePlugin {
    /// Asset path of the texture file, or `None` for the built-in one only.
    pub path: Option<String>,
    /// Grow learned textures when the AI runtime is present.
    pub learned: bool,
}

impl Default for TexturePlugin {
    fn default() -> Self {
        Self {
            path: Some("textures/default.textures.ron".into()),
            learned: true,
        }
    }
}

/// Where a material's current albedo came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TextureSource {
    /// Not generated yet.
    Pending,
    /// The noise recipe.
    Procedural,
    /// The learned model.
    Learned,
    /// The model could not be used (the reason); the procedural texture is shown.
    Fallback(String),
}

/// What the texture plugin has done, for UIs and tests.
#[derive(Resource, Clone, Debug, Default)]
pub struct TextureStatus {
    /// Per material in use: where its albedo comes from.
    pub materials: std::collections::BTreeMap<String, TextureSource>,
    /// Material of each layer (biome id order).
    pub layers: Vec<String>,
    /// Every warning issued, in order (each is also logged once).
    pub warnings: Vec<String>,
    /// Textures generated (procedural) or grown (learned) so far; cache hits do not count.
    pub generated: u64,
    /// Whether work is under way: the texture file, models, generation, growing or stacking.
    /// When it turns false, [`BiomeTextures`] holds the final layers for the current world.
    pub busy: bool,
}

/// Texture files, `*.textures.ron`: material recipes and the biome-to-material map
/// ([`TextureSetConfig`]).
#[derive(Clone, Copy, Debug, Default, TypePath)]
pub struct TextureSetKind;

impl FileKind for TextureSetKind {
    type Value = TextureSetConfig;
    const NAME: &'static str = "texture set";
    const EXTENSIONS: &'static [&'static str] = &["textures.ron"];

    fn parse(bytes: &[u8], file: &str) -> Result<TextureSetConfig, ConfigError> {
        parse_texture_set(kinds::text(bytes, file)?, file)
    }
}

/// Learned-texture models, `*.nca` ([`NcaWeights`]). Binary: errors name the byte (line 1,
/// column = byte offset + 1).
#[derive(Clone, Copy, Debug, Default, TypePath)]
pub struct NcaModelKind;

impl FileKind for NcaModelKind {
    type Value = NcaWeights;
    const NAME: &'static str = "texture model";
    const EXTENSIONS: &'static [&'static str] = &["nca"];

    fn parse(bytes: &[u8], file: &str) -> Result<NcaWeights, ConfigError> {
        NcaWeights::from_bytes_located(bytes).map_err(|(at, e)| {
            kinds::at_byte(
                file,
                at,
                ConfigErrorKind::Invalid(format!("{e} (at byte {at})")),
            )
        })
    }
}

impl Plugin for TexturePlugin {
    fn build(&self, app: &mut App) {
        crate::configure_sets(app);
        let default = parse_texture_set(DEFAULT_TEXTURES_RON, "<built-in default.textures.ron>")
            .expect("the built-in texture file must be valid (tested in texture::recipe::tests)");
        let default_set = default.clone();
        kinds::add_file_asset::<NcaModelKind>(app);
        app.add_plugins(FileKindPlugin::<TextureSetKind>::new(
            self.path.clone(),
            default,
        ))
        .add_message::<crate::ai::AiResponse>()
        .init_resource::<BiomeTextures>()
        .register_type::<TextureSampling>()
        .init_resource::<TextureSampling>()
        .init_resource::<TextureStatus>()
        .init_resource::<gpu_layers::GpuLayerPatches>()
        .insert_resource(systems::TextureState::new(default_set, self.learned))
        .add_systems(
            AigcWorldUpdate,
            (
                // Each system runs only when it may have work: textures at rest cost nothing.
                systems::follow_texture_set
                    .run_if(
                        resource_changed::<Active<TextureSetKind>>
                            .or_eager(resource_changed::<FileStatus<TextureSetKind>>),
                    )
                    .after(FileKindSystems)
                    .in_set(crate::AigcWorldSystems::Config),
                systems::plan_textures
                    .run_if(systems::layers_may_change)
                    .in_set(crate::AigcWorldSystems::Plan),
                (
                    models::poll_models.run_if(models::models_may_have_news),
                    systems::poll_textures.run_if(systems::textures_on_the_way),
                )
                    .chain()
                    .in_set(crate::AigcWorldSystems::Poll),
                (
                    systems::apply_layers.run_if(systems::layers_to_apply),
                    systems::publish_busy.run_if(resource_changed::<systems::TextureState>),
                )
                    .chain()
                    .in_set(crate::AigcWorldSystems::Apply),
            ),
        );
        #[cfg(feature = "wgpu")]
        gpu_layers::plugin(app);
    }

    fn finish(&self, app: &mut App) {
        // Headless apps (MinimalPlugins) have no ImagePlugin; the layer images still need a home.
        if !app.world().contains_resource::<Assets<Image>>() {
            app.init_asset::<Image>();
        }
    }
}
