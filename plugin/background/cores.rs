//! The cores for heavy background work, kept apart from the frame's.
//!
//! On a 2-core machine, chunk generation busy on one core and the model worker generating on the
//! other leave no core free when the frame thread and the task-pool threads it wakes need one.
//! Linux's EEVDF scheduler then lets a background thread run on to the next tick (4 ms at
//! 250 Hz) before the frame goes on, whatever the priorities; a single busy background thread
//! never did this (BENCHMARKS.md, "Background work kept to one core"). So the plugin gives heavy
//! background work [`heavy_thread_limit`] cores, the machine's less one (at least one):
//!
//! - **At most that many run at once.** Heavy work takes a [`CoreShare`] before it runs, handed
//!   out in the order asked for. Pool tasks hold one for their whole run (a few milliseconds:
//!   [`run_with_share`]). The model worker's long jobs call [`checkpoint`] between steps (a
//!   transformer layer): it takes a share at the first step and, once it has held it for
//!   [`TURN`] while a pool task waits, gives it back and lets pool tasks run for about as long
//!   (less if they run out of work), so generation and the model take turns instead of starving
//!   each other. The worker gives its share back at the end of each job ([`release_held`]).
//! - **On those cores only** (Linux): the chunk generation threads
//!   ([`crate::background::task_pool_plugin`]) and the model worker keep to the last
//!   [`heavy_thread_limit`] CPUs the process may use ([`keep_to_background_cpus`]), so the frame
//!   thread, which the scheduler puts on an idle core when it wakes, finds one. Limiting how many run at once without this did not remove
//!   the slow frames: the threads taking turns still woke on the frame's core.
//!
//! Only threads that asked for it ([`share_cores_on_this_thread`]) take shares at checkpoints,
//! so the same inference code called from a test or a tool runs freely.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long the model worker keeps a share while a pool task waits, and how long pool tasks
/// then run before the worker takes a share again: about two chunk tasks, so on two cores a
/// conversation and chunk generation each get about half of the background core.
pub const TURN: Duration = Duration::from_millis(8);

/// How long nobody must use the shares before a waiting worker takes its turn early: longer
/// than a pool thread takes between two tasks.
const IDLE_GAP: Duration = Duration::from_millis(1);

/// Shares handed out in ticket order, at most `limit` held at once.
pub struct CoreShares {
    state: Mutex<Tickets>,
    turn: Condvar,
    /// 0 until first used: then [`default_limit`] unless set.
    limit: AtomicUsize,
}

#[derive(Default)]
struct Tickets {
    /// Tickets handed out so far.
    issued: u64,
    /// Shares given back so far. Ticket `t` may run once `t < returned + limit`: admission is
    /// in ticket order, so exactly `limit` tickets are admitted and not yet returned.
    returned: u64,
}

/// The cores less one, at least one.
fn default_limit() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get().saturating_sub(1))
        .unwrap_or(1)
        .max(1)
}

impl CoreShares {
    /// Shares for at most `limit` holders at once (0: the cores less one, at least one).
    pub const fn new(limit: usize) -> Self {
        Self {
            state: Mutex::new(Tickets {
                issued: 0,
                returned: 0,
            }),
            turn: Condvar::new(),
            limit: AtomicUsize::new(limit),
        }
    }

    /// At most how many shares are held at once.
    pub fn limit(&self) -> usize {
        match self.limit.load(Ordering::Relaxed) {
            0 => {
                // Another thread may have set one meanwhile; theirs stands.
                let _ = self.limit.compare_exchange(
                    0,
                    default_limit(),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
                self.limit.load(Ordering::Relaxed)
            }
            n => n,
        }
    }

    /// Sets how many shares may be held at once (at least one). Raising it lets waiters in at
    /// once; lowering it takes effect as holders give theirs back.
    pub fn set_limit(&self, limit: usize) {
        self.limit.store(limit.max(1), Ordering::Relaxed);
        let _guard = self.lock();
        self.turn.notify_all();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tickets> {
        // The counters stay consistent whatever a panicking holder was doing.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a share, in the order asked for.
    pub fn take(&self) -> CoreShare<'_> {
        let mut state = self.lock();
        let ticket = state.issued;
        state.issued += 1;
        while ticket >= state.returned + self.limit() as u64 {
            state = self.turn.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        CoreShare { shares: self }
    }

    /// Whether someone waits for a share now.
    pub fn others_waiting(&self) -> bool {
        let state = self.lock();
        state.issued > state.returned + self.limit() as u64
    }

    /// Waits until `until`, or until nobody has held or asked for a share for [`IDLE_GAP`].
    fn wait_while_busy(&self, until: Instant) {
        let mut state = self.lock();
        loop {
            let now = Instant::now();
            if now >= until {
                return;
            }
            let idle = state.issued == state.returned;
            let asked = state.issued;
            let wait = if idle {
                IDLE_GAP.min(until - now)
            } else {
                until - now
            };
            state = match self.turn.wait_timeout(state, wait) {
                Ok((s, _)) => s,
                Err(e) => e.into_inner().0,
            };
            if idle && state.issued == asked {
                return;
            }
        }
    }

    fn give_back(&self) {
        let mut state = self.lock();
        state.returned += 1;
        self.turn.notify_all();
    }
}

/// A held share; given back when dropped.
pub struct CoreShare<'a> {
    shares: &'a CoreShares,
}

impl Drop for CoreShare<'_> {
    fn drop(&mut self) {
        self.shares.give_back();
    }
}

/// The process's shares: pool tasks and the model worker of every app in the process draw on
/// the same cores.
static SHARES: CoreShares = CoreShares::new(0);

/// Whether heavy background threads keep to the background CPUs.
static KEEP_APART: AtomicBool = AtomicBool::new(true);

/// At most how many heavy background threads run at once in this process: the cores less one,
/// at least one, unless set with [`set_heavy_thread_limit`].
pub fn heavy_thread_limit() -> usize {
    SHARES.limit()
}

/// Sets how many heavy background threads may run at once (at least one): a game that keeps
/// more cores for itself lowers it, one that leaves the machine to the world raises it. Set it
/// before the app starts: threads already started keep the CPUs they were given.
pub fn set_heavy_thread_limit(limit: usize) {
    SHARES.set_limit(limit);
}

/// Whether heavy background threads started from now on keep to the last
/// [`heavy_thread_limit`] CPUs (Linux; on by default). A game that places its own threads on
/// CPUs turns it off before the app starts.
pub fn set_keep_background_threads_apart(keep: bool) {
    KEEP_APART.store(keep, Ordering::Relaxed);
}

/// Waits for a share of the process's background cores, held until the share is dropped.
/// For pool tasks: call it inside the task, never on the frame thread.
pub fn take_share() -> CoreShare<'static> {
    SHARES.take()
}

/// Runs `work` holding a share of the process's background cores ([`take_share`]).
pub fn run_with_share<T>(work: impl FnOnce() -> T) -> T {
    let _share = take_share();
    work()
}

/// Keeps the calling thread to the last [`heavy_thread_limit`] CPUs the process may use
/// (Linux, unless turned off with [`set_keep_background_threads_apart`]); where that would be
/// every CPU, or the platform refuses, the thread stays where it was (logged at debug level).
pub fn keep_to_background_cpus() {
    #[cfg(target_os = "linux")]
    if KEEP_APART.load(Ordering::Relaxed)
        && let Err(e) = affinity::keep_to_last_cpus(heavy_thread_limit())
    {
        bevy::log::debug!("aigc_world: could not keep a background thread to its CPUs: {e}");
    }
}

/// CPU affinity through `sched_{get,set}affinity`.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub(crate) mod affinity {
    use std::mem::size_of;

    /// The CPUs the calling thread may run on, in increasing order.
    pub(crate) fn current_cpus() -> std::io::Result<Vec<usize>> {
        // SAFETY: an all-zero `cpu_set_t` is a valid empty set.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: `set` is a live, writable `cpu_set_t` of the size passed; 0 is this thread.
        if unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok((0..libc::CPU_SETSIZE as usize)
            .filter(|&cpu| {
                // SAFETY: `cpu` is below `CPU_SETSIZE`, inside `set`.
                unsafe { libc::CPU_ISSET(cpu, &set) }
            })
            .collect())
    }

    /// Keeps the calling thread to the last `count` of the CPUs it may run on now; returns
    /// whether it changed anything (not when `count` covers them all).
    pub(crate) fn keep_to_last_cpus(count: usize) -> std::io::Result<bool> {
        let cpus = current_cpus()?;
        if count == 0 || count >= cpus.len() {
            return Ok(false);
        }
        // SAFETY: as in `current_cpus`.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        for &cpu in &cpus[cpus.len() - count..] {
            // SAFETY: `cpu` came from `current_cpus`, below `CPU_SETSIZE`.
            unsafe { libc::CPU_SET(cpu, &mut set) };
        }
        // SAFETY: `set` is a valid `cpu_set_t` of the size passed; the kernel only reads it.
        if unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(true)
    }
}

thread_local! {
    static SHARING: Cell<bool> = const { Cell::new(false) };
    static HELD: RefCell<Option<(CoreShare<'static>, Instant)>> = const { RefCell::new(None) };
}

/// Makes [`checkpoint`] take shares on the calling thread (the model worker), and keeps the
/// thread to the background CPUs ([`keep_to_background_cpus`]).
pub fn share_cores_on_this_thread() {
    SHARING.with(|s| s.set(true));
    keep_to_background_cpus();
}

/// Between steps of a long job: on a thread that shares cores, takes a share if it holds
/// none; after holding one for [`TURN`] while others wait, gives it back, lets them run for
/// about a turn, and takes one again. Elsewhere it does nothing.
pub fn checkpoint() {
    if SHARING.with(Cell::get) {
        checkpoint_with(&SHARES, TURN);
    }
}

fn checkpoint_with(shares: &'static CoreShares, turn: Duration) {
    HELD.with(|held| {
        let mut held = held.borrow_mut();
        if let Some((_, since)) = &*held
            && (since.elapsed() < turn || !shares.others_waiting())
        {
            return;
        }
        if held.take().is_some() {
            // The pool's turn: its tasks run one after another for about as long as the worker
            // had, unless they run out of work first.
            shares.wait_while_busy(Instant::now() + turn);
        }
        *held = Some((shares.take(), Instant::now()));
    });
}

/// Gives back the share [`checkpoint`] holds on this thread, if any (at the end of a job).
pub fn release_held() {
    HELD.with(|held| held.borrow_mut().take());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    #[test]
    fn no_more_than_the_limit_hold_shares_at_once() {
        let shares = Arc::new(CoreShares::new(2));
        let holding = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..6)
            .map(|_| {
                let (shares, holding, most) = (shares.clone(), holding.clone(), most.clone());
                std::thread::spawn(move || {
                    for _ in 0..20 {
                        let _share = shares.take();
                        let now = holding.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_micros(200));
                        holding.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
        assert!(!shares.others_waiting());
    }

    #[test]
    fn shares_go_in_the_order_asked_for() {
        let shares: &'static CoreShares = Box::leak(Box::new(CoreShares::new(1)));
        let first = shares.take();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut threads = Vec::new();
        for i in 0..4 {
            let order = order.clone();
            threads.push(std::thread::spawn(move || {
                let _share = shares.take();
                order.lock().unwrap().push(i);
            }));
            // Each asks only after the one before is waiting.
            while shares.lock().issued < i as u64 + 2 {
                std::thread::yield_now();
            }
        }
        assert!(shares.others_waiting());
        drop(first);
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3]);
    }

    #[test]
    fn raising_the_limit_lets_a_waiter_in() {
        let shares: &'static CoreShares = Box::leak(Box::new(CoreShares::new(1)));
        let _held = shares.take();
        let got = Arc::new(AtomicBool::new(false));
        let waiter = {
            let got = got.clone();
            std::thread::spawn(move || {
                let _share = shares.take();
                got.store(true, Ordering::SeqCst);
            })
        };
        std::thread::sleep(Duration::from_millis(20));
        assert!(!got.load(Ordering::SeqCst), "one share, held");
        shares.set_limit(2);
        waiter.join().unwrap();
        assert!(got.load(Ordering::SeqCst));
    }

    #[test]
    fn a_thread_that_does_not_share_cores_takes_no_share_at_a_checkpoint() {
        checkpoint();
        assert!(HELD.with(|h| h.borrow().is_none()));
    }

    #[test]
    fn the_worker_takes_turns_with_pool_tasks() {
        let shares: &'static CoreShares = Box::leak(Box::new(CoreShares::new(1)));
        let (to_main, from_worker) = std::sync::mpsc::channel();
        let (to_worker, from_main) = std::sync::mpsc::channel::<()>();
        let worker = std::thread::spawn(move || {
            checkpoint_with(shares, TURN);
            to_main.send("holding").unwrap();
            from_main.recv().unwrap();
            // A pool task is waiting now: within the quantum the worker keeps its share...
            checkpoint_with(shares, TURN);
            to_main.send("kept").unwrap();
            std::thread::sleep(TURN);
            // ...after it, the worker waits for the task's turn to end.
            let start = Instant::now();
            checkpoint_with(shares, TURN);
            let waited = start.elapsed();
            release_held();
            to_main
                .send(if waited >= Duration::from_millis(15) {
                    "waited"
                } else {
                    "did not wait"
                })
                .unwrap();
        });
        assert_eq!(from_worker.recv().unwrap(), "holding");
        let task = std::thread::spawn(move || {
            let _share = shares.take();
            std::thread::sleep(Duration::from_millis(30));
        });
        while !shares.others_waiting() {
            std::thread::yield_now();
        }
        to_worker.send(()).unwrap();
        assert_eq!(from_worker.recv().unwrap(), "kept");
        assert_eq!(from_worker.recv().unwrap(), "waited");
        task.join().unwrap();
        worker.join().unwrap();
        assert!(!shares.others_waiting());
        let tickets = shares.lock();
        assert_eq!(tickets.issued, tickets.returned);
    }

    #[test]
    fn the_worker_resumes_early_when_the_pool_runs_out_of_work() {
        let shares: &'static CoreShares = Box::leak(Box::new(CoreShares::new(1)));
        let turn = Duration::from_millis(300);
        let worker = std::thread::spawn(move || {
            checkpoint_with(shares, turn);
            std::thread::sleep(turn);
            while !shares.others_waiting() {
                std::thread::yield_now();
            }
            // One short task waits; once it is done nobody else asks, so the worker goes on
            // long before the pool's turn would end.
            let start = Instant::now();
            checkpoint_with(shares, turn);
            let waited = start.elapsed();
            release_held();
            waited
        });
        std::thread::sleep(Duration::from_millis(50));
        let task = std::thread::spawn(move || {
            let _share = shares.take();
            std::thread::sleep(Duration::from_millis(5));
        });
        let waited = worker.join().unwrap();
        task.join().unwrap();
        assert!(
            waited >= Duration::from_millis(4) && waited < Duration::from_millis(200),
            "waited {waited:?}"
        );
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn background_threads_keep_to_the_last_cpus() {
        let before = affinity::current_cpus().unwrap();
        let kept = std::thread::spawn(|| {
            let changed = affinity::keep_to_last_cpus(1).unwrap();
            (changed, affinity::current_cpus().unwrap())
        })
        .join()
        .unwrap();
        assert_eq!(
            affinity::current_cpus().unwrap(),
            before,
            "only the calling thread"
        );
        if before.len() > 1 {
            assert_eq!(kept, (true, vec![*before.last().unwrap()]));
        } else {
            assert_eq!(kept, (false, before.clone()));
        }
        // Asking for every CPU changes nothing.
        let all = std::thread::spawn(move || affinity::keep_to_last_cpus(usize::MAX).unwrap());
        assert!(!all.join().unwrap());
    }
}
