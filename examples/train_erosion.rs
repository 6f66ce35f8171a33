//! Trains the learned erosion model on pairs the reference simulator makes from a world's noise
//! graph, and writes its `.erosion` weights and a training log.
//!
//! ```text
//! cargo run --release --example train_erosion -- --out assets/models/default.erosion
//! ```
//!
//! Held-out squares come from a band east of the origin (x from `--radius M` + 2000 to twice
//! that + 2000 metres, z within `--radius`; default radius 4000) of the world (`--world PATH`,
//! default `assets/worlds/default.world.ron`); training squares are taken at random places
//! within `--train-radius M` metres of the origin (default 16000), skipping squares under the
//! sea and any that reach into the held-out band, so the reported error is on ground the model
//! never saw. Other options: `--pairs N` (training squares, default 768: the model generalises
//! better from many squares of a wide area than from a few near the origin), `--held-out N`
//! (default 12), `--side N` (cells per square, default 96), `--iterations N` (default 14000),
//! `--minutes M` (stop early after M minutes, default 50; `--iterations 4000 --minutes 10` trains
//! a model about 4 points worse in a fifth of the time),
//! `--hidden N`, `--dilations D,D,..` (one 3x3 layer per dilation, default 1,2,4,8),
//! `--coarse-dilations D,D,..` (a second branch of 3x3 layers on 2x2 means of the features, one
//! per dilation, reaching twice as far per tap; default none),
//! `--features slope-relief|fill` (the inputs: [`FeatureSet`], default `fill`), `--normalize`
//! (train on each feature channel at unit RMS instead of all at one scale), `--augment transpose|square`
//! (show crops turned: half of them transposed, or in all eight symmetries of the square, which
//! only the isotropic simulator's targets allow), `--isotropic` (targets from the simulator with
//! [`ErosionParams::isotropic`] on, held-out figures against it too), `--seed N`,
//! `--runs N` (simulator runs, differently seeded, whose mean height
//! change is the target: droplet erosion is stochastic, default 1; four runs changed the
//! held-out error by about one point), `--sim-margin N` (cells of noise the simulator runs on
//! around each square, default and at least its own margin of 16: its result near a tile's edge
//! depends on where the tile ends, so a wider tile gives targets closer to what it makes of an
//! endless world; the held-out error is also reported against the default targets). The log
//! (`OUT.log`) records the settings, the loss every 25 iterations and the held-out error every
//! 100; weights are saved every 100 iterations and at the end.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use aigc_world::ai::backend::ErosionTrainer;
use aigc_world::ai::nca::rng::SplitMix;
use aigc_world::config::parse_world;
use aigc_world::erosion::model::{Augment, ErosionTrainConfig, TrainingPair};
use aigc_world::erosion::pairs::{make_pair_averaged, make_pair_simulated_wider};
use aigc_world::erosion::{ErosionParams, FeatureSet};
use aigc_world::terrain::TerrainGenerator;

struct Args {
    world: PathBuf,
    out: PathBuf,
    radius: f64,
    train_radius: f64,
    pairs: usize,
    held_out: usize,
    side: usize,
    minutes: f64,
    runs: usize,
    sim_margin: usize,
    params: ErosionParams,
    config: ErosionTrainConfig,
}

/// A comma-separated list of positive dilations.
fn dilations(flag: &str, list: String) -> Result<Vec<usize>, String> {
    let list = list
        .split(',')
        .map(|d| {
            d.trim()
                .parse::<usize>()
                .map_err(|e| format!("{flag}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if list.is_empty() || list.contains(&0) {
        return Err(format!("{flag}: dilations are positive, comma-separated"));
    }
    Ok(list)
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        world: "assets/worlds/default.world.ron".into(),
        out: PathBuf::new(),
        radius: 4000.0,
        train_radius: 16000.0,
        pairs: 768,
        held_out: 12,
        side: 96,
        minutes: 50.0,
        runs: 1,
        sim_margin: 0,
        params: ErosionParams::default(),
        config: ErosionTrainConfig {
            iterations: 14000,
            ..ErosionTrainConfig::default()
        },
    };
    const USAGE: &str = "usage: train_erosion --out FILE.erosion [--world RON] [--radius M] \
                         [--train-radius M] [--pairs N] [--held-out N] [--side N] [--iterations N] [--minutes M] \
                         [--hidden N] [--dilations 1,2,4,8] [--coarse-dilations 1,2,4,8] [--features slope-relief|fill] [--normalize] [--augment transpose|square] [--isotropic] [--seed N] [--runs N] [--sim-margin N]";
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let number = |v: String| v.parse::<f64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--world" => args.world = value()?.into(),
            "--out" => args.out = value()?.into(),
            "--radius" => args.radius = number(value()?)?,
            "--train-radius" => args.train_radius = number(value()?)?,
            "--pairs" => args.pairs = number(value()?)? as usize,
            "--held-out" => args.held_out = number(value()?)? as usize,
            "--side" => args.side = (number(value()?)? as usize).max(8),
            "--minutes" => args.minutes = number(value()?)?,
            "--iterations" => args.config.iterations = number(value()?)? as usize,
            "--hidden" => args.config.hidden = (number(value()?)? as usize).clamp(1, 64),
            "--dilations" => args.config.dilations = dilations(&flag, value()?)?,
            "--coarse-dilations" => args.config.coarse_dilations = dilations(&flag, value()?)?,
            "--features" => {
                args.config.features = match value()?.as_str() {
                    "slope-relief" => FeatureSet::SlopeRelief,
                    "fill" => FeatureSet::SlopeReliefFill,
                    other => return Err(format!("{flag}: {other} (slope-relief or fill)")),
                }
            }
            "--sim-margin" => args.sim_margin = number(value()?)? as usize,
            "--normalize" => args.config.normalize_channels = true,
            "--augment" => {
                args.config.augment = match value()?.as_str() {
                    "none" => Augment::None,
                    "transpose" => Augment::Transpose,
                    "square" => Augment::Square,
                    other => return Err(format!("{flag}: {other} (none, transpose or square)")),
                }
            }
            "--isotropic" => args.params.isotropic = true,
            "--brush-radius" => args.params.brush_radius = number(value()?)? as u32,
            "--runs" => args.runs = (number(value()?)? as usize).clamp(1, 64),
            "--seed" => args.config.seed = number(value()?)? as u64,
            "--help" | "-h" => return Err(USAGE.into()),
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    if args.out.as_os_str().is_empty() {
        return Err(USAGE.into());
    }
    Ok(args)
}

/// `count` pairs at random land places with x in `x_range` and z in `-radius..radius`: targets
/// averaged over `args.runs` simulator runs on the square plus `args.sim_margin` cells, and the
/// same squares with the standard target (one run, on the square plus the simulator's own
/// margin), which the held-out error is always also reported against.
fn pairs(
    generator: &TerrainGenerator,
    args: &Args,
    count: usize,
    (x_range, z_radius): ((f64, f64), f64),
    avoid: Option<[f64; 4]>,
    rng: &mut SplitMix,
) -> (Vec<TrainingPair>, Vec<TrainingPair>) {
    let params = &args.params;
    let margin = args.config.margin();
    let spacing = generator.spacing();
    let (mut out, mut single) = (Vec::new(), Vec::new());
    let mut tries = 0;
    while out.len() < count && tries < count * 50 {
        tries += 1;
        let x = x_range.0 + f64::from(rng.next_f32()) * (x_range.1 - x_range.0);
        let z = (f64::from(rng.next_f32()) * 2.0 - 1.0) * z_radius;
        let half = args.side as f64 * spacing / 2.0;
        let reach = (args.side + 2 * margin) as f64 * spacing;
        if let Some([x0, x1, z0, z1]) = avoid
            && x + reach > x0
            && x - reach < x1
            && z + reach > z0
            && z - reach < z1
        {
            continue;
        }
        if generator.height_at(x + half, z + half) < 2.0 {
            continue;
        }
        let at = ((x / spacing) as i64, (z / spacing) as i64);
        let (mean, one) = make_pair_simulated_wider(
            generator,
            at,
            args.side,
            margin,
            params,
            args.runs,
            args.sim_margin,
        );
        out.push(mean);
        single.push(if args.sim_margin > params.margin() {
            make_pair_averaged(generator, at, args.side, margin, params, 1).1
        } else {
            one
        });
    }
    (out, single)
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let src = std::fs::read_to_string(&args.world)
        .map_err(|e| format!("{}: {e}", args.world.display()))?;
    let config = parse_world(&src, &args.world.display().to_string()).map_err(|e| e.to_string())?;
    let generator = TerrainGenerator::new(&config).map_err(|e| e.to_string())?;
    let mut log = String::new();
    let say = |log: &mut String, line: String| {
        println!("{line}");
        let _ = writeln!(log, "{line}");
    };
    say(
        &mut log,
        format!(
            "train_erosion: world {}, {} training squares within {} m, {} held out (band from \
             radius {} m), side {}, \
             targets averaged over {} simulator runs on the square plus {} cells, {:?}, \
             simulator {:?}",
            args.world.display(),
            args.pairs,
            args.train_radius,
            args.held_out,
            args.radius,
            args.side,
            args.runs,
            args.sim_margin.max(args.params.margin()),
            args.config,
            args.params
        ),
    );
    let start = Instant::now();
    let mut rng = SplitMix::new(args.config.seed ^ 0xda7a);
    let r = args.radius;
    // Held-out squares come from a band east of the training area; a wider training area
    // (`--train-radius`) leaves that band (and a square's reach around it) out.
    let band = [r + 2000.0, 2.0 * r + 2000.0, -r, r];
    let t = args.train_radius;
    let (train, _) = pairs(
        &generator,
        &args,
        args.pairs,
        ((-t, t), t),
        Some(band),
        &mut rng,
    );
    let (held, held_single) = pairs(
        &generator,
        &args,
        args.held_out,
        ((band[0], band[1]), r),
        None,
        &mut rng,
    );
    say(
        &mut log,
        format!(
            "made {} + {} pairs in {:.1} s",
            train.len(),
            held.len(),
            start.elapsed().as_secs_f64()
        ),
    );
    let iterations = args.config.iterations;
    let mut trainer = ErosionTrainer::new(args.config.clone(), &train, &held);
    let save = |trainer: &ErosionTrainer, log: &str| -> Result<(), String> {
        if let Some(dir) = args.out.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::write(&args.out, trainer.weights().to_bytes())
            .map_err(|e| format!("{}: {e}", args.out.display()))?;
        let log_path = format!("{}.log", args.out.display());
        std::fs::write(&log_path, log).map_err(|e| format!("{log_path}: {e}"))
    };
    say(
        &mut log,
        format!(
            "feature channel gains (each channel at unit RMS): {:?}",
            trainer.channel_gains()
        ),
    );
    say(
        &mut log,
        format!(
            "held-out error before training: {:.3}",
            trainer.held_out_error()
        ),
    );
    let train_start = Instant::now();
    let mut recent = 0.0;
    for i in 1..=iterations {
        recent += trainer.step();
        if i % 25 == 0 {
            say(
                &mut log,
                format!(
                    "iteration {i}: loss {:.4} ({:.0} s)",
                    recent / 25.0,
                    train_start.elapsed().as_secs_f64()
                ),
            );
            recent = 0.0;
        }
        let out_of_time = train_start.elapsed().as_secs_f64() > args.minutes * 60.0;
        if i % 100 == 0 || i == iterations || out_of_time {
            let error = trainer.held_out_error();
            let single = trainer.error_on(&held_single);
            say(
                &mut log,
                format!(
                    "iteration {i}: held-out RMS error {:.1}% of the simulator's erosion depth \
                     (mean of {} runs; against one run with the simulator's own margin: {:.1}%)",
                    100.0 * error,
                    args.runs,
                    100.0 * single
                ),
            );
            save(&trainer, &log)?;
        }
        if out_of_time {
            say(
                &mut log,
                format!("stopped after {:.1} minutes", args.minutes),
            );
            break;
        }
    }
    save(&trainer, &log)?;
    println!("wrote {}", args.out.display());
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
