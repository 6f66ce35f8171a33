//! Learned textures grown on the GPU reach the terrain's layer arrays by GPU copies: a headless
//! render app (no window) on Mesa's software Vulkan (lavapipe) when there is no GPU, with the AI
//! backend forced to `Gpu`, reads the arrays back and finds the learned texels there.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aigc_world::ai::AiRuntimePlugin;
use aigc_world::ai::backend::grow_surface_texels;
use aigc_world::ai::nca::NcaWeights;
use aigc_world::ai::surface::{SurfaceParams, unpack_level};
use aigc_world::config::WorldConfigPlugin;
use aigc_world::texture::layers::mip_count;
use aigc_world::texture::{
    BiomeTextures, TexturePlugin, TextureSource, TextureStatus, material_seed,
};
use bevy::app::PluginsState;
use bevy::prelude::*;
use bevy::render::gpu_readback::{Readback, ReadbackComplete};
use bevy::window::ExitCondition;

const SIZE: u32 = 64;
const SET_SEED: u64 = 5;
const BUMP: f32 = 0.7;
const ROUGHNESS: (f32, f32) = (0.5, 0.9);

fn asset_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("aigc_world_it_gpu_layers_{}", std::process::id()));
    std::fs::create_dir_all(dir.join("models")).unwrap();
    std::fs::write(dir.join("gpu.ai.ron"), "(backend: Gpu)").unwrap();
    std::fs::write(
        dir.join("test.textures.ron"),
        format!(
            r#"(
    size: {SIZE},
    metres_per_tile: 2.0,
    seed: {SET_SEED},
    materials: {{
        "stone": (layers: [(kind: Cells, frequency: 3)], colors: [(0.0, (0.3, 0.3, 0.3)), (1.0, (0.7, 0.7, 0.7))],
                  bump: {BUMP}, roughness: ({}, {}), model: Some("models/stone.nca")),
    }},
    biomes: {{}},
    fallback: "stone",
)"#,
            ROUGHNESS.0, ROUGHNESS.1
        ),
    )
    .unwrap();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/assets/models/rock.nca"),
        dir.join("models/stone.nca"),
    )
    .unwrap();
    dir
}

#[derive(Resource, Clone, Default)]
struct ReadBack(Arc<Mutex<Option<Vec<u8>>>>);

#[test]
fn learned_layers_grown_on_the_gpu_are_copied_into_the_layer_arrays() {
    let dir = asset_dir();
    let mut app = App::new();
    app.add_plugins((
        DefaultPlugins
            .build()
            .disable::<bevy::winit::WinitPlugin>()
            .disable::<bevy::log::LogPlugin>()
            .disable::<bevy::render::pipelined_rendering::PipelinedRenderingPlugin>()
            .set(WindowPlugin {
                primary_window: None,
                exit_condition: ExitCondition::DontExit,
                close_when_requested: false,
                ..default()
            })
            .set(AssetPlugin {
                file_path: dir.display().to_string(),
                watch_for_changes_override: Some(false),
                ..default()
            }),
        WorldConfigPlugin { path: None },
        AiRuntimePlugin {
            config_path: Some("gpu.ai.ron".into()),
            ..default()
        },
        TexturePlugin {
            path: Some("test.textures.ron".into()),
            learned: true,
        },
    ));
    while app.plugins_state() == PluginsState::Adding {
        bevy::tasks::tick_global_task_pools_on_main_thread();
    }
    app.finish();
    app.cleanup();

    let start = Instant::now();
    let step = |app: &mut App| {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{:?}",
            app.world().resource::<TextureStatus>()
        );
        app.update();
        std::thread::sleep(Duration::from_millis(2));
    };
    loop {
        step(&mut app);
        let status = app.world().resource::<TextureStatus>();
        if status.materials.get("stone") == Some(&TextureSource::Learned) && !status.busy {
            break;
        }
    }
    assert!(
        app.world().resource::<TextureStatus>().warnings.is_empty(),
        "{:?}",
        app.world().resource::<TextureStatus>().warnings
    );
    let albedo = app
        .world()
        .resource::<BiomeTextures>()
        .albedo
        .clone()
        .unwrap();
    let read = ReadBack::default();
    let sink = read.0.clone();
    app.world_mut()
        .spawn(Readback::texture(albedo))
        .observe(move |event: On<ReadbackComplete>| {
            sink.lock()
                .unwrap()
                .get_or_insert_with(|| event.data.clone());
        });
    while read.0.lock().unwrap().is_none() {
        step(&mut app);
    }
    let data = read.0.lock().unwrap().take().unwrap();

    let weights = NcaWeights::from_bytes(include_bytes!("../../assets/models/rock.nca")).unwrap();
    let params = SurfaceParams {
        bump: BUMP,
        roughness: ROUGHNESS,
    };
    let (layout, cpu_albedo, _) = grow_surface_texels(
        &weights,
        SIZE,
        material_seed(SET_SEED, "stone"),
        None,
        params,
        mip_count(SIZE),
    );
    let expected = unpack_level(&cpu_albedo, &layout, 0);
    let layer_bytes = (SIZE * SIZE * 4) as usize;
    assert_eq!(data.len() % layer_bytes, 0);
    for (layer, texels) in data.chunks_exact(layer_bytes).enumerate() {
        let (mut max, mut total) = (0u8, 0u64);
        for (a, b) in texels.iter().zip(&expected) {
            max = max.max(a.abs_diff(*b));
            total += a.abs_diff(*b) as u64;
        }
        let mean = total as f64 / layer_bytes as f64;
        assert!(
            max <= 3 && mean < 0.3,
            "layer {layer}: max {max}, mean {mean} (the procedural stand-in was not replaced?)"
        );
    }
}
