//! The NPC language model's settings file (`*.llm.ron`): which model answers NPC dialogue (a
//! local model file, an OpenAI-compatible server, or none), how it samples and what it may say.

use serde::Deserialize;

use crate::config::{ConfigError, ConfigErrorKind, locate, parse_ron};
use crate::kinds::{self, FileKind};

/// Where NPC replies come from.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum LanguageBackend {
    /// Only the grammar.
    Off,
    /// A Llama-architecture model run by the game on the AI runtime's model worker.
    Local {
        /// Asset path of the model: a `.gguf` file.
        model: String,
    },
    /// An OpenAI-compatible chat-completions server (llama.cpp's `llama-server`, vLLM, Ollama).
    Remote {
        /// The chat-completions URL, e.g. `http://127.0.0.1:8080/v1/chat/completions`.
        endpoint: String,
        /// The `model` field sent to the server.
        #[serde(default)]
        model: String,
        /// Name of an environment variable holding the API key, sent as a bearer token. The key
        /// itself is never read from or written to a file.
        #[serde(default)]
        api_key_env: Option<String>,
        /// Seconds to wait for a connection.
        #[serde(default = "default_connect_timeout")]
        connect_timeout_secs: f32,
        /// Seconds a whole reply may take.
        #[serde(default = "default_request_timeout")]
        timeout_secs: f32,
    },
}

impl LanguageBackend {
    /// The server settings, for [`Remote`](Self::Remote).
    pub fn remote(&self) -> Option<RemoteSettings> {
        match self {
            Self::Remote {
                endpoint,
                model,
                api_key_env,
                connect_timeout_secs,
                timeout_secs,
            } => Some(RemoteSettings {
                endpoint: endpoint.clone(),
                model: model.clone(),
                api_key_env: api_key_env.clone(),
                connect_timeout_secs: *connect_timeout_secs,
                timeout_secs: *timeout_secs,
            }),
            _ => None,
        }
    }
}

/// How to reach a chat-completions server: the fields of [`LanguageBackend::Remote`].
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteSettings {
    /// The chat-completions URL.
    pub endpoint: String,
    /// The `model` field sent to the server.
    pub model: String,
    /// Name of the environment variable holding the API key.
    pub api_key_env: Option<String>,
    /// Seconds to wait for a connection.
    pub connect_timeout_secs: f32,
    /// Seconds a whole reply may take.
    pub timeout_secs: f32,
}

fn default_connect_timeout() -> f32 {
    2.0
}

fn default_request_timeout() -> f32 {
    20.0
}

/// How the next token is drawn.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SamplingSettings {
    /// 0 picks the likeliest token every time; higher is more varied.
    pub temperature: f32,
    /// Only the `top_k` likeliest tokens are candidates (0 = all).
    pub top_k: u32,
    /// Only the likeliest tokens whose probabilities add up to `top_p` are candidates.
    pub top_p: f32,
    /// Tokens already in the reply are made less likely by this factor (1 = off).
    pub repetition_penalty: f32,
}

impl Default for SamplingSettings {
    fn default() -> Self {
        Self {
            temperature: 0.7,
            top_k: 40,
            top_p: 0.9,
            repetition_penalty: 1.15,
        }
    }
}

/// The whole settings file.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanguageSettings {
    /// Where replies come from.
    pub backend: LanguageBackend,
    /// Sampling.
    #[serde(default)]
    pub sampling: SamplingSettings,
    /// Most tokens in one reply.
    #[serde(default = "default_max_tokens")]
    pub max_reply_tokens: u32,
    /// Most characters in one reply; a reply is cut at the last sentence end before it.
    #[serde(default = "default_max_chars")]
    pub max_reply_chars: u32,
    /// Turns of the conversation so far given to the model: at least the last this many (as far
    /// as the NPC remembers) and fewer than twice as many, the start moving only every this
    /// many turns, so a conversation's cached prompt stays valid for several lines.
    #[serde(default = "default_history")]
    pub history_turns: u32,
    /// Words the NPC can never say (whole words, any case). A reply can not contain them even
    /// when the model prefers them: they are masked while sampling.
    #[serde(default)]
    pub banned_words: Vec<String>,
    /// Seconds the first words may take before the grammar answers instead.
    #[serde(default = "default_first_words")]
    pub first_words_secs: f32,
    /// Seconds a whole reply may take before the grammar answers instead.
    #[serde(default = "default_reply_secs")]
    pub reply_secs: f32,
    /// Extra instructions appended to every NPC's system text (tone, setting, rules).
    #[serde(default)]
    pub extra_instructions: String,
    /// NPC prompt prefixes (system text with persona and surroundings) whose key/value caches
    /// the local model keeps, so a returning player's line only pays for its own tokens.
    #[serde(default = "default_cached_prefixes")]
    pub cached_prefixes: u32,
}

fn default_max_tokens() -> u32 {
    48
}
fn default_max_chars() -> u32 {
    280
}
fn default_history() -> u32 {
    6
}
fn default_first_words() -> f32 {
    3.0
}
fn default_reply_secs() -> f32 {
    30.0
}
fn default_cached_prefixes() -> u32 {
    8
}

impl Default for LanguageSettings {
    fn default() -> Self {
        Self {
            backend: LanguageBackend::Off,
            sampling: SamplingSettings::default(),
            max_reply_tokens: default_max_tokens(),
            max_reply_chars: default_max_chars(),
            history_turns: default_history(),
            banned_words: Vec::new(),
            first_words_secs: default_first_words(),
            reply_secs: default_reply_secs(),
            extra_instructions: String::new(),
            cached_prefixes: default_cached_prefixes(),
        }
    }
}

/// The settings file that ships with the crate.
pub const DEFAULT_LANGUAGE_RON: &str = include_str!("../../../assets/ai/npc.llm.ron");

impl LanguageSettings {
    /// Parses and checks a settings file; `file` labels errors.
    pub fn parse(src: &str, file: &str) -> Result<Self, ConfigError> {
        let settings: Self = parse_ron(src, file)?;
        settings.validate(src, file)?;
        Ok(settings)
    }

    /// Checks ranges; `src` (may be empty) is used to find positions.
    pub fn validate(&self, src: &str, file: &str) -> Result<(), ConfigError> {
        let fail = |path: &[&str], field: &str, value: String, expected: &str| {
            Err(ConfigError::at(
                file,
                locate::locate(src, path),
                ConfigErrorKind::OutOfRange {
                    field: field.to_owned(),
                    value,
                    expected: expected.to_owned(),
                },
            ))
        };
        let s = &self.sampling;
        if !(s.temperature.is_finite() && (0.0..=5.0).contains(&s.temperature)) {
            return fail(
                &["sampling", "temperature"],
                "sampling.temperature",
                s.temperature.to_string(),
                "0 to 5",
            );
        }
        if !(s.top_p.is_finite() && s.top_p > 0.0 && s.top_p <= 1.0) {
            return fail(
                &["sampling", "top_p"],
                "sampling.top_p",
                s.top_p.to_string(),
                "above 0, at most 1",
            );
        }
        if !(s.repetition_penalty.is_finite() && (1.0..=3.0).contains(&s.repetition_penalty)) {
            return fail(
                &["sampling", "repetition_penalty"],
                "sampling.repetition_penalty",
                s.repetition_penalty.to_string(),
                "1 to 3",
            );
        }
        if !(1..=1024).contains(&self.max_reply_tokens) {
            return fail(
                &["max_reply_tokens"],
                "max_reply_tokens",
                self.max_reply_tokens.to_string(),
                "1 to 1024",
            );
        }
        if !(16..=4096).contains(&self.max_reply_chars) {
            return fail(
                &["max_reply_chars"],
                "max_reply_chars",
                self.max_reply_chars.to_string(),
                "16 to 4096",
            );
        }
        if self.history_turns > 64 {
            return fail(
                &["history_turns"],
                "history_turns",
                self.history_turns.to_string(),
                "0 to 64",
            );
        }
        if !(self.first_words_secs.is_finite() && (0.1..=120.0).contains(&self.first_words_secs)) {
            return fail(
                &["first_words_secs"],
                "first_words_secs",
                self.first_words_secs.to_string(),
                "0.1 to 120 seconds",
            );
        }
        if !(self.reply_secs.is_finite() && (0.1..=600.0).contains(&self.reply_secs)) {
            return fail(
                &["reply_secs"],
                "reply_secs",
                self.reply_secs.to_string(),
                "0.1 to 600 seconds",
            );
        }
        if self.cached_prefixes > 256 {
            return fail(
                &["cached_prefixes"],
                "cached_prefixes",
                self.cached_prefixes.to_string(),
                "0 to 256",
            );
        }
        if self.extra_instructions.chars().count() > 2000 {
            return fail(
                &["extra_instructions"],
                "extra_instructions",
                format!("{} characters", self.extra_instructions.chars().count()),
                "at most 2000 characters",
            );
        }
        if self.banned_words.len() > 1000 {
            return fail(
                &["banned_words"],
                "banned_words",
                format!("{} words", self.banned_words.len()),
                "at most 1000 words",
            );
        }
        if let Some(word) = self
            .banned_words
            .iter()
            .find(|w| w.trim().is_empty() || w.chars().count() > 64)
        {
            return fail(
                &["banned_words"],
                "banned_words",
                format!("{word:?}"),
                "words of 1 to 64 characters",
            );
        }
        match &self.backend {
            LanguageBackend::Off => {}
            LanguageBackend::Local { model } => {
                if model.trim().is_empty() {
                    return fail(
                        &["backend", "model"],
                        "backend.model",
                        "\"\"".into(),
                        "an asset path such as \"models/SmolLM2-135M-Instruct.Q4_1.gguf\"",
                    );
                }
            }
            LanguageBackend::Remote { .. } => {
                let Some(remote) = self.backend.remote() else {
                    return Ok(());
                };
                if !(remote.endpoint.starts_with("http://")
                    || remote.endpoint.starts_with("https://"))
                {
                    return fail(
                        &["backend", "endpoint"],
                        "backend.endpoint",
                        format!("{:?}", remote.endpoint),
                        "an http:// or https:// URL",
                    );
                }
                for (name, value) in [
                    ("connect_timeout_secs", remote.connect_timeout_secs),
                    ("timeout_secs", remote.timeout_secs),
                ] {
                    if !(value.is_finite() && (0.1..=600.0).contains(&value)) {
                        return fail(
                            &["backend", name],
                            &format!("backend.{name}"),
                            value.to_string(),
                            "0.1 to 600 seconds",
                        );
                    }
                }
                if let Some(var) = &remote.api_key_env
                    && (var.is_empty() || var.contains(['=', '\0']))
                {
                    return fail(
                        &["backend", "api_key_env"],
                        "backend.api_key_env",
                        format!("{var:?}"),
                        "the name of an environment variable",
                    );
                }
            }
        }
        Ok(())
    }
}

/// `*.llm.ron`: the NPC language model's settings.
#[derive(Clone, Copy, Debug, Default, bevy::reflect::TypePath)]
pub struct LanguageSettingsKind;

impl FileKind for LanguageSettingsKind {
    type Value = LanguageSettings;
    const NAME: &'static str = "language model settings";
    const EXTENSIONS: &'static [&'static str] = &["llm.ron"];

    fn parse(bytes: &[u8], file: &str) -> Result<LanguageSettings, ConfigError> {
        LanguageSettings::parse(kinds::text(bytes, file)?, file)
    }

    fn check(value: &LanguageSettings, source: &str) -> Result<(), ConfigError> {
        value.validate("", source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_settings_are_valid_and_local() {
        let s = LanguageSettings::parse(DEFAULT_LANGUAGE_RON, "npc.llm.ron").unwrap();
        assert!(matches!(s.backend, LanguageBackend::Local { .. }));
    }

    #[test]
    fn errors_name_the_field_and_its_position() {
        let src = "(\n  backend: Off,\n  sampling: (temperature: 9.0),\n)";
        let err = LanguageSettings::parse(src, "x.llm.ron").unwrap_err();
        assert_eq!((err.line, err.column), (3, 14), "{err}");
        assert!(err.to_string().contains("sampling.temperature"), "{err}");

        let src = "(\n  backend: Remote(endpoint: \"ftp://x\"),\n)";
        let err = LanguageSettings::parse(src, "x.llm.ron").unwrap_err();
        assert_eq!(err.line, 2, "{err}");

        // Unknown fields are errors inside variants too.
        let src = "(\n  backend: Remote(endpoint: \"http://x\", api_key: \"secret\"),\n)";
        let err = LanguageSettings::parse(src, "x.llm.ron").unwrap_err();
        assert!(err.to_string().contains("api_key"), "{err}");
        let src = "(backend: Local(model: \"m.gguf\", device: Cpu))";
        assert!(LanguageSettings::parse(src, "x.llm.ron").is_err());
    }
}
