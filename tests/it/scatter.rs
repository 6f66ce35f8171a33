//! Scatter placement: independent of load order, seam-free, within its rules and on the ground;
//! broken scatter files give positioned errors.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use aigc_world::config::{DEFAULT_WORLD_RON, parse_world};
use aigc_world::scatter::{
    ALL_LAYERS, Ground, ObjectKind, Placement, ScatterRules, ScatterWorld, place::fingerprint,
};
use aigc_world::terrain::{ChunkCoord, TerrainGenerator};

fn world() -> ScatterWorld {
    let config = parse_world(DEFAULT_WORLD_RON, "w").unwrap();
    let generator = Arc::new(TerrainGenerator::new(&config).unwrap());
    let (world, warnings) = ScatterWorld::new(config.seed, &ScatterRules::builtin(), generator);
    assert!(warnings.is_empty(), "{warnings:?}");
    world
}

/// A 5x5 block of chunks around a forest edge near the origin of the default world.
fn block() -> Vec<ChunkCoord> {
    (-2..3)
        .flat_map(|z| (-2..3).map(move |x| ChunkCoord::new(x + 3, z - 1)))
        .collect()
}

fn place_in_order(world: &ScatterWorld, order: &[ChunkCoord]) -> HashMap<ChunkCoord, u64> {
    order
        .iter()
        .map(|&c| (c, fingerprint(&world.place_chunk(c, ALL_LAYERS))))
        .collect()
}

#[test]
fn placement_is_the_same_in_any_load_order_and_matches_one_big_region() {
    let w = world();
    let coords = block();
    let forward = place_in_order(&w, &coords);
    let mut reversed = coords.clone();
    reversed.reverse();
    // Centre first, then outwards by a stride that visits every chunk once.
    let spiral: Vec<ChunkCoord> = (0..coords.len())
        .map(|k| coords[(12 + k * 7) % coords.len()])
        .collect();
    assert_eq!(forward, place_in_order(&w, &reversed));
    assert_eq!(forward, place_in_order(&w, &spiral));

    // The chunks together hold exactly what the block placed as one region holds.
    let (min, _) = w.chunk_bounds(coords[0]);
    let (_, max) = w.chunk_bounds(coords[24]);
    let mut whole = w.place_region(ALL_LAYERS, min, max);
    let mut parts: Vec<Placement> = coords
        .iter()
        .flat_map(|&c| w.place_chunk(c, ALL_LAYERS))
        .collect();
    let key = |p: &Placement| (p.layer, p.id);
    whole.sort_by_key(key);
    parts.sort_by_key(key);
    assert_eq!(whole.len(), parts.len());
    assert_eq!(whole, parts, "chunk borders doubled or lost objects");
    let kinds: Vec<ObjectKind> = ObjectKind::ALL
        .into_iter()
        .filter(|k| whole.iter().any(|p| p.kind == *k))
        .collect();
    assert!(kinds.len() >= 4, "only {kinds:?} in the block");
}

#[test]
fn minimum_spacing_holds_across_every_border() {
    let w = world();
    let all: Vec<Placement> = block()
        .into_iter()
        .flat_map(|c| w.place_chunk(c, ALL_LAYERS))
        .collect();
    let mut cells: HashMap<(u16, i64, i64), Vec<[f32; 3]>> = HashMap::new();
    for p in &all {
        let key = (
            p.layer,
            (p.position[0] / 8.0).floor() as i64,
            (p.position[2] / 8.0).floor() as i64,
        );
        cells.entry(key).or_default().push(p.position);
    }
    let mut pairs = 0u64;
    for p in &all {
        let spacing = w.set.layers[p.layer as usize].spacing;
        assert!(spacing <= 8.0, "this test assumes spacings of 8 m or less");
        let (cx, cz) = (
            (p.position[0] / 8.0).floor() as i64,
            (p.position[2] / 8.0).floor() as i64,
        );
        for dz in -1..=1 {
            for dx in -1..=1 {
                for q in cells
                    .get(&(p.layer, cx + dx, cz + dz))
                    .into_iter()
                    .flatten()
                {
                    if *q == p.position {
                        continue;
                    }
                    let d = (q[0] - p.position[0]).hypot(q[2] - p.position[2]);
                    assert!(
                        d >= spacing - 1e-3,
                        "layer {} objects {d} m apart at {:?}",
                        p.layer,
                        p.position
                    );
                    pairs += 1;
                }
            }
        }
    }
    assert!(pairs > 1000, "too few neighbours to mean anything: {pairs}");
}

#[test]
fn objects_respect_their_rules() {
    let w = world();
    let rules = ScatterRules::builtin();
    let coords = block();
    let mut counts = HashMap::new();
    for &c in &coords {
        let (min, max) = w.chunk_bounds(c);
        let ground = w.ground(ALL_LAYERS, min, max);
        for p in w.place_chunk(c, ALL_LAYERS) {
            let layer = &rules.layers[p.layer as usize];
            let g = ground.at(f64::from(p.position[0]), f64::from(p.position[2]));
            let at = format!("{} at {:?}", layer.name, p.position);
            assert!(g.height >= w.generator().sea_level(), "in the sea: {at}");
            assert!(
                (layer.height_m.min..=layer.height_m.max).contains(&g.height),
                "outside its heights: {at}"
            );
            assert!(g.slope <= layer.max_slope, "too steep: {at}");
            assert!(
                (layer.scale.min..=layer.scale.max).contains(&p.scale),
                "{at}"
            );
            assert!(
                p.yaw.abs() <= layer.yaw_jitter_deg.to_radians() + 1e-6,
                "{at}"
            );
            assert!(u32::from(p.variant) < layer.variants, "{at}");
            assert!(
                (min[0]..max[0]).contains(&f64::from(p.position[0]))
                    && (min[1]..max[1]).contains(&f64::from(p.position[2])),
                "outside its chunk: {at}"
            );
            // Trees stand upright; tilted kinds lean at most as far as the ground.
            if layer.kind.upright() {
                assert_eq!(p.up, [0.0, 1.0, 0.0], "{at}");
            }
            *counts.entry(layer.name.clone()).or_insert(0) += 1;
        }
    }
    assert!(counts.values().sum::<usize>() > 500, "{counts:?}");

    // A world whose land is all below the sea gets nothing at all.
    let mut config = parse_world(DEFAULT_WORLD_RON, "w").unwrap();
    config.sea_level_m = 10_000.0;
    let generator = Arc::new(TerrainGenerator::new(&config).unwrap());
    let (sunk, _) = ScatterWorld::new(config.seed, &ScatterRules::builtin(), generator);
    assert!(
        coords
            .iter()
            .all(|&c| sunk.place_chunk(c, ALL_LAYERS).is_empty())
    );
}

#[test]
fn objects_sit_on_the_full_detail_ground() {
    let w = world();
    let mut checked = 0;
    for &c in block().iter().step_by(3) {
        let mesh = w.generator().generate_chunk(c, 1);
        let (origin, _) = w.chunk_bounds(c);
        let side = mesh.side;
        let h = |i: usize, j: usize| mesh.positions[j * side + i][1];
        for p in w.place_chunk(c, ALL_LAYERS) {
            let sink = w.set.layers[p.layer as usize].sink;
            let (lx, lz) = (
                f64::from(p.position[0]) - origin[0],
                f64::from(p.position[2]) - origin[1],
            );
            let step = w.generator().spacing();
            let (fx, fz) = (lx / step, lz / step);
            let (i, j) = (fx.floor() as usize, fz.floor() as usize);
            let (tx, tz) = ((fx - fx.floor()) as f32, (fz - fz.floor()) as f32);
            // The mesh's own triangles: split along (i + 1, j) - (i, j + 1).
            let surface = if tx + tz <= 1.0 {
                h(i, j) + (h(i + 1, j) - h(i, j)) * tx + (h(i, j + 1) - h(i, j)) * tz
            } else {
                let d = h(i + 1, j + 1);
                d + (h(i, j + 1) - d) * (1.0 - tx) + (h(i + 1, j) - d) * (1.0 - tz)
            };
            let base = p.position[1] + sink;
            assert!(
                (base - surface).abs() < 0.03,
                "{} m off the ground at {:?}",
                base - surface,
                p.position
            );
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked}");
}

#[test]
fn objects_near_a_point_are_the_placed_ones_nearest_first() {
    let w = world();
    let (x, z) = (3.5 * 64.0, -0.5 * 64.0);
    let near = w.objects_near(ALL_LAYERS, x, z, 30.0);
    assert!(!near.is_empty());
    let d = |p: &Placement| (f64::from(p.position[0]) - x).hypot(f64::from(p.position[2]) - z);
    assert!(near.windows(2).all(|w| d(&w[0]) <= d(&w[1])));
    assert!(near.iter().all(|p| d(p) <= 30.0));
    // The same objects as the chunks hold within that distance.
    let mut from_chunks: Vec<Placement> = block()
        .into_iter()
        .flat_map(|c| w.place_chunk(c, ALL_LAYERS))
        .filter(|p| d(p) <= 30.0)
        .collect();
    let mut sorted = near.clone();
    sorted.sort_by_key(|p| (p.layer, p.id));
    from_chunks.sort_by_key(|p| (p.layer, p.id));
    assert_eq!(sorted, from_chunks);
}

#[test]
fn broken_scatter_files_are_reported_where_they_are_wrong() {
    let dir = Path::new("tests/scatter_corpus");
    let expected = std::fs::read_to_string(dir.join("expected.txt")).unwrap();
    let mut checked = 0;
    for line in expected
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let parts: Vec<&str> = line.split(" | ").collect();
        let [file, position, text] = parts[..] else {
            panic!("bad line in expected.txt: {line}");
        };
        let src = std::fs::read_to_string(dir.join(file)).unwrap();
        let err = ScatterRules::parse(&src, file).expect_err(file);
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("{file}:{position}: ")),
            "{file}: expected position {position}, got {message}"
        );
        assert!(
            message.contains(text),
            "{file}: expected «{text}» in {message}"
        );
        checked += 1;
    }
    let files = std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            let path = e.as_ref().unwrap().path();
            path.to_string_lossy().ends_with(".scatter.ron")
        })
        .count();
    assert_eq!(
        checked, files,
        "every corpus file needs a line in expected.txt"
    );
    assert!(checked >= 20);
}

/// Flying at 100 m/s over the world with scatter on: objects appear around the observer, stay
/// within their layers' reach, go with their chunks, and their number stays bounded.
#[test]
fn scatter_follows_a_flying_observer_with_bounded_entities() {
    use aigc_world::config::ActiveWorld;
    use aigc_world::prelude::*;
    use aigc_world::scatter::{CompiledScatter, ScatterIndex, ScatterObject};
    use aigc_world::terrain::TerrainChunk;
    use bevy::prelude::*;

    use crate::common::{run_until, scatter_app};

    let mut app = scatter_app();
    let radius = 128.0;
    let start = Vec3::new(3.5 * 64.0, 60.0, -0.5 * 64.0);
    let observer = app
        .world_mut()
        .spawn((
            WorldObserver {
                view_radius_m: Some(f64::from(radius)),
            },
            Transform::from_translation(start).looking_to(Vec3::X, Vec3::Y),
        ))
        .id();
    run_until(&mut app, 3000, |app| {
        app.world().resource::<TerrainStats>().is_settled()
            && app.world().resource::<ScatterStats>().is_settled()
    });
    let rules = ScatterRules::builtin();
    let (size, hysteresis) = {
        let config = app.world().resource::<ActiveWorld>().config().clone();
        (
            config.chunk.size_m as f32,
            config.streaming.hysteresis_m as f32,
        )
    };
    // The most entities a chunk can hold: every candidate of every layer with entities of
    // their own, plus one mesh per layer drawn per chunk or at its far level; times the chunks
    // within reach.
    let per_chunk: f32 = rules
        .layers
        .iter()
        .map(|l| {
            if l.kind.drawn_per_chunk() {
                1.0
            } else {
                // Its objects, or its far level's mesh.
                l.max_density() / 100.0 * size * size + 1.0
            }
        })
        .sum();
    let side = (2.0 * (radius + hysteresis) / size).ceil() + 2.0;
    let bound = (side * side * per_chunk) as usize;

    let check = |app: &mut App, eye: Vec3| {
        let stats = app.world().resource::<ScatterStats>().clone();
        assert!(
            stats.entities > 0 && stats.entities <= bound,
            "{stats:?} bound {bound}"
        );
        assert!(stats.instances >= stats.entities, "{stats:?}");
        let layers = app
            .world()
            .resource::<CompiledScatter>()
            .world
            .set
            .layers
            .clone();
        let mut q = app
            .world_mut()
            .query::<(&ScatterObject, &ChildOf, &GlobalTransform)>();
        let mut chunks = app.world_mut().query::<&TerrainChunk>();
        let mut seen = 0;
        for (object, parent, at) in q.iter(app.world()) {
            let chunk = chunks
                .get(app.world(), parent.parent())
                .expect("object without chunk");
            let min = Vec2::new(chunk.x as f32, chunk.z as f32) * size;
            let d = (min - eye.xz())
                .max(eye.xz() - min - size)
                .max(Vec2::ZERO)
                .length();
            let reach = layers[object.layer as usize].view_distance + hysteresis + 16.0;
            assert!(d <= reach, "{:?} {d} m away (reach {reach})", object.kind);
            if object.is_layer_mesh() {
                // A layer's mesh sits on its chunk's origin and draws all its objects.
                assert!((at.translation().xz() - min).length() < 1e-3);
            } else {
                assert_eq!(object.instances, 1);
                assert!((at.translation().xz() - min).max_element() <= size + 1e-3);
            }
            seen += 1;
        }
        assert_eq!(seen, stats.entities);
        stats
    };
    let first = check(&mut app, start);
    let kinds: Vec<ObjectKind> = {
        let mut q = app.world_mut().query::<&ScatterObject>();
        let mut k: Vec<ObjectKind> = q.iter(app.world()).map(|o| o.kind).collect();
        k.sort_by_key(|k| *k as u8);
        k.dedup();
        k
    };
    assert!(
        kinds.contains(&ObjectKind::Grass) && kinds.len() >= 4,
        "{kinds:?}"
    );
    // What the index holds near the observer is what the pure core places there.
    let near = app
        .world()
        .resource::<ScatterIndex>()
        .near(start.x, start.z, 40.0);
    assert!(!near.is_empty());
    let world = app.world().resource::<CompiledScatter>().world.clone();
    let pure = world.objects_near(
        aigc_world::scatter::ALL_LAYERS,
        f64::from(start.x),
        f64::from(start.z),
        40.0,
    );
    assert_eq!(near, pure);

    // Fly east at 100 m/s (1/60 s frames) for three chunks.
    let mut eye = start;
    for frame in 1..=115 {
        eye.x += 100.0 / 60.0;
        app.world_mut()
            .get_mut::<Transform>(observer)
            .unwrap()
            .translation = eye;
        app.update();
        let entities = app.world().resource::<ScatterStats>().entities;
        assert!(entities <= bound, "{entities} > {bound} at frame {frame}");
    }
    run_until(&mut app, 3000, |app| {
        app.world().resource::<TerrainStats>().is_settled()
            && app.world().resource::<ScatterStats>().is_settled()
    });
    let last = check(&mut app, eye);
    assert!(last.placed_total > first.placed_total, "{last:?}");
}

/// With a small spawn allowance a frame, no frame spawns more objects than it allows, chunks
/// with more objects than that are finished over several frames, and every chunk ends up with
/// all of its objects.
#[test]
fn a_frame_spawns_no_more_objects_than_it_allows() {
    use aigc_world::prelude::*;
    use aigc_world::scatter::{ScatterObject, ScatterSettings};
    use aigc_world::terrain::catch_up_factor;
    use bevy::prelude::*;

    use crate::common::scatter_app;

    let per_frame = 2;
    let mut app = scatter_app();
    app.insert_resource(ScatterSettings {
        max_spawns_per_frame: per_frame,
        ..default()
    });
    app.world_mut().spawn((
        WorldObserver {
            view_radius_m: Some(128.0),
        },
        Transform::from_xyz(3.5 * 64.0, 60.0, -0.5 * 64.0).looking_to(Vec3::X, Vec3::Y),
    ));
    let count = |app: &mut App| {
        let mut q = app.world_mut().query::<&ScatterObject>();
        q.iter(app.world()).count()
    };
    let start = std::time::Instant::now();
    let mut before = count(&mut app);
    let mut largest_allowance = 0;
    loop {
        app.update();
        let delta_ms = app.world().resource::<Time<Real>>().delta_secs_f64() * 1000.0;
        let allowance = ((per_frame as f64 * catch_up_factor(delta_ms)) as usize).max(1);
        largest_allowance = largest_allowance.max(allowance);
        let now = count(&mut app);
        assert!(
            now <= before + allowance,
            "{} objects spawned in a frame that allows {allowance}",
            now - before
        );
        before = now;
        if app.world().resource::<TerrainStats>().is_settled()
            && app.world().resource::<ScatterStats>().is_settled()
        {
            break;
        }
        assert!(start.elapsed().as_secs() < 300, "scatter did not settle");
    }
    let stats = app.world().resource::<ScatterStats>().clone();
    assert_eq!(count(&mut app), stats.entities, "{stats:?}");
    // Some chunk held more objects than any frame allowed, so it was spawned over several.
    let mut per_chunk = std::collections::HashMap::<Entity, usize>::new();
    let mut q = app.world_mut().query::<(&ScatterObject, &ChildOf)>();
    for (object, parent) in q.iter(app.world()) {
        if !object.is_layer_mesh() {
            *per_chunk.entry(parent.parent()).or_default() += 1;
        }
    }
    let most = per_chunk.values().copied().max().unwrap_or(0);
    assert!(
        most > largest_allowance,
        "the fullest chunk has {most} objects, a frame allowed up to {largest_allowance}"
    );
}

/// Layers with entities of their own are in full detail up to their detail distance and at
/// their far level beyond it, never both; layers drawn per chunk have no far level; and either
/// level places the same objects.
#[test]
fn layers_switch_to_their_far_level_past_the_detail_distance() {
    use aigc_world::scatter::place::{far_bit, full_bit};

    let w = world();
    let set = &w.set;
    let mut far_layers = 0;
    for (i, l) in set.layers.iter().enumerate() {
        assert!(l.detail_distance <= l.view_distance, "{}", l.name);
        let near = set.layers_within(l.detail_distance - 1.0);
        assert_eq!(near & (full_bit(i) | far_bit(i)), full_bit(i), "{}", l.name);
        let beyond = set.layers_within(l.view_distance + 1.0);
        assert_eq!(beyond & (full_bit(i) | far_bit(i)), 0, "{}", l.name);
        if l.kind.drawn_per_chunk() {
            assert_eq!(l.detail_distance, l.view_distance, "{}", l.name);
            continue;
        }
        if l.detail_distance < l.view_distance {
            far_layers += 1;
            let far = set.layers_within(l.detail_distance + 1.0);
            assert_eq!(far & (full_bit(i) | far_bit(i)), far_bit(i), "{}", l.name);
            let c = ChunkCoord::new(3, -1);
            assert_eq!(
                w.place_chunk(c, far_bit(i)),
                w.place_chunk(c, full_bit(i)),
                "{}",
                l.name
            );
        }
    }
    assert!(
        far_layers >= 3,
        "trees, conifers and boulders have a far level"
    );
}

/// Past a layer's detail distance a chunk draws the layer's objects as one mesh at their far
/// level, not an entity each, and never both; that mesh counts every object of the layer.
#[test]
fn objects_past_their_detail_distance_are_one_far_mesh_per_chunk_and_layer() {
    use aigc_world::config::ActiveWorld;
    use aigc_world::prelude::*;
    use aigc_world::scatter::place::full_bit;
    use aigc_world::scatter::{ActiveScatter, CompiledScatter, ScatterObject};
    use aigc_world::terrain::TerrainChunk;
    use bevy::prelude::*;

    use crate::common::{run_until, scatter_app};

    let detail = 40.0;
    let mut app = scatter_app();
    let mut rules = ScatterRules::builtin();
    for l in &mut rules.layers {
        if !l.kind.drawn_per_chunk() {
            l.detail_distance_m = Some(detail);
        }
    }
    app.world_mut()
        .resource_mut::<ActiveScatter>()
        .replace(rules, "test rules")
        .unwrap();
    let eye = Vec3::new(3.5 * 64.0, 60.0, -0.5 * 64.0);
    app.world_mut().spawn((
        WorldObserver {
            view_radius_m: Some(160.0),
        },
        Transform::from_translation(eye).looking_to(Vec3::X, Vec3::Y),
    ));
    run_until(&mut app, 3000, |app| {
        app.world().resource::<TerrainStats>().is_settled()
            && app.world().resource::<ScatterStats>().is_settled()
    });
    let (size, hysteresis) = {
        let config = app.world().resource::<ActiveWorld>().config().clone();
        (
            config.chunk.size_m as f32,
            config.streaming.hysteresis_m as f32,
        )
    };
    // Per (chunk, layer): far meshes and their objects, entities.
    let mut seen: HashMap<(Entity, u16), (u32, u32, usize)> = HashMap::new();
    let mut q = app.world_mut().query::<(&ScatterObject, &ChildOf)>();
    for (object, parent) in q.iter(app.world()) {
        if object.kind.drawn_per_chunk() {
            continue;
        }
        let entry = seen.entry((parent.parent(), object.layer)).or_default();
        if object.far {
            entry.0 += 1;
            entry.1 += object.instances;
        } else {
            entry.2 += 1;
        }
    }
    let (mut far_meshes, mut entities) = (0, 0);
    let placer = app.world().resource::<CompiledScatter>().world.clone();
    let mut chunks = app.world_mut().query::<&TerrainChunk>();
    for ((chunk, layer), (meshes, instances, objects)) in seen {
        let chunk = chunks.get(app.world(), chunk).unwrap();
        let min = Vec2::new(chunk.x as f32, chunk.z as f32) * size;
        let d = (min - eye.xz())
            .max(eye.xz() - min - size)
            .max(Vec2::ZERO)
            .length();
        assert!(meshes <= 1, "{meshes} far meshes of layer {layer}");
        if meshes == 1 {
            far_meshes += 1;
            assert_eq!(objects, 0, "layer {layer} both far and in full detail");
            assert!(d > detail, "far mesh {d} m away");
            let placed = placer.place_chunk(chunk.coord(), full_bit(usize::from(layer)));
            assert_eq!(instances as usize, placed.len(), "layer {layer}");
        } else {
            entities += objects;
            assert!(d <= detail + hysteresis, "entities {d} m away");
        }
    }
    assert!(far_meshes > 0 && entities > 0, "{far_meshes} {entities}");
}
