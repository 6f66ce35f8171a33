//! The sea: water meshes only over chunks with ground below sea level, the depth at every vertex,
//! water that goes with its chunk, and water that follows the world file's sea level.

use aigc_world::config::LakeConfig;
use aigc_world::config::{DEFAULT_WORLD_RON, parse_world};
use aigc_world::prelude::*;
use aigc_world::terrain::{ChunkCoord, TerrainGenerator};
use aigc_world::water::lakes::{Lakes, lake_levels};
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

/// Water depth at every vertex of `mesh` against the ground there, within a centimetre, with the
/// surface at one of `levels` (the sea's, lakes'); returns the number of vertices checked.
fn check_depths(
    g: &TerrainGenerator,
    origin: (f64, f64),
    positions: &[[f32; 3]],
    depths: &[f32],
    levels: &[f32],
) -> usize {
    assert_eq!(positions.len(), depths.len());
    for (p, d) in positions.iter().zip(depths) {
        let ground = g.height_at(origin.0 + f64::from(p[0]), origin.1 + f64::from(p[2]));
        let want = p[1] - ground;
        assert!(
            (d - want).abs() <= 0.01,
            "depth {d} at {p:?}, surface minus ground is {want}"
        );
        assert!(levels.contains(&p[1]), "surface {} not in {levels:?}", p[1]);
    }
    positions.len()
}

/// Whether a chunk should have water (ground below the sea or under a lake covering it), and
/// the surfaces it may have.
fn expected_water(g: &TerrainGenerator, coord: ChunkCoord, step: u32) -> (bool, Vec<f32>) {
    let data = g.generate_chunk(coord, step);
    let n0 = i64::from(g.chunk_vertices() - 1);
    let (ix0, iz0) = (i64::from(coord.x) * n0, i64::from(coord.z) * n0);
    let lakes = g.lakes_near(ix0, iz0, ix0 + n0, iz0 + n0);
    let levels = lake_levels(&lakes, (ix0, iz0), i64::from(step), data.side);
    let under_lake =
        levels.is_some_and(|l| (0..data.side * data.side).any(|k| data.positions[k][1] < l[k]));
    let mut surfaces: Vec<f32> = lakes.iter().map(|l| l.level).collect();
    surfaces.push(g.sea_level());
    (data.min_height < g.sea_level() || under_lake, surfaces)
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
                    let water = water_mesh(&chunk, sea, None);
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
                    vertices += check_depths(&g, origin, &w.positions, &w.depths, &[sea]);
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
        let (wanted, levels) = expected_water(&g, chunk.coord(), chunk.vertex_step);
        assert_eq!(
            !mine.is_empty(),
            wanted,
            "{:?}: water iff ground below the sea or a lake",
            chunk.coord(),
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
        vertices += check_depths(
            &g,
            g.chunk_origin(chunk.coord()),
            positions,
            depths,
            &levels,
        );
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

/// The lakes of the default world in the 4 km square around the origin.
fn lakes_around_origin(
    g: &TerrainGenerator,
) -> Vec<std::sync::Arc<aigc_world::water::lakes::Lake>> {
    g.lakes_near(-2048, -2048, 2047, 2047)
}

#[test]
fn lakes_fill_closed_basins_the_same_whoever_asks_first() {
    let g = generator(0.0);
    let lakes = lakes_around_origin(&g);
    assert!(
        lakes.len() >= 20,
        "the default world has lakes: {}",
        lakes.len()
    );
    // Windows put together from cached blocks of samples have the bits of one big grid.
    let finder = Lakes::new(&LakeConfig::default(), g.spacing(), g.sea_level());
    let heights_on = |grid| g.heights_on(grid);
    for (cx, cz) in [(0, 0), (-3, 2), (1, 1)] {
        assert!(finder.window_heights(cx, cz, &heights_on) == g.heights_on(finder.window(cx, cz)));
    }
    // Another generator, asked chunk by chunk from the far corner of each lake: the same lakes.
    let again = generator(0.0);
    for lake in &lakes {
        let (x0, z0, x1, z1) = lake.bounds();
        assert!(lake.level > g.sea_level() && lake.max_depth >= 3.0 && lake.area_m2 >= 10_000.0);
        let found = again.lakes_near(x1, z1, x1, z1);
        let found_too = again.lakes_near(x0, z0, x0 + 64, z0 + 64);
        assert!(
            found.iter().chain(&found_too).any(|l| **l == **lake),
            "{:?}",
            lake.bounds()
        );
        // Ground under the water somewhere, and the water level queries agree with the lake.
        let spacing = g.spacing();
        let mut under = 0;
        for iz in (z0..=z1).step_by(4) {
            for ix in (x0..=x1).step_by(4) {
                let (x, z) = (ix as f64 * spacing, iz as f64 * spacing);
                let level = g.water_level_at(x, z);
                if lake.covers(ix, iz) {
                    assert!(level >= lake.level);
                    under += usize::from(g.height_at(x, z) < level);
                }
            }
        }
        assert!(under > 0, "a lake with no ground below it");
    }
}

#[test]
fn nothing_is_scattered_under_a_lake() {
    use aigc_world::scatter::{ALL_LAYERS, Ground, ScatterRules, ScatterWorld};
    let g = std::sync::Arc::new(generator(0.0));
    let (scatter, _) = ScatterWorld::new(1337, &ScatterRules::builtin(), g.clone());
    // The lake nearest the origin and the chunks over it.
    let lake = lakes_around_origin(&g)
        .into_iter()
        .min_by_key(|l| {
            let (x0, z0, x1, z1) = l.bounds();
            (x0 + x1).abs() + (z0 + z1).abs()
        })
        .expect("a lake");
    let (x0, z0, x1, z1) = lake.bounds();
    let spacing = g.spacing();
    let first = g.chunk_at(x0 as f64 * spacing, z0 as f64 * spacing);
    let last = g.chunk_at(x1 as f64 * spacing, z1 as f64 * spacing);
    let (mut placed, mut wet_chunks) = (0, 0);
    for cz in first.z..=last.z {
        for cx in first.x..=last.x {
            let coord = ChunkCoord::new(cx, cz);
            let (wanted, _) = expected_water(&g, coord, 1);
            wet_chunks += usize::from(wanted);
            // The drawn (full-detail mesh) ground, as scatter stands objects on it.
            let (min, max) = scatter.chunk_bounds(coord);
            let surface = scatter.ground(ALL_LAYERS, min, max);
            for p in scatter.place_chunk(coord, ALL_LAYERS) {
                let (x, z) = (f64::from(p.position[0]), f64::from(p.position[2]));
                let ground = surface.at(x, z).height;
                assert!(
                    ground >= g.water_level_at(x, z),
                    "object {} in the lake at {:?}",
                    p.layer,
                    p.position
                );
                placed += 1;
            }
        }
    }
    assert!(
        wet_chunks > 0 && placed > 50,
        "{wet_chunks} wet chunks, {placed} objects around"
    );
}
