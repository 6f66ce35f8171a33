//! Texture synthesis: the procedural generator and NCA growth at 256x256, in the same run.
//!
//! `cargo bench --bench textures` (CPU). On a machine with a GPU,
//! `AIGC_BENCH_BACKEND=gpu cargo bench --bench textures` grows the NCA with burn's wgpu backend
//! (a warm-up grow runs before timing, so kernel compilation is not counted), and also times
//! `grow_surface`, the GPU-resident path the game uses (no read-back), and the `nca_256_wgpu`
//! group compares the fused NCA kernel (the default on a GPU) with the op-by-op burn path on
//! the same device, in the same run (on a machine without a GPU, wgpu picks lavapipe). The
//! `nca_256_layout` group compares the CPU inference path with the model's step-by-step
//! definition and with other band sizes.

use std::hint::black_box;
use std::time::Duration;

use aigc_world::ai::backend::{
    ComputeDevice, NcaKernels, grow_surface, grow_texture, grow_texture_with,
};
use aigc_world::ai::nca::model::{initial_state, update_mask};
use aigc_world::ai::nca::{GrowPlan, Nca, NcaWeights, grow};
use aigc_world::ai::surface::SurfaceParams;
use aigc_world::texture::layers::mip_count;
use aigc_world::texture::{generate_material, material_seed, parse_texture_set};
use burn::tensor::{Tensor, TensorData};
use criterion::{Criterion, criterion_main};

fn bench(c: &mut Criterion) {
    let set = parse_texture_set(
        include_str!("../assets/textures/default.textures.ron"),
        "default.textures.ron",
    )
    .expect("shipped texture file");
    let mut group = c.benchmark_group("textures_256");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    for name in ["grass", "rock"] {
        let recipe = &set.materials[name];
        let seed = material_seed(set.seed, name);
        group.bench_function(format!("procedural_{name}"), |b| {
            b.iter(|| black_box(generate_material(recipe, 256, seed)))
        });
    }
    let gpu = std::env::var("AIGC_BENCH_BACKEND").is_ok_and(|v| v == "gpu");
    let device = if gpu {
        ComputeDevice::default_gpu().expect("built without the `wgpu` feature")
    } else {
        ComputeDevice::Cpu
    };
    for name in ["grass", "rock"] {
        let Some(weights) = shipped_model(name) else {
            continue;
        };
        let _ = grow_texture(&device, &weights, 256, 0, None, &|| false);
        group.bench_function(format!("nca_{name}_{}", device.name()), |b| {
            b.iter(|| black_box(grow_texture(&device, &weights, 256, 1, None, &|| false)))
        });
        if gpu {
            // What the game does on a GPU: grow, derive normal, roughness and mips there, and
            // wait for the GPU; nothing is read back.
            let recipe = &set.materials[name];
            let surface = SurfaceParams {
                bump: recipe.bump,
                roughness: recipe.roughness,
            };
            group.bench_function(format!("nca_{name}_gpu_resident"), |b| {
                b.iter(|| {
                    black_box(grow_surface(
                        &device,
                        &weights,
                        256,
                        1,
                        None,
                        surface,
                        mip_count(256),
                        &|| false,
                    ))
                })
            });
        }
    }
    group.finish();
    if gpu {
        bench_gpu_kernels(c, &device);
    }
    bench_grow_layouts(c);
}

/// The fused NCA kernel against the op-by-op burn path on the same wgpu device, grass at
/// 256x256 with its 64 steps, each read back as pixels (a warm-up grow of each first, so
/// shader compilation is not counted).
fn bench_gpu_kernels(c: &mut Criterion, device: &ComputeDevice) {
    let Some(weights) = shipped_model("grass") else {
        return;
    };
    let mut group = c.benchmark_group("nca_256_wgpu");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    for (name, kernels) in [
        ("fused", NcaKernels::Fused),
        ("op_by_op", NcaKernels::OpByOp),
    ] {
        let grow = |seed| grow_texture_with(device, kernels, &weights, 256, seed, None, &|| false);
        let _ = grow(0);
        group.bench_function(name, |b| b.iter(|| black_box(grow(1))));
    }
    group.finish();
}

/// A shipped model's weights, or `None` (with a note) when the file is missing or invalid.
fn shipped_model(name: &str) -> Option<NcaWeights> {
    let path = format!("{}/assets/models/{name}.nca", env!("CARGO_MANIFEST_DIR"));
    let weights = std::fs::read(&path)
        .map_err(|e| e.to_string())
        .and_then(|b| NcaWeights::from_bytes(&b).map_err(|e| e.to_string()));
    weights
        .map_err(|e| eprintln!("skipping the {name} model: {path}: {e}"))
        .ok()
}

/// The NCA's inference path against its definition, on the CPU backend in the same run:
/// `reference` steps [`Nca::step`] (rolls, one tensor per filter), `one_band` is the padded
/// torus of [`grow`] as a single band, `bands_N` the same in bands of N cells.
fn bench_grow_layouts(c: &mut Criterion) {
    type B = burn::backend::Flex;
    let Some(weights) = shipped_model("grass") else {
        return;
    };
    let device = Default::default();
    let model = Nca::<B>::from_weights(&weights, &device);
    let (size, seed, c_) = (256, 1, weights.channels);
    let mut group = c.benchmark_group("nca_256_layout");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("reference", |b| {
        b.iter(|| {
            let start = initial_state(1, (size, size), c_, seed);
            let mut state =
                Tensor::<B, 4>::from_data(TensorData::new(start, [1, size, size, c_]), &device);
            for step in 0..weights.steps {
                let mask = update_mask(1, (size, size), weights.fire_rate, seed, step);
                let mask =
                    Tensor::<B, 4>::from_data(TensorData::new(mask, [1, size, size, 1]), &device);
                state = model.step(state, mask);
            }
            black_box(state.into_data())
        })
    });
    for (name, band_cells) in [
        ("one_band", usize::MAX),
        ("bands_8192", 8192),
        ("bands_2048", GrowPlan::CPU_BAND_CELLS),
        ("bands_512", 512),
    ] {
        let plan = GrowPlan {
            size,
            steps: weights.steps,
            fire_rate: weights.fire_rate,
            seed,
            band_cells,
        };
        group.bench_function(name, |b| {
            b.iter(|| {
                let state = grow(&model, plan, &|| false, &device).expect("not cancelled");
                black_box(state.into_data())
            })
        });
    }
    group.finish();
}

// criterion's macro generates an undocumented function.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::bench);
}
criterion_main!(group::benches);
