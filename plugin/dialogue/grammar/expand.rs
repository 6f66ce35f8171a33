//! Expanding a checked grammar: choose among the alternatives whose condition holds and whose
//! variables and sub-rules can all be filled, weighted, from a seeded stream. Bounded in depth and
//! length; cannot fail.

use super::template::{Condition, Modifier, Test};
use super::{Alt, Grammar, Part};
use crate::dialogue::bindings::{Bindings, Value};
use crate::npc::persona::{article, capitalise};
use crate::npc::rng::Rng;

impl Grammar {
    /// Expands rule `rule` with `bindings`, drawing choices from `rng`. Returns an empty string
    /// if the rule does not exist or nothing in it can be said with these bindings.
    pub fn expand(&self, rule: &str, bindings: &Bindings, rng: &mut Rng) -> String {
        let Some(&r) = self.by_name.get(rule) else {
            return String::new();
        };
        let mut ctx = Expansion {
            grammar: self,
            bindings,
            available: vec![None; self.rules.len()],
            max: self.limits.max_chars as usize,
        };
        let mut text = String::new();
        ctx.rule(r, 0, rng, &mut text);
        tidy(&text, ctx.max)
    }
}

struct Expansion<'a> {
    grammar: &'a Grammar,
    bindings: &'a Bindings,
    /// Whether each rule can say anything with these bindings (memoised).
    available: Vec<Option<bool>>,
    max: usize,
}

impl Expansion<'_> {
    fn holds(&self, c: &Condition) -> bool {
        c.clauses.iter().all(|clause| {
            let v = self.bindings.get(&clause.var);
            match &clause.test {
                Test::Set => v.is_some(),
                Test::Unset => v.is_none(),
                Test::OneOf(words) => v.is_some_and(|v| words.iter().any(|w| v.matches(w))),
                Test::NoneOf(words) => !v.is_some_and(|v| words.iter().any(|w| v.matches(w))),
                Test::Below(n) => v.and_then(Value::number).is_some_and(|x| x < *n),
                Test::Above(n) => v.and_then(Value::number).is_some_and(|x| x > *n),
            }
        })
    }

    fn eligible(&mut self, alt: &Alt, depth: u32) -> bool {
        self.holds(&alt.when)
            && alt.vars.iter().all(|v| self.bindings.get(v).is_some())
            && alt.rules.iter().all(|&r| self.available(r, depth + 1))
    }

    fn available(&mut self, r: usize, depth: u32) -> bool {
        if depth > self.grammar.limits.max_depth {
            return false;
        }
        if let Some(a) = self.available[r] {
            return a;
        }
        // Grammars are checked acyclic, so this recursion ends; the depth bound is a second guard.
        let grammar = self.grammar;
        let a = grammar.rules[r]
            .alts
            .iter()
            .any(|alt| self.eligible(alt, depth));
        self.available[r] = Some(a);
        a
    }

    fn rule(&mut self, r: usize, depth: u32, rng: &mut Rng, out: &mut String) {
        if depth > self.grammar.limits.max_depth || out.len() > self.max * 4 {
            return;
        }
        let grammar = self.grammar;
        let alts = &grammar.rules[r].alts;
        let ok: Vec<bool> = alts.iter().map(|a| self.eligible(a, depth)).collect();
        let Some(i) = rng.weighted(
            alts.iter()
                .zip(&ok)
                .map(|(a, &ok)| if ok { a.weight } else { 0.0 }),
        ) else {
            return;
        };
        for part in &alts[i].parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Var(name, mods) => {
                    let text = match self.bindings.get(name) {
                        Some(Value::Text(t)) => t.clone(),
                        Some(Value::List(l)) => rng.pick(l).cloned().unwrap_or_default(),
                        Some(Value::Number(n)) => format_number(*n),
                        None => String::new(),
                    };
                    out.push_str(&apply(&text, mods));
                }
                Part::Rule(sub, mods) => {
                    let mut inner = String::new();
                    self.rule(*sub, depth + 1, rng, &mut inner);
                    out.push_str(&apply(&inner, mods));
                }
            }
            if out.len() > self.max * 4 {
                return;
            }
        }
    }
}

fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n:.1}")
    }
}

fn apply(text: &str, mods: &[Modifier]) -> String {
    let mut s = text.to_owned();
    for m in mods {
        s = match m {
            Modifier::Capitalize => capitalise(&s),
            Modifier::CapitalizeAll => s.split(' ').map(capitalise).collect::<Vec<_>>().join(" "),
            Modifier::A => {
                if s.is_empty() {
                    s
                } else {
                    format!("{} {s}", article(&s))
                }
            }
            Modifier::S => plural(&s),
            Modifier::Upper => s.to_uppercase(),
            Modifier::Lower => s.to_lowercase(),
        };
    }
    s
}

/// Simple English plurals: box → boxes, berry → berries, goat → goats.
fn plural(s: &str) -> String {
    if s.is_empty() {
        return String::new();
    }
    let lower = s.to_lowercase();
    if ["s", "x", "z", "ch", "sh"]
        .iter()
        .any(|e| lower.ends_with(e))
    {
        return format!("{s}es");
    }
    let mut chars = lower.chars().rev();
    if let (Some('y'), Some(c)) = (chars.next(), chars.next())
        && !"aeiou".contains(c)
    {
        return format!("{}ies", &s[..s.len() - 1]);
    }
    format!("{s}s")
}

/// Collapses whitespace, removes spaces before punctuation, capitalises sentence starts and cuts
/// the text to `max` characters at a word boundary.
fn tidy(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len());
    let mut capital = true;
    for word in text.split_whitespace() {
        let glue = word.starts_with([',', '.', '!', '?', ';', ':']);
        if !out.is_empty() && !glue {
            out.push(' ');
        }
        if capital {
            out.push_str(&capitalise(word));
        } else {
            out.push_str(word);
        }
        capital = word.ends_with(['.', '!', '?']);
    }
    if out.chars().count() > max {
        let cut: String = out.chars().take(max.saturating_sub(1)).collect();
        let end = cut.rfind(' ').filter(|&i| i > max / 2).unwrap_or(cut.len());
        out = format!("{}…", cut[..end].trim_end_matches([',', ';', ':', ' ']));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modifiers_and_tidying() {
        assert_eq!(apply("apple", &[Modifier::A]), "an apple");
        assert_eq!(apply("old tree", &[Modifier::CapitalizeAll]), "Old Tree");
        assert_eq!(plural("berry"), "berries");
        assert_eq!(plural("box"), "boxes");
        assert_eq!(plural("day"), "days");
        assert_eq!(
            tidy("  hello ,  world. how are you ?", 100),
            "Hello, world. How are you?"
        );
        let long = tidy(&"word ".repeat(100), 30);
        assert!(long.chars().count() <= 30 && long.ends_with('…'), "{long}");
        assert_eq!(format_number(3.0), "3");
    }
}
