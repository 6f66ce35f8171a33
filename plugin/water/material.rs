//! The water's material (feature `render`): `shaders/water.wgsl` over Bevy's
//! [`StandardMaterial`], so the sea gets Bevy's lighting, sun glints and [`DistanceFog`] like the
//! terrain, and the horizon agrees.
//!
//! Colour comes from the depth every vertex carries ([`ATTRIBUTE_WATER_DEPTH`]): clear
//! turquoise shallows, deep blue further out, foam where the depth nears zero at the shore.
//! Waves are a few travelling sines of world position and time, in the vertex stage (a gentle
//! rise and fall) and the fragment stage (their normals), so nothing moves on the CPU.

use bevy::asset::{load_internal_asset, uuid_handle};
use bevy::light::NotShadowCaster;
use bevy::mesh::MeshVertexBufferLayoutRef;
use bevy::pbr::{
    ExtendedMaterial, MaterialExtension, MaterialExtensionKey, MaterialExtensionPipeline,
    MaterialPlugin, PbrPlugin,
};
use bevy::prelude::*;

use crate::AigcWorldUpdate;
use bevy::render::render_resource::{
    AsBindGroup, RenderPipelineDescriptor, ShaderType, SpecializedMeshPipelineError,
};
use bevy::shader::ShaderRef;

use super::{ATTRIBUTE_WATER_DEPTH, WaterSurface, WaterSystems};

/// `shaders/water.wgsl`, embedded.
pub const WATER_SHADER: Handle<Shader> = uuid_handle!("0f3e9a41-7b52-4c8e-a1d6-5e2c8b9f4a13");

/// The water's material: Bevy's PBR material (blended) extended with depth colour and waves.
pub type WaterMaterial = ExtendedMaterial<StandardMaterial, WaterExtension>;

/// The water half of [`WaterMaterial`]: binding 100 of the material group.
#[derive(Asset, AsBindGroup, Reflect, Debug, Clone, Default)]
pub struct WaterExtension {
    /// Colours and waves.
    #[uniform(100)]
    pub params: WaterMaterialUniform,
}

/// The uniform block of [`WaterExtension`], mirrored by `WaterMaterial` in the shader.
#[derive(Clone, Copy, Debug, Default, ShaderType, Reflect)]
pub struct WaterMaterialUniform {
    /// Linear RGB of the shallows.
    pub shallow_color: Vec4,
    /// Linear RGB of deep water.
    pub deep_color: Vec4,
    /// Linear RGB of the foam.
    pub foam_color: Vec4,
    /// Depth (metres) at which the water is mostly the deep colour.
    pub deep_at_m: f32,
    /// Depth (metres) below which the shore foams.
    pub foam_depth_m: f32,
    /// Height of the largest wave, metres.
    pub wave_height_m: f32,
    /// Length of the longest wave, metres.
    pub wave_length_m: f32,
    /// Wave speed, metres per second.
    pub wave_speed: f32,
    /// Opacity of the shallowest water.
    pub shallow_opacity: f32,
}

impl MaterialExtension for WaterExtension {
    fn vertex_shader() -> ShaderRef {
        WATER_SHADER.into()
    }

    fn fragment_shader() -> ShaderRef {
        WATER_SHADER.into()
    }

    fn specialize(
        _pipeline: &MaterialExtensionPipeline,
        descriptor: &mut RenderPipelineDescriptor,
        layout: &MeshVertexBufferLayoutRef,
        _key: MaterialExtensionKey<Self>,
    ) -> Result<(), SpecializedMeshPipelineError> {
        // Other pipelines (shadows, prepasses) use Bevy's own vertex shader.
        if descriptor.vertex.shader.id() != WATER_SHADER.id() {
            return Ok(());
        }
        let vertex_layout = layout.0.get_layout(&[
            Mesh::ATTRIBUTE_POSITION.at_shader_location(0),
            Mesh::ATTRIBUTE_NORMAL.at_shader_location(1),
            ATTRIBUTE_WATER_DEPTH.at_shader_location(8),
        ])?;
        descriptor.vertex.buffers = vec![vertex_layout];
        Ok(())
    }
}

/// Live knobs of the water's look (the sea level itself is the world file's `sea_level_m`).
#[derive(Resource, Reflect, Clone, Debug, PartialEq)]
#[reflect(Resource)]
pub struct WaterSettings {
    /// Colour of the shallows (sRGB).
    pub shallow_color: Color,
    /// Colour of deep water (sRGB).
    pub deep_color: Color,
    /// Colour of the foam along the shore (sRGB).
    pub foam_color: Color,
    /// Depth (metres) at which the water is mostly the deep colour.
    pub deep_at_m: f32,
    /// Depth (metres) below which the shore foams.
    pub foam_depth_m: f32,
    /// Height of the largest wave, metres (0: still water; at most 1).
    pub wave_height_m: f32,
    /// Length of the longest wave, metres.
    pub wave_length_m: f32,
    /// Speed of the waves, metres per second.
    pub wave_speed: f32,
    /// Opacity of the shallowest water (deep water is nearly opaque).
    pub shallow_opacity: f32,
}

impl Default for WaterSettings {
    fn default() -> Self {
        Self {
            shallow_color: Color::srgb(0.06, 0.58, 0.60),
            deep_color: Color::srgb(0.01, 0.09, 0.26),
            foam_color: Color::srgb(0.92, 0.95, 0.96),
            deep_at_m: 9.0,
            foam_depth_m: 0.6,
            wave_height_m: 0.18,
            wave_length_m: 21.0,
            wave_speed: 2.2,
            shallow_opacity: 0.6,
        }
    }
}

/// Builds the uniform from the settings. Pure; unit-tested.
pub fn water_uniform(settings: &WaterSettings) -> WaterMaterialUniform {
    let linear = |c: Color| {
        let c = c.to_linear();
        Vec4::new(c.red, c.green, c.blue, 1.0)
    };
    let finite =
        |x: f32, lo: f32, hi: f32, or: f32| if x.is_finite() { x.clamp(lo, hi) } else { or };
    WaterMaterialUniform {
        shallow_color: linear(settings.shallow_color),
        deep_color: linear(settings.deep_color),
        foam_color: linear(settings.foam_color),
        deep_at_m: finite(settings.deep_at_m, 0.1, 1000.0, 9.0),
        foam_depth_m: finite(settings.foam_depth_m, 0.0, 10.0, 0.6),
        // Three waves summed stay inside the bounds chunks give their water (2 m either way).
        wave_height_m: finite(settings.wave_height_m, 0.0, 1.0, 0.0),
        wave_length_m: finite(settings.wave_length_m, 1.0, 1000.0, 21.0),
        wave_speed: finite(settings.wave_speed, 0.0, 50.0, 0.0),
        shallow_opacity: finite(settings.shallow_opacity, 0.0, 1.0, 0.6),
    }
}

/// The shared material.
#[derive(Resource, Default)]
struct WaterMaterialState {
    handle: Option<Handle<WaterMaterial>>,
}

/// Adds the material, its shader and systems (nothing in apps without Bevy's `PbrPlugin`).
pub(super) fn build(app: &mut App) {
    app.register_type::<WaterSettings>()
        .init_resource::<WaterSettings>();
    if !app.is_plugin_added::<PbrPlugin>() {
        debug!("aigc_world: no PbrPlugin, so water surfaces get no material");
        return;
    }
    load_internal_asset!(
        app,
        WATER_SHADER,
        "../../shaders/water.wgsl",
        |src, path| { Shader::from_wgsl(src, path) }
    );
    app.add_plugins(MaterialPlugin::<WaterMaterial>::default())
        .init_resource::<WaterMaterialState>()
        .add_systems(
            AigcWorldUpdate,
            (update_water_material, attach_water_material)
                .chain()
                .in_set(WaterSystems::Material),
        );
}

/// Rebuilds the shared material when the settings change.
fn update_water_material(
    settings: Res<WaterSettings>,
    mut state: ResMut<WaterMaterialState>,
    mut materials: ResMut<Assets<WaterMaterial>>,
) {
    if state.handle.is_some() && !settings.is_changed() {
        return;
    }
    let material = WaterMaterial {
        base: StandardMaterial {
            base_color: Color::WHITE,
            perceptual_roughness: 0.08,
            reflectance: 0.5,
            alpha_mode: AlphaMode::Blend,
            ..default()
        },
        extension: WaterExtension {
            params: water_uniform(&settings),
        },
    };
    if let Some(mut existing) = state.handle.as_ref().and_then(|h| materials.get_mut(h)) {
        *existing = material;
        return;
    }
    state.handle = Some(materials.add(material));
}

/// Gives new water surfaces the shared material (only new ones match the query).
fn attach_water_material(
    mut commands: Commands,
    state: Res<WaterMaterialState>,
    surfaces: Query<Entity, (With<WaterSurface>, Without<MeshMaterial3d<WaterMaterial>>)>,
) {
    let Some(handle) = &state.handle else {
        return;
    };
    for surface in &surfaces {
        commands
            .entity(surface)
            .insert((MeshMaterial3d(handle.clone()), NotShadowCaster));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_is_finite_and_bounded_whatever_the_settings() {
        let u = water_uniform(&WaterSettings::default());
        assert!(u.deep_color.z > u.deep_color.x, "deep water is blue");
        assert!(u.shallow_color.y > u.deep_color.y, "shallows are lighter");
        assert!(u.wave_height_m > 0.0 && u.wave_height_m <= 1.0);
        let wild = WaterSettings {
            wave_height_m: f32::NAN,
            wave_length_m: -5.0,
            deep_at_m: f32::INFINITY,
            shallow_opacity: 7.0,
            ..default()
        };
        let u = water_uniform(&wild);
        assert_eq!(u.wave_height_m, 0.0);
        assert_eq!(u.wave_length_m, 1.0);
        assert_eq!(u.deep_at_m, 9.0);
        assert_eq!(u.shallow_opacity, 1.0);
    }
}
