//! The sandbox renders a real world: run it under Xvfb with Mesa's software Vulkan (lavapipe)
//! until the starting area is generated, take a screenshot, and check the picture has sky and
//! terrain in it rather than a blank or uniform frame.
//!
//! Needs the Debian packages `xvfb xauth mesa-vulkan-drivers libvulkan1` (`.ci/run` installs
//! them). The sandbox binary comes from the same `cargo test` build (examples are built with the
//! tests).

use std::path::{Path, PathBuf};
use std::process::Command;

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

/// Runs the debug sandbox under Xvfb on lavapipe with `args`, takes its screenshot and returns it.
fn sandbox_screenshot(name: &str, args: &[&str]) -> image::RgbImage {
    let sandbox = sandbox_binary();
    assert!(
        sandbox.exists(),
        "{} is missing: run the tests with `cargo test`, which builds the examples",
        sandbox.display()
    );
    assert!(
        have("xvfb-run") && Path::new(LAVAPIPE_ICD).exists(),
        "rendering without a GPU needs Xvfb and Mesa's lavapipe: \
         apt-get install xvfb xauth mesa-vulkan-drivers libvulkan1 (.ci/run does this)"
    );
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_file(&out);
    let size = format!("{WIDTH}x{HEIGHT}");
    let output = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1280x720x24"])
        .arg(&sandbox)
        .args([
            "--frames",
            "5",
            "--timeout",
            "1500",
            "--no-ui",
            "--size",
            &size,
        ])
        .args(args)
        .arg("--screenshot")
        .arg(&out)
        .env("WGPU_BACKEND", "vulkan")
        .env("VK_ICD_FILENAMES", LAVAPIPE_ICD)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run xvfb-run");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "sandbox failed ({}):\n{stdout}\n{}",
        output.status,
        stderr
            .lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    );
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("sandbox: world_ready_s="))
        .unwrap_or_else(|| panic!("no summary line in:\n{stdout}"));
    println!("{summary}\nscreenshot: {}", out.display());
    image::open(&out)
        .unwrap_or_else(|e| panic!("{}: {e}", out.display()))
        .to_rgb8()
}

#[test]
fn sandbox_screenshot_shows_sky_and_terrain() {
    let image = sandbox_screenshot("sandbox.png", &[]);
    assert_eq!(image.dimensions(), (WIDTH, HEIGHT));
    let p = analyse(&image);
    println!(
        "sky {:.2}, terrain {:.2}, bottom terrain {:.2}, luma std {:.1}, top blue-red {:.1}, colours {}",
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
