//! Where the frame's time goes, per system: a `tracing` layer that sums the time spent inside
//! each of Bevy's `system` and `system_commands` spans. Bevy creates those spans only when it is
//! built with its `trace` feature (`--features trace` on this crate); without it the table stays
//! empty and the flythrough says so.
//!
//! The spans are created once per system and entered every run, so the layer names a span once
//! (in `on_new_span`) and then only reads the clock on enter and exit.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use bevy::log::BoxedLayer;
use bevy::log::tracing::Subscriber;
use bevy::log::tracing::field::{Field, Visit};
use bevy::log::tracing::span::{Attributes, Id};
use bevy::log::tracing_subscriber::Layer;
use bevy::log::tracing_subscriber::layer::Context;
use bevy::log::tracing_subscriber::registry::LookupSpan;
use bevy::platform::collections::HashMap;
use bevy::prelude::*;

/// Time inside one system's spans since the last [`reset`].
#[derive(Clone, Debug, Default)]
pub struct SystemTime {
    pub total: Duration,
    pub runs: u64,
    /// The longest single run.
    pub max: Duration,
}

fn table() -> &'static Mutex<HashMap<String, SystemTime>> {
    static TABLE: OnceLock<Mutex<HashMap<String, SystemTime>>> = OnceLock::new();
    TABLE.get_or_init(Default::default)
}

/// Time per system in the frame under way, for [`end_frame`].
fn this_frame() -> &'static Mutex<HashMap<String, Duration>> {
    static FRAME: OnceLock<Mutex<HashMap<String, Duration>>> = OnceLock::new();
    FRAME.get_or_init(Default::default)
}

/// The time each system took since the last call (one frame's, when called after each
/// `app.update()`).
pub fn end_frame() -> HashMap<String, Duration> {
    std::mem::take(&mut *this_frame().lock().unwrap_or_else(|e| e.into_inner()))
}

/// While set, runs are not summed (another app's frames, such as a baseline's).
static PAUSED: AtomicBool = AtomicBool::new(false);

/// Stops (`true`) or resumes (`false`) summing runs.
pub fn pause(paused: bool) {
    PAUSED.store(paused, Ordering::Relaxed);
}

/// Forgets what was summed so far (call it when the measured part starts).
pub fn reset() {
    table().lock().unwrap_or_else(|e| e.into_inner()).clear();
    end_frame();
}

/// What was summed since the last [`reset`], slowest first.
pub fn take() -> Vec<(String, SystemTime)> {
    let mut all: Vec<_> = table()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .drain()
        .collect();
    all.sort_by(|a, b| b.1.total.cmp(&a.1.total).then_with(|| a.0.cmp(&b.0)));
    all
}

/// For `LogPlugin::custom_layer`.
pub fn layer(_app: &mut App) -> Option<BoxedLayer> {
    Some(Box::new(SystemTimes))
}

struct SystemTimes;

/// A timed span's label and when it was entered.
struct Timed {
    label: String,
    entered: Option<Instant>,
}

struct NameField(Option<String>);

impl Visit for NameField {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "name" {
            self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "name" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for SystemTimes {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let suffix = match attrs.metadata().name() {
            "system" => "",
            "system_commands" => " (commands)",
            _ => return,
        };
        let mut name = NameField(None);
        attrs.record(&mut name);
        let Some(name) = name.0 else { return };
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Timed {
                label: format!("{}{suffix}", short(&name)),
                entered: None,
            });
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(timed) = span.extensions_mut().get_mut::<Timed>()
        {
            timed.entered = Some(Instant::now());
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        let Some(timed) = extensions.get_mut::<Timed>() else {
            return;
        };
        let Some(entered) = timed.entered.take() else {
            return;
        };
        if PAUSED.load(Ordering::Relaxed) {
            return;
        }
        let took = entered.elapsed();
        *this_frame()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(timed.label.clone())
            .or_default() += took;
        let mut table = table().lock().unwrap_or_else(|e| e.into_inner());
        let entry = table.entry(timed.label.clone()).or_default();
        entry.total += took;
        entry.runs += 1;
        entry.max = entry.max.max(took);
    }
}

/// `aigc_world::terrain::streaming::dispatch_chunks` -> `terrain::streaming::dispatch_chunks`:
/// the crate name says little and makes the table wide.
fn short(name: &str) -> &str {
    name.strip_prefix("aigc_world::").unwrap_or(name)
}
