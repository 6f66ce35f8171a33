//! The prompt an NPC's language model answers: who the NPC is and what it sees (the system
//! text, fixed for the NPC while it stands there, so its key/value cache can be kept), then the
//! recent conversation and the player's line. Kept short: a small model follows a few plain
//! sentences better than a long brief, and every token costs time. Pure Rust, no Bevy.
//!
//! Nothing here is trusted markup: names, facts and the player's words are message contents,
//! which the chat template and tokenizer encode as plain text.

use super::settings::LanguageSettings;
use crate::clock::DayPeriod;
use crate::dialogue::source::DialogueRequest;
use crate::npc::facts::{Landmark, Speaker, Surroundings, distance_words};
use crate::npc::persona::Persona;

/// What the model is given for one reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prompt {
    /// The NPC's instructions: persona, surroundings, how to answer. The same for every line
    /// said to this NPC at this time of day, so its processed form can be cached.
    pub system: String,
    /// The conversation, oldest first, ending with the player's line.
    pub turns: Vec<(Speaker, String)>,
}

/// The player's line when they walk up without a word.
pub const OPENING_LINE: &str = "Hello!";

/// Builds the prompt for `request`.
pub fn build_prompt(request: &DialogueRequest, settings: &LanguageSettings) -> Prompt {
    let facts = &request.facts;
    let mut system = persona_text(&request.persona);
    system.push(' ');
    system.push_str(&surroundings_text(&facts.surroundings, &request.persona));
    system.push_str(&format!(" It is {}.", period_words(facts.period)));
    system.push_str(&format!(
        " A traveller is talking to you. Answer as {} in one or two short sentences of plain \
         speech, in character, about yourself, your work and this place. Never mention being \
         a program.",
        first_name(&request.persona.name)
    ));
    let extra = settings.extra_instructions.trim();
    if !extra.is_empty() {
        system.push(' ');
        system.push_str(extra);
    }

    let history = request.history();
    let earlier = request.facts.earlier_turns;
    let start = history_start(earlier + history.len(), settings.history_turns as usize)
        .saturating_sub(earlier)
        .min(history.len());
    // A blank line says nothing; as an empty message it would only confuse the model.
    let mut turns: Vec<(Speaker, String)> = history[start..]
        .iter()
        .filter(|t| !t.text.trim().is_empty())
        .map(|t| (t.speaker, t.text.clone()))
        .collect();
    // A conversation starts with the player: drop an NPC line left first by the cut.
    while turns.first().is_some_and(|(s, _)| *s == Speaker::Npc) {
        turns.remove(0);
    }
    let line = request.player_line.trim();
    turns.push((
        Speaker::Player,
        if line.is_empty() {
            OPENING_LINE.to_owned()
        } else {
            line.to_owned()
        },
    ));
    Prompt { system, turns }
}

/// Where in a conversation of `total` turns a prompt's history starts: at least the last `keep`
/// turns (as many as are remembered), and fewer than `2 * keep`, the start moving forward in
/// steps of `keep` turns (rounded up to whole exchanges). A start that moved with every line
/// would change every token after the NPC's instructions, so each line would recompute the
/// whole history (1.3 s of first words instead of about 0.1 s); this way the start, and the
/// NPC's cached prompt, stay put for several lines. A function of the turn count only, so the
/// same conversation gives the same prompts.
fn history_start(total: usize, keep: usize) -> usize {
    let step = keep.next_multiple_of(2).max(2);
    (total.saturating_sub(keep) / step) * step
}

fn first_name(name: &str) -> &str {
    name.split_whitespace().next().unwrap_or(name)
}

fn persona_text(p: &Persona) -> String {
    let mut s = format!("You are {}, a {}-year-old {}", p.name, p.age, p.occupation);
    if let Some(home) = &p.home {
        s.push_str(&format!(" from {home}"));
    }
    s.push('.');
    if !p.traits.is_empty() {
        s.push_str(&format!(" You are {}", join_and(&p.traits)));
        if !p.mood.is_empty() {
            s.push_str(&format!(" and feel {}", p.mood));
        }
        s.push('.');
    }
    if !p.style.is_empty() {
        s.push_str(&format!(" You speak in a {} way.", p.style));
    }
    if !p.knows.is_empty() {
        s.push_str(&format!(" You know about {}.", join_and(&p.knows)));
    }
    if !p.wares.is_empty() {
        s.push_str(&format!(" You sell {}.", join_and(&p.wares)));
    }
    s
}

fn surroundings_text(s: &Surroundings, persona: &Persona) -> String {
    let biome = s.biome.replace('_', " ");
    let mut out = if s.in_valley {
        format!("You stand in a valley, on {biome}")
    } else {
        format!("You stand on {biome}")
    };
    out.push_str(&format!(
        ", {} m above the sea.",
        s.height_m.max(0.0).round()
    ));
    let mut seen = Vec::new();
    if let Some(peak) = &s.peak {
        seen.push(format!(
            "high ground {} to the {}",
            distance_words(peak.distance_m),
            peak.direction.name()
        ));
    }
    if let Some(water) = &s.water {
        seen.push(place("the sea", water));
    }
    if let Some(lake) = &s.lake {
        seen.push(place("a lake", lake));
    }
    if let Some(valley) = &s.valley {
        seen.push(place("a valley", valley));
    }
    if let Some(cliff) = &s.cliff {
        seen.push(place("cliffs", cliff));
    }
    if let Some(town) = &s.settlement
        && persona.home.as_deref() != Some(town.name.as_str())
    {
        seen.push(format!(
            "the settlement of {} {} to the {}",
            town.name,
            distance_words(town.distance_m),
            town.direction.name()
        ));
    } else if let Some(town) = &s.settlement {
        seen.push(format!(
            "your home {} {} to the {}",
            town.name,
            distance_words(town.distance_m),
            town.direction.name()
        ));
    }
    if !seen.is_empty() {
        out.push_str(&format!(" Nearby: {}.", join_and(&seen)));
    }
    out
}

fn place(what: &str, mark: &Landmark) -> String {
    format!(
        "{what} {} to the {}",
        distance_words(mark.distance_m),
        mark.direction.name()
    )
}

fn period_words(period: DayPeriod) -> &'static str {
    match period {
        DayPeriod::Morning => "morning",
        DayPeriod::Afternoon => "afternoon",
        DayPeriod::Evening => "evening",
        DayPeriod::Night => "night",
    }
}

fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::dialogue::intent::Intent;
    use crate::dialogue::source::RequestId;
    use crate::npc::facts::{Compass, SettlementFact, Turn, WorldFacts};
    use crate::npc::persona::NpcId;

    pub(crate) fn request(line: &str, recent: Vec<Turn>) -> DialogueRequest {
        let persona = Persona {
            id: NpcId(7),
            name: "Mira Holt".into(),
            culture: "vale".into(),
            occupation: "shepherd".into(),
            traits: vec!["cheerful".into(), "curious".into()],
            mood: "content".into(),
            style: "plain".into(),
            knows: vec!["sheep".into()],
            wares: vec![],
            age: 34,
            home: Some("Brindle".into()),
        };
        let surroundings = Surroundings {
            position: [0.0; 3],
            biome: "grassland".into(),
            height_m: 42.3,
            slope: 0.1,
            temperature: 0.5,
            moisture: 0.5,
            seen_biomes: vec!["grassland".into()],
            peak: Some(Landmark {
                direction: Compass::North,
                distance_m: 2100.0,
                height_m: 300.0,
            }),
            valley: None,
            water: None,
            lake: None,
            cliff: None,
            in_valley: false,
            settlement: Some(SettlementFact {
                name: "Brindle".into(),
                culture: "vale".into(),
                direction: Compass::SouthWest,
                distance_m: 320.0,
            }),
        };
        DialogueRequest {
            id: RequestId(1),
            npc: NpcId(7),
            persona: Arc::new(persona),
            player_line: line.into(),
            intent: Intent::Greet,
            facts: WorldFacts::new(surroundings, 18.0, recent),
            seed: 1,
            distance_m: 3.0,
        }
    }

    #[test]
    fn the_prompt_grounds_the_npc_and_ends_with_the_player() {
        let recent = vec![
            Turn {
                speaker: Speaker::Npc,
                text: "Old line.".into(),
            },
            Turn {
                speaker: Speaker::Player,
                text: "Hi".into(),
            },
            Turn {
                speaker: Speaker::Npc,
                text: "Good evening.".into(),
            },
        ];
        let settings = LanguageSettings {
            history_turns: 2,
            ..Default::default()
        };
        let prompt = build_prompt(&request(" Where is the village? ", recent), &settings);
        for needle in [
            "Mira Holt",
            "shepherd",
            "cheerful and curious",
            "high ground about 2 km to the north",
            "Brindle about 300 metres to the south-west",
            "evening",
            "Answer as Mira",
        ] {
            assert!(
                prompt.system.contains(needle),
                "{needle}: {}",
                prompt.system
            );
        }
        assert_eq!(
            prompt.turns,
            vec![
                (Speaker::Player, "Hi".into()),
                (Speaker::Npc, "Good evening.".into()),
                (Speaker::Player, "Where is the village?".into()),
            ]
        );
        let opening = build_prompt(&request("", vec![]), &settings);
        assert_eq!(opening.turns, vec![(Speaker::Player, OPENING_LINE.into())]);
        // Blank lines in the history (a player who said nothing) are left out.
        let blank = |speaker| Turn {
            speaker,
            text: " ".into(),
        };
        let quiet = build_prompt(
            &request("", vec![blank(Speaker::Player), blank(Speaker::Npc)]),
            &settings,
        );
        assert_eq!(quiet.turns, opening.turns);
        assert_eq!(
            opening.system, prompt.system,
            "the system text is the NPC's, not the line's"
        );
    }

    #[test]
    fn the_history_keeps_its_start_for_several_lines() {
        let settings = LanguageSettings {
            history_turns: 6,
            ..Default::default()
        };
        let turn = |i: usize| Turn {
            speaker: if i.is_multiple_of(2) {
                Speaker::Player
            } else {
                Speaker::Npc
            },
            text: format!("line {i}"),
        };
        let mut starts = Vec::new();
        for said in (0..=24).step_by(2) {
            let whole: Vec<Turn> = (0..said).map(turn).collect();
            let prompt = build_prompt(&request("Next?", whole.clone()), &settings);
            let history = prompt.turns.len() - 1;
            assert!(
                history >= said.min(6) && history < 12,
                "{said} turns: kept {history}"
            );
            assert_eq!(
                prompt.turns[..history].last().map(|t| &t.1),
                whole.last().map(|t| &t.text)
            );
            starts.push(prompt.turns[0].1.clone());

            // An NPC that forgot the oldest turns (its memory holds 12) gives the same prompt.
            let forgotten = said.saturating_sub(12);
            let mut remembered = request("Next?", whole[forgotten..].to_vec());
            remembered.facts.earlier_turns = forgotten;
            assert_eq!(build_prompt(&remembered, &settings), prompt);
        }
        // Over 12 lines the start moves every three exchanges, not with every line.
        starts.dedup();
        assert_eq!(starts, ["Next?", "line 0", "line 6", "line 12", "line 18"]);
    }
}
