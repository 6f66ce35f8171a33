//! Helpers shared by the integration tests.

use std::time::Duration;

use aigc_world::prelude::*;
use bevy::app::Plugins;
use bevy::asset::io::memory::{Dir, MemoryAssetReader};
use bevy::asset::io::{AssetSourceBuilder, AssetSourceId};
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

/// A headless app reading assets from the in-memory `dir`, with `MinimalPlugins`, `AssetPlugin`
/// (no file watcher: tests reload explicitly, so a watcher cannot add a second event) and
/// `plugins`, finished and ready for `update`.
pub fn memory_app<M>(dir: &Dir, plugins: impl Plugins<M>) -> App {
    let mut app = App::new();
    let reader_dir = dir.clone();
    app.register_asset_source(
        AssetSourceId::Default,
        AssetSourceBuilder::new(move || {
            Box::new(MemoryAssetReader {
                root: reader_dir.clone(),
            })
        }),
    )
    .add_plugins((
        MinimalPlugins,
        AssetPlugin {
            watch_for_changes_override: Some(false),
            ..default()
        },
    ))
    .add_plugins(plugins);
    app.finish();
    app.cleanup();
    app
}

/// Runs updates until `done` holds; returns the frames taken. Background tasks need wall-clock
/// time, not frames, so this waits up to two minutes (a safety net against hangs, not a speed
/// check), yielding a millisecond per frame to the task threads, and panics after `max_frames`
/// only if the time has also run out.
pub fn run_until(
    app: &mut App,
    max_frames: usize,
    mut done: impl FnMut(&mut App) -> bool,
) -> usize {
    let start = std::time::Instant::now();
    let mut frame = 0;
    loop {
        app.update();
        frame += 1;
        if done(app) {
            return frame;
        }
        if frame >= max_frames && start.elapsed() > Duration::from_secs(120) {
            panic!("condition not met within {frame} frames and two minutes");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
