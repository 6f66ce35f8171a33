//! NPCs answering with a local language model in a running app: the settings file chooses the
//! model, the file loads through the asset system, the model worker loads it, and replies
//! stream from it; a missing or broken model leaves the grammar answering. A tiny model written
//! by the test keeps it fast; the real SmolLM2 runs the same path when it is present.

use std::path::Path;
use std::time::Duration;

use aigc_world::ai::llm::tiny_chat::tiny_chat_gguf;
use aigc_world::dialogue::llm::{LanguageModelState, LanguageModelStatus};
use aigc_world::dialogue::{DialogueReply, ReplyEvent, SayToNpc};
use aigc_world::npc::Npc;
use aigc_world::prelude::*;
use aigc_world::texture::TexturePlugin;
use bevy::asset::io::memory::Dir;
use bevy::ecs::message::Messages;
use bevy::prelude::*;
use bevy::time::TimeUpdateStrategy;

use crate::common::{memory_app, run_until, smollm2_path};
use crate::dialogue_app::done_text as done;

/// An app with built-in world, NPC rules and grammar, following `ai/test.llm.ron` in `dir`, and
/// an observer at the origin.
fn app(dir: &Dir) -> App {
    let mut app = memory_app(
        dir,
        (
            TransformPlugin,
            AigcWorldPlugin
                .set(WorldConfigPlugin { path: None })
                .set(NpcPlugin { path: None })
                .set(DialoguePlugin { path: None })
                .set(AiRuntimePlugin {
                    config_path: None,
                    ..default()
                })
                .set(TexturePlugin {
                    path: None,
                    learned: false,
                })
                .set(LanguageModelPlugin {
                    path: Some("ai/test.llm.ron".into()),
                }),
        ),
    );
    app.insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_secs_f64(
        1.0 / 60.0,
    )));
    app.world_mut().spawn((
        WorldObserver {
            view_radius_m: Some(300.0),
        },
        Transform::from_xyz(0.0, 40.0, 0.0),
    ));
    app
}

fn settings(model: &str) -> String {
    format!(
        "(backend: Local(model: \"{model}\"), sampling: (temperature: 0.7), max_reply_tokens: 24, \
         max_reply_chars: 400, first_words_secs: 60.0, reply_secs: 120.0)"
    )
}

fn status(app: &App) -> LanguageModelState {
    app.world().resource::<LanguageModelStatus>().state.clone()
}

/// Says `line` to the first NPC once one stands; returns every reply message until `Done`.
fn talk(app: &mut App, line: &str) -> Vec<DialogueReply> {
    run_until(app, 4000, |app| {
        let mut q = app.world_mut().query::<&Npc>();
        q.iter(app.world()).next().is_some()
    });
    let npc = {
        let mut q = app.world_mut().query::<(Entity, &Npc)>();
        let mut all: Vec<_> = q.iter(app.world()).map(|(e, n)| (n.id, e)).collect();
        all.sort();
        all[0].1
    };
    let mut cursor = app
        .world()
        .resource::<Messages<DialogueReply>>()
        .get_cursor();
    app.world_mut().write_message(SayToNpc::new(npc, line));
    let mut seen = Vec::new();
    run_until(app, 20_000, |app| {
        let messages = app.world().resource::<Messages<DialogueReply>>();
        seen.extend(cursor.read(messages).cloned());
        seen.iter()
            .any(|r| matches!(r.event, ReplyEvent::Done { .. }))
    });
    seen
}

fn started_source(seen: &[DialogueReply]) -> String {
    seen.iter()
        .find_map(|r| match &r.event {
            ReplyEvent::Started { source, .. } => Some(source.clone()),
            _ => None,
        })
        .expect("a Started message")
}

#[test]
fn a_local_model_loads_and_answers_npcs_streamed() {
    let dir = Dir::default();
    dir.insert_asset(
        Path::new("ai/test.llm.ron"),
        settings("models/tiny.gguf").into_bytes(),
    );
    dir.insert_asset(Path::new("models/tiny.gguf"), tiny_chat_gguf(4));
    let mut app = app(&dir);
    run_until(&mut app, 4000, |app| {
        matches!(status(app), LanguageModelState::Ready { .. })
    });
    assert_eq!(
        status(&app),
        LanguageModelState::Ready {
            model: "tiny chat".into()
        }
    );
    let seen = talk(&mut app, "Hello, who are you?");
    assert_eq!(started_source(&seen), "tiny chat");
    let pieces = seen
        .iter()
        .filter(|r| matches!(r.event, ReplyEvent::Piece(_)))
        .count();
    let (text, source, fell_back) = done(&seen);
    assert_eq!((source.as_str(), fell_back), ("tiny chat", false), "{text}");
    // A random model rarely ends a word, so its reply may arrive in one piece; SmolLM2's
    // streams in several (below).
    assert!(pieces >= 1 && !text.is_empty(), "{text:?}");
    assert!(!text.chars().any(char::is_control), "{text:?}");
    // The status shows the reply's figures.
    run_until(&mut app, 600, |app| {
        app.world()
            .resource::<LanguageModelStatus>()
            .last_reply
            .is_some()
    });
    let last = app
        .world()
        .resource::<LanguageModelStatus>()
        .last_reply
        .clone()
        .unwrap();
    assert!(last.prompt_tokens > 0 && last.reply_tokens > 0, "{last:?}");
}

#[test]
fn a_missing_or_corrupt_model_leaves_the_grammar_answering() {
    let dir = Dir::default();
    dir.insert_asset(
        Path::new("ai/test.llm.ron"),
        settings("models/absent.gguf").into_bytes(),
    );
    let mut corrupt = tiny_chat_gguf(4);
    corrupt.truncate(corrupt.len() / 2);
    dir.insert_asset(Path::new("models/corrupt.gguf"), corrupt);
    let mut app = app(&dir);
    run_until(&mut app, 4000, |app| {
        matches!(status(app), LanguageModelState::Failed { .. })
    });
    let seen = talk(&mut app, "Hello");
    assert_eq!(started_source(&seen), "grammar");
    assert_eq!(done(&seen).1, "grammar");

    // Point the settings at a truncated file: the same.
    dir.insert_asset(
        Path::new("ai/test.llm.ron"),
        settings("models/corrupt.gguf").into_bytes(),
    );
    let server = app.world().resource::<AssetServer>().clone();
    server.reload("ai/test.llm.ron");
    run_until(&mut app, 4000, |app| match status(app) {
        LanguageModelState::Failed { model, reason } => {
            model.contains("corrupt") && reason.contains("truncated")
        }
        _ => false,
    });
    let seen = talk(&mut app, "Hello");
    assert_eq!(done(&seen).1, "grammar");
}

#[test]
fn smollm2_answers_an_npc_in_the_game() {
    let Some(path) = smollm2_path() else { return };
    let dir = Dir::default();
    dir.insert_asset(
        Path::new("ai/test.llm.ron"),
        settings("models/smollm2.gguf")
            .replace("max_reply_tokens: 24", "max_reply_tokens: 32")
            .into_bytes(),
    );
    dir.insert_asset(
        Path::new("models/smollm2.gguf"),
        std::fs::read(path).unwrap(),
    );
    let mut app = app(&dir);
    run_until(&mut app, 20_000, |app| {
        matches!(
            status(app),
            LanguageModelState::Ready { .. } | LanguageModelState::Failed { .. }
        )
    });
    let LanguageModelState::Ready { model } = status(&app) else {
        panic!("SmolLM2 did not load: {:?}", status(&app));
    };
    let seen = talk(&mut app, "Hello! What is your work here?");
    assert_eq!(started_source(&seen), model);
    let (text, source, fell_back) = done(&seen);
    println!("SmolLM2 in the game ({source}, fell back: {fell_back}): {text}");
    assert!(text.split_whitespace().count() >= 3, "{text}");
    let pieces = seen
        .iter()
        .filter(|r| matches!(r.event, ReplyEvent::Piece(_)))
        .count();
    assert!(pieces >= 2, "the reply streamed in pieces ({pieces})");
}
