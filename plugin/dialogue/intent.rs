//! What the player wants, recognised from what they type by keyword phrases listed in the grammar
//! file (so modders can add words, or whole languages).

use super::grammar::Grammar;

/// Longest player line looked at, in characters; the rest is ignored.
pub const MAX_LINE_CHARS: usize = 500;

/// A player intent. Each has a grammar rule of the same name that answers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Intent {
    /// Hello.
    Greet,
    /// The way to the nearest settlement.
    Directions,
    /// What the land around is like.
    Land,
    /// Who the NPC is and what they do.
    AboutYou,
    /// Buying and selling.
    Trade,
    /// News and rumours.
    Rumour,
    /// Goodbye.
    Farewell,
    /// Nothing recognised: an in-character deflection.
    Deflect,
}

impl Intent {
    /// Every intent, each with a required grammar rule.
    pub const ALL: [Intent; 8] = [
        Intent::Greet,
        Intent::Directions,
        Intent::Land,
        Intent::AboutYou,
        Intent::Trade,
        Intent::Rumour,
        Intent::Farewell,
        Intent::Deflect,
    ];

    /// Intents recognised from keywords, strongest claim first: when two score the same, the
    /// earlier wins ("hello, where is the village?" asks for directions).
    pub const RECOGNISED: [Intent; 7] = [
        Intent::Farewell,
        Intent::Trade,
        Intent::Directions,
        Intent::Rumour,
        Intent::AboutYou,
        Intent::Land,
        Intent::Greet,
    ];

    /// Name in grammar files, and the name of the rule that answers it.
    pub fn name(self) -> &'static str {
        match self {
            Intent::Greet => "greet",
            Intent::Directions => "directions",
            Intent::Land => "land",
            Intent::AboutYou => "about_you",
            Intent::Trade => "trade",
            Intent::Rumour => "rumour",
            Intent::Farewell => "farewell",
            Intent::Deflect => "deflect",
        }
    }

    /// The intent called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|i| i.name() == name)
    }
}

/// `text` cut to at most [`MAX_LINE_CHARS`] characters (never inside a character).
pub fn clamp_line(text: &str) -> &str {
    match text.char_indices().nth(MAX_LINE_CHARS) {
        Some((b, _)) => &text[..b],
        None => text,
    }
}

/// Lower-case words of `text` (letters and digits of any script; everything else separates).
pub fn words(text: &str) -> Vec<String> {
    clamp_line(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The intent of `line` by the grammar's keyword phrases: the intent with the most matching
/// phrases wins, ties go to the order of [`Intent::RECOGNISED`], and no match is a deflection.
pub fn recognise(grammar: &Grammar, line: &str) -> Intent {
    let said = words(line);
    if said.is_empty() {
        return Intent::Deflect;
    }
    let mut best = (0usize, Intent::Deflect);
    for intent in Intent::RECOGNISED {
        let score: usize = grammar
            .intent_keywords()
            .iter()
            .filter(|(i, _)| *i == intent)
            .flat_map(|(_, phrases)| phrases)
            .map(|p| said.windows(p.len()).filter(|w| *w == p.as_slice()).count())
            .sum();
        if score > best.0 {
            best = (score, intent);
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_shipped_keywords() {
        let g = Grammar::builtin();
        let cases = [
            ("Hello there!", Intent::Greet),
            ("hello, where is the nearest village?", Intent::Directions),
            ("What's the land like around here?", Intent::Land),
            ("Who are you?", Intent::AboutYou),
            ("Got anything to sell?", Intent::Trade),
            ("Any news or rumours?", Intent::Rumour),
            ("Goodbye, friend", Intent::Farewell),
            ("purple monkey dishwasher", Intent::Deflect),
            ("", Intent::Deflect),
            ("   ", Intent::Deflect),
        ];
        for (line, want) in cases {
            assert_eq!(recognise(&g, line), want, "{line:?}");
        }
    }

    #[test]
    fn long_and_foreign_lines_are_cut_at_a_character() {
        let s = "ü".repeat(2 * MAX_LINE_CHARS);
        assert_eq!(clamp_line(&s).chars().count(), MAX_LINE_CHARS);
        assert_eq!(words("Grüße, WORLD"), vec!["grüße", "world"]);
    }
}
