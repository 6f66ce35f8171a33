//! The soak test (issue 15, item 3): a headless app with the whole plugin flies unpaced over
//! changing speeds and directions, talks to the NPCs it meets, hot-reloads a file of every kind
//! every few hundred frames, and has a second observer come and go. Entities, chunks, tasks in
//! flight and resident memory are sampled every 10,000 frames; they must stay bounded, and the
//! growth over the second half of the run is printed for BENCHMARKS.md.
//!
//! `SOAK_FRAMES=100000 nice -n 19 cargo test --test it soak -- --ignored --nocapture`
//! (default 100,000 frames).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aigc_world::prelude::*;
use bevy::asset::io::memory::Dir;
use bevy::prelude::*;
use bevy::time::TimeUpdateStrategy;

use crate::common::memory_app;

/// Resident set size of this process in bytes (Linux), or 0.
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// Every asset file of the crate's `assets` folder, by path inside it.
fn shipped_assets() -> Vec<(PathBuf, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    let mut stack = vec![root.clone()];
    let mut out = Vec::new();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                out.push((path.strip_prefix(&root).unwrap().to_path_buf(), bytes));
            }
        }
    }
    out
}

/// A valid edit of the file at `path` (its `n`-th version): a number changed, so it reloads.
fn edited(path: &Path, original: &[u8], n: u64) -> Vec<u8> {
    let text = String::from_utf8_lossy(original).into_owned();
    let name = path.to_string_lossy();
    let out = if name.ends_with(".world.ron") {
        text.replacen("seed: 1337", &format!("seed: {}", 1337 + n % 3), 1)
    } else if name.ends_with(".npc.ron") {
        text.replacen(
            "candidates_per_chunk: 2",
            &format!("candidates_per_chunk: {}", 1 + n % 3),
            1,
        )
    } else if name.ends_with(".grammar.ron") {
        text.replacen(
            "(text: \"Hello\",",
            &format!("(text: \"Hello{}\",", "o".repeat((n % 3) as usize)),
            1,
        )
    } else if name.ends_with(".textures.ron") {
        text.replacen("seed: 7,", &format!("seed: {},", 7 + n % 3), 1)
    } else if name.ends_with(".llm.ron") {
        text.replacen(
            "max_reply_tokens: 48",
            &format!("max_reply_tokens: {}", 40 + n % 3),
            1,
        )
    } else if name.ends_with(".ai.ron") {
        ["(backend: Cpu)", "(backend: Auto)"][(n % 2) as usize].to_owned()
    } else {
        // Binary models: the same bytes, reloaded.
        return original.to_vec();
    };
    out.into_bytes()
}

#[test]
#[ignore = "soak: minutes; see BENCHMARKS.md"]
fn soak() {
    let frames: u64 = std::env::var("SOAK_FRAMES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let dir = Dir::default();
    let mut files = shipped_assets();
    for (path, bytes) in &mut files {
        if path.to_string_lossy().ends_with(".llm.ron") {
            // No model file in memory: the grammar answers (the model path is the grammar's
            // fallback anyway, and a missing model would only warn on every reload).
            let text = String::from_utf8_lossy(bytes).into_owned();
            let start = text.find("backend:").unwrap();
            let end = start + text[start..].find("\n").unwrap();
            *bytes = format!("{}backend: Off,{}", &text[..start], &text[end..]).into_bytes();
        }
        dir.insert_asset(path, bytes.clone());
    }
    let mut app = memory_app(&dir, (TransformPlugin, AigcWorldPlugin));
    app.insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_secs_f64(
        1.0 / 60.0,
    )));
    let pilot = app
        .world_mut()
        .spawn((
            WorldObserver::default(),
            Transform::from_xyz(0.0, 60.0, 0.0),
        ))
        .id();
    let mut visitor = None;
    let (mut x, mut z, mut heading) = (0.0f32, 0.0f32, 0.0f32);
    let mut samples: Vec<(u64, usize, usize, usize, u64)> = Vec::new();
    let mut reloads = 0u64;
    let mut said = 0u64;
    let start = Instant::now();
    for frame in 1..=frames {
        // Speed swings between hovering and 12 m per frame; the heading turns slowly.
        let speed = 6.0 * (1.0 - (frame as f32 / 900.0).cos());
        heading += 0.004 * (frame as f32 / 2500.0).sin();
        x += speed * heading.cos();
        z += speed * heading.sin();
        app.world_mut()
            .get_mut::<Transform>(pilot)
            .unwrap()
            .translation = Vec3::new(x, 60.0, z);
        // A second observer comes for 2,500 frames in every 5,000, far from the first.
        match (frame % 5_000, visitor) {
            (0, None) => {
                visitor = Some(
                    app.world_mut()
                        .spawn((
                            WorldObserver::default(),
                            Transform::from_xyz(x + 3_000.0, 60.0, z),
                        ))
                        .id(),
                )
            }
            (2_500, Some(v)) => {
                app.world_mut().despawn(v);
                visitor = None;
            }
            _ => {}
        }
        // A file of the next kind changes every 300 frames.
        if frame % 300 == 0 {
            let (path, original) = &files[(reloads % files.len() as u64) as usize];
            dir.insert_asset(
                path,
                edited(path, original, reloads / files.len() as u64 + 1),
            );
            app.world()
                .resource::<AssetServer>()
                .reload(path.to_string_lossy().into_owned());
            reloads += 1;
        }
        // Every 200 frames, a line to the nearest NPC.
        if frame % 200 == 0 {
            let mut q = app.world_mut().query::<(Entity, &GlobalTransform, &Npc)>();
            let here = Vec3::new(x, 60.0, z);
            let nearest = q
                .iter(app.world())
                .min_by(|a, b| {
                    let (da, db) = (
                        a.1.translation().distance(here),
                        b.1.translation().distance(here),
                    );
                    da.total_cmp(&db)
                })
                .map(|(e, _, _)| e);
            if let Some(e) = nearest {
                app.world_mut()
                    .write_message(SayToNpc::new(e, format!("hello, any news? {frame}")));
                said += 1;
            }
        }
        app.update();
        if frame % 10_000 == 0 {
            let stats = app.world().resource::<TerrainStats>().clone();
            let entities = app.world().entities().count_spawned() as usize;
            samples.push((frame, entities, stats.chunks, stats.in_flight, rss_bytes()));
            println!(
                "frame {frame}: {entities} entities, {} chunks, {} in flight, {:.0} MiB resident, \
                 {reloads} reloads, {said} lines, {:.0} s",
                stats.chunks,
                stats.in_flight,
                rss_bytes() as f64 / (1 << 20) as f64,
                start.elapsed().as_secs_f64()
            );
        }
    }
    assert!(samples.len() >= 2, "run at least 20,000 frames");
    let max =
        |f: fn(&(u64, usize, usize, usize, u64)) -> f64| samples.iter().map(f).fold(0.0, f64::max);
    let half = &samples[samples.len() / 2..];
    let (first, last) = (half[0], half[half.len() - 1]);
    let per_10k = |a: f64, b: f64| (b - a) / ((last.0 - first.0) as f64 / 10_000.0).max(1.0);
    println!(
        "maxima: {} entities, {} chunks, {} in flight, {:.0} MiB resident",
        max(|s| s.1 as f64),
        max(|s| s.2 as f64),
        max(|s| s.3 as f64),
        max(|s| s.4 as f64) / (1 << 20) as f64
    );
    println!(
        "growth per 10,000 frames over the second half: {:+.1} entities, {:+.1} chunks, \
         {:+.1} MiB resident",
        per_10k(first.1 as f64, last.1 as f64),
        per_10k(first.2 as f64, last.2 as f64),
        per_10k(first.4 as f64, last.4 as f64) / (1 << 20) as f64
    );
    assert!(reloads > 0 && said > 0);
    // Bounded: the first sample's counts, with room for the visitor's chunks and NPCs.
    let (e0, c0) = (samples[0].1, samples[0].2);
    for s in &samples {
        assert!(s.1 <= 3 * e0 + 200, "entities grew: {samples:?}");
        assert!(s.2 <= 3 * c0 + 50, "chunks grew: {samples:?}");
    }
}
