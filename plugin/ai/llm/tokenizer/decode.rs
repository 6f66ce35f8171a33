//! Streaming decoding: text out as tokens arrive. A character can span tokens (byte-level
//! models split emoji and CJK into byte tokens), so bytes that end in the middle of a UTF-8
//! sequence wait for the next token instead of showing as U+FFFD.

use super::{TokenId, Tokenizer, TokenizerError};

/// Turns ids into text one at a time; what it emits, concatenated, equals
/// [`Tokenizer::decode`] of all the ids.
#[derive(Clone, Debug)]
pub struct StreamDecoder<'t> {
    tokenizer: &'t Tokenizer,
    /// Bytes of an unfinished character.
    pending: Vec<u8>,
    first: bool,
}

impl<'t> StreamDecoder<'t> {
    pub(super) fn new(tokenizer: &'t Tokenizer) -> Self {
        Self {
            tokenizer,
            pending: Vec::new(),
            first: true,
        }
    }

    /// Adds one token; returns the text that is complete now (often the token's own text,
    /// empty while a character is unfinished or for a control token).
    pub fn push(&mut self, id: TokenId) -> Result<String, TokenizerError> {
        let piece = self.tokenizer.visible_piece(id, self.first)?;
        self.first = false;
        self.pending.extend_from_slice(piece);
        let mut text = String::new();
        let mut at = 0;
        loop {
            match std::str::from_utf8(&self.pending[at..]) {
                Ok(valid) => {
                    text.push_str(valid);
                    at = self.pending.len();
                    break;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    // The prefix is valid UTF-8 by the error's own account.
                    text.push_str(&String::from_utf8_lossy(&self.pending[at..at + valid]));
                    at += valid;
                    match e.error_len() {
                        // Broken for good: replace it, as `from_utf8_lossy` does, and go on.
                        Some(bad) => {
                            text.push(char::REPLACEMENT_CHARACTER);
                            at += bad;
                        }
                        // Unfinished: keep it for the next token.
                        None => break,
                    }
                }
            }
        }
        self.pending.drain(..at);
        Ok(text)
    }

    /// Whether bytes of an unfinished character are waiting.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Ends the stream: bytes still waiting come out as U+FFFD.
    pub fn finish(self) -> String {
        String::from_utf8_lossy(&self.pending).into_owned()
    }
}
