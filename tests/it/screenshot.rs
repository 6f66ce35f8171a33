//! The sandbox renders a real world. Without a window (`--offscreen`, no Xvfb, Mesa's software
//! Vulkan, lavapipe): one run flies a short `--bench` (without scatter, which takes minutes to
//! place in a dev build) and saves a screenshot; the tests check that the bench line has sane
//! values and that the picture has sky and terrain in it rather than a blank or uniform frame.
//! With a window under Xvfb: the panels (egui) and the window's screenshot. A shore: the water
//! and grass shaders draw.
//!
//! Needs the Debian packages `mesa-vulkan-drivers libvulkan1`, and `xvfb xauth` for the window
//! (`.ci/run` installs them). The sandbox binary comes from the same `cargo test` build (examples
//! are built with the tests).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const LAVAPIPE_ICD: &str = "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json";
const WIDTH: u32 = 640;
const HEIGHT: u32 = 360;
/// The sandbox's sky colour (sRGB bytes), which the fog also fades to.
const SKY: [f32; 3] = [158.0, 189.0, 224.0];

fn sandbox_binary() -> PathBuf {
    // tests run from target/<profile>/deps; examples live in target/<profile>/examples.
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    profile_dir
        .join("examples")
        .join(format!("sandbox{}", std::env::consts::EXE_SUFFIX))
}

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Pixel statistics the assertions read.
struct Picture {
    sky_like: f64,
    terrain_like: f64,
    luma_std: f64,
    top_mean_blue_minus_red: f64,
    bottom_terrain: f64,
    distinct_colours: usize,
}

fn analyse(image: &image::RgbImage) -> Picture {
    let (w, h) = image.dimensions();
    let total = f64::from(w * h);
    let mut sky_like = 0u32;
    let mut terrain_like = 0u32;
    let mut bottom_terrain = 0u32;
    let mut luma = Vec::with_capacity((w * h) as usize);
    let mut top_bmr = 0.0;
    let mut colours = std::collections::HashSet::new();
    for (x, y, p) in image.enumerate_pixels() {
        let [r, g, b] = p.0.map(f32::from);
        let d = ((r - SKY[0]).powi(2) + (g - SKY[1]).powi(2) + (b - SKY[2]).powi(2)).sqrt();
        if d < 30.0 {
            sky_like += 1;
        } else if d > 60.0 {
            terrain_like += 1;
            if y >= h / 2 {
                bottom_terrain += 1;
            }
        }
        if y < h / 8 {
            top_bmr += f64::from(b - r);
        }
        luma.push(f64::from(0.2126 * r + 0.7152 * g + 0.0722 * b));
        // Coarse buckets: a flat or two-tone frame has very few.
        colours.insert((p.0[0] / 16, p.0[1] / 16, p.0[2] / 16));
        let _ = x;
    }
    let mean = luma.iter().sum::<f64>() / luma.len() as f64;
    let var = luma.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / luma.len() as f64;
    Picture {
        sky_like: f64::from(sky_like) / total,
        terrain_like: f64::from(terrain_like) / total,
        luma_std: var.sqrt(),
        top_mean_blue_minus_red: top_bmr / f64::from(w * (h / 8)),
        bottom_terrain: f64::from(bottom_terrain) / (total / 2.0),
        distinct_colours: colours.len(),
    }
}

/// The last `lines` lines of a run's log, for failure messages.
fn tail(output: &Output, lines: usize) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let all: Vec<&str> = stderr.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Runs the sandbox with `args` on lavapipe, under Xvfb when `window`.
fn run_sandbox(args: &[&str], screenshot: &Path, window: bool) -> Output {
    let sandbox = sandbox_binary();
    assert!(
        sandbox.exists(),
        "{} is missing: run the tests with `cargo test`, which builds the examples",
        sandbox.display()
    );
    assert!(
        Path::new(LAVAPIPE_ICD).exists(),
        "rendering without a GPU needs Mesa's lavapipe: \
         apt-get install mesa-vulkan-drivers libvulkan1 (.ci/run does this)"
    );
    let _ = std::fs::remove_file(screenshot);
    let mut command = if window {
        assert!(
            have("xvfb-run"),
            "the window check needs Xvfb: apt-get install xvfb xauth (.ci/run does this)"
        );
        let mut c = Command::new("xvfb-run");
        c.args(["-a", "-s", "-screen 0 1280x720x24"]).arg(&sandbox);
        c
    } else {
        // Offscreen runs must not need a display: hide any the test runner has.
        let mut c = Command::new(&sandbox);
        c.env_remove("DISPLAY").env_remove("WAYLAND_DISPLAY");
        c
    };
    let output = command
        .args(args)
        .args(["--timeout", "1500", "--size", &format!("{WIDTH}x{HEIGHT}")])
        .arg("--screenshot")
        .arg(screenshot)
        .env("WGPU_BACKEND", "vulkan")
        .env("VK_ICD_FILENAMES", LAVAPIPE_ICD)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run the sandbox");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "sandbox {args:?} failed ({}):\n{stdout}\n{}",
        output.status,
        tail(&output, 40)
    );
    output
}

/// One offscreen run shared by the bench and screenshot tests: world generation is the slow
/// part, so both read the same run.
struct OffscreenRun {
    stdout: String,
    screenshot: PathBuf,
}

fn offscreen_run() -> &'static OffscreenRun {
    static RUN: OnceLock<OffscreenRun> = OnceLock::new();
    RUN.get_or_init(|| {
        let screenshot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sandbox_offscreen.png");
        // Without scatter: placing the trees of the starting area takes minutes in a dev build
        // on a software renderer.
        let output = run_sandbox(
            &["--offscreen", "--bench", "3", "--no-scatter"],
            &screenshot,
            false,
        );
        OffscreenRun {
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            screenshot,
        }
    })
}

/// The value of `key=` in a `render:` line.
fn field<T: std::str::FromStr>(line: &str, key: &str) -> T {
    let value = line
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {key}= in {line}"));
    value
        .parse()
        .unwrap_or_else(|_| panic!("{key}={value} is not a number in {line}"))
}

#[test]
fn offscreen_bench_prints_one_sane_line() {
    let run = offscreen_run();
    let lines: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("render: "))
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "one render line expected in:\n{}",
        run.stdout
    );
    let line = lines[0];
    println!("{line}");
    assert!(
        line.starts_with(&format!("render: size={WIDTH}x{HEIGHT} frames=")),
        "{line}"
    );
    let frames: u64 = field(line, "frames");
    let p50: f64 = field(line, "p50_ms");
    let p99: f64 = field(line, "p99_ms");
    let fps: f64 = field(line, "fps");
    let instances: u64 = field(line, "instances");
    let draw_calls: u64 = field(line, "draw_calls");
    let chunks: u64 = field(line, "chunks");
    assert!(frames >= 1, "no frame flown: {line}");
    assert!(p50 > 0.0 && p99 >= p50, "frame times out of order: {line}");
    // Three seconds flown: the frames and their rate agree with the frame times.
    assert!(fps > 0.0 && fps < 10_000.0, "{line}");
    assert!(
        (fps * p50 / 1000.0) < 10.0 && (fps * p99 / 1000.0) > 0.1,
        "fps and frame times disagree: {line}"
    );
    assert_eq!(instances, 0, "scatter is off: {line}");
    assert!(draw_calls >= 2, "terrain and sea take draws: {line}");
    assert!(chunks > 100, "the starting area is resident: {line}");
}

#[test]
fn offscreen_screenshot_shows_sky_and_terrain() {
    let run = offscreen_run();
    let image = image::open(&run.screenshot)
        .unwrap_or_else(|e| panic!("{}: {e}", run.screenshot.display()))
        .to_rgb8();
    assert_eq!(image.dimensions(), (WIDTH, HEIGHT));
    let p = analyse(&image);
    println!(
        "screenshot {}: sky {:.2}, terrain {:.2}, bottom terrain {:.2}, luma std {:.1}, top blue-red {:.1}, colours {}",
        run.screenshot.display(),
        p.sky_like,
        p.terrain_like,
        p.bottom_terrain,
        p.luma_std,
        p.top_mean_blue_minus_red,
        p.distinct_colours
    );
    assert!(p.luma_std > 12.0, "a flat, blank-looking frame");
    assert!(p.sky_like > 0.05, "no sky in the frame");
    assert!(p.terrain_like > 0.2, "no terrain in the frame");
    assert!(
        p.top_mean_blue_minus_red > 20.0,
        "the top of the frame should be blue sky"
    );
    assert!(
        p.bottom_terrain > 0.5,
        "the lower half should be mostly ground"
    );
    assert!(
        p.distinct_colours > 60,
        "too few colours for shaded terrain"
    );
}

/// The window path: winit, the egui panels (Stats with draw calls included) and the window's
/// screenshot. The panels cover part of the picture, so only its variety is checked.
#[test]
fn windowed_screenshot_with_panels() {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sandbox.png");
    let output = run_sandbox(&["--frames", "5"], &out, true);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("sandbox: world_ready_s="))
        .unwrap_or_else(|| panic!("no summary line in:\n{stdout}"));
    println!("{summary}\nscreenshot: {}", out.display());
    let image = image::open(&out)
        .unwrap_or_else(|e| panic!("{}: {e}", out.display()))
        .to_rgb8();
    assert_eq!(image.dimensions(), (WIDTH, HEIGHT));
    let p = analyse(&image);
    println!(
        "luma std {:.1}, colours {}, sky {:.2}, terrain {:.2}",
        p.luma_std, p.distinct_colours, p.sky_like, p.terrain_like
    );
    assert!(p.luma_std > 12.0, "a flat, blank-looking frame");
    assert!(
        p.distinct_colours > 60,
        "too few colours for a world and panels"
    );
    assert!(p.terrain_like > 0.1, "no terrain in the frame");
}

/// Runs the sandbox offscreen for a few frames with `args` and returns its screenshot.
fn sandbox_screenshot(name: &str, args: &[&str]) -> image::RgbImage {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let mut all = vec!["--offscreen", "--frames", "5"];
    all.extend_from_slice(args);
    run_sandbox(&all, &out, false);
    image::open(&out)
        .unwrap_or_else(|e| panic!("{}: {e}", out.display()))
        .to_rgb8()
}

/// Share of the lower half's pixels that look like water: bluer and greener than red (sand and
/// grass are not) and not sky.
fn water_share(image: &image::RgbImage) -> f64 {
    let (w, h) = image.dimensions();
    let mut water = 0u32;
    for y in h / 2..h {
        for x in 0..w {
            let [r, g, b] = image.get_pixel(x, y).0.map(f32::from);
            let sky = ((r - SKY[0]).powi(2) + (g - SKY[1]).powi(2) + (b - SKY[2]).powi(2)).sqrt();
            if sky > 30.0 && b > r + 15.0 && g > r + 10.0 {
                water += 1;
            }
        }
    }
    f64::from(water) / f64::from(w * (h - h / 2))
}

#[test]
fn sandbox_screenshot_of_a_shore_shows_the_sea_and_grass() {
    // A beach of the default world with the sea to the east (see docs/shore.png): the water and
    // grass shaders compile and draw under lavapipe.
    let image = sandbox_screenshot("shore.png", &["--camera", "330,30,267,-90,-15"]);
    let p = analyse(&image);
    let water = water_share(&image);
    println!(
        "water {water:.2}, sky {:.2}, terrain {:.2}, colours {}",
        p.sky_like, p.terrain_like, p.distinct_colours
    );
    assert!(water > 0.1, "no sea in the lower half ({water:.2})");
    assert!(p.sky_like > 0.05, "no sky in the frame");
    assert!(p.distinct_colours > 60, "too few colours");
}
