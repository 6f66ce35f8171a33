//! The fuzz corpus (`tests/fuzz_corpus`): every case a fuzzer found, kept as a file, and extra
//! seeds. `expected.txt` says how each must end: `ok`, or the `line:column` of its error and text
//! the message contains. Every file there must be listed, and each is also run under guard.

use crate::guard::check_file;
use crate::kinds::corpus_dir;

#[test]
fn every_corpus_file_ends_as_expected() {
    let dir = corpus_dir();
    let expected = std::fs::read_to_string(dir.join("expected.txt")).unwrap();
    let mut listed = Vec::new();
    for line in expected
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let parts: Vec<&str> = line.split(" | ").map(str::trim).collect();
        let name = parts[0];
        listed.push(name.to_owned());
        let bytes = std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let kind = aigc_world::kinds::kind_for_path(name).unwrap_or_else(|| panic!("{name}"));
        let binary = !kind.extensions.iter().any(|e| e.ends_with("ron"));
        check_file(kind.name, kind.validate, bytes.clone(), binary)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let result = (kind.validate)(&bytes, name);
        match parts.as_slice() {
            [_, "ok"] => assert!(result.is_ok(), "{name}: {}", result.unwrap_err()),
            [_, at, says] => {
                let err = result.expect_err(name);
                assert_eq!(format!("{}:{}", err.line, err.column), *at, "{name}: {err}");
                assert!(err.to_string().contains(says), "{name}: {err}");
            }
            _ => panic!("bad line in expected.txt: {line}"),
        }
    }
    let mut present: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "expected.txt" && n != "README.md")
        .collect();
    present.sort();
    listed.sort();
    assert_eq!(
        present, listed,
        "every corpus file is listed in expected.txt, once"
    );
}
