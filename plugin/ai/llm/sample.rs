//! Choosing the next token from logits: seeded (the same seed and logits give the same token),
//! with temperature, top-k, top-p (nucleus), a repetition penalty, and a mask hook through which
//! constraints (banned tokens, stop rules) remove tokens before anything is drawn. Temperature 0
//! is greedy. Pure Rust over slices; the scratch buffers are reused between tokens.

use crate::npc::rng::Rng;

/// Sampling settings.
#[derive(Clone, Debug, PartialEq)]
pub struct SamplingParams {
    /// Softmax temperature; 0 picks the most likely token (greedy).
    pub temperature: f32,
    /// Keep only the `top_k` most likely tokens (0 keeps all).
    pub top_k: usize,
    /// Keep the smallest set of most likely tokens whose probability reaches `top_p` (1 keeps
    /// all).
    pub top_p: f32,
    /// Divides positive logits (multiplies negative ones) of recently seen tokens; 1 is off.
    pub repetition_penalty: f32,
    /// How many of the latest tokens the penalty looks at.
    pub repetition_window: usize,
    /// Seed of the random draws.
    pub seed: u64,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 0.7,
            top_k: 40,
            top_p: 0.9,
            repetition_penalty: 1.1,
            repetition_window: 64,
            seed: 0,
        }
    }
}

impl SamplingParams {
    /// Always the most likely token, no penalty.
    pub fn greedy() -> Self {
        Self {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            repetition_penalty: 1.0,
            ..Self::default()
        }
    }
}

/// Removes tokens before sampling by setting their logits to negative infinity (or reshapes
/// them). `history` is everything the session holds, generated tokens last.
pub trait LogitMask {
    /// Adjusts `logits` (one per vocabulary entry) in place.
    fn apply(&mut self, history: &[u32], logits: &mut [f32]);
}

/// No constraint.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoMask;

impl LogitMask for NoMask {
    fn apply(&mut self, _history: &[u32], _logits: &mut [f32]) {}
}

/// Tokens that may never be chosen.
#[derive(Clone, Debug, Default)]
pub struct BannedTokens(pub Vec<u32>);

impl LogitMask for BannedTokens {
    fn apply(&mut self, _history: &[u32], logits: &mut [f32]) {
        for &t in &self.0 {
            if let Some(l) = logits.get_mut(t as usize) {
                *l = f32::NEG_INFINITY;
            }
        }
    }
}

/// A seeded sampler; keep one per reply so its random stream is the reply's.
#[derive(Clone, Debug)]
pub struct Sampler {
    params: SamplingParams,
    rng: Rng,
    logits: Vec<f32>,
    candidates: Vec<(f32, u32)>,
}

impl Sampler {
    /// A sampler drawing from a stream seeded by `params.seed`.
    pub fn new(params: SamplingParams) -> Self {
        let rng = Rng::new(&[params.seed]);
        Self {
            params,
            rng,
            logits: Vec::new(),
            candidates: Vec::new(),
        }
    }

    /// The settings.
    pub fn params(&self) -> &SamplingParams {
        &self.params
    }

    /// The next token, or `None` when the mask left no finite logit.
    pub fn sample(
        &mut self,
        logits: &[f32],
        history: &[u32],
        mask: &mut dyn LogitMask,
    ) -> Option<u32> {
        let p = &self.params;
        self.logits.clear();
        self.logits.extend_from_slice(logits);
        if p.repetition_penalty != 1.0 && p.repetition_penalty > 0.0 {
            let recent = &history[history.len().saturating_sub(p.repetition_window)..];
            for (i, &t) in recent.iter().enumerate() {
                // Each distinct token is penalised once.
                if recent[..i].contains(&t) {
                    continue;
                }
                if let Some(l) = self.logits.get_mut(t as usize) {
                    *l = if *l > 0.0 {
                        *l / p.repetition_penalty
                    } else {
                        *l * p.repetition_penalty
                    };
                }
            }
        }
        mask.apply(history, &mut self.logits);
        let finite = |l: f32| l.is_finite();
        if p.temperature <= 0.0 {
            // Greedy; ties go to the lowest id.
            return self
                .logits
                .iter()
                .enumerate()
                .filter(|(_, l)| finite(**l))
                .fold(None, |best: Option<(usize, f32)>, (i, &l)| match best {
                    Some((_, b)) if b >= l => best,
                    _ => Some((i, l)),
                })
                .map(|(i, _)| i as u32);
        }
        self.candidates.clear();
        self.candidates.extend(
            self.logits
                .iter()
                .enumerate()
                .filter(|(_, l)| finite(**l))
                .map(|(i, &l)| (l / p.temperature, i as u32)),
        );
        if self.candidates.is_empty() {
            return None;
        }
        // Most likely first; equal logits in id order, so the order never depends on the sort.
        let order = |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        let k = if p.top_k == 0 {
            self.candidates.len()
        } else {
            p.top_k.min(self.candidates.len())
        };
        if k < self.candidates.len() {
            self.candidates.select_nth_unstable_by(k - 1, order);
            self.candidates.truncate(k);
        }
        self.candidates.sort_unstable_by(order);
        let max = self.candidates[0].0;
        let mut total = 0.0f64;
        for c in &mut self.candidates {
            c.0 = (c.0 - max).exp();
            total += f64::from(c.0);
        }
        if p.top_p < 1.0 {
            let mut kept = 0.0f64;
            let mut keep = self.candidates.len();
            for (i, c) in self.candidates.iter().enumerate() {
                kept += f64::from(c.0);
                if kept >= f64::from(p.top_p) * total {
                    keep = i + 1;
                    break;
                }
            }
            self.candidates.truncate(keep);
            total = kept;
        }
        let mut target = self.rng.unit() * total;
        for &(weight, id) in &self.candidates {
            target -= f64::from(weight);
            if target < 0.0 {
                return Some(id);
            }
        }
        self.candidates.last().map(|c| c.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logits() -> Vec<f32> {
        (0..50).map(|i| ((i * 7 % 13) as f32 - 6.0) * 0.4).collect()
    }

    fn draw(params: SamplingParams, n: usize) -> Vec<u32> {
        let mut s = Sampler::new(params);
        let l = logits();
        (0..n)
            .map(|_| s.sample(&l, &[], &mut NoMask).unwrap())
            .collect()
    }

    #[test]
    fn the_same_seed_draws_the_same_tokens() {
        let p = SamplingParams {
            seed: 42,
            ..SamplingParams::default()
        };
        let a = draw(p.clone(), 40);
        assert_eq!(a, draw(p.clone(), 40));
        assert_ne!(a, draw(SamplingParams { seed: 43, ..p }, 40));
        // More than one token is drawn (it is sampling, not greedy).
        assert!(a.iter().any(|&t| t != a[0]));
    }

    #[test]
    fn greedy_top_k_and_top_p_restrict_the_choice() {
        // The largest logit: index with i * 7 % 13 == 12, i.e. i = 9 (63 % 13 = 11)... find it.
        let l = logits();
        let best = (0..50)
            .max_by(|&a, &b| l[a].total_cmp(&l[b]).then(b.cmp(&a)))
            .unwrap() as u32;
        assert!(
            draw(SamplingParams::greedy(), 10)
                .iter()
                .all(|&t| t == best)
        );
        let top1 = SamplingParams {
            top_k: 1,
            temperature: 5.0,
            ..SamplingParams::default()
        };
        assert!(draw(top1, 30).iter().all(|&t| t == best));
        // A tiny top_p keeps only the most likely token, at any temperature.
        let nucleus = SamplingParams {
            top_p: 1e-6,
            top_k: 0,
            temperature: 3.0,
            ..SamplingParams::default()
        };
        assert!(draw(nucleus, 30).iter().all(|&t| t == best));
        // top_k 3 draws only from the three largest.
        let mut sorted: Vec<u32> = (0..50).collect();
        sorted.sort_by(|&a, &b| l[b as usize].total_cmp(&l[a as usize]).then(a.cmp(&b)));
        let top3 = SamplingParams {
            top_k: 3,
            temperature: 10.0,
            top_p: 1.0,
            ..SamplingParams::default()
        };
        let drawn = draw(top3, 200);
        assert!(drawn.iter().all(|t| sorted[..3].contains(t)));
        assert!(sorted[..3].iter().all(|t| drawn.contains(t)));
    }

    #[test]
    fn banned_tokens_are_never_drawn_and_penalties_push_repeats_down() {
        let mut l = vec![0.0f32; 10];
        l[3] = 10.0;
        l[5] = 9.0;
        let mut s = Sampler::new(SamplingParams::greedy());
        assert_eq!(s.sample(&l, &[], &mut BannedTokens(vec![3])), Some(5));
        let mut all = BannedTokens((0..10).collect());
        assert_eq!(s.sample(&l, &[], &mut all), None);
        let mut hot = Sampler::new(SamplingParams {
            temperature: 50.0,
            top_k: 0,
            top_p: 1.0,
            ..SamplingParams::default()
        });
        for _ in 0..200 {
            assert_ne!(hot.sample(&l, &[], &mut BannedTokens(vec![3, 5])), Some(3));
        }
        let penalised = Sampler::new(SamplingParams {
            repetition_penalty: 2.0,
            ..SamplingParams::greedy()
        })
        .sample(&l, &[3, 3, 7], &mut NoMask);
        // 10 / 2 = 5 < 9: the repeated token loses to the next best.
        assert_eq!(penalised, Some(5));
    }
}
