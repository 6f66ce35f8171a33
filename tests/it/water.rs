//! The sea: water meshes only over chunks with ground below sea level, the depth at every vertex,
//! water that goes with its chunk, and water that follows the world file's sea level.

use aigc_world::config::{DEFAULT_WORLD_RON, parse_world};
use aigc_world::prelude::*;
use aigc_world::terrain::{ChunkCoord, TerrainGenerator};
use aigc_world::water::{ATTRIBUTE_WATER_DEPTH, water_mesh};
use bevy::mesh::VertexAttributeValues;
use bevy::prelude::*;

use crate::common::{headless_app, run_until};

fn generator(sea_level: f32) -> TerrainGenerator {
    let mut config = parse_world(DEFAULT_WORLD_RON, "w").unwrap();
    config.sea_level_m = sea_level;
    TerrainGenerator::new(&config).unwrap()
}

/// The chunk nearest the origin (searching outwards) whose ground crosses sea level: a shore.
fn shore_chunk(g: &TerrainGenerator) -> ChunkCoord {
    let size = g.chunk_size();
    for r in 0..80i32 {
        for z in -r..=r {
            for x in -r..=r {
                if x.abs().max(z.abs()) != r {
                    continue;
                }
                let (x0, z0) = (f64::from(x) * size, f64::from(z) * size);
                let corners = [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0), (0.5, 0.5)]
                    .map(|(a, b)| g.height_at(x0 + a * size, z0 + b * size));
                let sea = g.sea_level();
                if corners.iter().any(|&h| h < sea - 2.0) && corners.iter().any(|&h| h > sea + 2.0)
                {
                    return ChunkCoord::new(x, z);
                }
            }
        }
    }
    panic!("no shore within 80 chunks of the origin");
}

/// Water depth at every vertex of `mesh` against the ground there, within a centimetre; returns
/// the number of vertices checked.
fn check_depths(
    g: &TerrainGenerator,
    origin: (f64, f64),
    positions: &[[f32; 3]],
    depths: &[f32],
) -> usize {
    assert_eq!(positions.len(), depths.len());
    for (p, d) in positions.iter().zip(depths) {
        let ground = g.height_at(origin.0 + f64::from(p[0]), origin.1 + f64::from(p[2]));
        let want = g.sea_level() - ground;
        assert!(
            (d - want).abs() <= 0.01,
            "depth {d} at {p:?}, sea minus ground is {want}"
        );
        assert_eq!(p[1], g.sea_level(), "the surface lies at sea level");
    }
    positions.len()
}

#[test]
fn water_only_over_ground_below_the_sea_with_its_depth_at_every_vertex() {
    for sea in [0.0, 25.0] {
        let g = generator(sea);
        let shore = shore_chunk(&g);
        let (mut wet, mut dry, mut vertices) = (0, 0, 0);
        for dz in -3..=3 {
            for dx in -3..=3 {
                let coord = ChunkCoord::new(shore.x + dx, shore.z + dz);
                for step in [1, 4] {
                    let chunk = g.generate_chunk(coord, step);
                    let water = water_mesh(&chunk, sea);
                    assert_eq!(
                        water.is_some(),
                        chunk.min_height < sea,
                        "{coord:?} step {step}: lowest ground {}",
                        chunk.min_height
                    );
                    let Some(w) = water else {
                        dry += 1;
                        continue;
                    };
                    wet += 1;
                    let origin = g.chunk_origin(coord);
                    vertices += check_depths(&g, origin, &w.positions, &w.depths);
                    // Every quad (two triangles) has a corner below the sea.
                    for quad in w.indices.chunks(6) {
                        assert!(quad.iter().any(|&i| w.depths[i as usize] > 0.0));
                    }
                }
            }
        }
        assert!(
            wet > 4 && dry > 4,
            "sea {sea}: a shore has both ({wet} wet, {dry} dry)"
        );
        assert!(vertices > 1000, "{vertices}");
    }
}

#[test]
fn water_streams_with_its_chunks_and_goes_with_them() {
    let g = generator(0.0);
    let shore = shore_chunk(&g);
    let (x, z) = g.chunk_origin(shore);
    let mut app = headless_app();
    let observer = app
        .world_mut()
        .spawn((
            WorldObserver {
                view_radius_m: Some(200.0),
            },
            Transform::from_xyz(x as f32 + 32.0, 60.0, z as f32 + 32.0),
        ))
        .id();
    run_until(&mut app, 3000, |app| {
        app.world().resource::<TerrainStats>().is_settled()
    });

    let world = app.world_mut();
    let mut chunks = world.query::<(Entity, &TerrainChunk, Option<&Children>)>();
    let mut surfaces = world.query::<(&WaterSurface, &Mesh3d, &ChildOf)>();
    let meshes = world.resource::<Assets<Mesh>>();
    let mut water_entities = Vec::new();
    let (mut wet, mut dry, mut vertices) = (0, 0, 0);
    for (e, chunk, children) in chunks.iter(world) {
        let mine: Vec<_> = children
            .into_iter()
            .flatten()
            .filter_map(|c| surfaces.get(world, *c).ok())
            .collect();
        assert!(mine.len() <= 1, "one water surface per chunk");
        let data = g.generate_chunk(chunk.coord(), chunk.vertex_step);
        assert_eq!(
            !mine.is_empty(),
            data.min_height < g.sea_level(),
            "{:?}: water iff ground below the sea (lowest {})",
            chunk.coord(),
            data.min_height
        );
        let Some((surface, mesh, parent)) = mine.first() else {
            dry += 1;
            continue;
        };
        wet += 1;
        assert_eq!(parent.parent(), e);
        let mesh = meshes.get(&mesh.0).expect("water mesh");
        let Some(VertexAttributeValues::Float32x3(positions)) =
            mesh.attribute(Mesh::ATTRIBUTE_POSITION)
        else {
            panic!("positions")
        };
        let Some(VertexAttributeValues::Float32(depths)) = mesh.attribute(ATTRIBUTE_WATER_DEPTH)
        else {
            panic!("depth attribute")
        };
        assert_eq!(surface.vertices as usize, positions.len());
        vertices += check_depths(&g, g.chunk_origin(chunk.coord()), positions, depths);
        water_entities.push(
            children
                .into_iter()
                .flatten()
                .find(|c| surfaces.get(world, **c).is_ok())
                .copied()
                .unwrap(),
        );
    }
    assert!(wet > 2 && dry > 2, "{wet} wet, {dry} dry chunks");
    assert!(vertices > 500);
    let mut all = world.query::<&WaterSurface>();
    assert_eq!(all.iter(world).count(), wet, "no water without a chunk");

    // Far inland (or far out): the shore's chunks and their water go.
    app.world_mut()
        .get_mut::<Transform>(observer)
        .unwrap()
        .translation = Vec3::new(x as f32 + 50_000.0, 60.0, z as f32);
    run_until(&mut app, 3000, |app| {
        let gone = water_entities
            .iter()
            .all(|&w| app.world().get_entity(w).is_err());
        gone && app.world().resource::<TerrainStats>().is_settled()
    });
    let world = app.world_mut();
    let mut surfaces = world.query::<&ChildOf>();
    let mut orphans = 0;
    for parent in surfaces.iter(world) {
        if world.get::<TerrainChunk>(parent.parent()).is_none() {
            orphans += 1;
        }
    }
    assert_eq!(orphans, 0, "every child still has its chunk");
}

#[test]
fn without_the_water_plugin_there_is_no_water() {
    let g = generator(0.0);
    let shore = shore_chunk(&g);
    let (x, z) = g.chunk_origin(shore);
    let mut app = crate::common::app_with_plugins(
        AigcWorldPlugin
            .set(WorldConfigPlugin { path: None })
            .set(LanguageModelPlugin { path: None })
            .disable::<ScatterPlugin>()
            .disable::<WaterPlugin>(),
    );
    app.world_mut().spawn((
        WorldObserver {
            view_radius_m: Some(150.0),
        },
        Transform::from_xyz(x as f32 + 32.0, 60.0, z as f32 + 32.0),
    ));
    run_until(&mut app, 3000, |app| {
        app.world().resource::<TerrainStats>().is_settled()
    });
    let world = app.world_mut();
    assert_eq!(world.query::<&WaterSurface>().iter(world).count(), 0);
    assert!(world.query::<&TerrainChunk>().iter(world).count() > 4);
}
