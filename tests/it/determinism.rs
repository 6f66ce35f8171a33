//! Determinism across machines' shapes (issue 15): terrain chunks, scatter, NPC placement, personas,
//! grammar replies and CPU-grown textures are bit-identical on task pools of 1, 2 and 8 threads
//! and in any order of requests. Each piece of work is a task on a Bevy task pool of that many
//! threads, spawned in an order shuffled differently per pool; NPC placement runs in batches,
//! each with its own settlement memo (as each placement task has), filled in that order.
//!
//! The hashes of the 1-thread run are pinned (golden) where the work is plain integer and
//! IEEE arithmetic; learned textures use SIMD kernels whose rounding may differ between CPUs, so
//! they are compared between pools only (as `learned.rs` explains).

use std::sync::Arc;

use aigc_world::ai::backend::{ComputeDevice, grow_texture};
use aigc_world::ai::nca::NcaWeights;
use aigc_world::config::{DEFAULT_WORLD_RON, parse_world};
use aigc_world::dialogue::{Grammar, Intent, grammar_reply};
use aigc_world::npc::placement::fingerprint;
use aigc_world::npc::rng::{hash_str, hash_words};
use aigc_world::npc::{NpcConfig, NpcWorld, populate_chunk};
use aigc_world::scatter::{
    ALL_LAYERS, ScatterRules, ScatterWorld, place::fingerprint as scatter_fingerprint,
};
use aigc_world::terrain::{ChunkCoord, ChunkMeshData, TerrainGenerator};
use aigc_world::texture::{DEFAULT_TEXTURES_RON, generate_material, parse_texture_set};
use bevy::tasks::{TaskPool, TaskPoolBuilder};

/// FNV-1a over bytes.
fn fnv(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn hash_mesh(mesh: &ChunkMeshData) -> u64 {
    let floats = mesh
        .positions
        .iter()
        .chain(&mesh.normals)
        .flatten()
        .chain(mesh.uvs.iter().flatten())
        .chain(mesh.biome_weights_low.iter().flatten())
        .chain(mesh.biome_weights_high.iter().flatten());
    fnv(floats.flat_map(|v| v.to_bits().to_le_bytes()))
}

/// `items` in an order drawn from `seed` (seed 0 keeps the order).
fn shuffled<T: Clone>(items: &[T], seed: u64) -> Vec<T> {
    let mut out = items.to_vec();
    if seed != 0 {
        for i in (1..out.len()).rev() {
            let j = (hash_words(&[seed, i as u64]) % (i as u64 + 1)) as usize;
            out.swap(i, j);
        }
    }
    out
}

/// Runs `work` for every item as a task on `pool`, in the given order; results by item.
fn on_pool<T: Clone + Send + Sync, R: Send + 'static>(
    pool: &TaskPool,
    order: &[T],
    work: &(dyn Fn(&T) -> R + Sync),
) -> Vec<(T, R)> {
    let results = pool.scope(|s| {
        for item in order {
            s.spawn(async move { work(item) });
        }
    });
    // A scope's results come in the order its tasks were spawned.
    assert_eq!(results.len(), order.len());
    order.iter().cloned().zip(results).collect()
}

/// Hashes of every kind of work, each a list sorted by its key so that order does not matter.
#[derive(Debug, PartialEq)]
struct Hashes {
    terrain: u64,
    scatter: u64,
    npcs: u64,
    personas: u64,
    replies: u64,
    textures: u64,
    learned: u64,
}

fn run(threads: usize, order_seed: u64) -> Hashes {
    let pool = TaskPoolBuilder::new()
        .num_threads(threads)
        .thread_name(format!("determinism-{threads}"))
        .build();
    let world = parse_world(DEFAULT_WORLD_RON, "default").unwrap();
    let terrain = Arc::new(TerrainGenerator::new(&world).unwrap());
    let config = NpcConfig::builtin();
    let grammar = Grammar::builtin();

    let chunks: Vec<(i32, i32, u32)> = (-2..2)
        .flat_map(|z| (-2..2).flat_map(move |x| [(x, z, 1), (x, z, 4)]))
        .collect();
    let mut meshes = on_pool(&pool, &shuffled(&chunks, order_seed), &|&(x, z, step)| {
        hash_mesh(&terrain.generate_chunk(ChunkCoord::new(x, z), step))
    });
    meshes.sort_by_key(|(k, _)| *k);

    // Scatter: every layer of each chunk, one task per chunk, sharing one compiled world (and
    // so one cache of ground blocks and lakes) as the plugin's tasks do.
    let (scatter_world, _) =
        ScatterWorld::new(world.seed, &ScatterRules::builtin(), terrain.clone());
    let block: Vec<(i32, i32)> = (-2..3).flat_map(|z| (0..5).map(move |x| (x, z))).collect();
    let mut scattered = on_pool(&pool, &shuffled(&block, order_seed), &|&(x, z)| {
        let placed = scatter_world.place_chunk(ChunkCoord::new(x, z), ALL_LAYERS);
        (placed.len(), scatter_fingerprint(&placed))
    });
    scattered.sort_by_key(|(k, _)| *k);
    assert!(scattered.iter().map(|(_, (n, _))| n).sum::<usize>() > 500);

    // NPCs: batches of chunks, each batch one task with its own memo, visited in shuffled order.
    let coords: Vec<(i32, i32)> = (-4..4).flat_map(|z| (-4..4).map(move |x| (x, z))).collect();
    let order = shuffled(&coords, order_seed);
    let batches: Vec<Vec<(i32, i32)>> = order.chunks(5).map(<[_]>::to_vec).collect();
    let mut people = Vec::new();
    for (_, batch) in on_pool(&pool, &batches, &|batch: &Vec<(i32, i32)>| {
        let mut world = NpcWorld::new(1337, &terrain, &config);
        batch
            .iter()
            .map(|&(x, z)| (x, z, populate_chunk(&mut world, ChunkCoord::new(x, z))))
            .collect::<Vec<_>>()
    }) {
        people.extend(batch);
    }
    people.sort_by_key(|(x, z, _)| (*x, *z));
    let npcs = hash_words(
        &people
            .iter()
            .map(|(_, _, records)| {
                fingerprint(&records.iter().map(|r| r.placed.clone()).collect::<Vec<_>>())
            })
            .collect::<Vec<_>>(),
    );
    let records: Vec<_> = people.into_iter().flat_map(|(_, _, r)| r).collect();
    assert!(records.len() >= 5, "{} people", records.len());
    let personas = hash_words(
        &records
            .iter()
            .map(|r| hash_str(&r.persona.summary()))
            .collect::<Vec<_>>(),
    );
    let asks: Vec<(usize, Intent)> = (0..records.len())
        .flat_map(|i| Intent::ALL.into_iter().map(move |intent| (i, intent)))
        .collect();
    let mut replies = on_pool(&pool, &shuffled(&asks, order_seed), &|&(i, intent)| {
        let r = &records[i];
        let request = crate::dialogue::request(r, intent, "hello", 10.0, 2, 1337);
        hash_str(&grammar_reply(&grammar, &request))
    });
    replies.sort_by_key(|((i, intent), _)| (*i, *intent as u8));

    let set = parse_texture_set(DEFAULT_TEXTURES_RON, "default").unwrap();
    let materials: Vec<String> = set.materials.keys().cloned().collect();
    let mut textures = on_pool(
        &pool,
        &shuffled(&materials, order_seed),
        &|name: &String| {
            let t = generate_material(&set.materials[name], 64, 7);
            fnv(t.albedo.iter().chain(&t.normal_roughness).copied())
        },
    );
    textures.sort();

    let models = ["grass", "rock"];
    let mut learned = on_pool(&pool, &shuffled(&models, order_seed), &|name: &&str| {
        let path = format!("{}/assets/models/{name}.nca", env!("CARGO_MANIFEST_DIR"));
        let weights = NcaWeights::from_bytes(&std::fs::read(path).unwrap()).unwrap();
        fnv(grow_texture(&ComputeDevice::Cpu, &weights, 32, 7, None, &|| false).unwrap())
    });
    learned.sort();

    let values = |v: Vec<u64>| hash_words(&v);
    Hashes {
        terrain: values(meshes.into_iter().map(|(_, h)| h).collect()),
        scatter: values(scattered.into_iter().map(|(_, (_, h))| h).collect()),
        npcs,
        personas,
        replies: values(replies.into_iter().map(|(_, h)| h).collect()),
        textures: values(textures.into_iter().map(|(_, h)| h).collect()),
        learned: values(learned.into_iter().map(|(_, h)| h).collect()),
    }
}

#[test]
fn the_world_is_the_same_on_1_2_and_8_threads_in_any_order() {
    let one = run(1, 0);
    assert_eq!(
        (
            one.terrain,
            one.scatter,
            one.npcs,
            one.personas,
            one.replies,
            one.textures
        ),
        (
            1_735_822_160_653_755_218,
            6_476_008_573_754_450_088,
            9_344_745_718_858_951_834,
            8_045_004_967_891_084_832,
            4_382_667_601_638_134_469,
            1_770_390_243_932_292_981
        ),
        "golden hashes of the 1-thread run"
    );
    for (threads, order) in [(2, 1), (8, 2), (8, 3)] {
        assert_eq!(run(threads, order), one, "{threads} threads, order {order}");
    }
}
