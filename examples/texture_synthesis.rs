//! Generates the terrain textures of a world and writes them as PNGs, with one line per texture
//! and the time it took: a modder's preview of a recipe or a model.
//!
//! ```text
//! cargo run --release --example texture_synthesis -- --backend cpu --size 256 --out out/textures
//! cargo run --release --example texture_synthesis -- --backend gpu --size 512 --out out/gpu \
//!     --world assets/worlds/default.world.ron --textures assets/textures/default.textures.ron
//! ```
//!
//! For every material the world's biomes use it writes `NAME_albedo.png`, `NAME_normal.png`,
//! `NAME_roughness.png` and `NAME_tiled.png` (2x2 repeats, to check seams); materials with a
//! learned model also get the same four files with `_learned`. `--backend gpu` grows learned
//! textures with burn's wgpu backend (a warm-up grow runs first; its time, which includes
//! compiling kernels, is printed separately). `--repeat N` grows each learned texture N times
//! and prints the fastest; `--steps N` overrides the models' step counts.

use std::path::{Path, PathBuf};
use std::time::Instant;

use aigc_world::ai::backend::{ComputeDevice, grow_texture};
use aigc_world::ai::nca::NcaWeights;
use aigc_world::config::parse_world;
use aigc_world::texture::{
    MaterialTexture, generate_material, material_from_albedo, material_seed, parse_texture_set,
};

struct Args {
    backend: String,
    size: u32,
    out: PathBuf,
    world: PathBuf,
    textures: PathBuf,
    repeat: usize,
    steps: Option<u32>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        backend: "cpu".into(),
        size: 256,
        out: "out/textures".into(),
        world: "assets/worlds/default.world.ron".into(),
        textures: "assets/textures/default.textures.ron".into(),
        repeat: 1,
        steps: None,
    };
    const USAGE: &str = "usage: texture_synthesis [--backend cpu|gpu] [--size N] [--out DIR] \
                         [--world RON] [--textures RON] [--repeat N] [--steps N]";
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            return Err(USAGE.into());
        }
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--backend" => args.backend = value,
            "--size" => args.size = value.parse().map_err(|e| format!("--size: {e}"))?,
            "--out" => args.out = value.into(),
            "--world" => args.world = value.into(),
            "--textures" => args.textures = value.into(),
            "--repeat" => args.repeat = value.parse().map_err(|e| format!("--repeat: {e}"))?,
            "--steps" => args.steps = Some(value.parse().map_err(|e| format!("--steps: {e}"))?),
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    Ok(args)
}

fn save(path: &Path, rgba: Vec<u8>, size: u32) -> Result<(), String> {
    image::RgbaImage::from_raw(size, size, rgba)
        .ok_or("bad buffer")?
        .save(path)
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn tiled(rgba: &[u8], n: u32) -> Vec<u8> {
    let mut out = vec![0u8; (4 * n * n * 4) as usize];
    for y in 0..2 * n {
        for x in 0..2 * n {
            let src = (((y % n) * n + (x % n)) * 4) as usize;
            let dst = ((y * 2 * n + x) * 4) as usize;
            out[dst..dst + 4].copy_from_slice(&rgba[src..src + 4]);
        }
    }
    out
}

fn write_set(dir: &Path, stem: &str, t: &MaterialTexture) -> Result<(), String> {
    let n = t.size;
    save(&dir.join(format!("{stem}_albedo.png")), t.albedo.clone(), n)?;
    save(&dir.join(format!("{stem}_normal.png")), t.normal_rgba(), n)?;
    let rough: Vec<u8> = t.roughness().iter().flat_map(|&r| [r, r, r, 255]).collect();
    save(&dir.join(format!("{stem}_roughness.png")), rough, n)?;
    save(
        &dir.join(format!("{stem}_tiled.png")),
        tiled(&t.albedo, n),
        2 * n,
    )
}

fn main() -> Result<(), String> {
    let args = parse_args()?;
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
    let world = parse_world(&read(&args.world)?, &args.world.display().to_string())
        .map_err(|e| e.to_string())?;
    let set = parse_texture_set(&read(&args.textures)?, &args.textures.display().to_string())
        .map_err(|e| e.to_string())?;
    let device = match args.backend.as_str() {
        "cpu" => ComputeDevice::Cpu,
        "gpu" => ComputeDevice::default_gpu().ok_or("this build has no `wgpu` feature")?,
        other => return Err(format!("--backend {other}: expected cpu or gpu")),
    };
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let mut materials: Vec<&str> = world
        .biomes
        .table
        .iter()
        .map(|b| set.material_for_biome(&b.name))
        .collect();
    materials.sort_unstable();
    materials.dedup();
    let assets = args
        .textures
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("assets"));
    let mut warmed = false;
    // One row per material for `sheet.png`: albedo, normal, roughness, learned albedo, normal.
    let mut sheet: Vec<[Option<Vec<u8>>; 5]> = Vec::new();
    for name in materials {
        let recipe = &set.materials[name];
        let seed = material_seed(set.seed, name);
        let start = Instant::now();
        let texture = generate_material(recipe, args.size, seed);
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        println!("{name:14} procedural  {0}x{0}  {ms:8.1} ms", args.size);
        write_set(&args.out, name, &texture)?;
        let rough: Vec<u8> = texture
            .roughness()
            .iter()
            .flat_map(|&r| [r, r, r, 255])
            .collect();
        sheet.push([
            Some(texture.albedo.clone()),
            Some(texture.normal_rgba()),
            Some(rough),
            None,
            None,
        ]);
        let Some(model) = &recipe.model else {
            continue;
        };
        let path = assets.join(model);
        let weights = match std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| NcaWeights::from_bytes(&b).map_err(|e| e.to_string()))
        {
            Ok(w) => w,
            Err(e) => {
                println!("{name:14} learned     skipped: {}: {e}", path.display());
                continue;
            }
        };
        if !warmed {
            let start = Instant::now();
            let _ = grow_texture(&device, &weights, 64, 0, Some(4), &|| false);
            println!(
                "{:14} warm-up     {:>7}  {:8.1} ms ({} backend, first use)",
                "",
                "64x64",
                start.elapsed().as_secs_f64() * 1000.0,
                device.name()
            );
            warmed = true;
        }
        let mut best = f64::MAX;
        let mut rgba = Vec::new();
        for _ in 0..args.repeat.max(1) {
            let start = Instant::now();
            rgba = grow_texture(&device, &weights, args.size, seed, args.steps, &|| false)
                .map_err(|_| "cancelled")?;
            best = best.min(start.elapsed().as_secs_f64() * 1000.0);
        }
        println!(
            "{name:14} learned     {0}x{0}  {best:8.1} ms ({1} backend, {2} steps)",
            args.size,
            device.name(),
            args.steps.unwrap_or(weights.steps)
        );
        let learned = material_from_albedo(rgba, args.size, recipe);
        write_set(&args.out, &format!("{name}_learned"), &learned)?;
        if let Some(row) = sheet.last_mut() {
            row[3] = Some(learned.albedo.clone());
            row[4] = Some(learned.normal_rgba());
        }
    }
    let n = args.size as usize;
    let (w, h) = (5 * n, sheet.len() * n);
    let mut out: Vec<u8> = [40u8, 40, 40, 255].repeat(w * h);
    for (r, row) in sheet.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            let Some(px) = cell else { continue };
            for y in 0..n {
                let dst = ((r * n + y) * w + c * n) * 4;
                out[dst..dst + n * 4].copy_from_slice(&px[y * n * 4..(y + 1) * n * 4]);
            }
        }
    }
    image::RgbaImage::from_raw(w as u32, h as u32, out)
        .ok_or("bad sheet")?
        .save(args.out.join("sheet.png"))
        .map_err(|e| e.to_string())?;
    println!("contact sheet -> {}", args.out.join("sheet.png").display());
    Ok(())
}
