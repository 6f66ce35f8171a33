//! NPCs that answer with a language model: a local Llama-architecture model on the AI
//! runtime's worker, or an OpenAI-compatible server, chosen in `assets/ai/npc.llm.ron`.
//!
//! | piece | what it is |
//! |---|---|
//! | [`settings`] | the `*.llm.ron` file kind: backend, sampling, limits, banned words |
//! | [`prompt`] | persona, surroundings and conversation as a short prompt (pure) |
//! | [`guard`] | what an NPC may say: banned words masked while sampling, the turn's end, length, its own name (pure) |
//! | [`sse`] | server-sent events and streamed chat chunks (pure) |
//! | [`local`] | [`LocalModelSource`]: a model the game runs on the AI runtime's worker, cached prompt prefixes, masked sampling |
//! | [`remote`] | [`RemoteSource`]: a chat-completions server, streamed |
//! | [`LanguageModelPlugin`] | follows the settings file and installs the matching [`DialogueBackend`] |
//!
//! Whatever the backend, the grammar stays the fallback: it answers while a model loads, when
//! the model is missing or broken (one warning), when the first words are late, and when a
//! reply breaks the rules.

pub mod guard;
pub mod local;
pub mod prompt;
pub mod remote;
pub mod settings;
pub mod sse;

use std::sync::Arc;

use bevy::prelude::*;

pub use guard::{FilterStep, ReplyFilter, ReplyGuard, ReplyRejected};
pub use local::{ChatError, LocalModelSource, ReplyStats, generate_reply};
pub use prompt::{Prompt, build_prompt};
pub use remote::RemoteSource;
pub use settings::{
    DEFAULT_LANGUAGE_RON, LanguageBackend, LanguageSettings, LanguageSettingsKind, RemoteSettings,
    SamplingSettings,
};

use super::source::{DialogueRequest, GrammarSource};
use super::{ActiveGrammarShared, DialogueBackend, DialogueSettings};
use crate::ai::llm::loaded::LanguageModelKind;
use crate::ai::{AiJob, AiOutput, AiPriority, AiResponse, AiRuntime, AiSettingsKind, AiTicket};
use crate::kinds::{
    Active, ActiveChanged, FileKindPlugin, FileKindSystems, FileStatus, FollowedFile,
};
use crate::{AigcWorldSystems, AigcWorldUpdate};

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
    /// Figures of the local model's last finished reply.
    pub last_reply: Option<ReplyStats>,
    /// The source this plugin installed last.
    installed: Option<Arc<dyn super::DialogueSource>>,
}

impl std::fmt::Debug for LanguageModelStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LanguageModelStatus")
            .field("source", &self.source)
            .field("state", &self.state)
            .field("last_reply", &self.last_reply)
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
        app.add_plugins((
            FileKindPlugin::<LanguageSettingsKind>::new(
                self.path.clone(),
                LanguageSettings::default(),
            ),
            FileKindPlugin::<LanguageModelKind>::new(None, None),
        ))
        .add_message::<AiResponse>()
        .init_resource::<LanguageModelStatus>()
        .init_resource::<ModelLoad>()
        .add_systems(
            AigcWorldUpdate,
            (
                (
                    apply_language_settings
                        .run_if(on_message::<ActiveChanged<LanguageSettingsKind>>),
                    load_language_model.run_if(
                        on_message::<ActiveChanged<LanguageModelKind>>
                            .or_eager(on_message::<ActiveChanged<AiSettingsKind>>)
                            .or_eager(resource_changed::<FileStatus<LanguageModelKind>>),
                    ),
                )
                    .chain()
                    .after(FileKindSystems)
                    .in_set(AigcWorldSystems::Config),
                (
                    finish_language_model_load.run_if(model_load_pending),
                    // A local reply's figures are stored before its job's response is sent.
                    publish_reply_stats.run_if(on_message::<AiResponse>),
                )
                    .in_set(AigcWorldSystems::Apply),
            ),
        );
    }
}

/// The model being loaded on the worker, and the one loaded.
#[derive(Resource, Default)]
struct ModelLoad {
    /// The load request in flight.
    pending: Option<AiTicket>,
    /// The model file that loaded last (its name), if the worker holds it.
    loaded: Option<String>,
    /// Where local sources put the figures of their last reply.
    last_reply: Arc<std::sync::Mutex<Option<ReplyStats>>>,
}

impl LanguageModelStatus {
    /// Installs `source` as the dialogue backend, unless the backend holds a source that is
    /// not ours (one the game inserted).
    fn install(&mut self, backend: Option<&mut DialogueBackend>, source: DialogueBackend) {
        let Some(backend) = backend else { return };
        let ours = backend.0.name() == "grammar"
            || self
                .installed
                .as_ref()
                .is_some_and(|s| Arc::ptr_eq(s, &backend.0));
        if ours {
            self.source = source.0.name().to_owned();
            self.installed = Some(source.0.clone());
            *backend = source;
        }
    }

    fn fail(&mut self, model: &str, reason: String) {
        warn!("aigc_world: language model {model}: {reason}; the grammar answers");
        self.state = LanguageModelState::Failed {
            model: model.to_owned(),
            reason,
        };
    }
}

fn grammar_backend(grammar: Option<&ActiveGrammarShared>) -> Option<DialogueBackend> {
    grammar.map(|g| DialogueBackend(Arc::new(GrammarSource::new(g.0.clone()))))
}

/// Installs the backend the settings choose whenever they change; for a local model, follows
/// its file (loading it) and keeps the grammar answering until it is ready.
fn apply_language_settings(
    mut changed: MessageReader<ActiveChanged<LanguageSettingsKind>>,
    active: Res<Active<LanguageSettingsKind>>,
    grammar: Option<Res<ActiveGrammarShared>>,
    mut backend: Option<ResMut<DialogueBackend>>,
    mut dialogue: Option<ResMut<DialogueSettings>>,
    mut model_file: ResMut<FollowedFile<LanguageModelKind>>,
    mut load: ResMut<ModelLoad>,
    runtime: Option<Res<AiRuntime>>,
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
    let backend = backend.as_deref_mut();
    let LanguageBackend::Local { model } = &settings.backend else {
        // Not a local model: free the one the worker holds.
        model_file.path = None;
        if load.loaded.take().is_some()
            && let Some(runtime) = &runtime
        {
            runtime.submit(AiPriority::Normal, AiJob::UnloadLanguageModel);
        }
        load.pending = None;
        match settings.backend.remote().map(|r| r.endpoint) {
            None => {
                if let Some(grammar) = grammar_backend(grammar.as_deref()) {
                    status.install(backend, grammar);
                }
                status.state = LanguageModelState::Off;
            }
            Some(endpoint) => match RemoteSource::new(settings.clone()) {
                Some(remote) => {
                    status.install(backend, DialogueBackend(Arc::new(remote)));
                    status.state = LanguageModelState::Ready { model: endpoint };
                }
                None => status.fail(&endpoint, "could not start the request thread".into()),
            },
        }
        return;
    };
    let Some(runtime) = runtime else {
        status.fail(model, "the AI runtime plugin is not added".into());
        return;
    };
    if model_file.path.as_deref() == Some(model.as_str()) && load.loaded.is_some() {
        // Same model, new settings: answer with them at once.
        let source = LocalModelSource::new(&status.source, settings.clone(), runtime.submitter())
            .reporting_to(load.last_reply.clone());
        status.install(backend, DialogueBackend(Arc::new(source)));
        return;
    }
    model_file.path = Some(model.clone());
    status.state = LanguageModelState::Loading {
        model: model.clone(),
        progress: 0.1,
    };
    if let Some(grammar) = grammar_backend(grammar.as_deref()) {
        status.install(backend, grammar);
    }
}

/// Sends a newly read model file to the worker (and again when the AI backend changes), and
/// reports a file that could not be used.
fn load_language_model(
    mut files: MessageReader<ActiveChanged<LanguageModelKind>>,
    mut devices: MessageReader<ActiveChanged<AiSettingsKind>>,
    file: Res<Active<LanguageModelKind>>,
    file_status: Res<FileStatus<LanguageModelKind>>,
    followed: Res<FollowedFile<LanguageModelKind>>,
    runtime: Option<Res<AiRuntime>>,
    mut load: ResMut<ModelLoad>,
    mut status: ResMut<LanguageModelStatus>,
) {
    let new_file = files.read().count() > 0;
    let new_device = devices.read().count() > 0 && load.loaded.is_some();
    let (Some(path), Some(runtime)) = (followed.path.as_deref(), runtime) else {
        return;
    };
    if new_file || new_device {
        if let Some(model) = file.config().as_ref() {
            status.state = LanguageModelState::Loading {
                model: path.to_owned(),
                progress: 0.6,
            };
            load.pending = Some(runtime.submit(
                AiPriority::Normal,
                AiJob::LoadLanguageModel(Arc::new(model.clone())),
            ));
        }
        return;
    }
    // The file could not be read or parsed, and no model is loaded: say so (the file kind
    // has logged the reason once).
    if file_status.is_changed()
        && load.loaded.is_none()
        && load.pending.is_none()
        && let Some(error) = &file_status.last_error
    {
        status.state = LanguageModelState::Failed {
            model: path.to_owned(),
            reason: error.to_string(),
        };
    }
}

/// Whether a model is being loaded on the worker.
fn model_load_pending(load: Res<ModelLoad>) -> bool {
    load.pending.is_some()
}

/// Installs the local model's source when the worker has loaded it.
fn finish_language_model_load(
    mut responses: MessageReader<AiResponse>,
    active: Res<Active<LanguageSettingsKind>>,
    followed: Res<FollowedFile<LanguageModelKind>>,
    runtime: Option<Res<AiRuntime>>,
    mut backend: Option<ResMut<DialogueBackend>>,
    mut load: ResMut<ModelLoad>,
    mut status: ResMut<LanguageModelStatus>,
) {
    let Some(pending) = load.pending.as_ref().map(|t| t.id) else {
        responses.clear();
        return;
    };
    let Some(response) = responses.read().find(|r| r.0.id == pending) else {
        return;
    };
    load.pending = None;
    let path = followed.path.clone().unwrap_or_default();
    match &response.0.output {
        Ok(AiOutput::LanguageModel(info)) => {
            let Some(runtime) = runtime else { return };
            info!(
                "aigc_world: NPC language model {} ({:.0}M parameters, {:.0} MB) ready on the {} engine",
                info.name,
                info.parameters as f64 / 1e6,
                info.resident_bytes as f64 / 1e6,
                info.engine
            );
            load.loaded = Some(info.name.clone());
            let source = LocalModelSource::new(&info.name, active.get(), runtime.submitter())
                .reporting_to(load.last_reply.clone());
            status.install(backend.as_deref_mut(), DialogueBackend(Arc::new(source)));
            status.state = LanguageModelState::Ready {
                model: info.name.clone(),
            };
        }
        Ok(_) => {}
        Err(e) => {
            load.loaded = None;
            status.fail(&path, e.to_string());
        }
    }
}

/// Copies the figures of a newly finished local reply into [`LanguageModelStatus`].
fn publish_reply_stats(load: Res<ModelLoad>, mut status: ResMut<LanguageModelStatus>) {
    let Some(stats) = load.last_reply.lock().ok().and_then(|mut s| s.take()) else {
        return;
    };
    status.last_reply = Some(stats);
}
