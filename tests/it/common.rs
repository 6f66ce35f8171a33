//! Helpers shared by the integration tests.

use std::time::Duration;

use aigc_world::prelude::*;
use bevy::prelude::*;
use bevy::time::TimeUpdateStrategy;

/// A headless app with the whole plugin, a fixed 1/60 s frame time and no world file (the
/// built-in default world), so tests need no files on disk.
pub fn headless_app() -> App {
    let mut app = App::new();
    app.add_plugins((
        MinimalPlugins,
        TransformPlugin,
        AssetPlugin::default(),
        AigcWorldPlugin.set(WorldConfigPlugin { path: None }),
    ))
    .insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_secs_f64(
        1.0 / 60.0,
    )));
    // `App::run` would do this; tests drive `update` by hand.
    app.finish();
    app.cleanup();
    app
}

/// Runs updates until `done` holds or `max_frames` pass; returns the frames taken.
pub fn run_until(
    app: &mut App,
    max_frames: usize,
    mut done: impl FnMut(&mut App) -> bool,
) -> usize {
    for frame in 0..max_frames {
        app.update();
        if done(app) {
            return frame + 1;
        }
    }
    panic!("condition not met within {max_frames} frames");
}
