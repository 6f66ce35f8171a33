//! Grammar dialogue, pure: deterministic, grounded in world facts, clear errors for broken
//! grammars, no panics on any input.

use std::sync::Arc;

use aigc_world::config::{DEFAULT_WORLD_RON, parse_world};
use aigc_world::dialogue::intent::recognise;
use aigc_world::dialogue::{
    DEFAULT_GRAMMAR_RON, DialogueRequest, Grammar, Intent, RequestId, grammar_reply,
};
use aigc_world::npc::facts::{Speaker, Turn, WorldFacts, survey};
use aigc_world::npc::rng::Rng;
use aigc_world::npc::{NpcConfig, NpcRecord, NpcWorld, Persona, populate_chunk};
use aigc_world::terrain::{ChunkCoord, TerrainGenerator};

fn terrain(seed: u64) -> TerrainGenerator {
    let mut world = parse_world(DEFAULT_WORLD_RON, "default").unwrap();
    world.seed = seed;
    TerrainGenerator::new(&world).unwrap()
}

pub(crate) fn request(
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
        distance_m: 0.0,
    }
}

/// NPCs of the default world with `seed` near the origin.
pub(crate) fn people(seed: u64, radius: i32) -> Vec<NpcRecord> {
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
pub(crate) fn nasty_lines() -> Vec<String> {
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
