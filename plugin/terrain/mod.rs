//! Endless terrain: a pure generator and the systems that stream its chunks around observers.
//!
//! | piece | what it is |
//! |---|---|
//! | [`noise`], [`graph`], [`biome`], [`generator`], [`mesh`] | the pure core: (seed, config, chunk, level of detail) to mesh buffers, no Bevy types |
//! | [`TerrainPlugin`] | the ECS shell: which chunks should exist, generation tasks, applying meshes within a frame budget |
//! | [`WorldObserver`] | put it on a camera (or any entity) and terrain streams in around it |
//! | [`TerrainSampler`] | ground height, normal and biome anywhere, loaded or not |

pub mod biome;
mod diagnostics;
mod eroded;
pub mod generator;
pub mod graph;
mod ground_cache;
pub mod mesh;
pub mod noise;
mod streaming;

use std::sync::Arc;

use bevy::asset::RenderAssetUsages;
use bevy::mesh::{Indices, MeshVertexAttribute, PrimitiveTopology, VertexFormat};
use bevy::prelude::*;

pub use biome::{BiomeTable, BiomeWeights, dominant};
pub use diagnostics::TerrainDiagnostics;
pub use eroded::ErosionStatus;
pub use generator::{ChunkCoord, GroundSample, TerrainGenerator, wetness};
pub use mesh::{ChunkMeshData, Heightfield};
pub(crate) use streaming::ChunkChanges;
pub use streaming::{StreamingMode, TerrainSettings, TerrainStats, catch_up_factor};

use crate::config::ActiveWorld;
use crate::{AigcWorldSystems, AigcWorldUpdate};

/// Per-vertex weights of biomes 0..4 (`vec4<f32>` at shader location 8 in the terrain material).
pub const ATTRIBUTE_BIOME_WEIGHTS_LOW: MeshVertexAttribute =
    MeshVertexAttribute::new("BiomeWeightsLow", 2_718_281_828, VertexFormat::Float32x4);

/// Per-vertex wetness, 0 (dry) to 1 (riverbed), from erosion (`f32` at shader location 10 in the
/// terrain material).
pub const ATTRIBUTE_WETNESS: MeshVertexAttribute =
    MeshVertexAttribute::new("Wetness", 1_414_213_562, VertexFormat::Float32);

/// Per-vertex weights of biomes 4..8 (`vec4<f32>` at shader location 9 in the terrain material).
pub const ATTRIBUTE_BIOME_WEIGHTS_HIGH: MeshVertexAttribute =
    MeshVertexAttribute::new("BiomeWeightsHigh", 3_141_592_653, VertexFormat::Float32x4);

/// Streams terrain chunks around every [`WorldObserver`].
///
/// Each frame, in [`AigcWorldSystems`]: chunks within the view radius of an observer are spawned
/// (nearest and in-view first), generated on the [`AsyncComputeTaskPool`] as [`Task`] components
/// (a bounded number at once), turned into [`Mesh3d`] entities within the per-frame apply budget,
/// and despawned (cancelling their task) once they drift out of range.
///
/// [`Task`]: bevy::tasks::Task
/// [`AsyncComputeTaskPool`]: bevy::tasks::AsyncComputeTaskPool
#[derive(Default)]
pub struct TerrainPlugin;

impl Plugin for TerrainPlugin {
    fn build(&self, app: &mut App) {
        crate::configure_sets(app);
        app.register_type::<WorldObserver>()
            .register_type::<TerrainChunk>()
            .init_resource::<TerrainSettings>()
            .init_resource::<TerrainStats>()
            .init_resource::<streaming::ChunkIndex>()
            .init_resource::<ChunkChanges>()
            .init_resource::<ErosionStatus>()
            .init_resource::<eroded::ErosionFollow>()
            .add_plugins(diagnostics::TerrainDiagnosticsPlugin)
            .add_systems(
                AigcWorldUpdate,
                (
                    // Every system runs only when it may have work: a world at rest costs
                    // the executor no task per system and frame.
                    eroded::sync_sampler
                        .run_if(eroded::sampler_may_be_stale)
                        .after(crate::kinds::FileKindSystems)
                        .in_set(AigcWorldSystems::Config),
                    (
                        streaming::plan_chunks.run_if(streaming::plan_may_change),
                        streaming::dispatch_tasks.run_if(streaming::work_may_wait),
                    )
                        .chain()
                        .in_set(AigcWorldSystems::Plan),
                    streaming::poll_tasks
                        .run_if(any_with_component::<streaming::ChunkTask>)
                        .in_set(AigcWorldSystems::Poll),
                    streaming::apply_chunks
                        .run_if(any_with_component::<streaming::ChunkReady>)
                        .in_set(AigcWorldSystems::Apply),
                ),
            );
    }

    fn finish(&self, app: &mut App) {
        // Headless apps (MinimalPlugins) have no MeshPlugin; chunks still need somewhere to put
        // their meshes so games can query them.
        if !app.world().contains_resource::<Assets<Mesh>>() {
            app.init_asset::<Mesh>();
        }
        crate::kinds::add_file_asset::<crate::erosion::ErosionModelKind>(app);
        if !app.is_plugin_added::<TransformPlugin>() {
            warn!(
                "aigc_world: TransformPlugin is missing, so WorldObserver positions \
                 (GlobalTransform) never update; add TransformPlugin or DefaultPlugins"
            );
        }
        let sampler = {
            let world = app.world().get_resource::<ActiveWorld>();
            world.and_then(|w| TerrainSampler::try_from_world(w).ok())
        };
        if let Some(sampler) = sampler {
            app.insert_resource(sampler);
        }
    }
}

/// Marks an entity (usually the camera) around which terrain streams in. Several may exist; each
/// chunk takes the level of detail of its nearest observer.
#[derive(Component, Reflect, Clone, Debug, Default, PartialEq)]
#[reflect(Component, Default)]
#[require(Transform)]
pub struct WorldObserver {
    /// Overrides the world file's `streaming.view_radius_m` for this observer.
    pub view_radius_m: Option<f64>,
}

/// Where the [`WorldObserver`]s stood, how they faced and how far they saw when a run condition
/// last looked: a camera rewritten with the same transform every frame is not moving.
#[derive(Default)]
pub(crate) struct ObserverPoses(Vec<(GlobalTransform, Option<f64>)>);

impl ObserverPoses {
    /// Whether an observer moved, turned, changed its radius, came or went since the last call.
    pub(crate) fn changed(
        &mut self,
        observers: &Query<(&GlobalTransform, &WorldObserver)>,
    ) -> bool {
        let same = observers.iter().len() == self.0.len()
            && observers
                .iter()
                .zip(&self.0)
                .all(|((t, o), (seen, radius))| t == seen && o.view_radius_m == *radius);
        if !same {
            self.0 = observers
                .iter()
                .map(|(t, o)| (*t, o.view_radius_m))
                .collect();
        }
        !same
    }
}

/// A terrain chunk entity. Spawned and despawned by the terrain plugin; read it, don't write it.
#[derive(Component, Reflect, Clone, Copy, Debug, PartialEq, Eq)]
#[reflect(Component)]
pub struct TerrainChunk {
    /// Column of the chunk (along world x).
    pub x: i32,
    /// Row of the chunk (along world z).
    pub z: i32,
    /// Vertex step of the mesh now shown (1 = full detail), 0 while it has none.
    pub vertex_step: u32,
}

impl TerrainChunk {
    /// The chunk's coordinate.
    pub fn coord(&self) -> ChunkCoord {
        ChunkCoord::new(self.x, self.z)
    }
}

/// The active world's compiled terrain: ground height, normal, climate and biome anywhere, for
/// cameras, NPC placement and gameplay, answered from the generator itself so it works before
/// (and far beyond) any chunk is loaded. Replaced when the world file changes.
#[derive(Resource, Clone, Debug)]
pub struct TerrainSampler {
    generator: Arc<TerrainGenerator>,
    version: u64,
    /// What it was built from.
    key: eroded::SamplerKey,
}

impl TerrainSampler {
    fn try_from_world(world: &ActiveWorld) -> Result<Self, graph::GraphError> {
        Ok(Self {
            generator: Arc::new(TerrainGenerator::new(world.config())?),
            version: world.version(),
            key: eroded::SamplerKey {
                world: world.version(),
                erosion: None,
            },
        })
    }

    /// Ground height in metres at world `(x, z)`.
    pub fn height_at(&self, x: f32, z: f32) -> f32 {
        self.generator.height_at(f64::from(x), f64::from(z))
    }

    /// Everything about the ground at world `(x, z)`.
    pub fn sample(&self, x: f32, z: f32) -> GroundSample {
        self.generator.sample(f64::from(x), f64::from(z))
    }

    /// Unit ground normal at world `(x, z)`.
    pub fn normal_at(&self, x: f32, z: f32) -> Vec3 {
        Vec3::from_array(self.sample(x, z).normal)
    }

    /// Name of the dominant biome at world `(x, z)`.
    pub fn biome_at(&self, x: f32, z: f32) -> Option<&str> {
        let id = self.sample(x, z).biome;
        self.generator.biomes().name(id)
    }

    /// Height of the sea surface in metres (the world file's `sea_level_m`).
    pub fn sea_level(&self) -> f32 {
        self.generator.sea_level()
    }

    /// Height of the water surface over world `(x, z)`: the sea, or a lake above it (the world
    /// file's `lakes`). The ground there is under water when it is lower.
    pub fn water_level_at(&self, x: f32, z: f32) -> f32 {
        self.generator.water_level_at(f64::from(x), f64::from(z))
    }

    /// The generator itself, to share with background tasks.
    pub fn generator(&self) -> &Arc<TerrainGenerator> {
        &self.generator
    }

    /// Grows whenever the sampler is rebuilt: at least the [`ActiveWorld::version`] it was
    /// built from, higher after an erosion model arrives or changes.
    pub fn version(&self) -> u64 {
        self.version
    }
}

/// Converts pure mesh buffers into a Bevy [`Mesh`] (without copying the buffers).
pub fn chunk_mesh_to_bevy(data: ChunkMeshData) -> Mesh {
    Mesh::new(
        PrimitiveTopology::TriangleList,
        // The renderer keeps the only copy; ground queries use the generator, not the mesh.
        RenderAssetUsages::RENDER_WORLD,
    )
    .with_inserted_attribute(Mesh::ATTRIBUTE_POSITION, data.positions)
    .with_inserted_attribute(Mesh::ATTRIBUTE_NORMAL, data.normals)
    .with_inserted_attribute(Mesh::ATTRIBUTE_UV_0, data.uvs)
    .with_inserted_attribute(ATTRIBUTE_BIOME_WEIGHTS_LOW, data.biome_weights_low)
    .with_inserted_attribute(ATTRIBUTE_BIOME_WEIGHTS_HIGH, data.biome_weights_high)
    .with_inserted_attribute(ATTRIBUTE_WETNESS, data.wetness)
    .with_inserted_indices(Indices::U32(data.indices))
}
