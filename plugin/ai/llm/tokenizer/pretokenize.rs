//! Pre-tokenizers: how byte-level BPE models cut text into words before merging, written as
//! scanners that do exactly what each model's regular expression does (the way llama.cpp's
//! `unicode.cpp` does it), with Unicode categories from the Unicode tables: `\p{L}` is the
//! general categories Lu, Ll, Lt, Lm, Lo; `\p{N}` is Nd, Nl, No (`char::is_numeric`); `\s` is the
//! White_Space property (`char::is_whitespace`, the same set llama.cpp uses).

use std::ops::Range;

use unicode_general_category::{GeneralCategory, get_general_category};

/// Which regular expression a byte-level BPE model splits its text with, from GGUF's
/// `tokenizer.ggml.pre` or a `tokenizer.json`'s pre-tokenizer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PreTokenizer {
    /// GPT-2: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
    Gpt2,
    /// GPT-2's expression after isolating every digit (`\p{N}`): SmolLM, StarCoder, Refact,
    /// Command-R, CodeShell, EXAONE, Minerva.
    DigitsThenGpt2,
    /// Llama 3: case-insensitive contractions, `[^\r\n\p{L}\p{N}]?\p{L}+`, numbers in groups of
    /// up to three digits, newlines kept with the whitespace before them. A word that is
    /// already a token is emitted whole, without merging (`ignore_merges`).
    Llama3,
    /// Qwen 2: Llama 3's expression with single digits, and merges always applied.
    Qwen2,
}

impl PreTokenizer {
    /// The pre-tokenizer for a GGUF `tokenizer.ggml.pre` value, or `None` for a value this
    /// crate does not know (the caller picks a fallback and says so).
    pub fn from_gguf_name(name: &str) -> Option<Self> {
        Some(match name {
            "gpt-2" | "gpt2" | "phi-2" | "jina-es" | "jina-de" | "jina-v2-es" | "jina-v2-de"
            | "gigachat" | "mpt" | "olmo" | "jais" | "exaone4" | "mellum" | "a.x-4.0"
            | "modern-bert" | "trillion" | "granite-docling" => Self::Gpt2,
            "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone"
            | "minerva-7b" | "mellum2" => Self::DigitsThenGpt2,
            "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral"
            | "midm-2.0" | "lfm2" | "dbrx" | "smaug-bpe" => Self::Llama3,
            "qwen2" | "deepseek-r1-qwen" | "stablelm2" | "megrez" | "hunyuan" => Self::Qwen2,
            _ => return None,
        })
    }

    /// Whether a word that is already a token skips merging (llama.cpp's `ignore_merges`).
    pub fn ignores_merges(self) -> bool {
        self == Self::Llama3
    }

    /// Appends the byte ranges of the words of `text` to `words`, in order; together they
    /// cover `text` exactly.
    pub(crate) fn split(self, text: &str, words: &mut Vec<Range<usize>>) {
        let cps = Codepoints::new(text);
        match self {
            Self::Gpt2 => gpt2(&cps, 0, cps.len(), words),
            Self::DigitsThenGpt2 => {
                // `\p{N}` isolated first: each digit is a word of its own, and the text between
                // digits is split by GPT-2's expression on its own.
                let mut start = 0;
                for i in 0..cps.len() {
                    if cps.flags(i) & NUMBER != 0 {
                        gpt2(&cps, start, i, words);
                        words.push(cps.byte_range(i, i + 1));
                        start = i + 1;
                    }
                }
                gpt2(&cps, start, cps.len(), words);
            }
            Self::Llama3 => llama3(&cps, 3, words),
            Self::Qwen2 => llama3(&cps, 1, words),
        }
    }
}

const LETTER: u8 = 1;
const NUMBER: u8 = 2;
const SPACE: u8 = 4;
/// Set on every code point inside the text, so "no category" differs from "past the end".
const INSIDE: u8 = 8;

/// Category flags of one character.
fn classify(c: char) -> u8 {
    if c.is_ascii() {
        return INSIDE
            | match c {
                'a'..='z' | 'A'..='Z' => LETTER,
                '0'..='9' => NUMBER,
                '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' => SPACE,
                _ => 0,
            };
    }
    let mut flags = INSIDE;
    if c.is_whitespace() {
        flags |= SPACE;
    }
    if c.is_numeric() {
        flags |= NUMBER;
    } else if matches!(
        get_general_category(c),
        GeneralCategory::UppercaseLetter
            | GeneralCategory::LowercaseLetter
            | GeneralCategory::TitlecaseLetter
            | GeneralCategory::ModifierLetter
            | GeneralCategory::OtherLetter
    ) {
        flags |= LETTER;
    }
    flags
}

/// The text as code points with their byte offsets and category flags.
struct Codepoints {
    chars: Vec<char>,
    flags: Vec<u8>,
    /// Byte offset of each code point, plus the text's length at the end.
    offsets: Vec<usize>,
}

impl Codepoints {
    fn new(text: &str) -> Self {
        let n = text.len();
        let mut chars = Vec::with_capacity(n);
        let mut flags = Vec::with_capacity(n);
        let mut offsets = Vec::with_capacity(n + 1);
        for (at, c) in text.char_indices() {
            chars.push(c);
            flags.push(classify(c));
            offsets.push(at);
        }
        offsets.push(n);
        Self {
            chars,
            flags,
            offsets,
        }
    }

    fn len(&self) -> usize {
        self.chars.len()
    }

    fn byte_range(&self, from: usize, to: usize) -> Range<usize> {
        self.offsets[from]..self.offsets[to]
    }

    fn flags(&self, i: usize) -> u8 {
        self.flags[i]
    }
}

/// A window `[start, end)` of the code points being split, with llama.cpp's convention that
/// anything outside reads as "no character, no flags".
struct Window<'a> {
    cps: &'a Codepoints,
    start: usize,
    end: usize,
    prev_end: usize,
}

impl Window<'_> {
    fn ch(&self, i: usize) -> Option<char> {
        (self.start <= i && i < self.end).then(|| self.cps.chars[i])
    }

    fn flags(&self, i: usize) -> u8 {
        if self.start <= i && i < self.end {
            self.cps.flags[i]
        } else {
            0
        }
    }

    /// Ends the current word at `end` (a no-op for an empty word); returns its length.
    fn emit(&mut self, end: usize, words: &mut Vec<Range<usize>>) -> usize {
        let len = end - self.prev_end;
        if len > 0 {
            words.push(self.cps.byte_range(self.prev_end, end));
        }
        self.prev_end = end;
        len
    }

    /// `'s|'t|'re|'ve|'m|'ll|'d` at `pos` (ASCII-case-insensitive when `any_case`): the length.
    fn contraction(&self, pos: usize, any_case: bool) -> Option<usize> {
        if self.ch(pos) != Some('\'') || pos + 1 >= self.end {
            return None;
        }
        let lower = |c: Option<char>| c.map(|c| if any_case { c.to_ascii_lowercase() } else { c });
        let next = lower(self.ch(pos + 1));
        if matches!(next, Some('s' | 't' | 'm' | 'd')) {
            return Some(2);
        }
        if pos + 2 < self.end {
            let pair = (next, lower(self.ch(pos + 2)));
            if matches!(
                pair,
                (Some('r'), Some('e')) | (Some('v'), Some('e')) | (Some('l'), Some('l'))
            ) {
                return Some(3);
            }
        }
        None
    }

    /// Length of the run of whitespace starting at `pos`.
    fn spaces(&self, pos: usize) -> usize {
        let mut n = 0;
        while self.flags(pos + n) & SPACE != 0 {
            n += 1;
        }
        n
    }
}

/// GPT-2's expression over code points `[start, end)`.
fn gpt2(cps: &Codepoints, start: usize, end: usize, words: &mut Vec<Range<usize>>) {
    let mut w = Window {
        cps,
        start,
        end,
        prev_end: start,
    };
    let mut pos = start;
    while pos < end {
        if let Some(len) = w.contraction(pos, false) {
            pos += w.emit(pos + len, words);
            continue;
        }
        let is_space = w.ch(pos) == Some(' ');
        let lead = if is_space {
            w.flags(pos + 1)
        } else {
            w.flags(pos)
        };
        // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`
        let class = if lead & LETTER != 0 {
            Some(LETTER)
        } else if lead & NUMBER != 0 {
            Some(NUMBER)
        } else if lead & (SPACE | LETTER | NUMBER) == 0 && lead != 0 {
            Some(0)
        } else {
            None
        };
        if let Some(class) = class {
            pos += usize::from(is_space);
            loop {
                let f = w.flags(pos);
                let same = match class {
                    0 => f != 0 && f & (SPACE | LETTER | NUMBER) == 0,
                    c => f & c != 0,
                };
                if !same {
                    break;
                }
                pos += 1;
            }
            w.emit(pos, words);
            continue;
        }
        let n = w.spaces(pos);
        if n > 1 && w.ch(pos + n).is_some() {
            // `\s+(?!\S)`: leave the last space to start the next word.
            pos += n - 1;
        } else if n > 0 {
            pos += n;
        } else {
            pos += 1;
        }
        w.emit(pos, words);
    }
}

/// Llama 3's expression (Qwen 2's with `max_digits` 1) over all the code points.
fn llama3(cps: &Codepoints, max_digits: usize, words: &mut Vec<Range<usize>>) {
    let end = cps.len();
    let mut w = Window {
        cps,
        start: 0,
        end,
        prev_end: 0,
    };
    let mut pos = 0;
    while pos < end {
        if let Some(len) = w.contraction(pos, true) {
            pos += w.emit(pos + len, words);
            continue;
        }
        let c = w.ch(pos);
        let flags = w.flags(pos);
        // `[^\r\n\p{L}\p{N}]?\p{L}+`
        if !matches!(c, Some('\r' | '\n'))
            && flags & NUMBER == 0
            && (flags & LETTER != 0 || w.flags(pos + 1) & LETTER != 0)
        {
            pos += 1;
            while w.flags(pos) & LETTER != 0 {
                pos += 1;
            }
            w.emit(pos, words);
            continue;
        }
        // `\p{N}{1,max_digits}`
        if flags & NUMBER != 0 {
            let mut first = pos;
            while w.flags(pos) & NUMBER != 0 {
                pos += 1;
                if pos - first >= max_digits {
                    w.emit(pos, words);
                    first = pos;
                }
            }
            w.emit(pos, words);
            continue;
        }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        let is_space = c == Some(' ');
        let lead = if is_space { w.flags(pos + 1) } else { flags };
        if lead & (SPACE | LETTER | NUMBER) == 0 && flags != 0 {
            pos += usize::from(is_space);
            loop {
                let f = w.flags(pos);
                if f == 0 || f & (SPACE | LETTER | NUMBER) != 0 {
                    break;
                }
                pos += 1;
            }
            while matches!(w.ch(pos), Some('\r' | '\n')) {
                pos += 1;
            }
            w.emit(pos, words);
            continue;
        }
        // `\s*[\r\n]+`, `\s+(?!\S)`, `\s+`
        let n = w.spaces(pos);
        let last_newline = (0..n)
            .rev()
            .find(|&i| matches!(w.ch(pos + i), Some('\r' | '\n')));
        if let Some(i) = last_newline {
            pos += i + 1;
        } else if n > 1 && w.ch(pos + n).is_some() {
            pos += n - 1;
        } else if n > 0 {
            pos += n;
        } else {
            pos += 1;
        }
        w.emit(pos, words);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(pre: PreTokenizer, text: &str) -> Vec<&str> {
        let mut ranges = Vec::new();
        pre.split(text, &mut ranges);
        let joined: String = ranges.iter().map(|r| &text[r.clone()]).collect();
        assert_eq!(joined, text, "words must cover the text");
        ranges.into_iter().map(|r| &text[r]).collect()
    }

    #[test]
    fn gpt2_words() {
        assert_eq!(
            words(PreTokenizer::Gpt2, "Hello world, it's 2024!"),
            ["Hello", " world", ",", " it", "'s", " 2024", "!"]
        );
        // `\s+(?!\S)` leaves one space for the next word; trailing spaces stay together.
        assert_eq!(
            words(PreTokenizer::Gpt2, "a   b  "),
            ["a", "  ", " b", "  "]
        );
        assert_eq!(words(PreTokenizer::Gpt2, "x\n\ny"), ["x", "\n", "\n", "y"]);
        assert_eq!(words(PreTokenizer::Gpt2, "don'T"), ["don", "'", "T"]);
        // Accented letters are letters; CJK is one run of letters; emoji are "other".
        assert_eq!(words(PreTokenizer::Gpt2, " café"), [" café"]);
        assert_eq!(words(PreTokenizer::Gpt2, "日本語です"), ["日本語です"]);
        assert_eq!(words(PreTokenizer::Gpt2, "hi 😀😀!"), ["hi", " 😀😀!"]);
        assert_eq!(words(PreTokenizer::Gpt2, ""), Vec::<&str>::new());
    }

    #[test]
    fn digits_are_isolated_first() {
        assert_eq!(
            words(PreTokenizer::DigitsThenGpt2, "in 2024, x1  2"),
            ["in", " ", "2", "0", "2", "4", ",", " x", "1", "  ", "2"]
        );
        // Non-ASCII digits (Nd) and numbers (No) count too.
        assert_eq!(words(PreTokenizer::DigitsThenGpt2, "٣½"), ["٣", "½"]);
    }

    #[test]
    fn llama3_words() {
        assert_eq!(
            words(PreTokenizer::Llama3, "I'M 12345 (x)\n\n  y"),
            ["I", "'M", " ", "123", "45", " (", "x", ")\n\n", " ", " y"]
        );
        assert_eq!(words(PreTokenizer::Llama3, "a \n b"), ["a", " \n", " b"]);
        assert_eq!(
            words(PreTokenizer::Qwen2, "12345"),
            ["1", "2", "3", "4", "5"]
        );
    }

    #[test]
    fn categories_follow_unicode_not_is_alphabetic() {
        // U+0345 COMBINING GREEK YPOGEGRAMMENI is Alphabetic but a mark (Mn), not \p{L}.
        assert!('\u{345}'.is_alphabetic());
        assert_eq!(classify('\u{345}') & LETTER, 0);
        // U+2160 ROMAN NUMERAL ONE is Nl: a number, not a letter.
        assert_eq!(classify('\u{2160}') & (LETTER | NUMBER), NUMBER);
        assert_ne!(classify('ß') & LETTER, 0);
        assert_ne!(classify('\u{3000}') & SPACE, 0);
        assert_eq!(classify('\u{1c}') & SPACE, 0);
    }

    #[test]
    fn known_names() {
        assert_eq!(
            PreTokenizer::from_gguf_name("smollm"),
            Some(PreTokenizer::DigitsThenGpt2)
        );
        assert_eq!(
            PreTokenizer::from_gguf_name("llama-bpe"),
            Some(PreTokenizer::Llama3)
        );
        assert_eq!(
            PreTokenizer::from_gguf_name("gpt-2"),
            Some(PreTokenizer::Gpt2)
        );
        assert_eq!(PreTokenizer::from_gguf_name("no-such-model"), None);
    }
}
