//! Chunk generation against a naive baseline, in the same run.
//!
//! The baseline is what most Bevy terrain code does: noise-rs `Fbm<Perlin>` sampled once per
//! vertex (with a one-sample border for normals) and straightforward meshing. Ours produces the
//! same heightfield from the same octave count through the noise graph, evaluated over the whole
//! grid, then the same meshing, so the ratio is the noise path at equal work. The full chunk
//! (biome weights, climate, skirts) is measured too, and beside it the scatter placed on a chunk
//! and the meshes of its layers drawn per chunk.
//!
//! ```text
//! cargo bench --bench terrain
//! ```

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use aigc_world::config::{LakeConfig, parse_world};
use aigc_world::scatter::chunk_mesh::{far_layer_mesh, layer_mesh};
use aigc_world::scatter::meshes::{MAX_VARIANTS, OBJECT_MESH_SEED, far_object_mesh};
use aigc_world::scatter::{ALL_LAYERS, ObjectKind, ScatterRules, ScatterWorld};
use aigc_world::terrain::{ChunkCoord, TerrainGenerator};
use aigc_world::water::lakes::Lakes;
use criterion::{Criterion, criterion_group, criterion_main};
use noise::{Fbm, MultiFractal, NoiseFn, Perlin};

const OCTAVES: u32 = 6;
const FREQUENCY: f64 = 1.0 / 256.0;
const SIDE: usize = 65;
const SPACING: f64 = 1.0;

/// A world whose height is a single 6-octave Perlin fBm node, like the baseline.
fn fbm_world() -> TerrainGenerator {
    let src = format!(
        r#"(
            seed: 7,
            chunk: (vertices: {SIDE}, size_m: {size}),
            terrain: (
                height: "height",
                nodes: {{
                    "fbm": Fractal(fractal: Fbm, source: Perlin, octaves: {OCTAVES}, frequency: {FREQUENCY}, lacunarity: 2.0, gain: 0.5),
                    "height": ScaleBias(input: "fbm", scale: 40.0),
                    "flat": Constant(0.5),
                }},
            ),
            biomes: (temperature: "flat", moisture: "flat", table: [(name: "all", color: (0.5, 0.5, 0.5))]),
        )"#,
        size = (SIDE - 1) as f64 * SPACING,
    );
    let config = parse_world(&src, "bench.world.ron").expect("bench world is valid");
    TerrainGenerator::new(&config).expect("bench world compiles")
}

/// Mesh buffers from a `(SIDE + 2)^2` heightfield with border: positions, normals, UVs, indices.
struct Mesh {
    positions: Vec<[f32; 3]>,
    normals: Vec<[f32; 3]>,
    uvs: Vec<[f32; 2]>,
    indices: Vec<u32>,
}

fn straightforward_mesh(heights: &[f32]) -> Mesh {
    let w = SIDE + 2;
    let at = |i: usize, j: usize| heights[j * w + i];
    let mut mesh = Mesh {
        positions: Vec::with_capacity(SIDE * SIDE),
        normals: Vec::with_capacity(SIDE * SIDE),
        uvs: Vec::with_capacity(SIDE * SIDE),
        indices: Vec::with_capacity((SIDE - 1) * (SIDE - 1) * 6),
    };
    let inv = 1.0 / (2.0 * SPACING as f32);
    for j in 1..=SIDE {
        for i in 1..=SIDE {
            let dx = (at(i + 1, j) - at(i - 1, j)) * inv;
            let dz = (at(i, j + 1) - at(i, j - 1)) * inv;
            let len = (dx * dx + 1.0 + dz * dz).sqrt();
            mesh.positions
                .push([(i - 1) as f32, at(i, j), (j - 1) as f32]);
            mesh.normals.push([-dx / len, 1.0 / len, -dz / len]);
            mesh.uvs.push([
                (i - 1) as f32 / (SIDE - 1) as f32,
                (j - 1) as f32 / (SIDE - 1) as f32,
            ]);
        }
    }
    for j in 0..SIDE - 1 {
        for i in 0..SIDE - 1 {
            let a = (j * SIDE + i) as u32;
            let c = a + SIDE as u32;
            mesh.indices
                .extend_from_slice(&[a, c, a + 1, a + 1, c, c + 1]);
        }
    }
    mesh
}

fn baseline_chunk(fbm: &Fbm<Perlin>, coord: ChunkCoord) -> Mesh {
    let w = SIDE + 2;
    let n = (SIDE - 1) as i64;
    let mut heights = Vec::with_capacity(w * w);
    for j in 0..w as i64 {
        for i in 0..w as i64 {
            let x = (i64::from(coord.x) * n + i - 1) as f64 * SPACING;
            let z = (i64::from(coord.z) * n + j - 1) as f64 * SPACING;
            heights.push((fbm.get([x, z]) * 40.0) as f32);
        }
    }
    straightforward_mesh(&heights)
}

fn chunk_generation(c: &mut Criterion) {
    let ours = fbm_world();
    let fbm = Fbm::<Perlin>::new(7)
        .set_octaves(OCTAVES as usize)
        .set_frequency(FREQUENCY)
        .set_lacunarity(2.0)
        .set_persistence(0.5);
    let coords: Vec<ChunkCoord> = (0..16)
        .map(|k| ChunkCoord::new(k % 4 - 2, k / 4 + 3))
        .collect();

    let mut group = c.benchmark_group("chunk_65x65_fbm6");
    group.bench_function("baseline_noise_rs_per_vertex", |b| {
        let mut k = 0;
        b.iter(|| {
            k = (k + 1) % coords.len();
            black_box(baseline_chunk(&fbm, coords[k]))
        })
    });
    group.bench_function("ours_graph_over_grid", |b| {
        let mut k = 0;
        b.iter(|| {
            k = (k + 1) % coords.len();
            let field = ours.heightfield(coords[k], 1);
            black_box(straightforward_mesh(&field.heights))
        })
    });
    group.bench_function("ours_full_chunk", |b| {
        let mut k = 0;
        b.iter(|| {
            k = (k + 1) % coords.len();
            black_box(ours.generate_chunk(coords[k], 1))
        })
    });
    group.finish();

    let default_world = parse_world(aigc_world::config::DEFAULT_WORLD_RON, "default.world.ron")
        .expect("default world is valid");
    let seed = default_world.seed;
    let default_world = TerrainGenerator::new(&default_world).expect("default world compiles");
    let mut group = c.benchmark_group("default_world_chunk");
    for step in [1, 2, 4, 8] {
        group.bench_function(format!("vertex_step_{step}"), |b| {
            let mut k = 0;
            b.iter(|| {
                k = (k + 1) % coords.len();
                black_box(default_world.generate_chunk(coords[k], step))
            })
        });
    }
    // Lakes: one cell's lakes (its 3x3-cell window of height samples and the flood), shared by
    // the 16 chunks of 64 m in a 256 m cell. Cold: nothing cached, nine blocks of samples to
    // make. Raster: cells in rows, as streaming meets them, the neighbours' blocks cached.
    let lake_config = LakeConfig::default();
    let (spacing, sea) = (default_world.spacing(), default_world.sea_level());
    let heights_on = |g| default_world.heights_on(g);
    group.bench_function("lakes_cell_cold", |b| {
        let mut k = 0i64;
        b.iter(|| {
            k = (k + 1) % 16;
            let lakes = Lakes::new(&lake_config, spacing, sea);
            let (cx, cz) = (k % 4 - 2, k / 4 - 2);
            black_box(lakes.cell_lakes(cx, cz, &lakes.window_heights(cx, cz, &heights_on)))
        })
    });
    let lakes = Lakes::new(&lake_config, spacing, sea);
    group.bench_function("lakes_cell_raster", |b| {
        let mut k = 0i64;
        b.iter(|| {
            k += 1;
            let (cx, cz) = (k % 64, k / 64);
            black_box(lakes.cell_lakes(cx, cz, &lakes.window_heights(cx, cz, &heights_on)))
        })
    });
    // Scatter beside the chunk it decorates: every layer (what a chunk near the observer
    // places), and without grass (what chunks beyond the grass's view distance place).
    let (scatter, _) = ScatterWorld::new(
        seed,
        &ScatterRules::builtin(),
        std::sync::Arc::new(default_world.clone()),
    );
    let no_grass = scatter
        .set
        .layers
        .iter()
        .enumerate()
        .filter(|(_, l)| l.kind != ObjectKind::Grass)
        .fold(0u64, |m, (i, _)| m | (1 << i));
    // Forest and grassland near the origin, where every layer has something to place.
    let land: Vec<ChunkCoord> = (0..16)
        .map(|k| ChunkCoord::new(k % 4 + 1, k / 4 - 3))
        .collect();
    for (name, mask) in [
        ("scatter_all_layers", ALL_LAYERS),
        ("scatter_no_grass", no_grass),
    ] {
        group.bench_function(name, |b| {
            let mut k = 0;
            b.iter(|| {
                k = (k + 1) % land.len();
                black_box(scatter.place_chunk(land[k], mask))
            })
        });
    }
    // What the placement task adds for the layers drawn per chunk (bushes, rocks, grass): their
    // objects merged into one mesh per layer.
    let placed: Vec<(ChunkCoord, Vec<_>)> = land
        .iter()
        .map(|&c| (c, scatter.place_chunk(c, ALL_LAYERS)))
        .collect();
    let per_chunk: Vec<u16> = scatter
        .set
        .layers
        .iter()
        .enumerate()
        .filter(|(_, l)| l.kind.drawn_per_chunk())
        .map(|(i, _)| i as u16)
        .collect();
    group.bench_function("scatter_layer_meshes", |b| {
        let mut k = 0;
        b.iter(|| {
            k = (k + 1) % placed.len();
            let (coord, placements) = &placed[k];
            let (origin, _) = scatter.chunk_bounds(*coord);
            for &layer in &per_chunk {
                black_box(layer_mesh(placements, layer, origin));
            }
        })
    });
    // The far level of the other layers (trees, conifers, boulders past their detail distance),
    // merged the same way; variant meshes come from the process-wide cache.
    let far: Vec<u16> = (0..scatter.set.layers.len() as u16)
        .filter(|l| !per_chunk.contains(l))
        .collect();
    group.bench_function("scatter_far_layer_meshes", |b| {
        let mut k = 0;
        b.iter(|| {
            k = (k + 1) % placed.len();
            let (coord, placements) = &placed[k];
            let (origin, _) = scatter.chunk_bounds(*coord);
            for &layer in &far {
                black_box(far_layer_mesh(placements, layer, origin));
            }
        })
    });
    // What each chunk paid per far variant before the cache: the variant built from scratch.
    group.bench_function("far_variant_built", |b| {
        let mut v = 0;
        b.iter(|| {
            v = (v + 1) % MAX_VARIANTS;
            black_box(far_object_mesh(ObjectKind::Tree, v, OBJECT_MESH_SEED))
        })
    });
    group.finish();
}

criterion_group!(benches, chunk_generation);
criterion_main!(benches);
