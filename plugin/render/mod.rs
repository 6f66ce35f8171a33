//! The terrain material (feature `render`): biome layers blended in `shaders/terrain.wgsl`.
//!
//! [`TerrainMaterial`] extends Bevy's [`StandardMaterial`], so chunks get Bevy's lighting,
//! shadows and [`DistanceFog`]. Its shader reads the per-vertex biome
//! weights the terrain generator writes, blends the biomes' layers (the
//! [`BiomeTextures`] arrays once the texture plugin has made them, the biome table's colours
//! until then), covers steep slopes with rock and high flat ground with snow, and projects
//! textures triplanarly on cliffs. The shader is embedded in the crate: a game needs none of our
//! files.
//!
//! [`TerrainMaterialPlugin`] keeps one shared material in step with the active world, the
//! textures and [`TerrainMaterialSettings`], and gives it to every chunk. It does nothing in apps
//! without Bevy's `PbrPlugin` (headless servers and tests).
//!
//! [`draw_stats`] counts what is drawn each frame (draw calls, scatter instances in view) into
//! [`DrawStats`], for the Stats panel and the sandbox's `--bench` line.

pub mod draw_stats;

pub use draw_stats::{DrawStats, DrawStatsPlugin};

use bevy::asset::{load_internal_asset, uuid_handle};
use bevy::mesh::MeshVertexBufferLayoutRef;
use bevy::pbr::{
    ExtendedMaterial, MaterialExtension, MaterialExtensionKey, MaterialExtensionPipeline,
    MaterialPlugin, PbrPlugin,
};
use bevy::prelude::*;
use bevy::render::render_resource::{
    AsBindGroup, RenderPipelineDescriptor, ShaderType, SpecializedMeshPipelineError,
};
use bevy::shader::ShaderRef;

use crate::config::{ActiveWorld, MAX_BIOMES, WorldConfig};
use crate::terrain::{
    ATTRIBUTE_BIOME_WEIGHTS_HIGH, ATTRIBUTE_BIOME_WEIGHTS_LOW, ATTRIBUTE_WETNESS, TerrainChunk,
};
use crate::texture::{BiomeTextures, TextureSampling};
use crate::{AigcWorldSystems, AigcWorldUpdate};

/// `shaders/terrain.wgsl`, embedded.
pub const TERRAIN_SHADER: Handle<Shader> = uuid_handle!("5b0c9f52-6f0e-4c55-9a43-3d1f6a2e8b71");

/// The terrain's material: Bevy's PBR material extended with biome layers.
pub type TerrainMaterial = ExtendedMaterial<StandardMaterial, TerrainExtension>;

/// The biome-layer half of [`TerrainMaterial`]. Bindings 100 to 104 of the material group.
#[derive(Asset, AsBindGroup, Reflect, Debug, Clone, Default)]
pub struct TerrainExtension {
    /// Colours and knobs.
    #[uniform(100)]
    pub params: TerrainMaterialUniform,
    /// Albedo layers (`D2Array`, one layer per biome id), or `None` for plain colours.
    #[texture(101, dimension = "2d_array")]
    #[sampler(102)]
    pub albedo: Option<Handle<Image>>,
    /// Normal (RGB) and roughness (A) layers, laid out like `albedo`.
    #[texture(103, dimension = "2d_array")]
    #[sampler(104)]
    pub normal_roughness: Option<Handle<Image>>,
}

/// The uniform block of [`TerrainExtension`], mirrored by `TerrainMaterial` in the shader.
#[derive(Clone, Copy, Debug, Default, ShaderType, Reflect)]
pub struct TerrainMaterialUniform {
    /// Linear RGB of each biome layer.
    pub layer_colors: [Vec4; MAX_BIOMES],
    /// Rock colour where the world has no `rock` biome.
    pub rock_color: Vec4,
    /// Snow colour where the world has no `snow` biome.
    pub snow_color: Vec4,
    /// Rock starts at this `1 - normal.y`.
    pub rock_slope_min: f32,
    /// Rock covers everything from this `1 - normal.y`.
    pub rock_slope_max: f32,
    /// Height (metres) above which flat ground is snow.
    pub snow_line_m: f32,
    /// Metres over which snow fades in around the snow line.
    pub snow_blend_m: f32,
    /// Snow slides off ground steeper than this `1 - normal.y`.
    pub snow_slope_max: f32,
    /// World metres covered by one repeat of a texture layer.
    pub metres_per_tile: f32,
    /// Exponent of the triplanar weights.
    pub triplanar_sharpness: f32,
    /// Scale of the texture normals' tilt.
    pub normal_strength: f32,
    /// Bit 0: the texture arrays are bound.
    pub flags: u32,
    /// Layer of the `rock` biome, or -1.
    pub rock_layer: i32,
    /// Layer of the `snow` biome, or -1.
    pub snow_layer: i32,
    /// Biomes in the world's table.
    pub layer_count: u32,
}

/// Bit of [`TerrainMaterialUniform::flags`]: sample the texture arrays.
pub const FLAG_TEXTURES: u32 = 1;

impl MaterialExtension for TerrainExtension {
    fn vertex_shader() -> ShaderRef {
        TERRAIN_SHADER.into()
    }

    fn fragment_shader() -> ShaderRef {
        TERRAIN_SHADER.into()
    }

    fn specialize(
        _pipeline: &MaterialExtensionPipeline,
        descriptor: &mut RenderPipelineDescriptor,
        layout: &MeshVertexBufferLayoutRef,
        _key: MaterialExtensionKey<Self>,
    ) -> Result<(), SpecializedMeshPipelineError> {
        // Prepass and shadow pipelines use Bevy's own vertex shader and locations; only the main
        // pass reads the biome weights.
        if descriptor.vertex.shader.id() != TERRAIN_SHADER.id() {
            return Ok(());
        }
        let vertex_layout = layout.0.get_layout(&[
            Mesh::ATTRIBUTE_POSITION.at_shader_location(0),
            Mesh::ATTRIBUTE_NORMAL.at_shader_location(1),
            Mesh::ATTRIBUTE_UV_0.at_shader_location(2),
            ATTRIBUTE_BIOME_WEIGHTS_LOW.at_shader_location(8),
            ATTRIBUTE_BIOME_WEIGHTS_HIGH.at_shader_location(9),
            ATTRIBUTE_WETNESS.at_shader_location(10),
        ])?;
        descriptor.vertex.buffers = vec![vertex_layout];
        Ok(())
    }
}

/// Live knobs of the terrain material (editable in the sandbox's panels, or by a game).
#[derive(Resource, Reflect, Clone, Debug, PartialEq)]
#[reflect(Resource)]
pub struct TerrainMaterialSettings {
    /// Slope (degrees) where rock starts to show.
    pub rock_from_deg: f32,
    /// Slope (degrees) from which the ground is all rock.
    pub rock_full_deg: f32,
    /// Height (metres) above which flat ground is snow.
    pub snow_line_m: f32,
    /// Metres over which snow fades in around the snow line.
    pub snow_blend_m: f32,
    /// Snow does not stick to ground steeper than this (degrees).
    pub snow_max_slope_deg: f32,
    /// Exponent of the triplanar weights (higher = side projections only on steeper faces).
    pub triplanar_sharpness: f32,
    /// Strength of the texture normals (0 = flat).
    pub normal_strength: f32,
    /// Sample the biome texture arrays when they exist (off: plain biome colours).
    pub use_textures: bool,
    /// Base roughness, before the textures' own.
    pub perceptual_roughness: f32,
}

impl Default for TerrainMaterialSettings {
    fn default() -> Self {
        Self {
            rock_from_deg: 34.0,
            rock_full_deg: 46.0,
            snow_line_m: 300.0,
            snow_blend_m: 40.0,
            snow_max_slope_deg: 40.0,
            triplanar_sharpness: 4.0,
            normal_strength: 1.0,
            use_textures: true,
            perceptual_roughness: 0.9,
        }
    }
}

/// Keeps one shared [`TerrainMaterial`] current and gives it to every terrain chunk.
#[derive(Default)]
pub struct TerrainMaterialPlugin;

impl Plugin for TerrainMaterialPlugin {
    fn build(&self, app: &mut App) {
        crate::configure_sets(app);
        app.register_type::<TerrainMaterialSettings>()
            .init_resource::<TerrainMaterialSettings>();
        if !app.is_plugin_added::<PbrPlugin>() {
            // Headless: chunks keep their meshes for queries, nothing draws them.
            debug!("aigc_world: no PbrPlugin, so terrain chunks get no material");
            return;
        }
        load_internal_asset!(
            app,
            TERRAIN_SHADER,
            "../../shaders/terrain.wgsl",
            |src, path| { Shader::from_wgsl(src, path) }
        );
        app.add_plugins(MaterialPlugin::<TerrainMaterial>::default())
            .init_resource::<TerrainMaterialState>()
            .add_systems(
                AigcWorldUpdate,
                (update_terrain_material, attach_terrain_material)
                    .chain()
                    .after(AigcWorldSystems::Apply)
                    .before(AigcWorldSystems::Npcs),
            );
    }

    fn finish(&self, app: &mut App) {
        // Software rasterisers filter anisotropically at a crawl (a frame took seconds on
        // lavapipe); the textures stay, the grazing-angle sharpness goes.
        let software = app
            .world()
            .get_resource::<bevy::render::renderer::RenderAdapterInfo>()
            .is_some_and(|info| info.device_type == wgpu_types::DeviceType::Cpu);
        if software {
            info!(
                "aigc_world: software renderer, so terrain textures use no anisotropic filtering"
            );
            app.insert_resource(TextureSampling { anisotropy: 1 });
        }
    }
}

/// The shared material and what it was last built from.
#[derive(Resource, Default)]
pub struct TerrainMaterialState {
    /// The material every chunk uses.
    pub handle: Option<Handle<TerrainMaterial>>,
    built_from: Option<(u64, u64)>,
}

/// Builds the uniform for a world, its textures and the settings. Pure; unit-tested.
pub fn material_uniform(
    world: &WorldConfig,
    settings: &TerrainMaterialSettings,
    textures: &BiomeTextures,
) -> TerrainMaterialUniform {
    let table = &world.biomes.table;
    let mut layer_colors = [Vec4::new(0.5, 0.5, 0.5, 1.0); MAX_BIOMES];
    for (slot, biome) in layer_colors.iter_mut().zip(table) {
        let (r, g, b) = biome.color;
        *slot = Vec4::new(r, g, b, 1.0);
    }
    let layer_of = |name: &str| {
        table
            .iter()
            .position(|b| b.name.eq_ignore_ascii_case(name))
            .map_or(-1, |i| i as i32)
    };
    let steepness = |deg: f32| 1.0 - deg.to_radians().cos();
    let has_textures =
        settings.use_textures && textures.albedo.is_some() && textures.normal_roughness.is_some();
    TerrainMaterialUniform {
        layer_colors,
        rock_color: Vec4::new(0.34, 0.32, 0.30, 1.0),
        snow_color: Vec4::new(0.90, 0.92, 0.96, 1.0),
        rock_slope_min: steepness(settings.rock_from_deg),
        rock_slope_max: steepness(settings.rock_full_deg.max(settings.rock_from_deg + 0.5)),
        snow_line_m: settings.snow_line_m,
        snow_blend_m: settings.snow_blend_m.max(0.01),
        snow_slope_max: steepness(settings.snow_max_slope_deg),
        metres_per_tile: if textures.metres_per_tile > 0.0 {
            textures.metres_per_tile
        } else {
            4.0
        },
        triplanar_sharpness: settings.triplanar_sharpness.max(1.0),
        normal_strength: settings.normal_strength.max(0.0),
        flags: if has_textures { FLAG_TEXTURES } else { 0 },
        rock_layer: layer_of("rock"),
        snow_layer: layer_of("snow"),
        layer_count: table.len() as u32,
    }
}

/// Rebuilds the shared material when the world, the textures or the settings change.
fn update_terrain_material(
    world: Res<ActiveWorld>,
    textures: Res<BiomeTextures>,
    settings: Res<TerrainMaterialSettings>,
    mut state: ResMut<TerrainMaterialState>,
    mut materials: ResMut<Assets<TerrainMaterial>>,
) {
    let key = (world.version(), textures.version);
    if state.built_from == Some(key) && !settings.is_changed() && state.handle.is_some() {
        return;
    }
    state.built_from = Some(key);
    let params = material_uniform(world.config(), &settings, &textures);
    let use_textures = params.flags & FLAG_TEXTURES != 0;
    let material = TerrainMaterial {
        base: StandardMaterial {
            base_color: Color::WHITE,
            perceptual_roughness: settings.perceptual_roughness,
            reflectance: 0.3,
            ..default()
        },
        extension: TerrainExtension {
            params,
            albedo: textures.albedo.clone().filter(|_| use_textures),
            normal_roughness: textures.normal_roughness.clone().filter(|_| use_textures),
        },
    };
    if let Some(mut existing) = state.handle.as_ref().and_then(|h| materials.get_mut(h)) {
        *existing = material;
        return;
    }
    state.handle = Some(materials.add(material));
}

/// Gives chunks that have just received their first mesh the shared material.
fn attach_terrain_material(
    mut commands: Commands,
    state: Res<TerrainMaterialState>,
    chunks: Query<
        Entity,
        (
            With<TerrainChunk>,
            With<Mesh3d>,
            Without<MeshMaterial3d<TerrainMaterial>>,
        ),
    >,
) {
    let Some(handle) = &state.handle else {
        return;
    };
    for chunk in &chunks {
        commands
            .entity(chunk)
            .insert(MeshMaterial3d(handle.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_WORLD_RON;
    use crate::config::parse_world;

    #[test]
    fn uniform_follows_the_world_and_textures() {
        let world = parse_world(DEFAULT_WORLD_RON, "default.world.ron").unwrap();
        let settings = TerrainMaterialSettings::default();
        let none = material_uniform(&world, &settings, &BiomeTextures::default());
        assert_eq!(
            none.flags & FLAG_TEXTURES,
            0,
            "no textures yet: plain colours"
        );
        assert_eq!(none.layer_count as usize, world.biomes.table.len());
        let rock = world.biomes.table.iter().position(|b| b.name == "rock");
        assert_eq!(none.rock_layer, rock.map_or(-1, |i| i as i32));
        let (r, g, b) = world.biomes.table[0].color;
        assert_eq!(none.layer_colors[0], Vec4::new(r, g, b, 1.0));
        assert!(none.rock_slope_min < none.rock_slope_max);

        let textures = BiomeTextures {
            albedo: Some(Handle::default()),
            normal_roughness: Some(Handle::default()),
            metres_per_tile: 6.0,
            version: 1,
        };
        let with = material_uniform(&world, &settings, &textures);
        assert_eq!(with.flags & FLAG_TEXTURES, FLAG_TEXTURES);
        assert_eq!(with.metres_per_tile, 6.0);
        let off = TerrainMaterialSettings {
            use_textures: false,
            ..settings
        };
        assert_eq!(material_uniform(&world, &off, &textures).flags, 0);
    }
}
