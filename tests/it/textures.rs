//! Biome textures: procedural layers first, learned ones when their models load, and one
//! warning (then the procedural texture) for a missing or corrupt model.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use aigc_world::ai::nca::NcaWeights;
use aigc_world::ai::{AiDiagnostics, AiRuntimePlugin};
use aigc_world::config::WorldConfigPlugin;
use aigc_world::texture::{BiomeTextures, TexturePlugin, TextureSource, TextureStatus};
use bevy::diagnostic::{DiagnosticPath, DiagnosticsStore};
use bevy::prelude::*;

/// A texture file with three materials: one whose model is missing, one whose model is
/// corrupt, one whose model is fine.
const TEXTURES: &str = r#"(
    size: 16,
    metres_per_tile: 2.0,
    seed: 3,
    materials: {
        "missing": (layers: [(kind: Fbm, frequency: 2)], colors: [(0.0, (0.1, 0.5, 0.1))], model: Some("models/missing.nca")),
        "corrupt": (layers: [(kind: Cells, frequency: 3)], colors: [(0.0, (0.8, 0.7, 0.5))], model: Some("models/corrupt.nca")),
        "good": (layers: [(kind: Ridged, frequency: 2)], colors: [(0.0, (0.4, 0.4, 0.4)), (1.0, (0.6, 0.6, 0.6))], model: Some("models/good.nca")),
    },
    biomes: { "grassland": "missing", "beach": "corrupt" },
    fallback: "good",
)"#;

fn asset_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aigc_world_it_{name}_{}", std::process::id()));
    std::fs::create_dir_all(dir.join("models")).unwrap();
    std::fs::write(dir.join("test.textures.ron"), TEXTURES).unwrap();
    std::fs::write(dir.join("models/good.nca"), good_weights(1.0).to_bytes()).unwrap();
    let mut corrupt = good_weights(1.0).to_bytes();
    corrupt[40] ^= 0xff;
    std::fs::write(dir.join("models/corrupt.nca"), corrupt).unwrap();
    dir
}

/// A small working model; `scale` varies its update rule.
fn good_weights(scale: f32) -> NcaWeights {
    NcaWeights {
        channels: 4,
        hidden: 4,
        steps: 4,
        fire_rate: 0.5,
        w1: (0..64)
            .map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.05)
            .collect(),
        b1: vec![0.1, -0.1, 0.05, 0.0],
        w2: (0..16)
            .map(|i| ((i * 13 % 7) as f32 - 3.0) * 0.05 * scale)
            .collect(),
    }
}

fn app(dir: &std::path::Path) -> App {
    let mut app = App::new();
    app.add_plugins((
        MinimalPlugins,
        AssetPlugin {
            file_path: dir.display().to_string(),
            // Tests reload explicitly, so a file watcher cannot add a second event.
            watch_for_changes_override: Some(false),
            ..default()
        },
        WorldConfigPlugin { path: None },
        AiRuntimePlugin {
            config_path: None,
            ..default()
        },
        TexturePlugin {
            path: Some("test.textures.ron".into()),
            learned: true,
        },
    ));
    app.finish();
    app.cleanup();
    app
}

/// Updates until `done` or 30 s (asset and worker threads need real time, not frames).
fn run_until(app: &mut App, mut done: impl FnMut(&App) -> bool) {
    let start = Instant::now();
    while !done(app) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{:?}",
            app.world().resource::<TextureStatus>()
        );
        app.update();
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn layers_fill_and_bad_models_fall_back_with_one_warning_each() {
    let dir = asset_dir("fallback");
    let mut app = app(&dir);
    run_until(&mut app, |app| {
        let status = app.world().resource::<TextureStatus>();
        status.materials.get("good") == Some(&TextureSource::Learned)
            && status
                .materials
                .values()
                .filter(|s| matches!(s, TextureSource::Fallback(_)))
                .count()
                == 2
            && app.world().resource::<BiomeTextures>().version >= 1
    });
    // A few more frames: no warning may repeat.
    for _ in 0..20 {
        app.update();
    }
    let status = app.world().resource::<TextureStatus>().clone();
    assert_eq!(status.warnings.len(), 2, "{:?}", status.warnings);
    let missing = status
        .warnings
        .iter()
        .find(|w| w.contains("models/missing.nca"))
        .unwrap();
    assert!(missing.contains("procedural"), "{missing}");
    let corrupt = status
        .warnings
        .iter()
        .find(|w| w.contains("models/corrupt.nca"))
        .unwrap();
    assert!(corrupt.contains("checksum"), "{corrupt}");
    assert!(
        matches!(&status.materials["missing"], TextureSource::Fallback(r) if r.contains("missing.nca") || r.contains("not found") || r.contains("No such"))
    );

    // Layer 0 (seabed) and others use the fallback "good"; grassland and beach their own.
    let world = app
        .world()
        .resource::<aigc_world::config::ActiveWorld>()
        .config()
        .clone();
    let index = |name: &str| {
        world
            .biomes
            .table
            .iter()
            .position(|b| b.name == name)
            .unwrap()
    };
    assert_eq!(status.layers[index("grassland")], "missing");
    assert_eq!(status.layers[index("beach")], "corrupt");
    assert_eq!(status.layers[index("rock")], "good");

    // The worker's numbers reach Bevy's diagnostics: nothing waiting, CPU backend, a time.
    let store = app.world().resource::<DiagnosticsStore>();
    let value = |path: DiagnosticPath| store.get(&path).and_then(|d| d.value());
    assert_eq!(value(AiDiagnostics::REQUESTS_WAITING), Some(0.0));
    assert_eq!(value(AiDiagnostics::BACKEND_GPU), Some(0.0));
    assert!(value(AiDiagnostics::INFERENCE_MS).is_some_and(|ms| ms > 0.0));

    let textures = app.world().resource::<BiomeTextures>().clone();
    assert_eq!(textures.metres_per_tile, 2.0);
    let images = app.world().resource::<Assets<Image>>();
    let albedo = images.get(textures.albedo.as_ref().unwrap()).unwrap();
    assert_eq!(albedo.texture_descriptor.size.depth_or_array_layers, 8);
    assert_eq!(albedo.texture_descriptor.size.width, 16);
    assert!(albedo.texture_descriptor.format.is_srgb());
    let normal = images
        .get(textures.normal_roughness.as_ref().unwrap())
        .unwrap();
    assert!(!normal.texture_descriptor.format.is_srgb());
    assert_eq!(
        normal.data.as_ref().unwrap().len(),
        albedo.data.as_ref().unwrap().len()
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn without_models_the_procedural_layers_still_arrive() {
    let dir = asset_dir("procedural");
    let mut app = App::new();
    app.add_plugins((
        MinimalPlugins,
        AssetPlugin {
            file_path: dir.display().to_string(),
            ..default()
        },
        WorldConfigPlugin { path: None },
        TexturePlugin {
            path: Some("test.textures.ron".into()),
            learned: false,
        },
    ));
    app.finish();
    app.cleanup();
    run_until(&mut app, |app| {
        let status = app.world().resource::<TextureStatus>();
        app.world().resource::<BiomeTextures>().albedo.is_some()
            && status.materials.len() == 3
            && status
                .materials
                .values()
                .all(|s| *s == TextureSource::Procedural)
    });
    assert!(app.world().resource::<TextureStatus>().warnings.is_empty());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn edited_models_regrow_and_a_broken_edit_keeps_the_last_good_model() {
    let dir = asset_dir("reload");
    let mut app = app(&dir);
    let settled = |app: &App, material: &str, source: TextureSource| {
        let status = app.world().resource::<TextureStatus>();
        status.materials.get(material) == Some(&source) && !status.busy
    };
    run_until(&mut app, |app| settled(app, "good", TextureSource::Learned));
    let albedo = |app: &App| {
        let textures = app.world().resource::<BiomeTextures>();
        let images = app.world().resource::<Assets<Image>>();
        images
            .get(textures.albedo.as_ref().unwrap())
            .unwrap()
            .data
            .clone()
            .unwrap()
    };
    let first = albedo(&app);
    let generated = app.world().resource::<TextureStatus>().generated;
    let reload = |app: &mut App, path: &str, bytes: Vec<u8>| {
        std::fs::write(dir.join(path), bytes).unwrap();
        app.world()
            .resource::<AssetServer>()
            .reload(path.to_owned());
    };

    // A retrained model: its texture grows again and replaces the old one.
    reload(&mut app, "models/good.nca", good_weights(-1.5).to_bytes());
    run_until(&mut app, |app| {
        app.world().resource::<TextureStatus>().generated > generated
            && settled(app, "good", TextureSource::Learned)
    });
    let second = albedo(&app);
    assert_ne!(
        first, second,
        "the edited model's texture must replace the old one"
    );

    // A broken edit: one warning naming the file; the last good model and texture stay.
    let mut broken = good_weights(2.0).to_bytes();
    broken.truncate(30);
    reload(&mut app, "models/good.nca", broken);
    run_until(&mut app, |app| {
        app.world().resource::<TextureStatus>().warnings.len() == 3
    });
    for _ in 0..20 {
        app.update();
    }
    run_until(&mut app, |app| settled(app, "good", TextureSource::Learned));
    let status = app.world().resource::<TextureStatus>().clone();
    assert_eq!(status.warnings.len(), 3, "{:?}", status.warnings);
    let warning = &status.warnings[2];
    assert!(
        warning.contains("models/good.nca") && warning.contains("keeping the last good model"),
        "{warning}"
    );
    assert_eq!(albedo(&app), second);

    // Fixing the corrupt model brings its learned texture in.
    reload(&mut app, "models/corrupt.nca", good_weights(0.5).to_bytes());
    run_until(&mut app, |app| {
        settled(app, "corrupt", TextureSource::Learned)
    });
    assert_eq!(app.world().resource::<TextureStatus>().warnings.len(), 3);
    let _ = std::fs::remove_dir_all(dir);
}
