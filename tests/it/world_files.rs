//! World files: the shipped ones load, broken ones give precise errors and never panic, and hot
//! reload regenerates on a good edit and keeps the last good world on a bad one.

use std::path::Path;
use std::time::Duration;

use aigc_world::config::{
    ActiveWorld, ConfigErrorKind, DEFAULT_WORLD_RON, WorldConfigStatus, parse_world,
};
use aigc_world::prelude::*;
use aigc_world::terrain::TerrainSampler;
use bevy::asset::io::memory::Dir;
use bevy::prelude::*;
use bevy::time::TimeUpdateStrategy;

use crate::common::run_until;

#[test]
fn every_shipped_world_file_is_valid() {
    let mut count = 0;
    for entry in std::fs::read_dir("assets/worlds").expect("assets/worlds exists") {
        let path = entry.unwrap().path();
        // The folder holds other kinds too (scatter rules).
        if !path.to_string_lossy().ends_with(".world.ron") {
            continue;
        }
        let src = std::fs::read_to_string(&path).unwrap();
        if let Err(e) = parse_world(&src, &path.display().to_string()) {
            panic!("{e}");
        }
        count += 1;
    }
    assert!(count >= 1);
    assert_eq!(
        std::fs::read_to_string("assets/worlds/default.world.ron").unwrap(),
        DEFAULT_WORLD_RON
    );
}

#[test]
fn malformed_world_files_give_clear_errors_at_the_right_place() {
    let expected = std::fs::read_to_string("tests/world_corpus/expected.txt").unwrap();
    let mut checked = 0;
    for line in expected
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let parts: Vec<&str> = line.split(" | ").collect();
        let [file, position, text] = parts[..] else {
            panic!("bad line in expected.txt: {line}");
        };
        let src = std::fs::read_to_string(Path::new("tests/world_corpus").join(file)).unwrap();
        let err = parse_world(&src, file).expect_err(file);
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("{file}:{position}: ")),
            "{file}: expected position {position}, got {message}"
        );
        assert!(
            message.contains(text),
            "{file}: expected «{text}» in {message}"
        );
        checked += 1;
    }
    let files = std::fs::read_dir("tests/world_corpus")
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .to_string_lossy()
                .ends_with(".world.ron")
        })
        .count();
    assert_eq!(
        checked, files,
        "every corpus file needs a line in expected.txt"
    );
    assert!(checked >= 20);
}

#[test]
fn garbage_never_panics() {
    // Truncations and byte flips of a valid file: errors, never panics.
    let src = DEFAULT_WORLD_RON;
    let cut_points = (0..src.len())
        .step_by(97)
        .filter(|&i| src.is_char_boundary(i));
    for cut in cut_points {
        let _ = parse_world(&src[..cut], "cut.world.ron");
    }
    let bytes = src.as_bytes();
    for k in (0..bytes.len()).step_by(53) {
        let mut flipped = bytes.to_vec();
        flipped[k] = b"(){}[],:\"0aZ-."[k % 14];
        if let Ok(s) = std::str::from_utf8(&flipped) {
            let _ = parse_world(s, "flipped.world.ron");
        }
    }
}

const WORLD_PATH: &str = "worlds/test.world.ron";

fn memory_app(dir: &Dir) -> App {
    let mut app = crate::common::memory_app(
        dir,
        (
            TransformPlugin,
            AigcWorldPlugin
                .set(WorldConfigPlugin {
                    path: Some(WORLD_PATH.into()),
                })
                .set(LanguageModelPlugin { path: None }),
        ),
    );
    app.insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_secs_f64(
        1.0 / 60.0,
    )));
    app
}

fn small_world(seed: u64) -> String {
    DEFAULT_WORLD_RON
        .replacen("seed: 1337", &format!("seed: {seed}"), 1)
        .replacen("view_radius_m: 1000.0", "view_radius_m: 200.0", 1)
}

#[test]
fn hot_reload_applies_good_edits_and_keeps_the_last_good_world_on_bad_ones() {
    let dir = Dir::default();
    dir.insert_asset_text(Path::new(WORLD_PATH), &small_world(5));
    let mut app = memory_app(&dir);
    app.world_mut()
        .spawn((WorldObserver::default(), Transform::default()));

    // The file replaces the built-in world, and terrain settles around the observer.
    run_until(&mut app, 600, |app| {
        app.world().resource::<ActiveWorld>().config().seed == 5
            && app.world().resource::<TerrainStats>().is_settled()
    });
    let version = app.world().resource::<ActiveWorld>().version();
    let height = app
        .world()
        .resource::<TerrainSampler>()
        .height_at(10.0, 10.0);
    let generated = app.world().resource::<TerrainStats>().generated_total;

    // A good edit: new seed, new version, chunks regenerate, heights change.
    dir.insert_asset_text(Path::new(WORLD_PATH), &small_world(6));
    app.world().resource::<AssetServer>().reload(WORLD_PATH);
    run_until(&mut app, 600, |app| {
        app.world().resource::<ActiveWorld>().config().seed == 6
            && app.world().resource::<TerrainStats>().is_settled()
    });
    assert_eq!(app.world().resource::<ActiveWorld>().version(), version + 1);
    let new_height = app
        .world()
        .resource::<TerrainSampler>()
        .height_at(10.0, 10.0);
    assert_ne!(height, new_height);
    let regenerated = app.world().resource::<TerrainStats>().generated_total - generated;
    let resident = app.world().resource::<TerrainStats>().resident as u64;
    assert!(
        regenerated >= resident,
        "{regenerated} regenerated, {resident} resident"
    );

    // A bad edit: an unknown field. The world stays, and the error names the place.
    let broken = small_world(7).replacen("    seed: 7,", "    seed: 7,\n    sed: 8,", 1);
    let line = broken.lines().position(|l| l == "    sed: 8,").unwrap() + 1;
    dir.insert_asset_text(Path::new(WORLD_PATH), &broken);
    app.world().resource::<AssetServer>().reload(WORLD_PATH);
    run_until(&mut app, 300, |app| {
        app.world()
            .resource::<WorldConfigStatus>()
            .last_error
            .is_some()
    });
    let error = app
        .world()
        .resource::<WorldConfigStatus>()
        .last_error
        .clone()
        .unwrap();
    assert_eq!(
        (error.file.as_str(), error.line, error.column),
        (WORLD_PATH, line, 5)
    );
    assert!(matches!(error.kind, ConfigErrorKind::Syntax(ref m) if m.contains("`sed`")));
    for _ in 0..30 {
        app.update();
    }
    let world = app.world().resource::<ActiveWorld>();
    assert_eq!((world.config().seed, world.version()), (6, version + 1));
    assert_eq!(
        app.world()
            .resource::<TerrainSampler>()
            .height_at(10.0, 10.0),
        new_height
    );

    // Fixing the file recovers and clears the error.
    dir.insert_asset_text(Path::new(WORLD_PATH), &small_world(8));
    app.world().resource::<AssetServer>().reload(WORLD_PATH);
    run_until(&mut app, 300, |app| {
        app.world().resource::<ActiveWorld>().config().seed == 8
    });
    assert!(
        app.world()
            .resource::<WorldConfigStatus>()
            .last_error
            .is_none()
    );
}

#[test]
fn a_missing_world_file_keeps_the_built_in_world() {
    let dir = Dir::default();
    let mut app = memory_app(&dir);
    for _ in 0..60 {
        app.update();
    }
    let world = app.world().resource::<ActiveWorld>();
    assert_eq!(world.config().seed, 1337);
    assert!(app.world().get_resource::<TerrainSampler>().is_some());
}
