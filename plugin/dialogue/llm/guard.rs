//! What an NPC may say: checks applied to a model's reply while it is sampled and when it ends.
//!
//! While sampling, [`ReplyGuard::allows`] vetoes a token whose text would complete a banned
//! word, so the model picks its next choice instead: a banned word can never appear, however
//! much the model prefers it. [`ReplyGuard::turn_end`] finds where the NPC's turn is over (a new
//! line, a speaker label such as `Player:`, chat markup spelled out), and generation stops
//! there. [`ReplyFilter::finish`] tidies the finished reply (cut at a sentence end within the
//! length limit) or rejects it (empty, another name for the NPC, a banned word after all), and
//! the grammar answers instead. Pure Rust, no Bevy.

/// Labels that start someone else's turn when followed by `:`.
const OTHER_SPEAKERS: &[&str] = &[
    "player",
    "traveller",
    "traveler",
    "user",
    "you",
    "stranger",
    "human",
    "assistant",
    "system",
    "npc",
];

/// Chat markup a model may spell out in plain characters; the turn ends before it.
const MARKUP: &[&str] = &["<|", "|>", "[INST]", "[/INST]", "</s>", "<s>", "<<SYS>>"];

/// Phrases after which a capitalised word is taken as the speaker's own name.
const NAME_PHRASES: &[&str] = &["my name is ", "my name's ", "call me ", "i am ", "i'm "];

/// Why a finished reply was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyRejected {
    /// Nothing worth saying was left.
    #[error("the reply was empty")]
    Empty,
    /// The NPC called itself something else.
    #[error("the NPC called itself {0}")]
    WrongName(String),
    /// A banned word got through (it should not: sampling masks them).
    #[error("the reply contains a banned word")]
    Banned,
}

/// The rules one reply is held to.
#[derive(Clone, Debug)]
pub struct ReplyGuard {
    /// Banned words and phrases, lowercase, inner whitespace collapsed.
    banned: Vec<String>,
    /// Names the NPC may call itself, lowercase.
    own_names: Vec<String>,
    /// Most characters in the reply.
    max_chars: usize,
}

impl ReplyGuard {
    /// Rules for an NPC called `name` (any of whose words it may call itself), with `banned`
    /// words and a `max_chars` limit.
    pub fn new(name: &str, banned: &[String], max_chars: usize) -> Self {
        let banned = banned
            .iter()
            .map(|w| normalise(w))
            .filter(|w| !w.is_empty())
            .collect();
        let own_names = name
            .split_whitespace()
            .map(str::to_lowercase)
            .chain(std::iter::once(name.to_lowercase()))
            .collect();
        Self {
            banned,
            own_names,
            max_chars: max_chars.max(1),
        }
    }

    /// Most characters in a reply.
    pub fn max_chars(&self) -> usize {
        self.max_chars
    }

    /// Whether `piece` may follow `reply`: false if it would complete a banned word or phrase,
    /// or (with `ends` set, for an end-of-turn token) if the reply would end on one. A banned
    /// word counts as complete once the character after it is not a letter or digit, so
    /// "AI" is refused but "Air" is not.
    pub fn allows(&self, reply: &str, piece: &str, ends: bool) -> bool {
        if self.banned.is_empty() {
            return true;
        }
        let before = normalise(reply);
        let after = normalise(&format!("{reply}{piece}"));
        // Only occurrences that the new piece completes matter; older ones were vetoed when
        // they would have completed.
        let settled_before = before.chars().count();
        !self
            .banned
            .iter()
            .any(|word| completes(&after, word, settled_before, ends))
    }

    /// Byte index in `reply` where the NPC's turn is over, if it is: a line break, another
    /// speaker's label (`Player:`, `User:`...), or chat markup spelled out.
    pub fn turn_end(&self, reply: &str) -> Option<usize> {
        let mut end = reply.find('\n');
        for markup in MARKUP {
            if let Some(at) = reply.find(markup) {
                end = Some(end.map_or(at, |e| e.min(at)));
            }
        }
        let lower = reply.to_lowercase();
        if lower.len() == reply.len() {
            // Byte positions agree only when lowercasing kept every length (almost always).
            for label in OTHER_SPEAKERS {
                let mut from = 0;
                while let Some(found) = lower[from..].find(label) {
                    let at = from + found;
                    let rest = lower[at + label.len()..].trim_start_matches(' ');
                    if starts_word(&lower, at) && rest.starts_with(':') {
                        end = Some(end.map_or(at, |e| e.min(at)));
                        break;
                    }
                    from = at + label.len();
                }
            }
        }
        end
    }

    /// Whether `text` holds a banned word that is complete (followed by a non-word character, or
    /// by the end when `at_end`).
    pub fn has_banned(&self, text: &str, at_end: bool) -> bool {
        let normal = normalise(text);
        self.banned
            .iter()
            .any(|word| completes(&normal, word, 0, at_end))
    }

    /// Checks a finished reply: refused if nothing is said, if it holds a banned word, or if the
    /// NPC calls itself by another name.
    pub fn check(&self, reply: &str) -> Result<(), ReplyRejected> {
        if reply.chars().filter(|c| c.is_alphanumeric()).count() < 2 {
            return Err(ReplyRejected::Empty);
        }
        if self.has_banned(reply, true) {
            return Err(ReplyRejected::Banned);
        }
        if let Some(name) = self.claimed_name(reply)
            && !self.own_names.contains(&name.to_lowercase())
        {
            return Err(ReplyRejected::WrongName(name));
        }
        Ok(())
    }

    /// A name the reply gives its speaker ("my name is Tom" gives "Tom").
    fn claimed_name(&self, text: &str) -> Option<String> {
        let lower = text.to_lowercase();
        if lower.len() != text.len() {
            return None;
        }
        for phrase in NAME_PHRASES {
            let mut from = 0;
            while let Some(found) = lower[from..].find(phrase) {
                let at = from + found;
                from = at + phrase.len();
                if !starts_word(&lower, at) {
                    continue;
                }
                let word: String = text[from..]
                    .chars()
                    .take_while(|c| c.is_alphabetic() || *c == '-' || *c == '\'')
                    .collect();
                if word.chars().next().is_some_and(char::is_uppercase) && word != "I" {
                    return Some(word);
                }
            }
        }
        None
    }
}

/// What to do after a piece of a streamed reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FilterStep {
    /// Show this text (whole words; may be empty) and go on.
    Show(String),
    /// Show this text; the NPC's turn is over, generate no more.
    Stop(String),
}

/// A reply as it streams in: passes on whole words only once they are safe, ends the turn where
/// the [`ReplyGuard`] says, and keeps to the length limit. Both the local model and the remote
/// server stream through one.
#[derive(Clone, Debug)]
pub struct ReplyFilter {
    guard: ReplyGuard,
    text: String,
    shown: usize,
    stopped: bool,
    refused: Option<ReplyRejected>,
}

impl ReplyFilter {
    /// A filter holding replies to `guard`'s rules.
    pub fn new(guard: ReplyGuard) -> Self {
        Self {
            guard,
            text: String::new(),
            shown: 0,
            stopped: false,
            refused: None,
        }
    }

    /// The rules.
    pub fn guard(&self) -> &ReplyGuard {
        &self.guard
    }

    /// Everything received so far (up to where the turn ended).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether the turn is over.
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// Takes the next piece of the reply.
    pub fn push(&mut self, piece: &str) -> FilterStep {
        if self.stopped {
            return FilterStep::Stop(String::new());
        }
        // Control characters (a terminal escape, a bell) and undecodable bytes never reach the
        // screen; tabs read as spaces, new lines stay for the turn's end.
        let piece: String = piece
            .chars()
            .filter_map(|c| match c {
                '\n' => Some('\n'),
                '\t' | '\r' => Some(' '),
                '\u{FFFD}' => None,
                c if c.is_control() => None,
                c => Some(c),
            })
            .collect();
        // Leading whitespace of the reply is never shown.
        let piece = if self.text.trim().is_empty() {
            piece.trim_start()
        } else {
            &piece
        };
        self.text.push_str(piece);
        if let Some(end) = self.guard.turn_end(&self.text) {
            self.text.truncate(end);
            return self.stop();
        }
        if self.text.chars().count() > self.guard.max_chars {
            // Cut at the last word already shown: shown text cannot be taken back.
            self.text.truncate(self.shown);
            let trimmed = self.text.trim_end().len();
            self.text.truncate(trimmed);
            self.text.push('…');
            return self.stop();
        }
        // A model that cannot be masked (a remote server) may still say a banned word: nothing
        // from it on is shown, and the reply is refused.
        if self.guard.has_banned(&self.text, false) {
            self.refused = Some(ReplyRejected::Banned);
            self.stopped = true;
            return FilterStep::Stop(String::new());
        }
        // Hold back the last, possibly unfinished, word.
        let safe = self
            .text
            .rfind(char::is_whitespace)
            .map_or(self.shown, |at| at.max(self.shown));
        let shown = self.text[self.shown..safe].to_owned();
        self.shown = safe;
        FilterStep::Show(shown)
    }

    /// The rest of the reply to show and the whole reply, once generation ended (normally or
    /// at [`FilterStep::Stop`]); or why the reply is refused.
    pub fn finish(mut self) -> Result<(String, String), ReplyRejected> {
        if let Some(refused) = self.refused.take() {
            return Err(refused);
        }
        // A quotation opened just as generation ended would dangle: it is dropped (if not shown
        // yet) and the reply trails off instead.
        let end = self.text.trim_end().len();
        let open_quote =
            self.text[..end].ends_with('"') && self.text[..end].matches('"').count() % 2 == 1;
        if open_quote && end > self.shown {
            self.text.truncate(end - 1);
        }
        let mut rest = match self.stop() {
            FilterStep::Show(rest) | FilterStep::Stop(rest) => rest,
        };
        // A reply cut off mid-sentence (the token limit) trails off rather than stopping dead.
        if !self
            .text
            .trim_end()
            .ends_with(['.', '!', '?', '…', '"', '\'', ')'])
        {
            rest.push('…');
            self.text = format!("{}…", self.text.trim_end());
        }
        let whole = self.text.trim().to_owned();
        self.guard.check(&whole)?;
        Ok((rest, whole))
    }

    fn stop(&mut self) -> FilterStep {
        self.stopped = true;
        let end = self.text.trim_end().len().max(self.shown);
        let rest = self.text[self.shown..end].to_owned();
        self.shown = end;
        FilterStep::Stop(rest)
    }
}

/// Lowercase, every run of whitespace one space.
fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_whitespace() {
            space = true;
        } else {
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            out.push(c);
        }
    }
    if space && !out.is_empty() {
        out.push(' ');
    }
    out
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
}

fn starts_word(text: &str, at: usize) -> bool {
    !text[..at].chars().next_back().is_some_and(is_word_char)
}

/// Whether `text` holds `word` as a whole word that ends at or after character `settled` and is
/// closed: followed by a non-word character, or by the end of `text` when `at_end`.
fn completes(text: &str, word: &str, settled: usize, at_end: bool) -> bool {
    let mut from = 0;
    while let Some(found) = text[from..].find(word) {
        let at = from + found;
        let end = at + word.len();
        from = at + word.chars().next().map_or(1, char::len_utf8);
        if !starts_word(text, at) {
            continue;
        }
        let next = text[end..].chars().next();
        let closed = match next {
            Some(c) => !is_word_char(c),
            None => at_end,
        };
        // Character index of the character that closes the word (or the end).
        let closing = text[..end].chars().count();
        if closed && closing >= settled {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> ReplyGuard {
        ReplyGuard::new(
            "Mira Holt",
            &["AI".into(), "language  model".into(), "dragon".into()],
            80,
        )
    }

    #[test]
    fn a_banned_word_is_refused_only_when_complete() {
        let g = guard();
        assert!(g.allows("I am an ", "Ai", false), "may still become 'Air'");
        assert!(g.allows("I am an Ai", "r", false));
        assert!(!g.allows("I am an Ai", " ", false), "closes 'ai'");
        assert!(!g.allows("I am an Ai", ".", false));
        assert!(!g.allows("I am an", " AI.", false));
        assert!(!g.allows("I am an Ai", "", true), "cannot end on it");
        assert!(g.allows("Fresh air", " today", false));
        assert!(g.allows("The dragonfly", " hums", false));
        assert!(!g.allows("a big dragon", "!", false));
        assert!(
            !g.allows("a language", "\n model ", false),
            "whitespace runs match"
        );
        assert!(g.allows("said the", " maid", false), "inside words is fine");
    }

    #[test]
    fn the_turn_ends_at_new_lines_labels_and_markup() {
        let g = guard();
        assert_eq!(g.turn_end("Hello there."), None);
        assert_eq!(g.turn_end("Hello.\nPlayer: hi"), Some(6));
        assert_eq!(g.turn_end("Hello. Player: where?"), Some(7));
        assert_eq!(g.turn_end("Hello. USER : where?"), Some(7));
        assert_eq!(g.turn_end("Hello<|im_end|>"), Some(5));
        assert_eq!(g.turn_end("Your way is east."), None, "'you' inside 'your'");
        assert_eq!(g.turn_end("Ask the player: he knows"), Some(8));
    }

    #[test]
    fn finished_replies_are_checked() {
        let g = guard();
        assert_eq!(g.check("  ").unwrap_err(), ReplyRejected::Empty);
        assert_eq!(
            g.check("Hi! My name is Tom.").unwrap_err(),
            ReplyRejected::WrongName("Tom".into())
        );
        assert!(g.check("Hi! My name is Mira.").is_ok());
        assert!(g.check("I am Holt, and I am happy.").is_ok());
        assert!(g.check("I am tired today.").is_ok());
        assert_eq!(g.check("An AI").unwrap_err(), ReplyRejected::Banned);
    }

    fn stream(pieces: &[&str]) -> (Vec<String>, Result<(String, String), ReplyRejected>) {
        let mut filter = ReplyFilter::new(guard());
        let mut shown = Vec::new();
        for piece in pieces {
            match filter.push(piece) {
                FilterStep::Show(s) => shown.push(s),
                FilterStep::Stop(s) => {
                    shown.push(s);
                    break;
                }
            }
        }
        (shown, filter.finish())
    }

    #[test]
    fn a_quotation_opened_at_the_end_is_dropped_and_the_reply_trails_off() {
        let (shown, done) = stream(&["What do you mean by", " \""]);
        let (rest, whole) = done.unwrap();
        assert_eq!(whole, "What do you mean by…");
        assert_eq!(shown.concat() + &rest, whole);
        // A closed quotation is a finished reply.
        let (_, done) = stream(&["They call it \"the Hollow", ".\""]);
        assert_eq!(done.unwrap().1, "They call it \"the Hollow.\"");
    }

    #[test]
    fn control_characters_and_undecodable_bytes_never_show() {
        let (shown, done) = stream(&["Hel\u{1b}[31mlo\u{7}", " \u{FFFD}there\tfriend", "."]);
        let (_, whole) = done.unwrap();
        assert_eq!(whole, "Hel[31mlo there friend.");
        assert!(shown.concat().chars().all(|c| !c.is_control()));
    }

    #[test]
    fn streamed_replies_show_whole_words_and_stop_at_the_turn_end() {
        let (shown, done) = stream(&[" Hel", "lo there", ", friend.", "\nPlayer", ": hi"]);
        assert_eq!(
            shown.concat() + &done.clone().unwrap().0,
            "Hello there, friend."
        );
        assert_eq!(shown[0], "", "an unfinished word waits");
        assert_eq!(done.unwrap().1, "Hello there, friend.");

        let long = ["The road runs east past the mill. "; 12];
        let (shown, done) = stream(&long);
        let (rest, whole) = done.unwrap();
        assert_eq!(shown.concat() + &rest, whole);
        assert!(
            whole.chars().count() <= 81 && whole.ends_with('…'),
            "{whole}"
        );

        let (_, done) = stream(&["My name is ", "Tom."]);
        assert_eq!(done.unwrap_err(), ReplyRejected::WrongName("Tom".into()));
    }
}
