//! Grammar dialogue: deterministic, grounded in world facts, clear errors for broken grammars,
//! no panics on any input, streaming replies with a deadline, and memory across chunk reloads.

use std::sync::{Arc, Mutex};

use aigc_world::config::{DEFAULT_WORLD_RON, parse_world};
use aigc_world::dialogue::intent::recognise;
use aigc_world::dialogue::{
    ActiveGrammar, DialogueBackend, DialogueReply, DialogueRequest, DialogueSettings,
    DialogueSource, Grammar, GrammarStatus, Intent, MemoryCache, NpcMemory, ReplyEvent, ReplySink,
    RequestId, SayToNpc, grammar_reply,
};
use aigc_world::npc::facts::{Speaker, Turn, WorldFacts, survey};
use aigc_world::npc::rng::Rng;
use aigc_world::npc::{Npc, NpcConfig, NpcRecord, NpcWorld, Persona, populate_chunk};
use aigc_world::terrain::{ChunkCoord, TerrainGenerator};
use std::path::Path;

use aigc_world::dialogue::{DEFAULT_GRAMMAR_RON, DialoguePlugin};
use bevy::asset::io::memory::{Dir, MemoryAssetReader};
use bevy::asset::io::{AssetSourceBuilder, AssetSourceId};
use bevy::ecs::message::{MessageCursor, Messages};
use bevy::prelude::*;

use crate::common::run_until;
use crate::npc::{npc_app, settle};

fn terrain(seed: u64) -> TerrainGenerator {
    let mut world = parse_world(DEFAULT_WORLD_RON, "default").unwrap();
    world.seed = seed;
    TerrainGenerator::new(&world).unwrap()
}

fn request(
    record: &NpcRecord,
    intent: Intent,
    line: &str,
    hours: f32,
    turns: usize,
    seed: u64,
) -> DialogueRequest {
    let recent = (0..turns)
        .map(|i| Turn {
            speaker: if i % 2 == 0 {
                Speaker::Npc
            } else {
                Speaker::Player
            },
            text: format!("line {i}"),
        })
        .collect();
    DialogueRequest {
        id: RequestId(1),
        npc: record.placed.id,
        persona: Arc::clone(&record.persona),
        player_line: line.to_owned(),
        intent,
        facts: WorldFacts::new((*record.surroundings).clone(), hours, recent),
        seed,
    }
}

/// NPCs of the default world with `seed` near the origin.
fn people(seed: u64, radius: i32) -> Vec<NpcRecord> {
    let (t, config) = (terrain(seed), NpcConfig::builtin());
    let mut world = NpcWorld::new(seed, &t, &config);
    (-radius..radius)
        .flat_map(|z| (-radius..radius).map(move |x| ChunkCoord::new(x, z)))
        .flat_map(|c| populate_chunk(&mut world, c))
        .collect()
}

#[test]
fn each_intent_is_answered_from_the_npcs_own_facts() {
    let grammar = Grammar::builtin();
    let folk = people(1337, 6);
    assert!(folk.len() >= 5);
    for r in &folk {
        let s = &r.surroundings;
        for intent in Intent::ALL {
            for turns in 0..4 {
                let reply = grammar_reply(&grammar, &request(r, intent, "", 10.0, turns, 1337));
                assert!(
                    reply.len() > 2 && !reply.contains('#'),
                    "{intent:?}: {reply:?}"
                );
                match intent {
                    Intent::Directions => match &s.settlement {
                        Some(t) => assert!(
                            reply.contains(&t.name),
                            "directions without {}: {reply}",
                            t.name
                        ),
                        None => assert!(
                            reply.to_lowercase().contains("village")
                                || reply.contains("Settlements")
                        ),
                    },
                    Intent::AboutYou => assert!(reply.contains(&r.persona.name), "{reply}"),
                    Intent::Trade => assert!(
                        r.persona
                            .wares
                            .iter()
                            .any(|w| reply.to_lowercase().contains(&w.to_lowercase()))
                            || reply.contains(&r.persona.occupation),
                        "{reply}"
                    ),
                    Intent::Land => {
                        let grounded = reply.contains(&s.biome)
                            || ["north", "south", "east", "west", "shore", "hollow", "Flat"]
                                .iter()
                                .any(|w| reply.contains(w));
                        assert!(grounded, "land reply says nothing about the land: {reply}");
                    }
                    _ => {}
                }
            }
        }
    }
}

#[test]
fn a_desert_npc_never_talks_about_snow_it_cannot_see() {
    let grammar = Grammar::builtin();
    let config = NpcConfig::builtin();
    let mut checked = 0;
    for seed in [1337u64, 7, 99, 2024, 5] {
        let t = terrain(seed);
        let mut world = NpcWorld::new(seed, &t, &config);
        let mut desert = Vec::new();
        'scan: for z in -40..40 {
            for x in -40..40 {
                for placed in world.place_chunk(ChunkCoord::new(x, z)) {
                    if placed.biome == "desert" {
                        desert.push(placed);
                        if desert.len() >= 3 {
                            break 'scan;
                        }
                    }
                }
            }
        }
        for placed in desert {
            let s = survey(
                &mut world,
                f64::from(placed.position[0]),
                f64::from(placed.position[2]),
            );
            if s.seen_biomes.iter().any(|b| b == "snow") {
                continue;
            }
            let record = NpcRecord {
                persona: Arc::new(Persona::generate(
                    seed,
                    placed.id,
                    &placed.culture,
                    None,
                    &config,
                )),
                surroundings: Arc::new(s),
                placed,
            };
            for intent in Intent::ALL {
                for hours in [3.0, 8.0, 14.0, 19.0] {
                    for turns in 0..6 {
                        let reply = grammar_reply(
                            &grammar,
                            &request(&record, intent, "", hours, turns, seed),
                        );
                        assert!(
                            !reply.to_lowercase().contains("snow"),
                            "desert NPC: {reply}"
                        );
                    }
                }
            }
            // The same NPC with snow in sight may mention it: the silence above is grounding,
            // not a grammar that never says "snow".
            let mut sees_snow = (*record.surroundings).clone();
            sees_snow.seen_biomes.push("snow".into());
            let record = NpcRecord {
                surroundings: Arc::new(sees_snow),
                ..record
            };
            let mentions = (0..60).any(|turns| {
                grammar_reply(
                    &grammar,
                    &request(&record, Intent::Land, "", 14.0, turns, seed),
                )
                .to_lowercase()
                .contains("snow")
            });
            assert!(mentions, "an NPC that sees snow never mentions it");
            checked += 1;
        }
    }
    assert!(checked >= 3, "found only {checked} desert NPCs to ask");
}

#[test]
fn grammar_expansion_is_deterministic_per_seed() {
    let grammar = Grammar::builtin();
    let folk = people(1337, 4);
    let all = |seed: u64| -> Vec<String> {
        folk.iter()
            .flat_map(|r| {
                Intent::ALL.map(|i| grammar_reply(&grammar, &request(r, i, "hi", 12.0, 2, seed)))
            })
            .collect()
    };
    assert_eq!(all(1), all(1));
    let (a, b) = (all(1), all(2));
    let differ = a.iter().zip(&b).filter(|(x, y)| x != y).count();
    assert!(
        differ > a.len() / 10,
        "another seed changed only {differ} of {} replies",
        a.len()
    );
}

#[test]
fn broken_grammars_give_file_line_and_column() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/grammar_corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 15,
        "the corpus has only {} files",
        files.len()
    );
    let mut wrong = Vec::new();
    for path in files {
        let src = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // First line: `// expect: LINE:COLUMN: words the message must contain`
        let expect = src
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("// expect: "))
            .unwrap_or_else(|| panic!("{name}: no expect line"));
        let mut parts = expect.splitn(3, ':');
        let line: usize = parts.next().unwrap().trim().parse().unwrap();
        let column: usize = parts.next().unwrap().trim().parse().unwrap();
        let words = parts.next().unwrap().trim();
        let shown = match Grammar::parse(&src, &name) {
            Ok(_) => {
                wrong.push(format!("{name}: parsed without error"));
                continue;
            }
            Err(err) => err.to_string(),
        };
        if !shown.starts_with(&format!("{name}:{line}:{column}: ")) || !shown.contains(words) {
            wrong.push(format!(
                "{name}: expected {line}:{column} with {words:?}, got {shown:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Lines a player might type, and some nobody should.
fn nasty_lines() -> Vec<String> {
    let mut rng = Rng::new(&[99]);
    let mut lines: Vec<String> = [
        "",
        " ",
        "\n\t",
        "?",
        "#name#",
        "\\#",
        "😀😀😀 where 🗺️",
        "مرحبا أين القرية",
        "Grüß Gott! Wo ist das Dorf?",
        "\u{0}\u{1}\u{7f}",
        "\u{202e}olleh",
        "WHERE IS THE VILLAGE",
        "bye bye bye bye",
    ]
    .map(String::from)
    .to_vec();
    lines.push("where ".repeat(200_000));
    lines.push("ü".repeat(100_000));
    for _ in 0..200 {
        let n = rng.below(80);
        lines.push(
            (0..n)
                .map(|_| char::from_u32(rng.below(0x11_0000) as u32).unwrap_or('?'))
                .collect(),
        );
    }
    lines
}

#[test]
fn random_player_input_never_panics() {
    let grammar = Grammar::builtin();
    let folk = people(1337, 3);
    let r = folk.first().unwrap();
    for line in nasty_lines() {
        let intent = recognise(&grammar, &line);
        let reply = grammar_reply(&grammar, &request(r, intent, &line, 23.9, 7, 1337));
        assert!(!reply.is_empty() && reply.chars().count() <= 600);
    }
}

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

fn done_text(seen: &[DialogueReply]) -> (String, String, bool) {
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
    let mut app = App::new();
    let reader_dir = dir.clone();
    app.register_asset_source(
        AssetSourceId::Default,
        AssetSourceBuilder::new(move || {
            Box::new(MemoryAssetReader {
                root: reader_dir.clone(),
            })
        }),
    )
    .add_plugins((
        MinimalPlugins,
        AssetPlugin {
            watch_for_changes_override: Some(false),
            ..default()
        },
        DialoguePlugin {
            path: Some(GRAMMAR_PATH.into()),
        },
    ));
    app.finish();
    app.cleanup();
    app
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

#[test]
fn every_shipped_grammar_and_npc_file_is_valid() {
    let mut count = 0;
    for dir in ["assets/dialogue", "assets/npc"] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let src = std::fs::read_to_string(&path).unwrap();
            let name = path.display().to_string();
            let ok = if name.ends_with(".grammar.ron") {
                Grammar::parse(&src, &name).map(drop)
            } else {
                NpcConfig::parse(&src, &name).map(drop)
            };
            if let Err(e) = ok {
                panic!("{e}");
            }
            count += 1;
        }
    }
    assert!(count >= 2);
    assert_eq!(
        std::fs::read_to_string("assets/dialogue/default.grammar.ron").unwrap(),
        DEFAULT_GRAMMAR_RON
    );
}
