//! Checks a mod folder before it ships: every file of a kind the plugin reads (worlds, NPC rules,
//! grammars, texture sets, texture models, AI and language-model settings...) is parsed and
//! checked exactly as the game would, without starting the game. Each problem is printed as
//! `file:line:col: message`, the format editors and CI understand; the exit status is 1 if any
//! file fails, 2 on bad arguments.
//!
//! ```text
//! cargo run --example validate -- assets
//! cargo run --example validate -- mymod/worlds/islands.world.ron mymod/npc
//! ```
//!
//! Folders are searched recursively; files of no known kind in them are skipped (`--verbose`
//! lists them), but a file named on the command line must be of a known kind.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use aigc_world::kinds::{KindInfo, kind_for_path, registry};

fn main() -> ExitCode {
    let mut verbose = false;
    let mut paths = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--verbose" | "-v" => verbose = true,
            "--help" | "-h" => {
                print_help();
                return ExitCode::SUCCESS;
            }
            flag if flag.starts_with('-') => {
                eprintln!("validate: unknown option {flag} (try --help)");
                return ExitCode::from(2);
            }
            path => paths.push(PathBuf::from(path)),
        }
    }
    if paths.is_empty() {
        print_help();
        return ExitCode::from(2);
    }

    let (mut checked, mut failed) = (0usize, 0usize);
    for path in &paths {
        let explicit = path.is_file();
        let mut files = Vec::new();
        if explicit {
            files.push(path.clone());
        } else if path.is_dir() {
            collect(path, &mut files);
        } else {
            println!("{}:1:1: no such file or folder", path.display());
            failed += 1;
            continue;
        }
        for file in files {
            match kind_for_path(&file) {
                Some(kind) => {
                    checked += 1;
                    if let Err(problem) = check(kind, &file) {
                        println!("{problem}");
                        failed += 1;
                    } else if verbose {
                        eprintln!("ok {} ({})", file.display(), kind.name);
                    }
                }
                None if explicit => {
                    println!(
                        "{}:1:1: not a file kind aigc_world reads (known endings: {})",
                        file.display(),
                        known_extensions()
                    );
                    failed += 1;
                }
                None if verbose => eprintln!("skipped {}", file.display()),
                None => {}
            }
        }
    }
    eprintln!(
        "validate: {checked} file{} checked, {failed} problem{}",
        if checked == 1 { "" } else { "s" },
        if failed == 1 { "" } else { "s" }
    );
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Parses `file` as `kind`; the problem as `file:line:col: message`.
fn check(kind: &KindInfo, file: &Path) -> Result<(), String> {
    let label = file.display().to_string();
    let bytes = std::fs::read(file).map_err(|e| format!("{label}:1:1: could not read: {e}"))?;
    (kind.validate)(&bytes, &label).map_err(|e| e.to_string())
}

/// Every file under `dir`, sorted, so the output is the same on every machine.
fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn known_extensions() -> String {
    registry()
        .iter()
        .flat_map(|k| k.extensions.iter().map(|e| format!(".{e}")))
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_help() {
    println!(
        "validate: checks aigc_world mod files without starting the game\n\n\
         usage: cargo run --example validate -- [--verbose] PATH...\n\n\
         PATH is a file or a folder (searched recursively). Problems are printed as\n\
         file:line:col: message; the exit status is 1 if any file fails.\n\nKinds:"
    );
    for kind in registry() {
        let exts: Vec<String> = kind.extensions.iter().map(|e| format!(".{e}")).collect();
        println!("  {:<28} {}", kind.name, exts.join(", "));
    }
}
