//! The dialogue API the neural layer plugs into: a [`DialogueRequest`] answered by a
//! [`DialogueSource`], piece by piece through a [`ReplySink`], now or frames later.
//!
//! [`GrammarSource`] is the first implementation and also the fallback the plugin uses when
//! another source misses its deadline or fails.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crossbeam::channel::{Receiver, RecvTimeoutError, Sender, TryRecvError, unbounded};

use super::bindings::Bindings;
use super::grammar::Grammar;
use super::intent::Intent;
use crate::npc::facts::{Turn, WorldFacts};
use crate::npc::persona::{NpcId, Persona};
use crate::npc::rng::Rng;

/// Identifies one request and its reply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// Everything a source needs to answer one player line. Plain data: sources may move it to
/// another thread.
#[derive(Clone, Debug)]
pub struct DialogueRequest {
    /// This request.
    pub id: RequestId,
    /// The NPC who answers.
    pub npc: NpcId,
    /// Who the NPC is.
    pub persona: Arc<Persona>,
    /// What the player said, at most [`MAX_LINE_CHARS`](super::intent::MAX_LINE_CHARS)
    /// characters (empty when the NPC speaks first).
    pub player_line: String,
    /// The intent recognised from the line by the grammar's keywords.
    pub intent: Intent,
    /// What the NPC knows: surroundings, time of day and the conversation so far
    /// ([`history`](Self::history)).
    pub facts: WorldFacts,
    /// The world seed; with the NPC id and turn count it seeds every random choice.
    pub seed: u64,
    /// Metres from the NPC to the nearest [`WorldObserver`](crate::terrain::WorldObserver):
    /// sources that queue requests answer the nearest conversation first.
    pub distance_m: f32,
}

impl DialogueRequest {
    /// The conversation so far, oldest first (the player's new line is not in it).
    pub fn history(&self) -> &[Turn] {
        &self.facts.recent
    }
}

/// What a source sends back.
#[derive(Clone, Debug, PartialEq)]
pub enum SourceEvent {
    /// Text to append to the reply.
    Piece(String),
    /// The reply is complete.
    Finished,
    /// The source gave up; the grammar answers instead.
    Failed(String),
}

/// Where a source sends its reply. Cheap to move to another thread; sending never blocks. Dropping
/// it without [`finish`](Self::finish) counts as a failure.
#[derive(Debug)]
pub struct ReplySink {
    tx: Sender<SourceEvent>,
    open: Arc<AtomicBool>,
}

/// The receiving end of a [`ReplySink`]: the plugin polls it. Dropping it (the player walked
/// away, a new line replaced the request, the deadline passed) tells the source to stop.
#[derive(Debug)]
pub struct ReplyStream {
    rx: Receiver<SourceEvent>,
    open: Arc<AtomicBool>,
}

impl ReplyStream {
    /// The next event, if one is waiting.
    pub fn try_recv(&self) -> Result<SourceEvent, TryRecvError> {
        self.rx.try_recv()
    }

    /// Waits up to `timeout` for the next event (for tools and tests, not for frame systems).
    pub fn recv_timeout(&self, timeout: Duration) -> Result<SourceEvent, RecvTimeoutError> {
        self.rx.recv_timeout(timeout)
    }
}

impl Drop for ReplyStream {
    fn drop(&mut self) {
        self.open.store(false, Ordering::Relaxed);
    }
}

impl ReplySink {
    /// A sink and the receiving end the plugin polls.
    pub fn channel() -> (Self, ReplyStream) {
        let (tx, rx) = unbounded();
        let open = Arc::new(AtomicBool::new(true));
        (
            Self {
                tx,
                open: open.clone(),
            },
            ReplyStream { rx, open },
        )
    }

    /// Whether anyone still listens: false once the plugin dropped the request (the player
    /// walked away or said something new, or the deadline passed). Long work checks it between
    /// steps and stops.
    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::Relaxed)
    }

    /// Appends `text` to the reply. Returns false once nobody listens (the deadline passed or the
    /// conversation closed), so a source can stop early.
    pub fn piece(&self, text: impl Into<String>) -> bool {
        self.is_open() && self.tx.send(SourceEvent::Piece(text.into())).is_ok()
    }

    /// Completes the reply.
    pub fn finish(self) {
        let _ = self.tx.send(SourceEvent::Finished);
    }

    /// Gives up; the grammar's answer is used.
    pub fn fail(self, reason: impl Into<String>) {
        let _ = self.tx.send(SourceEvent::Failed(reason.into()));
    }
}

/// Something that answers NPC dialogue: the grammar, a neural model, a remote service.
///
/// `respond` runs on the frame thread and must return at once: hand the request to a worker or
/// task and send pieces through the sink from there. Pieces may arrive any number of frames later;
/// each becomes a [`DialogueReply`](super::DialogueReply) message. If the reply is not finished
/// within [`DialogueSettings::deadline_secs`](super::DialogueSettings), the grammar's answer is
/// used instead.
pub trait DialogueSource: Send + Sync + 'static {
    /// A short name for logs and UIs ("grammar", "tiny-llm").
    fn name(&self) -> &str;

    /// Starts answering `request` into `reply`.
    fn respond(&self, request: DialogueRequest, reply: ReplySink);
}

/// The active grammar, shared between the plugin (hot reload swaps it) and [`GrammarSource`]s.
#[derive(Clone, Debug)]
pub struct SharedGrammar(Arc<RwLock<Arc<Grammar>>>);

impl SharedGrammar {
    /// Shares `grammar`.
    pub fn new(grammar: Grammar) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(grammar))))
    }

    /// The grammar now in use.
    pub fn get(&self) -> Arc<Grammar> {
        match self.0.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the grammar for every holder.
    pub fn set(&self, grammar: Grammar) {
        self.set_arc(Arc::new(grammar));
    }

    /// Replaces the grammar for every holder with a shared one.
    pub fn set_arc(&self, new: Arc<Grammar>) {
        match self.0.write() {
            Ok(mut g) => *g = new,
            Err(poisoned) => *poisoned.into_inner() = new,
        }
    }
}

/// The grammar's answer to `request`: deterministic for (seed, NPC, turn count, intent).
pub fn grammar_reply(grammar: &Grammar, request: &DialogueRequest) -> String {
    let bindings = Bindings::new(&request.persona, &request.facts, request.intent);
    let mut rng = Rng::new(&[
        request.seed,
        request.npc.0,
        request.history().len() as u64,
        request.intent as u64,
    ]);
    let reply = grammar.expand(request.intent.name(), &bindings, &mut rng);
    if reply.is_empty() {
        // Only a grammar whose entry rule has no eligible alternative gets here.
        "…".to_owned()
    } else {
        reply
    }
}

/// Splits a reply into word-sized pieces (each keeps its trailing space) for streaming.
pub fn pieces(reply: &str) -> impl Iterator<Item = &str> {
    reply.split_inclusive(' ')
}

/// Answers from the grammar, at once, a word per piece.
#[derive(Clone, Debug)]
pub struct GrammarSource {
    grammar: SharedGrammar,
}

impl GrammarSource {
    /// A source answering from `grammar` (follows its hot reloads).
    pub fn new(grammar: SharedGrammar) -> Self {
        Self { grammar }
    }
}

impl DialogueSource for GrammarSource {
    fn name(&self) -> &str {
        "grammar"
    }

    fn respond(&self, request: DialogueRequest, reply: ReplySink) {
        let text = grammar_reply(&self.grammar.get(), &request);
        for piece in pieces(&text) {
            reply.piece(piece);
        }
        reply.finish();
    }
}
