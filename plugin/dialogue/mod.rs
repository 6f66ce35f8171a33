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
pub mod memory;
mod runtime;
pub mod source;
#[cfg(feature = "egui")]
pub mod ui;

use std::sync::Arc;

use bevy::asset::io::Reader;
use bevy::asset::{AssetLoader, LoadContext};
use bevy::ecs::error::Severity;
use bevy::prelude::*;
use thiserror::Error;

pub use grammar::{DEFAULT_GRAMMAR_RON, Grammar};
pub use intent::Intent;
pub use memory::{MemoryCache, NpcMemory};
pub use source::{
    DialogueRequest, DialogueSource, GrammarSource, ReplySink, RequestId, SharedGrammar,
    SourceEvent, grammar_reply,
};

use crate::AigcWorldSystems;
use crate::config::ConfigError;
use crate::npc::{ReadError, read_text};

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
        crate::configure_sets(app);
        let shared = SharedGrammar::new(Grammar::builtin());
        if !app.world().contains_resource::<DialogueBackend>() {
            app.insert_resource(DialogueBackend(Arc::new(GrammarSource::new(
                shared.clone(),
            ))));
        }
        let settings = DialogueSettings::default();
        app.init_asset::<GrammarAsset>()
            .register_asset_loader(GrammarAssetLoader)
            .register_type::<DialogueSettings>()
            .add_message::<SayToNpc>()
            .add_message::<DialogueReply>()
            .insert_resource(MemoryCache::new(settings.cached_npcs))
            .insert_resource(settings)
            .insert_resource(ActiveGrammar { shared, version: 1 })
            .insert_resource(GrammarFile {
                path: self.path.clone(),
                handle: None,
            })
            .init_resource::<GrammarStatus>()
            .init_resource::<runtime::PendingReplies>()
            .add_systems(
                Update,
                (
                    (load_grammar_file, apply_grammar_asset)
                        .chain()
                        .in_set(AigcWorldSystems::Config),
                    (
                        sync_cache_capacity,
                        memory::attach_memory,
                        runtime::start_requests,
                        runtime::pump_replies,
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
    /// Turns (player and NPC lines) each NPC remembers.
    pub memory_turns: usize,
    /// NPCs whose memory is kept after their chunk unloads.
    pub cached_npcs: usize,
}

impl Default for DialogueSettings {
    fn default() -> Self {
        Self {
            deadline_secs: 3.0,
            memory_turns: 8,
            cached_npcs: 64,
        }
    }
}

/// The source answering NPC dialogue. The default is a [`GrammarSource`]; replace it with
/// `app.insert_resource(DialogueBackend(Arc::new(MySource)))`.
#[derive(Resource, Clone)]
pub struct DialogueBackend(pub Arc<dyn DialogueSource>);

/// The grammar in use (also the fallback); [`version`](Self::version) grows on every reload.
#[derive(Resource, Clone, Debug)]
pub struct ActiveGrammar {
    shared: SharedGrammar,
    version: u64,
}

impl ActiveGrammar {
    /// The grammar now.
    pub fn get(&self) -> Arc<Grammar> {
        self.shared.get()
    }

    /// A handle that follows reloads, for [`GrammarSource::new`].
    pub fn shared(&self) -> &SharedGrammar {
        &self.shared
    }

    /// Grows by one on every change.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Replaces the grammar.
    pub fn replace(&mut self, grammar: Grammar) {
        self.shared.set(grammar);
        self.version += 1;
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

/// A loaded grammar file: the grammar, or why it cannot be used. Loading never fails on content.
#[derive(Asset, TypePath, Debug)]
pub struct GrammarAsset {
    /// The grammar, or what is wrong with the file.
    pub result: Result<Grammar, ConfigError>,
}

/// Reads `.grammar.ron` files into [`GrammarAsset`]s.
#[derive(Default, TypePath)]
pub struct GrammarAssetLoader;

impl AssetLoader for GrammarAssetLoader {
    type Asset = GrammarAsset;
    type Settings = ();
    type Error = ReadError;

    async fn load(
        &self,
        reader: &mut dyn Reader,
        _settings: &(),
        load_context: &mut LoadContext<'_>,
    ) -> Result<GrammarAsset, ReadError> {
        let file = load_context.path().to_string();
        let result = read_text(reader, &file)
            .await?
            .and_then(|src| Grammar::parse(&src, &file));
        Ok(GrammarAsset { result })
    }

    fn extensions(&self) -> &[&str] {
        &["grammar.ron"]
    }
}

/// Which grammar file is followed.
#[derive(Resource, Debug)]
pub struct GrammarFile {
    /// Asset path to load (changing it loads the new file).
    pub path: Option<String>,
    handle: Option<(String, Handle<GrammarAsset>)>,
}

fn load_grammar_file(server: Res<AssetServer>, mut file: ResMut<GrammarFile>) {
    let Some(path) = file.path.clone() else {
        file.handle = None;
        return;
    };
    if file.handle.as_ref().is_some_and(|(p, _)| *p == path) {
        return;
    }
    let handle = server.load::<GrammarAsset>(path.clone());
    file.handle = Some((path, handle));
}

/// The outcome of the latest grammar file load, for UIs and tests.
#[derive(Resource, Clone, Debug, Default)]
pub struct GrammarStatus {
    /// The last load's error, cleared by the next good load.
    pub last_error: Option<ConfigError>,
    /// Good loads so far.
    pub loads: u64,
}

/// A grammar edit that was rejected.
#[derive(Debug, Error)]
#[error("{0} (keeping the last good grammar)")]
struct KeptLastGoodGrammar(ConfigError);

fn apply_grammar_asset(
    mut events: MessageReader<AssetEvent<GrammarAsset>>,
    assets: Res<Assets<GrammarAsset>>,
    file: Res<GrammarFile>,
    mut active: ResMut<ActiveGrammar>,
    mut status: ResMut<GrammarStatus>,
) -> Result {
    let Some((path, handle)) = &file.handle else {
        return Ok(());
    };
    let touched = events.read().any(|event| {
        matches!(event,
            AssetEvent::LoadedWithDependencies { id } | AssetEvent::Modified { id }
                if *id == handle.id())
    });
    let Some(asset) = assets.get(handle.id()).filter(|_| touched) else {
        return Ok(());
    };
    match &asset.result {
        Ok(grammar) => {
            status.last_error = None;
            status.loads += 1;
            active.replace(grammar.clone());
            info!("aigc_world: dialogue grammar loaded from {path}");
            Ok(())
        }
        Err(err) => {
            status.last_error = Some(err.clone());
            Err(BevyError::from(KeptLastGoodGrammar(err.clone())).with_severity(Severity::Warning))
        }
    }
}
