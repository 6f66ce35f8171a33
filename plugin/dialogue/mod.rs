//! NPC dialogue: a world-grounded grammar, intents, and the API a neural layer plugs into.
//!
//! | piece | what it is |
//! |---|---|
//! | [`grammar`], [`intent`], [`bindings`] | the pure core: RON grammar with file:line:column errors, intent keywords, variables from persona and facts |
//! | [`source`] | [`DialogueRequest`], the [`DialogueSource`] trait and [`GrammarSource`], its first implementation |
//! | [`DialoguePlugin`] | the ECS shell: [`SayToNpc`] in, streamed [`DialogueReply`] messages out, deadlines, memory, hot reload |
//! | `ui` (feature `egui`) | [`DialogueUiPlugin`](ui::DialogueUiPlugin): name labels, press E to talk, the dialogue window |
//!
//! Flow: a [`SayToNpc`] message names an NPC entity and the player's line. The plugin recognises
//! the intent, collects [`WorldFacts`](crate::npc::WorldFacts) (the NPC's surroundings, the
//! [`WorldClock`](crate::clock::WorldClock), its [`NpcMemory`]) into a [`DialogueRequest`] and
//! hands it to the [`DialogueBackend`]'s source. Every piece the source sends becomes a
//! [`DialogueReply`]; if it has not finished when the deadline passes, the grammar answers.

pub mod bindings;
pub mod grammar;
pub mod intent;
pub mod llm;
pub mod memory;
mod runtime;
pub mod source;
#[cfg(feature = "egui")]
pub mod ui;

use std::sync::Arc;

use bevy::prelude::*;

pub use grammar::{DEFAULT_GRAMMAR_RON, Grammar};
pub use intent::Intent;
pub use memory::{MemoryCache, NpcMemory};
pub use source::{
    DialogueRequest, DialogueSource, GrammarSource, ReplySink, ReplyStream, RequestId,
    SharedGrammar, SourceEvent, grammar_reply,
};

use crate::config::ConfigError;
use crate::kinds::{
    self, Active, FileKind, FileKindPlugin, FileKindSystems, FileStatus, FollowedFile,
};
use crate::{AigcWorldSystems, AigcWorldUpdate};

/// Answers what players say to NPCs; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct DialoguePlugin {
    /// Asset path of the grammar, or `None` to use only the built-in default.
    pub path: Option<String>,
}

impl Default for DialoguePlugin {
    fn default() -> Self {
        Self {
            path: Some("dialogue/default.grammar.ron".into()),
        }
    }
}

impl Plugin for DialoguePlugin {
    fn build(&self, app: &mut App) {
        let builtin = Grammar::builtin();
        let shared = SharedGrammar::new(builtin.clone());
        if !app.world().contains_resource::<DialogueBackend>() {
            app.insert_resource(DialogueBackend(Arc::new(GrammarSource::new(
                shared.clone(),
            ))));
        }
        let settings = DialogueSettings::default();
        app.add_plugins(FileKindPlugin::<GrammarKind>::new(
            self.path.clone(),
            builtin,
        ))
        .register_type::<DialogueSettings>()
        .add_message::<SayToNpc>()
        .add_message::<DialogueReply>()
        .insert_resource(MemoryCache::new(settings.cached_npcs))
        .insert_resource(settings)
        .insert_resource(ActiveGrammarShared(shared))
        .init_resource::<runtime::PendingReplies>()
        .add_systems(
            AigcWorldUpdate,
            (
                // Each system runs only when it may have work: no conversation, no cost.
                share_active_grammar
                    .run_if(resource_changed::<ActiveGrammar>)
                    .after(FileKindSystems)
                    .in_set(AigcWorldSystems::Config),
                (
                    sync_cache_capacity.run_if(resource_changed::<DialogueSettings>),
                    memory::attach_memory.run_if(
                        any_match_filter::<(With<crate::npc::Npc>, Without<memory::NpcMemory>)>,
                    ),
                    runtime::start_requests.run_if(on_message::<SayToNpc>),
                    runtime::pump_replies.run_if(runtime::replies_pending),
                )
                    .chain()
                    .in_set(AigcWorldSystems::Dialogue),
            ),
        );
    }
}

/// Live dialogue knobs.
#[derive(Resource, Reflect, Clone, Debug, PartialEq)]
#[reflect(Resource)]
pub struct DialogueSettings {
    /// Seconds (real time) a source has to finish a reply before the grammar answers instead.
    pub deadline_secs: f32,
    /// Seconds (real time) a source has to send its first words before the grammar answers
    /// instead (a streaming model that has started may go on until `deadline_secs`).
    pub first_words_secs: f32,
    /// Turns (player and NPC lines) each NPC remembers: at least twice the language model's
    /// `history_turns`, so the model's prompt can keep its start for several lines.
    pub memory_turns: usize,
    /// NPCs whose memory is kept after their chunk unloads.
    pub cached_npcs: usize,
}

impl Default for DialogueSettings {
    fn default() -> Self {
        Self {
            deadline_secs: 3.0,
            first_words_secs: 3.0,
            memory_turns: 12,
            cached_npcs: 64,
        }
    }
}

/// The source answering NPC dialogue. The default is a [`GrammarSource`]; replace it with
/// `app.insert_resource(DialogueBackend(Arc::new(MySource)))`.
#[derive(Resource, Clone)]
pub struct DialogueBackend(pub Arc<dyn DialogueSource>);

/// Grammar files, `*.grammar.ron`: what NPCs say ([`Grammar`]).
#[derive(Clone, Copy, Debug, Default, TypePath)]
pub struct GrammarKind;

impl FileKind for GrammarKind {
    type Value = Grammar;
    const NAME: &'static str = "dialogue grammar";
    const EXTENSIONS: &'static [&'static str] = &["grammar.ron"];

    fn parse(bytes: &[u8], file: &str) -> Result<Grammar, ConfigError> {
        Grammar::parse(kinds::text(bytes, file)?, file)
    }
}

/// The grammar in use (also the fallback); [`get`](Active::get) it, or follow it from another
/// thread through [`ActiveGrammarShared`].
pub type ActiveGrammar = Active<GrammarKind>;

/// The outcome of the latest grammar file load, for UIs and tests.
pub type GrammarStatus = FileStatus<GrammarKind>;

/// Which grammar file is followed (change `path` to load another).
pub type GrammarFile = FollowedFile<GrammarKind>;

/// [`ActiveGrammar`] as a [`SharedGrammar`] that follows its changes, for sources on other
/// threads ([`GrammarSource::new`]).
#[derive(Resource, Clone, Debug, Deref)]
pub struct ActiveGrammarShared(pub SharedGrammar);

fn share_active_grammar(active: Res<ActiveGrammar>, shared: Res<ActiveGrammarShared>) {
    if active.is_changed() && !active.is_added() {
        shared.set_arc(active.get());
    }
}

/// The player says `text` to the NPC entity `npc`. Answered by [`DialogueReply`] messages.
#[derive(Message, Clone, Debug, PartialEq)]
pub struct SayToNpc {
    /// An entity with [`Npc`](crate::npc::Npc).
    pub npc: Entity,
    /// The player's line (cut to [`MAX_LINE_CHARS`](intent::MAX_LINE_CHARS); may be empty).
    pub text: String,
    /// Forces the intent instead of recognising it from `text`.
    pub intent: Option<Intent>,
}

impl SayToNpc {
    /// The player says `text`.
    pub fn new(npc: Entity, text: impl Into<String>) -> Self {
        Self {
            npc,
            text: text.into(),
            intent: None,
        }
    }

    /// The player walks up without a word; the NPC greets them.
    pub fn open(npc: Entity) -> Self {
        Self {
            npc,
            text: String::new(),
            intent: Some(Intent::Greet),
        }
    }
}

/// Part of an NPC's reply, in order: `Started`, then `Piece`s (a `Restart` discards the pieces
/// before it), then `Done`.
#[derive(Message, Clone, Debug, PartialEq)]
pub struct DialogueReply {
    /// The request answered.
    pub request: RequestId,
    /// The NPC entity speaking.
    pub npc: Entity,
    /// What happened.
    pub event: ReplyEvent,
}

/// What a [`DialogueReply`] says.
#[derive(Clone, Debug, PartialEq)]
pub enum ReplyEvent {
    /// A request was sent to `source`.
    Started {
        /// The recognised (or forced) intent.
        intent: Intent,
        /// The source's name.
        source: String,
    },
    /// More text.
    Piece(String),
    /// Forget the pieces so far: the grammar takes over after a failure or the deadline.
    Restart,
    /// The reply is complete.
    Done {
        /// The whole reply.
        text: String,
        /// Who answered in the end.
        source: String,
        /// Whether the grammar stepped in for a failed or late source.
        fell_back: bool,
    },
}

fn sync_cache_capacity(settings: Res<DialogueSettings>, mut cache: ResMut<MemoryCache>) {
    if settings.is_changed() {
        cache.set_capacity(settings.cached_npcs);
    }
}
