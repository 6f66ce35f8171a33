//! Property-based fuzzing on stable Rust (proptest): every file kind of the registry, generated
//! and mutated structure-aware, must end in `Ok` or an error with a position inside the file,
//! never a panic, a hang (time limit per case) or a heap use past a bound. A separate test
//! binary because it installs a counting global allocator (per thread, from
//! `allocation-counter`), which the other tests should not pay for.
//!
//! The short run is part of `cargo test`; the long run is
//! `nice -n 19 cargo test --release --test fuzz fuzz_long -- --ignored --nocapture` (`FUZZ_SECONDS`,
//! `FUZZ_KINDS`, `FUZZ_CASES`; see BENCHMARKS.md).

mod binary;
mod corpus;
mod files;
mod guard;
mod kinds;
mod mutate;
mod player_input;
mod ron_tree;
