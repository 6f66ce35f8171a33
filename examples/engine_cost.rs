//! What Bevy itself charges a frame for the kinds of things the plugin adds at rest, measured
//! on empty apps updated in turn (interleaved, so all see the machine in the same state):
//! `AssetPlugin`, one asset type per file kind, a hundred systems whose run conditions say no
//! (as the plugin's do at rest), the same hundred behind one set condition, 57 of them in a
//! schedule of their own on the single-threaded executor (as the plugin's `AigcWorldUpdate`),
//! entities with transforms (scatter objects under their chunks, or the same number with no
//! hierarchy), a replica of the flight at rest (`AssetPlugin`, three asset types, the 57
//! systems, its 2,496 entities), and one entity whose transform is written every frame (a
//! camera controller that assigns its camera's position whether or not it moved).
//!
//! ```text
//! cargo run --release --example engine_cost -- --frames 3000
//! ```
//!
//! Prints one line per app: median, 90th and 99th percentile of `app.update()` in ms. Read the
//! lines against each other: `minimal` is the flythrough's empty baseline.

use std::time::{Duration, Instant};

use bevy::prelude::*;
use bevy::time::TimeUpdateStrategy;

macro_rules! asset_types {
    ($($name:ident),*) => {
        $( #[derive(Asset, TypePath)] struct $name; )*
        /// Adds the first `n` of the asset types.
        fn add_asset_types(app: &mut App, n: usize) {
            let adds: &[fn(&mut App)] = &[$( |app| { app.init_asset::<$name>(); } ),*];
            for add in adds.iter().take(n) {
                add(app);
            }
        }
    };
}
asset_types!(A0, A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, A11);

#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
struct Gated;

fn never() -> bool {
    false
}

fn nothing() {}

/// What one app has besides `MinimalPlugins` and transforms.
#[derive(Default)]
struct Setup {
    assets: bool,
    asset_types: usize,
    skipped_systems: usize,
    gated: bool,
    /// Parents, each with `children` children, all with a `Transform`.
    parents: usize,
    /// Children of each parent.
    children: usize,
    /// Entities with a `Transform` and no hierarchy.
    flat: usize,
    /// Writes one entity's `Transform` every frame (to the same value), as a camera controller
    /// that always assigns its camera's position does.
    touch: bool,
    /// Systems whose run conditions say no, in a schedule of their own after `Update` with the
    /// single-threaded executor (as the plugin's `AigcWorldUpdate`).
    own_schedule: usize,
}

#[derive(bevy::ecs::schedule::ScheduleLabel, Debug, Clone, PartialEq, Eq, Hash)]
struct OwnUpdate;

#[derive(Component)]
struct Touched;

fn touch(mut touched: Query<&mut Transform, With<Touched>>) {
    for mut t in &mut touched {
        t.translation.x += 0.0;
    }
}

fn app(setup: &Setup) -> App {
    let mut app = App::new();
    app.add_plugins((
        MinimalPlugins.set(aigc_world::background::task_pool_plugin()),
        TransformPlugin,
    ))
    .insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_secs_f64(
        1.0 / 60.0,
    )));
    if setup.assets {
        app.add_plugins(AssetPlugin::default());
    }
    add_asset_types(&mut app, setup.asset_types);
    if setup.gated {
        app.configure_sets(Update, Gated.run_if(never));
    }
    for _ in 0..setup.skipped_systems {
        if setup.gated {
            app.add_systems(Update, nothing.run_if(never).in_set(Gated));
        } else {
            app.add_systems(Update, nothing.run_if(never));
        }
    }
    for _ in 0..setup.parents {
        app.world_mut()
            .spawn(Transform::default())
            .with_children(|parent| {
                for _ in 0..setup.children {
                    parent.spawn(Transform::default());
                }
            });
    }
    if setup.own_schedule > 0 {
        let mut schedule = Schedule::new(OwnUpdate);
        schedule.set_executor(bevy::ecs::schedule::SingleThreadedExecutor::new());
        app.add_schedule(schedule);
        app.world_mut()
            .resource_mut::<bevy::app::MainScheduleOrder>()
            .insert_after(Update, OwnUpdate);
        for _ in 0..setup.own_schedule {
            app.add_systems(OwnUpdate, nothing.run_if(never));
        }
    }
    if setup.touch {
        app.world_mut().spawn((Transform::default(), Touched));
        app.add_systems(Update, touch);
    }
    for _ in 0..setup.flat {
        app.world_mut().spawn(Transform::default());
    }
    app.finish();
    app.cleanup();
    app
}

fn main() {
    let mut frames = 3000usize;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match (flag.as_str(), args.next().and_then(|v| v.parse().ok())) {
            ("--frames", Some(n)) => frames = n,
            _ => {
                eprintln!("usage: engine_cost [--frames N]");
                std::process::exit(2);
            }
        }
    }
    let assets = |asset_types, skipped_systems, gated| Setup {
        assets: true,
        asset_types,
        skipped_systems,
        gated,
        ..default()
    };
    let setups = [
        ("minimal", Setup::default()),
        ("+ AssetPlugin", assets(0, 0, false)),
        ("+ AssetPlugin, 12 asset types", assets(12, 0, false)),
        (
            "+ AssetPlugin, 12 types, 100 skipped systems",
            assets(12, 100, false),
        ),
        (
            "+ AssetPlugin, 12 types, 100 systems in a skipped set",
            assets(12, 100, true),
        ),
        (
            "+ AssetPlugin, 3 asset types, 57 skipped systems in an own schedule, the flight's entities",
            Setup {
                assets: true,
                asset_types: 3,
                own_schedule: 57,
                parents: 416,
                children: 4,
                flat: 416,
                ..default()
            },
        ),
        (
            "+ AssetPlugin, 57 skipped systems in an own schedule",
            Setup {
                assets: true,
                own_schedule: 57,
                ..default()
            },
        ),
        (
            "minimal + 832 entities",
            Setup {
                parents: 52,
                children: 15,
                ..default()
            },
        ),
        (
            "minimal + 13,312 entities (832 with 15 children each)",
            Setup {
                parents: 832,
                children: 15,
                ..default()
            },
        ),
        (
            "minimal + 832 roots, 416 of them with 4 children (the flight at rest)",
            Setup {
                parents: 416,
                children: 4,
                flat: 416,
                ..default()
            },
        ),
        (
            "minimal + the flight at rest, its camera's transform written every frame",
            Setup {
                parents: 416,
                children: 4,
                flat: 416,
                touch: true,
                ..default()
            },
        ),
        (
            "minimal + one entity whose transform is written every frame",
            Setup {
                touch: true,
                ..default()
            },
        ),
        (
            "minimal + the same 2,496 entities, no hierarchy",
            Setup {
                flat: 2496,
                ..default()
            },
        ),
        (
            "minimal + 832 entities, no hierarchy",
            Setup {
                flat: 832,
                ..default()
            },
        ),
    ];
    let mut apps: Vec<(&str, App, Vec<f64>)> = setups
        .iter()
        .map(|(name, setup)| (*name, app(setup), Vec::with_capacity(frames)))
        .collect();
    for _ in 0..frames {
        for (_, app, times) in &mut apps {
            let start = Instant::now();
            app.update();
            times.push(start.elapsed().as_secs_f64() * 1000.0);
            // A frame's worth of rest between updates, as a game would leave.
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    for (name, _, mut times) in apps {
        times.sort_by(f64::total_cmp);
        let at = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
        println!(
            "{name}: p50_ms={:.3} p90_ms={:.3} p99_ms={:.3}",
            at(0.5),
            at(0.9),
            at(0.99)
        );
    }
}
