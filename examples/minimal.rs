//! The smallest game using aigc_world: a camera that glides over endless terrain, and a sun.
//!
//! `cargo run --release --example minimal`

use aigc_world::prelude::*;
use bevy::prelude::*;

fn main() {
    App::new()
        .add_plugins((DefaultPlugins, AigcWorldPlugin))
        .add_systems(Startup, setup)
        .add_systems(Update, glide)
        .run();
}

fn setup(mut commands: Commands) {
    // Terrain streams in around every entity with a WorldObserver.
    commands.spawn((
        Camera3d::default(),
        WorldObserver::default(),
        DistanceFog::default(),
    ));
    commands.spawn((
        DirectionalLight {
            shadow_maps_enabled: true,
            ..default()
        },
        Transform::default().looking_to(Vec3::new(-1.0, -0.8, -0.3), Vec3::Y),
    ));
}

/// Flies east at 30 m/s, 60 m above the ground (ground heights work before any chunk loads).
fn glide(
    time: Res<Time>,
    ground: Res<TerrainSampler>,
    mut camera: Single<&mut Transform, With<WorldObserver>>,
) {
    let x = camera.translation.x + 30.0 * time.delta_secs();
    let y = ground.height_at(x, 0.0).max(ground.sea_level()) + 60.0;
    **camera = Transform::from_xyz(x, y, 0.0).looking_to(Vec3::new(1.0, -0.25, 0.0), Vec3::Y);
}
