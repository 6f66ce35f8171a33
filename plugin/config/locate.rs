//! Finding where a semantic error sits in RON source text.
//!
//! RON's parser reports positions for syntax errors, but a checked value such as an out-of-range
//! octave count or a reference to a missing node is only found after parsing. We find it again by
//! walking a path of tokens (`chunk` then `vertices`, or `"hills"` then `octaves`) through the
//! text, skipping comments and string contents, so the message can still say line and column.

/// Position `(line, column)`, 1-based, of the last token of `path` found in order in `src`.
///
/// Each token is searched after the previous one. Identifiers match whole words; a token that
/// starts with `"` matches a whole string literal. Tokens that are not found are skipped, so the
/// answer is the best position known; `(1, 1)` if none is found.
pub fn locate(src: &str, path: &[&str]) -> (usize, usize) {
    let mut from = 0;
    let mut found = None;
    for token in path {
        if let Some(at) = find_token(src, from, token) {
            found = Some(at);
            from = at + token.len();
        }
    }
    found.map_or((1, 1), |at| line_col(src, at))
}

/// 1-based `(line, column)` of byte offset `at` in `src`; columns count characters.
pub fn line_col(src: &str, at: usize) -> (usize, usize) {
    let at = at.min(src.len());
    let before = &src[..at];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = src[line_start..at].chars().count() + 1;
    (line, column)
}

/// Byte offset of the first whole-token occurrence of `token` at or after `from`, outside
/// comments, and outside string literals unless `token` is itself a string literal.
pub fn find_token(src: &str, from: usize, token: &str) -> Option<usize> {
    let bytes = src.as_bytes();
    let is_string_token = token.starts_with('"');
    let mut i = from;
    while i < bytes.len() {
        let rest = &src[i..];
        if rest.starts_with("//") {
            i += rest.find('\n').unwrap_or(rest.len());
            continue;
        }
        if rest.starts_with("/*") {
            i += rest[2..].find("*/").map_or(rest.len(), |e| e + 4);
            continue;
        }
        if bytes[i] == b'"' {
            if is_string_token && rest.starts_with(token) {
                return Some(i);
            }
            i += string_len(rest);
            continue;
        }
        if !is_string_token
            && rest.starts_with(token)
            && !is_ident_byte(bytes.get(i + token.len()).copied())
            && (i == 0 || !is_ident_byte(Some(bytes[i - 1])))
        {
            return Some(i);
        }
        i += rest.chars().next().map_or(1, char::len_utf8);
    }
    None
}

/// Length in bytes of the string literal at the start of `rest` (which starts with `"`).
fn string_len(rest: &str) -> usize {
    let mut escaped = false;
    for (k, c) in rest.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return k + 1,
            _ => {}
        }
    }
    rest.len()
}

fn is_ident_byte(b: Option<u8>) -> bool {
    b.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_field_after_its_parent() {
        let src =
            "(\n  a: (octaves: 1),\n  // octaves in a comment\n  \"hills\": (octaves: 40),\n)";
        assert_eq!(locate(src, &["\"hills\"", "octaves"]), (4, 13));
    }

    #[test]
    fn skips_strings_and_partial_words() {
        let src = "(name: \"seed\", seeds: 1, seed: 2)";
        assert_eq!(locate(src, &["seed"]), (1, 26));
    }

    #[test]
    fn missing_tokens_fall_back_to_what_was_found() {
        let src = "(chunk: (size_m: 3))";
        assert_eq!(locate(src, &["chunk", "vertices"]), (1, 2));
        assert_eq!(locate(src, &["nothing"]), (1, 1));
    }
}
