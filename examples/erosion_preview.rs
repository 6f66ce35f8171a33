//! Hillshade previews of erosion on one tile of a world: the noise, the reference simulator and,
//! given a model, the learned network, side by side.
//!
//! ```text
//! cargo run --release --example erosion_preview -- --out target/erosion_preview
//! cargo run --release --example erosion_preview -- --model assets/models/erosion/default.erosion
//! ```
//!
//! Options: `--world PATH` (default `assets/worlds/default.world.ron`), `--x M --z M` (the tile's
//! corner in world metres; default: the most rugged of a few candidate places), `--side N` (cells,
//! default 192), `--model PATH` (an `.erosion` file), `--out DIR` (default `target/erosion_preview`).
//! Writes `noise.png`, `simulator.png`, `network.png` (with a model) and `comparison.png`, and
//! prints the erosion depth and the network's error against the simulator.

use std::path::PathBuf;
use std::time::Instant;

use aigc_world::config::parse_world;
use aigc_world::erosion::pairs::noise_tile;
use aigc_world::erosion::preview::hillshade;
use aigc_world::erosion::{ErosionNet, ErosionParams, ErosionWeights, erode};
use aigc_world::terrain::TerrainGenerator;

struct Args {
    world: PathBuf,
    at: Option<(f64, f64)>,
    side: usize,
    model: Option<PathBuf>,
    out: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        world: "assets/worlds/default.world.ron".into(),
        at: None,
        side: 192,
        model: None,
        out: "target/erosion_preview".into(),
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
            other => {
                return Err(format!(
                    "unknown option {other}\nusage: erosion_preview [--world RON] [--x M --z M] \
                     [--side N] [--model FILE.erosion] [--out DIR]"
                ));
            }
        }
    }
    if let (Some(x), Some(z)) = (x, z) {
        args.at = Some((x, z));
    }
    Ok(args)
}

/// The most rugged of a grid of candidate places (height spread of a few samples).
fn rugged_place(generator: &TerrainGenerator, side: f64) -> (f64, f64) {
    let mut best = ((0.0, 0.0), f32::MIN);
    for cz in -6..=6 {
        for cx in -6..=6 {
            let (x0, z0) = (f64::from(cx) * 700.0, f64::from(cz) * 700.0);
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

fn save(path: &std::path::Path, grey: Vec<u8>, w: usize, h: usize) -> Result<(), String> {
    image::GrayImage::from_raw(w as u32, h as u32, grey)
        .ok_or("bad buffer")?
        .save(path)
        .map_err(|e| format!("{}: {e}", path.display()))
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
    if let Some(net) = &model {
        let m = net.margin();
        let cut = margin - m;
        let window = noise.crop(cut, cut, side + 2 * m, side + 2 * m);
        let start = Instant::now();
        let residual = net.residual(&window.heights, window.nx, window.nz, spacing);
        let net_time = start.elapsed();
        let learned: Vec<f32> = before.iter().zip(&residual).map(|(b, r)| b + r).collect();
        let error = rms(learned.iter().zip(&after).map(|(a, b)| a - b));
        println!(
            "network {:.0} ms; RMS error against the simulator {error:.3} m = {:.1}% of the erosion depth",
            net_time.as_secs_f64() * 1e3,
            100.0 * error / depth.max(1e-9)
        );
        let shade = hillshade(&learned, side, side, spacing, 1.0);
        save(&args.out.join("network.png"), shade.clone(), side, side)?;
        panels.push(shade);
    }
    // Side by side with a 4-pixel gap.
    let (gap, count) = (4, panels.len());
    let width = side * count + gap * (count - 1);
    let mut all = vec![255u8; width * side];
    for (p, panel) in panels.iter().enumerate() {
        for j in 0..side {
            let dst = j * width + p * (side + gap);
            all[dst..dst + side].copy_from_slice(&panel[j * side..(j + 1) * side]);
        }
    }
    save(&args.out.join("comparison.png"), all, width, side)?;
    println!("wrote {}", args.out.display());
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
