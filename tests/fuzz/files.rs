//! The file fuzzer: for every kind of the registry, valid files stay valid (and keep their value)
//! when written differently, mutated files end in `Ok` or a positioned error within the time and
//! heap bounds, and an unknown field anywhere (top level, sub-structure, enum variant) is an
//! error. A short run per kind here; [`fuzz_long`] is the long run for BENCHMARKS.md.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use crate::binary::{gguf_op, mutate_gguf, mutate_nca, nca_op, valid_nca};
use crate::guard::{TALLIES, check_file};
use crate::kinds::{self, Kind};
use crate::mutate::{UNKNOWN_FIELD, byte_op, ron_op, same_op};
use crate::ron_tree::{Doc, Node};

/// A generated case: a seed and the steps applied to it.
#[derive(Clone, Debug)]
enum Case {
    Ron {
        seed: usize,
        pretty: bool,
        ops: Vec<crate::mutate::RonOp>,
        bytes: Vec<crate::mutate::ByteOp>,
    },
    Nca {
        seed: Option<usize>,
        generated: Vec<u8>,
        ops: Vec<crate::binary::NcaOp>,
        fix_checksum: bool,
        bytes: Vec<crate::mutate::ByteOp>,
    },
    Gguf {
        seed: usize,
        ops: Vec<crate::binary::GgufOp>,
        bytes: Vec<crate::mutate::ByteOp>,
    },
}

fn case_strategy(kind: &Kind) -> BoxedStrategy<Case> {
    let n = kind.seeds.len();
    let bytes = proptest::collection::vec(byte_op(), 0..3);
    match kind.info.name {
        "texture model" => (
            proptest::option::of(0..n),
            valid_nca(),
            proptest::collection::vec(nca_op(), 0..3),
            any::<bool>(),
            bytes,
        )
            .prop_map(|(seed, generated, ops, fix_checksum, bytes)| Case::Nca {
                seed,
                generated,
                ops,
                fix_checksum,
                bytes,
            })
            .boxed(),
        "language model" => (0..n, proptest::collection::vec(gguf_op(), 0..4), bytes)
            .prop_map(|(seed, ops, bytes)| Case::Gguf { seed, ops, bytes })
            .boxed(),
        _ => (
            0..n,
            any::<bool>(),
            proptest::collection::vec(ron_op(), 0..4),
            bytes,
        )
            .prop_map(|(seed, pretty, ops, bytes)| Case::Ron {
                seed,
                pretty,
                ops,
                bytes,
            })
            .boxed(),
    }
}

/// The case's file.
fn build(kind: &Kind, case: &Case) -> Vec<u8> {
    let (mut out, steps) = match case {
        Case::Ron {
            seed,
            pretty,
            ops,
            bytes,
        } => {
            let src = &kind.seeds[*seed];
            let text = std::str::from_utf8(src).ok().and_then(Doc::parse);
            let out = match text {
                Some(mut doc) => {
                    for op in ops {
                        op.apply(&mut doc);
                    }
                    doc.print(*pretty).into_bytes()
                }
                // Seeds the tree does not read (broken corpus files) get byte steps only.
                None => src.clone(),
            };
            (out, bytes)
        }
        Case::Nca {
            seed,
            generated,
            ops,
            fix_checksum,
            bytes,
        } => {
            let mut out = seed.map_or_else(|| generated.clone(), |s| kind.seeds[s].clone());
            mutate_nca(&mut out, ops, *fix_checksum);
            (out, bytes)
        }
        Case::Gguf { seed, ops, bytes } => {
            let src = &kind.seeds[*seed];
            (mutate_gguf(src, ops).unwrap_or_else(|| src.clone()), bytes)
        }
    };
    for step in steps {
        step.apply(&mut out);
    }
    out
}

fn run_case(kind: &Kind, case: &Case) -> Result<(), String> {
    let bytes = build(kind, case);
    check_file(
        kind.info.name,
        kind.info.validate,
        bytes.clone(),
        kind.binary,
    )
    .map(drop)
    .map_err(|e| {
        // Kept for the corpus: copy it to tests/fuzz_corpus once fixed.
        let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("fuzz-failure.{}", kind.info.extensions[0]));
        let saved = std::fs::write(&path, &bytes).map_or(String::new(), |()| {
            format!("\nthe file is saved as {}", path.display())
        });
        format!("{e}\ncase: {case:?}{saved}")
    })
}

/// `cases` shrinking proptest cases of `kind`.
fn short_run(kind: &Kind, cases: u32) {
    let config = Config {
        cases,
        max_shrink_iters: 256,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&case_strategy(kind), |case| {
        run_case(kind, &case).map_err(TestCaseError::fail)
    });
    if let Err(e) = result {
        panic!("{}: {e}", kind.info.name);
    }
}

#[test]
fn every_kind_of_the_registry_is_fuzzed() {
    let kinds = kinds::all();
    assert_eq!(kinds.len(), aigc_world::kinds::registry().len());
    for kind in kinds {
        assert!(kind.valid >= 1, "{}", kind.info.name);
    }
}

#[test]
fn mutated_files_end_in_ok_or_a_positioned_error() {
    for kind in kinds::all() {
        // Language models are bigger and slower to read: fewer cases.
        let cases = if kind.info.name == "language model" {
            24
        } else {
            96
        };
        short_run(kind, cases);
    }
}

/// Valid files written in other ways (fields in another order, one line or many) are accepted
/// with the same value; generated models are accepted.
#[test]
fn valid_files_stay_valid() {
    let mut runner = TestRunner::new(Config {
        cases: 48,
        failure_persistence: None,
        ..Config::default()
    });
    for kind in kinds::all() {
        let name = kind.info.name;
        match name {
            "texture model" => runner
                .run(&valid_nca(), |bytes| {
                    let ok = check_file(name, kind.info.validate, bytes, true)
                        .map_err(TestCaseError::fail)?;
                    prop_assert!(ok, "a generated texture model was rejected");
                    Ok(())
                })
                .unwrap(),
            "language model" => runner
                .run(&(1..u64::MAX / 2), |seed| {
                    let bytes = aigc_world::ai::llm::tiny_chat::tiny_chat_gguf(seed);
                    let moved =
                        mutate_gguf(&bytes, &[crate::binary::GgufOp::Reorder(seed as usize)])
                            .unwrap();
                    let ok = check_file(name, kind.info.validate, moved.clone(), true)
                        .map_err(TestCaseError::fail)?;
                    prop_assert!(ok, "a generated model was rejected");
                    prop_assert!((kind.same)(&bytes, &moved));
                    Ok(())
                })
                .unwrap(),
            _ => {
                let strategy = (
                    0..kind.valid,
                    any::<bool>(),
                    proptest::collection::vec(same_op(), 1..4),
                );
                runner
                    .run(&strategy, |(seed, pretty, ops)| {
                        let src = &kind.seeds[seed];
                        let Some(mut doc) = std::str::from_utf8(src).ok().and_then(Doc::parse)
                        else {
                            return Ok(());
                        };
                        for op in &ops {
                            op.apply(&mut doc);
                        }
                        let text = doc.print(pretty);
                        let ok =
                            check_file(name, kind.info.validate, text.clone().into_bytes(), false)
                                .map_err(TestCaseError::fail)?;
                        prop_assert!(ok, "{name}: rewritten valid file rejected:\n{text}");
                        prop_assert!((kind.same)(src, text.as_bytes()), "{name}: value changed");
                        Ok(())
                    })
                    .unwrap()
            }
        }
    }
}

/// Every struct of every valid seed, one at a time: an unknown field added to it, or one of its
/// fields misspelt, is an error that points at the line of the unknown field.
#[test]
fn an_unknown_field_is_an_error_at_every_depth() {
    let mut checked = 0;
    for kind in kinds::all().iter().filter(|k| !k.binary) {
        for seed in &kind.seeds[..kind.valid] {
            let Some(doc) = std::str::from_utf8(seed).ok().and_then(Doc::parse) else {
                continue;
            };
            let mut structs = 0;
            doc.clone().root.walk_mut(&mut |n| {
                structs +=
                    usize::from(matches!(n, Node::Struct { fields, .. } if !fields.is_empty()))
            });
            for pick in 0..structs {
                let mut fields = 0;
                let mut with_unknown = doc.clone();
                with_unknown.root.mutate_nth(
                    pick,
                    &|n| matches!(n, Node::Struct { fields, .. } if !fields.is_empty()),
                    &mut |n| {
                        if let Node::Struct { fields: f, .. } = n {
                            fields = f.len();
                            f.push((UNKNOWN_FIELD.to_owned(), Node::Atom("1".into())));
                        }
                    },
                );
                let mut variants = vec![with_unknown];
                for k in 0..fields {
                    let mut renamed = doc.clone();
                    crate::mutate::RonOp::RenameField(pick, k).apply(&mut renamed);
                    variants.push(renamed);
                }
                for variant in variants {
                    let text = variant.print(true);
                    let err = match (kind.info.validate)(text.as_bytes(), "f") {
                        Ok(()) => panic!(
                            "{}: an unknown field was accepted silently:\n{text}",
                            kind.info.name
                        ),
                        Err(e) => e,
                    };
                    let line = text.lines().nth(err.line - 1).unwrap_or("");
                    assert!(
                        line.contains(UNKNOWN_FIELD) || line.contains("_zz"),
                        "{}: the error is not on the unknown field's line: {err}\n{text}",
                        kind.info.name
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 100, "{checked}");
}

/// The long run: `FUZZ_SECONDS` (default 300) shared by the kinds (or only those named in
/// `FUZZ_KINDS`, comma-separated), cases drawn without shrinking; prints a table per kind and
/// fails on the first bad case, printing it. `FUZZ_CASES=N` runs N cases of each kind instead
/// (and no time limit unless `FUZZ_SECONDS` is also set). Run it with
/// `nice -n 19 cargo test --release --test fuzz fuzz_long -- --ignored --nocapture`.
#[test]
#[ignore = "long run: minutes; see BENCHMARKS.md"]
fn fuzz_long() {
    let env_number = |name: &str| -> Option<u64> { std::env::var(name).ok()?.parse().ok() };
    let cases_per_kind = env_number("FUZZ_CASES");
    let secs = env_number("FUZZ_SECONDS").unwrap_or(if cases_per_kind.is_some() {
        u64::MAX / 4
    } else {
        300
    });
    let only = std::env::var("FUZZ_KINDS").ok();
    let kinds: Vec<&Kind> = kinds::all()
        .iter()
        .filter(|k| {
            only.as_deref()
                .is_none_or(|o| o.split(',').any(|n| n.trim() == k.info.name))
        })
        .collect();
    let per_kind = std::time::Duration::from_secs(secs) / kinds.len().max(1) as u32;
    let mut runner = TestRunner::deterministic();
    for &kind in &kinds {
        let strategy = case_strategy(kind);
        let start = std::time::Instant::now();
        let mut cases = 0u64;
        while start.elapsed() < per_kind && cases_per_kind.is_none_or(|n| cases < n) {
            cases += 1;
            let case = strategy.new_tree(&mut runner).unwrap().current();
            if let Err(e) = run_case(kind, &case) {
                print_table();
                panic!("{e}");
            }
        }
    }
    print_table();
}

fn print_table() {
    let tallies = TALLIES.lock().unwrap_or_else(|e| e.into_inner());
    println!(
        "| kind | cases | accepted | errors | panics, hangs, over bound | peak heap | slowest case | largest input |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (kind, t) in tallies.iter() {
        println!(
            "| {kind} | {} | {} | {} | {} | {:.1} MiB | {:.0} ms | {} KiB |",
            t.cases,
            t.ok,
            t.errors,
            t.failures,
            t.peak as f64 / (1 << 20) as f64,
            t.slowest.as_secs_f64() * 1000.0,
            t.biggest_input / 1024
        );
    }
}
