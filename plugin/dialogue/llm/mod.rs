//! NPCs that answer with a language model: a local Llama-architecture model on the AI
//! runtime's worker, or an OpenAI-compatible server, chosen in `assets/ai/npc.llm.ron`.
//!
//! | piece | what it is |
//! |---|---|
//! | [`settings`] | the `*.llm.ron` file kind: backend, sampling, limits, banned words |
//! | [`prompt`] | persona, surroundings and conversation as a short prompt (pure) |
//! | [`guard`] | what an NPC may say: banned words masked while sampling, the turn's end, length, its own name (pure) |
//! | [`sse`] | server-sent events and streamed chat chunks (pure) |
//! | [`remote`] | [`RemoteSource`]: a chat-completions server, streamed |
//! | [`LanguageModelPlugin`] | follows the settings file and installs the matching [`DialogueBackend`] |
//!
//! Whatever the backend, the grammar stays the fallback: it answers while a model loads, when
//! the model is missing or broken (one warning), when the first words are late, and when a
//! reply breaks the rules.

pub mod guard;
pub mod prompt;
pub mod remote;
pub mod settings;
pub mod sse;

use std::sync::Arc;

use bevy::prelude::*;

pub use guard::{FilterStep, ReplyFilter, ReplyGuard, ReplyRejected};
pub use prompt::{Prompt, build_prompt};
pub use remote::RemoteSource;
pub use settings::{
    DEFAULT_LANGUAGE_RON, LanguageBackend, LanguageSettings, LanguageSettingsKind, RemoteSettings,
    SamplingSettings,
};

use super::source::{DialogueRequest, GrammarSource};
use super::{ActiveGrammarShared, DialogueBackend, DialogueSettings};
use crate::AigcWorldSystems;
use crate::kinds::{Active, ActiveChanged, FileKindPlugin, FileKindSystems};

/// The seed of one reply: the world seed, the NPC and how far the conversation has got, so the
/// same conversation gets the same reply on the CPU backend.
pub fn reply_seed(request: &DialogueRequest) -> u64 {
    crate::npc::rng::hash_words(&[
        request.seed,
        request.npc.0,
        request.history().len() as u64,
        0x11_7e_57,
    ])
}

/// Follows the language model settings (`ai/npc.llm.ron` by default) and answers NPC dialogue
/// with the backend they choose. Needs [`DialoguePlugin`](super::DialoguePlugin). It manages
/// [`DialogueBackend`] only while that holds the grammar or a source this plugin installed: a
/// source of your own that you insert is left alone.
#[derive(Clone, Debug)]
pub struct LanguageModelPlugin {
    /// Asset path of the settings file, or `None` for the grammar only.
    pub path: Option<String>,
}

impl Default for LanguageModelPlugin {
    fn default() -> Self {
        Self {
            path: Some("ai/npc.llm.ron".into()),
        }
    }
}

/// Where NPC replies come from now, for UIs and tests.
#[derive(Resource, Clone, Default)]
pub struct LanguageModelStatus {
    /// The source answering (`grammar` until a model is ready).
    pub source: String,
    /// What is happening.
    pub state: LanguageModelState,
    /// The source this plugin installed last.
    installed: Option<Arc<dyn super::DialogueSource>>,
}

impl std::fmt::Debug for LanguageModelStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LanguageModelStatus")
            .field("source", &self.source)
            .field("state", &self.state)
            .finish()
    }
}

/// What the language model is doing.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum LanguageModelState {
    /// The settings say `Off`: the grammar answers.
    #[default]
    Off,
    /// The model is being read or prepared; `progress` runs from 0 to 1.
    Loading {
        /// Which model.
        model: String,
        /// How far along.
        progress: f32,
    },
    /// Answering.
    Ready {
        /// Which model or server.
        model: String,
    },
    /// The model could not be used; the grammar answers.
    Failed {
        /// Which model.
        model: String,
        /// Why.
        reason: String,
    },
}

impl Plugin for LanguageModelPlugin {
    fn build(&self, app: &mut App) {
        crate::configure_sets(app);
        app.add_plugins(FileKindPlugin::<LanguageSettingsKind>::new(
            self.path.clone(),
            LanguageSettings::default(),
        ))
        .init_resource::<LanguageModelStatus>()
        .add_systems(
            Update,
            apply_language_settings
                .after(FileKindSystems)
                .in_set(AigcWorldSystems::Config),
        );
    }
}

/// Installs the backend the settings choose whenever they change.
fn apply_language_settings(
    mut changed: MessageReader<ActiveChanged<LanguageSettingsKind>>,
    active: Res<Active<LanguageSettingsKind>>,
    grammar: Option<Res<ActiveGrammarShared>>,
    mut backend: Option<ResMut<DialogueBackend>>,
    mut dialogue: Option<ResMut<DialogueSettings>>,
    mut status: ResMut<LanguageModelStatus>,
) {
    if changed.read().count() == 0 {
        return;
    }
    let settings = active.get();
    if let Some(dialogue) = dialogue.as_mut() {
        dialogue.first_words_secs = settings.first_words_secs;
        dialogue.deadline_secs = settings.reply_secs.max(settings.first_words_secs);
    }
    let grammar_source = || -> Option<DialogueBackend> {
        grammar
            .as_ref()
            .map(|g| DialogueBackend(Arc::new(GrammarSource::new(g.0.clone()))))
    };
    let (source, state) = match &settings.backend {
        LanguageBackend::Off => (grammar_source(), LanguageModelState::Off),
        LanguageBackend::Remote { endpoint, .. } => match RemoteSource::new(settings.clone()) {
            Some(remote) => (
                Some(DialogueBackend(Arc::new(remote))),
                LanguageModelState::Ready {
                    model: endpoint.clone(),
                },
            ),
            None => (
                grammar_source(),
                LanguageModelState::Failed {
                    model: endpoint.clone(),
                    reason: "could not start the request thread".into(),
                },
            ),
        },
        LanguageBackend::Local { model } => (
            grammar_source(),
            LanguageModelState::Failed {
                model: model.clone(),
                reason: "local models are not available in this build".into(),
            },
        ),
    };
    if let (Some(source), Some(backend)) = (source, backend.as_mut()) {
        let ours = backend.0.name() == "grammar"
            || status
                .installed
                .as_ref()
                .is_some_and(|s| Arc::ptr_eq(s, &backend.0));
        if ours {
            status.source = source.0.name().to_owned();
            status.installed = Some(source.0.clone());
            **backend = source;
        }
    }
    if let LanguageModelState::Failed { model, reason } = &state {
        warn!("aigc_world: language model {model}: {reason}; the grammar answers");
    }
    status.state = state;
}
