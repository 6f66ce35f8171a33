//! Helpers shared by the examples: world files from any folder, a fly camera, rendering without
//! a window ([`offscreen`]), the render benchmark ([`bench`]) and layer readback ([`layers`]).

#![allow(dead_code)] // Each example uses a different part.

pub mod bench;
pub mod layers;
pub mod offscreen;

use std::path::{Path, PathBuf};

use aigc_world::terrain::TerrainSampler;
use bevy::asset::io::{AssetSourceBuilder, AssetSourceId};
use bevy::input::mouse::{AccumulatedMouseMotion, AccumulatedMouseScroll};
use bevy::prelude::*;

/// The asset source that [`world_source`] registers.
pub const WORLD_SOURCE: &str = "world";

/// Registers the folder of `world` as the asset source `world://`, so any path on disk works
/// (and still hot-reloads), and returns the asset path of the file in it.
pub fn world_source(app: &mut App, world: &Path) -> Result<String, String> {
    let (Some(dir), Some(file)) = (world.parent(), world.file_name()) else {
        return Err(format!("{}: --world must name a file", world.display()));
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    // Bevy resolves relative asset folders against the executable; the user means the shell's.
    let dir = std::fs::canonicalize(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    app.register_asset_source(
        AssetSourceId::from(WORLD_SOURCE),
        AssetSourceBuilder::platform_default(&dir.to_string_lossy(), None),
    );
    Ok(format!("{WORLD_SOURCE}://{}", file.to_string_lossy()))
}

/// The world file the examples load unless told otherwise.
pub fn default_world() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/worlds/default.world.ron")
}

/// A free-flying camera: WASD to move, Space and C for up and down, hold the right mouse button
/// to look around, Shift to go faster, the mouse wheel to change speed.
#[derive(Component, Clone, Debug)]
pub struct FlyCamera {
    /// Metres per second.
    pub speed: f32,
    /// Radians per pixel of mouse motion.
    pub sensitivity: f32,
    /// Turn around the vertical axis (radians).
    pub yaw: f32,
    /// Look up (positive) or down (radians).
    pub pitch: f32,
    /// Metres kept between the camera and the ground.
    pub clearance_m: f32,
}

impl Default for FlyCamera {
    fn default() -> Self {
        Self {
            speed: 40.0,
            sensitivity: 0.003,
            yaw: 0.0,
            pitch: -0.25,
            clearance_m: 2.0,
        }
    }
}

impl FlyCamera {
    /// The rotation the camera has at its yaw and pitch.
    pub fn rotation(&self) -> Quat {
        Quat::from_euler(EulerRot::YXZ, self.yaw, self.pitch, 0.0)
    }

    /// Points the camera from `from` at `target`.
    pub fn look_at(&mut self, from: Vec3, target: Vec3) {
        let d = (target - from).normalize_or(Vec3::NEG_Z);
        self.yaw = (-d.x).atan2(-d.z);
        self.pitch = d.y.clamp(-1.0, 1.0).asin();
    }
}

/// What currently owns the keyboard and mouse instead of the camera (a UI text box, a dialogue).
#[derive(Resource, Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct CameraInputBlocked {
    /// The pointer is over a UI panel.
    pub pointer: bool,
    /// Keys go to a UI text box or a conversation.
    pub keyboard: bool,
}

/// Moves [`FlyCamera`]s. Update [`CameraInputBlocked`] before [`FlyCameraSystems`] to hand input
/// to a UI.
pub struct FlyCameraPlugin;

/// The set the fly camera moves in ([`Update`], so before the world's systems, which run in
/// [`AigcWorldUpdate`](aigc_world::AigcWorldUpdate)).
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlyCameraSystems;

impl Plugin for FlyCameraPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<CameraInputBlocked>()
            .add_systems(Update, fly.in_set(FlyCameraSystems));
    }
}

fn fly(
    time: Res<Time<Real>>,
    keys: Res<ButtonInput<KeyCode>>,
    buttons: Res<ButtonInput<MouseButton>>,
    motion: Res<AccumulatedMouseMotion>,
    scroll: Res<AccumulatedMouseScroll>,
    blocked: Res<CameraInputBlocked>,
    sampler: Option<Res<TerrainSampler>>,
    mut cameras: Query<(&mut Transform, &mut FlyCamera)>,
) {
    let dt = time.delta_secs().min(0.1);
    for (mut transform, mut camera) in &mut cameras {
        if !blocked.pointer {
            if buttons.pressed(MouseButton::Right) {
                camera.yaw -= motion.delta.x * camera.sensitivity;
                camera.pitch =
                    (camera.pitch - motion.delta.y * camera.sensitivity).clamp(-1.54, 1.54);
            }
            if scroll.delta.y != 0.0 {
                camera.speed = (camera.speed * 1.15f32.powf(scroll.delta.y)).clamp(2.0, 2000.0);
            }
        }
        transform.rotation = camera.rotation();
        if blocked.keyboard {
            continue;
        }
        let mut wish = Vec3::ZERO;
        let forward = transform.forward().as_vec3();
        let right = transform.right().as_vec3();
        for (key, dir) in [
            (KeyCode::KeyW, forward),
            (KeyCode::KeyS, -forward),
            (KeyCode::KeyD, right),
            (KeyCode::KeyA, -right),
            (KeyCode::Space, Vec3::Y),
            (KeyCode::KeyC, Vec3::NEG_Y),
        ] {
            if keys.pressed(key) {
                wish += dir;
            }
        }
        let boost = if keys.pressed(KeyCode::ShiftLeft) || keys.pressed(KeyCode::ShiftRight) {
            4.0
        } else {
            1.0
        };
        transform.translation += wish.normalize_or_zero() * camera.speed * boost * dt;
        if let Some(sampler) = &sampler {
            let p = transform.translation;
            let floor = sampler.height_at(p.x, p.z).max(sampler.sea_level()) + camera.clearance_m;
            transform.translation.y = p.y.max(floor);
        }
    }
}
