//! Texture synthesis: the procedural generator and NCA growth at 256x256, in the same run.
//!
//! `cargo bench --bench textures` (CPU). On a machine with a GPU,
//! `AIGC_BENCH_BACKEND=gpu cargo bench --bench textures` grows the NCA with burn's wgpu backend
//! (a warm-up grow runs before timing, so kernel compilation is not counted).

use std::hint::black_box;
use std::time::Duration;

use aigc_world::ai::backend::{ComputeDevice, grow_texture};
use aigc_world::ai::nca::NcaWeights;
use aigc_world::texture::{generate_material, material_seed, parse_texture_set};
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
        let path = format!("{}/assets/models/{name}.nca", env!("CARGO_MANIFEST_DIR"));
        let Ok(weights) = std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| NcaWeights::from_bytes(&b).map_err(|e| e.to_string()))
        else {
            eprintln!("skipping nca_{name}: {path} missing or invalid");
            continue;
        };
        let _ = grow_texture(&device, &weights, 256, 0, None, &|| false);
        group.bench_function(format!("nca_{name}_{}", device.name()), |b| {
            b.iter(|| black_box(grow_texture(&device, &weights, 256, 1, None, &|| false)))
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
