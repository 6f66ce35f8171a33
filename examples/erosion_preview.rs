//! Hillshade previews of erosion on one tile of a world: the noise, the reference simulator (one
//! run, and the mean of several differently seeded runs, which is what the network is trained
//! on) and, given a model, the learned network, side by side.
//!
//! ```text
//! cargo run --release --example erosion_preview -- --out target/erosion_preview
//! cargo run --release --example erosion_preview -- --model assets/models/default.erosion
//! ```
//!
//! Options: `--world PATH` (default `assets/worlds/default.world.ron`), `--x M --z M` (the tile's
//! corner in world metres; default: the most rugged of a few candidate places in the band the
//! training example holds out, x from 6000 to 10000 m), `--side N` (cells, default 192),
//! `--runs N` (simulator runs averaged, default 4), `--model PATH` (an `.erosion` file), `--out
//! DIR` (default `target/erosion_preview`). Writes `noise.png`, `simulator.png`,
//! `simulator_mean.png`, `network.png` (with a model), `comparison.png`, `change.png` (the height
//! change itself, grey where nothing changed, darker where the ground was lowered, lighter where
//! it was raised, black and white at three times the erosion depth: one run, the mean and the
//! network side by side) and `water.png` (where
//! water runs on the simulator's ground and on the network's: the terrain material's wetness,
//! from [`flow`](aigc_world::erosion::flow), in blue), and prints the erosion depth and the
//! network's error against the simulator.

use std::path::PathBuf;
use std::time::Instant;

use aigc_world::config::parse_world;
use aigc_world::erosion::flow::{FLOW_REACH, flow};
use aigc_world::erosion::pairs::{make_pair_averaged, noise_tile};
use aigc_world::erosion::preview::hillshade;
use aigc_world::erosion::{ErosionNet, ErosionParams, ErosionWeights, erode};
use aigc_world::terrain::{TerrainGenerator, wetness};

struct Args {
    world: PathBuf,
    at: Option<(f64, f64)>,
    side: usize,
    model: Option<PathBuf>,
    out: PathBuf,
    runs: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        world: "assets/worlds/default.world.ron".into(),
        at: None,
        side: 192,
        model: None,
        out: "target/erosion_preview".into(),
        runs: 4,
    };
    let (mut x, mut z) = (None, None);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let number = |v: String| v.parse::<f64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--world" => args.world = value()?.into(),
            "--x" => x = Some(number(value()?)?),
            "--z" => z = Some(number(value()?)?),
            "--side" => args.side = number(value()?)?.max(16.0) as usize,
            "--model" => args.model = Some(value()?.into()),
            "--out" => args.out = value()?.into(),
            "--runs" => args.runs = number(value()?)?.clamp(1.0, 64.0) as usize,
            other => {
                return Err(format!(
                    "unknown option {other}\nusage: erosion_preview [--world RON] [--x M --z M] \
                     [--side N] [--runs N] [--model FILE.erosion] [--out DIR]"
                ));
            }
        }
    }
    if let (Some(x), Some(z)) = (x, z) {
        args.at = Some((x, z));
    }
    Ok(args)
}

/// The most rugged of a grid of candidate places (height spread of a few samples) in the band
/// `train_erosion` holds out by default (x from 6000 to 10000 m).
fn rugged_place(generator: &TerrainGenerator, side: f64) -> (f64, f64) {
    let mut best = ((6000.0, 0.0), f32::MIN);
    for cz in -6..=6 {
        for cx in 0..=5 {
            let (x0, z0) = (6000.0 + f64::from(cx) * 700.0, f64::from(cz) * 700.0);
            let hs: Vec<f32> = (0..9)
                .map(|k| {
                    let (i, j) = (f64::from(k % 3), f64::from(k / 3));
                    generator.height_at(x0 + i * side / 2.0, z0 + j * side / 2.0)
                })
                .collect();
            let min = hs.iter().copied().fold(f32::MAX, f32::min);
            let max = hs.iter().copied().fold(f32::MIN, f32::max);
            if min > 0.0 && max - min > best.1 {
                best = ((x0, z0), max - min);
            }
        }
    }
    best.0
}

fn rms(values: impl Iterator<Item = f32>) -> f32 {
    let (mut sum, mut n) = (0.0f64, 0usize);
    for v in values {
        sum += f64::from(v) * f64::from(v);
        n += 1;
    }
    (sum / n.max(1) as f64).sqrt() as f32
}

/// A height change as grey: 128 where nothing changed, black and white at `full` metres
/// lowered and raised.
fn change_grey(change: &[f32], full: f32) -> Vec<u8> {
    let scale = 127.0 / full.max(1e-6);
    change
        .iter()
        .map(|c| (128.0 + c * scale).clamp(0.0, 255.0) as u8)
        .collect()
}

/// `panels` (`side` x `side` grey each) side by side with a 4-pixel white gap.
fn side_by_side(panels: &[Vec<u8>], side: usize) -> (Vec<u8>, usize) {
    let (gap, count) = (4, panels.len());
    let width = side * count + gap * (count - 1);
    let mut all = vec![255u8; width * side];
    for (p, panel) in panels.iter().enumerate() {
        for j in 0..side {
            let dst = j * width + p * (side + gap);
            all[dst..dst + side].copy_from_slice(&panel[j * side..(j + 1) * side]);
        }
    }
    (all, width)
}

fn save(path: &std::path::Path, grey: Vec<u8>, w: usize, h: usize) -> Result<(), String> {
    image::GrayImage::from_raw(w as u32, h as u32, grey)
        .ok_or("bad buffer")?
        .save(path)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// `shade` (`side` x `side` grey) in colour, blue where `water` (the [`flow`] of its ground, the
/// tile's middle without its outer [`FLOW_REACH`] cells, which stay grey) makes it wet.
fn water_over(shade: &[u8], water: &[f32], side: usize) -> Vec<u8> {
    let inner = side.saturating_sub(2 * FLOW_REACH);
    let mut rgb = Vec::with_capacity(3 * side * side);
    for j in 0..side {
        for i in 0..side {
            let grey = f32::from(shade[j * side + i]);
            let wet = match (i.checked_sub(FLOW_REACH), j.checked_sub(FLOW_REACH)) {
                (Some(x), Some(z)) if x < inner && z < inner => wetness(water[z * inner + x]),
                _ => 0.0,
            };
            for blue in [30.0, 110.0, 230.0] {
                rgb.push((grey + (blue - grey) * 0.85 * wet) as u8);
            }
        }
    }
    rgb
}

/// Which cells of a tile's middle are water channels, from their `water` ([`flow`]): wetness
/// over one half.
fn channels(water: &[f32]) -> Vec<bool> {
    water.iter().map(|&w| wetness(w) > 0.5).collect()
}

/// How well channels `found` match channels `truth` (both `inner` x `inner`), one cell of
/// tolerance either way: the share of found channel cells with a true one within a cell, and the
/// share of true channel cells with a found one within a cell.
fn agreement(found: &[bool], truth: &[bool], inner: usize) -> (f32, f32) {
    let near = |mask: &[bool], i: usize, j: usize| {
        (j.saturating_sub(1)..(j + 2).min(inner))
            .any(|z| (i.saturating_sub(1)..(i + 2).min(inner)).any(|x| mask[z * inner + x]))
    };
    let share = |from: &[bool], to: &[bool]| {
        let (mut hit, mut all) = (0usize, 0usize);
        for k in (0..from.len()).filter(|&k| from[k]) {
            all += 1;
            hit += usize::from(near(to, k % inner, k / inner));
        }
        hit as f32 / all.max(1) as f32
    };
    (share(found, truth), share(truth, found))
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let src = std::fs::read_to_string(&args.world)
        .map_err(|e| format!("{}: {e}", args.world.display()))?;
    let config = parse_world(&src, &args.world.display().to_string()).map_err(|e| e.to_string())?;
    let generator = TerrainGenerator::new(&config).map_err(|e| e.to_string())?;
    let spacing = generator.spacing();
    let (x, z) = args
        .at
        .unwrap_or_else(|| rugged_place(&generator, args.side as f64 * spacing));
    let (ix0, iz0) = ((x / spacing).round() as i64, (z / spacing).round() as i64);
    let params = ErosionParams::default();
    let model = match &args.model {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let weights = ErosionWeights::from_bytes(&bytes)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            Some(ErosionNet::new(weights))
        }
        None => None,
    };
    let margin = params
        .margin()
        .max(model.as_ref().map_or(0, ErosionNet::margin));
    let side = args.side;
    let noise = noise_tile(&generator, ix0, iz0, side, margin);
    let mut eroded = noise.clone();
    let start = Instant::now();
    erode(&mut eroded, &params);
    let sim_time = start.elapsed();
    // The same tile with other droplets: how much of the erosion is chance, which no model of
    // the noise alone can predict.
    let mut other = noise.clone();
    erode(
        &mut other,
        &ErosionParams {
            seed: params.seed ^ 0x5eed,
            ..params.clone()
        },
    );
    let inner = |t: &aigc_world::erosion::HeightTile| t.crop(margin, margin, side, side).heights;
    let (before, after) = (inner(&noise), inner(&eroded));
    let depth = rms(after.iter().zip(&before).map(|(a, b)| a - b));
    let chance = rms(inner(&other).iter().zip(&after).map(|(a, b)| a - b)) / 2f32.sqrt();
    println!(
        "tile at ({x:.0}, {z:.0}) m, {side}x{side} cells; simulator {:.0} ms on {}x{} cells, RMS erosion depth {depth:.3} m",
        sim_time.as_secs_f64() * 1e3,
        noise.nx,
        noise.nz
    );
    println!(
        "droplet chance: RMS {chance:.3} m = {:.1}% of the erosion depth (a floor for any model's error)",
        100.0 * chance / depth.max(1e-9)
    );
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let spacing = spacing as f32;
    let mut panels = vec![
        hillshade(&before, side, side, spacing, 1.0),
        hillshade(&after, side, side, spacing, 1.0),
    ];
    save(&args.out.join("noise.png"), panels[0].clone(), side, side)?;
    save(
        &args.out.join("simulator.png"),
        panels[1].clone(),
        side,
        side,
    )?;
    // The mean of several runs: what the ground itself decides, and the network's target.
    let (mean, _) = make_pair_averaged(&generator, (ix0, iz0), side, 0, &params, args.runs);
    let mean_after: Vec<f32> = before
        .iter()
        .zip(&mean.target)
        .map(|(b, t)| b + t)
        .collect();
    let mean_depth = rms(mean.target.iter().copied());
    println!(
        "mean of {} runs: RMS change {mean_depth:.3} m; one run differs from it by {:.1}% of the erosion depth",
        args.runs,
        100.0 * rms(after.iter().zip(&mean_after).map(|(a, b)| a - b)) / depth.max(1e-9)
    );
    let shade = hillshade(&mean_after, side, side, spacing, 1.0);
    save(
        &args.out.join("simulator_mean.png"),
        shade.clone(),
        side,
        side,
    )?;
    panels.push(shade);
    let one_run: Vec<f32> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    // Black and white at three times the erosion depth: few cells are cut off.
    let full = 3.0 * depth;
    let mut changes = vec![change_grey(&one_run, full), change_grey(&mean.target, full)];
    if let Some(net) = &model {
        let m = net.margin();
        let cut = margin - m;
        let window = noise.crop(cut, cut, side + 2 * m, side + 2 * m);
        let start = Instant::now();
        let residual = net.residual(&window.heights, window.nx, window.nz, spacing);
        let net_time = start.elapsed();
        let learned: Vec<f32> = before.iter().zip(&residual).map(|(b, r)| b + r).collect();
        changes.push(change_grey(&residual, full));
        let error = rms(learned.iter().zip(&after).map(|(a, b)| a - b));
        let mean_error = rms(learned.iter().zip(&mean_after).map(|(a, b)| a - b));
        println!(
            "network {:.0} ms; RMS error against one simulator run {error:.3} m = {:.1}% of its erosion depth; \
             against the mean of {} runs {mean_error:.3} m = {:.1}% of its depth",
            net_time.as_secs_f64() * 1e3,
            100.0 * error / depth.max(1e-9),
            args.runs,
            100.0 * mean_error / mean_depth.max(1e-9)
        );
        // Where the error is: cells the simulator raised (sediment) against cells it lowered.
        // And cells steeper than the talus slope (where thermal erosion slumps the ground).
        let (mut raised, mut raised_error, mut all_error) = (0usize, 0.0f64, 0.0f64);
        let (mut steep, mut steep_error) = (0usize, 0.0f64);
        for (k, ((l, a), b)) in learned.iter().zip(&after).zip(&before).enumerate() {
            let e = f64::from(l - a).powi(2);
            all_error += e;
            if a > b {
                raised += 1;
                raised_error += e;
            }
            let (i, j) = (k % side, k / side);
            let h = |i: usize, j: usize| before[j.min(side - 1) * side + i.min(side - 1)];
            let dx = (h(i + 1, j) - h(i.saturating_sub(1), j)) / (2.0 * spacing);
            let dz = (h(i, j + 1) - h(i, j.saturating_sub(1))) / (2.0 * spacing);
            if (dx * dx + dz * dz).sqrt() > params.talus {
                steep += 1;
                steep_error += e;
            }
        }
        println!(
            "cells the simulator raised (sediment): {:.0}% of the tile, {:.0}% of the network's squared error",
            100.0 * raised as f64 / before.len().max(1) as f64,
            100.0 * raised_error / all_error.max(1e-12)
        );
        println!(
            "cells of noise steeper than the talus slope: {:.0}% of the tile, {:.0}% of the network's squared error",
            100.0 * steep as f64 / before.len().max(1) as f64,
            100.0 * steep_error / all_error.max(1e-12)
        );
        let shade = hillshade(&learned, side, side, spacing, 1.0);
        save(&args.out.join("network.png"), shade.clone(), side, side)?;
        // Where water runs: the simulator's ground beside the network's.
        let gap = 4;
        let width = 2 * side + gap;
        let mut water = vec![255u8; 3 * width * side];
        let (sim_water, net_water) = (flow(&after, side, side), flow(&learned, side, side));
        for (p, (shade, flowing)) in [(&panels[1], &sim_water), (&shade, &net_water)]
            .into_iter()
            .enumerate()
        {
            let rgb = water_over(shade, flowing, side);
            for j in 0..side {
                let dst = 3 * (j * width + p * (side + gap));
                water[dst..dst + 3 * side].copy_from_slice(&rgb[3 * j * side..3 * (j + 1) * side]);
            }
        }
        // How well the network's channels match the simulator's, against what the noise and
        // another simulator run (different droplets) give on the same tile.
        let middle = side.saturating_sub(2 * FLOW_REACH);
        let truth = channels(&sim_water);
        for (name, water) in [
            ("the network", net_water),
            ("the noise", flow(&before, side, side)),
            ("another simulator run", flow(&inner(&other), side, side)),
        ] {
            let (precision, recall) = agreement(&channels(&water), &truth, middle);
            println!(
                "water channels of {name} against the simulator's: {:.0}% of its channel cells \
                 within a cell of one of the simulator's, {:.0}% of the simulator's within a cell of one of its",
                100.0 * precision,
                100.0 * recall
            );
        }
        let path = args.out.join("water.png");
        image::RgbImage::from_raw(width as u32, side as u32, water)
            .ok_or("bad buffer")?
            .save(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        panels.push(shade);
    }
    let (all, width) = side_by_side(&panels, side);
    save(&args.out.join("comparison.png"), all, width, side)?;
    let (all, width) = side_by_side(&changes, side);
    save(&args.out.join("change.png"), all, width, side)?;
    println!("wrote {}", args.out.display());
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
