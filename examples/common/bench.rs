//! A render benchmark: fly a fixed path, time every frame, print one line.
//!
//! The path is the same for every run: a straight line from the start along a fixed heading at
//! [`SPEED_M_S`], at the start's altitude or [`ABOVE_GROUND_M`] over the ground, whichever is
//! higher (the ground is the world's, so it is the same each run). The position is a function of
//! the time since the flight began, so a slow renderer sees the same places, in fewer frames.
//!
//! The line: `render: size=WxH frames=N p50_ms= p99_ms= fps= instances= draw_calls= chunks=`,
//! where frame times are whole-frame wall times (from one frame's start to the next, GPU
//! included), `fps` is frames over the seconds flown, `instances` and `draw_calls` are the
//! means over the flight of [`DrawStats`] (scatter instances the camera sees; draw commands,
//! shadow maps included), and `chunks` are the terrain chunks resident at the end.

use std::fmt;
use std::time::{Duration, Instant};

use aigc_world::render::DrawStats;
use aigc_world::scatter::ScatterStats;
use aigc_world::terrain::TerrainSampler;
use bevy::prelude::*;
use bevy::render::view::screenshot::Screenshot;

use super::offscreen::OffscreenTarget;

/// Metres per second along the path.
pub const SPEED_M_S: f32 = 25.0;

/// The least height over the ground along the path, metres.
pub const ABOVE_GROUND_M: f32 = 40.0;

/// A flight in progress.
#[derive(Clone, Debug)]
pub struct BenchFlight {
    seconds: f32,
    start: Vec3,
    heading: Vec3,
    began: Instant,
    last: Instant,
    frames_ms: Vec<f32>,
    instances: u64,
    draw_calls: u64,
}

impl BenchFlight {
    /// Starts a flight of `seconds` from `start` towards `heading` (its horizontal part is used).
    pub fn begin(seconds: f32, start: Vec3, heading: Vec3, now: Instant) -> Self {
        Self {
            seconds,
            start,
            heading: Vec3::new(heading.x, 0.0, heading.z).normalize_or(Vec3::NEG_Z),
            began: now,
            last: now,
            frames_ms: Vec::with_capacity(4096),
            instances: 0,
            draw_calls: 0,
        }
    }

    /// Where the camera is `t` seconds into the flight, over ground of height `ground(x, z)`.
    pub fn position_at(&self, t: f32, ground: impl Fn(f32, f32) -> f32) -> Vec3 {
        let p = self.start + self.heading * SPEED_M_S * t.max(0.0);
        Vec3::new(
            p.x,
            self.start.y.max(ground(p.x, p.z) + ABOVE_GROUND_M),
            p.z,
        )
    }

    /// Seconds since the flight began.
    pub fn elapsed(&self, now: Instant) -> f32 {
        now.duration_since(self.began).as_secs_f32()
    }

    /// Records the frame that ends at `now` with what it drew; returns whether the flight is
    /// over.
    pub fn frame(&mut self, now: Instant, drawn: &DrawStats) -> bool {
        self.frames_ms
            .push(now.duration_since(self.last).as_secs_f32() * 1000.0);
        self.last = now;
        self.instances += drawn.instances;
        self.draw_calls += u64::from(drawn.draw_calls);
        self.elapsed(now) >= self.seconds
    }

    /// The figures of the flight so far.
    pub fn report(&self, width: u32, height: u32, chunks: usize) -> BenchReport {
        let mut sorted = self.frames_ms.clone();
        sorted.sort_by(f32::total_cmp);
        let frames = sorted.len();
        let mean = |sum: u64| {
            if frames == 0 {
                0
            } else {
                (sum as f64 / frames as f64).round() as u64
            }
        };
        let flown = self.last.duration_since(self.began).as_secs_f64();
        BenchReport {
            width,
            height,
            frames,
            p50_ms: percentile(&sorted, 50.0),
            p99_ms: percentile(&sorted, 99.0),
            fps: if flown > 0.0 {
                frames as f64 / flown
            } else {
                0.0
            },
            instances: mean(self.instances),
            draw_calls: mean(self.draw_calls),
            chunks,
        }
    }
}

/// The nearest-rank `p`th percentile of ascending `sorted` (0 when empty).
pub fn percentile(sorted: &[f32], p: f32) -> f32 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f32).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// What a flight measured; `Display` writes the one `render:` line.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchReport {
    /// Pixels across.
    pub width: u32,
    /// Pixels down.
    pub height: u32,
    /// Frames timed.
    pub frames: usize,
    /// Median frame time.
    pub p50_ms: f32,
    /// 99th-percentile frame time.
    pub p99_ms: f32,
    /// Frames per second flown.
    pub fps: f64,
    /// Mean scatter instances seen per frame.
    pub instances: u64,
    /// Mean draw calls per frame.
    pub draw_calls: u64,
    /// Terrain chunks resident at the end.
    pub chunks: usize,
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "render: size={}x{} frames={} p50_ms={:.2} p99_ms={:.2} fps={:.1} instances={} draw_calls={} chunks={}",
            self.width,
            self.height,
            self.frames,
            self.p50_ms,
            self.p99_ms,
            self.fps,
            self.instances,
            self.draw_calls,
            self.chunks
        )
    }
}

/// What a scripted run's benchmark and screenshot read.
#[derive(bevy::ecs::system::SystemParam)]
pub struct BenchSources<'w> {
    /// Scatter's progress (absent with scatter off).
    pub scatter: Option<Res<'w, ScatterStats>>,
    /// What the renderer drew.
    pub drawn: Res<'w, DrawStats>,
    /// The ground under the path.
    pub sampler: Option<Res<'w, TerrainSampler>>,
    /// The image the camera renders into when there is no window.
    pub offscreen: Option<Res<'w, OffscreenTarget>>,
}

impl BenchSources<'_> {
    /// Whether scatter (when on) has placed everything around the start, the world having been
    /// ready for `world_ready_for`.
    pub fn scatter_settled(&self, world_ready_for: Duration) -> bool {
        self.scatter.as_ref().is_none_or(|s| {
            // A world whose scatter has nothing in reach never counts a chunk: give it time.
            s.is_settled()
                || (s.pending == 0
                    && s.in_flight == 0
                    && s.applying == 0
                    && world_ready_for > Duration::from_secs(5))
        })
    }

    /// Records the frame that ends at `now` and moves `eye` to where the path is next; returns
    /// whether the flight is over.
    pub fn fly(&self, flight: &mut BenchFlight, now: Instant, eye: Option<Mut<Transform>>) -> bool {
        let over = flight.frame(now, &self.drawn);
        if let (Some(sampler), Some(mut eye)) = (&self.sampler, eye) {
            eye.translation =
                flight.position_at(flight.elapsed(now), |x, z| sampler.height_at(x, z).max(0.0));
        }
        over
    }

    /// A screenshot of what the camera renders into: the image offscreen, else the window.
    pub fn screenshot(&self) -> Screenshot {
        match &self.offscreen {
            Some(target) => Screenshot::image(target.0.clone()),
            None => Screenshot::primary_window(),
        }
    }
}
