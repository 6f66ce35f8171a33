//! SentencePiece-style BPE (GGUF `tokenizer.ggml.model = "llama"`: Llama 2, TinyLlama,
//! Mistral): spaces become `▁`, the text starts as one symbol per character, and the adjacent
//! pair whose joined string is a token with the highest score merges first (leftmost among
//! equals). A character that is no token falls back to its bytes, `<0xXX>`.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::TokenId;
use super::vocab::{TokenType, Vocab};

/// The character SentencePiece writes for a space.
pub(crate) const SPACE: char = '\u{2581}';

/// A candidate merge of the symbols starting at byte `left` and `right`.
#[derive(Clone, Copy, Debug)]
struct Candidate {
    score: f32,
    left: usize,
    right: usize,
    /// Joined length in bytes: when either side has changed since, the length differs.
    len: usize,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    /// Highest score first, then leftmost.
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.left.cmp(&self.left))
    }
}

/// A symbol: a byte span of the text, linked to its neighbours by their starts.
#[derive(Clone, Copy, Debug)]
struct Symbol {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

/// Tokenizes `text` (already escaped: spaces as `▁`, prefix added) and appends the ids.
/// `byte_ids` maps each byte to its `<0xXX>` token; bytes without one become `unk` (or are
/// dropped when the model has no unknown token).
pub(crate) fn encode(
    vocab: &Vocab,
    byte_ids: &[Option<TokenId>; 256],
    text: &str,
    out: &mut Vec<TokenId>,
) {
    if text.is_empty() {
        return;
    }
    let mut symbols: Vec<Symbol> = Vec::with_capacity(text.len());
    let starts: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    for (k, &start) in starts.iter().enumerate() {
        let end = starts.get(k + 1).copied().unwrap_or(text.len());
        symbols.push(Symbol {
            start,
            len: end - start,
            prev: k.checked_sub(1),
            next: (k + 1 < starts.len()).then_some(k + 1),
        });
    }
    let mut heap = BinaryHeap::new();
    let candidate = |symbols: &[Symbol], l: usize, r: usize| -> Option<Candidate> {
        let (a, b) = (symbols[l], symbols[r]);
        let joined = &text[a.start..b.start + b.len];
        let id = vocab.id(joined)?;
        // Merges only build text tokens: markup is never spelled out of plain text.
        if !matches!(vocab.kind(id), TokenType::Normal | TokenType::UserDefined) {
            return None;
        }
        Some(Candidate {
            score: vocab.scores.get(id as usize).copied().unwrap_or(0.0),
            left: l,
            right: r,
            len: joined.len(),
        })
    };
    for k in 1..symbols.len() {
        heap.extend(candidate(&symbols, k - 1, k));
    }
    while let Some(c) = heap.pop() {
        let (l, r) = (symbols[c.left], symbols[c.right]);
        if l.len == 0 || r.len == 0 || l.len + r.len != c.len || l.next != Some(c.right) {
            continue;
        }
        symbols[c.left].len += r.len;
        symbols[c.left].next = r.next;
        symbols[c.right].len = 0;
        if let Some(n) = r.next {
            symbols[n].prev = Some(c.left);
        }
        if let Some(p) = l.prev {
            heap.extend(candidate(&symbols, p, c.left));
        }
        if let Some(n) = r.next {
            heap.extend(candidate(&symbols, c.left, n));
        }
    }
    let mut at = Some(0);
    while let Some(k) = at {
        let s = symbols[k];
        let piece = &text[s.start..s.start + s.len];
        match vocab.id(piece) {
            Some(id) if !vocab.kind(id).is_markup() => out.push(id),
            _ => {
                for &b in piece.as_bytes() {
                    if let Some(id) = byte_ids[b as usize].or(vocab.special.unk) {
                        out.push(id);
                    }
                }
            }
        }
        at = s.next;
    }
}

/// The `<0xXX>` token of each byte; where a vocabulary lacks one, the token spelling the byte
/// itself (as llama.cpp falls back).
pub(crate) fn byte_tokens(vocab: &Vocab) -> [Option<TokenId>; 256] {
    std::array::from_fn(|b| {
        vocab.id(&format!("<0x{b:02X}>")).or_else(|| {
            let b = u8::try_from(b).ok()?;
            b.is_ascii().then(|| vocab.id(&char::from(b).to_string()))?
        })
    })
}
