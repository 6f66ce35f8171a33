//! Operating-system priority for background work.
//!
//! On a machine with few cores, a chunk generation thread running flat out competes with the
//! threads that run the frame's systems, and the frame waits for the scheduler. Background
//! threads at a lower priority still get every idle cycle but yield at once when the frame
//! needs a core, which is what "nothing hitches" needs on two cores.

use std::sync::Arc;

use bevy::app::{TaskPoolOptions, TaskPoolPlugin};
use bevy::log::debug;
use thread_priority::{ThreadPriority, ThreadPriorityValue, set_current_thread_priority};

/// Priority of background threads on the 0 (lowest) to 99 (highest) scale of the
/// `thread-priority` crate; 25 is a nice value of 9 on Linux: about a tenth of the CPU of a
/// normal thread when both want it, all of it when the frame is idle.
const BACKGROUND_PRIORITY: u8 = 25;

/// The nice value `thread-priority` gives [`BACKGROUND_PRIORITY`] on Linux.
#[cfg(target_os = "linux")]
const BACKGROUND_NICE: i32 = 9;

/// Nice value of the calling thread (Linux: field 19 of `/proc/thread-self/stat`).
#[cfg(target_os = "linux")]
pub(crate) fn current_nice() -> Option<i32> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let after_name = stat.get(stat.rfind(')')? + 2..)?;
    after_name.split(' ').nth(16)?.parse().ok()
}

/// Lowers the calling thread's OS priority for background work. Failing to (a platform that
/// refuses) only logs at debug level: priority is an optimisation, not a requirement. A thread
/// already at that priority or lower (a game started under `nice`) keeps its own: lowering must
/// never raise it.
pub fn lower_current_thread_priority() {
    #[cfg(target_os = "linux")]
    if current_nice().is_some_and(|n| n >= BACKGROUND_NICE) {
        return;
    }
    let result = ThreadPriorityValue::try_from(BACKGROUND_PRIORITY)
        .map_err(|e| e.to_string())
        .and_then(|v| {
            set_current_thread_priority(ThreadPriority::Crossplatform(v)).map_err(|e| e.to_string())
        });
    if let Err(e) = result {
        debug!("aigc_world: could not lower a background thread's priority: {e}");
    }
}

/// Bevy's [`TaskPoolPlugin`] with the async compute threads (where terrain chunks generate) at
/// background priority. Use it in place of the default on machines with few cores:
///
/// ```no_run
/// use bevy::prelude::*;
/// App::new().add_plugins(DefaultPlugins.set(aigc_world::background::task_pool_plugin()));
/// ```
pub fn task_pool_plugin() -> TaskPoolPlugin {
    let mut options = TaskPoolOptions::default();
    options.async_compute.on_thread_spawn = Some(Arc::new(lower_current_thread_priority));
    TaskPoolPlugin {
        task_pool_options: options,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    fn nice() -> i32 {
        current_nice().expect("a nice value")
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn background_threads_run_at_lower_priority() {
        let before = nice();
        let lowered = std::thread::spawn(|| {
            lower_current_thread_priority();
            nice()
        })
        .join()
        .unwrap();
        assert_eq!(nice(), before, "only the calling thread changes");
        // Under `nice` already (as in a niced test run), the thread keeps its lower priority.
        assert!(lowered >= before.max(1), "nice {lowered} from {before}");
    }
}
