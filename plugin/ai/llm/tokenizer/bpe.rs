//! Merging by rank: the BPE step of byte-level models (GPT-2, SmolLM, Llama 3) and of
//! `tokenizer.json` BPE models with byte fallback. A word starts as one symbol per byte (or per
//! character) and the adjacent pair with the lowest merge rank is merged, the leftmost first
//! among equals, until no pair has a rule. Pairs wait in a heap and stale entries are skipped,
//! so a long word costs O(n log n), not O(n²).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap;

use super::TokenId;

/// Merge rules keyed by the pair of token ids they join.
#[derive(Clone, Debug, Default)]
pub(crate) struct Merges {
    /// `(left << 32) | right` to `(rank, merged id)`.
    rules: FxHashMap<u64, (u32, TokenId)>,
}

fn key(left: TokenId, right: TokenId) -> u64 {
    (u64::from(left) << 32) | u64::from(right)
}

/// A symbol of the word being merged; `None` links end the word.
#[derive(Clone, Copy, Debug)]
struct Symbol {
    id: TokenId,
    prev: Option<u32>,
    next: Option<u32>,
}

/// A candidate merge: rank, then position, so the heap pops the lowest rank, leftmost first.
type Candidate = Reverse<(u32, u32, TokenId, TokenId)>;

/// Buffers reused across the words of one call.
#[derive(Default)]
pub(crate) struct Scratch {
    symbols: Vec<Symbol>,
    heap: BinaryHeap<Candidate>,
}

impl Merges {
    pub fn with_capacity(n: usize) -> Self {
        let mut rules = FxHashMap::default();
        rules.reserve(n);
        Self { rules }
    }

    /// Adds a rule unless the pair already has one (the first, lowest rank, wins).
    pub fn insert(&mut self, left: TokenId, right: TokenId, rank: u32, merged: TokenId) {
        self.rules.entry(key(left, right)).or_insert((rank, merged));
    }

    fn rule(&self, left: TokenId, right: TokenId) -> Option<(u32, TokenId)> {
        self.rules.get(&key(left, right)).copied()
    }

    /// Merges the word whose initial symbols are `ids` and appends the result to `out`.
    pub fn apply(&self, ids: &[TokenId], scratch: &mut Scratch, out: &mut Vec<TokenId>) {
        match ids {
            [] => return,
            [one] => {
                out.push(*one);
                return;
            }
            [a, b] => {
                match self.rule(*a, *b) {
                    Some((_, merged)) => out.push(merged),
                    None => out.extend_from_slice(&[*a, *b]),
                }
                return;
            }
            _ => {}
        }
        let Scratch { symbols, heap } = scratch;
        symbols.clear();
        heap.clear();
        let n = ids.len() as u32;
        symbols.extend(ids.iter().enumerate().map(|(i, &id)| {
            let i = i as u32;
            Symbol {
                id,
                prev: i.checked_sub(1),
                next: (i + 1 < n).then_some(i + 1),
            }
        }));
        for i in 0..ids.len() - 1 {
            if let Some((rank, _)) = self.rule(ids[i], ids[i + 1]) {
                heap.push(Reverse((rank, i as u32, ids[i], ids[i + 1])));
            }
        }
        while let Some(Reverse((_, left, left_id, right_id))) = heap.pop() {
            let l = symbols[left as usize];
            // Stale: the left symbol changed, or its neighbour is no longer the right one.
            let Some(right) = l.next else { continue };
            let r = symbols[right as usize];
            if l.id != left_id || r.id != right_id {
                continue;
            }
            let Some((_, merged)) = self.rule(left_id, right_id) else {
                continue;
            };
            symbols[left as usize].id = merged;
            symbols[left as usize].next = r.next;
            if let Some(next) = r.next {
                symbols[next as usize].prev = Some(left);
            }
            // The right symbol is gone: with no `next` it can never be a pair's left side.
            symbols[right as usize].prev = None;
            symbols[right as usize].next = None;
            if let Some(prev) = l.prev {
                let p = symbols[prev as usize].id;
                if let Some((rank, _)) = self.rule(p, merged) {
                    heap.push(Reverse((rank, prev, p, merged)));
                }
            }
            if let Some(next) = r.next {
                let q = symbols[next as usize].id;
                if let Some((rank, _)) = self.rule(merged, q) {
                    heap.push(Reverse((rank, left, merged, q)));
                }
            }
        }
        // Walk the chain from the first symbol, which is never merged away.
        let mut at = Some(0u32);
        while let Some(i) = at {
            let s = symbols[i as usize];
            out.push(s.id);
            at = s.next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids: a=0 b=1 c=2 ab=3 bc=4 abc=5 aa=6 aaa=7.
    fn merges() -> Merges {
        let mut m = Merges::default();
        m.insert(0, 1, 0, 3); // a b -> ab
        m.insert(1, 2, 1, 4); // b c -> bc
        m.insert(3, 2, 2, 5); // ab c -> abc
        m.insert(0, 0, 3, 6); // a a -> aa
        m.insert(6, 0, 4, 7); // aa a -> aaa
        m
    }

    fn run(ids: &[TokenId]) -> Vec<TokenId> {
        let mut out = Vec::new();
        merges().apply(ids, &mut Scratch::default(), &mut out);
        out
    }

    #[test]
    fn lowest_rank_first() {
        assert_eq!(run(&[0, 1, 2]), [5]); // (ab) c, then abc: not a (bc)
        assert_eq!(run(&[1, 2]), [4]);
        assert_eq!(run(&[2, 0, 1, 2, 2]), [2, 5, 2]);
        assert_eq!(run(&[]), Vec::<TokenId>::new());
    }

    #[test]
    fn equal_ranks_merge_leftmost_first() {
        // a a a: the leftmost (a a) merges first, then (aa a): aaa, not a aa.
        assert_eq!(run(&[0, 0, 0]), [7]);
        // a a a a: the second (a a), rank 3, still goes before (aa a), rank 4.
        assert_eq!(run(&[0, 0, 0, 0]), [6, 6]);
    }
}
