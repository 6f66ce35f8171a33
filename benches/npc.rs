//! NPC placement and grammar dialogue costs, to size what runs where.
//!
//! Placement of one chunk's people (`populate_chunk`: candidate spots, settlement cells, persona,
//! survey of the surroundings) runs as a task on the async compute pool; the figures say how much
//! pool time a chunk costs, and show why it is not done on the frame thread. A grammar reply is
//! computed on the frame thread (or by the fallback at a deadline), so it must stay far below a
//! frame.
//!
//! ```text
//! cargo bench --bench npc
//! ```

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;

use aigc_world::config::{DEFAULT_WORLD_RON, parse_world};
use aigc_world::dialogue::intent::recognise;
use aigc_world::dialogue::{
    DEFAULT_GRAMMAR_RON, DialogueRequest, Grammar, Intent, RequestId, grammar_reply,
};
use aigc_world::npc::facts::{WorldFacts, survey};
use aigc_world::npc::{NpcConfig, NpcRecord, NpcWorld, populate_chunk};
use aigc_world::terrain::{ChunkCoord, TerrainGenerator};
use criterion::{Criterion, criterion_group, criterion_main};

fn terrain() -> TerrainGenerator {
    TerrainGenerator::new(&parse_world(DEFAULT_WORLD_RON, "default").unwrap()).unwrap()
}

/// The 10 x 10 chunks (640 m square) around the origin.
fn area() -> Vec<ChunkCoord> {
    (-5..5)
        .flat_map(|z| (-5..5).map(move |x| ChunkCoord::new(x, z)))
        .collect()
}

fn placement(c: &mut Criterion) {
    let (t, config) = (terrain(), NpcConfig::builtin());
    let coords = area();
    let mut group = c.benchmark_group("npc placement");
    // A fresh world per chunk, as each placement task has: settlement cells are not memoised
    // across chunks.
    group.bench_function("place_chunk (positions only), per chunk", |b| {
        let mut i = 0;
        b.iter(|| {
            let mut w = NpcWorld::new(1337, &t, &config);
            i = (i + 1) % coords.len();
            black_box(w.place_chunk(coords[i]))
        })
    });
    group.bench_function(
        "populate_chunk (positions, personas, surveys), per chunk",
        |b| {
            let mut i = 0;
            b.iter(|| {
                let mut w = NpcWorld::new(1337, &t, &config);
                i = (i + 1) % coords.len();
                black_box(populate_chunk(&mut w, coords[i]))
            })
        },
    );
    group.bench_function("survey of one NPC's surroundings", |b| {
        b.iter(|| {
            let mut w = NpcWorld::new(1337, &t, &config);
            black_box(survey(&mut w, 50.0, 19.0))
        })
    });
    group.finish();
}

fn dialogue(c: &mut Criterion) {
    let (t, config) = (terrain(), NpcConfig::builtin());
    let mut w = NpcWorld::new(1337, &t, &config);
    let records: Vec<NpcRecord> = area()
        .into_iter()
        .flat_map(|c| populate_chunk(&mut w, c))
        .collect();
    let grammar = Grammar::builtin();
    let requests: Vec<DialogueRequest> = records
        .iter()
        .flat_map(|r| {
            Intent::ALL.map(|intent| DialogueRequest {
                id: RequestId(1),
                npc: r.placed.id,
                persona: Arc::clone(&r.persona),
                player_line: String::new(),
                intent,
                facts: WorldFacts::new((*r.surroundings).clone(), 10.0, Vec::new()),
                seed: 1337,
                distance_m: 0.0,
            })
        })
        .collect();
    let mut group = c.benchmark_group("dialogue");
    group.bench_function("grammar_reply, per reply", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % requests.len();
            black_box(grammar_reply(&grammar, &requests[i]))
        })
    });
    group.bench_function("recognise intent, one line", |b| {
        b.iter(|| {
            black_box(recognise(
                &grammar,
                black_box("Hello! Where is the nearest village, friend?"),
            ))
        })
    });
    group.bench_function("parse and check the default grammar (a hot reload)", |b| {
        b.iter(|| {
            black_box(Grammar::parse(black_box(DEFAULT_GRAMMAR_RON), "default.grammar.ron").is_ok())
        })
    });
    group.finish();
}

criterion_group!(benches, placement, dialogue);
criterion_main!(benches);
