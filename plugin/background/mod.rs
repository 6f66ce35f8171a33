//! Operating-system priority for background work.
//!
//! On a machine with few cores, a background thread running flat out competes with the threads
//! that run the frame's systems, and the frame waits for the scheduler. [`BackgroundPriority`]
//! has two levels. `Low` (nice 9 on Linux) still gets a share of a busy core, in whole time
//! slices that a waking frame thread must wait out. `Idle` (Linux `SCHED_IDLE`) gets only what
//! the game's threads leave, and a waking frame thread takes its core back at once. Chunk
//! generation runs `Low` by default ([`task_pool_plugin`]), because it must keep up with the
//! player even when the game keeps the cores busy; the model worker runs `Idle` (unless Bevy
//! renders on a software adapter, which keeps every core busy), because a reply that comes
//! late falls back to the grammar while a slow frame is seen at once.
//!
//! Priorities alone do not keep a core free for the frame on two cores: [`cores`] limits how
//! many heavy background threads run at once, and on which CPUs.

pub mod cores;

use std::sync::Arc;

use bevy::app::{TaskPoolOptions, TaskPoolPlugin};
use bevy::log::debug;
use bevy::reflect::Reflect;
use thread_priority::{ThreadPriority, ThreadPriorityValue, set_current_thread_priority};

pub use cores::{
    heavy_thread_limit, run_with_share, set_heavy_thread_limit, set_keep_background_threads_apart,
    take_share,
};

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

/// Lowers the calling thread's OS priority for background work, and on Linux asks for long
/// time slices (see [`BACKGROUND_SLICE_NS`]). Failing to (a platform that refuses) only logs at
/// debug level: priority is an optimisation, not a requirement. A thread already at that
/// priority or lower (a game started under `nice`) keeps its own: lowering must never raise it.
pub fn lower_current_thread_priority() {
    #[cfg(target_os = "linux")]
    if let Err(e) = request_time_slice(BACKGROUND_SLICE_NS) {
        debug!("aigc_world: could not lengthen a background thread's time slice: {e}");
    }
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

/// Time slice (nanoseconds) asked for by `Low` background threads: longer than the scheduler's
/// default (0.75-3 ms), which lets a waking game thread take the core at once. Linux's EEVDF
/// scheduler (6.6 and later) lets the running thread finish its slice before a woken thread of
/// the same class runs, unless the woken thread has a shorter slice than the running one (6.12
/// and later honour per-thread slices). At the default slice on both, a task-pool thread the
/// frame woke waited out the rest of a nice-9 generation thread's slice, up to a 4 ms tick, and
/// the frame with it (`perf sched`, BENCHMARKS.md).
#[cfg(target_os = "linux")]
pub const BACKGROUND_SLICE_NS: u64 = 20_000_000;

/// Linux `struct sched_attr` (the version-1 layout, 56 bytes).
#[cfg(target_os = "linux")]
#[repr(C)]
#[derive(Default)]
struct SchedAttr {
    size: u32,
    sched_policy: u32,
    sched_flags: u64,
    sched_nice: i32,
    sched_priority: u32,
    sched_runtime: u64,
    sched_deadline: u64,
    sched_period: u64,
    sched_util_min: u32,
    sched_util_max: u32,
}

/// Asks the scheduler for time slices of `slice_ns` for the calling thread, keeping its policy
/// and nice value. Kernels without per-thread slices refuse or ignore it; either is harmless.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn request_time_slice(slice_ns: u64) -> std::io::Result<()> {
    const SCHED_OTHER: u32 = 0;
    const SCHED_BATCH: u32 = 3;
    let mut attr = SchedAttr::default();
    let size = std::mem::size_of::<SchedAttr>() as u32;
    // SAFETY: `attr` is a live, writable `sched_attr` of `size` bytes; pid 0 is this thread.
    let got = unsafe { libc::syscall(libc::SYS_sched_getattr, 0, &mut attr, size, 0) };
    if got != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if attr.sched_policy != SCHED_OTHER && attr.sched_policy != SCHED_BATCH {
        return Ok(());
    }
    attr.size = size;
    attr.sched_flags = 0;
    attr.sched_runtime = slice_ns;
    // SAFETY: as above; the kernel only reads `attr`.
    let set = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr, 0) };
    if set != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The calling thread's requested time slice in nanoseconds (0: the scheduler's default).
#[cfg(all(test, target_os = "linux"))]
#[allow(unsafe_code)]
fn current_time_slice() -> Option<u64> {
    let mut attr = SchedAttr::default();
    let size = std::mem::size_of::<SchedAttr>() as u32;
    // SAFETY: as in `request_time_slice`.
    let got = unsafe { libc::syscall(libc::SYS_sched_getattr, 0, &mut attr, size, 0) };
    (got == 0).then_some(attr.sched_runtime)
}

/// How a background thread yields to the game's threads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Reflect)]
pub enum BackgroundPriority {
    /// A lower priority (nice 9 on Linux): about a tenth of a core the game's threads want, all
    /// of a core they leave. The scheduler still gives the thread whole time slices now and
    /// then, and a frame thread that wakes meanwhile waits for the slice to end.
    Low,
    /// Only what the game's threads leave (Linux `SCHED_IDLE`; [`Low`](Self::Low) elsewhere): a
    /// frame thread that wakes takes its core back at once. A thread that computes flat out
    /// (model inference) costs the frame nothing this way, where at `Low` it raised the median
    /// frame from 0.9 to 2.8 ms on two cores. Work here starves while the game keeps every core
    /// busy (a software renderer), so requests with deadlines fall back.
    #[default]
    Idle,
}

/// Sets the calling thread's OS priority to `priority`; like
/// [`lower_current_thread_priority`], failing only logs at debug level.
pub fn set_current_thread_background_priority(priority: BackgroundPriority) {
    match priority {
        BackgroundPriority::Low => lower_current_thread_priority(),
        BackgroundPriority::Idle => {
            #[cfg(target_os = "linux")]
            {
                use thread_priority::unix::{
                    NormalThreadSchedulePolicy, ThreadSchedulePolicy,
                    set_thread_priority_and_policy, thread_native_id,
                };
                let result = set_thread_priority_and_policy(
                    thread_native_id(),
                    ThreadPriority::Min,
                    ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle),
                );
                if let Err(e) = result {
                    debug!("aigc_world: could not put a background thread in the idle class: {e}");
                    lower_current_thread_priority();
                }
            }
            #[cfg(not(target_os = "linux"))]
            lower_current_thread_priority();
        }
    }
}

/// Whether the calling thread is in the idle scheduling class (Linux `SCHED_IDLE`).
#[cfg(all(test, target_os = "linux"))]
pub(crate) fn current_thread_is_idle_class() -> bool {
    use thread_priority::unix::{
        NormalThreadSchedulePolicy, ThreadSchedulePolicy, thread_schedule_policy,
    };
    thread_schedule_policy()
        .is_ok_and(|p| p == ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle))
}

/// Bevy's [`TaskPoolPlugin`] with the async compute threads (where terrain chunks generate) at
/// background priority and on the background CPUs ([`cores`]). Use it in place of the default
/// on machines with few cores:
///
/// ```no_run
/// use bevy::prelude::*;
/// App::new().add_plugins(DefaultPlugins.set(aigc_world::background::task_pool_plugin()));
/// ```
pub fn task_pool_plugin() -> TaskPoolPlugin {
    task_pool_plugin_at(BackgroundPriority::Low)
}

/// [`task_pool_plugin`] with the async compute threads at `priority`. `Idle` keeps chunk
/// generation from ever delaying a frame thread, but generation then waits while the game
/// keeps every core busy (holes in the ground under a software renderer), which is why
/// [`task_pool_plugin`] uses `Low`.
pub fn task_pool_plugin_at(priority: BackgroundPriority) -> TaskPoolPlugin {
    let mut options = TaskPoolOptions::default();
    options.async_compute.on_thread_spawn = Some(Arc::new(move || {
        set_current_thread_background_priority(priority);
        cores::keep_to_background_cpus();
    }));
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

    #[test]
    #[cfg(target_os = "linux")]
    fn background_threads_ask_for_long_time_slices() {
        let before = current_time_slice();
        let (slice, nice_kept) = std::thread::spawn(|| {
            let nice_before = nice();
            lower_current_thread_priority();
            let (slice, after) = (current_time_slice(), nice());
            // Asking again keeps the nice value: the slice request never touches it.
            request_time_slice(BACKGROUND_SLICE_NS).expect("sched_setattr");
            (slice, nice() == after && after >= nice_before)
        })
        .join()
        .unwrap();
        assert!(nice_kept);
        assert_eq!(
            current_time_slice(),
            before,
            "only the calling thread changes"
        );
        // Kernels before 6.12 keep no per-thread slice for normal threads and report 0.
        assert!(
            matches!(slice, Some(BACKGROUND_SLICE_NS) | Some(0)),
            "slice {slice:?}"
        );
    }
}
