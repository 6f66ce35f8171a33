//! Trains a texture neural cellular automaton and writes its `.nca` weights.
//!
//! ```text
//! cargo run --release --example train_texture_nca -- --material grass --out assets/models/grass.nca
//! cargo run --release --example train_texture_nca -- --exemplar my_texture.png --out my.nca
//! ```
//!
//! `--material NAME` makes the exemplar from that material's recipe in the texture file
//! (`--textures PATH`, default `assets/textures/default.textures.ron`): a `--crop` x `--crop`
//! corner of the procedural albedo at the file's texture size, so the learned texture has the
//! same scale as the procedural one (`--scale N` shrinks the texture N times first, for
//! structures too large for the rule to learn at full size). `--exemplar PATH` trains on any
//! PNG instead. Other options:
//! `--iterations N` (default 1500), `--size N` (training crop, default 64), `--hidden N`,
//! `--seed N`, `--preview PATH` (a PNG of a 256x256 texture grown by the result, tiled 2x2).
//! The loss is printed every 25 iterations; weights are saved every 100 and at the end.

use std::path::PathBuf;
use std::time::Instant;

use aigc_world::ai::backend::{ComputeDevice, TextureTrainer, grow_texture};
use aigc_world::ai::nca::{Exemplar, TrainConfig};
use aigc_world::texture::{generate_material, parse_texture_set};

struct Args {
    exemplar: Option<PathBuf>,
    material: Option<String>,
    textures: PathBuf,
    out: PathBuf,
    preview: Option<PathBuf>,
    iterations: usize,
    size: usize,
    crop: usize,
    scale: usize,
    hidden: usize,
    seed: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        exemplar: None,
        material: None,
        textures: "assets/textures/default.textures.ron".into(),
        out: PathBuf::new(),
        preview: None,
        iterations: 1500,
        size: 64,
        crop: 96,
        scale: 1,
        hidden: TrainConfig::default().hidden,
        seed: 1,
    };
    const USAGE: &str = "usage: train_texture_nca (--exemplar PNG | --material NAME) --out FILE.nca \
                         [--textures RON] [--iterations N] [--size N] [--crop N] [--scale N] \
                         [--hidden N] [--seed N] [--preview PNG]";
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let number = |v: String| v.parse::<u64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--exemplar" => args.exemplar = Some(value()?.into()),
            "--material" => args.material = Some(value()?),
            "--textures" => args.textures = value()?.into(),
            "--out" => args.out = value()?.into(),
            "--preview" => args.preview = Some(value()?.into()),
            "--iterations" => args.iterations = number(value()?)? as usize,
            "--size" => args.size = number(value()?)? as usize,
            "--crop" => args.crop = number(value()?)? as usize,
            "--scale" => args.scale = (number(value()?)? as usize).max(1),
            "--hidden" => args.hidden = number(value()?)? as usize,
            "--seed" => args.seed = number(value()?)?,
            "--help" | "-h" => return Err(USAGE.into()),
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    if args.out.as_os_str().is_empty() || (args.exemplar.is_none() == args.material.is_none()) {
        return Err(USAGE.into());
    }
    Ok(args)
}

fn load_exemplar(args: &Args) -> Result<Exemplar, String> {
    if let Some(path) = &args.exemplar {
        let image = image::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let rgb = image.to_rgb8();
        let (width, height) = (rgb.width() as usize, rgb.height() as usize);
        let data = rgb.into_raw().iter().map(|&v| v as f32 / 255.0).collect();
        return Ok(Exemplar {
            width,
            height,
            rgb: data,
        });
    }
    let name = args.material.as_deref().unwrap_or_default();
    let src = std::fs::read_to_string(&args.textures)
        .map_err(|e| format!("{}: {e}", args.textures.display()))?;
    let set =
        parse_texture_set(&src, &args.textures.display().to_string()).map_err(|e| e.to_string())?;
    let recipe = set
        .materials
        .get(name)
        .ok_or(format!("no material \"{name}\""))?;
    let size = set.size as usize;
    // Same seed as the texture plugin uses, so the exemplar is the texture players see.
    let seed = aigc_world::texture::material_seed(set.seed, name);
    let texture = generate_material(recipe, set.size, seed);
    // `--scale N` shrinks the texture N times (box filter) before cropping: structures N
    // times smaller fit the rule's reach and the training crop.
    let scale = args.scale;
    let scaled = size / scale;
    let crop = args.crop.min(scaled);
    let mut rgb = Vec::with_capacity(crop * crop * 3);
    for y in 0..crop {
        for x in 0..crop {
            for channel in 0..3 {
                let mut sum = 0.0;
                for dy in 0..scale {
                    for dx in 0..scale {
                        let (sy, sx) = (y * scale + dy, x * scale + dx);
                        sum += texture.albedo[(sy * size + sx) * 4 + channel] as f32;
                    }
                }
                rgb.push(sum / (255.0 * (scale * scale) as f32));
            }
        }
    }
    Ok(Exemplar {
        width: crop,
        height: crop,
        rgb,
    })
}

fn save_png(path: &std::path::Path, rgba: Vec<u8>, w: u32, h: u32) -> Result<(), String> {
    image::RgbaImage::from_raw(w, h, rgba)
        .ok_or("bad buffer")?
        .save(path)
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn main() -> Result<(), String> {
    let args = parse_args()?;
    let exemplar = load_exemplar(&args)?;
    println!(
        "exemplar {}x{}, training {}x{} for {} iterations",
        exemplar.width, exemplar.height, args.size, args.size, args.iterations
    );
    if let Some(preview) = &args.preview {
        let rgba = exemplar
            .rgb
            .chunks_exact(3)
            .flat_map(|p| {
                [
                    (p[0] * 255.0) as u8,
                    (p[1] * 255.0) as u8,
                    (p[2] * 255.0) as u8,
                    255,
                ]
            })
            .collect();
        let path = preview.with_extension("exemplar.png");
        save_png(&path, rgba, exemplar.width as u32, exemplar.height as u32)?;
    }
    let config = TrainConfig {
        size: args.size,
        hidden: args.hidden,
        iterations: args.iterations,
        seed: args.seed,
        ..TrainConfig::default()
    };
    let mut trainer = TextureTrainer::new(exemplar, config);
    let start = Instant::now();
    let mut recent = Vec::new();
    for i in 1..=args.iterations {
        recent.push(trainer.step());
        if i % 25 == 0 {
            let mean = recent.iter().sum::<f32>() / recent.len() as f32;
            println!(
                "iteration {i:5}  loss {mean:.5}  {:.1} s",
                start.elapsed().as_secs_f64()
            );
            recent.clear();
        }
        if i % 100 == 0 || i == args.iterations {
            std::fs::write(&args.out, trainer.weights().to_bytes())
                .map_err(|e| format!("{}: {e}", args.out.display()))?;
        }
    }
    let weights = trainer.weights();
    println!(
        "trained {} parameters in {:.1} s -> {}",
        weights.w1.len() + weights.b1.len() + weights.w2.len(),
        start.elapsed().as_secs_f64(),
        args.out.display()
    );
    if let Some(preview) = &args.preview {
        let n = 256u32;
        let rgba = grow_texture(&ComputeDevice::Cpu, &weights, n, 1, None, &|| false)
            .map_err(|_| "cancelled")?;
        let mut tiled = vec![0u8; (4 * n * n * 4) as usize];
        for y in 0..2 * n {
            for x in 0..2 * n {
                let src = (((y % n) * n + (x % n)) * 4) as usize;
                let dst = ((y * 2 * n + x) * 4) as usize;
                tiled[dst..dst + 4].copy_from_slice(&rgba[src..src + 4]);
            }
        }
        save_png(preview, tiled, 2 * n, 2 * n)?;
        println!("preview (2x2 tiled) -> {}", preview.display());
    }
    Ok(())
}
