//! A world at rest costs the frame nothing (issue 12, item 2): once everything around a still
//! observer is built, none of the plugin's systems runs, even when the game rewrites the
//! observer's transform with the same value every frame (as many camera controllers do). Run
//! conditions skip them, so the executor does not even start a task for them.

use aigc_world::npc::NpcStats;
use aigc_world::texture::TextureStatus;
use bevy::ecs::change_detection::Tick;
use bevy::prelude::*;

use aigc_world::prelude::*;

use crate::common::{run_until, scatter_app};

/// The tick before `since` (a `World::change_tick` read before a frame): the first system to
/// run in the frame is handed `since` itself, and counts as having run.
fn just_before(since: Tick) -> Tick {
    Tick::new(since.get().wrapping_sub(1))
}

/// Names of the systems of the plugin's schedule that ran after `since`.
fn ran_since(app: &mut App, since: Tick) -> Vec<String> {
    let (since, now) = (just_before(since), app.world_mut().change_tick());
    let schedules = app.world().resource::<Schedules>();
    let update = schedules
        .get(AigcWorldUpdate)
        .expect("the plugin's schedule");
    update
        .systems()
        .expect("the plugin's schedule ran")
        .filter(|(_, system)| system.get_last_run().is_newer_than(since, now))
        .map(|(_, system)| system.name().to_string())
        .collect()
}

/// A scatter app with a still observer, run until everything around it is built and the
/// trailing work (last counts, timings going back to zero) is done. Returns the app, the
/// observer and its transform.
fn world_at_rest() -> (App, Entity, Transform) {
    let mut app = scatter_app();
    // A stopped clock: a moving sun is a change the clock's system makes every frame.
    app.world_mut().resource_mut::<WorldClock>().speed = 0.0;
    let at = Transform::from_xyz(0.0, 90.0, 0.0).looking_to(Vec3::X, Vec3::Y);
    let observer = app.world_mut().spawn((WorldObserver::default(), at)).id();
    run_until(&mut app, 20_000, |app| {
        let world = app.world();
        world.resource::<TerrainStats>().is_settled()
            && world.resource::<ScatterStats>().is_settled()
            && world.resource::<NpcStats>().is_settled()
            && !world.resource::<TextureStatus>().busy
    });
    for _ in 0..5 {
        app.update();
    }
    (app, observer, at)
}

#[test]
fn a_world_at_rest_runs_none_of_the_plugins_systems() {
    let (mut app, observer, at) = world_at_rest();

    let since = app.world_mut().change_tick();
    for _ in 0..20 {
        // The same transform, written again: change detection fires, nothing moved.
        *app.world_mut()
            .get_mut::<Transform>(observer)
            .expect("the observer") = at;
        app.update();
    }
    let ran = ran_since(&mut app, since);
    assert!(ran.is_empty(), "systems ran at rest: {ran:?}");

    // And the same app wakes up when the observer really moves.
    app.world_mut()
        .get_mut::<Transform>(observer)
        .expect("the observer")
        .translation
        .x += 400.0;
    let since = app.world_mut().change_tick();
    // Positions are read from `GlobalTransform`, which follows `Transform` after `Update`.
    app.update();
    app.update();
    let ran = ran_since(&mut app, since);
    assert!(
        ran.iter().any(|name| name.contains("plan_chunks")),
        "planning did not run after a move: {ran:?}"
    );
}

/// Names of the systems of every schedule that ran after `since`.
fn ran_anywhere_since(app: &mut App, since: Tick) -> Vec<String> {
    let (since, now) = (just_before(since), app.world_mut().change_tick());
    let schedules = app.world().resource::<Schedules>();
    let mut ran: Vec<String> = schedules
        .iter()
        .filter_map(|(label, schedule)| Some((label, schedule.systems().ok()?)))
        .flat_map(|(label, systems)| {
            systems
                .filter(|(_, system)| system.get_last_run().is_newer_than(since, now))
                .map(move |(_, system)| format!("{label:?}: {}", system.name()))
        })
        .collect();
    ran.sort();
    ran
}

/// The same in every schedule, against a bare app with the engine plugins the plugin needs
/// (`MinimalPlugins`, transforms, assets): what the plugin adds to a frame at rest is Bevy's
/// asset tracking for its asset types (about 2 µs a frame each on a slow two-core box).
#[test]
fn at_rest_the_plugin_adds_only_asset_tracking_to_a_frame() {
    let mut bare = crate::common::app_with_plugins(());
    for _ in 0..5 {
        bare.update();
    }
    let since = bare.world_mut().change_tick();
    bare.update();
    let engine = ran_anywhere_since(&mut bare, since);

    let (mut app, _, _) = world_at_rest();
    let since = app.world_mut().change_tick();
    app.update();
    let ours: Vec<String> = ran_anywhere_since(&mut app, since)
        .into_iter()
        .filter(|name| !engine.contains(name))
        .collect();
    // Bevy runs one `track_assets` per asset type every frame, whatever happens; nothing else
    // the plugin adds, in any schedule, may run at rest.
    let others: Vec<&String> = ours
        .iter()
        .filter(|name| !name.ends_with("::track_assets"))
        .collect();
    assert!(others.is_empty(), "ran at rest: {others:#?}");
    assert!(
        ours.len() <= 3,
        "one asset type for every file kind, plus meshes and images: {ours:#?}"
    );
}

/// Threads the [`record_thread`] systems ran on.
static PRE_UPDATE_THREADS: std::sync::Mutex<Vec<std::thread::ThreadId>> =
    std::sync::Mutex::new(Vec::new());

fn record_thread() {
    PRE_UPDATE_THREADS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(std::thread::current().id());
}

/// Where Bevy's compute pool has one thread (its default on two cores, as on CI), the plugin
/// runs `PreUpdate` on the frame thread: Bevy's asset tracking there, split across the frame
/// thread and the pool's one thread, waits on the asset server's lock (BENCHMARKS.md).
#[test]
fn with_one_compute_thread_pre_update_runs_on_the_frame_thread() {
    let mut app = crate::common::app_with_plugins(aigc_world::clock::ClockPlugin);
    if bevy::tasks::ComputeTaskPool::get().thread_num() > 1 {
        // More threads: Bevy's executor stays, and there is nothing to check.
        return;
    }
    // Independent systems, which a multi-threaded executor would hand to the pool's thread too.
    app.add_systems(
        PreUpdate,
        (
            record_thread,
            record_thread,
            record_thread,
            record_thread,
            record_thread,
            record_thread,
        ),
    );
    for _ in 0..30 {
        app.update();
    }
    let frame_thread = std::thread::current().id();
    let seen = PRE_UPDATE_THREADS.lock().unwrap_or_else(|e| e.into_inner());
    assert_eq!(seen.len(), 180);
    assert!(
        seen.iter().all(|id| *id == frame_thread),
        "{} of 180 runs were on another thread",
        seen.iter().filter(|id| **id != frame_thread).count()
    );
}
