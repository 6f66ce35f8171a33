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

/// Names of the `Update` systems that ran after `since`.
fn ran_since(app: &mut App, since: Tick) -> Vec<String> {
    let now = app.world_mut().change_tick();
    let schedules = app.world().resource::<Schedules>();
    let update = schedules.get(Update).expect("an Update schedule");
    update
        .systems()
        .expect("Update ran")
        .filter(|(_, system)| system.get_last_run().is_newer_than(since, now))
        .map(|(_, system)| system.name().to_string())
        .collect()
}

#[test]
fn a_world_at_rest_runs_none_of_the_plugins_systems() {
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
    // Trailing work: last counts, timings going back to zero.
    for _ in 0..5 {
        app.update();
    }

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
