//! Server-sent events and OpenAI-style streamed chat chunks: the wire format of a
//! chat-completions server's streamed reply. Pure Rust, no I/O.
//!
//! An event stream is UTF-8 lines; `data:` lines accumulate into one event, a blank line ends
//! it, lines starting with `:` are comments. Each event of a chat stream is a JSON chunk whose
//! `choices[0].delta.content` is the next piece of text; the event `[DONE]` ends the stream.

use serde::Deserialize;

/// Most bytes one event may hold; a longer one is an error (a broken or hostile server).
pub const MAX_EVENT_BYTES: usize = 1 << 20;

/// Splits a byte stream into events' data, as bytes arrive.
#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    data: String,
    has_data: bool,
}

/// Why a stream could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SseError {
    /// A line or event was longer than [`MAX_EVENT_BYTES`].
    #[error("an event is longer than {MAX_EVENT_BYTES} bytes")]
    TooLong,
    /// A line was not UTF-8.
    #[error("the stream is not UTF-8 text")]
    NotText,
}

impl SseParser {
    /// Feeds `bytes`; returns the data of every event they complete, in order.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<String>, SseError> {
        let mut events = Vec::new();
        for &b in bytes {
            if b != b'\n' {
                if self.line.len() >= MAX_EVENT_BYTES {
                    return Err(SseError::TooLong);
                }
                self.line.push(b);
                continue;
            }
            let mut line = std::mem::take(&mut self.line);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let line = String::from_utf8(line).map_err(|_| SseError::NotText)?;
            if line.is_empty() {
                if self.has_data {
                    events.push(std::mem::take(&mut self.data));
                    self.has_data = false;
                }
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
                None => (line.as_str(), ""),
            };
            if field == "data" {
                if self.data.len() + value.len() >= MAX_EVENT_BYTES {
                    return Err(SseError::TooLong);
                }
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
        }
        Ok(events)
    }
}

/// What one event of a chat stream says.
#[derive(Clone, Debug, PartialEq)]
pub enum ChatEvent {
    /// More text (may be empty: role announcements, keep-alives).
    Text(String),
    /// The reply is complete (`[DONE]`, or a chunk with a finish reason and no text).
    Done,
    /// The server reported an error.
    Error(String),
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
}

/// Reads one event's data as a chat-completions chunk.
pub fn chat_event(data: &str) -> ChatEvent {
    let data = data.trim();
    if data == "[DONE]" {
        return ChatEvent::Done;
    }
    let chunk: Chunk = match serde_json::from_str(data) {
        Ok(chunk) => chunk,
        Err(e) => return ChatEvent::Error(format!("not a chat chunk: {e}")),
    };
    if let Some(error) = chunk.error {
        let message = error
            .get("message")
            .and_then(|m| m.as_str())
            .map_or_else(|| error.to_string(), str::to_owned);
        return ChatEvent::Error(message);
    }
    let Some(choice) = chunk.choices.into_iter().next() else {
        return ChatEvent::Text(String::new());
    };
    let text = choice.delta.and_then(|d| d.content).unwrap_or_default();
    if text.is_empty() && choice.finish_reason.is_some() {
        ChatEvent::Done
    } else {
        ChatEvent::Text(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_survive_any_split_of_the_bytes() {
        let stream = b": keep-alive\r\ndata: {\"a\":1}\r\n\r\ndata: one\ndata: two\n\nevent: x\ndata: [DONE]\n\n";
        let whole = SseParser::default().feed(stream).unwrap();
        assert_eq!(whole, ["{\"a\":1}", "one\ntwo", "[DONE]"]);
        for split in 0..stream.len() {
            let mut p = SseParser::default();
            let mut events = p.feed(&stream[..split]).unwrap();
            events.extend(p.feed(&stream[split..]).unwrap());
            assert_eq!(events, whole, "split at {split}");
        }
    }

    #[test]
    fn long_or_binary_streams_are_errors() {
        let mut p = SseParser::default();
        assert_eq!(
            p.feed(&vec![b'x'; MAX_EVENT_BYTES + 1]).unwrap_err(),
            SseError::TooLong
        );
        let mut p = SseParser::default();
        assert_eq!(p.feed(b"data: \xff\n").unwrap_err(), SseError::NotText);
    }

    #[test]
    fn chat_chunks_give_text_done_and_errors() {
        let text = r#"{"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}"#;
        assert_eq!(chat_event(text), ChatEvent::Text("Hel".into()));
        let role = r#"{"choices":[{"delta":{"role":"assistant"}}]}"#;
        assert_eq!(chat_event(role), ChatEvent::Text(String::new()));
        let stop = r#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#;
        assert_eq!(chat_event(stop), ChatEvent::Done);
        assert_eq!(chat_event(" [DONE] "), ChatEvent::Done);
        let err = r#"{"error":{"message":"model not found","code":404}}"#;
        assert_eq!(chat_event(err), ChatEvent::Error("model not found".into()));
        assert!(matches!(chat_event("{"), ChatEvent::Error(_)));
    }
}
