//! Grass (and trees, a little) moving in the wind (feature `render`): `shaders/grass.wgsl`, a
//! vertex stage over Bevy's [`StandardMaterial`].
//!
//! Each vertex says how far it may move ([`ObjectMesh::sway`](super::meshes::ObjectMesh::sway):
//! 0 at a blade's root, 1 at its tip; trees by their height). The shader bends it downwind by
//! gusts that travel across the land with the wind, plus a small flutter, from the vertex's
//! world position and the time: the base stays put, and nothing moves on the CPU.

use bevy::asset::{load_internal_asset, uuid_handle};
use bevy::pbr::{ExtendedMaterial, MaterialExtension, MaterialPlugin};
use bevy::prelude::*;
use bevy::render::render_resource::{AsBindGroup, ShaderType};
use bevy::shader::ShaderRef;

/// `shaders/grass.wgsl`, embedded.
pub const GRASS_SHADER: Handle<Shader> = uuid_handle!("c4a1e7d2-93b8-4f0a-8e65-2d7b1f0c9a38");

/// A material that sways in the wind: Bevy's PBR material with [`WindExtension`]'s vertex stage.
pub type WindMaterial = ExtendedMaterial<StandardMaterial, WindExtension>;

/// The wind half of [`WindMaterial`]: binding 100 of the material group.
#[derive(Asset, AsBindGroup, Reflect, Debug, Clone, Default)]
pub struct WindExtension {
    /// The wind.
    #[uniform(100)]
    pub params: WindUniform,
}

/// The uniform block of [`WindExtension`], mirrored by `Wind` in the shader.
#[derive(Clone, Copy, Debug, Default, ShaderType, Reflect)]
pub struct WindUniform {
    /// Unit vector (x, z) the wind blows towards.
    pub direction: Vec2,
    /// How far a fully swaying vertex bends in a full gust, metres.
    pub bend_m: f32,
    /// Speed the gusts travel across the land, metres per second.
    pub gust_speed: f32,
    /// Distance between gusts, metres.
    pub gust_length_m: f32,
    /// Share of the bend that flutters quickly across the wind (0..1).
    pub flutter: f32,
}

impl MaterialExtension for WindExtension {
    fn vertex_shader() -> ShaderRef {
        GRASS_SHADER.into()
    }
}

/// Live knobs of the wind (editable in the sandbox's panels, or by a game).
#[derive(Resource, Reflect, Clone, Debug, PartialEq)]
#[reflect(Resource)]
pub struct WindSettings {
    /// Compass heading the wind blows towards, degrees (0 north, 90 east).
    pub towards_deg: f32,
    /// How far grass tips bend in a full gust, metres.
    pub grass_bend_m: f32,
    /// How far tree tops bend in a full gust, metres (0: trees stand still).
    pub tree_bend_m: f32,
    /// Speed the gusts travel, metres per second.
    pub gust_speed: f32,
    /// Distance between gusts, metres.
    pub gust_length_m: f32,
    /// Share of the bend that flutters quickly across the wind (0..1).
    pub flutter: f32,
}

impl Default for WindSettings {
    fn default() -> Self {
        Self {
            towards_deg: 60.0,
            grass_bend_m: 0.12,
            tree_bend_m: 0.25,
            gust_speed: 6.0,
            gust_length_m: 28.0,
            flutter: 0.3,
        }
    }
}

impl WindSettings {
    /// The uniform for meshes that bend `bend_m` at full sway. Pure; unit-tested.
    pub fn uniform(&self, bend_m: f32) -> WindUniform {
        let finite = |x: f32, lo: f32, hi: f32| if x.is_finite() { x.clamp(lo, hi) } else { lo };
        let a = finite(self.towards_deg, -720.0, 720.0).to_radians();
        WindUniform {
            // North is -z.
            direction: Vec2::new(a.sin(), -a.cos()),
            bend_m: finite(bend_m, 0.0, 5.0),
            gust_speed: finite(self.gust_speed, 0.0, 100.0),
            gust_length_m: finite(self.gust_length_m, 1.0, 10_000.0),
            flutter: finite(self.flutter, 0.0, 1.0),
        }
    }
}

/// Adds the wind material and its shader (call only with Bevy's `PbrPlugin`).
pub(super) fn build(app: &mut App) {
    load_internal_asset!(
        app,
        GRASS_SHADER,
        "../../shaders/grass.wgsl",
        |src, path| { Shader::from_wgsl(src, path) }
    );
    app.add_plugins(MaterialPlugin::<WindMaterial>::default());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wind_uniform_points_the_way_and_stays_bounded() {
        let east = WindSettings {
            towards_deg: 90.0,
            ..default()
        }
        .uniform(0.1);
        assert!((east.direction - Vec2::X).length() < 1e-6);
        assert_eq!(east.bend_m, 0.1);
        let wild = WindSettings {
            towards_deg: f32::NAN,
            gust_length_m: 0.0,
            flutter: 3.0,
            ..default()
        }
        .uniform(f32::INFINITY);
        assert!((wild.direction.length() - 1.0).abs() < 1e-6);
        assert_eq!(wild.bend_m, 0.0);
        assert_eq!(wild.gust_length_m, 1.0);
        assert_eq!(wild.flutter, 1.0);
    }
}
