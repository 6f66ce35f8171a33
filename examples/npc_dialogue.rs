//! Talk to an NPC from the terminal, without a window: prints the NPC's persona, the facts it
//! knows and a short conversation. Modders use it to try grammar and NPC file edits.
//!
//! ```text
//! cargo run --example npc_dialogue -- --seed 7 --npc 2 --say "where is the village?"
//! ```
//!
//! Options: `--world PATH` (a `.world.ron`, default the shipped one), `--seed N` (overrides the
//! world's seed), `--npc K` (the K-th NPC found spiralling out from the origin, default 0),
//! `--say "..."` (repeatable; default a few typical lines), `--grammar PATH`, `--npcs PATH`
//! (a `.npc.ron`), `--hour H` (time of day, default 10).
//!
//! With `--model PATH` (a Llama-architecture GGUF, such as the one `scripts/fetch-models.sh`
//! fetches) the NPC answers with that language model, as the game's local backend does, on the
//! CPU with its quantized engine, and each reply is followed by its figures: prompt tokens (and
//! how many came from the NPC's cached session), time to the first shown words, tokens per
//! second. `--backend gpu` runs it with burn on the GPU instead (wgpu; burn's own device
//! here, Bevy's in the game). `--llm PATH` reads the sampling and limits from a `.llm.ron` file (default the shipped
//! `assets/ai/npc.llm.ron`).
//!
//! ```text
//! cargo run --release --example npc_dialogue -- --model assets/models/SmolLM2-135M-Instruct.Q4_1.gguf
//! ```

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use aigc_world::ai::backend::ComputeDevice;
use aigc_world::ai::llm::loaded::{LanguageModelFile, LoadedLanguageModel};
use aigc_world::config::parse_world;
use aigc_world::dialogue::intent::recognise;
use aigc_world::dialogue::llm::{
    LanguageSettings, ReplyGuard, build_prompt, generate_reply, reply_seed,
};
use aigc_world::dialogue::{DialogueRequest, Grammar, RequestId, grammar_reply};
use aigc_world::npc::facts::{Speaker, Turn, WorldFacts, distance_words};
use aigc_world::npc::{NpcConfig, NpcRecord, NpcWorld, populate_chunk};
use aigc_world::terrain::{ChunkCoord, TerrainGenerator};

struct Args {
    world: String,
    seed: Option<u64>,
    npc: usize,
    say: Vec<String>,
    grammar: Option<String>,
    npcs: Option<String>,
    hour: f32,
    model: Option<String>,
    llm: String,
    gpu: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        world: "assets/worlds/default.world.ron".into(),
        seed: None,
        npc: 0,
        say: Vec::new(),
        grammar: None,
        npcs: None,
        hour: 10.0,
        model: None,
        llm: "assets/ai/npc.llm.ron".into(),
        gpu: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--world" => args.world = value()?,
            "--seed" => args.seed = Some(value()?.parse().map_err(|e| format!("--seed: {e}"))?),
            "--npc" => args.npc = value()?.parse().map_err(|e| format!("--npc: {e}"))?,
            "--say" => args.say.push(value()?),
            "--grammar" => args.grammar = Some(value()?),
            "--npcs" => args.npcs = Some(value()?),
            "--hour" => args.hour = value()?.parse().map_err(|e| format!("--hour: {e}"))?,
            "--model" => args.model = Some(value()?),
            "--llm" => args.llm = value()?,
            "--backend" => {
                args.gpu = match value()?.as_str() {
                    "cpu" => false,
                    "gpu" => true,
                    other => return Err(format!("--backend: {other} is not cpu or gpu")),
                }
            }
            "--help" | "-h" => {
                return Err(
                    "usage: npc_dialogue [--world PATH] [--seed N] [--npc K] [--say TEXT]... \
                            [--grammar PATH] [--npcs PATH] [--hour H] [--model GGUF] [--backend cpu|gpu] [--llm PATH]"
                        .into(),
                );
            }
            other => return Err(format!("unknown option {other} (try --help)")),
        }
    }
    if args.say.is_empty() {
        args.say = [
            "Who are you?",
            "Where is the nearest village?",
            "What is this land like?",
            "Any news?",
        ]
        .map(String::from)
        .to_vec();
    }
    Ok(args)
}

fn read(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))
}

/// The `k`-th NPC found walking chunk rings outwards from the origin.
fn find_npc(world: &mut NpcWorld, k: usize) -> Option<NpcRecord> {
    let mut found = 0;
    for ring in 0..64i32 {
        for z in -ring..=ring {
            for x in -ring..=ring {
                if x.abs().max(z.abs()) != ring {
                    continue;
                }
                for record in populate_chunk(world, ChunkCoord::new(x, z)) {
                    if found == k {
                        return Some(record);
                    }
                    found += 1;
                }
            }
        }
    }
    None
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let mut config = parse_world(&read(&args.world)?, &args.world).map_err(|e| e.to_string())?;
    if let Some(seed) = args.seed {
        config.seed = seed;
    }
    let npc_config = match &args.npcs {
        Some(p) => NpcConfig::parse(&read(p)?, p).map_err(|e| e.to_string())?,
        None => NpcConfig::builtin(),
    };
    let grammar = match &args.grammar {
        Some(p) => Grammar::parse(&read(p)?, p).map_err(|e| e.to_string())?,
        None => Grammar::builtin(),
    };
    let terrain = TerrainGenerator::new(&config).map_err(|e| e.to_string())?;
    let mut world = NpcWorld::new(config.seed, &terrain, &npc_config);
    let record =
        find_npc(&mut world, args.npc).ok_or("no NPC that far out; try a smaller --npc")?;

    let p = &record.persona;
    let s = &record.surroundings;
    println!("== {} (id {}) ==", p.name, p.id);
    println!("{}", p.summary());
    println!(
        "knows: {}; trades: {}",
        p.knows.join(", "),
        if p.wares.is_empty() {
            "nothing".into()
        } else {
            p.wares.join(", ")
        }
    );
    println!();
    println!("== facts ==");
    println!(
        "stands at ({:.0}, {:.0}, {:.0}) in chunk ({}, {}), biome {}, slope {:.2}",
        s.position[0],
        s.position[1],
        s.position[2],
        record.placed.chunk.x,
        record.placed.chunk.z,
        s.biome,
        s.slope
    );
    println!("in sight: {}", s.seen_biomes.join(", "));
    for (what, mark) in [
        ("peak", &s.peak),
        ("valley", &s.valley),
        ("sea", &s.water),
        ("cliff", &s.cliff),
    ] {
        if let Some(m) = mark {
            println!(
                "{what}: {} to the {}, ground at {:.1} m",
                distance_words(m.distance_m),
                m.direction.name(),
                m.height_m
            );
        }
    }
    match &s.settlement {
        Some(t) => println!(
            "nearest settlement: {} ({}), {} to the {}",
            t.name,
            t.culture,
            distance_words(t.distance_m),
            t.direction.name()
        ),
        None => println!("nearest settlement: none within reach"),
    }
    println!("time: {:.1} h", args.hour);
    println!();
    println!("== conversation ==");

    let mut model = match &args.model {
        Some(path) => Some(load_model(path, &args.llm, args.gpu)?),
        None => None,
    };
    let mut history: Vec<Turn> = Vec::new();
    let mut next_id = 0;
    let mut say =
        |line: &str, history: &mut Vec<Turn>, forced: Option<aigc_world::dialogue::Intent>| {
            next_id += 1;
            let intent = forced.unwrap_or_else(|| recognise(&grammar, line));
            let request = DialogueRequest {
                id: RequestId(next_id),
                npc: p.id,
                persona: Arc::clone(p),
                player_line: line.to_owned(),
                intent,
                facts: WorldFacts::new((**s).clone(), args.hour, history.clone()),
                seed: config.seed,
                distance_m: 0.0,
            };
            if !line.is_empty() {
                println!("you> {line}");
            }
            let reply = match &mut model {
                Some((lm, settings)) => model_reply(lm, settings, &request),
                None => {
                    let reply = grammar_reply(&grammar, &request);
                    println!("{}> {reply}   [{}]", p.name, intent.name());
                    reply
                }
            };
            if !line.is_empty() {
                history.push(Turn {
                    speaker: Speaker::Player,
                    text: line.to_owned(),
                });
            }
            history.push(Turn {
                speaker: Speaker::Npc,
                text: reply,
            });
        };
    say("", &mut history, Some(aigc_world::dialogue::Intent::Greet));
    for line in &args.say {
        say(line, &mut history, None);
    }
    say("Farewell!", &mut history, None);
    Ok(())
}

/// The model at `path` on the CPU engine (or burn on the GPU), with the settings of the
/// `.llm.ron` at `llm`.
fn load_model(
    path: &str,
    llm: &str,
    gpu: bool,
) -> Result<(LoadedLanguageModel, LanguageSettings), String> {
    let device = if gpu {
        ComputeDevice::default_gpu().ok_or("this build has no GPU backend (feature wgpu)")?
    } else {
        ComputeDevice::Cpu
    };
    let settings = LanguageSettings::parse(&read(llm)?, llm).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let bytes: Arc<[u8]> = std::fs::read(path)
        .map_err(|e| format!("{path}: {e} (run scripts/fetch-models.sh)"))?
        .into();
    let file = LanguageModelFile::from_gguf(bytes, path).map_err(|e| e.to_string())?;
    let lm = LoadedLanguageModel::load(file, &device).map_err(|e| e.to_string())?;
    let info = lm.info();
    println!(
        "model: {} ({} parameters, {} engine, {:.0} MB resident), loaded in {:.0} ms",
        info.name,
        info.parameters,
        info.engine,
        info.resident_bytes as f64 / 1e6,
        started.elapsed().as_secs_f64() * 1000.0
    );
    Ok((lm, settings))
}

/// The model's reply to `request`, streamed to the terminal as the game would show it, then its
/// figures; the grammar's reply is what the game would show if the model fails.
fn model_reply(
    lm: &mut LoadedLanguageModel,
    settings: &LanguageSettings,
    request: &DialogueRequest,
) -> String {
    let name = request.persona.name.clone();
    let guard = ReplyGuard::new(
        &name,
        &settings.banned_words,
        settings.max_reply_chars as usize,
    );
    print!("{name}> ");
    let _ = std::io::stdout().flush();
    let outcome = generate_reply(
        lm,
        &build_prompt(request, settings),
        settings,
        guard,
        reply_seed(request),
        request.npc.0,
        &mut |piece| {
            print!("{piece}");
            let _ = std::io::stdout().flush();
            true
        },
        &|| false,
    );
    println!();
    match outcome {
        Ok(stats) => {
            let decode_s = stats.total_ms / 1000.0;
            println!(
                "   [prompt {} tokens, {} cached; first words {:.0} ms; {} tokens in {:.0} ms, {:.1} tokens/s overall]",
                stats.prompt_tokens,
                stats.cached_tokens,
                stats.first_words_ms.unwrap_or(f64::NAN),
                stats.reply_tokens,
                stats.total_ms,
                stats.reply_tokens as f64 / decode_s.max(1e-9),
            );
            stats.text
        }
        Err(e) => {
            println!("   [no reply from the model: {e}; the grammar would answer]");
            String::new()
        }
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
