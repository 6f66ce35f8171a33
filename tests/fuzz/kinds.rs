//! What the fuzzer knows per file kind: seed files (shipped assets, the test corpora, the fuzz
//! corpus, generated models), whether the kind is binary, and how to compare two files' values.

use std::path::{Path, PathBuf};

use aigc_world::ai::AiSettingsKind;
use aigc_world::ai::llm::loaded::LanguageModelKind;
use aigc_world::ai::llm::tiny_chat::tiny_chat_gguf;
use aigc_world::config::WorldKind;
use aigc_world::dialogue::GrammarKind;
use aigc_world::dialogue::llm::LanguageSettingsKind;
use aigc_world::erosion::ErosionModelKind;
use aigc_world::kinds::{FileKind, KindInfo, kind_for_path, registry};
use aigc_world::npc::NpcRulesKind;
use aigc_world::scatter::ScatterKind;
use aigc_world::texture::{NcaModelKind, TextureSetKind};

use crate::binary::nca_file;

/// Where the fuzz corpus lives: regression cases and extra seeds, checked by `corpus.rs`.
pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_corpus")
}

/// One kind as the fuzzer sees it.
pub struct Kind {
    pub info: &'static KindInfo,
    /// Binary kinds report byte positions (line 1).
    pub binary: bool,
    /// Files to start from; the valid ones first.
    pub seeds: Vec<Vec<u8>>,
    /// How many of `seeds` are valid.
    pub valid: usize,
    /// Whether two valid files give equal values.
    pub same: fn(&[u8], &[u8]) -> bool,
}

fn same<K: FileKind>(a: &[u8], b: &[u8]) -> bool {
    matches!((K::parse(a, "a"), K::parse(b, "b")), (Ok(x), Ok(y)) if x == y)
}

fn same_by_name(name: &str) -> fn(&[u8], &[u8]) -> bool {
    match name {
        "world" => same::<WorldKind>,
        "NPC rules" => same::<NpcRulesKind>,
        "dialogue grammar" => same::<GrammarKind>,
        "texture set" => same::<TextureSetKind>,
        "texture model" => same::<NcaModelKind>,
        "AI settings" => same::<AiSettingsKind>,
        "language model settings" => same::<LanguageSettingsKind>,
        "language model" => same::<LanguageModelKind>,
        "scatter rules" => same::<ScatterKind>,
        "erosion model" => same::<ErosionModelKind>,
        other => panic!("the fuzzer does not know the file kind \"{other}\": add it to kinds.rs"),
    }
}

/// Files of every kind found under the seed folders.
fn files_on_disk() -> Vec<(PathBuf, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut stack: Vec<PathBuf> = ["assets", "tests/worlds", "tests/world_corpus"]
        .iter()
        .chain(&[
            "tests/grammar_corpus",
            "tests/scatter_corpus",
            "tests/fixtures",
            "tests/fuzz_corpus",
        ])
        .map(|d| root.join(d))
        .collect();
    let mut files = Vec::new();
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if kind_for_path(&path).is_some()
                && let Ok(bytes) = std::fs::read(&path)
                // Huge regression cases are no use as seeds: every case would be slow.
                && bytes.len() <= 256 << 10
            {
                files.push((path, bytes));
            }
        }
    }
    files.sort();
    files
}

/// Every kind of the registry with its seeds. Panics for a kind without a valid seed: a new kind
/// needs one (a shipped asset, a file in `tests/fuzz_corpus`, or a generator here).
pub fn all() -> &'static [Kind] {
    static KINDS: std::sync::OnceLock<Vec<Kind>> = std::sync::OnceLock::new();
    KINDS.get_or_init(load)
}

fn load() -> Vec<Kind> {
    let files = files_on_disk();
    registry()
        .iter()
        .map(|info| {
            let mut seeds: Vec<Vec<u8>> = files
                .iter()
                .filter(|(p, _)| info.matches(p))
                .map(|(_, b)| b.clone())
                .collect();
            match info.name {
                "texture model" => {
                    seeds.push(nca_file(4, 4, 8, 0.5, 1));
                    seeds.push(nca_file(12, 16, 64, 1.0, 2));
                }
                "language model" => seeds.push(tiny_chat_gguf(1)),
                _ => {}
            }
            seeds.sort_by_cached_key(|s| (info.validate)(s, "seed").is_err());
            let valid = seeds
                .iter()
                .take_while(|s| (info.validate)(s, "seed").is_ok())
                .count();
            assert!(
                valid > 0,
                "no valid seed for the file kind \"{}\"",
                info.name
            );
            Kind {
                info,
                binary: !info.extensions.iter().any(|e| e.ends_with("ron")),
                seeds,
                valid,
                same: same_by_name(info.name),
            }
        })
        .collect()
}
