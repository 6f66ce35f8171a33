//! The model worker: one thread that owns the models and serves requests by priority.
//!
//! burn modules are `Send` but not `Sync`, and a model is large compared with a request, so one
//! long-lived thread owns them all (a [`ModelRunner`]) and takes requests from a crossbeam
//! channel. Waiting requests sit in a priority queue (first in, first out within a priority);
//! a request can be cancelled while it waits or, between steps, while it runs. A runner that
//! fails or panics is reported as a failed request and the worker carries on. Pure Rust: no Bevy.

use std::collections::BinaryHeap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam::channel::{Receiver, Sender, TryRecvError, unbounded};
use thiserror::Error;

use super::backend::GpuSurface;
use super::llm::loaded::{LanguageModelFile, LanguageModelInfo, LanguageTask};
use super::nca::NcaWeights;
use super::surface::SurfaceParams;
use crate::background::{BackgroundPriority, set_current_thread_background_priority};

/// How urgent a request is; higher runs first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AiPriority {
    /// Nice to have eventually (warm-ups, prefetching).
    Background,
    /// Ordinary work.
    #[default]
    Normal,
    /// Something the player is waiting for.
    High,
}

/// Identifies a request.
pub type RequestId = u64;

/// What a request asks the worker to do.
#[derive(Clone, Debug)]
pub enum AiJob {
    /// Grow a texture with a texture NCA.
    GrowTexture {
        /// The model.
        weights: Arc<NcaWeights>,
        /// Pixels along a side.
        size: u32,
        /// Seed of the stochastic updates.
        seed: u64,
        /// Steps, or the model's own count.
        steps: Option<u32>,
    },
    /// Grow a texture with a texture NCA and make its surface maps: on a GPU shared with Bevy
    /// the answer is [`AiOutput::GpuSurface`] (nothing is read back); on the CPU it is
    /// [`AiOutput::Texture`] and the caller derives the rest.
    GrowSurface {
        /// The model.
        weights: Arc<NcaWeights>,
        /// Pixels along a side.
        size: u32,
        /// Seed of the stochastic updates.
        seed: u64,
        /// Steps, or the model's own count.
        steps: Option<u32>,
        /// How the albedo becomes normal and roughness.
        surface: SurfaceParams,
        /// Mip levels to make.
        mips: u32,
    },
    /// A no-op that returns at once; waits for the backend's first use (kernel compilation) off
    /// the frame thread.
    WarmUp,
    /// Loads a language model on the current device, replacing any loaded one; answers
    /// [`AiOutput::LanguageModel`].
    LoadLanguageModel(Arc<LanguageModelFile>),
    /// Drops the loaded language model.
    UnloadLanguageModel,
    /// Runs a task against the loaded language model (fails when none is loaded).
    Language(Arc<dyn LanguageTask>),
}

/// What a finished job produced.
#[derive(Clone, Debug, PartialEq)]
pub enum AiOutput {
    /// RGBA8 sRGB pixels, `size` x `size`.
    Texture {
        /// Pixels along a side.
        size: u32,
        /// The pixels.
        rgba: Vec<u8>,
    },
    /// Surface maps left in GPU memory on Bevy's render device.
    GpuSurface(Arc<GpuSurface>),
    /// A language model is loaded and ready.
    LanguageModel(LanguageModelInfo),
    /// A job with nothing to return finished.
    Done,
}

/// Why a request produced nothing.
#[derive(Clone, Debug, PartialEq, Error)]
#[non_exhaustive]
pub enum AiError {
    /// Cancelled before or while running.
    #[error("cancelled")]
    Cancelled,
    /// The model failed (bad input, bad weights, backend error).
    #[error("model failed: {0}")]
    Failed(String),
    /// The model panicked; the worker caught it and goes on.
    #[error("model panicked: {0}")]
    Panicked(String),
}

/// A finished request.
#[derive(Clone, Debug)]
pub struct AiResult {
    /// The request's id.
    pub id: RequestId,
    /// Its output or why there is none.
    pub output: Result<AiOutput, AiError>,
    /// Milliseconds the runner spent (0 when cancelled before it started).
    pub elapsed_ms: f64,
}

/// Lets a running job see that it was cancelled.
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// Asks the request to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Something that runs jobs: owns the models and a compute device. Lives on the worker thread.
pub trait ModelRunner: Send + 'static {
    /// Runs `job`; should check `cancel` between steps of long work.
    fn run(&mut self, job: &AiJob, cancel: &CancelToken) -> Result<AiOutput, AiError>;
}

/// Counters shared between the worker and its owner.
#[derive(Debug, Default)]
pub struct WorkerStats {
    /// Requests waiting to start.
    pub waiting: AtomicUsize,
    /// Requests finished (any outcome).
    pub finished: AtomicU64,
    /// Whether a request is running now.
    pub working: AtomicBool,
}

struct Queued {
    priority: AiPriority,
    /// Within a priority, lower ranks run first (the nearest conversation, say).
    rank: u32,
    seq: u64,
    id: RequestId,
    job: AiJob,
    cancel: CancelToken,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.priority, self.rank, self.seq) == (other.priority, other.rank, other.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Highest priority first; within one, the lowest rank, then the oldest (smallest seq).
        self.priority
            .cmp(&other.priority)
            .then(other.rank.cmp(&self.rank))
            .then(other.seq.cmp(&self.seq))
    }
}

/// The sending half: submit and cancel requests, receive results. Dropping it stops the worker
/// once its current job ends.
pub struct ModelWorker {
    submitter: AiSubmitter,
    results: Receiver<AiResult>,
    thread: Option<JoinHandle<()>>,
    /// A priority the worker takes before its next job (0: none; see [`priority_code`]).
    priority: Arc<AtomicU8>,
}

fn priority_code(priority: BackgroundPriority) -> u8 {
    match priority {
        BackgroundPriority::Low => 1,
        BackgroundPriority::Idle => 2,
    }
}

/// Submits requests to a [`ModelWorker`] from anywhere (another thread, a dialogue source);
/// cheap to clone. Results still arrive where the worker's owner collects them.
#[derive(Clone, Debug)]
pub struct AiSubmitter {
    requests: Sender<Queued>,
    next_id: Arc<AtomicU64>,
    stats: Arc<WorkerStats>,
}

impl AiSubmitter {
    /// Queues `job` at `priority`.
    pub fn submit(&self, priority: AiPriority, job: AiJob) -> AiTicket {
        self.submit_ranked(priority, 0, job)
    }

    /// Queues `job` at `priority`; among requests of one priority, lower `rank`s run first
    /// (then the oldest).
    pub fn submit_ranked(&self, priority: AiPriority, rank: u32, job: AiJob) -> AiTicket {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let cancel = CancelToken::default();
        self.stats.waiting.fetch_add(1, Ordering::Relaxed);
        let queued = Queued {
            priority,
            rank,
            seq: id,
            id,
            job,
            cancel: cancel.clone(),
        };
        if self.requests.send(queued).is_err() {
            self.stats.waiting.fetch_sub(1, Ordering::Relaxed);
        }
        AiTicket { id, cancel }
    }
}

/// A submitted request: its id and the handle to cancel it.
#[derive(Clone, Debug)]
pub struct AiTicket {
    /// Matches [`AiResult::id`].
    pub id: RequestId,
    cancel: CancelToken,
}

impl AiTicket {
    /// Cancels the request: it is dropped if still waiting, or stops at its next step.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }
}

impl ModelWorker {
    /// Starts a worker thread that will build its runner with `make_runner` (on the worker
    /// thread, so models and devices are created where they are used), at
    /// [`BackgroundPriority::Low`].
    pub fn spawn<R: ModelRunner>(make_runner: impl FnOnce() -> R + Send + 'static) -> Self {
        Self::spawn_at(BackgroundPriority::Low, make_runner)
    }

    /// [`spawn`](Self::spawn) at another background priority.
    pub fn spawn_at<R: ModelRunner>(
        priority: BackgroundPriority,
        make_runner: impl FnOnce() -> R + Send + 'static,
    ) -> Self {
        let (requests, inbox) = unbounded::<Queued>();
        let (outbox, results) = unbounded();
        let stats = Arc::new(WorkerStats::default());
        let shared = stats.clone();
        let wanted = Arc::new(AtomicU8::new(0));
        let wanted_by_worker = wanted.clone();
        let thread = std::thread::Builder::new()
            .name("aigc-model-worker".into())
            .spawn(move || {
                // Inference is background work: at full priority, and still at nice 9, it took
                // the frame threads' cores (a conversation tripled the flythrough's median
                // frame on two cores; a plain spinning thread at nice 9 did the same).
                set_current_thread_background_priority(priority);
                // Long jobs take turns with pool tasks for the cores left over (`cores`).
                crate::background::cores::share_cores_on_this_thread();
                serve(make_runner(), inbox, outbox, shared, wanted_by_worker)
            })
            .ok();
        Self {
            submitter: AiSubmitter {
                requests,
                next_id: Arc::new(AtomicU64::new(1)),
                stats,
            },
            results,
            thread,
            priority: wanted,
        }
    }

    /// Moves the worker's thread to `priority` before its next job. Only lowering is sure to
    /// work: an operating system may refuse a thread leaving the idle class without privileges
    /// (Linux does), which is logged at debug level.
    pub fn set_priority(&self, priority: BackgroundPriority) {
        self.priority
            .store(priority_code(priority), Ordering::Release);
    }

    /// Queues `job` at `priority`.
    pub fn submit(&self, priority: AiPriority, job: AiJob) -> AiTicket {
        self.submitter.submit(priority, job)
    }

    /// A handle that submits to this worker from elsewhere.
    pub fn submitter(&self) -> AiSubmitter {
        self.submitter.clone()
    }

    /// Whether a request is running now.
    pub fn is_working(&self) -> bool {
        self.stats().working.load(Ordering::Acquire)
    }

    /// Whether finished results wait to be taken.
    pub fn has_results(&self) -> bool {
        !self.results.is_empty()
    }

    /// Finished results so far, without waiting.
    pub fn try_results(&self) -> Vec<AiResult> {
        self.results.try_iter().collect()
    }

    /// Waits up to `timeout` for the next result (for tools and tests, not for frame systems).
    pub fn recv_timeout(&self, timeout: std::time::Duration) -> Option<AiResult> {
        self.results.recv_timeout(timeout).ok()
    }

    /// Shared counters.
    pub fn stats(&self) -> &Arc<WorkerStats> {
        &self.submitter.stats
    }

    /// Whether the worker thread is still running.
    pub fn is_alive(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }
}

impl Drop for ModelWorker {
    fn drop(&mut self) {
        // Closing the channel ends the loop (once every submitter is gone too); the thread is
        // left to finish its job on its own rather than blocking whoever drops the worker.
        let (dead, _) = unbounded();
        self.submitter.requests = dead;
    }
}

fn serve<R: ModelRunner>(
    mut runner: R,
    inbox: Receiver<Queued>,
    outbox: Sender<AiResult>,
    stats: Arc<WorkerStats>,
    priority: Arc<AtomicU8>,
) {
    let mut queue = BinaryHeap::new();
    loop {
        loop {
            match inbox.try_recv() {
                Ok(q) => queue.push(q),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) if queue.is_empty() => return,
                Err(TryRecvError::Disconnected) => break,
            }
        }
        let Some(next) = queue.pop() else {
            match inbox.recv() {
                Ok(q) => {
                    queue.push(q);
                    continue;
                }
                Err(_) => return,
            }
        };
        stats.waiting.fetch_sub(1, Ordering::Relaxed);
        match priority.swap(0, Ordering::Acquire) {
            1 => set_current_thread_background_priority(BackgroundPriority::Low),
            2 => set_current_thread_background_priority(BackgroundPriority::Idle),
            _ => {}
        }
        let (output, elapsed_ms) = if next.cancel.is_cancelled() {
            (Err(AiError::Cancelled), 0.0)
        } else {
            let start = Instant::now();
            stats.working.store(true, Ordering::Release);
            let output = catch_unwind(AssertUnwindSafe(|| runner.run(&next.job, &next.cancel)))
                .unwrap_or_else(|panic| Err(AiError::Panicked(panic_message(&panic))));
            crate::background::cores::release_held();
            stats.working.store(false, Ordering::Release);
            (output, start.elapsed().as_secs_f64() * 1000.0)
        };
        stats.finished.fetch_add(1, Ordering::Relaxed);
        let result = AiResult {
            id: next.id,
            output,
            elapsed_ms,
        };
        if outbox.send(result).is_err() {
            return;
        }
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;

    struct Idle;

    impl ModelRunner for Idle {
        fn run(&mut self, _: &AiJob, _: &CancelToken) -> Result<AiOutput, AiError> {
            Ok(AiOutput::Done)
        }
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn the_worker_runs_at_background_priority() {
        /// Reports, for each job, whether its thread is in the idle scheduling class.
        struct ReportsClass(Sender<bool>);
        impl ModelRunner for ReportsClass {
            fn run(&mut self, _: &AiJob, _: &CancelToken) -> Result<AiOutput, AiError> {
                let _ = self
                    .0
                    .send(crate::background::current_thread_is_idle_class());
                Ok(AiOutput::Done)
            }
        }
        let job = || job(3);
        let (tx, rx) = crossbeam::channel::bounded(4);
        let worker = ModelWorker::spawn_at(BackgroundPriority::Idle, move || ReportsClass(tx));
        worker.submit(AiPriority::Normal, job());
        let idle = rx.recv_timeout(Duration::from_secs(10)).expect("a job ran");
        assert!(idle, "the model worker is not in the idle scheduling class");
        assert!(
            !crate::background::current_thread_is_idle_class(),
            "only the worker's thread changes"
        );
        // A worker started low moves to the idle class before its next job when asked.
        let (tx, rx) = crossbeam::channel::bounded(4);
        let worker = ModelWorker::spawn(move || ReportsClass(tx));
        worker.submit(AiPriority::Normal, job());
        assert!(!rx.recv_timeout(Duration::from_secs(10)).expect("a job ran"));
        worker.set_priority(BackgroundPriority::Idle);
        worker.submit(AiPriority::Normal, job());
        assert!(rx.recv_timeout(Duration::from_secs(10)).expect("a job ran"));

        let before = crate::background::current_nice().expect("a nice value");
        let (tx, rx) = crossbeam::channel::bounded(1);
        let _worker = ModelWorker::spawn(move || {
            let _ = tx.send(crate::background::current_nice());
            Idle
        });
        let on_worker = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the worker starts")
            .expect("a nice value");
        assert!(on_worker >= before.max(1), "nice {on_worker} from {before}");
    }

    /// Records the order jobs run in; the first job blocks until the test lets it go, so the
    /// others queue up behind it. `size` tags a job; tag 0 fails, tag 1 panics.
    struct Recorder {
        order: Arc<Mutex<Vec<u32>>>,
        started: Sender<()>,
        gate: Receiver<()>,
    }

    impl ModelRunner for Recorder {
        fn run(&mut self, job: &AiJob, cancel: &CancelToken) -> Result<AiOutput, AiError> {
            let AiJob::GrowTexture { size, .. } = job else {
                return Ok(AiOutput::Done);
            };
            self.order.lock().unwrap().push(*size);
            let _ = self.started.send(());
            if *size == 99 {
                // Blocks until released, then notices cancellation like a model between steps.
                let _ = self.gate.recv();
                if cancel.is_cancelled() {
                    return Err(AiError::Cancelled);
                }
            }
            match size {
                0 => Err(AiError::Failed("bad weights".into())),
                1 => panic!("kernel exploded"),
                _ => Ok(AiOutput::Done),
            }
        }
    }

    fn job(tag: u32) -> AiJob {
        AiJob::GrowTexture {
            weights: Arc::new(NcaWeights {
                channels: 4,
                hidden: 1,
                steps: 1,
                fire_rate: 1.0,
                w1: vec![0.0; 16],
                b1: vec![0.0],
                w2: vec![0.0; 4],
            }),
            size: tag,
            seed: 0,
            steps: None,
        }
    }

    fn setup() -> (ModelWorker, Arc<Mutex<Vec<u32>>>, Receiver<()>, Sender<()>) {
        let order = Arc::new(Mutex::new(Vec::new()));
        let (started_tx, started) = unbounded();
        let (release, gate) = unbounded();
        let recorded = order.clone();
        let worker = ModelWorker::spawn(move || Recorder {
            order: recorded,
            started: started_tx,
            gate,
        });
        (worker, order, started, release)
    }

    fn collect(worker: &ModelWorker, n: usize) -> Vec<AiResult> {
        (0..n)
            .map(|_| {
                worker
                    .recv_timeout(Duration::from_secs(10))
                    .expect("result")
            })
            .collect()
    }

    #[test]
    fn serves_by_priority_then_arrival() {
        let (worker, order, started, release) = setup();
        worker.submit(AiPriority::Normal, job(99));
        started.recv_timeout(Duration::from_secs(10)).unwrap();
        worker.submit(AiPriority::Background, job(10));
        worker.submit(AiPriority::Normal, job(20));
        worker.submit(AiPriority::High, job(30));
        worker.submit(AiPriority::Normal, job(21));
        worker.submit(AiPriority::High, job(31));
        assert_eq!(worker.stats().waiting.load(Ordering::Relaxed), 5);
        release.send(()).unwrap();
        collect(&worker, 6);
        assert_eq!(*order.lock().unwrap(), vec![99, 30, 31, 20, 21, 10]);
        assert_eq!(worker.stats().waiting.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn cancels_waiting_and_running_requests() {
        let (worker, order, started, release) = setup();
        let running = worker.submit(AiPriority::Normal, job(99));
        started.recv_timeout(Duration::from_secs(10)).unwrap();
        let waiting = worker.submit(AiPriority::High, job(40));
        let kept = worker.submit(AiPriority::Normal, job(41));
        waiting.cancel();
        running.cancel();
        release.send(()).unwrap();
        let results = collect(&worker, 3);
        let by_id = |id| results.iter().find(|r| r.id == id).unwrap().output.clone();
        assert_eq!(by_id(running.id), Err(AiError::Cancelled));
        assert_eq!(by_id(waiting.id), Err(AiError::Cancelled));
        assert_eq!(by_id(kept.id), Ok(AiOutput::Done));
        assert_eq!(
            *order.lock().unwrap(),
            vec![99, 41],
            "cancelled job never ran"
        );
    }

    #[test]
    fn failing_and_panicking_models_are_reported_and_the_worker_survives() {
        let (worker, _order, _started, _release) = setup();
        let fail = worker.submit(AiPriority::Normal, job(0));
        let panic = worker.submit(AiPriority::Normal, job(1));
        let ok = worker.submit(AiPriority::Normal, job(2));
        let results = collect(&worker, 3);
        assert_eq!(results[0].id, fail.id);
        assert!(matches!(results[0].output, Err(AiError::Failed(_))));
        assert_eq!(results[1].id, panic.id);
        assert_eq!(
            results[1].output,
            Err(AiError::Panicked("kernel exploded".into()))
        );
        assert_eq!(results[2].id, ok.id);
        assert_eq!(results[2].output, Ok(AiOutput::Done));
        assert!(worker.is_alive());
    }
}
