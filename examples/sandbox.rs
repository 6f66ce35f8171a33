//! The sandbox: fly over an endless generated world, tune it live, talk to its people.
//!
//! ```text
//! cargo run --release --example sandbox
//! cargo run --release --example sandbox -- --world path/to/my.world.ron
//! ```
//!
//! Controls: WASD to fly, Space / C up and down, hold the right mouse button to look, Shift to go
//! faster, the mouse wheel to change speed, E near someone to talk (Escape ends it), F1 hides the
//! panels.
//!
//! Scripted runs, for screenshots and measurements (`--frames N --screenshot PATH`): wait until
//! the starting area and its textures are complete, render N more frames, save a screenshot with
//! Bevy's screenshot API and exit, printing how long the world took and the frame rate.
//! `--talk "LINE"` first flies to the nearest NPC, opens a conversation and says LINE, so the
//! screenshot shows a dialogue in progress. `--dump-layers DIR` also reads the terrain's
//! layer arrays back from the GPU at that moment and writes each layer's albedo and normal
//! (mip 0) as PNGs: what the GPU really samples, learned layers grown on the GPU included.
//!
//! `--offscreen` renders without a window and without winit (a GPU server without a display,
//! CI without Xvfb): the camera draws into an image of `--size`, which `--screenshot` saves; the
//! egui panels are left out (they need a window). `--bench SECONDS` waits for the starting area
//! and its scatter, flies a fixed path for SECONDS (see `common/bench.rs`) and prints one line,
//! `render: size=WxH frames=N p50_ms= p99_ms= fps= instances= draw_calls= chunks=`;
//! `--no-scatter` leaves trees, rocks and grass out, the baseline for what they cost.
//! `--erosion` turns the learned erosion on with the shipped model when the world file leaves
//! it off (scripted runs then wait for the eroded ground).
//!
//! ```text
//! cargo run --release --example sandbox -- --offscreen --bench 30 --size 640x360
//! cargo run --release --example sandbox -- --offscreen --screenshot shot.png
//! ```

mod common;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aigc_world::config::{ActiveWorld, ErosionConfig, WorldConfigStatus};
use aigc_world::dialogue::ui::{ConversationUi, OpenConversation, SubmitLine};
use aigc_world::npc::Npc;
use aigc_world::prelude::*;
use aigc_world::terrain::{ErosionStatus, TerrainSampler};
use aigc_world::texture::TextureStatus;
use aigc_world::ui::{WorldUiPlugin, WorldUiSettings};
use bevy::app::AppExit;
use bevy::core_pipeline::tonemapping::Tonemapping;
use bevy::light::CascadeShadowConfigBuilder;
use bevy::pbr::{DistanceFog, FogFalloff};
use bevy::prelude::*;
use bevy::render::RenderPlugin;
use bevy::render::view::screenshot::save_to_disk;
use bevy::window::{PresentMode, WindowResolution};
use bevy_egui::EguiPlugin;
use bevy_egui::input::EguiWantsInput;
use common::bench::{BenchFlight, BenchSources};
use common::offscreen::{OffscreenPlugin, OffscreenTarget};
use common::{CameraInputBlocked, FlyCamera, FlyCameraPlugin, FlyCameraSystems};

/// Sky and fog colour (sRGB): the far terrain fades into it, hiding the streaming edge.
const SKY: Color = Color::srgb(0.62, 0.74, 0.88);

#[derive(Clone, Debug)]
struct Args {
    world: PathBuf,
    frames: Option<u32>,
    screenshot: Option<PathBuf>,
    talk: Option<String>,
    timeout: Duration,
    width: u32,
    height: u32,
    plain: bool,
    shadows: bool,
    ui: bool,
    dump_layers: Option<PathBuf>,
    /// Camera position (x, y, z metres) and yaw, pitch (degrees; yaw 0 looks north, -z).
    camera: Option<[f32; 5]>,
    offscreen: bool,
    bench: Option<f32>,
    scatter: bool,
    erosion: bool,
}

impl Args {
    /// Whether the run ends by itself (screenshot, frame count or benchmark).
    fn scripted(&self) -> bool {
        self.frames.is_some() || self.bench.is_some()
    }
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        world: common::default_world(),
        frames: None,
        screenshot: None,
        talk: None,
        timeout: Duration::from_secs(900),
        width: 1280,
        height: 720,
        plain: false,
        shadows: true,
        ui: true,
        dump_layers: None,
        camera: None,
        offscreen: false,
        bench: None,
        scatter: true,
        erosion: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        let number = |name: &str, v: String| v.parse::<u32>().map_err(|e| format!("{name}: {e}"));
        match arg.as_str() {
            "--world" => args.world = PathBuf::from(value("--world")?),
            "--frames" => args.frames = Some(number("--frames", value("--frames")?)?),
            "--screenshot" => args.screenshot = Some(PathBuf::from(value("--screenshot")?)),
            "--talk" => args.talk = Some(value("--talk")?),
            "--timeout" => {
                args.timeout =
                    Duration::from_secs(u64::from(number("--timeout", value("--timeout")?)?))
            }
            "--size" => {
                let v = value("--size")?;
                let (w, h) = v.split_once('x').ok_or("--size wants WIDTHxHEIGHT")?;
                args.width = number("--size", w.into())?;
                args.height = number("--size", h.into())?;
            }
            "--plain" => args.plain = true,
            "--no-ui" => args.ui = false,
            "--no-shadows" => args.shadows = false,
            "--dump-layers" => args.dump_layers = Some(PathBuf::from(value("--dump-layers")?)),
            "--camera" => {
                let v = value("--camera")?;
                let parts: Vec<f32> = v
                    .split(',')
                    .map(|p| p.trim().parse::<f32>())
                    .collect::<Result<_, _>>()
                    .map_err(|e| format!("--camera: {e}"))?;
                let camera: [f32; 5] = parts
                    .try_into()
                    .map_err(|_| "--camera wants X,Y,Z,YAW,PITCH (metres, degrees)")?;
                if camera.iter().any(|c| !c.is_finite()) {
                    return Err("--camera: finite numbers only".into());
                }
                args.camera = Some(camera);
            }
            "--offscreen" => args.offscreen = true,
            "--no-scatter" => args.scatter = false,
            "--erosion" => args.erosion = true,
            "--bench" => {
                let v = value("--bench")?;
                let seconds = v.parse::<f32>().map_err(|e| format!("--bench: {e}"))?;
                if !(seconds > 0.0 && seconds.is_finite()) {
                    return Err(format!(
                        "--bench wants a number of seconds above 0, not {v}"
                    ));
                }
                args.bench = Some(seconds);
            }
            "--help" | "-h" => {
                return Err("usage: sandbox [--world PATH] [--frames N] [--screenshot PATH] \
                     [--talk LINE] [--timeout SECONDS] [--size WIDTHxHEIGHT] [--plain] [--no-shadows] [--no-ui] \
                     [--dump-layers DIR] [--camera X,Y,Z,YAW,PITCH] [--offscreen] [--bench SECONDS] [--no-scatter] [--erosion]"
                    .into());
            }
            other => return Err(format!("unknown argument {other} (try --help)")),
        }
    }
    if args.screenshot.is_some() && args.frames.is_none() {
        args.frames = Some(if args.bench.is_some() { 0 } else { 10 });
    }
    if args.width == 0 || args.height == 0 {
        return Err("--size wants a width and a height above 0".into());
    }
    if args.bench.is_some() && args.talk.is_some() {
        return Err("--bench flies away from the conversation: use one or the other".into());
    }
    if args.offscreen && !args.scripted() {
        return Err(
            "--offscreen shows nothing: give it --screenshot PATH, --frames N or --bench SECONDS"
                .into(),
        );
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let mut app = App::new();
    let world_path = match common::world_source(&mut app, &args.world) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let scripted = args.scripted();
    let defaults = DefaultPlugins
        .set(AssetPlugin {
            file_path: concat!(env!("CARGO_MANIFEST_DIR"), "/assets").into(),
            ..default()
        })
        // A screenshot must not catch pipelines still compiling (blank terrain).
        .set(RenderPlugin {
            synchronous_pipeline_compilation: scripted,
            ..default()
        });
    let defaults = if args.offscreen {
        common::offscreen::headless(defaults)
    } else {
        defaults.set(WindowPlugin {
            primary_window: Some(Window {
                title: "aigc_world sandbox".into(),
                resolution: WindowResolution::new(args.width, args.height),
                // Scripted runs measure the frame rate, so do not wait for vsync.
                present_mode: if scripted {
                    PresentMode::AutoNoVsync
                } else {
                    PresentMode::AutoVsync
                },
                ..default()
            }),
            ..default()
        })
    };
    let mut world_plugins = AigcWorldPlugin.set(WorldConfigPlugin {
        path: Some(world_path),
    });
    if !args.scatter {
        world_plugins = world_plugins.disable::<ScatterPlugin>();
    }
    app.add_plugins((defaults, world_plugins, DialogueUiPlugin, FlyCameraPlugin));
    if args.offscreen {
        app.add_plugins(OffscreenPlugin {
            width: args.width,
            height: args.height,
        });
    } else {
        app.add_plugins((EguiPlugin::default(), WorldUiPlugin));
    }
    app.insert_resource(ClearColor(SKY))
        .insert_resource(GlobalAmbientLight {
            color: Color::srgb(0.75, 0.82, 1.0),
            brightness: 900.0,
            ..default()
        })
        // Mid-afternoon: a lower sun than the default 10:00 shows the relief better.
        .insert_resource(WorldClock {
            hours: 15.5,
            ..default()
        })
        .insert_resource(Script::new(&args))
        .insert_resource(WorldUiSettings {
            visible: args.ui,
            ..default()
        })
        .insert_resource(TerrainMaterialSettings {
            use_textures: !args.plain,
            ..default()
        })
        .add_systems(Startup, setup)
        .add_systems(
            Update,
            (
                block_camera_input.before(FlyCameraSystems),
                (turn_erosion_on, place_camera, follow_sun, fit_fog),
                run_script,
            )
                .chain(),
        );
    app.run();
    match app.world().get_resource::<Script>().map(|s| s.failed) {
        Some(true) => ExitCode::FAILURE,
        _ => ExitCode::SUCCESS,
    }
}

/// Marks the sun.
#[derive(Component)]
struct Sun;

fn setup(script: Res<Script>, offscreen: Option<Res<OffscreenTarget>>, mut commands: Commands) {
    // `--camera X,Y,Z,YAW,PITCH` aims the camera; otherwise it starts above the origin.
    let (start, yaw, pitch) = match script.args.camera {
        Some([x, y, z, yaw, pitch]) => (
            Vec3::new(x, y, z),
            yaw.to_radians(),
            pitch.to_radians().clamp(-1.54, 1.54),
        ),
        None => (Vec3::new(0.0, 80.0, 0.0), -0.6, -0.18),
    };
    let mut camera = commands.spawn((
        Camera3d::default(),
        // Without tonemapping the fogged horizon and the clear colour are the same colour, so the
        // end of the streamed world melts into the sky instead of showing as a grey band.
        Tonemapping::None,
        WorldObserver::default(),
        FlyCamera {
            yaw,
            pitch,
            ..default()
        },
        DistanceFog {
            color: SKY,
            directional_light_color: Color::srgba(1.0, 0.93, 0.78, 0.5),
            directional_light_exponent: 24.0,
            falloff: FogFalloff::Linear {
                start: 400.0,
                end: 950.0,
            },
        },
        Transform::from_translation(start),
    ));
    if let Some(target) = offscreen {
        camera.insert(target.render_target());
    }
    commands.spawn((
        Sun,
        DirectionalLight {
            illuminance: 9_000.0,
            shadow_maps_enabled: script.args.shadows,
            color: Color::srgb(1.0, 0.96, 0.88),
            ..default()
        },
        CascadeShadowConfigBuilder {
            // Two cascades to 350 m: each cascade draws the terrain again, and far shadows
            // vanish in the fog anyway.
            num_cascades: 2,
            first_cascade_far_bound: 80.0,
            maximum_distance: 350.0,
            ..default()
        }
        .build(),
        Transform::default(),
    ));
}

/// Hands the mouse and keyboard to egui when a panel or text box wants them.
fn block_camera_input(
    wants: Option<Res<EguiWantsInput>>,
    conversation: Res<ConversationUi>,
    mut blocked: ResMut<CameraInputBlocked>,
) {
    let pointer = wants.as_ref().is_some_and(|w| w.wants_any_pointer_input());
    let keyboard =
        wants.is_some_and(|w| w.wants_any_keyboard_input()) || conversation.open.is_some();
    blocked.set_if_neq(CameraInputBlocked { pointer, keyboard });
}

/// Lifts the camera above the ground at the start, once the world is known.
fn place_camera(
    script: Res<Script>,
    sampler: Option<Res<TerrainSampler>>,
    mut camera: Query<&mut Transform, With<FlyCamera>>,
    mut placed: Local<bool>,
) {
    let Some(sampler) = sampler else { return };
    if *placed {
        return;
    }
    *placed = true;
    if script.args.camera.is_some() {
        // Aimed from the command line: stays where it was put.
        return;
    }
    for mut t in &mut camera {
        t.translation.y = sampler
            .height_at(t.translation.x, t.translation.z)
            .max(sampler.sea_level())
            + 70.0;
    }
}

/// Points the sun along the world clock's sun direction, centred on the camera so shadow
/// cascades cover what is seen.
fn follow_sun(clock: Res<WorldClock>, mut sun: Query<&mut Transform, With<Sun>>) {
    let towards_sun = clock.sun_direction();
    // Keep a little light at night: the sandbox is for looking at the world.
    let towards_sun = Vec3::new(towards_sun.x, towards_sun.y.max(0.15), towards_sun.z).normalize();
    for mut t in &mut sun {
        *t = Transform::IDENTITY.looking_to(-towards_sun, Vec3::Y);
    }
}

/// Ends the fog just inside the view radius, so the streaming edge is never seen.
fn fit_fog(world: Res<ActiveWorld>, mut fog: Query<&mut DistanceFog>) {
    if !world.is_changed() {
        return;
    }
    let radius = world.config().streaming.view_radius_m as f32;
    for mut f in &mut fog {
        f.falloff = FogFalloff::Linear {
            start: radius * 0.45,
            end: radius * 0.98,
        };
    }
}

/// Where a scripted run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for the starting area and its textures.
    Generating,
    /// Waiting for the area around the NPC to talk to.
    Approaching,
    /// Waiting for the NPC's replies.
    Talking,
    /// Flying the benchmark's path (`--bench`).
    Benching,
    /// Counting frames before the screenshot.
    Rendering,
    /// Screenshot requested; waiting for the file.
    Saving,
    /// Idle (interactive use).
    Done,
}

#[derive(Resource)]
struct Script {
    args: Args,
    phase: Phase,
    started: Instant,
    world_ready: Option<Duration>,
    textures_ready: Option<Duration>,
    frames_left: u32,
    measure_from: Option<(Instant, u64)>,
    frame: u64,
    saving_since: Option<Instant>,
    /// Layer readbacks not yet written.
    dumps_pending: Arc<AtomicUsize>,
    /// The benchmark flight, once it has begun.
    flight: Option<BenchFlight>,
    /// Frame at which the ground became eroded (`--erosion`), 0 before.
    eroded_from: u64,
    failed: bool,
}

impl Script {
    fn new(args: &Args) -> Self {
        Self {
            args: args.clone(),
            phase: Phase::Generating,
            started: Instant::now(),
            world_ready: None,
            textures_ready: None,
            frames_left: args.frames.unwrap_or(0),
            measure_from: None,
            frame: 0,
            saving_since: None,
            dumps_pending: Arc::new(AtomicUsize::new(0)),
            flight: None,
            eroded_from: 0,
            failed: false,
        }
    }
}

/// `--erosion`: the learned erosion on with the shipped model, once the world file is read.
fn turn_erosion_on(
    script: Res<Script>,
    status: Res<WorldConfigStatus>,
    mut world: ResMut<ActiveWorld>,
    mut done: Local<bool>,
) {
    if *done || !script.args.erosion || status.loads == 0 {
        return;
    }
    *done = true;
    if world.config().erosion.is_some() {
        return;
    }
    let mut config = (**world.config()).clone();
    config.erosion = Some(ErosionConfig::default());
    // Still the file, changed by the flag: the World panel says both.
    let source = format!("{} with --erosion", world.source());
    if let Err(e) = world.replace(config, source) {
        error!("sandbox: {e}");
    }
}

fn run_script(
    mut script: ResMut<Script>,
    bench: BenchSources,
    stats: Res<TerrainStats>,
    erosion: Res<ErosionStatus>,
    textures: Res<BiomeTextures>,
    texture_status: Res<TextureStatus>,
    conversation: Res<ConversationUi>,
    npcs: Query<(Entity, &GlobalTransform), With<Npc>>,
    mut camera: Query<(&mut Transform, &mut FlyCamera)>,
    mut open: MessageWriter<OpenConversation>,
    mut say: MessageWriter<SubmitLine>,
    images: Res<Assets<Image>>,
    mut commands: Commands,
    mut exit: MessageWriter<AppExit>,
) {
    let script = &mut *script;
    script.frame += 1;
    let elapsed = script.started.elapsed();
    let scripted = script.args.scripted();
    if scripted && elapsed > script.args.timeout && script.phase != Phase::Saving {
        eprintln!(
            "sandbox: timed out after {:.0} s in phase {:?} ({} of {} chunks shown)",
            elapsed.as_secs_f32(),
            script.phase,
            stats.resident,
            stats.chunks
        );
        script.failed = true;
        exit.write(AppExit::error());
        return;
    }
    if scripted && script.phase == Phase::Generating && script.frame.is_multiple_of(20) {
        info!(
            "sandbox: frame {}, {:.0} s: {} of {} chunks shown, {} generating{}",
            script.frame,
            elapsed.as_secs_f32(),
            stats.resident,
            stats.chunks,
            stats.in_flight,
            bench.scatter.as_ref().map_or(String::new(), |s| format!(
                "; scatter on {} chunks, {} waiting, {} placing, {} objects",
                s.chunks, s.pending, s.in_flight, s.instances
            ))
        );
    }
    // With --erosion the area counts once it is eroded (the plain one settles first).
    let eroded = !script.args.erosion || erosion.active && script.frame > script.eroded_from + 2;
    if erosion.active && script.eroded_from == 0 {
        script.eroded_from = script.frame;
    }
    if script.world_ready.is_none() && stats.is_settled() && eroded {
        script.world_ready = Some(elapsed);
        info!(
            "sandbox: starting area ready after {:.1} s ({} chunks)",
            elapsed.as_secs_f32(),
            stats.resident
        );
    }
    if script.textures_ready.is_none() && textures.albedo.is_some() && !texture_status.busy {
        script.textures_ready = Some(elapsed);
        info!(
            "sandbox: textures ready after {:.1} s",
            elapsed.as_secs_f32()
        );
    }
    match script.phase {
        Phase::Generating => {
            if script.world_ready.is_none() || script.textures_ready.is_none() {
                return;
            }
            if !scripted {
                script.phase = Phase::Done;
                return;
            }
            if let Some(seconds) = script.args.bench {
                let ready_for = elapsed.saturating_sub(script.world_ready.unwrap_or_default());
                if !bench.scatter_settled(ready_for) {
                    return;
                }
                let Some((t, fly)) = camera.iter().next() else {
                    return;
                };
                let heading = fly.rotation() * Vec3::NEG_Z;
                let start = t.translation;
                info!("sandbox: flying the benchmark path for {seconds} s from {start}");
                script.flight = Some(BenchFlight::begin(seconds, start, heading, Instant::now()));
                script.phase = Phase::Benching;
            } else if script.args.talk.is_some() {
                let Some((eye, _)) = camera.iter().next().map(|(t, _)| (t.translation, ())) else {
                    return;
                };
                let nearest = npcs.iter().min_by(|a, b| {
                    let da = a.1.translation().distance_squared(eye);
                    let db = b.1.translation().distance_squared(eye);
                    da.total_cmp(&db)
                });
                let Some((npc, at)) = nearest else {
                    // NPCs are placed a little after the chunks; give them time.
                    return;
                };
                let target = at.translation() + Vec3::Y * 1.5;
                for (mut t, mut fly) in &mut camera {
                    let from = target + Vec3::new(3.5, 1.2, 2.5);
                    t.translation = from;
                    fly.look_at(from, target);
                }
                open.write(OpenConversation { npc: Some(npc) });
                script.phase = Phase::Approaching;
            } else {
                script.phase = Phase::Rendering;
                script.measure_from = Some((Instant::now(), script.frame));
            }
        }
        Phase::Approaching => {
            if stats.is_settled() && conversation.open.is_some() && conversation.replies >= 1 {
                let line = script.args.talk.clone().unwrap_or_default();
                say.write(SubmitLine { text: line });
                script.phase = Phase::Talking;
            }
        }
        Phase::Talking => {
            if conversation.replies >= 2 && conversation.streaming.is_empty() {
                script.phase = Phase::Rendering;
                script.measure_from = Some((Instant::now(), script.frame));
            }
        }
        Phase::Benching => {
            let Some(flight) = script.flight.as_mut() else {
                script.phase = Phase::Rendering;
                return;
            };
            let mut eyes = camera.iter_mut().map(|(t, _)| t);
            if bench.fly(flight, Instant::now(), eyes.next()) {
                // The one line for BENCHMARKS.md and the tests.
                println!(
                    "{}",
                    flight.report(script.args.width, script.args.height, stats.resident)
                );
                script.phase = Phase::Rendering;
                script.measure_from = Some((Instant::now(), script.frame));
            }
        }
        Phase::Rendering => {
            if script.frames_left > 0 {
                script.frames_left -= 1;
                return;
            }
            let (since, first) = script
                .measure_from
                .unwrap_or((Instant::now(), script.frame));
            let frames = script.frame - first;
            let fps = frames as f64 / since.elapsed().as_secs_f64().max(1e-9);
            // One line for BENCHMARKS.md and the screenshot test's log.
            println!(
                "sandbox: world_ready_s={:.1} textures_ready_s={:.1} frames={} fps={:.1} chunks={} mesh_mib={:.1}",
                script.world_ready.unwrap_or_default().as_secs_f32(),
                script.textures_ready.unwrap_or_default().as_secs_f32(),
                frames,
                fps,
                stats.resident,
                stats.mesh_bytes as f64 / (1024.0 * 1024.0)
            );
            if let Some(dir) = &script.args.dump_layers {
                common::layers::dump_layers(
                    &mut commands,
                    &textures,
                    &images,
                    dir,
                    &script.dumps_pending,
                );
            }
            match &script.args.screenshot {
                Some(path) => {
                    let _ = std::fs::remove_file(path);
                    if let Some(dir) = path.parent() {
                        let _ = std::fs::create_dir_all(dir);
                    }
                    commands
                        .spawn(bench.screenshot())
                        .observe(save_to_disk(path.clone()));
                    script.saving_since = Some(Instant::now());
                    script.phase = Phase::Saving;
                }
                None => {
                    exit.write(AppExit::Success);
                    script.phase = Phase::Done;
                }
            }
        }
        Phase::Saving => {
            let path = script.args.screenshot.clone().unwrap_or_default();
            let written = std::fs::metadata(&path).is_ok_and(|m| m.len() > 0)
                && script.dumps_pending.load(Ordering::Acquire) == 0;
            let waited = script.saving_since.map_or(Duration::ZERO, |s| s.elapsed());
            // The file appears once the encoder has finished; a moment more lets it be flushed.
            if written && waited > Duration::from_millis(500) {
                println!("sandbox: screenshot saved to {}", path.display());
                exit.write(AppExit::Success);
                script.phase = Phase::Done;
            } else if waited > Duration::from_secs(60) {
                eprintln!(
                    "sandbox: the screenshot was never written to {}",
                    path.display()
                );
                script.failed = true;
                exit.write(AppExit::error());
                script.phase = Phase::Done;
            }
        }
        Phase::Done => {}
    }
}
