//! The frame gate: the model worker gives way while the game's frame runs.
//!
//! On a 2-core machine, chunk generation busy on one core and a model generating on the other
//! leave no core free when the frame thread and its task-pool threads need one, and the slowest
//! 1% of frames then wait about a scheduler tick (BENCHMARKS.md, "What a conversation costs the
//! frame"). While a job runs on the model worker, the plugin opens the gate in `First` and
//! closes it in `Last`; the language model's CPU engine calls [`give_way`] between transformer
//! layers (about a millisecond apart), which sleeps while the gate is open, so the worker's core
//! is free for the rest of the frame. The wait is bounded, so a frame that blocks on the worker,
//! or an app that stops mid-frame, costs the worker at most [`MAX_WAIT`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use bevy::prelude::*;

/// The longest the worker waits for one frame to end.
pub const MAX_WAIT: Duration = Duration::from_millis(8);

static OPEN: AtomicBool = AtomicBool::new(false);
static LOCK: Mutex<()> = Mutex::new(());
static CLOSED: Condvar = Condvar::new();

/// Whether a frame is in progress (the gate is open).
pub fn frame_running() -> bool {
    OPEN.load(Ordering::Acquire)
}

/// Marks a frame as started: workers calling [`give_way`] wait until [`end_frame`].
pub fn begin_frame() {
    OPEN.store(true, Ordering::Release);
}

/// Marks the frame as ended and wakes the waiting workers.
pub fn end_frame() {
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    OPEN.store(false, Ordering::Release);
    CLOSED.notify_all();
}

/// Called by long-running inference between steps: returns at once when no frame runs,
/// otherwise when the frame ends or after [`MAX_WAIT`].
pub fn give_way() {
    if !frame_running() {
        return;
    }
    let deadline = Instant::now() + MAX_WAIT;
    let mut guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    while frame_running() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        guard = match CLOSED.wait_timeout(guard, left) {
            Ok((g, _)) => g,
            Err(e) => e.into_inner().0,
        };
    }
}

/// Whether this app opened the gate this frame (the gate is process-wide; another app's frame
/// is not this one's to close).
#[derive(Resource, Default)]
pub(crate) struct GateOpened(bool);

/// `First`: opens the gate (run only while the worker runs a job).
pub(crate) fn open_gate(mut opened: ResMut<GateOpened>) {
    begin_frame();
    opened.0 = true;
}

/// `Last`: closes it.
pub(crate) fn close_gate(mut opened: ResMut<GateOpened>) {
    end_frame();
    opened.0 = false;
}

/// Run condition of [`close_gate`]: this app opened the gate.
pub(crate) fn gate_opened(opened: Res<GateOpened>) -> bool {
    opened.0
}

#[cfg(test)]
mod tests {
    use super::*;

    // One test: the gate is process-wide.
    #[test]
    fn the_worker_waits_while_a_frame_runs_and_never_longer_than_the_limit() {
        let start = Instant::now();
        give_way();
        assert!(
            start.elapsed() < Duration::from_millis(5),
            "no frame: no wait"
        );

        begin_frame();
        let waiter = std::thread::spawn(|| {
            let start = Instant::now();
            give_way();
            start.elapsed()
        });
        std::thread::sleep(Duration::from_millis(3));
        end_frame();
        let waited = waiter.join().unwrap();
        assert!(waited >= Duration::from_millis(2), "waited {waited:?}");
        assert!(waited < MAX_WAIT + Duration::from_millis(50));

        // A frame that never ends holds the worker for MAX_WAIT at most.
        begin_frame();
        let start = Instant::now();
        give_way();
        let waited = start.elapsed();
        end_frame();
        assert!(waited >= MAX_WAIT && waited < MAX_WAIT + Duration::from_millis(50));
    }
}
