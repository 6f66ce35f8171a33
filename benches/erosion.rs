//! Erosion per chunk: the reference simulator against the learned network, with the plain noise
//! chunk as the baseline, in the same run.
//!
//! The simulator needs its own margin of noise around the chunk (droplets arrive from outside);
//! the network needs its reach. Both start from noise heights of the default world at a rugged
//! place and give the chunk's eroded heights; the full eroded chunk (mesh, skirts, biomes) is
//! measured too, alone and with the blocks of eroded ground it is cut from already made, and the
//! flow of water its wetness comes from.
//!
//! ```text
//! cargo bench --bench erosion
//! EROSION_COMPARE=old.erosion cargo bench --bench erosion   # and another model, same run
//! AIGC_BENCH_BACKEND=gpu cargo bench --bench erosion -- "simulator|inference"   # burn on wgpu too
//! ```
//!
//! With `AIGC_BENCH_BACKEND=gpu` the network also runs through burn's wgpu backend
//! ([`ErosionOnDevice`]) on one block and on a batch of 16 blocks per pass, the features made on
//! the CPU and the result read back: what a GPU path for streaming would pay per block. Without
//! a GPU, wgpu runs on Mesa's lavapipe (the CPU), which says nothing about a real GPU's speed.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;

use aigc_world::ai::backend::{ComputeDevice, ErosionOnDevice};
use aigc_world::config::{DEFAULT_WORLD_RON, parse_world};
use aigc_world::erosion::flow::{FLOW_REACH, flow};
use aigc_world::erosion::pairs::noise_tile;
use aigc_world::erosion::{ErosionNet, ErosionParams, ErosionWeights, erode};
use aigc_world::terrain::{ChunkCoord, TerrainGenerator};
use aigc_world_kernels::conv::{ConvShape, conv2d_valid, conv2d_valid_portable};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

/// Rugged ground in the default world.
const HERE: ChunkCoord = ChunkCoord::new(0, -22);

fn erosion(c: &mut Criterion) {
    let world = parse_world(DEFAULT_WORLD_RON, "default.world.ron").unwrap();
    let plain = TerrainGenerator::new(&world).unwrap();
    let bytes = std::fs::read("assets/models/default.erosion").unwrap();
    let net = Arc::new(ErosionNet::new(ErosionWeights::from_bytes(&bytes).unwrap()));
    let eroded = plain.clone().with_erosion(net.clone(), 1.0);
    let params = ErosionParams::default();
    let side = plain.chunk_vertices() as usize;
    let (x0, z0) = plain.chunk_origin(HERE);
    let at = ((x0 / plain.spacing()) as i64, (z0 / plain.spacing()) as i64);
    let mut group = c.benchmark_group("erosion per chunk");
    group.sample_size(10);
    group.bench_function("simulator", |b| {
        b.iter(|| {
            let mut tile = noise_tile(&plain, at.0, at.1, side, params.margin());
            erode(&mut tile, &params);
            black_box(tile)
        })
    });
    group.bench_function("network", |b| {
        b.iter(|| black_box(eroded.ground_window(at.0, at.1, side, side)))
    });
    if let Some(path) = std::env::var_os("EROSION_COMPARE") {
        let bytes = std::fs::read(&path).expect("EROSION_COMPARE names a readable model");
        let other = ErosionNet::new(ErosionWeights::from_bytes(&bytes).expect("a valid model"));
        let other = plain.clone().with_erosion(Arc::new(other), 1.0);
        group.bench_function("network (EROSION_COMPARE model)", |b| {
            b.iter(|| black_box(other.ground_window(at.0, at.1, side, side)))
        });
    }
    // The network alone on one block's padded noise (the noise itself not counted): a block is
    // what streaming runs it on, 64x64 cells.
    let m = net.margin();
    let n = side - 1 + 2 * m;
    let window = plain.noise_window(at.0 - m as i64, at.1 - m as i64, n, n);
    let spacing = plain.spacing() as f32;
    group.bench_function("network inference only", |b| {
        b.iter(|| black_box(net.residual(&window, n, n, spacing)))
    });
    if std::env::var("AIGC_BENCH_BACKEND").is_ok_and(|v| v == "gpu") {
        let gpu = ComputeDevice::default_gpu().expect("built without the `wgpu` feature");
        let on_gpu = ErosionOnDevice::new(net.weights(), &gpu);
        // The first pass compiles and tunes the kernels.
        let _ = on_gpu.residuals(&[&window], n);
        group.bench_function("network inference only, wgpu, one block", |b| {
            b.iter(|| black_box(on_gpu.residuals(&[&window], n)))
        });
        // Sixteen neighbouring blocks, as a flight's new row of chunks would send them.
        let blocks: Vec<Vec<f32>> = (0..16)
            .map(|k| {
                let dx = (k as i64 - 8) * (side as i64 - 1);
                plain.noise_window(at.0 - m as i64 + dx, at.1 - m as i64, n, n)
            })
            .collect();
        let refs: Vec<&[f32]> = blocks.iter().map(Vec::as_slice).collect();
        let _ = on_gpu.residuals(&refs, n);
        group.bench_function("network inference only, wgpu, 16 blocks per pass", |b| {
            b.iter(|| black_box(on_gpu.residuals(&refs, n)))
        });
    }
    if let Some(path) = std::env::var_os("EROSION_COMPARE") {
        let bytes = std::fs::read(&path).expect("EROSION_COMPARE names a readable model");
        let other = ErosionNet::new(ErosionWeights::from_bytes(&bytes).expect("a valid model"));
        let m = other.margin();
        let n = side - 1 + 2 * m;
        let window = plain.noise_window(at.0 - m as i64, at.1 - m as i64, n, n);
        group.bench_function("network inference only (EROSION_COMPARE model)", |b| {
            b.iter(|| black_box(other.residual(&window, n, n, spacing)))
        });
    }
    // The widest layer alone, as dispatched (AVX2 where there is) and in the portable build's
    // instructions: what the lanes buy, bit for bit the same.
    if let Some(layer) = net
        .weights()
        .layers
        .iter()
        .max_by_key(|l| l.inputs * l.outputs)
    {
        let shape = ConvShape {
            inputs: layer.inputs,
            outputs: layer.outputs,
            kernel: layer.kernel,
            dilation: layer.dilation,
        };
        let size = (side + shape.span(), side + shape.span());
        let input: Vec<f32> = (0..layer.inputs * size.0 * size.1)
            .map(|k| ((k * 7919) % 1000) as f32 * 0.001)
            .collect();
        let (w, bias) = (&layer.weight, &layer.bias);
        group.bench_function("one hidden layer, dispatched", |b| {
            b.iter(|| black_box(conv2d_valid(shape, w, bias, &input, size, true)))
        });
        group.bench_function("one hidden layer, portable", |b| {
            b.iter(|| black_box(conv2d_valid_portable(shape, w, bias, &input, size, true)))
        });
    }
    group.bench_function("noise only", |b| {
        b.iter(|| black_box(plain.noise_window(at.0, at.1, side, side)))
    });
    // A chunk alone: the generator makes the nine chunk-sized blocks of noise and of the
    // network's change its window touches (and the noise around them) from nothing.
    group.bench_function("eroded chunk mesh, alone", |b| {
        b.iter_batched(
            || plain.clone().with_erosion(net.clone(), 1.0),
            |fresh| black_box(fresh.generate_chunk(HERE, 1)),
            BatchSize::PerIteration,
        )
    });
    // The same chunk once its blocks are made (another level of detail, or a chunk whose
    // neighbours made them): what a flight pays per chunk besides one block of noise and one
    // run of the network ("noise only" and "network inference only" above).
    eroded.generate_chunk(HERE, 1);
    group.bench_function("eroded chunk mesh, blocks made", |b| {
        b.iter(|| black_box(eroded.generate_chunk(HERE, 1)))
    });
    // Where water runs (the material's wetness), alone, on the eroded window a full-detail
    // chunk's mesh reads it from: part of the row above.
    let r = FLOW_REACH;
    let n = side + 2 * r;
    let ground = eroded.ground_window(at.0 - r as i64, at.1 - r as i64, n, n);
    group.bench_function("flow on a chunk's eroded window", |b| {
        b.iter(|| black_box(flow(&ground, n, n)))
    });
    group.bench_function("plain chunk mesh", |b| {
        b.iter(|| black_box(plain.generate_chunk(HERE, 1)))
    });
    group.finish();
}

criterion_group!(benches, erosion);
criterion_main!(benches);
