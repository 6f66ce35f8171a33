//! A Tracery-like dialogue grammar in RON: named rules with weighted, conditional alternatives,
//! variables bound from the NPC's persona and world facts, and modifiers for capitals and
//! articles. `assets/dialogue/default.grammar.ron` is the commented reference.
//!
//! [`Grammar::parse`] checks everything up front (syntax, unknown symbols and modifiers, bad
//! conditions, missing entry rules, cycles) and reports the file, line and column of the first
//! problem; expansion ([`Grammar::expand`]) then cannot fail, and is bounded in depth and length.

mod expand;
mod ordered;
pub mod template;

use std::collections::HashMap;

use serde::Deserialize;

use self::ordered::OrderedMap;
use self::template::{Condition, Modifier, Segment, Test, parse_condition, parse_template};
use super::bindings::VARIABLES;
use super::intent::Intent;
use crate::config::locate::{find_token, line_col};
use crate::config::{ConfigError, ConfigErrorKind, parse_ron};

/// The grammar that ships with the crate, used until (or unless) another one loads.
pub const DEFAULT_GRAMMAR_RON: &str = include_str!("../../../assets/dialogue/default.grammar.ron");

/// Bounds on expansion, so no grammar can hang or flood the dialogue window.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Deepest nesting of rules (1..=64).
    pub max_depth: u32,
    /// Longest reply in characters (16..=4000); longer replies are cut at a word.
    pub max_chars: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 24,
            max_chars: 600,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrammarFile {
    #[serde(default)]
    limits: Limits,
    intents: OrderedMap<Vec<String>>,
    rules: OrderedMap<Vec<AltSource>>,
}

/// An alternative as written: a plain string, or `(text: .., weight: .., when: ..)`.
///
/// Not `#[serde(untagged)]`: that buffers the value and reports any mistake inside it as "did
/// not match any variant" at its end; read directly, a misspelt field is named where it stands.
enum AltSource {
    Plain(String),
    Full(FullAlt),
}

impl<'de> Deserialize<'de> for AltSource {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AltVisitor;
        impl<'de> serde::de::Visitor<'de> for AltVisitor {
            type Value = AltSource;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or (text: \"..\", weight: .., when: \"..\")")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<AltSource, E> {
                Ok(AltSource::Plain(text.to_owned()))
            }

            fn visit_string<E: serde::de::Error>(self, text: String) -> Result<AltSource, E> {
                Ok(AltSource::Plain(text))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<AltSource, A::Error> {
                FullAlt::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(AltSource::Full)
            }
        }
        deserializer.deserialize_any(AltVisitor)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FullAlt {
    text: String,
    #[serde(default = "one")]
    weight: f32,
    #[serde(default, deserialize_with = "condition")]
    when: Option<String>,
}

/// `when: "turns > 2"` as the grammar files write it; `Some("..")` and `None` read too.
fn condition<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    struct ConditionVisitor;
    impl<'de> serde::de::Visitor<'de> for ConditionVisitor {
        type Value = Option<String>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a condition in quotes, such as \"turns > 2\"")
        }

        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
            Ok(Some(text.to_owned()))
        }

        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            String::deserialize(d).map(Some)
        }
    }
    deserializer.deserialize_any(ConditionVisitor)
}

fn one() -> f32 {
    1.0
}

/// A compiled, checked grammar.
#[derive(Clone, Debug, PartialEq)]
pub struct Grammar {
    rules: Vec<Rule>,
    by_name: HashMap<String, usize>,
    intents: Vec<(Intent, Vec<Vec<String>>)>,
    limits: Limits,
    file: String,
}

#[derive(Clone, Debug, PartialEq)]
struct Rule {
    name: String,
    alts: Vec<Alt>,
}

#[derive(Clone, Debug, PartialEq)]
struct Alt {
    parts: Vec<Part>,
    weight: f64,
    when: Condition,
    /// Variables the text names directly: the alternative is only used when all are set.
    vars: Vec<&'static str>,
    /// Rules the text names directly: each must be able to say something.
    rules: Vec<usize>,
}

#[derive(Clone, Debug, PartialEq)]
enum Part {
    Literal(String),
    Rule(usize, Vec<Modifier>),
    Var(&'static str, Vec<Modifier>),
}

/// Where a piece of text sits in the source, to turn character offsets into line and column.
/// Positions are worked out only for an error: each costs a walk from the start of the file.
#[derive(Clone, Copy)]
struct Spot<'a> {
    src: &'a str,
    /// Byte offset of the opening quote of the string literal, or of the best nearby token.
    at: usize,
    literal: bool,
}

impl Spot<'_> {
    /// `(line, column)` of character `k` of the literal's value.
    fn pos(&self, k: usize) -> (usize, usize) {
        if !self.literal {
            return line_col(self.src, self.at);
        }
        // Walk the literal's source, counting escapes as the one character they stand for.
        let body = &self.src[self.at + 1..];
        let mut chars = body.char_indices();
        let mut seen = 0;
        while let Some((b, c)) = chars.next() {
            if seen == k || c == '"' {
                return line_col(self.src, self.at + 1 + b);
            }
            if c == '\\'
                && let Some((_, 'u')) = chars.next()
            {
                for (_, c) in chars.by_ref() {
                    if c == '}' {
                        break;
                    }
                }
            }
            seen += 1;
        }
        line_col(self.src, self.src.len())
    }
}

/// The RON literal for `text`, as a modder would most likely have written it.
fn literal(text: &str) -> String {
    let mut s = String::with_capacity(text.len() + 2);
    s.push('"');
    for c in text.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\t' => s.push_str("\\t"),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

/// The spot of the string literal `text` at or after `from`. A literal not found (written with
/// other escapes) sets `lost`, and a lost search gives the nearby spot at once: searching to the
/// end of the file for every alternative would make a big grammar take quadratic time.
fn find_literal<'a>(src: &'a str, from: usize, text: &str, lost: &mut bool) -> Spot<'a> {
    let found = if *lost {
        None
    } else {
        find_token(src, from, &literal(text))
    };
    *lost |= found.is_none();
    match found {
        Some(at) => Spot {
            src,
            at,
            literal: true,
        },
        None => Spot {
            src,
            at: from,
            literal: false,
        },
    }
}

/// The closest name to `name` in `names` (by edit distance), if it is close.
fn suggestion<'a>(name: &str, names: impl Iterator<Item = &'a str>) -> String {
    let best = names
        .map(|n| (edit_distance(name, n), n))
        .min()
        .filter(|(d, n)| *d <= 2.max(n.len() / 3));
    best.map_or_else(String::new, |(_, n)| format!("; did you mean `{n}`?"))
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

impl Grammar {
    /// Parses and checks a grammar; `file` labels errors.
    pub fn parse(src: &str, file: &str) -> Result<Self, ConfigError> {
        let parsed: GrammarFile = parse_ron(src, file)?;
        let error = |pos: (usize, usize), msg: String| {
            ConfigError::at(file, pos, ConfigErrorKind::Invalid(msg))
        };
        let fail = |pos: (usize, usize), msg: String| Err(error(pos, msg));
        let top = |token: &str| find_token(src, 0, token).unwrap_or(0);
        let limits = parsed.limits;
        if !(1..=64).contains(&limits.max_depth) {
            return fail(
                line_col(src, top("max_depth")),
                "`max_depth` must be in 1..64".into(),
            );
        }
        if !(16..=4000).contains(&limits.max_chars) {
            return fail(
                line_col(src, top("max_chars")),
                "`max_chars` must be in 16..4000".into(),
            );
        }

        let intents_at = top("intents");
        let mut intents = Vec::new();
        for (name, words) in parsed.intents.iter() {
            let key_at = find_token(src, intents_at, &literal(name)).unwrap_or(intents_at);
            let Some(intent) = Intent::from_name(name).filter(|i| *i != Intent::Deflect) else {
                let known = Intent::RECOGNISED.map(Intent::name).join(", ");
                return fail(
                    line_col(src, key_at),
                    format!("unknown intent `{name}`; known: {known}"),
                );
            };
            let phrases: Vec<Vec<String>> = words.iter().map(|w| super::intent::words(w)).collect();
            if phrases.is_empty() || phrases.iter().any(Vec::is_empty) {
                return fail(
                    line_col(src, key_at),
                    format!("intent `{name}` needs non-empty keywords"),
                );
            }
            intents.push((intent, phrases));
        }

        let rules_at = top("rules");
        let by_name: HashMap<String, usize> = parsed
            .rules
            .iter()
            .enumerate()
            .map(|(i, (n, _))| (n.clone(), i))
            .collect();
        let known_names = || {
            by_name
                .keys()
                .map(String::as_str)
                .chain(VARIABLES.iter().map(|v| v.0))
        };
        let mut rules = Vec::with_capacity(by_name.len());
        let mut spots: Vec<Vec<(Spot, usize)>> = Vec::new();
        // Rules are in file order, so each key is searched from the previous one.
        let mut key_from = rules_at;
        let mut lost = false;
        for (name, alts_src) in parsed.rules.iter() {
            let key_at = find_token(src, key_from, &literal(name)).unwrap_or(key_from);
            key_from = key_at;
            let key = Spot {
                src,
                at: key_at,
                literal: true,
            };
            if let Some(k) = name
                .chars()
                .position(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            {
                return fail(
                    key.pos(k),
                    format!("rule name `{name}` may only use a-z, 0-9 and _"),
                );
            }
            if name.is_empty() {
                return fail(key.pos(0), "empty rule name".into());
            }
            if VARIABLES.iter().any(|v| v.0 == name) {
                return fail(
                    key.pos(0),
                    format!("rule `{name}` has the name of a variable; rename the rule"),
                );
            }
            if alts_src.is_empty() {
                return fail(key.pos(0), format!("rule `{name}` has no alternatives"));
            }
            let mut alts = Vec::with_capacity(alts_src.len());
            let mut alt_spots = Vec::new();
            let mut cursor = key_at;
            for alt in alts_src {
                let (text, weight, when) = match alt {
                    AltSource::Plain(t) => (t.as_str(), 1.0, None),
                    AltSource::Full(f) => (f.text.as_str(), f.weight, f.when.as_deref()),
                };
                let spot = find_literal(src, cursor, text, &mut lost);
                // On past the whole literal: from inside it, quotes would pair up wrongly.
                cursor = if spot.literal {
                    spot.at + literal(text).len()
                } else {
                    cursor
                };
                let segments =
                    parse_template(text).map_err(|e| error(spot.pos(e.at), e.message))?;
                if !(weight.is_finite() && weight > 0.0) {
                    let at = find_token(src, spot.at, "weight").unwrap_or(spot.at);
                    return fail(
                        line_col(src, at),
                        format!("weight {weight} in rule `{name}` must be a positive number"),
                    );
                }
                let mut parts = Vec::new();
                let (mut vars, mut refs) = (Vec::new(), Vec::new());
                for seg in segments {
                    match seg {
                        Segment::Literal(s) => parts.push(Part::Literal(s)),
                        Segment::Symbol {
                            name: sym,
                            modifiers,
                            at,
                        } => {
                            if let Some(&r) = by_name.get(&sym) {
                                refs.push(r);
                                alt_spots.push((spot, at));
                                parts.push(Part::Rule(r, modifiers));
                            } else if let Some(v) = VARIABLES.iter().find(|v| v.0 == sym) {
                                vars.push(v.0);
                                parts.push(Part::Var(v.0, modifiers));
                            } else {
                                let hint = suggestion(&sym, known_names());
                                return fail(
                                    spot.pos(at),
                                    format!(
                                        "unknown symbol `{sym}` in rule `{name}`: not a rule or a variable{hint}"
                                    ),
                                );
                            }
                        }
                    }
                }
                let condition = match when {
                    None => Condition::default(),
                    Some(w) => {
                        let wspot = find_literal(src, spot.at, w, &mut lost);
                        let c =
                            parse_condition(w).map_err(|e| error(wspot.pos(e.at), e.message))?;
                        for clause in &c.clauses {
                            if !VARIABLES.iter().any(|v| v.0 == clause.var) {
                                let hint = suggestion(&clause.var, VARIABLES.iter().map(|v| v.0));
                                return fail(
                                    wspot.pos(clause.at),
                                    format!("unknown variable `{}` in condition{hint}", clause.var),
                                );
                            }
                            if matches!(clause.test, Test::Below(_) | Test::Above(_))
                                && !NUMERIC.contains(&clause.var.as_str())
                            {
                                return fail(
                                    wspot.pos(clause.at),
                                    format!(
                                        "`{}` is not a number; `<` and `>` work on: {}",
                                        clause.var,
                                        NUMERIC.join(", ")
                                    ),
                                );
                            }
                        }
                        c
                    }
                };
                alts.push(Alt {
                    parts,
                    weight: f64::from(weight),
                    when: condition,
                    vars,
                    rules: refs,
                });
            }
            spots.push(alt_spots);
            rules.push(Rule {
                name: name.clone(),
                alts,
            });
        }

        for intent in Intent::ALL {
            if !by_name.contains_key(intent.name()) {
                return fail(
                    line_col(src, rules_at),
                    format!(
                        "the grammar needs a rule `{}` (answers the `{}` intent)",
                        intent.name(),
                        intent.name()
                    ),
                );
            }
        }
        if let Some((rule, k, path)) = find_cycle(&rules) {
            let at = spots[rule]
                .get(k)
                .map_or_else(|| line_col(src, rules_at), |(spot, at)| spot.pos(*at));
            return fail(at, format!("rules refer to each other in a cycle: {path}"));
        }
        Ok(Self {
            rules,
            by_name,
            intents,
            limits,
            file: file.to_owned(),
        })
    }

    /// The built-in default grammar.
    pub fn builtin() -> Self {
        Self::parse(DEFAULT_GRAMMAR_RON, "<built-in default.grammar.ron>")
            .expect("the built-in grammar must be valid (tested in dialogue::grammar::tests)")
    }

    /// The file it came from.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Expansion bounds.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Whether a rule called `name` exists.
    pub fn has_rule(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// Keyword phrases (each a list of lower-case words) of every recognised intent, in file order.
    pub fn intent_keywords(&self) -> &[(Intent, Vec<Vec<String>>)] {
        &self.intents
    }
}

/// Variables that hold numbers (and so work with `<` and `>`).
pub const NUMERIC: &[&str] = &[
    "age",
    "hour",
    "turns",
    "height",
    "peak_distance_m",
    "valley_distance_m",
    "water_distance_m",
    "lake_distance_m",
    "cliff_distance_m",
    "settlement_distance_m",
];

/// A cycle among rule references: (rule, index of the reference in that rule's reference list,
/// "a -> b -> a").
fn find_cycle(rules: &[Rule]) -> Option<(usize, usize, String)> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit(
        r: usize,
        rules: &[Rule],
        marks: &mut [Mark],
        stack: &mut Vec<usize>,
    ) -> Option<(usize, usize, String)> {
        marks[r] = Mark::Open;
        stack.push(r);
        let refs = rules[r].alts.iter().flat_map(|a| a.rules.iter().copied());
        for (k, next) in refs.enumerate() {
            match marks[next] {
                Mark::Open => {
                    let from = stack.iter().position(|&s| s == next).unwrap_or(0);
                    let mut names: Vec<&str> = stack[from..]
                        .iter()
                        .map(|&s| rules[s].name.as_str())
                        .collect();
                    names.push(&rules[next].name);
                    return Some((r, k, names.join(" -> ")));
                }
                Mark::New => {
                    if let Some(found) = visit(next, rules, marks, stack) {
                        return Some(found);
                    }
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        marks[r] = Mark::Done;
        None
    }
    let mut marks = vec![Mark::New; rules.len()];
    let mut stack = Vec::new();
    (0..rules.len()).find_map(|r| {
        if marks[r] == Mark::New {
            visit(r, rules, &mut marks, &mut stack)
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_grammar_is_valid() {
        let g = Grammar::builtin();
        assert!(g.has_rule("greet") && g.has_rule("deflect"));
        assert_eq!(g.intent_keywords().len(), Intent::RECOGNISED.len());
    }

    fn with(rules: &str) -> String {
        let mut s = String::from("(\n  intents: { \"greet\": [\"hello\"] },\n  rules: {\n");
        for i in Intent::ALL {
            s.push_str(&format!("    \"{}\": [\"ok\"],\n", i.name()));
        }
        s.push_str(rules);
        s.push_str("  },\n)\n");
        s
    }

    #[test]
    fn unknown_symbols_point_at_the_symbol() {
        let src = with("    \"x\": [\"hi #nmae#\"],\n");
        let err = Grammar::parse(&src, "g.ron").unwrap_err();
        assert_eq!((err.line, err.column), (12, 16), "{err}");
        assert!(err.to_string().contains("did you mean `name`"), "{err}");
    }

    #[test]
    fn cycles_are_found() {
        let src =
            with("    \"a\": [\"#b#\"],\n    \"b\": [\"x\", \"#c#\"],\n    \"c\": [\"#a#\"],\n");
        let err = Grammar::parse(&src, "g.ron").unwrap_err();
        assert!(err.to_string().contains("a -> b -> c -> a"), "{err}");
        assert_eq!(err.line, 14, "{err}");
    }

    #[test]
    fn edit_distance_works() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "ab"), 2);
    }
}
