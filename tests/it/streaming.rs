//! Chunks stream in around observers, follow them and go away behind them.

use aigc_world::config::ActiveWorld;
use aigc_world::prelude::*;
use aigc_world::terrain::TerrainChunk;
use bevy::prelude::*;

use crate::common::{headless_app, run_until};

#[test]
fn starting_area_generates_around_an_observer() {
    let mut app = headless_app();
    app.world_mut()
        .spawn((WorldObserver::default(), Transform::default()));
    run_until(&mut app, 3000, |app| {
        app.world().resource::<TerrainStats>().is_settled()
    });
    let stats = app.world().resource::<TerrainStats>().clone();
    assert!(stats.resident > 500, "{stats:?}");
    let mut q = app.world_mut().query::<(&TerrainChunk, &Mesh3d)>();
    assert_eq!(q.iter(app.world()).count(), stats.resident);
}

/// Chunks (as coordinates) whose square lies within `radius` of `p` in the xz plane.
fn chunks_within(p: Vec2, radius: f32, size: f32) -> Vec<(i32, i32)> {
    let mut out = Vec::new();
    let lo = ((p - radius) / size).floor();
    let hi = ((p + radius) / size).floor();
    for z in lo.y as i32..=hi.y as i32 {
        for x in lo.x as i32..=hi.x as i32 {
            let min = Vec2::new(x as f32, z as f32) * size;
            let d = (min - p).max(p - min - size).max(Vec2::ZERO).length();
            if d <= radius {
                out.push((x, z));
            }
        }
    }
    out
}

#[test]
fn chunks_follow_an_observer_across_thirty_chunks_and_stay_bounded() {
    let mut app = headless_app();
    let radius = 256.0;
    let observer = app
        .world_mut()
        .spawn((
            WorldObserver {
                view_radius_m: Some(f64::from(radius)),
            },
            Transform::from_xyz(0.0, 50.0, 0.0).looking_to(Vec3::X, Vec3::Y),
        ))
        .id();
    let (size, hysteresis, max_tasks) = {
        let config = app.world().resource::<ActiveWorld>().config().clone();
        (
            config.chunk.size_m as f32,
            config.streaming.hysteresis_m as f32,
            config.streaming.max_tasks_in_flight as usize,
        )
    };
    let side = (2.0 * (radius + hysteresis) / size).ceil() as usize + 2;
    let bound = side * side;

    let check_settled = |app: &mut App, x: f32| {
        run_until(app, 2000, |app| {
            app.world().resource::<TerrainStats>().is_settled()
        });
        let p = Vec2::new(x, 0.0);
        let mut q = app.world_mut().query::<(&TerrainChunk, Has<Mesh3d>)>();
        let present: Vec<(i32, i32)> = q
            .iter(app.world())
            .map(|(c, has_mesh)| {
                assert!(has_mesh && c.vertex_step > 0);
                (c.x, c.z)
            })
            .collect();
        for c in chunks_within(p, radius, size) {
            assert!(present.contains(&c), "chunk {c:?} missing at x = {x}");
        }
        let kept = chunks_within(p, radius + hysteresis, size);
        for c in &present {
            assert!(kept.contains(c), "chunk {c:?} still loaded at x = {x}");
        }
        present
    };

    let start = check_settled(&mut app, 0.0);
    assert!(start.contains(&(0, 0)));

    // Fly 30 chunks east at 8 m per frame, checking the bounds every frame.
    let distance = 30.0 * size;
    let mut x = 0.0;
    let mut frames = 0;
    while x < distance {
        x += 8.0;
        app.world_mut()
            .get_mut::<Transform>(observer)
            .unwrap()
            .translation
            .x = x;
        app.update();
        frames += 1;
        let stats = app.world().resource::<TerrainStats>().clone();
        assert!(stats.in_flight <= max_tasks, "{stats:?}");
        assert!(
            stats.chunks <= bound,
            "{} chunks > bound {bound}",
            stats.chunks
        );
        let entities = app.world().entities().count_spawned() as usize;
        // Chunks plus what lives on them (NPCs) and a few singletons: nothing may leak per chunk.
        assert!(entities <= 2 * bound + 64, "{entities} entities");
        if frames % 60 == 0 {
            check_settled(&mut app, x);
        }
    }
    let end = check_settled(&mut app, x);
    assert!(!end.contains(&(0, 0)), "the start chunk should be gone");
    let generated = app.world().resource::<TerrainStats>().generated_total;
    assert!(
        generated as usize > end.len() + 25 * 9,
        "{generated} generated"
    );
}

#[test]
fn chunks_in_front_of_the_observer_come_first_and_diagnostics_report() {
    use aigc_world::terrain::TerrainDiagnostics;
    use bevy::diagnostic::DiagnosticsStore;

    let mut app = headless_app();
    app.world_mut().spawn((
        WorldObserver::default(),
        Transform::from_xyz(0.0, 80.0, 0.0).looking_to(Vec3::X, Vec3::Y),
    ));
    run_until(&mut app, 600, |app| {
        app.world().resource::<TerrainStats>().resident >= 40
    });
    let mut q = app.world_mut().query::<(&TerrainChunk, Has<Mesh3d>)>();
    let shown: Vec<(i32, i32)> = q
        .iter(app.world())
        .filter(|(_, has_mesh)| *has_mesh)
        .map(|(c, _)| (c.x, c.z))
        .collect();
    let ahead = shown.iter().filter(|(x, _)| *x >= 0).count();
    assert!(
        ahead * 10 >= shown.len() * 8,
        "{ahead} of {} first chunks are ahead",
        shown.len()
    );
    let near = shown
        .iter()
        .filter(|(x, z)| x.abs() <= 8 && z.abs() <= 8)
        .count();
    assert_eq!(near, shown.len(), "the first chunks should be the nearest");

    let store = app.world().resource::<DiagnosticsStore>();
    for path in [
        TerrainDiagnostics::CHUNKS_RESIDENT,
        TerrainDiagnostics::CHUNKS_PENDING,
        TerrainDiagnostics::CHUNKS_IN_FLIGHT,
        TerrainDiagnostics::GENERATION_MS,
        TerrainDiagnostics::APPLY_MS,
    ] {
        let value = store.get(&path).and_then(|d| d.value());
        assert!(value.is_some(), "no measurement for {path}");
    }
    let resident = store
        .get(&TerrainDiagnostics::CHUNKS_RESIDENT)
        .and_then(|d| d.value())
        .unwrap();
    assert!(resident >= 40.0);
}

#[test]
fn chunks_left_behind_go_a_few_per_frame_and_all_go() {
    let mut app = headless_app();
    let observer = app
        .world_mut()
        .spawn((
            WorldObserver {
                view_radius_m: Some(300.0),
            },
            Transform::from_xyz(0.0, 50.0, 0.0),
        ))
        .id();
    run_until(&mut app, 3000, |app| {
        app.world().resource::<TerrainStats>().is_settled()
    });
    let chunks = |app: &mut App| {
        let mut q = app.world_mut().query::<&TerrainChunk>();
        q.iter(app.world())
            .filter(|c| c.x.abs() < 20 && c.z.abs() < 20)
            .count()
    };
    let before = chunks(&mut app);
    assert!(before > 20, "{before}");
    // A teleport far away: every chunk around the origin is out of reach at once.
    app.world_mut()
        .get_mut::<Transform>(observer)
        .unwrap()
        .translation = Vec3::new(100_000.0, 50.0, 0.0);
    // (The move reaches GlobalTransform after one frame; the next plans; the one after
    // despawns the first few.)
    for _ in 0..3 {
        app.update();
    }
    let after = chunks(&mut app);
    assert!(
        after > 0 && after < before,
        "spread over frames: {before} -> {after}"
    );
    let frames = run_until(&mut app, 200, |app| chunks(app) == 0);
    assert!(
        frames < 100,
        "all gone within a few dozen frames ({frames})"
    );
}
