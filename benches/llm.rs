//! Language model speed on the real SmolLM2-135M-Instruct file (Q4_1 GGUF; skipped, saying so,
//! when `scripts/fetch-models.sh` has not fetched it), on the quantized CPU engine, one thread:
//!
//! - `tg64`: generating 64 tokens from an empty context (llama-bench's `tg64`); tokens/s is
//!   64 / time.
//! - `first_token_cold_200`: a 200-token prompt from scratch to the first token's logits
//!   (llama-bench's `pp200`).
//! - `first_token_warm_150+20`: a 20-token player line after a cached 150-token persona prefix
//!   (llama-bench's `pp20` at depth 150).
//!
//! It also prints the resident memory of the loaded model and of a conversation's cache.
//! `scripts/bench-llm.sh` runs it alternately with llama.cpp's `llama-bench` on the same file.
//!
//! ```text
//! cargo bench --bench llm
//! ```

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use aigc_world::ai::llm::{Engine, LanguageModel, ModelSource, Session};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

const MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/models/SmolLM2-135M-Instruct.Q4_1.gguf"
);

/// Resident set size of this process in bytes (Linux), for the memory report.
fn resident() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// `n` token ids that look like text (ids of common words, cycled).
fn tokens(n: usize, offset: usize) -> Vec<u32> {
    const WORDS: [u32; 24] = [
        504, 3575, 282, 4649, 314, 7042, 30, 657, 506, 253, 2240, 338, 1573, 876, 28, 338, 5248,
        253, 3241, 282, 3725, 198, 1348, 6230,
    ];
    (0..n).map(|i| WORDS[(i + offset) % WORDS.len()]).collect()
}

fn load() -> Option<LanguageModel> {
    let Ok(bytes) = std::fs::read(MODEL) else {
        eprintln!("llm bench skipped: {MODEL} is absent (run scripts/fetch-models.sh)");
        return None;
    };
    let before = resident();
    let bytes: Arc<[u8]> = bytes.into();
    let model = LanguageModel::load(ModelSource::Gguf(bytes), Engine::Quantized).expect("loads");
    let after = resident();
    let mb = |b: usize| b as f64 / (1024.0 * 1024.0);
    eprintln!(
        "model: {:.1} MiB resident by its own count ({:.1} MiB of matrices read per token); \
         process RSS {:.1} -> {:.1} MiB around loading",
        mb(model.resident_bytes()),
        mb(model.weights().matrix_bytes()),
        before.map_or(0.0, mb),
        after.map_or(0.0, mb)
    );
    Some(model)
}

/// CPU time of this thread in nanoseconds (Linux), which other processes on the machine do not
/// inflate the way they inflate wall time.
fn thread_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

/// Best of three thread-CPU times of `run`, in milliseconds.
fn cpu_ms(mut run: impl FnMut()) -> Option<f64> {
    (0..3)
        .map(|_| {
            let start = thread_cpu_ns()?;
            run();
            Some((thread_cpu_ns()? - start) as f64 / 1e6)
        })
        .try_fold(f64::MAX, |best, t| t.map(|t| best.min(t)))
}

fn prefilled(model: &mut LanguageModel, len: usize, capacity: usize) -> Session {
    let mut s = model.new_session(capacity);
    model
        .prefill(&mut s, &tokens(len, 0), &|| false)
        .expect("prefill");
    s
}

fn language_model(c: &mut Criterion) {
    let Some(mut model) = load() else {
        return;
    };
    // Load-independent figures first: this thread's CPU time.
    let line = tokens(20, 7);
    let persona = prefilled(&mut model, 150, 512);
    let tg = cpu_ms(|| {
        let mut s = model.new_session(80);
        for t in tokens(64, 3) {
            black_box(model.step(&mut s, t).expect("step")[0]);
        }
    });
    let cold = cpu_ms(|| {
        let mut s = model.new_session(256);
        black_box(
            model
                .prefill(&mut s, &tokens(200, 0), &|| false)
                .expect("prefill")[0],
        );
    });
    let warm = cpu_ms(|| {
        let mut s = persona.clone();
        black_box(model.prefill(&mut s, &line, &|| false).expect("prefill")[0]);
    });
    if let (Some(tg), Some(cold), Some(warm)) = (tg, cold, warm) {
        eprintln!(
            "thread CPU time (best of 3): tg64 {tg:.0} ms = {:.1} tokens/s; first token cold 200 \
             {cold:.0} ms ({:.0} prompt tokens/s); warm 150+20 {warm:.1} ms",
            64_000.0 / tg,
            200_000.0 / cold
        );
    }

    let mut group = c.benchmark_group("llm");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));

    let empty80 = model.new_session(80);
    group.bench_function("tg64", |b| {
        b.iter_batched(
            || empty80.clone(),
            |mut s| {
                for t in tokens(64, 3) {
                    black_box(model.step(&mut s, t).expect("step")[0]);
                }
                s
            },
            BatchSize::PerIteration,
        )
    });

    let cold = tokens(200, 0);
    let empty256 = model.new_session(256);
    group.bench_function("first_token_cold_200", |b| {
        b.iter_batched(
            || empty256.clone(),
            |mut s| {
                black_box(model.prefill(&mut s, &cold, &|| false).expect("prefill")[0]);
                s
            },
            BatchSize::PerIteration,
        )
    });

    eprintln!(
        "conversation cache: {} KiB for the 150-token persona ({} bytes per token)",
        persona.kv_bytes() / 1024,
        model.config().kv_bytes_per_token()
    );
    group.bench_function("first_token_warm_150+20", |b| {
        b.iter_batched(
            || persona.clone(),
            |mut s| {
                black_box(model.prefill(&mut s, &line, &|| false).expect("prefill")[0]);
                s
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, language_model);
criterion_main!(benches);
