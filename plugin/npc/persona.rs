//! Personas: who an NPC is, drawn deterministically from (world seed, NPC id) and the NPC file.

use std::collections::BTreeMap;

use super::rng::{Rng, hash_str};
use super::rules::{NameGen, NpcConfig};

/// A stable NPC identity: a hash of (world seed, chunk, slot). The same world always gives the
/// same ids, so an NPC keeps its name and memory across chunk reloads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NpcId(pub u64);

impl std::fmt::Display for NpcId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Who an NPC is.
#[derive(Clone, Debug, PartialEq)]
pub struct Persona {
    /// The NPC this persona belongs to.
    pub id: NpcId,
    /// Given name.
    pub name: String,
    /// Culture (a key of [`NpcConfig::cultures`]).
    pub culture: String,
    /// Occupation (a key of [`NpcConfig::occupations`]).
    pub occupation: String,
    /// Two different character traits.
    pub traits: Vec<String>,
    /// Mood.
    pub mood: String,
    /// Speaking style.
    pub style: String,
    /// Things they know about.
    pub knows: Vec<String>,
    /// Goods they trade (may be empty).
    pub wares: Vec<String>,
    /// Age in years.
    pub age: u32,
    /// The settlement they live in, if any.
    pub home: Option<String>,
}

impl Persona {
    /// The persona of NPC `id` of `culture` (living in settlement `home`, if any) in a world with
    /// `seed`. An unknown culture falls back to the first one.
    pub fn generate(
        seed: u64,
        id: NpcId,
        culture: &str,
        home: Option<&str>,
        config: &NpcConfig,
    ) -> Self {
        let (culture, c) = config
            .cultures
            .get_key_value(culture)
            .or_else(|| config.cultures.iter().next())
            .map(|(k, v)| (k.clone(), Some(v)))
            .unwrap_or_else(|| (culture.to_owned(), None));
        let mut rng = Rng::new(&[seed, id.0, 0x7e25_07a5]);
        let name = c.map_or_else(|| "Nobody".to_owned(), |c| c.names.generate(&mut rng));
        let occupation = c
            .and_then(|c| pick_weighted(&mut rng, &c.occupations))
            .unwrap_or_default();
        let job = config.occupations.get(&occupation);
        let mut traits = Vec::with_capacity(2);
        if let Some(t) = rng.pick(&config.traits) {
            traits.push(t.clone());
        }
        let rest: Vec<&String> = config
            .traits
            .iter()
            .filter(|t| !traits.contains(t))
            .collect();
        if let Some(t) = rng.pick(&rest) {
            traits.push((*t).clone());
        }
        let mood = rng.pick(&config.moods).cloned().unwrap_or_default();
        let style = rng.pick(&config.styles).cloned().unwrap_or_default();
        let age = rng.range_inclusive(17, 78);
        Self {
            id,
            name,
            culture,
            occupation,
            traits,
            mood,
            style,
            knows: job.map(|j| j.knows.clone()).unwrap_or_default(),
            wares: job.map(|j| j.wares.clone()).unwrap_or_default(),
            age,
            home: home.map(str::to_owned),
        }
    }

    /// One line for UIs: "Aldra (34), a weary herder of the hillfolk from Ashford: patient,
    /// curious; plain style".
    pub fn summary(&self) -> String {
        let home = self
            .home
            .as_deref()
            .map_or_else(String::new, |h| format!(" from {h}"));
        format!(
            "{} ({}), {} {} {} of the {}{}: {}; {} style",
            self.name,
            self.age,
            article(&self.mood),
            self.mood,
            self.occupation,
            self.culture,
            home,
            self.traits.join(", "),
            self.style,
        )
    }
}

/// "a" or "an" for `word` by its first sound (a spelling heuristic good enough for dialogue).
pub fn article(word: &str) -> &'static str {
    let w = word.trim_start().to_lowercase();
    let consonant_sound = ["uni", "use", "usu", "eu", "one", "once", "ur"];
    let vowel_sound = ["hour", "honest", "honou", "heir"];
    if vowel_sound.iter().any(|p| w.starts_with(p)) {
        return "an";
    }
    if consonant_sound.iter().any(|p| w.starts_with(p)) {
        return "a";
    }
    match w.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
        _ => "a",
    }
}

fn pick_weighted(rng: &mut Rng, items: &BTreeMap<String, f32>) -> Option<String> {
    let i = rng.weighted(items.values().map(|w| f64::from(*w)))?;
    items.keys().nth(i).cloned()
}

impl NameGen {
    /// A name, capitalised.
    pub fn generate(&self, rng: &mut Rng) -> String {
        let raw = match self {
            NameGen::Syllables {
                first,
                middle,
                last,
                max_middle,
            } => {
                let mut s = rng.pick(first).cloned().unwrap_or_default();
                let n = if middle.is_empty() {
                    0
                } else {
                    rng.range_inclusive(0, *max_middle)
                };
                for _ in 0..n {
                    s.push_str(rng.pick(middle).map_or("", String::as_str));
                }
                s.push_str(rng.pick(last).map_or("", String::as_str));
                s
            }
            NameGen::Markov {
                examples,
                order,
                min_len,
                max_len,
            } => markov_name(
                rng,
                examples,
                *order as usize,
                *min_len as usize,
                *max_len as usize,
            ),
        };
        capitalise(&raw.to_lowercase())
    }
}

/// A name from a letter Markov chain over `examples`. Tries a few times for a length in range
/// that is not one of the examples, then settles for the last try cut to length.
fn markov_name(
    rng: &mut Rng,
    examples: &[String],
    order: usize,
    min_len: usize,
    max_len: usize,
) -> String {
    const START: char = '^';
    const END: char = '$';
    // BTreeMap keeps iteration order, and so every choice, the same on every machine.
    let mut table: BTreeMap<Vec<char>, BTreeMap<char, u32>> = BTreeMap::new();
    for ex in examples {
        let mut chars: Vec<char> = std::iter::repeat_n(START, order).collect();
        chars.extend(ex.to_lowercase().chars());
        chars.push(END);
        for w in chars.windows(order + 1) {
            *table
                .entry(w[..order].to_vec())
                .or_default()
                .entry(w[order])
                .or_default() += 1;
        }
    }
    let known: Vec<String> = examples.iter().map(|e| e.to_lowercase()).collect();
    let mut last = String::new();
    for _ in 0..12 {
        let mut ctx: Vec<char> = std::iter::repeat_n(START, order).collect();
        let mut out = String::new();
        while out.chars().count() < max_len {
            let Some(next) = table.get(&ctx[ctx.len() - order..]) else {
                break;
            };
            let Some(i) = rng.weighted(next.values().map(|&n| f64::from(n))) else {
                break;
            };
            let Some(&c) = next.keys().nth(i) else { break };
            if c == END {
                break;
            }
            out.push(c);
            ctx.push(c);
        }
        let len = out.chars().count();
        if len >= min_len && !known.contains(&out) {
            return out;
        }
        last = out;
    }
    let fallback = examples
        .first()
        .map(|e| e.to_lowercase())
        .unwrap_or_default();
    if last.chars().count() >= min_len {
        last
    } else {
        fallback
    }
}

/// `word` with its first letter upper-cased.
pub fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A settlement's name, from its culture's place-name generator.
pub fn place_name(seed: u64, cell: (i32, i32), culture: &str, config: &NpcConfig) -> String {
    let mut rng = Rng::new(&[
        seed,
        cell.0 as u64,
        cell.1 as u64,
        hash_str(culture),
        0x0091_ace5,
    ]);
    config
        .cultures
        .get(culture)
        .map_or_else(|| "Nowhere".to_owned(), |c| c.places.generate(&mut rng))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn articles() {
        assert_eq!(article("apple"), "an");
        assert_eq!(article("herder"), "a");
        assert_eq!(article("hour"), "an");
        assert_eq!(article("unicorn"), "a");
        assert_eq!(article(""), "a");
    }

    #[test]
    fn markov_names_are_new_and_in_range() {
        let config = NpcConfig::builtin();
        let names = &config.cultures["sandwalkers"].names;
        let mut rng = Rng::new(&[1]);
        for _ in 0..50 {
            let n = names.generate(&mut rng);
            assert!((3..=8).contains(&n.chars().count()), "{n}");
            assert!(n.chars().next().unwrap().is_uppercase());
        }
    }

    #[test]
    fn personas_are_a_function_of_seed_and_id() {
        let config = NpcConfig::builtin();
        let a = Persona::generate(5, NpcId(9), "hillfolk", None, &config);
        assert_eq!(a, Persona::generate(5, NpcId(9), "hillfolk", None, &config));
        assert_ne!(a, Persona::generate(6, NpcId(9), "hillfolk", None, &config));
        assert_eq!(a.traits.len(), 2);
        assert_ne!(a.traits[0], a.traits[1]);
        assert!(
            config.cultures["hillfolk"]
                .occupations
                .contains_key(&a.occupation)
        );
        let unknown = Persona::generate(5, NpcId(9), "nobody-knows", None, &config);
        assert!(config.cultures.contains_key(&unknown.culture));
    }
}
