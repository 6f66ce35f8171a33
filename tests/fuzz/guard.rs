//! Running one case under guard: on a worker thread with the default stack, so a hang is noticed
//! (each case has a time limit) and a panic is caught, with its peak heap use measured by a
//! per-thread counting allocator. Then the outcome is checked: `Ok`, or an error whose position
//! lies inside the file.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use aigc_world::config::ConfigError;

/// Longest one case may take before it counts as a hang (`FUZZ_CASE_LIMIT_S` overrides). Not a
/// speed test: the slowest cases of a debug build take well under a second.
pub fn time_limit() -> Duration {
    let secs = std::env::var("FUZZ_CASE_LIMIT_S")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    Duration::from_secs(secs)
}

/// Most heap one case may hold at once: a fixed allowance plus a multiple of the input's size.
pub fn alloc_bound(input_len: usize) -> u64 {
    (64 << 20) + 64 * input_len as u64
}

type Job = Box<dyn FnOnce() + Send>;

struct Worker {
    jobs: Sender<Job>,
}

impl Worker {
    fn new() -> Self {
        let (jobs, rx): (Sender<Job>, Receiver<Job>) = channel();
        std::thread::Builder::new()
            .name("fuzz-case".into())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    job();
                }
            })
            .expect("spawn the fuzz worker");
        Self { jobs }
    }
}

thread_local! {
    /// The calling test thread's worker (one per test, so tests do not wait on each other).
    static WORKER: RefCell<Option<Worker>> = const { RefCell::new(None) };
}

/// How a guarded call ended.
#[derive(Debug)]
pub enum Ended<R> {
    /// It returned `R`, holding at most `peak` bytes of heap at once.
    Returned { value: R, peak: u64, took: Duration },
    /// It panicked with this message.
    Panicked(String),
    /// It was still running after the time limit (the worker is abandoned).
    Hung,
}

/// Runs `f` on the worker; see [`Ended`].
pub fn guarded<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> Ended<R> {
    let (tx, rx) = channel();
    let job: Job = Box::new(move || {
        let start = Instant::now();
        let mut out = None;
        let info = allocation_counter::measure(|| {
            out = Some(catch_unwind(AssertUnwindSafe(f)));
        });
        let ended = match out {
            Some(Ok(value)) => Ended::Returned {
                value,
                peak: info.bytes_max,
                took: start.elapsed(),
            },
            Some(Err(panic)) => Ended::Panicked(
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default(),
            ),
            None => Ended::Panicked("no result".into()),
        };
        let _ = tx.send(ended);
    });
    WORKER.with(|w| {
        let mut w = w.borrow_mut();
        let worker = w.get_or_insert_with(Worker::new);
        if let Err(e) = worker.jobs.send(job) {
            // The worker died (it cannot: jobs catch their panics); start another.
            let fresh = Worker::new();
            let _ = fresh.jobs.send(e.0);
            *worker = fresh;
        }
        match rx.recv_timeout(time_limit()) {
            Ok(ended) => ended,
            Err(_) => {
                *w = None;
                Ended::Hung
            }
        }
    })
}

/// Checks that an error's position lies in the file: line 1.. and column 1.. within the text
/// (one past the end of a line allowed), or line 1 and column up to one past the last byte for a
/// binary file.
pub fn position_in_file(err: &ConfigError, bytes: &[u8], binary: bool) -> Result<(), String> {
    if err.line == 0 || err.column == 0 {
        return Err(format!(
            "position {}:{} is not 1-based",
            err.line, err.column
        ));
    }
    if err.kind.to_string().trim().is_empty() {
        return Err("empty message".into());
    }
    if binary {
        return if err.line == 1 && err.column <= bytes.len() + 1 {
            Ok(())
        } else {
            Err(format!(
                "position {}:{} outside {} bytes",
                err.line,
                err.column,
                bytes.len()
            ))
        };
    }
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.split('\n').collect();
    let Some(line) = lines.get(err.line - 1) else {
        return Err(format!("line {} of {}", err.line, lines.len()));
    };
    let chars = line.chars().count();
    if err.column > chars + 1 {
        return Err(format!(
            "column {} on line {} of {chars} characters",
            err.column, err.line
        ));
    }
    Ok(())
}

/// Counts of one kind's cases.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub cases: u64,
    pub ok: u64,
    pub errors: u64,
    pub failures: u64,
    pub peak: u64,
    pub slowest: Duration,
    pub biggest_input: usize,
}

/// Tallies by kind name, for the long run's table.
pub static TALLIES: Mutex<BTreeMap<&'static str, Tally>> = Mutex::new(BTreeMap::new());

/// One case of a file kind: parse `bytes` under guard and check the outcome. `Err` says what
/// went wrong (a panic, a hang, an allocation past the bound, a position outside the file).
/// `Ok(true)` if the file was accepted.
pub fn check_file(
    kind: &'static str,
    validate: fn(&[u8], &str) -> Result<(), ConfigError>,
    bytes: Vec<u8>,
    binary: bool,
) -> Result<bool, String> {
    let len = bytes.len();
    let label = "fuzz/case";
    let (outcome, input) = match guarded(move || {
        let r = validate(&bytes, label);
        (r, bytes)
    }) {
        Ended::Returned {
            value: (r, input),
            peak,
            took,
        } => {
            let mut tallies = TALLIES.lock().unwrap_or_else(|e| e.into_inner());
            let t = tallies.entry(kind).or_default();
            t.cases += 1;
            t.peak = t.peak.max(peak);
            t.slowest = t.slowest.max(took);
            t.biggest_input = t.biggest_input.max(len);
            if peak > alloc_bound(len) {
                t.failures += 1;
                return Err(format!(
                    "{kind}: {peak} bytes of heap at once for a {len}-byte file (bound {})",
                    alloc_bound(len)
                ));
            }
            match &r {
                Ok(()) => t.ok += 1,
                Err(_) => t.errors += 1,
            }
            (r, input)
        }
        Ended::Panicked(msg) => {
            tally_failure(kind);
            return Err(format!("{kind}: panicked: {msg}"));
        }
        Ended::Hung => {
            tally_failure(kind);
            return Err(format!("{kind}: no answer within {:?}", time_limit()));
        }
    };
    match outcome {
        Ok(()) => Ok(true),
        Err(e) => {
            if e.file != label {
                return Err(format!("{kind}: error names file {:?}: {e}", e.file));
            }
            position_in_file(&e, &input, binary).map_err(|why| format!("{kind}: {why}: {e}"))?;
            Ok(false)
        }
    }
}

fn tally_failure(kind: &'static str) {
    let mut tallies = TALLIES.lock().unwrap_or_else(|e| e.into_inner());
    let t = tallies.entry(kind).or_default();
    t.cases += 1;
    t.failures += 1;
}
