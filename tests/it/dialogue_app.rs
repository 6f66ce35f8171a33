//! Dialogue in a running app: streamed replies, late sources and the deadline fallback, memory
//! across chunk reloads, grammar hot reload, and any player input.

use std::path::Path;
use std::sync::{Arc, Mutex};

use aigc_world::dialogue::{
    ActiveGrammar, DEFAULT_GRAMMAR_RON, DialogueBackend, DialoguePlugin, DialogueReply,
    DialogueRequest, DialogueSettings, DialogueSource, GrammarStatus, Intent, MemoryCache,
    NpcMemory, ReplyEvent, ReplySink, SayToNpc, grammar_reply,
};
use aigc_world::npc::Npc;
use bevy::asset::io::memory::Dir;
use bevy::ecs::message::{MessageCursor, Messages};
use bevy::prelude::*;

use crate::common::run_until;
use crate::dialogue::{nasty_lines, people, request};
use crate::npc::{npc_app, settle};

/// Collects every `DialogueReply` written since the last call.
struct Replies(MessageCursor<DialogueReply>);

impl Replies {
    fn new(app: &App) -> Self {
        Self(
            app.world()
                .resource::<Messages<DialogueReply>>()
                .get_cursor(),
        )
    }
    fn read(&mut self, app: &App) -> Vec<DialogueReply> {
        self.0
            .read(app.world().resource::<Messages<DialogueReply>>())
            .cloned()
            .collect()
    }
}

fn first_npc(app: &mut App) -> (Entity, Npc) {
    let mut q = app.world_mut().query::<(Entity, &Npc)>();
    let mut all: Vec<(Entity, Npc)> = q.iter(app.world()).map(|(e, n)| (e, n.clone())).collect();
    all.sort_by_key(|(_, n)| n.id);
    all.into_iter().next().expect("an NPC")
}

/// Updates until a `Done` arrives; returns every reply message seen.
fn until_done(app: &mut App, replies: &mut Replies) -> Vec<DialogueReply> {
    let mut seen = Vec::new();
    run_until(app, 600, |app| {
        seen.extend(replies.read(app));
        seen.iter()
            .any(|r| matches!(r.event, ReplyEvent::Done { .. }))
    });
    seen
}

/// The text, source and fallback flag of the `Done` message among `seen`.
pub(crate) fn done_text(seen: &[DialogueReply]) -> (String, String, bool) {
    seen.iter()
        .find_map(|r| match &r.event {
            ReplyEvent::Done {
                text,
                source,
                fell_back,
            } => Some((text.clone(), source.clone(), *fell_back)),
            _ => None,
        })
        .unwrap()
}

#[test]
fn replies_stream_and_memory_survives_a_chunk_reload() {
    let (mut app, observer) = npc_app(0.0, 0.0);
    settle(&mut app);
    let (e, npc) = first_npc(&mut app);
    let mut replies = Replies::new(&app);

    app.world_mut().write_message(SayToNpc::open(e));
    let seen = until_done(&mut app, &mut replies);
    assert!(matches!(
        seen[0].event,
        ReplyEvent::Started {
            intent: Intent::Greet,
            ..
        }
    ));
    let streamed: String = seen
        .iter()
        .filter_map(|r| match &r.event {
            ReplyEvent::Piece(p) => Some(p.as_str()),
            _ => None,
        })
        .collect();
    let (greeting, source, fell_back) = done_text(&seen);
    assert_eq!(streamed.trim(), greeting);
    assert_eq!((source.as_str(), fell_back), ("grammar", false));

    app.world_mut()
        .write_message(SayToNpc::new(e, "Where is the nearest village?"));
    let (directions, _, _) = done_text(&until_done(&mut app, &mut replies));
    let memory = app.world().get::<NpcMemory>(e).unwrap().clone();
    let said: Vec<&str> = memory.turns.iter().map(|t| t.text.as_str()).collect();
    assert_eq!(
        said,
        [
            greeting.as_str(),
            "Where is the nearest village?",
            directions.as_str()
        ]
    );
    if let Some(t) = &npc.surroundings.settlement {
        assert!(directions.contains(&t.name), "{directions}");
    }

    // Walk away: the NPC despawns, its memory waits in the cache.
    app.world_mut()
        .get_mut::<Transform>(observer)
        .unwrap()
        .translation = Vec3::new(3000.0, 40.0, 0.0);
    settle(&mut app);
    assert!(app.world().get_entity(e).is_err());
    assert!(!app.world().resource::<MemoryCache>().is_empty());

    // Come back: a new entity, the same NPC, the same memory.
    app.world_mut()
        .get_mut::<Transform>(observer)
        .unwrap()
        .translation = Vec3::new(0.0, 40.0, 0.0);
    settle(&mut app);
    let mut q = app.world_mut().query::<(&Npc, &NpcMemory)>();
    let back = q
        .iter(app.world())
        .find(|(n, _)| n.id == npc.id)
        .map(|(_, m)| m.clone())
        .expect("NPC is back");
    assert_eq!(back, memory);
}

/// A source that answers only when the test says so, like a slow model.
#[derive(Default, Clone)]
struct Held(Arc<Mutex<Vec<(DialogueRequest, ReplySink)>>>);

impl DialogueSource for Held {
    fn name(&self) -> &str {
        "held"
    }
    fn respond(&self, request: DialogueRequest, reply: ReplySink) {
        self.0.lock().unwrap().push((request, reply));
    }
}

#[test]
fn late_pieces_stream_in_and_a_missed_deadline_falls_back_to_the_grammar() {
    let (mut app, _) = npc_app(0.0, 0.0);
    let held = Held::default();
    app.insert_resource(DialogueBackend(Arc::new(held.clone())));
    app.world_mut()
        .resource_mut::<DialogueSettings>()
        .deadline_secs = 1.0;
    settle(&mut app);
    let (e, _) = first_npc(&mut app);
    let mut replies = Replies::new(&app);

    // Pieces arriving frames apart are forwarded as they come.
    app.world_mut()
        .write_message(SayToNpc::new(e, "who are you?"));
    for _ in 0..5 {
        app.update();
    }
    let (request, sink) = held
        .0
        .lock()
        .unwrap()
        .pop()
        .expect("the source got the request");
    assert_eq!(request.intent, Intent::AboutYou);
    assert_eq!(request.player_line, "who are you?");
    sink.piece("I am ");
    app.update();
    app.update();
    sink.piece("a slow model.");
    sink.finish();
    let seen = until_done(&mut app, &mut replies);
    assert_eq!(
        done_text(&seen),
        ("I am a slow model.".into(), "held".into(), false)
    );

    // A source that never finishes: the grammar answers once the deadline passes (60 frames).
    app.world_mut().write_message(SayToNpc::new(e, "any news?"));
    app.update();
    let (request, sink) = held.0.lock().unwrap().pop().unwrap();
    sink.piece("Well, they say");
    let seen = until_done(&mut app, &mut replies);
    assert!(seen.iter().any(|r| r.event == ReplyEvent::Restart));
    let (text, source, fell_back) = done_text(&seen);
    assert_eq!((source.as_str(), fell_back), ("grammar", true));
    let grammar = app.world().resource::<ActiveGrammar>().get();
    assert_eq!(text, grammar_reply(&grammar, &request));
    assert!(
        !sink.piece("...too late"),
        "the sink still had a listener after the deadline"
    );
}

#[test]
fn random_player_input_never_panics_in_the_app() {
    let (mut app, _) = npc_app(0.0, 0.0);
    settle(&mut app);
    let (e, _) = first_npc(&mut app);
    let mut replies = Replies::new(&app);
    let lines = nasty_lines();
    for line in lines.iter().take(40) {
        app.world_mut()
            .write_message(SayToNpc::new(e, line.clone()));
        let (text, _, _) = done_text(&until_done(&mut app, &mut replies));
        assert!(!text.is_empty());
    }
    let memory = app.world().get::<NpcMemory>(e).unwrap();
    assert!(memory.turns.len() <= app.world().resource::<DialogueSettings>().memory_turns);
    assert!(memory.turns.iter().all(|t| t.text.chars().count() <= 600));
}

const GRAMMAR_PATH: &str = "dialogue/test.grammar.ron";

/// An app with only the dialogue plugin, reading files from the in-memory `dir`.
fn memory_app(dir: &Dir) -> App {
    crate::common::memory_app(
        dir,
        DialoguePlugin {
            path: Some(GRAMMAR_PATH.into()),
        },
    )
}

#[test]
fn grammar_hot_reload_applies_good_edits_and_keeps_the_last_good_grammar() {
    let dir = Dir::default();
    let good = |word: &str| {
        DEFAULT_GRAMMAR_RON.replace("(text: \"Hello\",", &format!("(text: \"{word}\","))
    };
    dir.insert_asset_text(Path::new(GRAMMAR_PATH), &good("Howdy"));
    let mut app = memory_app(&dir);
    run_until(&mut app, 600, |app| {
        app.world().resource::<ActiveGrammar>().version() == 2
    });
    let has = |app: &App, word: &str| {
        let g = app.world().resource::<ActiveGrammar>().get();
        let folk = people(1337, 2);
        (0..40).any(|turns| {
            folk.iter().any(|r| {
                grammar_reply(&g, &request(r, Intent::Greet, "", 15.0, turns, 1)).contains(word)
            })
        })
    };
    assert!(has(&app, "Howdy"));

    // A broken edit: the error names file, line and column; the last good grammar stays.
    let broken = good("Hiya").replacen("#hello#, #stranger#.", "#hello#, #strnger#.", 1);
    let line = broken
        .lines()
        .position(|l| l.contains("#strnger#"))
        .unwrap()
        + 1;
    dir.insert_asset_text(Path::new(GRAMMAR_PATH), &broken);
    app.world().resource::<AssetServer>().reload(GRAMMAR_PATH);
    run_until(&mut app, 600, |app| {
        app.world().resource::<GrammarStatus>().last_error.is_some()
    });
    let err = app
        .world()
        .resource::<GrammarStatus>()
        .last_error
        .clone()
        .unwrap();
    assert_eq!((err.file.as_str(), err.line), (GRAMMAR_PATH, line), "{err}");
    assert!(
        err.to_string()
            .contains("unknown symbol `strnger` in rule `greet`"),
        "{err}"
    );
    assert_eq!(app.world().resource::<ActiveGrammar>().version(), 2);
    assert!(has(&app, "Howdy"));

    // The fix applies and clears the error.
    dir.insert_asset_text(Path::new(GRAMMAR_PATH), &good("Hiya"));
    app.world().resource::<AssetServer>().reload(GRAMMAR_PATH);
    run_until(&mut app, 600, |app| {
        app.world().resource::<ActiveGrammar>().version() == 3
    });
    assert!(app.world().resource::<GrammarStatus>().last_error.is_none());
    assert!(has(&app, "Hiya"));
}
