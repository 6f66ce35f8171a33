//! Headless flythrough: what a world file costs while streaming.
//!
//! Loads a world, waits until the area around the start has generated (a game's loading
//! screen), then flies a [`WorldObserver`] east at `--speed` m/s for `--seconds`, paced like a
//! game at 60 updates per second on a fixed time step: each frame sleeps out the rest of its
//! 16.7 ms, so background generation gets the wall-clock time it would get in a game. Prints one
//! line: main-thread frame times (the time of each `app.update()`), chunks generated, the most
//! chunks resident, and in how many frames the chunk under the observer had no mesh yet.
//!
//! ```text
//! cargo run --release --example flythrough -- --speed 100 --seconds 30
//! cargo run --release --example flythrough -- --speed 100 --seconds 30 --sync   # baseline
//! cargo run --release --example flythrough -- --world path/to/my.world.ron
//! ```
//!
//! `--sync` generates chunks on the frame thread instead of the async compute pool, to show what
//! background generation buys. Scatter (trees, rocks, grass) is on; `--no-scatter` leaves it
//! out, the baseline for what it costs.

use std::path::PathBuf;
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

mod common;

use aigc_world::config::{ActiveWorld, WorldConfigStatus};
use aigc_world::prelude::*;
use aigc_world::terrain::{StreamingMode, TerrainSampler};
use bevy::prelude::*;
use bevy::time::TimeUpdateStrategy;

const FRAME: Duration = Duration::from_nanos(16_666_667);

struct Args {
    world: PathBuf,
    speed: f32,
    seconds: f32,
    sync: bool,
    no_scatter: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        world: PathBuf::from("assets/worlds/default.world.ron"),
        speed: 100.0,
        seconds: 30.0,
        sync: false,
        no_scatter: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--world" => args.world = PathBuf::from(value("--world")?),
            "--speed" => {
                args.speed = value("--speed")?
                    .parse()
                    .map_err(|e| format!("--speed: {e}"))?
            }
            "--seconds" => {
                args.seconds = value("--seconds")?
                    .parse()
                    .map_err(|e| format!("--seconds: {e}"))?
            }
            "--sync" => args.sync = true,
            "--no-scatter" => args.no_scatter = true,
            "--help" | "-h" => {
                return Err(
                    "usage: flythrough [--world PATH] [--speed M_PER_S] [--seconds S] [--sync] [--no-scatter]"
                        .into(),
                );
            }
            other => return Err(format!("unknown argument {other} (try --help)")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let mut app = App::new();
    // The world file's folder becomes an asset source, so any path works and still hot-reloads.
    let world_path = match common::world_source(&mut app, &args.world) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let mut group = AigcWorldPlugin.set(WorldConfigPlugin {
        path: Some(world_path),
    });
    if args.no_scatter {
        group = group.disable::<ScatterPlugin>();
    }
    app.add_plugins((
        // Generation threads at background priority, as a game on two cores should run them.
        MinimalPlugins.set(aigc_world::background::task_pool_plugin()),
        bevy::log::LogPlugin::default(),
        TransformPlugin,
        AssetPlugin::default(),
        group,
    ))
    .insert_resource(TimeUpdateStrategy::ManualDuration(FRAME))
    .insert_resource(TerrainSettings {
        mode: if args.sync {
            StreamingMode::Blocking
        } else {
            StreamingMode::Background
        },
        ..default()
    });
    app.finish();
    app.cleanup();

    // Wait for the file (or its error).
    let started = Instant::now();
    loop {
        app.update();
        let status = app.world().resource::<WorldConfigStatus>();
        if let Some(e) = &status.last_error {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
        if status.loads > 0 {
            break;
        }
        if started.elapsed() > Duration::from_secs(10) {
            eprintln!("{} did not load", args.world.display());
            return ExitCode::FAILURE;
        }
        thread::sleep(Duration::from_millis(1));
    }

    let ground = |app: &App, x: f32| app.world().resource::<TerrainSampler>().height_at(x, 0.0);
    let altitude = 60.0;
    let y = ground(&app, 0.0).max(0.0) + altitude;
    let observer = app
        .world_mut()
        .spawn((
            WorldObserver::default(),
            Transform::from_xyz(0.0, y, 0.0).looking_to(Vec3::new(1.0, -0.15, 0.0), Vec3::Y),
        ))
        .id();

    // The loading screen: the starting area settles before the flight is timed.
    loop {
        let start = Instant::now();
        app.update();
        if app.world().resource::<TerrainStats>().is_settled() {
            break;
        }
        thread::sleep(FRAME.saturating_sub(start.elapsed()));
    }

    let frames = (args.seconds * 60.0).round() as usize;
    let step = args.speed / 60.0;
    let generated_before = app.world().resource::<TerrainStats>().generated_total;
    let mut times = Vec::with_capacity(frames);
    let mut resident_max = 0;
    let mut scatter_entities_max = 0;
    let mut scatter_instances_max = 0;
    let mut outran = 0;
    let mut x = 0.0f32;
    let size = app.world().resource::<ActiveWorld>().config().chunk.size_m as f32;
    for _ in 0..frames {
        x += step;
        let y = ground(&app, x).max(0.0) + altitude;
        if let Some(mut t) = app.world_mut().get_mut::<Transform>(observer) {
            t.translation = Vec3::new(x, y, 0.0);
        }
        let start = Instant::now();
        app.update();
        let took = start.elapsed();
        times.push(took.as_secs_f64() * 1000.0);

        let stats = app.world().resource::<TerrainStats>();
        resident_max = resident_max.max(stats.resident);
        if let Some(scatter) = app.world().get_resource::<ScatterStats>() {
            scatter_entities_max = scatter_entities_max.max(scatter.entities);
            scatter_instances_max = scatter_instances_max.max(scatter.instances);
        }
        let under = ((x / size).floor() as i32, 0);
        let mut chunks = app.world_mut().query::<&TerrainChunk>();
        let ready = chunks
            .iter(app.world())
            .any(|c| (c.x, c.z) == under && c.vertex_step > 0);
        if !ready {
            outran += 1;
        }
        thread::sleep(FRAME.saturating_sub(took));
    }

    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((times.len() as f64 - 1.0) * p).round() as usize];
    let generated = app.world().resource::<TerrainStats>().generated_total - generated_before;
    let (scatter_chunks, scatter_ms) = app
        .world()
        .get_resource::<ScatterStats>()
        .map_or((0, 0.0), |s| (s.placed_total, s.mean_place_ms));
    println!(
        "flythrough: speed={} frames={} p50_ms={:.2} p99_ms={:.2} max_ms={:.2} chunks_generated={} resident_max={} outran={} scatter_chunks={} scatter_ms_per_chunk={:.2} scatter_entities_max={} scatter_instances_max={}",
        args.speed,
        times.len(),
        pct(0.5),
        pct(0.99),
        times.last().copied().unwrap_or(0.0),
        generated,
        resident_max,
        outran,
        scatter_chunks,
        scatter_ms,
        scatter_entities_max,
        scatter_instances_max
    );
    ExitCode::SUCCESS
}
