//! The remote language-model backend end to end: llama.cpp's own `llama-server` (built by
//! `scripts/llama-cpp.sh`) serving SmolLM2 (fetched by `scripts/fetch-models.sh`), asked through
//! [`RemoteSource`] exactly as the game asks it, reply streamed. Skips, saying so, when either
//! is absent.

use std::io::Read;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aigc_world::dialogue::llm::{LanguageBackend, LanguageSettings, RemoteSource};
use aigc_world::dialogue::{DialogueSource, Intent, ReplySink, SourceEvent};

use crate::common::{llama_cpp_tool, smollm2_path};
use crate::dialogue::{people, request};

/// A running `llama-server`, killed on drop.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server() -> Option<(Server, String)> {
    let (binary, model) = (llama_cpp_tool("llama-server")?, smollm2_path()?);
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(binary)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args([
            "-m",
            model.to_str().unwrap(),
            "-t",
            "1",
            "-c",
            "2048",
            "-np",
            "1",
        ])
        .args(["--no-webui", "--log-disable"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("llama-server starts");
    let server = Server(child);
    let health = format!("http://127.0.0.1:{port}/health");
    let started = Instant::now();
    loop {
        let ok = ureq_get(&health).is_some_and(|body| body.contains("ok"));
        if ok {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "llama-server did not become healthy"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    Some((
        server,
        format!("http://127.0.0.1:{port}/v1/chat/completions"),
    ))
}

/// GETs `url` with a plain TCP request (keeps the test free of an HTTP client of its own).
fn ureq_get(url: &str) -> Option<String> {
    use std::io::Write;
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/')?;
    let mut stream = std::net::TcpStream::connect(host).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
    let mut body = String::new();
    stream.read_to_string(&mut body).ok()?;
    body.starts_with("HTTP/1.1 200").then_some(body)
}

#[test]
fn llama_server_answers_an_npc_streamed() {
    let Some((_server, endpoint)) = start_server() else {
        return;
    };
    let mut settings = LanguageSettings::parse(
        &format!(
            "(backend: Remote(endpoint: \"{endpoint}\", model: \"smollm2\", timeout_secs: 60.0), \
             sampling: (temperature: 0.0))"
        ),
        "test.llm.ron",
    )
    .unwrap();
    settings.max_reply_tokens = 40;
    assert!(matches!(settings.backend, LanguageBackend::Remote { .. }));
    let source = RemoteSource::new(Arc::new(settings)).unwrap();
    assert!(source.name().contains("smollm2"));

    let person = &people(1337, 2)[0];
    let (sink, stream) = ReplySink::channel();
    let started = Instant::now();
    source.respond(
        request(
            person,
            Intent::AboutYou,
            "Hello! What do you do here?",
            12.0,
            0,
            1337,
        ),
        sink,
    );
    let mut pieces = Vec::new();
    let mut first = None;
    let end = loop {
        match stream.recv_timeout(Duration::from_secs(90)) {
            Ok(SourceEvent::Piece(p)) => {
                first.get_or_insert_with(|| started.elapsed());
                pieces.push(p);
            }
            Ok(other) => break other,
            Err(e) => panic!("no reply from llama-server: {e}"),
        }
    };
    let text: String = pieces.concat();
    println!(
        "llama-server: first words after {:?}, {} pieces: {text}",
        first.unwrap_or_default(),
        pieces.len()
    );
    match end {
        SourceEvent::Finished => {
            assert!(text.split_whitespace().count() >= 2, "{text:?}");
            assert!(pieces.len() >= 2, "streamed, not in one piece: {pieces:?}");
            assert!(!text.contains("<|"), "no chat markup: {text}");
        }
        // The small model may say something the rules refuse; that is a clean failure, which
        // the plugin turns into the grammar's answer.
        SourceEvent::Failed(reason) => assert!(reason.contains("refused"), "{reason}"),
        SourceEvent::Piece(_) => unreachable!(),
    }
}
