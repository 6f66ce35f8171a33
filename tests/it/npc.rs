//! NPC placement: deterministic, on the ground, the same people after a chunk reloads, the same
//! on any number of threads, and personas that do not drift (golden values).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use aigc_world::config::{DEFAULT_WORLD_RON, parse_world};
use aigc_world::dialogue::DialoguePlugin;
use aigc_world::npc::placement::fingerprint;
use aigc_world::npc::{
    ActiveNpcConfig, DEFAULT_NPC_RON, Npc, NpcConfig, NpcFileStatus, NpcId, NpcPlugin, NpcStats,
    NpcWorld, Persona, populate_chunk,
};
use aigc_world::prelude::*;
use aigc_world::terrain::{ChunkCoord, TerrainGenerator};
use bevy::asset::io::memory::Dir;
use bevy::prelude::*;
use bevy::time::TimeUpdateStrategy;

use crate::common::run_until;

/// A headless app with built-in world, NPC rules and grammar (no files, so the grammar answers),
/// and an observer at
/// `(x, z)` with a 400 m view radius.
pub fn npc_app(x: f32, z: f32) -> (App, Entity) {
    let mut app = App::new();
    app.add_plugins((
        MinimalPlugins,
        TransformPlugin,
        AssetPlugin::default(),
        AigcWorldPlugin
            .set(WorldConfigPlugin { path: None })
            .set(NpcPlugin { path: None })
            .set(DialoguePlugin { path: None })
            .set(LanguageModelPlugin { path: None }),
    ))
    .insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_secs_f64(
        1.0 / 60.0,
    )));
    app.finish();
    app.cleanup();
    let observer = app
        .world_mut()
        .spawn((
            WorldObserver {
                view_radius_m: Some(400.0),
            },
            Transform::from_xyz(x, 40.0, z),
        ))
        .id();
    (app, observer)
}

/// Runs until terrain and NPC placement have both settled.
pub fn settle(app: &mut App) {
    run_until(app, 4000, |app| {
        app.world().resource::<TerrainStats>().is_settled()
            && app.world().resource::<NpcStats>().is_settled()
    });
    // One more frame so the last spawns are applied and their transforms propagated.
    app.update();
}

/// Every NPC: id -> (name, world position, parent chunk).
pub fn npcs(app: &mut App) -> BTreeMap<NpcId, (String, Vec3, Entity)> {
    let mut q = app
        .world_mut()
        .query::<(&Npc, &GlobalTransform, &ChildOf)>();
    q.iter(app.world())
        .map(|(n, t, parent)| {
            (
                n.id,
                (n.persona.name.clone(), t.translation(), parent.parent()),
            )
        })
        .collect()
}

#[test]
fn npcs_stand_on_the_ground_as_children_of_their_chunk() {
    let (mut app, _) = npc_app(0.0, 0.0);
    settle(&mut app);
    let people = npcs(&mut app);
    assert!(
        people.len() >= 3,
        "only {} NPCs near the origin",
        people.len()
    );
    let sampler = app.world().resource::<TerrainSampler>().clone();
    let size = sampler.generator().chunk_size() as f32;
    for (id, (name, p, parent)) in &people {
        let ground = sampler.height_at(p.x, p.z);
        assert!(
            (p.y - ground).abs() < 1e-3,
            "{name} ({id}) floats: y {} ground {ground}",
            p.y
        );
        let chunk = app
            .world()
            .get::<TerrainChunk>(*parent)
            .expect("parent is a chunk");
        assert!(chunk.vertex_step > 0, "spawned before its chunk had a mesh");
        let (cx, cz) = (chunk.x as f32 * size, chunk.z as f32 * size);
        assert!(
            (cx..=cx + size).contains(&p.x) && (cz..=cz + size).contains(&p.z),
            "{name} outside its chunk"
        );
        let d = Vec2::new(p.x, p.z).length();
        assert!(d <= 300.0 + 32.0 + size * 1.5, "{name} is {d} m away");
    }
}

#[test]
fn the_same_people_return_when_their_chunks_reload() {
    let (mut app, observer) = npc_app(0.0, 0.0);
    settle(&mut app);
    let before = npcs(&mut app);
    assert!(!before.is_empty());

    // Walk 3 km away: every chunk near the origin unloads, and its people with it.
    app.world_mut()
        .get_mut::<Transform>(observer)
        .unwrap()
        .translation = Vec3::new(3000.0, 40.0, 0.0);
    settle(&mut app);
    let away = npcs(&mut app);
    assert!(
        away.keys().all(|id| !before.contains_key(id)),
        "origin NPCs survived the unload"
    );

    app.world_mut()
        .get_mut::<Transform>(observer)
        .unwrap()
        .translation = Vec3::new(0.0, 40.0, 0.0);
    settle(&mut app);
    let after: BTreeMap<_, _> = npcs(&mut app)
        .into_iter()
        .map(|(id, (n, p, _))| (id, (n, p)))
        .collect();
    let before: BTreeMap<_, _> = before
        .into_iter()
        .map(|(id, (n, p, _))| (id, (n, p)))
        .collect();
    assert_eq!(before, after);
}

#[test]
fn changing_the_rules_places_people_again() {
    let (mut app, _) = npc_app(0.0, 0.0);
    settle(&mut app);
    let before = npcs(&mut app);
    let mut empty = NpcConfig::builtin();
    empty.placement.density.clear();
    empty.placement.settlements.chance = 0.0;
    app.world_mut()
        .resource_mut::<ActiveNpcConfig>()
        .replace(empty, "test")
        .unwrap();
    settle(&mut app);
    assert!(npcs(&mut app).is_empty());
    app.world_mut()
        .resource_mut::<ActiveNpcConfig>()
        .replace(NpcConfig::builtin(), "test")
        .unwrap();
    settle(&mut app);
    assert_eq!(
        npcs(&mut app).keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>()
    );
}

fn default_terrain() -> TerrainGenerator {
    TerrainGenerator::new(&parse_world(DEFAULT_WORLD_RON, "default").unwrap()).unwrap()
}

#[test]
fn placement_is_the_same_on_any_number_of_threads() {
    let terrain = default_terrain();
    let config = NpcConfig::builtin();
    let coords: Vec<ChunkCoord> = (-8..8)
        .flat_map(|z| (-8..8).map(move |x| ChunkCoord::new(x, z)))
        .collect();
    let run = |threads: usize| -> Vec<u64> {
        let mut out = vec![0u64; coords.len()];
        std::thread::scope(|s| {
            for (part, slots) in coords
                .chunks(coords.len().div_ceil(threads))
                .zip(out.chunks_mut(coords.len().div_ceil(threads)))
            {
                let (terrain, config) = (&terrain, &config);
                s.spawn(move || {
                    // Each thread has its own settlement memo, as each placement task does.
                    let mut world = NpcWorld::new(1337, terrain, config);
                    for (c, slot) in part.iter().zip(slots) {
                        let placed: Vec<_> = populate_chunk(&mut world, *c)
                            .into_iter()
                            .map(|r| r.placed)
                            .collect();
                        *slot = fingerprint(&placed);
                    }
                });
            }
        });
        out
    };
    let one = run(1);
    // Golden: the people of these 256 chunks of the default world, on every machine.
    assert_eq!(
        aigc_world::npc::rng::hash_words(&one),
        4_579_344_610_977_724_954
    );
    assert_eq!(one, run(3));
    assert_eq!(one, run(7));
}

#[test]
fn persona_golden() {
    let config = NpcConfig::builtin();
    let p = Persona::generate(1337, NpcId(42), "hillfolk", Some("Ashford"), &config);
    assert_eq!(
        p.summary(),
        "Roriric (20), a weary hunter of the hillfolk from Ashford: stubborn, patient; terse style"
    );
    // The first NPC of the default world, found as a player would meet it.
    let terrain = default_terrain();
    let mut world = NpcWorld::new(1337, &terrain, &config);
    let first = populate_chunk(&mut world, ChunkCoord::new(0, 0));
    let first = first.first().expect("someone lives in chunk (0, 0)");
    assert_eq!(first.placed.id, NpcId(0xf148_4c61_62a5_26c6));
    assert_eq!(
        first.persona.summary(),
        "Branwyn (78), a wary hunter of the hillfolk: shy, suspicious; terse style"
    );
    let s = &first.surroundings;
    assert_eq!(s.biome, "grassland");
    assert_eq!(
        s.settlement.as_ref().map(|t| t.name.as_str()),
        Some("Wickhollow")
    );
}

const NPC_PATH: &str = "npc/test.npc.ron";

#[test]
fn npc_file_hot_reload_keeps_the_last_good_rules_on_a_bad_edit() {
    let dir = Dir::default();
    let sparse = DEFAULT_NPC_RON.replacen("candidates_per_chunk: 2", "candidates_per_chunk: 1", 1);
    dir.insert_asset_text(Path::new(NPC_PATH), &sparse);
    let mut app = crate::common::memory_app(
        &dir,
        NpcPlugin {
            path: Some(NPC_PATH.into()),
        },
    );
    run_until(&mut app, 600, |app| {
        app.world().resource::<ActiveNpcConfig>().version() == 2
    });
    assert_eq!(
        app.world()
            .resource::<ActiveNpcConfig>()
            .config()
            .placement
            .candidates_per_chunk,
        1
    );

    let broken = sparse.replacen("\"hunter\": 2.0", "\"huntre\": 2.0", 1);
    let line = broken
        .lines()
        .position(|l| l.contains("\"huntre\""))
        .unwrap()
        + 1;
    dir.insert_asset_text(Path::new(NPC_PATH), &broken);
    app.world().resource::<AssetServer>().reload(NPC_PATH);
    run_until(&mut app, 600, |app| {
        app.world().resource::<NpcFileStatus>().last_error.is_some()
    });
    let err = app
        .world()
        .resource::<NpcFileStatus>()
        .last_error
        .clone()
        .unwrap();
    assert_eq!((err.file.as_str(), err.line), (NPC_PATH, line), "{err}");
    assert!(
        err.to_string()
            .contains("occupation `huntre` is not defined"),
        "{err}"
    );
    assert_eq!(app.world().resource::<ActiveNpcConfig>().version(), 2);
}
