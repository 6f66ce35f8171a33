//! NPC replies from a language model the game runs itself, on the AI runtime's model worker.
//!
//! [`LocalModelSource`] hands each request to the worker as a [`LanguageTask`], ranked so the
//! nearest conversation goes first. There [`generate_reply`] builds the chat prompt, starts
//! from the cached session sharing the longest prefix with it (the NPC's system text and the
//! conversation so far are usually computed already), samples with the NPC's seed, vetoes
//! tokens that would complete a banned word or spell chat markup, and streams whole words to
//! the dialogue window as they come. Closing the conversation (or a new line) drops the reply,
//! and generation stops at the next token.

use std::sync::{Arc, Mutex};

use bevy::platform::time::Instant;

use super::guard::{FilterStep, ReplyFilter, ReplyGuard, ReplyRejected};
use super::prompt::{Prompt, build_prompt};
use super::settings::LanguageSettings;
use crate::ai::llm::loaded::{LanguageTask, LoadedLanguageModel};
use crate::ai::llm::tokenizer::ChatMessage;
use crate::ai::llm::{LlmError, LogitMask, Sampler, SamplingParams};
use crate::ai::{AiError, AiJob, AiOutput, AiPriority, AiSubmitter};
use crate::dialogue::source::{DialogueRequest, DialogueSource, ReplySink};
use crate::npc::facts::Speaker;

/// Positions a conversation's session holds at most: prompt and reply.
pub const CONTEXT_TOKENS: usize = 2048;

/// Why [`generate_reply`] gave no reply.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ChatError {
    /// Stopped: nobody listens any more.
    #[error("cancelled")]
    Cancelled,
    /// The reply broke the rules; the grammar should answer.
    #[error("reply refused: {0}")]
    Refused(#[from] ReplyRejected),
    /// The model or its tokenizer failed.
    #[error("{0}")]
    Model(String),
}

impl From<LlmError> for ChatError {
    fn from(e: LlmError) -> Self {
        match e {
            LlmError::Cancelled => ChatError::Cancelled,
            other => ChatError::Model(other.to_string()),
        }
    }
}

/// What one reply cost.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplyStats {
    /// The whole reply, as shown.
    pub text: String,
    /// Tokens in the prompt.
    pub prompt_tokens: usize,
    /// Of those, tokens whose keys and values came from a cached session.
    pub cached_tokens: usize,
    /// Tokens generated.
    pub reply_tokens: usize,
    /// Milliseconds from the start until the first word was shown.
    pub first_words_ms: Option<f64>,
    /// Milliseconds in all.
    pub total_ms: f64,
}

/// Tokens that may not be chosen: chat markup (except the turn's end), and candidates vetoed
/// for this position.
struct ReplyMask {
    markup: Arc<[u32]>,
    vetoed: Vec<u32>,
}

impl LogitMask for ReplyMask {
    fn apply(&mut self, _history: &[u32], logits: &mut [f32]) {
        for &t in self.markup.iter().chain(&self.vetoed) {
            if let Some(l) = logits.get_mut(t as usize) {
                *l = f32::NEG_INFINITY;
            }
        }
    }
}

/// The chat messages of `prompt`.
fn messages(prompt: &Prompt) -> Vec<ChatMessage<'_>> {
    std::iter::once(ChatMessage::system(&prompt.system))
        .chain(prompt.turns.iter().map(|(speaker, text)| match speaker {
            Speaker::Player => ChatMessage::user(text),
            Speaker::Npc => ChatMessage::assistant(text),
        }))
        .collect()
}

/// Generates the NPC's reply to `prompt` with `model`, passing each piece to `on_piece`
/// (returning false stops), and keeps the session for `key` (the NPC) for the next line.
pub fn generate_reply(
    lm: &mut LoadedLanguageModel,
    prompt: &Prompt,
    settings: &LanguageSettings,
    guard: ReplyGuard,
    seed: u64,
    key: u64,
    on_piece: &mut dyn FnMut(&str) -> bool,
    cancelled: &dyn Fn() -> bool,
) -> Result<ReplyStats, ChatError> {
    let started = Instant::now();
    let max_tokens = settings.max_reply_tokens as usize;
    let capacity = CONTEXT_TOKENS.min(lm.model.config().context_length);
    // The oldest turns go first if the prompt would not fit.
    let mut prompt = prompt.clone();
    let tokens = loop {
        let tokens = lm
            .file
            .tokenizer
            .encode_chat(&lm.template, &messages(&prompt), true)
            .map_err(|e| ChatError::Model(e.to_string()))?;
        if tokens.len() + max_tokens < capacity {
            break tokens;
        }
        if prompt.turns.len() <= 1 {
            return Err(ChatError::Model(format!(
                "the prompt ({} tokens) does not fit the context",
                tokens.len()
            )));
        }
        prompt.turns.remove(0);
    };

    let mut session = lm
        .sessions
        .take(key, &tokens)
        .filter(|s| s.capacity() > tokens.len() + max_tokens)
        .unwrap_or_else(|| lm.model.new_session(capacity));
    // At least one prompt token is run, for the logits of the first reply token.
    let cached = session.shared_prefix(&tokens).min(tokens.len() - 1);
    session.truncate(cached);

    let tokenizer = lm.file.tokenizer.clone();
    let stops: Vec<u32> = tokenizer.stop_tokens().to_vec();
    let markup: Arc<[u32]> = (0..tokenizer.vocab_size() as u32)
        .filter(|&t| tokenizer.is_markup(t) && !stops.contains(&t))
        .collect();
    let mut mask = ReplyMask {
        markup,
        vetoed: Vec::new(),
    };
    let mut sampler = Sampler::new(SamplingParams {
        temperature: settings.sampling.temperature,
        top_k: settings.sampling.top_k as usize,
        top_p: settings.sampling.top_p,
        repetition_penalty: settings.sampling.repetition_penalty,
        repetition_window: 64,
        seed,
    });
    let mut decoder = tokenizer.stream_decoder();
    let mut filter = ReplyFilter::new(guard);
    let mut stats = ReplyStats {
        prompt_tokens: tokens.len(),
        cached_tokens: cached,
        ..Default::default()
    };
    let mut show = |text: &str, stats: &mut ReplyStats| -> bool {
        if !text.trim().is_empty() && stats.first_words_ms.is_none() {
            stats.first_words_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
        }
        text.is_empty() || on_piece(text)
    };

    let mut logits = lm
        .model
        .prefill(&mut session, &tokens[cached..], cancelled)?;
    loop {
        if cancelled() {
            return Err(ChatError::Cancelled);
        }
        // Sample; a candidate the rules refuse is vetoed and the next choice drawn.
        mask.vetoed.clear();
        let token = loop {
            let Some(token) = sampler.sample(logits, session.tokens(), &mut mask) else {
                break None;
            };
            let ends = stops.contains(&token);
            let piece = if ends {
                String::new()
            } else {
                String::from_utf8_lossy(tokenizer.token_bytes(token).unwrap_or_default())
                    .into_owned()
            };
            if filter.guard().allows(filter.text(), &piece, ends) {
                break Some(token);
            }
            mask.vetoed.push(token);
        };
        let Some(token) = token.filter(|t| !stops.contains(t)) else {
            break;
        };
        if session.len() >= session.capacity() {
            break;
        }
        logits = lm.model.step(&mut session, token)?;
        stats.reply_tokens += 1;
        let text = decoder
            .push(token)
            .map_err(|e| ChatError::Model(e.to_string()))?;
        match filter.push(&text) {
            FilterStep::Show(text) => {
                if !show(&text, &mut stats) {
                    return Err(ChatError::Cancelled);
                }
            }
            FilterStep::Stop(text) => {
                show(&text, &mut stats);
                break;
            }
        }
        if stats.reply_tokens >= max_tokens {
            break;
        }
    }
    let (rest, whole) = filter.finish()?;
    show(&rest, &mut stats);
    lm.sessions.capacity = settings.cached_prefixes as usize;
    lm.sessions.put(key, session);
    stats.text = whole;
    stats.total_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok(stats)
}

/// A [`DialogueSource`] answering with the language model loaded on the AI runtime's worker.
pub struct LocalModelSource {
    name: String,
    settings: Arc<LanguageSettings>,
    worker: AiSubmitter,
    last_reply: Arc<Mutex<Option<ReplyStats>>>,
}

impl LocalModelSource {
    /// A source named after `model`, submitting to `worker`.
    pub fn new(model: &str, settings: Arc<LanguageSettings>, worker: AiSubmitter) -> Self {
        Self {
            name: model.to_owned(),
            settings,
            worker,
            last_reply: Arc::default(),
        }
    }

    /// Puts the figures of each finished reply into `slot` (for a status display).
    pub fn reporting_to(mut self, slot: Arc<Mutex<Option<ReplyStats>>>) -> Self {
        self.last_reply = slot;
        self
    }
}

impl DialogueSource for LocalModelSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn respond(&self, request: DialogueRequest, reply: ReplySink) {
        let settings = self.settings.clone();
        let task = ChatTask {
            prompt: build_prompt(&request, &settings),
            guard: ReplyGuard::new(
                &request.persona.name,
                &settings.banned_words,
                settings.max_reply_chars as usize,
            ),
            seed: super::reply_seed(&request),
            key: request.npc.0,
            settings,
            reply: Mutex::new(Some(reply)),
            last_reply: self.last_reply.clone(),
        };
        // Decimetres to the nearest observer: the nearest conversation is served first.
        let rank = (request.distance_m.max(0.0) * 10.0).min(u32::MAX as f32) as u32;
        self.worker
            .submit_ranked(AiPriority::High, rank, AiJob::Language(Arc::new(task)));
    }
}

/// One reply, as the worker runs it.
#[derive(Debug)]
struct ChatTask {
    prompt: Prompt,
    settings: Arc<LanguageSettings>,
    guard: ReplyGuard,
    seed: u64,
    key: u64,
    reply: Mutex<Option<ReplySink>>,
    last_reply: Arc<Mutex<Option<ReplyStats>>>,
}

impl LanguageTask for ChatTask {
    fn run(
        &self,
        lm: &mut LoadedLanguageModel,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<AiOutput, AiError> {
        let Some(reply) = self.reply.lock().ok().and_then(|mut r| r.take()) else {
            return Err(AiError::Cancelled);
        };
        if !reply.is_open() {
            return Err(AiError::Cancelled);
        }
        let outcome = generate_reply(
            lm,
            &self.prompt,
            &self.settings,
            self.guard.clone(),
            self.seed,
            self.key,
            &mut |piece| reply.piece(piece),
            &|| cancelled() || !reply.is_open(),
        );
        match outcome {
            Ok(stats) => {
                reply.finish();
                if let Ok(mut last) = self.last_reply.lock() {
                    *last = Some(stats);
                }
                Ok(AiOutput::Done)
            }
            Err(ChatError::Cancelled) => Err(AiError::Cancelled),
            Err(refused @ ChatError::Refused(_)) => {
                reply.fail(refused.to_string());
                Ok(AiOutput::Done)
            }
            Err(ChatError::Model(e)) => {
                reply.fail(e.clone());
                Err(AiError::Failed(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ai::backend::ComputeDevice;
    use crate::ai::llm::loaded::LanguageModelFile;
    use crate::ai::llm::tiny_chat::tiny_chat_gguf;
    use crate::dialogue::llm::prompt::tests::request;
    use crate::dialogue::llm::settings::SamplingSettings;

    fn model(seed: u64) -> LoadedLanguageModel {
        let file = LanguageModelFile::from_gguf(Arc::from(tiny_chat_gguf(seed)), "t.gguf").unwrap();
        LoadedLanguageModel::load(file, &ComputeDevice::Cpu).unwrap()
    }

    fn settings(temperature: f32, banned: &[&str]) -> LanguageSettings {
        LanguageSettings {
            sampling: SamplingSettings {
                temperature,
                ..Default::default()
            },
            max_reply_tokens: 24,
            max_reply_chars: 400,
            banned_words: banned.iter().map(|w| w.to_string()).collect(),
            ..Default::default()
        }
    }

    /// The reply and its pieces, or the error.
    fn reply(
        lm: &mut LoadedLanguageModel,
        settings: &LanguageSettings,
        line: &str,
        seed: u64,
    ) -> (Result<ReplyStats, ChatError>, Vec<String>) {
        let request = request(line, vec![]);
        let prompt = build_prompt(&request, settings);
        let guard = ReplyGuard::new(
            &request.persona.name,
            &settings.banned_words,
            settings.max_reply_chars as usize,
        );
        let mut pieces = Vec::new();
        let outcome = generate_reply(
            lm,
            &prompt,
            settings,
            guard,
            seed,
            7,
            &mut |p| {
                pieces.push(p.to_owned());
                true
            },
            &|| false,
        );
        (outcome, pieces)
    }

    /// The reply's raw text whatever the guard says (the tiny model speaks noise).
    fn raw(outcome: &Result<ReplyStats, ChatError>, pieces: &[String]) -> String {
        match outcome {
            Ok(stats) => stats.text.clone(),
            Err(_) => pieces.concat(),
        }
    }

    #[test]
    fn the_same_seed_npc_and_turn_give_the_same_reply_cached_or_not() {
        let s = settings(0.9, &[]);
        let (a, pa) = reply(&mut model(3), &s, "Where is the village?", 11);
        let mut warm = model(3);
        // Another conversation first, so this one starts from a cached, shorter prefix.
        let _ = reply(&mut warm, &s, "Hello there", 99);
        let (b, pb) = reply(&mut warm, &s, "Where is the village?", 11);
        assert_eq!(raw(&a, &pa), raw(&b, &pb));
        assert_eq!(pa, pb, "the same pieces stream");
        if let (Ok(a), Ok(b)) = (&a, &b) {
            assert_eq!(a.cached_tokens, 0);
            assert!(b.cached_tokens > 100, "the system text was reused: {b:?}");
        }
        let (c, pc) = reply(&mut model(3), &s, "Where is the village?", 12);
        assert_ne!(raw(&a, &pa), raw(&c, &pc), "another seed, another reply");
    }

    #[test]
    fn replies_are_bounded_and_never_hold_markup() {
        let mut lm = model(5);
        for seed in 0..6 {
            let (outcome, pieces) = reply(&mut lm, &settings(1.5, &[]), "Tell me <|im_end|>", seed);
            let text = raw(&outcome, &pieces);
            assert!(!text.contains("<|"), "{text:?}");
            if let Ok(stats) = &outcome {
                assert!(stats.reply_tokens <= 24, "{stats:?}");
                assert!(stats.text.chars().count() <= 401, "{stats:?}");
            }
        }
    }

    #[test]
    fn a_banned_word_never_appears_even_when_the_model_prefers_it() {
        // Find words the unconstrained model says, then ban them.
        let mut lm = model(8);
        let free = settings(0.0, &[]);
        let (outcome, pieces) = reply(&mut lm, &free, "Hi", 1);
        let said = raw(&outcome, &pieces);
        let words: Vec<String> = said
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.chars().count() >= 2)
            .map(str::to_owned)
            .take(3)
            .collect();
        assert!(
            !words.is_empty(),
            "the tiny model said some words: {said:?}"
        );
        let banned: Vec<&str> = words.iter().map(String::as_str).collect();
        let (outcome, pieces) = reply(&mut model(8), &settings(0.0, &banned), "Hi", 1);
        let text = raw(&outcome, &pieces).to_lowercase();
        assert_ne!(text, said.to_lowercase(), "the ban changed what was said");
        for word in &words {
            let word = word.to_lowercase();
            let whole = text
                .split(|c: char| !c.is_alphanumeric())
                .any(|w| w == word);
            assert!(!whole, "{word:?} was banned but said: {text:?}");
        }
    }

    #[test]
    fn cancelling_stops_generation() {
        let mut lm = model(2);
        let s = settings(0.8, &[]);
        let request = request("Hello", vec![]);
        let prompt = build_prompt(&request, &s);
        let guard = ReplyGuard::new("Mira Holt", &[], 400);
        let outcome = generate_reply(&mut lm, &prompt, &s, guard, 1, 7, &mut |_| true, &|| true);
        assert_eq!(outcome, Err(ChatError::Cancelled));
    }
}
