//! Grammar variables: what a grammar may say about the NPC and its world, bound from a
//! [`Persona`] and [`WorldFacts`]. A variable the facts do not support (no peak in sight, no
//! settlement within reach) is simply unset, and alternatives that use it are never chosen: that
//! is how a desert NPC never talks about snow it cannot see.

use std::collections::HashMap;

use super::intent::Intent;
use crate::npc::facts::{Landmark, WorldFacts, distance_words};
use crate::npc::persona::Persona;

/// Every variable a grammar may use, with what it holds.
pub const VARIABLES: &[(&str, &str)] = &[
    ("name", "the NPC's given name"),
    ("culture", "the NPC's culture"),
    ("occupation", "the NPC's trade"),
    ("trait", "one of the NPC's two traits"),
    ("mood", "the NPC's mood"),
    ("style", "speaking style: plain, formal, terse, warm, gruff"),
    ("knows", "one thing the NPC knows about"),
    ("wares", "one of the goods the NPC trades (unset if none)"),
    (
        "all_wares",
        "all of them in one phrase, like \"salt and rope\" (unset if none)",
    ),
    ("age", "age in years (number)"),
    ("home", "the NPC's settlement (unset for wanderers)"),
    ("biome", "the biome the NPC stands in"),
    (
        "seen",
        "one biome in sight other than the NPC's own (unset if none); `seen = snow` tests all",
    ),
    ("height", "ground height in metres (number)"),
    (
        "in_valley",
        "set when the NPC stands on low ground among hills",
    ),
    (
        "peak_direction",
        "compass direction of the highest ground in sight (unset if none)",
    ),
    ("peak_distance", "distance to it in words"),
    ("peak_distance_m", "distance to it in metres (number)"),
    (
        "valley_direction",
        "direction of low ground in sight (unset if none)",
    ),
    ("valley_distance", "distance to it in words"),
    ("valley_distance_m", "distance to it in metres (number)"),
    (
        "water_direction",
        "direction of the nearest sea in sight (unset if none)",
    ),
    ("water_distance", "distance to it in words"),
    ("water_distance_m", "distance to it in metres (number)"),
    (
        "lake_direction",
        "direction of the nearest lake in sight (unset if none)",
    ),
    ("lake_distance", "distance to it in words"),
    ("lake_distance_m", "distance to it in metres (number)"),
    (
        "cliff_direction",
        "direction of the nearest cliff in sight (unset if none)",
    ),
    ("cliff_distance", "distance to it in words"),
    ("cliff_distance_m", "distance to it in metres (number)"),
    (
        "settlement",
        "name of the nearest settlement (unset if none within reach)",
    ),
    ("settlement_direction", "its compass direction"),
    ("settlement_distance", "its distance in words"),
    ("settlement_distance_m", "its distance in metres (number)"),
    ("settlement_culture", "the culture living there"),
    ("period", "morning, afternoon, evening or night"),
    ("hour", "hour of the day, 0..23 (number)"),
    ("turns", "lines said so far in this conversation (number)"),
    (
        "intent",
        "what the player wants: greet, directions, land, about_you, trade, rumour, farewell, deflect",
    ),
];

/// "a", "a and b", "a, b and c".
fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// A variable's value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A word or phrase.
    Text(String),
    /// Several; expansion picks one, `=` tests whether any matches.
    List(Vec<String>),
    /// A number.
    Number(f64),
}

impl Value {
    /// Whether `word` equals the value (or, for a list, one of its items).
    pub fn matches(&self, word: &str) -> bool {
        match self {
            Value::Text(t) => t.eq_ignore_ascii_case(word),
            Value::List(l) => l.iter().any(|t| t.eq_ignore_ascii_case(word)),
            Value::Number(n) => word.parse::<f64>().is_ok_and(|w| w == *n),
        }
    }

    /// The value as a number, if it is one.
    pub fn number(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }
}

/// The variables set for one reply.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Bindings {
    values: HashMap<&'static str, Value>,
}

impl Bindings {
    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values.get(name)
    }

    /// Sets `name` (ignored unless it is one of [`VARIABLES`]; empty text and lists stay unset).
    pub fn set(&mut self, name: &str, value: Value) {
        let empty = match &value {
            Value::Text(t) => t.is_empty(),
            Value::List(l) => l.is_empty(),
            Value::Number(n) => !n.is_finite(),
        };
        if let Some(&(key, _)) = VARIABLES.iter().find(|v| v.0 == name)
            && !empty
        {
            self.values.insert(key, value);
        }
    }

    fn text(&mut self, name: &str, text: impl Into<String>) {
        self.set(name, Value::Text(text.into()));
    }

    fn landmark(&mut self, prefix: &str, mark: Option<&Landmark>) {
        if let Some(m) = mark {
            self.text(&format!("{prefix}_direction"), m.direction.name());
            self.text(&format!("{prefix}_distance"), distance_words(m.distance_m));
            self.set(
                &format!("{prefix}_distance_m"),
                Value::Number(f64::from(m.distance_m.round())),
            );
        }
    }

    /// Everything known for `persona` answering `intent`, given `facts`.
    pub fn new(persona: &Persona, facts: &WorldFacts, intent: Intent) -> Self {
        let mut b = Self::default();
        b.text("name", &persona.name);
        b.text("culture", &persona.culture);
        b.text("occupation", &persona.occupation);
        b.set("trait", Value::List(persona.traits.clone()));
        b.text("mood", &persona.mood);
        b.text("style", &persona.style);
        b.set("knows", Value::List(persona.knows.clone()));
        b.set("wares", Value::List(persona.wares.clone()));
        b.text("all_wares", join_and(&persona.wares));
        b.set("age", Value::Number(f64::from(persona.age)));
        if let Some(home) = &persona.home {
            b.text("home", home);
        }
        let s = &facts.surroundings;
        b.text("biome", &s.biome);
        let others: Vec<String> = s
            .seen_biomes
            .iter()
            .filter(|x| **x != s.biome)
            .cloned()
            .collect();
        b.set("seen", Value::List(others));
        b.set("height", Value::Number(f64::from(s.height_m.round())));
        if s.in_valley {
            b.text("in_valley", "yes");
        }
        b.landmark("peak", s.peak.as_ref());
        b.landmark("valley", s.valley.as_ref());
        b.landmark("water", s.water.as_ref());
        b.landmark("lake", s.lake.as_ref());
        b.landmark("cliff", s.cliff.as_ref());
        if let Some(t) = &s.settlement {
            b.text("settlement", &t.name);
            b.text("settlement_direction", t.direction.name());
            b.text("settlement_distance", distance_words(t.distance_m));
            b.set(
                "settlement_distance_m",
                Value::Number(f64::from(t.distance_m.round())),
            );
            b.text("settlement_culture", &t.culture);
        }
        b.text(
            "period",
            match facts.period {
                crate::clock::DayPeriod::Morning => "morning",
                crate::clock::DayPeriod::Afternoon => "afternoon",
                crate::clock::DayPeriod::Evening => "evening",
                crate::clock::DayPeriod::Night => "night",
            },
        );
        b.set(
            "hour",
            Value::Number(f64::from(facts.hours.floor().rem_euclid(24.0))),
        );
        b.values
            .insert("turns", Value::Number(facts.recent.len() as f64));
        b.text("intent", intent.name());
        b
    }
}
