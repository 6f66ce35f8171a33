//! Learned erosion: the shipped model erodes chunks that still meet their neighbours exactly at
//! every level of detail, ground queries see the eroded ground, burn agrees with the plain-Rust
//! inference, and a missing model gives one warning and the plain noise terrain.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use aigc_world::ai::backend::{
    ComputeDevice, ErosionDeviceError, ErosionOnDevice, erosion_residual_burn,
};
use aigc_world::config::{DEFAULT_WORLD_RON, WorldConfig, parse_world};
use aigc_world::erosion::model::{ErosionTrainConfig, initial_weights};
use aigc_world::erosion::pairs::{make_pair, make_pair_averaged};
use aigc_world::erosion::{ErosionNet, ErosionParams, ErosionWeights, height_hash};
use aigc_world::prelude::*;
use aigc_world::terrain::{ChunkCoord, ErosionStatus, TerrainGenerator, TerrainSampler, wetness};
use bevy::asset::io::memory::Dir;
use bevy::prelude::*;
use bevy::time::TimeUpdateStrategy;

use crate::common::run_until;

const MODEL: &str = "assets/models/default.erosion";

fn weights() -> ErosionWeights {
    ErosionWeights::from_bytes(&std::fs::read(MODEL).unwrap()).unwrap()
}

fn world() -> WorldConfig {
    parse_world(DEFAULT_WORLD_RON, "default.world.ron").unwrap()
}

fn generators() -> (TerrainGenerator, TerrainGenerator) {
    let plain = TerrainGenerator::new(&world()).unwrap();
    let eroded = plain
        .clone()
        .with_erosion(Arc::new(ErosionNet::new(weights())), 1.0);
    (plain, eroded)
}

/// Rugged ground in the default world (mountains about 1.4 km north of the origin).
const HERE: ChunkCoord = ChunkCoord::new(0, -22);

#[test]
fn eroded_neighbours_meet_exactly_at_every_level_of_detail() {
    let (_, g) = generators();
    for step in [1u32, 2, 8] {
        for (dx, dz) in [(1, 0), (0, 1)] {
            let there = ChunkCoord::new(HERE.x + dx, HERE.z + dz);
            let (a, b) = (g.generate_chunk(HERE, step), g.generate_chunk(there, step));
            let side = (g.chunk_vertices() as usize - 1) / step as usize + 1;
            for k in 0..side {
                // A's last column (row) is B's first, with equal normals.
                let (ka, kb) = if dx == 1 {
                    (k * side + side - 1, k * side)
                } else {
                    ((side - 1) * side + k, k)
                };
                assert_eq!(
                    a.positions[ka][1].to_bits(),
                    b.positions[kb][1].to_bits(),
                    "step {step}, edge vertex {k}"
                );
                assert_eq!(a.normals[ka], b.normals[kb], "step {step}, vertex {k}");
                assert_eq!(a.wetness[ka], b.wetness[kb], "step {step}, vertex {k}");
            }
        }
    }
}

#[test]
fn a_vertex_has_one_height_at_every_level_of_detail_and_in_ground_queries() {
    let (plain, g) = generators();
    let fine = g.heightfield(HERE, 1);
    let (x0, z0) = g.chunk_origin(HERE);
    let spacing = g.spacing();
    for step in [2u32, 4, 8] {
        let coarse = g.heightfield(HERE, step);
        for j in 0..coarse.side {
            for i in 0..coarse.side {
                let s = step as usize;
                let h = coarse.heights[(j + 1) * (coarse.side + 2) + i + 1];
                let f = fine.heights[(j * s + 1) * (fine.side + 2) + i * s + 1];
                assert_eq!(h.to_bits(), f.to_bits(), "step {step} at {i},{j}");
            }
        }
    }
    let mut moved = 0.0f32;
    for (i, j) in [(0usize, 0usize), (7, 3), (64, 64), (31, 50)] {
        let (x, z) = (x0 + i as f64 * spacing, z0 + j as f64 * spacing);
        let h = fine.heights[(j + 1) * (fine.side + 2) + i + 1];
        assert_eq!(g.height_at(x, z).to_bits(), h.to_bits(), "at {i},{j}");
        assert_eq!(g.sample(x, z).height.to_bits(), h.to_bits());
        moved += (h - plain.height_at(x, z)).abs();
    }
    assert!(moved > 0.01, "the model changes the ground: {moved}");
    // Between vertices: between the neighbouring vertex heights.
    let (a, b) = (g.height_at(x0, z0), g.height_at(x0 + spacing, z0));
    let mid = g.height_at(x0 + spacing * 0.5, z0);
    assert!(mid >= a.min(b) - 1e-4 && mid <= a.max(b) + 1e-4);
}

#[test]
fn carved_channels_are_wet_and_plain_ground_is_dry() {
    let (plain, g) = generators();
    let dry = plain.generate_chunk(HERE, 1);
    assert_eq!(dry.wetness.len(), dry.positions.len());
    assert!(dry.wetness.iter().all(|&w| w == 0.0));
    let wet = g.generate_chunk(HERE, 1);
    assert_eq!(wet.wetness.len(), wet.positions.len());
    assert!(wet.wetness.iter().all(|w| (0.0..=1.0).contains(w)));
    let share = wet.wetness.iter().filter(|&&w| w > 0.5).count() as f32 / wet.wetness.len() as f32;
    assert!(share > 0.001 && share < 0.2, "wet share {share}");
    // A vertex is as wet at every level of detail: a channel does not flicker as a chunk
    // changes level.
    let side = g.chunk_vertices() as usize;
    for step in [2usize, 4, 8] {
        let coarse = g.generate_chunk(HERE, step as u32);
        let coarse_side = (side - 1) / step + 1;
        for j in 0..coarse_side {
            for i in 0..coarse_side {
                assert_eq!(
                    coarse.wetness[j * coarse_side + i].to_bits(),
                    wet.wetness[j * step * side + i * step].to_bits(),
                    "step {step} at {i},{j}"
                );
            }
        }
    }
}

#[test]
fn an_eroded_chunk_is_bit_identical_on_the_cpu() {
    let (_, g) = generators();
    let field = g.heightfield(HERE, 1);
    let again = std::thread::spawn(move || g.heightfield(HERE, 1))
        .join()
        .unwrap();
    assert_eq!(field, again);
    assert_eq!(
        height_hash(&field.heights),
        16_090_289_072_365_971_423,
        "golden hash of an eroded chunk: update when the model or simulator is retrained"
    );
}

#[test]
fn averaged_pairs_keep_run_zero_and_average_other_droplets() {
    let (plain, _) = generators();
    let (x0, z0) = plain.chunk_origin(HERE);
    let at = ((x0 / plain.spacing()) as i64, (z0 / plain.spacing()) as i64);
    let params = ErosionParams::default();
    let single = make_pair(&plain, at, 12, 3, &params);
    let (one, first) = make_pair_averaged(&plain, at, 12, 3, &params, 1);
    assert_eq!(one, single);
    assert_eq!(first, single);
    let (mean, first) = make_pair_averaged(&plain, at, 12, 3, &params, 3);
    assert_eq!(first, single, "run 0 is the plain pair");
    assert_eq!(mean.noise, single.noise);
    assert_eq!(mean.target.len(), 12 * 12);
    assert_ne!(
        mean.target, single.target,
        "other runs drop droplets elsewhere"
    );
    assert!(mean.target.iter().all(|t| t.is_finite()));
}

/// The largest difference between burn's forward pass and the plain-Rust inference on a
/// window of the default world's rugged ground, and the largest change.
fn burn_against_plain(weights: &ErosionWeights) -> (f32, f32) {
    let net = ErosionNet::new(weights.clone());
    let (plain, _) = generators();
    let n = 2 * net.margin() + 24;
    let (x0, z0) = plain.chunk_origin(HERE);
    let (ix, iz) = ((x0 / plain.spacing()) as i64, (z0 / plain.spacing()) as i64);
    let noise = plain.noise_window(ix, iz, n, n);
    let ours = net.residual(&noise, n, n, 1.0);
    let burn = erosion_residual_burn(weights, &noise, n);
    assert_eq!(ours.len(), 24 * 24);
    assert_eq!(burn.len(), ours.len());
    let worst = ours
        .iter()
        .zip(&burn)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    (worst, ours.iter().fold(0.0f32, |m, v| m.max(v.abs())))
}

#[test]
fn burn_and_the_plain_inference_agree() {
    let weights = weights();
    let (worst, _) = burn_against_plain(&weights);
    assert!(worst < 1e-3 * weights.output_scale.max(1.0), "{worst}");
}

#[test]
fn burn_and_the_plain_inference_agree_on_a_two_scale_model() {
    let config = ErosionTrainConfig {
        dilations: vec![1, 2],
        coarse_dilations: vec![1, 2, 4, 8],
        hidden: 6,
        ..ErosionTrainConfig::default()
    };
    let weights = initial_weights(&config, (1.0, 0.2, 3.0));
    assert!(weights.is_two_scale());
    assert_eq!(ErosionNet::new(weights.clone()).margin(), config.margin());
    // Nine layers, as `train_erosion --dilations 1,2 --coarse-dilations 1,2,4,8` writes: the
    // file reads back.
    assert_eq!(weights.layers.len(), 9);
    assert_eq!(
        ErosionWeights::from_bytes(&weights.to_bytes()),
        Ok(weights.clone())
    );
    let (worst, scale) = burn_against_plain(&weights);
    assert!(scale > 0.0);
    assert!(worst < 1e-4 * scale.max(1.0), "{worst} of {scale}");
}

/// Three windows of the default world's rugged ground, `n` cells wide, and the plain-Rust
/// height changes of their middles.
fn windows_and_plain(weights: &ErosionWeights, n: usize) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let net = ErosionNet::new(weights.clone());
    let (plain, _) = generators();
    let (x0, z0) = plain.chunk_origin(HERE);
    let (ix, iz) = ((x0 / plain.spacing()) as i64, (z0 / plain.spacing()) as i64);
    let windows: Vec<Vec<f32>> = [(0, 0), (37, -11), (-64, 90)]
        .iter()
        .map(|(dx, dz)| plain.noise_window(ix + dx, iz + dz, n, n))
        .collect();
    let ours = windows.iter().map(|w| net.residual(w, n, n, 1.0)).collect();
    (windows, ours)
}

/// The largest difference between two lists of height changes.
fn worst_difference(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .flat_map(|(a, b)| {
            assert_eq!(a.len(), b.len());
            a.iter().zip(b).map(|(x, y)| (x - y).abs())
        })
        .fold(0.0f32, f32::max)
}

/// A batch of windows through burn on the CPU gives each window's own height changes, and a
/// window too small for the model is named, not a panic.
#[test]
fn a_batch_of_windows_on_the_cpu_matches_the_plain_inference() {
    let weights = weights();
    let n = 2 * ErosionNet::new(weights.clone()).margin() + 20;
    let (windows, ours) = windows_and_plain(&weights, n);
    let model = ErosionOnDevice::new(&weights, &ComputeDevice::Cpu);
    let refs: Vec<&[f32]> = windows.iter().map(Vec::as_slice).collect();
    let batch = model.residuals(&refs, n).unwrap();
    assert_eq!(batch[0].len(), 20 * 20);
    let worst = worst_difference(&batch, &ours);
    assert!(worst < 1e-3 * weights.output_scale.max(1.0), "{worst}");
    assert!(model.residuals(&[], n).unwrap().is_empty());
    let small = vec![0.0f32; 10 * 10];
    assert!(matches!(
        model.residuals(&[&small], 10),
        Err(ErosionDeviceError::Window { index: 0, .. })
    ));
}

/// burn's wgpu path erodes a batch of windows as the plain-Rust inference does, within float
/// tolerance, and the same batch twice gives the same bits: the property a GPU path for chunks
/// needs. On a machine without a GPU this runs on Mesa's software Vulkan (lavapipe), which
/// `.ci/run` installs.
#[cfg(feature = "wgpu")]
#[test]
fn a_batch_of_windows_on_wgpu_matches_the_plain_inference_and_itself() {
    let weights = weights();
    let n = 2 * ErosionNet::new(weights.clone()).margin() + 20;
    let (windows, ours) = windows_and_plain(&weights, n);
    let gpu = ComputeDevice::default_gpu().expect("built with the wgpu feature");
    let model = ErosionOnDevice::new(&weights, &gpu);
    let refs: Vec<&[f32]> = windows.iter().map(Vec::as_slice).collect();
    let first = model.residuals(&refs, n).unwrap();
    let worst = worst_difference(&first, &ours);
    assert!(worst < 1e-3 * weights.output_scale.max(1.0), "{worst}");
    let again = model.residuals(&refs, n).unwrap();
    let bits = |v: &[Vec<f32>]| -> Vec<u32> { v.iter().flatten().map(|x| x.to_bits()).collect() };
    assert_eq!(bits(&first), bits(&again));
}

fn eroded_world(model: &str) -> String {
    DEFAULT_WORLD_RON.replacen(
        "    // erosion: Some((model: \"models/default.erosion\", strength: 1.0)),",
        &format!("    erosion: Some((model: \"{model}\", strength: 1.0)),"),
        1,
    )
}

fn app(dir: &Dir) -> App {
    let mut app = crate::common::memory_app(
        dir,
        (
            TransformPlugin,
            AigcWorldPlugin
                .set(WorldConfigPlugin {
                    path: Some("worlds/eroded.world.ron".into()),
                })
                .set(LanguageModelPlugin { path: None }),
        ),
    );
    app.insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_secs_f64(
        1.0 / 60.0,
    )));
    app
}

#[test]
fn the_world_file_turns_erosion_on_and_a_missing_or_corrupt_model_gives_plain_noise() {
    let (plain, eroded) = generators();
    let (x, z) = (10.0f32, -1400.0f32);
    let mut corrupt = std::fs::read(MODEL).unwrap();
    corrupt[100] ^= 0x10;
    for (model, works) in [
        ("models/default.erosion", true),
        ("models/none.erosion", false),
        ("models/corrupt.erosion", false),
    ] {
        let dir = Dir::default();
        let world = eroded_world(model);
        assert_ne!(world, DEFAULT_WORLD_RON);
        dir.insert_asset_text(Path::new("worlds/eroded.world.ron"), &world);
        dir.insert_asset(
            Path::new("models/default.erosion"),
            std::fs::read(MODEL).unwrap(),
        );
        dir.insert_asset(Path::new("models/corrupt.erosion"), corrupt.clone());
        let mut app = app(&dir);
        let settled = |app: &App| {
            let status = app.world().resource::<ErosionStatus>();
            status.active || status.failure.is_some()
        };
        run_until(&mut app, 600, |app| settled(app));
        for _ in 0..10 {
            app.update();
        }
        let status = app.world().resource::<ErosionStatus>().clone();
        let sampler = app.world().resource::<TerrainSampler>();
        let expected = if works { &eroded } else { &plain };
        assert_eq!(
            sampler.height_at(x, z).to_bits(),
            expected.height_at(f64::from(x), f64::from(z)).to_bits(),
            "{model}"
        );
        assert_eq!(status.active, works, "{status:?}");
        assert_eq!(
            status.warnings,
            u32::from(!works),
            "one warning: {status:?}"
        );
        if !works {
            let failure = status.failure.unwrap();
            let name = model.rsplit('/').next().unwrap();
            assert!(failure.contains(name), "{failure}");
        }
    }
}

#[test]
fn only_gathered_water_reads_as_wet() {
    // A cell's own water, and what a plain slope passes down one line of cells (at most
    // 1 + 0.95 + ... + 0.95^16, about 11.6): dry.
    assert_eq!(wetness(1.0), 0.0);
    assert_eq!(wetness(11.6), 0.0);
    // A gully gathering a slope's lines: wet, more with more water, at most 1.
    let (damp, wet, river) = (wetness(20.0), wetness(40.0), wetness(500.0));
    assert!(0.0 < damp && damp < wet && wet < 1.0, "{damp} {wet}");
    assert_eq!(river, 1.0);
    assert_eq!(wetness(f32::NAN), 0.0);
}
