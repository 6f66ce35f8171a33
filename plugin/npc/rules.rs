//! The NPC file's schema (`*.npc.ron`): where NPCs live, the cultures they belong to and what a
//! persona is made of. Plain serde types with no Bevy in them; `assets/npc/default.npc.ron` is
//! the commented reference.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, ConfigErrorKind, locate::locate, parse_ron};

/// Everything NPCs are made from: placement rules, cultures, occupations and persona pools.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NpcConfig {
    /// Where NPCs and settlements appear.
    pub placement: PlacementRules,
    /// Cultures by name: which biomes they live in, their colour and how they name things.
    pub cultures: BTreeMap<String, Culture>,
    /// Occupations by name: what such a person knows and sells.
    pub occupations: BTreeMap<String, Occupation>,
    /// Character traits; each persona draws two different ones.
    pub traits: Vec<String>,
    /// Moods; each persona draws one.
    pub moods: Vec<String>,
    /// Speaking styles; grammars can branch on them (`when: "style = terse"`).
    pub styles: Vec<String>,
}

/// Where NPCs appear.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlacementRules {
    /// NPCs are spawned on loaded chunks within this many metres of an observer.
    pub npc_radius_m: f32,
    /// NPCs stay until their chunk is this much further away, so they don't flicker at the edge.
    #[serde(default = "default_hysteresis")]
    pub hysteresis_m: f32,
    /// Candidate spots per chunk for wanderers (people outside settlements).
    pub candidates_per_chunk: u32,
    /// Chance (0..1) that a candidate spot in a biome holds a wanderer, by biome name. Biomes not
    /// listed have none.
    pub density: BTreeMap<String, f32>,
    /// Steepest ground (rise over run) anyone stands on.
    pub max_slope: f32,
    /// Lowest ground anyone stands on, in metres above the world's sea level; keeps people out
    /// of the sea.
    pub min_height_m: f32,
    /// Small villages: clusters of people on gentle ground.
    pub settlements: SettlementRules,
}

fn default_hysteresis() -> f32 {
    32.0
}

/// Settlements: one chance per cell of a coarse grid, independent of terrain chunks, so the
/// nearest settlement can be found from anywhere.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettlementRules {
    /// Side of a settlement cell in metres (at most one settlement per cell).
    pub cell_m: f32,
    /// Chance (0..1) that a cell has a settlement at all.
    pub chance: f32,
    /// Spots tried per cell before giving up on finding gentle ground.
    pub attempts: u32,
    /// Steepest ground (rise over run) a settlement's centre may sit on.
    pub max_slope: f32,
    /// Lowest ground a settlement's centre may sit on, in metres above the world's sea level.
    pub min_height_m: f32,
    /// Residents stand within this many metres of the centre.
    pub radius_m: f32,
    /// Fewest residents.
    pub min_residents: u32,
    /// Most residents.
    pub max_residents: u32,
    /// Biomes a settlement may be founded in.
    pub biomes: Vec<String>,
    /// How far (metres) NPCs look for the nearest settlement when asked for directions.
    pub search_radius_m: f32,
}

/// A culture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Culture {
    /// Biomes where this culture lives. Where several cultures share a biome each NPC picks one.
    pub biomes: Vec<String>,
    /// Linear RGB colour of its people's capsules.
    pub color: (f32, f32, f32),
    /// How people are named.
    pub names: NameGen,
    /// How settlements are named.
    pub places: NameGen,
    /// Occupations of its people (names from `occupations`), with relative weights.
    pub occupations: BTreeMap<String, f32>,
}

/// A name generator. Its variants deny unknown fields like every struct of the file: a
/// misspelt `max_midle` is an error, not a silently ignored line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum NameGen {
    /// Syllables strung together: one from `first`, zero or more from `middle`, one from `last`.
    Syllables {
        /// Opening syllables.
        first: Vec<String>,
        /// Middle syllables.
        #[serde(default)]
        middle: Vec<String>,
        /// Closing syllables.
        last: Vec<String>,
        /// Most middle syllables.
        #[serde(default = "one")]
        max_middle: u32,
    },
    /// A letter-level Markov chain learned from example names.
    Markov {
        /// Example names to learn from (at least 3).
        examples: Vec<String>,
        /// Letters of context (1..=4).
        #[serde(default = "two")]
        order: u32,
        /// Shortest name in characters.
        #[serde(default = "four")]
        min_len: u32,
        /// Longest name in characters.
        #[serde(default = "ten")]
        max_len: u32,
    },
}

fn one() -> u32 {
    1
}
fn two() -> u32 {
    2
}
fn four() -> u32 {
    4
}
fn ten() -> u32 {
    10
}

/// An occupation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Occupation {
    /// Things a person of this trade knows about (phrases that finish "I know about ...").
    pub knows: Vec<String>,
    /// Goods they trade (plural nouns); empty for those who don't trade.
    #[serde(default)]
    pub wares: Vec<String>,
}

/// The NPC file that ships with the crate, used until (or unless) another one loads.
pub const DEFAULT_NPC_RON: &str = include_str!("../../assets/npc/default.npc.ron");

impl NpcConfig {
    /// Parses and checks an NPC file; `file` labels errors.
    pub fn parse(src: &str, file: &str) -> Result<Self, ConfigError> {
        let config: NpcConfig = parse_ron(src, file)?;
        config.validate(src, file)?;
        Ok(config)
    }

    /// The built-in default.
    pub fn builtin() -> Self {
        Self::parse(DEFAULT_NPC_RON, "<built-in default.npc.ron>")
            .expect("the built-in NPC file must be valid (tested in npc::rules::tests)")
    }

    /// Checks what serde cannot; `src` is the text the config came from, used to find positions.
    pub fn validate(&self, src: &str, file: &str) -> Result<(), ConfigError> {
        let fail = |path: &[&str], msg: String| {
            Err(ConfigError::at(
                file,
                locate(src, path),
                ConfigErrorKind::Invalid(msg),
            ))
        };
        let p = &self.placement;
        let unit = |x: f32| (0.0..=1.0).contains(&x);
        if !(p.npc_radius_m.is_finite() && p.npc_radius_m > 0.0 && p.npc_radius_m <= 5000.0) {
            return fail(
                &["npc_radius_m"],
                "`npc_radius_m` must be in 0..5000 metres".into(),
            );
        }
        if !(p.hysteresis_m.is_finite() && p.hysteresis_m >= 0.0) {
            return fail(&["hysteresis_m"], "`hysteresis_m` must be 0 or more".into());
        }
        if p.candidates_per_chunk > 64 {
            return fail(
                &["candidates_per_chunk"],
                "`candidates_per_chunk` must be at most 64".into(),
            );
        }
        for (biome, d) in &p.density {
            if !unit(*d) {
                let key = format!("\"{biome}\"");
                return fail(
                    &["density", &key],
                    format!("density of `{biome}` must be in 0..1"),
                );
            }
        }
        let s = &p.settlements;
        if !(s.cell_m.is_finite() && (64.0..=8192.0).contains(&s.cell_m)) {
            return fail(
                &["settlements", "cell_m"],
                "`cell_m` must be in 64..8192 metres".into(),
            );
        }
        if !unit(s.chance) {
            return fail(
                &["settlements", "chance"],
                "`chance` must be in 0..1".into(),
            );
        }
        if !(1..=32).contains(&s.attempts) {
            return fail(
                &["settlements", "attempts"],
                "`attempts` must be in 1..32".into(),
            );
        }
        if !(s.radius_m.is_finite() && s.radius_m >= 1.0 && s.radius_m * 4.0 <= s.cell_m) {
            return fail(
                &["settlements", "radius_m"],
                "`radius_m` must be at least 1 and at most a quarter of `cell_m`".into(),
            );
        }
        if s.min_residents > s.max_residents || s.max_residents > 32 {
            return fail(
                &["settlements", "max_residents"],
                "need `min_residents` <= `max_residents` <= 32".into(),
            );
        }
        if !(s.search_radius_m.is_finite() && (0.0..=20_000.0).contains(&s.search_radius_m)) {
            return fail(
                &["settlements", "search_radius_m"],
                "`search_radius_m` must be in 0..20000 metres".into(),
            );
        }
        if self.cultures.is_empty() {
            return fail(&["cultures"], "at least one culture is needed".into());
        }
        for (name, culture) in &self.cultures {
            let key = format!("\"{name}\"");
            for (field, generator) in [("names", &culture.names), ("places", &culture.places)] {
                if let Err(msg) = generator.check() {
                    return fail(&["cultures", &key, field], msg);
                }
            }
            if culture.occupations.is_empty() {
                return fail(
                    &["cultures", &key, "occupations"],
                    format!("culture `{name}` needs an occupation"),
                );
            }
            for (occupation, w) in &culture.occupations {
                if !self.occupations.contains_key(occupation) {
                    let known = self
                        .occupations
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ");
                    let okey = format!("\"{occupation}\"");
                    return fail(
                        &["cultures", &key, "occupations", &okey],
                        format!("occupation `{occupation}` is not defined; defined: {known}"),
                    );
                }
                if !(w.is_finite() && *w > 0.0) {
                    let okey = format!("\"{occupation}\"");
                    return fail(
                        &["cultures", &key, &okey],
                        "occupation weights must be positive".into(),
                    );
                }
            }
        }
        for (name, occupation) in &self.occupations {
            if occupation.knows.is_empty() {
                let key = format!("\"{name}\"");
                return fail(
                    &["occupations", &key, "knows"],
                    format!("occupation `{name}` must know something"),
                );
            }
        }
        for (field, list) in [
            ("traits", &self.traits),
            ("moods", &self.moods),
            ("styles", &self.styles),
        ] {
            let need = if field == "traits" { 2 } else { 1 };
            if list.len() < need {
                return fail(&[field], format!("`{field}` needs at least {need} entries"));
            }
        }
        Ok(())
    }

    /// Names of the cultures living in `biome`.
    pub fn cultures_in(&self, biome: &str) -> Vec<&str> {
        self.cultures
            .iter()
            .filter(|(_, c)| c.biomes.iter().any(|b| b == biome))
            .map(|(n, _)| n.as_str())
            .collect()
    }
}

impl NameGen {
    /// Why this generator cannot produce names, if it cannot.
    fn check(&self) -> Result<(), String> {
        match self {
            NameGen::Syllables { first, last, .. } => {
                if first.is_empty() || last.is_empty() {
                    return Err(
                        "`Syllables` needs at least one `first` and one `last` syllable".into(),
                    );
                }
            }
            NameGen::Markov {
                examples,
                order,
                min_len,
                max_len,
            } => {
                if examples.len() < 3 {
                    return Err("`Markov` needs at least 3 example names".into());
                }
                if !(1..=4).contains(order) {
                    return Err("`Markov` order must be 1..4".into());
                }
                if min_len > max_len || *max_len > 24 || *min_len == 0 {
                    return Err("`Markov` needs 1 <= min_len <= max_len <= 24".into());
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_npc_file_is_valid() {
        let config = NpcConfig::builtin();
        assert!(config.cultures.len() >= 3);
        assert!(!config.cultures_in("desert").is_empty());
    }

    #[test]
    fn undefined_occupations_are_reported_where_they_are() {
        let src = DEFAULT_NPC_RON.replacen("\"herder\":", "\"hreder\":", 1);
        let err = NpcConfig::parse(&src, "x.npc.ron").unwrap_err();
        assert!(err.to_string().contains("hreder"), "{err}");
        assert!(err.line > 1);
    }
}
