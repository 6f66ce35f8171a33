//! How close any seam-free model could come to the simulator on the held-out squares: the
//! floor under issue 14's quality measure.
//!
//! ```text
//! cargo run --release --example erosion_floor -- [--margin 48] [--runs 4] [--squares 12]
//! ```
//!
//! The held-out measure compares a model with one simulator run on the square plus the
//! simulator's own 16-cell margin. Two things in that target no model of the noise can know:
//! where the droplets happened to start (the seed), and where the simulated tile ended (droplets
//! from beyond the margin never arrive). The best a model can do is the simulator's mean over
//! seeds on an endless world; this example stands in for it with the mean of `--runs`
//! differently seeded runs on the square plus `--margin` cells, and prints its RMS error against
//! the standard target, as a fraction of the target's RMS (what `train_erosion` reports), on
//! land squares of the held-out band (x 6000 to 10000 m, z within 4000 m). A second figure
//! leaves the margin at 16, so the seed's part and the tile edge's part can be told apart. With
//! `runs` runs the mean still carries `1/runs` of one run's chance, so the floor printed is a
//! little above the true one.
//!
//! `--perturb-mm N` also measures how much the target hangs on detail no model reads: the mean
//! of the same runs on the same margin, on noise with every height moved by up to N millimetres
//! (uniform, a hash of the cell), scored the same way. If moving the ground by a hair moves the
//! simulator's result by much of its depth, that much of the target is beyond any smooth model.
//!
//! `--symmetry 1` also runs the same means on the square transposed, mirrored along x, and
//! turned half round, each turned back before scoring: how far the simulator is from treating
//! every direction alike, which says whether training on turned squares can help.
//! `--isotropic 1` measures all of it with [`ErosionParams::isotropic`] on.
//!
//! `--parts 1` also scores each half of the simulator alone against the target, same seed:
//! droplets without the thermal passes, and the thermal passes on the bare noise. It says how
//! much of the target is the local slumping a few filters can follow, and how much the droplets'
//! long paths.
//!
//! `--model PATH` also scores an `.erosion` model on the same squares, and splits its error and
//! the floor's by scale: each field is averaged over squares of 3, 5, 9 and 17 cells (a box
//! blur), and the errors are taken between the blurred fields. It says which sizes of detail a
//! model gets right and which it misses.

use aigc_world::ai::nca::rng::SplitMix;
use aigc_world::config::parse_world;
use aigc_world::erosion::pairs::{make_pair_averaged, make_pair_simulated_wider, noise_tile};
use aigc_world::erosion::{ErosionNet, ErosionParams, ErosionWeights, erode};
use aigc_world::terrain::TerrainGenerator;

struct Args {
    margin: usize,
    runs: usize,
    squares: usize,
    perturb_mm: usize,
    symmetry: bool,
    isotropic: bool,
    parts: bool,
    model: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        margin: 48,
        runs: 4,
        squares: 12,
        perturb_mm: 0,
        symmetry: false,
        isotropic: false,
        parts: false,
        model: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        if flag == "--model" {
            args.model = Some(value);
            continue;
        }
        let value = value.parse::<usize>().map_err(|e| format!("{flag}: {e}"))?;
        match flag.as_str() {
            "--margin" => args.margin = value,
            "--runs" => args.runs = value.clamp(1, 64),
            "--squares" => args.squares = value.max(1),
            "--perturb-mm" => args.perturb_mm = value,
            "--symmetry" => args.symmetry = value != 0,
            "--isotropic" => args.isotropic = value != 0,
            "--parts" => args.parts = value != 0,
            other => {
                return Err(format!(
                    "unknown option {other}\nusage: erosion_floor [--margin N] [--runs N] [--squares N] [--perturb-mm N] [--symmetry 0|1] [--isotropic 0|1] [--parts 0|1] [--model PATH]"
                ));
            }
        }
    }
    Ok(args)
}

/// Sums of squares for an RMS ratio.
#[derive(Default)]
struct Ratio {
    error: f64,
    depth: f64,
}

impl Ratio {
    fn add(&mut self, guess: &[f32], target: &[f32]) {
        for (g, t) in guess.iter().zip(target) {
            self.error += f64::from(g - t).powi(2);
            self.depth += f64::from(*t).powi(2);
        }
    }

    fn percent(&self) -> f64 {
        100.0 * (self.error / self.depth.max(1e-12)).sqrt()
    }
}

/// Box radii of the scales a model's error is split into (0: the fields as they are).
const SCALES: [usize; 5] = [0, 1, 2, 4, 8];

/// The mean of each cell's `(2r + 1)`-cell square (cut at the edges) of an `n` x `n` field.
fn box_blur(field: &[f32], n: usize, r: usize) -> Vec<f32> {
    if r == 0 {
        return field.to_vec();
    }
    let mut out = vec![0.0; n * n];
    for j in 0..n {
        for i in 0..n {
            let (mut sum, mut count) = (0.0, 0.0);
            for v in j.saturating_sub(r)..(j + r + 1).min(n) {
                for u in i.saturating_sub(r)..(i + r + 1).min(n) {
                    sum += field[v * n + u];
                    count += 1.0;
                }
            }
            out[j * n + i] = sum / count;
        }
    }
    out
}

/// A model's error and the floor's at each of [`SCALES`].
#[derive(Default)]
struct ByScale {
    /// The blurred target against the target: how much of it is finer than the scale.
    detail: [Ratio; SCALES.len()],
    model: [Ratio; SCALES.len()],
    floor: [Ratio; SCALES.len()],
}

impl ByScale {
    fn add(&mut self, model: &[f32], floor: &[f32], target: &[f32], n: usize) {
        for (k, &r) in SCALES.iter().enumerate() {
            let t = box_blur(target, n, r);
            self.detail[k].add(&t, target);
            self.model[k].add(&box_blur(model, n, r), &t);
            self.floor[k].add(&box_blur(floor, n, r), &t);
        }
    }
}

/// The mean height change of `runs` runs (seeded as the pairs' runs are) on the `side` square at
/// `at` plus the simulator's own margin, on noise with every height moved by up to `mm`
/// millimetres.
fn perturbed_mean(
    generator: &TerrainGenerator,
    at: (i64, i64),
    side: usize,
    params: &ErosionParams,
    runs: usize,
    mm: usize,
) -> Vec<f32> {
    let m = params.margin();
    let mut tile = noise_tile(generator, at.0, at.1, side, m);
    for (k, h) in tile.heights.iter_mut().enumerate() {
        let (x, z) = (
            tile.ix0 + (k % tile.nx) as i64,
            tile.iz0 + (k / tile.nx) as i64,
        );
        let mut rng = SplitMix::new((x as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ z as u64);
        *h += (rng.next_f32() * 2.0 - 1.0) * mm as f32 * 1e-3;
    }
    let before = tile.crop(m, m, side, side).heights;
    let mut sum = vec![0.0f32; side * side];
    for run in 0..runs {
        let mut eroded = tile.clone();
        erode(&mut eroded, &params.for_run(run));
        let after = eroded.crop(m, m, side, side).heights;
        for ((s, a), b) in sum.iter_mut().zip(&after).zip(&before) {
            *s += a - b;
        }
    }
    sum.iter().map(|s| s / runs as f32).collect()
}

/// Where cell `(i, j)` of an `n` x `n` square goes: transposed, then mirrored along x and z.
fn turn((transpose, flip_x, flip_z): (bool, bool, bool), i: usize, j: usize, n: usize) -> usize {
    let (x, z) = if transpose { (j, i) } else { (i, j) };
    let x = if flip_x { n - 1 - x } else { x };
    let z = if flip_z { n - 1 - z } else { z };
    z * n + x
}

/// The mean height change of `runs` runs on the square plus the simulator's margin, turned by
/// `symmetry` before the simulator runs and turned back after.
fn turned_mean(
    generator: &TerrainGenerator,
    at: (i64, i64),
    side: usize,
    params: &ErosionParams,
    runs: usize,
    symmetry: (bool, bool, bool),
) -> Vec<f32> {
    let m = params.margin();
    let tile = noise_tile(generator, at.0, at.1, side, m);
    let n = tile.nx;
    let mut turned = tile.clone();
    for j in 0..n {
        for i in 0..n {
            turned.heights[turn(symmetry, i, j, n)] = tile.heights[j * n + i];
        }
    }
    let mut sum = vec![0.0f32; side * side];
    for run in 0..runs {
        let mut eroded = turned.clone();
        erode(&mut eroded, &params.for_run(run));
        for j in 0..side {
            for i in 0..side {
                let k = turn(symmetry, i + m, j + m, n);
                sum[j * side + i] += eroded.heights[k] - turned.heights[k];
            }
        }
    }
    sum.iter().map(|s| s / runs as f32).collect()
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let path = "assets/worlds/default.world.ron";
    let src = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let config = parse_world(&src, path).map_err(|e| e.to_string())?;
    let generator = TerrainGenerator::new(&config).map_err(|e| e.to_string())?;
    let params = ErosionParams {
        isotropic: args.isotropic,
        ..ErosionParams::default()
    };
    // Other seeds than the target's own run, so the mean is independent of it.
    let others = ErosionParams {
        seed: params.seed ^ 0x5eed_0f10,
        ..params.clone()
    };
    let (side, spacing) = (96usize, generator.spacing());
    let mut rng = SplitMix::new(77);
    let (mut wide, mut same, mut moved) = (Ratio::default(), Ratio::default(), Ratio::default());
    let mut depth_m = 0.0f64;
    const TURNS: [(&str, (bool, bool, bool)); 3] = [
        ("transposed", (true, false, false)),
        ("mirrored_x", (false, true, false)),
        ("half_turned", (false, true, true)),
    ];
    let mut turns: Vec<Ratio> = TURNS.iter().map(|_| Ratio::default()).collect();
    let droplets_only = ErosionParams {
        thermal_iterations: 0,
        ..params.clone()
    };
    let thermal_only = ErosionParams {
        droplets_per_cell: 0,
        ..params.clone()
    };
    let (mut droplets, mut thermal) = (Ratio::default(), Ratio::default());
    let net = match &args.model {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
            let weights = ErosionWeights::from_bytes(&bytes).map_err(|e| format!("{path}: {e}"))?;
            Some(ErosionNet::new(weights))
        }
        None => None,
    };
    let mut scales = ByScale::default();
    let mut done = 0;
    while done < args.squares {
        let x = 6000.0 + f64::from(rng.next_f32()) * 4000.0;
        let z = (f64::from(rng.next_f32()) * 2.0 - 1.0) * 4000.0;
        let half = side as f64 * spacing / 2.0;
        if generator.height_at(x + half, z + half) < 2.0 {
            continue;
        }
        let at = ((x / spacing) as i64, (z / spacing) as i64);
        let target = make_pair_averaged(&generator, at, side, 0, &params, 1).1;
        let endless =
            make_pair_simulated_wider(&generator, at, side, 0, &others, args.runs, args.margin).0;
        let edged = make_pair_averaged(&generator, at, side, 0, &others, args.runs).0;
        wide.add(&endless.target, &target.target);
        same.add(&edged.target, &target.target);
        if args.perturb_mm > 0 {
            let mean = perturbed_mean(&generator, at, side, &others, args.runs, args.perturb_mm);
            moved.add(&mean, &target.target);
        }
        if args.symmetry {
            for ((_, symmetry), ratio) in TURNS.iter().zip(&mut turns) {
                let mean = turned_mean(&generator, at, side, &others, args.runs, *symmetry);
                ratio.add(&mean, &target.target);
            }
        }
        if let Some(net) = &net {
            let noise = |x, z, nx, nz| generator.noise_window(x, z, nx, nz);
            let (change, _) = net.residual_at(noise, at, (side, side), spacing as f32);
            scales.add(&change, &edged.target, &target.target, side);
        }
        if args.parts {
            let part = |p: &ErosionParams| make_pair_averaged(&generator, at, side, 0, p, 1).1;
            droplets.add(&part(&droplets_only).target, &target.target);
            thermal.add(&part(&thermal_only).target, &target.target);
        }
        done += 1;
        depth_m = (same.depth / (done * side * side) as f64).sqrt();
        println!(
            "square {done} at {at:?}: floor so far {:.1}% (the mean on a {}-cell margin), {:.1}% \
             (the mean on the simulator's own {}-cell margin)",
            wide.percent(),
            args.margin.max(params.margin()),
            same.percent(),
            params.margin()
        );
    }
    println!(
        "erosion_floor: squares={} runs={} margin={} floor_pct={:.1} same_margin_pct={:.1} \
         rms_depth_m={depth_m:.3}",
        args.squares,
        args.runs,
        args.margin.max(params.margin()),
        wide.percent(),
        same.percent()
    );
    if args.symmetry {
        let figures: Vec<String> = TURNS
            .iter()
            .zip(&turns)
            .map(|((name, _), ratio)| format!("{name}_pct={:.1}", ratio.percent()))
            .collect();
        println!("erosion_floor: {}", figures.join(" "));
    }
    if net.is_some() {
        for (k, r) in SCALES.iter().enumerate() {
            println!(
                "erosion_floor: box_cells={} detail_pct={:.1} model_pct={:.1} floor_pct={:.1}",
                2 * r + 1,
                scales.detail[k].percent(),
                scales.model[k].percent(),
                scales.floor[k].percent()
            );
        }
    }
    if args.parts {
        println!(
            "erosion_floor: droplets_only_pct={:.1} thermal_only_pct={:.1}",
            droplets.percent(),
            thermal.percent()
        );
    }
    if args.perturb_mm > 0 {
        println!(
            "erosion_floor: perturbed_mm={} same_margin_perturbed_pct={:.1}",
            args.perturb_mm,
            moved.percent()
        );
    }
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
