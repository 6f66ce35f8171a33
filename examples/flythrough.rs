//! Headless flythrough: what a world file costs while streaming.
//!
//! Loads a world, waits until the area around the start has generated, its objects are placed
//! and its textures grown (a game's loading screen), then flies a [`WorldObserver`] east at `--speed` m/s for `--seconds`, paced like a
//! game at 60 updates per second on a fixed time step: each frame sleeps out the rest of its
//! 16.7 ms, so background generation gets the wall-clock time it would get in a game. Prints one
//! line: main-thread frame times (the time of each `app.update()`), chunks generated, the most
//! chunks resident, the largest backlog of chunks waiting for their wanted detail (queued,
//! generating or waiting to be shown) and of chunks with no mesh at all, and in how many frames
//! the chunk under the observer had no mesh yet.
//!
//! ```text
//! cargo run --release --example flythrough -- --speed 100 --seconds 30
//! cargo run --release --example flythrough -- --speed 100 --seconds 30 --sync   # baseline
//! cargo run --release --example flythrough -- --world path/to/my.world.ron
//! ```
//!
//! `--sync` generates chunks on the frame thread instead of the async compute pool, to show what
//! background generation buys. Scatter (trees, rocks, grass) is on; `--no-scatter` leaves it
//! out, the baseline for what it costs.
//!
//! Every run ends with a second line, the baseline the plugin's own cost is read against: an
//! empty `MinimalPlugins` app updated in the same process, half a frame after each of the
//! flight's frames, so both see the machine in the same state (`--speed 0` measures the idle
//! cost: nothing moves, nothing arrives). A third line does the same for that app with
//! `AssetPlugin` (the engine plugin the world needs besides those), to tell Bevy's asset
//! machinery apart from the plugin's own cost.
//! `--seed N` replaces the world file's seed. `--erosion` turns the learned erosion on with the
//! shipped model (`models/default.erosion`, strength 1) when the world file leaves it off; the
//! start then waits for the model, so every timed chunk is eroded. `--one-thread` runs every schedule's systems on
//! the frame thread (Bevy's single-threaded executor), in the flight and the baseline alike.
//! `--multi-threaded-pre-update` undoes what the plugin does where Bevy's compute pool has one
//! thread (`PreUpdate` on the single-threaded executor, see `AigcWorldUpdate`), for the flight
//! alone, to measure it.
//! `--idle-generation` runs chunk generation in the idle scheduling class
//! ([`BackgroundPriority::Idle`](aigc_world::background::BackgroundPriority)) instead of at a
//! low priority.
//!
//! `--talk` keeps a conversation going during the flight: whenever no reply is on its way, the
//! player says a line to the nearest NPC, so the language model (when `assets/ai/npc.llm.ron`
//! has one and it is fetched) generates on its worker while the frames are timed. The start
//! waits for the model to load, and the line ends with the replies and who answered them, the
//! median time of the frames in which a line was said, the seconds from a line to its reply's
//! first words (median and most) and to its end (median), and how many frames after the last
//! line each of the 12 slowest frames came.
//!
//! `--systems` prints where the frame's time went during the flight, per system (and per
//! system's deferred commands): mean microseconds per frame, the longest run, runs; the 25
//! slowest, or every system that ran with `--all-systems`; then the slowest 1% of frames: their
//! mean time and the systems inside them. `--systems-of empty` or `--systems-of engine` times
//! a baseline app's systems instead, to read the two tables against each other. It reads
//! Bevy's `trace` spans, so build with this crate's `trace` feature:
//!
//! ```text
//! cargo run --release --example flythrough --features trace -- --speed 100 --seconds 30 --systems
//! ```
//!
//! Systems run on several threads at once, so the per-system times may add up to more than the
//! frame; the spans themselves cost a little, so compare `--systems` runs with each other.

use std::path::PathBuf;
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

mod common;
#[path = "common/system_times.rs"]
mod system_times;

use aigc_world::background::{BackgroundPriority, task_pool_plugin, task_pool_plugin_at};
use aigc_world::config::{ActiveWorld, ErosionConfig, WorldConfigStatus};
use aigc_world::dialogue::llm::{LanguageModelState, LanguageModelStatus};
use aigc_world::dialogue::{DialogueReply, ReplyEvent, SayToNpc};
use aigc_world::npc::Npc;
use aigc_world::prelude::*;
use aigc_world::terrain::{ErosionStatus, StreamingMode, TerrainSampler};
use aigc_world::texture::TextureStatus;
use bevy::ecs::message::{MessageCursor, Messages};
use bevy::ecs::schedule::{MultiThreadedExecutor, SingleThreadedExecutor};
use bevy::platform::collections::HashMap;
use bevy::prelude::*;
use bevy::time::TimeUpdateStrategy;

const FRAME: Duration = Duration::from_nanos(16_666_667);

struct Args {
    world: PathBuf,
    speed: f32,
    seconds: f32,
    sync: bool,
    no_scatter: bool,
    seed: Option<u64>,
    erosion: bool,
    talk: bool,
    systems: bool,
    all_systems: bool,
    /// Whose systems `--systems` times: the flight's (0), the empty app's (1) or the one with
    /// `AssetPlugin` (2).
    systems_of: u8,
    one_thread: bool,
    /// Gives the flight's `PreUpdate` back Bevy's multi-threaded executor.
    multi_threaded_pre_update: bool,
    idle_generation: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        world: PathBuf::from("assets/worlds/default.world.ron"),
        speed: 100.0,
        seconds: 30.0,
        sync: false,
        no_scatter: false,
        seed: None,
        erosion: false,
        talk: false,
        systems: false,
        all_systems: false,
        systems_of: 0,
        one_thread: false,
        multi_threaded_pre_update: false,
        idle_generation: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--world" => args.world = PathBuf::from(value("--world")?),
            "--speed" => {
                args.speed = value("--speed")?
                    .parse()
                    .map_err(|e| format!("--speed: {e}"))?
            }
            "--seconds" => {
                args.seconds = value("--seconds")?
                    .parse()
                    .map_err(|e| format!("--seconds: {e}"))?
            }
            "--sync" => args.sync = true,
            "--no-scatter" => args.no_scatter = true,
            "--talk" => args.talk = true,
            "--erosion" => args.erosion = true,
            "--systems" => args.systems = true,
            "--all-systems" => (args.systems, args.all_systems) = (true, true),
            "--systems-of" => {
                args.systems_of = match value("--systems-of")?.as_str() {
                    "flight" => 0,
                    "empty" => 1,
                    "engine" => 2,
                    _ => return Err("--systems-of: flight, empty or engine".into()),
                }
            }
            "--one-thread" => args.one_thread = true,
            "--multi-threaded-pre-update" => args.multi_threaded_pre_update = true,
            "--idle-generation" => args.idle_generation = true,
            "--seed" => {
                args.seed = Some(
                    value("--seed")?
                        .parse()
                        .map_err(|e| format!("--seed: {e}"))?,
                )
            }
            "--help" | "-h" => {
                return Err(
                    "usage: flythrough [--world PATH] [--speed M_PER_S] [--seconds S] [--sync] [--seed N] [--erosion] [--talk] [--no-scatter] [--systems] [--all-systems] [--systems-of flight|empty|engine] [--one-thread] [--multi-threaded-pre-update] [--idle-generation]"
                        .into(),
                );
            }
            other => return Err(format!("unknown argument {other} (try --help)")),
        }
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
    // The world file's folder becomes an asset source, so any path works and still hot-reloads.
    let world_path = match common::world_source(&mut app, &args.world) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let mut group = AigcWorldPlugin.set(WorldConfigPlugin {
        path: Some(world_path),
    });
    if args.no_scatter {
        group = group.disable::<ScatterPlugin>();
    }
    app.add_plugins((
        // Generation threads at background priority, as a game on two cores should run them.
        MinimalPlugins.set(if args.idle_generation {
            task_pool_plugin_at(BackgroundPriority::Idle)
        } else {
            task_pool_plugin()
        }),
        bevy::log::LogPlugin {
            custom_layer: if args.systems {
                system_times::layer
            } else {
                |_| None
            },
            ..default()
        },
        TransformPlugin,
        // The checkout's assets wherever the binary runs from (Bevy would look beside the
        // executable when it is not started by cargo, and fall back to built-in defaults).
        AssetPlugin {
            file_path: concat!(env!("CARGO_MANIFEST_DIR"), "/assets").into(),
            ..default()
        },
        group,
    ))
    .insert_resource(TimeUpdateStrategy::ManualDuration(FRAME))
    .insert_resource(TerrainSettings {
        mode: if args.sync {
            StreamingMode::Blocking
        } else {
            StreamingMode::Background
        },
        ..default()
    });
    app.finish();
    app.cleanup();
    if args.multi_threaded_pre_update {
        app.edit_schedule(PreUpdate, |schedule| {
            schedule.set_executor(MultiThreadedExecutor::new());
        });
    }
    if args.one_thread {
        run_schedules_on_one_thread(&mut app);
    }

    // Wait for the file (or its error).
    let started = Instant::now();
    loop {
        app.update();
        let status = app.world().resource::<WorldConfigStatus>();
        if let Some(e) = &status.last_error {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
        if status.loads > 0 {
            break;
        }
        if started.elapsed() > Duration::from_secs(10) {
            eprintln!("{} did not load", args.world.display());
            return ExitCode::FAILURE;
        }
        thread::sleep(Duration::from_millis(1));
    }

    if args.seed.is_some() || args.erosion {
        let mut world = app.world_mut().resource_mut::<ActiveWorld>();
        let mut config = (**world.config()).clone();
        if let Some(seed) = args.seed {
            config.seed = seed;
        }
        if args.erosion && config.erosion.is_none() {
            config.erosion = Some(ErosionConfig::default());
        }
        if let Err(e) = world.replace(config, "flythrough's arguments") {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
        app.update();
    }
    if args.erosion {
        // The sampler turns eroded once the model has loaded (or the model failed).
        let started = Instant::now();
        loop {
            app.update();
            let status = app.world().resource::<ErosionStatus>();
            if status.active {
                break;
            }
            if let Some(failure) = &status.failure {
                eprintln!("erosion model: {failure}");
                return ExitCode::FAILURE;
            }
            if started.elapsed() > Duration::from_secs(20) {
                eprintln!("the erosion model did not load");
                return ExitCode::FAILURE;
            }
            thread::sleep(Duration::from_millis(1));
        }
    }

    let ground = |app: &App, x: f32| {
        let sampler = app.world().resource::<TerrainSampler>();
        sampler.height_at(x, 0.0).max(sampler.sea_level())
    };
    let altitude = 60.0;
    let y = ground(&app, 0.0) + altitude;
    let observer = app
        .world_mut()
        .spawn((
            WorldObserver::default(),
            Transform::from_xyz(0.0, y, 0.0).looking_to(Vec3::new(1.0, -0.15, 0.0), Vec3::Y),
        ))
        .id();

    // The loading screen: the starting area settles (and, with --talk, the language model
    // loads and someone stands near) before the flight is timed.
    let loading = Instant::now();
    loop {
        let start = Instant::now();
        app.update();
        let settled = app.world().resource::<TerrainStats>().is_settled();
        let talk_ready = !args.talk || talk_ready(&mut app) || loading.elapsed().as_secs() > 60;
        if settled && talk_ready && extras_settled(&app, loading.elapsed()) {
            break;
        }
        thread::sleep(FRAME.saturating_sub(start.elapsed()));
    }
    eprintln!(
        "flythrough: loaded in {:.1} s, timing {} s",
        loading.elapsed().as_secs_f32(),
        args.seconds
    );
    let mut talk = Talk::new(&app);

    let frames = (args.seconds * 60.0).round() as usize;
    let step = args.speed / 60.0;
    let generated_before = app.world().resource::<TerrainStats>().generated_total;
    system_times::reset();
    let mut times = Vec::with_capacity(frames);
    let mut per_frame = Vec::new();
    let mut resident_max = 0;
    // Chunks waiting for generation, generating or waiting to be shown, and chunks with no
    // mesh at all: how far the background generation is behind the flight.
    let mut backlog_max = 0;
    let mut meshless_max = 0;
    let mut scatter_entities_max = 0;
    let mut scatter_instances_max = 0;
    let mut outran = 0;
    let mut x = 0.0f32;
    let size = app.world().resource::<ActiveWorld>().config().chunk.size_m as f32;
    // The baseline runs interleaved with the flight, half a frame after each of its frames, so
    // both see the same machine (its load, its clock speed) at the same time.
    let mut empty = EmptyApp::new(frames, args.one_thread, false);
    let mut engine = EmptyApp::new(frames, args.one_thread, true);
    empty.timed = args.systems_of == 1;
    engine.timed = args.systems_of == 2;
    let mut next_frame = Instant::now();
    for _ in 0..frames {
        x += step;
        let y = ground(&app, x) + altitude;
        if let Some(mut t) = app.world_mut().get_mut::<Transform>(observer) {
            // Written only when the observer moves: a write marks the transform changed even
            // to the same value, and Bevy then runs its transform propagation for it (0.017-0.025
            // ms a frame on a 2-core box in any app: `engine_cost`), which an observer
            // at rest should not be charged.
            let to = Vec3::new(x, y, 0.0);
            if t.translation != to {
                t.translation = to;
            }
        }
        let said = args.talk && talk.step(&mut app, observer);
        system_times::pause(args.systems_of != 0);
        let start = Instant::now();
        app.update();
        let took = start.elapsed();
        system_times::pause(false);
        times.push(took.as_secs_f64() * 1000.0);
        if said {
            talk.said_frames.push(took.as_secs_f64() * 1000.0);
            talk.said_at.push(times.len() - 1);
        }
        if args.systems {
            per_frame.push(system_times::end_frame());
        }

        let stats = app.world().resource::<TerrainStats>();
        resident_max = resident_max.max(stats.resident);
        backlog_max = backlog_max.max(stats.pending + stats.in_flight + stats.ready);
        meshless_max = meshless_max.max(stats.chunks.saturating_sub(stats.resident));
        if let Some(scatter) = app.world().get_resource::<ScatterStats>() {
            scatter_entities_max = scatter_entities_max.max(scatter.entities);
            scatter_instances_max = scatter_instances_max.max(scatter.instances);
        }
        let under = ((x / size).floor() as i32, 0);
        let mut chunks = app.world_mut().query::<&TerrainChunk>();
        let ready = chunks
            .iter(app.world())
            .any(|c| (c.x, c.z) == under && c.vertex_step > 0);
        if !ready {
            outran += 1;
        }
        next_frame += FRAME;
        sleep_until(next_frame - FRAME / 2);
        empty.frame();
        sleep_until(next_frame - FRAME / 4);
        engine.frame();
        sleep_until(next_frame);
    }

    let slow_frames = args.systems.then(|| SlowFrames::of(&times, per_frame));
    let all_times = times.clone();
    let ours = Percentiles::of(times);
    let generated = app.world().resource::<TerrainStats>().generated_total - generated_before;
    let (scatter_chunks, scatter_ms) = app
        .world()
        .get_resource::<ScatterStats>()
        .map_or((0, 0.0), |s| (s.placed_total, s.mean_place_ms));
    println!(
        "flythrough: speed={} frames={} p50_ms={:.3} p99_ms={:.3} max_ms={:.2} chunks_generated={} resident_max={} backlog_max={} meshless_max={} outran={} scatter_chunks={} scatter_ms_per_chunk={:.2} scatter_entities_max={} scatter_instances_max={}",
        args.speed,
        frames,
        ours.p50,
        ours.p99,
        ours.max,
        generated,
        resident_max,
        backlog_max,
        meshless_max,
        outran,
        scatter_chunks,
        scatter_ms,
        scatter_entities_max,
        scatter_instances_max
    );
    if args.talk {
        println!("{}", talk.summary(&app));
        let mut order: Vec<usize> = (0..all_times.len()).collect();
        order.sort_by(|&a, &b| all_times[b].total_cmp(&all_times[a]));
        let offsets: Vec<String> = order
            .iter()
            .take(12)
            .map(|&i| {
                let last = talk.said_at.iter().rev().find(|&&s| s <= i);
                format!(
                    "{:.1}ms@{}",
                    all_times[i],
                    last.map_or(-1, |&s| (i - s) as i64)
                )
            })
            .collect();
        println!(
            "talk slow frames (time@frames since a line was said): {}",
            offsets.join(" ")
        );
    }
    if args.systems {
        print_systems(frames, args.all_systems);
    }
    if let Some(slow) = slow_frames {
        slow.print();
    }
    let empty = empty.percentiles();
    println!(
        "baseline: empty_app interleaved frames={} p50_ms={:.3} p99_ms={:.3} max_ms={:.2} overhead_p50_ms={:.3} overhead_p99_ms={:.3}",
        frames,
        empty.p50,
        empty.p99,
        empty.max,
        ours.p50 - empty.p50,
        ours.p99 - empty.p99
    );
    let engine = engine.percentiles();
    println!(
        "baseline: engine_app (the same with AssetPlugin) interleaved frames={} p50_ms={:.3} p99_ms={:.3} max_ms={:.2} overhead_p50_ms={:.3} overhead_p99_ms={:.3}",
        frames,
        engine.p50,
        engine.p99,
        engine.max,
        ours.p50 - engine.p50,
        ours.p99 - engine.p99
    );
    drop(app);
    ExitCode::SUCCESS
}

/// Frame time percentiles in milliseconds.
struct Percentiles {
    p50: f64,
    p99: f64,
    max: f64,
}

impl Percentiles {
    fn of(mut times: Vec<f64>) -> Self {
        if times.is_empty() {
            return Self {
                p50: 0.0,
                p99: 0.0,
                max: 0.0,
            };
        }
        times.sort_by(f64::total_cmp);
        let pct = |p: f64| times[((times.len() as f64 - 1.0) * p).round() as usize];
        Self {
            p50: pct(0.5),
            p99: pct(0.99),
            max: times[times.len() - 1],
        }
    }
}

/// Sleeps until `at` (returns at once if it has passed).
fn sleep_until(at: Instant) {
    thread::sleep(at.saturating_duration_since(Instant::now()));
}

/// Runs every schedule's systems on the frame thread, one after the other (`--one-thread`):
/// on two cores, handing systems to another thread can cost more than running them.
fn run_schedules_on_one_thread(app: &mut App) {
    let mut schedules = app.world_mut().resource_mut::<Schedules>();
    for (_, schedule) in schedules.iter_mut() {
        schedule.set_executor(SingleThreadedExecutor::new());
    }
}

/// The baselines: an empty `MinimalPlugins` app (with transforms, as a game has), and the same
/// with `AssetPlugin` (which the plugin needs, as any game with assets has), timed frame by
/// frame between the flight's frames.
struct EmptyApp {
    app: App,
    times: Vec<f64>,
    /// Whether `--systems` times this app's systems (`--systems-of`).
    timed: bool,
}

impl EmptyApp {
    fn new(frames: usize, one_thread: bool, assets: bool) -> Self {
        let mut app = App::new();
        app.add_plugins((
            MinimalPlugins.set(aigc_world::background::task_pool_plugin()),
            TransformPlugin,
        ))
        .insert_resource(TimeUpdateStrategy::ManualDuration(FRAME));
        if assets {
            // The engine plugin the world needs besides these, set up as the flight's is.
            app.add_plugins(AssetPlugin {
                file_path: concat!(env!("CARGO_MANIFEST_DIR"), "/assets").into(),
                ..default()
            });
        }
        app.finish();
        app.cleanup();
        if one_thread {
            run_schedules_on_one_thread(&mut app);
        }
        Self {
            app,
            times: Vec::with_capacity(frames),
            timed: false,
        }
    }

    fn frame(&mut self) {
        system_times::pause(!self.timed);
        let start = Instant::now();
        self.app.update();
        self.times.push(start.elapsed().as_secs_f64() * 1000.0);
        system_times::pause(false);
    }

    fn percentiles(self) -> Percentiles {
        Percentiles::of(self.times)
    }
}

/// Whether the starting area's objects are placed and its textures grown, so an idle run
/// measures a world with nothing left to do (a world with no scatter in reach gets 5 s).
fn extras_settled(app: &App, loading: Duration) -> bool {
    let scatter = app.world().get_resource::<ScatterStats>().is_none_or(|s| {
        s.is_settled()
            || (s.pending == 0 && s.in_flight == 0 && s.applying == 0 && loading.as_secs() > 5)
    });
    let textures = app
        .world()
        .get_resource::<TextureStatus>()
        .is_none_or(|t| !t.busy);
    scatter && textures
}

/// Whether the language model settled (ready, failed or off) and an NPC stands.
fn talk_ready(app: &mut App) -> bool {
    let settled = !matches!(
        app.world().resource::<LanguageModelStatus>().state,
        LanguageModelState::Loading { .. }
    );
    let mut npcs = app.world_mut().query_filtered::<(), With<Npc>>();
    settled && npcs.iter(app.world()).next().is_some()
}

/// A conversation kept going with the nearest NPC while the flight is timed.
struct Talk {
    replies: MessageCursor<DialogueReply>,
    waiting: bool,
    said: usize,
    done: usize,
    by_source: Vec<(String, usize)>,
    fell_back: usize,
    /// Time of each frame in which a line was said.
    said_frames: Vec<f64>,
    /// When the line on its way was said, and whether its first words came yet.
    asked: Option<(Instant, bool)>,
    /// Seconds from a line to the first words of its reply, and to its end.
    first_words_s: Vec<f64>,
    reply_s: Vec<f64>,
    said_at: Vec<usize>,
}

impl Talk {
    fn new(app: &App) -> Self {
        Self {
            replies: app
                .world()
                .resource::<Messages<DialogueReply>>()
                .get_cursor(),
            waiting: false,
            said: 0,
            done: 0,
            by_source: Vec::new(),
            fell_back: 0,
            said_frames: Vec::new(),
            said_at: Vec::new(),
            asked: None,
            first_words_s: Vec::new(),
            reply_s: Vec::new(),
        }
    }

    /// Reads the replies of the last frame and, when none is on its way, says the next line;
    /// returns whether it said one.
    fn step(&mut self, app: &mut App, observer: Entity) -> bool {
        let messages = app.world().resource::<Messages<DialogueReply>>();
        for reply in self.replies.read(messages) {
            if let (ReplyEvent::Piece(text), Some((at, first @ false))) =
                (&reply.event, &mut self.asked)
                && !text.trim().is_empty()
            {
                *first = true;
                self.first_words_s.push(at.elapsed().as_secs_f64());
            }
            if let ReplyEvent::Done {
                source, fell_back, ..
            } = &reply.event
            {
                self.waiting = false;
                self.done += 1;
                if let Some((at, _)) = self.asked.take() {
                    self.reply_s.push(at.elapsed().as_secs_f64());
                }
                self.fell_back += usize::from(*fell_back);
                match self.by_source.iter_mut().find(|(s, _)| s == source) {
                    Some((_, n)) => *n += 1,
                    None => self.by_source.push((source.clone(), 1)),
                }
            }
        }
        if self.waiting {
            return false;
        }
        let Some(eye) = app
            .world()
            .get::<GlobalTransform>(observer)
            .map(|t| t.translation())
        else {
            return false;
        };
        let mut npcs = app
            .world_mut()
            .query_filtered::<(Entity, &GlobalTransform), With<Npc>>();
        let nearest = npcs
            .iter(app.world())
            .map(|(e, t)| (t.translation().distance_squared(eye), e))
            .min_by(|a, b| a.0.total_cmp(&b.0));
        if let Some((_, npc)) = nearest {
            const LINES: [&str; 3] = [
                "Hello! What is this place like?",
                "Where is the nearest village?",
                "What do you do here?",
            ];
            let line = LINES[self.said % LINES.len()];
            app.world_mut().write_message(SayToNpc::new(npc, line));
            self.said += 1;
            self.waiting = true;
            self.asked = Some((Instant::now(), false));
            return true;
        }
        false
    }

    fn summary(&self, app: &App) -> String {
        let sources: Vec<String> = self
            .by_source
            .iter()
            .map(|(s, n)| format!("{s}:{n}"))
            .collect();
        format!(
            "talk: model={:?} lines_said={} replies={} fell_back={} sources={} said_frame_p50_ms={:.3} first_words_s_p50={:.2} first_words_s_max={:.2} reply_s_p50={:.2}",
            app.world().resource::<LanguageModelStatus>().state,
            self.said,
            self.done,
            self.fell_back,
            sources.join(","),
            Percentiles::of(self.said_frames.clone()).p50,
            Percentiles::of(self.first_words_s.clone()).p50,
            Percentiles::of(self.first_words_s.clone()).max,
            Percentiles::of(self.reply_s.clone()).p50,
        )
    }
}

/// The slowest systems of the flight, one line each.
fn print_systems(frames: usize, all_systems: bool) {
    let all = system_times::take();
    let shown = if all_systems { all.len() } else { 25 };
    if all.is_empty() {
        println!("systems: none timed (build with --features trace)");
        return;
    }
    let frames = frames.max(1) as f64;
    let total: f64 = all.iter().map(|(_, t)| t.total.as_secs_f64()).sum::<f64>() * 1e6 / frames;
    // Every run is a task the executor hands to a thread: at idle this, not the systems' own
    // time, is most of the frame on two cores.
    let runs = all.iter().map(|(_, t)| t.runs).sum::<u64>() as f64 / frames;
    println!(
        "systems: {} timed, {:.1} runs and {:.1} us per frame in all (summed over threads); slowest {}:",
        all.len(),
        runs,
        total,
        shown.min(all.len())
    );
    for (name, t) in all.iter().take(shown) {
        println!(
            "system: {:>8.1} us/frame {:>8.1} us max {:>6} runs  {}",
            t.total.as_secs_f64() * 1e6 / frames,
            t.max.as_secs_f64() * 1e6,
            t.runs,
            name
        );
    }
}

/// Where the slowest frames' time went: the systems in the slowest 1% of frames against the
/// frame's own time (systems run on two threads, and a frame also waits for them).
struct SlowFrames {
    frames: usize,
    frame_ms: f64,
    systems: Vec<(String, f64)>,
}

impl SlowFrames {
    fn of(times: &[f64], per_frame: Vec<HashMap<String, Duration>>) -> Self {
        let mut order: Vec<usize> = (0..times.len().min(per_frame.len())).collect();
        order.sort_by(|&a, &b| times[b].total_cmp(&times[a]));
        order.truncate((order.len() / 100).max(1));
        let mut sums: HashMap<String, f64> = HashMap::default();
        for &i in &order {
            for (name, took) in &per_frame[i] {
                *sums.entry(name.clone()).or_default() += took.as_secs_f64() * 1000.0;
            }
        }
        let n = order.len().max(1) as f64;
        let mut systems: Vec<(String, f64)> = sums.into_iter().map(|(k, v)| (k, v / n)).collect();
        systems.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Self {
            frames: order.len(),
            frame_ms: order.iter().map(|&i| times[i]).sum::<f64>() / n,
            systems,
        }
    }

    fn print(&self) {
        let summed: f64 = self.systems.iter().map(|s| s.1).sum();
        println!(
            "slowest {} frames: {:.3} ms each on average, systems {:.3} ms of it (summed over threads); the largest:",
            self.frames, self.frame_ms, summed
        );
        for (name, ms) in self.systems.iter().take(12) {
            println!("slow frame system: {:>8.1} us  {}", ms * 1000.0, name);
        }
    }
}
