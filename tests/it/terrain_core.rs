//! The pure terrain core: determinism, exact seams between neighbours, no cracks between levels
//! of detail, and ground queries that agree with the meshes.

use std::thread;

use aigc_world::config::{WorldConfig, parse_world};
use aigc_world::terrain::{ChunkCoord, ChunkMeshData, TerrainGenerator};

const GOLDEN_WORLD: &str = include_str!("../worlds/golden.world.ron");

fn golden() -> (WorldConfig, TerrainGenerator) {
    let config = parse_world(GOLDEN_WORLD, "golden.world.ron").expect("golden world parses");
    let generator = TerrainGenerator::new(&config).expect("golden world compiles");
    (config, generator)
}

/// FNV-1a over every bit of a chunk's buffers.
fn hash_chunk(mesh: &ChunkMeshData) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    let mut eat = |bits: u32| {
        for b in bits.to_le_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for p in &mesh.positions {
        p.iter().for_each(|v| eat(v.to_bits()));
    }
    for n in &mesh.normals {
        n.iter().for_each(|v| eat(v.to_bits()));
    }
    for w in mesh
        .biome_weights_low
        .iter()
        .chain(&mesh.biome_weights_high)
    {
        w.iter().for_each(|v| eat(v.to_bits()));
    }
    for uv in &mesh.uvs {
        uv.iter().for_each(|v| eat(v.to_bits()));
    }
    mesh.indices.iter().for_each(|&i| eat(i));
    mesh.skirt_depth.iter().for_each(|v| eat(v.to_bits()));
    h
}

const GOLDEN: [(i32, i32, u32, u64); 6] = [
    (0, 0, 1, 0x5da372ff48b058d0),
    (-3, 7, 1, 0x908eb2fb6794c37d),
    (12, -40, 2, 0x8289b19874c4d935),
    (1000, 1000, 4, 0x3400df645c1c4b0b),
    (-250000, 3, 8, 0x0e86ccd30f397c7c),
    (5, 5, 32, 0x524a288ed423b2b4),
];

#[test]
fn chunks_match_golden_hashes() {
    let (_, generator) = golden();
    let mut report = String::new();
    let mut ok = true;
    for (x, z, step, expected) in GOLDEN {
        let got = hash_chunk(&generator.generate_chunk(ChunkCoord::new(x, z), step));
        report.push_str(&format!("    ({x}, {z}, {step}, 0x{got:016x}),\n"));
        ok &= got == expected;
    }
    assert!(
        ok,
        "chunk hashes changed; if intended, the new table is:\n{report}"
    );
}

#[test]
fn generation_is_identical_on_any_thread_in_any_order() {
    let (_, generator) = golden();
    let coords: Vec<(ChunkCoord, u32)> = (0..24)
        .map(|k| {
            (
                ChunkCoord::new(k % 5 - 2, k / 5 - 2),
                [1, 2, 4, 8][k as usize % 4],
            )
        })
        .collect();
    let reference: Vec<u64> = coords
        .iter()
        .map(|&(c, s)| hash_chunk(&generator.generate_chunk(c, s)))
        .collect();
    let generator = &generator;
    let coords = &coords;
    let results: Vec<Vec<(usize, u64)>> = thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                scope.spawn(move || {
                    // Each thread walks the list from a different start, backwards.
                    (0..coords.len())
                        .rev()
                        .map(|k| (k + t * 7) % coords.len())
                        .map(|k| {
                            (
                                k,
                                hash_chunk(&generator.generate_chunk(coords[k].0, coords[k].1)),
                            )
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for thread_results in results {
        for (k, hash) in thread_results {
            assert_eq!(
                hash, reference[k],
                "chunk {:?} differs between runs",
                coords[k]
            );
        }
    }
}

/// World position of a vertex, computed exactly in f64.
fn world(generator: &TerrainGenerator, mesh: &ChunkMeshData, k: usize) -> [f64; 3] {
    let (ox, oz) = generator.chunk_origin(mesh.coord);
    let p = mesh.positions[k];
    [ox + f64::from(p[0]), f64::from(p[1]), oz + f64::from(p[2])]
}

#[test]
fn neighbours_share_exactly_equal_edges() {
    let (_, generator) = golden();
    for step in [1, 2, 4, 8] {
        for (x, z) in [(0, 0), (-7, 3), (40, -41)] {
            let a = generator.generate_chunk(ChunkCoord::new(x, z), step);
            let east = generator.generate_chunk(ChunkCoord::new(x + 1, z), step);
            let south = generator.generate_chunk(ChunkCoord::new(x, z + 1), step);
            let n = a.side;
            for k in 0..n {
                // a's east column against east's west column.
                let (ia, ib) = (k * n + n - 1, k * n);
                assert_eq!(world(&generator, &a, ia), world(&generator, &east, ib));
                assert_eq!(
                    a.normals[ia].map(f32::to_bits),
                    east.normals[ib].map(f32::to_bits)
                );
                // a's south row against south's north row.
                let (ia, ib) = ((n - 1) * n + k, k);
                assert_eq!(world(&generator, &a, ia), world(&generator, &south, ib));
                assert_eq!(
                    a.normals[ia].map(f32::to_bits),
                    south.normals[ib].map(f32::to_bits)
                );
            }
        }
    }
}

/// Heights along a chunk's edge (0 north, 1 south, 2 west, 3 east) at every full-detail index,
/// interpolated between the chunk's own edge vertices.
fn edge_surface(mesh: &ChunkMeshData, edge: usize, full: usize) -> Vec<f32> {
    let n = mesh.side;
    let index = |k: usize| match edge {
        0 => k,
        1 => (n - 1) * n + k,
        2 => k * n,
        _ => k * n + n - 1,
    };
    let step = (full - 1) / (n - 1);
    (0..full)
        .map(|f| {
            let k0 = (f / step).min(n - 1);
            let k1 = (k0 + 1).min(n - 1);
            let t = (f - k0 * step) as f32 / step as f32;
            let (h0, h1) = (mesh.positions[index(k0)][1], mesh.positions[index(k1)][1]);
            h0 + (h1 - h0) * t
        })
        .collect()
}

#[test]
fn different_levels_of_detail_meet_without_cracks() {
    let (config, generator) = golden();
    let full = config.chunk.vertices as usize;
    let mut checked = 0;
    for (fine, coarse) in [(1, 2), (1, 8), (2, 8), (1, 4), (4, 8)] {
        for (x, z) in [(0, 0), (3, -9), (-20, 14)] {
            // East neighbour and south neighbour at the other level.
            for (edge_a, edge_b, dx, dz) in [(3, 2, 1, 0), (1, 0, 0, 1)] {
                for (sa, sb) in [(fine, coarse), (coarse, fine)] {
                    let a = generator.generate_chunk(ChunkCoord::new(x, z), sa);
                    let b = generator.generate_chunk(ChunkCoord::new(x + dx, z + dz), sb);
                    let ha = edge_surface(&a, edge_a, full);
                    let hb = edge_surface(&b, edge_b, full);
                    for f in 0..full {
                        let gap = (ha[f] - hb[f]).abs();
                        // The higher surface's skirt must reach down to the lower surface.
                        let skirt = if ha[f] >= hb[f] {
                            a.skirt_depth[edge_a]
                        } else {
                            b.skirt_depth[edge_b]
                        };
                        assert!(
                            gap <= skirt,
                            "crack of {gap} m > skirt {skirt} m at {f} between {:?}@{sa} and {:?}@{sb}",
                            a.coord,
                            b.coord
                        );
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked > 1000);
}

#[test]
fn skirts_hang_below_every_edge_vertex() {
    let (_, generator) = golden();
    let mesh = generator.generate_chunk(ChunkCoord::new(2, 2), 4);
    let surface = mesh.surface_vertex_count();
    assert_eq!(mesh.positions.len(), surface + 4 * mesh.side);
    for edge in 0..4 {
        for k in 0..mesh.side {
            let skirt = mesh.positions[surface + edge * mesh.side + k];
            assert!(mesh.skirt_depth[edge] >= 1.0);
            let top = mesh
                .positions
                .iter()
                .take(surface)
                .find(|p| p[0] == skirt[0] && p[2] == skirt[2])
                .expect("skirt vertex below a surface vertex");
            assert_eq!(top[1] - mesh.skirt_depth[edge], skirt[1]);
        }
    }
    assert!(
        mesh.indices
            .iter()
            .all(|&i| (i as usize) < mesh.positions.len())
    );
}

#[test]
fn ground_queries_agree_with_mesh_vertices_bit_for_bit() {
    let (_, generator) = golden();
    for (coord, step) in [(ChunkCoord::new(0, 0), 1), (ChunkCoord::new(-5, 9), 4)] {
        let mesh = generator.generate_chunk(coord, step);
        for k in (0..mesh.surface_vertex_count()).step_by(37) {
            let [x, y, z] = world(&generator, &mesh, k);
            assert_eq!(generator.height_at(x, z).to_bits(), (y as f32).to_bits());
            let sample = generator.sample(x, z);
            assert_eq!(sample.height.to_bits(), (y as f32).to_bits());
            assert!((sample.biome_weights.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        }
    }
    // Far away from anything ever loaded, queries still answer.
    let far = generator.sample(9.0e6, -7.5e6);
    assert!(far.height.is_finite() && far.normal[1] > 0.0);
}

#[test]
fn normals_point_up_and_are_unit_length() {
    let (_, generator) = golden();
    let mesh = generator.generate_chunk(ChunkCoord::new(1, -1), 1);
    for n in &mesh.normals {
        let len = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
        assert!((len - 1.0).abs() < 1e-5 && n[1] > 0.0);
    }
}
