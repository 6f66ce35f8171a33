//! NPC replies from an OpenAI-compatible chat-completions server (llama.cpp's `llama-server`,
//! vLLM, Ollama), streamed with server-sent events.
//!
//! One background thread serves the requests, the nearest conversation first. Each reply
//! streams through a [`ReplyFilter`] (whole words, the turn's end, the length limit, banned
//! words and names checked); a connection error, a timeout, an error from the server or a
//! refused reply fails the request and the grammar answers. The API key, if any, is read from
//! the environment variable the settings name, when a request is sent; it is never stored.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use super::guard::{FilterStep, ReplyFilter, ReplyGuard};
use super::prompt::{Prompt, build_prompt};
use super::settings::{LanguageSettings, RemoteSettings};
use super::sse::{ChatEvent, SseParser, chat_event};
use crate::dialogue::source::{DialogueRequest, DialogueSource, ReplySink};
use crate::npc::facts::Speaker;

/// A [`DialogueSource`] that asks a chat-completions server.
pub struct RemoteSource {
    name: String,
    settings: Arc<LanguageSettings>,
    remote: RemoteSettings,
    queue: Arc<Queue>,
}

struct Job {
    prompt: Prompt,
    settings: Arc<LanguageSettings>,
    remote: RemoteSettings,
    guard: ReplyGuard,
    seed: u64,
    distance_m: f32,
    seq: u64,
    reply: ReplySink,
}

#[derive(Default)]
struct Queue {
    jobs: Mutex<(Vec<Job>, u64)>,
    ready: Condvar,
    closed: AtomicBool,
}

impl Queue {
    fn push(&self, mut job: Job) {
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.1 += 1;
            job.seq = jobs.1;
            jobs.0.push(job);
        }
        self.ready.notify_one();
    }

    /// The nearest conversation's job (oldest first among equals); `None` once closed.
    fn pop(&self) -> Option<Job> {
        let mut jobs = self.jobs.lock().ok()?;
        loop {
            if self.closed.load(Ordering::Relaxed) {
                return None;
            }
            jobs.0.retain(|job| job.reply.is_open());
            let next = jobs
                .0
                .iter()
                .enumerate()
                .min_by(|(_, a), (_, b)| {
                    a.distance_m
                        .total_cmp(&b.distance_m)
                        .then(a.seq.cmp(&b.seq))
                })
                .map(|(i, _)| i);
            if let Some(i) = next {
                return Some(jobs.0.swap_remove(i));
            }
            jobs = self.ready.wait(jobs).ok()?;
        }
    }
}

impl RemoteSource {
    /// A source answering with the server `settings.backend` names (which must be
    /// [`Remote`](super::settings::LanguageBackend::Remote)); `None` otherwise.
    pub fn new(settings: Arc<LanguageSettings>) -> Option<Self> {
        let remote = settings.backend.remote()?;
        let queue = Arc::new(Queue::default());
        let served = queue.clone();
        std::thread::Builder::new()
            .name("aigc-remote-llm".into())
            .spawn(move || {
                crate::background::lower_current_thread_priority();
                while let Some(job) = served.pop() {
                    serve(job);
                }
            })
            .ok()?;
        let name = if remote.model.is_empty() {
            "remote".to_owned()
        } else {
            format!("remote {}", remote.model)
        };
        Some(Self {
            name,
            settings,
            remote,
            queue,
        })
    }
}

impl Drop for RemoteSource {
    fn drop(&mut self) {
        self.queue.closed.store(true, Ordering::Relaxed);
        self.queue.ready.notify_all();
    }
}

impl DialogueSource for RemoteSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn respond(&self, request: DialogueRequest, reply: ReplySink) {
        let settings = self.settings.clone();
        self.queue.push(Job {
            prompt: build_prompt(&request, &settings),
            guard: ReplyGuard::new(
                &request.persona.name,
                &settings.banned_words,
                settings.max_reply_chars as usize,
            ),
            remote: self.remote.clone(),
            seed: super::reply_seed(&request),
            distance_m: request.distance_m,
            seq: 0,
            settings,
            reply,
        });
    }
}

/// Sends one request and streams its reply.
fn serve(job: Job) {
    let Job {
        prompt,
        settings,
        remote,
        guard,
        seed,
        reply,
        ..
    } = job;
    let body = request_body(&prompt, &settings, &remote, seed);
    let mut filter = ReplyFilter::new(guard);
    let outcome = stream_chat(&remote, &body, |piece| match filter.push(piece) {
        FilterStep::Show(text) => reply.piece(text),
        FilterStep::Stop(text) => {
            reply.piece(text);
            false
        }
    });
    if let Err(reason) = outcome
        && reply.is_open()
        && !filter.stopped()
    {
        reply.fail(reason);
        return;
    }
    match filter.finish() {
        Ok((rest, _)) => {
            reply.piece(rest);
            reply.finish();
        }
        Err(refused) => reply.fail(format!("reply refused: {refused}")),
    }
}

/// The chat-completions request: standard OpenAI fields only, so any compatible server takes it.
pub fn request_body(
    prompt: &Prompt,
    settings: &LanguageSettings,
    remote: &RemoteSettings,
    seed: u64,
) -> String {
    let mut messages = vec![json!({"role": "system", "content": prompt.system})];
    for (speaker, text) in &prompt.turns {
        let role = match speaker {
            Speaker::Player => "user",
            Speaker::Npc => "assistant",
        };
        messages.push(json!({"role": role, "content": text}));
    }
    let mut body = json!({
        "messages": messages,
        "stream": true,
        "max_tokens": settings.max_reply_tokens,
        "temperature": settings.sampling.temperature,
        "top_p": settings.sampling.top_p,
        "seed": seed & 0x7fff_ffff,
    });
    if !remote.model.is_empty() {
        body["model"] = json!(remote.model);
    }
    body.to_string()
}

/// Posts `body` to the server and passes each piece of text to `on_text` until it returns false,
/// the stream ends, or the timeout passes.
pub fn stream_chat(
    remote: &RemoteSettings,
    body: &str,
    mut on_text: impl FnMut(&str) -> bool,
) -> Result<(), String> {
    let timeout = Duration::from_secs_f32(remote.timeout_secs);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs_f32(remote.connect_timeout_secs)))
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .build()
        .into();
    let mut post = agent
        .post(&remote.endpoint)
        .header("Content-Type", "application/json")
        .header("Accept", "text/event-stream");
    if let Some(var) = &remote.api_key_env {
        match std::env::var(var) {
            Ok(key) if !key.is_empty() => {
                post = post.header("Authorization", format!("Bearer {key}"));
            }
            _ => return Err(format!("the API key variable {var} is not set")),
        }
    }
    let started = Instant::now();
    let response = post
        .send(body)
        .map_err(|e| format!("{}: {e}", remote.endpoint))?;
    let status = response.status();
    let mut reader = response.into_body().into_reader();
    if !status.is_success() {
        let mut text = String::new();
        let _ = reader.by_ref().take(2048).read_to_string(&mut text);
        return Err(format!("server answered {status}: {}", text.trim()));
    }
    let mut parser = SseParser::default();
    let mut buf = [0u8; 4096];
    loop {
        if started.elapsed() > timeout {
            return Err("timed out".into());
        }
        let n = reader.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Ok(());
        }
        for data in parser.feed(&buf[..n]).map_err(|e| e.to_string())? {
            match chat_event(&data) {
                ChatEvent::Text(text) => {
                    if !text.is_empty() && !on_text(&text) {
                        return Ok(());
                    }
                }
                ChatEvent::Done => return Ok(()),
                ChatEvent::Error(e) => return Err(format!("server error: {e}")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    use super::*;
    use crate::dialogue::llm::prompt::tests::request;
    use crate::dialogue::source::SourceEvent;

    /// A one-shot HTTP server on a free port answering with `response` (raw bytes, sent in
    /// pieces a few milliseconds apart), or never answering when `None`.
    fn serve_once(response: Option<Vec<Vec<u8>>>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if let Some(v) = line.to_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
                if line.trim().is_empty() {
                    break;
                }
            }
            let mut body = vec![0; length];
            std::io::Read::read_exact(&mut reader, &mut body).unwrap();
            let Some(parts) = response else {
                std::thread::sleep(Duration::from_secs(5));
                return;
            };
            let mut stream = stream;
            for part in parts {
                let _ = stream.write_all(&part);
                let _ = stream.flush();
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        format!("http://127.0.0.1:{port}/v1/chat/completions")
    }

    fn settings(endpoint: &str, timeout: f32) -> Arc<LanguageSettings> {
        Arc::new(LanguageSettings {
            backend: super::super::LanguageBackend::Remote {
                endpoint: endpoint.into(),
                model: "test".into(),
                api_key_env: None,
                connect_timeout_secs: 1.0,
                timeout_secs: timeout,
            },
            banned_words: vec!["dragon".into()],
            ..Default::default()
        })
    }

    fn events(source: &RemoteSource) -> Vec<SourceEvent> {
        let (sink, stream) = ReplySink::channel();
        source.respond(request("Hello", vec![]), sink);
        let mut seen = Vec::new();
        while let Ok(event) = stream.recv_timeout(Duration::from_secs(10)) {
            let end = !matches!(event, SourceEvent::Piece(_));
            seen.push(event);
            if end {
                break;
            }
        }
        seen
    }

    fn sse(pieces: &[&str]) -> Vec<Vec<u8>> {
        let mut parts =
            vec![b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n".to_vec()];
        for piece in pieces {
            let chunk = json!({"choices": [{"delta": {"content": piece}, "finish_reason": null}]});
            parts.push(format!("data: {chunk}\n\n").into_bytes());
        }
        parts.push(b"data: [DONE]\n\n".to_vec());
        parts
    }

    #[test]
    fn a_streamed_reply_arrives_word_by_word_and_ends_at_the_turn() {
        let url = serve_once(Some(sse(&[
            "Good ",
            "even",
            "ing to ",
            "you.",
            "\nPlayer: hi",
        ])));
        let source = RemoteSource::new(settings(&url, 5.0)).unwrap();
        let seen = events(&source);
        let text: String = seen
            .iter()
            .filter_map(|e| match e {
                SourceEvent::Piece(p) => Some(p.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(text, "Good evening to you.");
        assert!(seen.len() >= 4, "streamed in pieces: {seen:?}");
        assert_eq!(seen.last(), Some(&SourceEvent::Finished));
    }

    #[test]
    fn errors_timeouts_and_refused_replies_fail_so_the_grammar_answers() {
        let url = serve_once(Some(vec![
            b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\nboom".to_vec(),
        ]));
        let seen = events(&RemoteSource::new(settings(&url, 5.0)).unwrap());
        assert!(
            matches!(seen.last(), Some(SourceEvent::Failed(r)) if r.contains("500")),
            "{seen:?}"
        );

        let url = serve_once(None);
        let started = Instant::now();
        let seen = events(&RemoteSource::new(settings(&url, 0.5)).unwrap());
        assert!(
            matches!(seen.last(), Some(SourceEvent::Failed(_))),
            "{seen:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "the timeout held"
        );

        let url = serve_once(Some(sse(&["Beware the ", "dragon", " in the hills."])));
        let seen = events(&RemoteSource::new(settings(&url, 5.0)).unwrap());
        assert!(
            matches!(seen.last(), Some(SourceEvent::Failed(r)) if r.contains("banned")),
            "{seen:?}"
        );
        assert!(
            !seen
                .iter()
                .any(|e| matches!(e, SourceEvent::Piece(p) if p.contains("dragon"))),
            "a banned word is never shown"
        );

        let closed = "http://127.0.0.1:9/v1/chat/completions";
        let seen = events(&RemoteSource::new(settings(closed, 5.0)).unwrap());
        assert!(
            matches!(seen.last(), Some(SourceEvent::Failed(_))),
            "{seen:?}"
        );
    }

    #[test]
    fn the_request_is_plain_openai_and_carries_no_key_unless_asked() {
        let s = settings("http://x", 5.0);
        let remote = s.backend.remote().unwrap();
        let prompt = build_prompt(&request("Hi <|im_end|>", vec![]), &s);
        let body: serde_json::Value =
            serde_json::from_str(&request_body(&prompt, &s, &remote, 42)).unwrap();
        assert_eq!(body["model"], "test");
        assert_eq!(body["stream"], true);
        assert_eq!(body["messages"][0]["role"], "system");
        assert_eq!(
            body["messages"][1]["content"], "Hi <|im_end|>",
            "JSON escapes it"
        );
        assert!(!body.to_string().contains("Bearer"));
        let missing = RemoteSettings {
            api_key_env: Some("AIGC_TEST_SURELY_UNSET_KEY".into()),
            ..remote
        };
        let err = stream_chat(&missing, "{}", |_| true).unwrap_err();
        assert!(err.contains("AIGC_TEST_SURELY_UNSET_KEY"), "{err}");
    }
}
