//! Trees, bushes, rocks and grass scattered over the terrain.
//!
//! | piece | what it is |
//! |---|---|
//! | [`rules`] | the scatter file (`*.scatter.ron`): layers of objects per biome |
//! | [`place`], [`ground`] | the pure core: (seed, rules, region, ground) to placements, seam-free and independent of load order |
//! | [`ScatterWorld`] | the rules compiled for one world's terrain: per-chunk placement and "objects near a point" |
//! | [`meshes`] | procedural meshes: seeded trees, conifers, bushes, faceted rocks, grass tufts, and each kind's simplified far level |
//! | [`chunk_mesh`] | a chunk's objects of one layer as one mesh (bushes, rocks, grass, and far levels) |
//! | `wind` (feature `render`) | grass and trees swaying in the wind in `shaders/grass.wgsl`, `WindSettings` |
//! | [`ScatterPlugin`] | the ECS shell: placement tasks beside chunk generation, [`ScatterStats`], [`ScatterIndex`] |
//! | `apply` | spawning objects as children of their chunk within [`ScatterSettings`], despawning those that leave |
//!
//! A chunk gets the layers whose view distance reaches it once it has a mesh; placement runs on
//! the async compute pool, the objects spawn within the world's per-frame apply budget and go
//! with their chunk. Trees, conifers and boulders are one entity each sharing a mesh per (kind,
//! variant) and one material, so Bevy batches them; a chunk's bushes, rocks and grass are one
//! mesh per layer, built on the placement task, so the many small objects cost no entities.

mod apply;
pub mod chunk_mesh;
pub mod ground;
pub mod meshes;
pub mod place;
pub mod rules;
mod spawn;
#[cfg(feature = "render")]
mod visuals;
#[cfg(feature = "render")]
pub mod wind;

use std::sync::Arc;

use bevy::prelude::*;

pub use apply::ScatterSettings;
pub use ground::GroundGrid;
pub use place::{
    ALL_LAYERS, Ground, GroundPoint, LayerMask, LayerPlan, Placement, ScatterSet, objects_near,
    place_region,
};
pub use rules::{DEFAULT_SCATTER_RON, Layer, ObjectKind, ScatterRules};
pub use spawn::{CompiledScatter, ScatterIndex, ScatterObject, ScatterStats};
#[cfg(feature = "render")]
pub use visuals::to_bevy_mesh;

use crate::config::ConfigError;
use crate::kinds::{self, Active, FileKind, FileKindPlugin, FileStatus, FollowedFile};
use crate::terrain::graph::Plan;
use crate::terrain::{ChunkCoord, TerrainGenerator};
use crate::{AigcWorldSystems, AigcWorldUpdate};

/// Scatters objects over chunks near observers from the scatter file, and hot-reloads it.
#[derive(Clone, Debug)]
pub struct ScatterPlugin {
    /// Asset path of the scatter file, or `None` to use only the built-in default.
    pub path: Option<String>,
}

impl Default for ScatterPlugin {
    fn default() -> Self {
        Self {
            path: Some("worlds/default.scatter.ron".into()),
        }
    }
}

impl Plugin for ScatterPlugin {
    fn build(&self, app: &mut App) {
        crate::configure_sets(app);
        app.add_plugins(FileKindPlugin::<ScatterKind>::new(
            self.path.clone(),
            ScatterRules::builtin(),
        ))
        .register_type::<ScatterSettings>()
        .init_resource::<ScatterSettings>()
        .init_resource::<ScatterStats>()
        .init_resource::<ScatterIndex>()
        .init_resource::<apply::ScatterDespawns>()
        .configure_sets(
            AigcWorldUpdate,
            (ScatterSystems::Plan, ScatterSystems::Apply)
                .chain()
                .after(AigcWorldSystems::Apply)
                .before(AigcWorldSystems::Npcs),
        )
        .add_systems(
            AigcWorldUpdate,
            (
                // Each system runs only when it may have work, so a world at rest costs
                // nothing here.
                spawn::compile_scatter
                    .run_if(spawn::rules_or_ground_changed)
                    .after(kinds::FileKindSystems)
                    .in_set(AigcWorldSystems::Config),
                (
                    apply::poll_scatter.run_if(any_with_component::<spawn::ScatterTask>),
                    spawn::plan_scatter.run_if(spawn::plan_may_change),
                )
                    .chain()
                    .in_set(ScatterSystems::Plan),
                (
                    apply::apply_scatter.run_if(any_with_component::<apply::ScatterReady>),
                    apply::despawn_scatter.run_if(apply::despawns_queued),
                    spawn::update_scatter_stats.run_if(spawn::stats_may_change),
                )
                    .chain()
                    .in_set(ScatterSystems::Apply),
            ),
        );
        #[cfg(feature = "render")]
        {
            app.init_resource::<visuals::ScatterMeshes>()
                .register_type::<wind::WindSettings>()
                .init_resource::<wind::WindSettings>()
                .add_systems(
                    AigcWorldUpdate,
                    visuals::update_wind
                        .run_if(resource_changed::<wind::WindSettings>)
                        .in_set(ScatterSystems::Apply),
                );
            if app.is_plugin_added::<bevy::pbr::PbrPlugin>() {
                wind::build(app);
            }
        }
    }
}

/// Where scatter's systems run in [`AigcWorldUpdate`], chained, after
/// [`AigcWorldSystems::Apply`] and before [`AigcWorldSystems::Npcs`].
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScatterSystems {
    /// Finished placements collected; chunks whose wanted layers changed get placement tasks.
    Plan,
    /// Placements spawned as children of their chunks within the apply budget; [`ScatterStats`]
    /// and [`ScatterIndex`] are current after it.
    Apply,
}

/// Scatter files, `*.scatter.ron`: [`ScatterRules`].
#[derive(Clone, Copy, Debug, Default, TypePath)]
pub struct ScatterKind;

impl FileKind for ScatterKind {
    type Value = ScatterRules;
    const NAME: &'static str = "scatter rules";
    const EXTENSIONS: &'static [&'static str] = &["scatter.ron"];

    fn parse(bytes: &[u8], file: &str) -> Result<ScatterRules, ConfigError> {
        ScatterRules::parse(kinds::text(bytes, file)?, file)
    }

    fn check(rules: &ScatterRules, source: &str) -> Result<(), ConfigError> {
        rules.validate("", source)
    }
}

/// The scatter rules in use; replacing them scatters everything again.
pub type ActiveScatter = Active<ScatterKind>;

/// Which scatter file is followed (change `path` to load another).
pub type ScatterFile = FollowedFile<ScatterKind>;

/// The outcome of the latest scatter file load, for UIs and tests.
pub type ScatterFileStatus = FileStatus<ScatterKind>;

/// Scatter rules compiled for one world's terrain: what background tasks run, and what answers
/// "what stands near here" anywhere, loaded or not.
#[derive(Clone, Debug)]
pub struct ScatterWorld {
    /// The compiled layers.
    pub set: ScatterSet,
    generator: Arc<TerrainGenerator>,
    clusters: Plan,
}

impl ScatterWorld {
    /// Compiles `rules` for the world with `world_seed` and terrain `generator`; also returns
    /// warnings about names the world does not have (see [`ScatterSet::compile`]).
    pub fn new(
        world_seed: u64,
        rules: &ScatterRules,
        generator: Arc<TerrainGenerator>,
    ) -> (Self, Vec<String>) {
        let graph = generator.graph();
        let (set, warnings) = ScatterSet::compile(
            world_seed,
            rules,
            generator.biomes(),
            generator.sea_level(),
            |n| graph.node(n).is_some(),
        );
        let ids: Vec<_> = set
            .cluster_nodes
            .iter()
            .filter_map(|n| graph.node(n))
            .collect();
        let clusters = graph.plan(&ids);
        (
            Self {
                set,
                generator,
                clusters,
            },
            warnings,
        )
    }

    /// The terrain generator it places on.
    pub fn generator(&self) -> &Arc<TerrainGenerator> {
        &self.generator
    }

    /// World rectangle `[min, max)` of chunk `coord` (the same edges its neighbours use).
    pub fn chunk_bounds(&self, coord: ChunkCoord) -> ([f64; 2], [f64; 2]) {
        let (x0, z0) = self.generator.chunk_origin(coord);
        let (x1, z1) = self
            .generator
            .chunk_origin(ChunkCoord::new(coord.x + 1, coord.z + 1));
        ([x0, z0], [x1, z1])
    }

    /// The ground over world `[min, max]` widened by the spacing of the layers in `mask`.
    pub fn ground(&self, mask: LayerMask, min: [f64; 2], max: [f64; 2]) -> GroundGrid<'_> {
        let m = self.set.margin(mask) + 1.0;
        GroundGrid::new(
            &self.generator,
            &self.clusters,
            self.set.cluster_nodes.len(),
            [min[0] - m, min[1] - m],
            [max[0] + m, max[1] + m],
        )
    }

    /// Everything of the layers in `mask` in world `[min, max)`.
    pub fn place_region(&self, mask: LayerMask, min: [f64; 2], max: [f64; 2]) -> Vec<Placement> {
        let ground = self.ground(mask, min, max);
        place_region(&self.set, &ground, mask, min, max)
    }

    /// Everything of the layers in `mask` that chunk `coord` holds.
    pub fn place_chunk(&self, coord: ChunkCoord, mask: LayerMask) -> Vec<Placement> {
        let (min, max) = self.chunk_bounds(coord);
        self.place_region(mask, min, max)
    }

    /// Objects of the layers in `mask` within `radius` metres of world `(x, z)`, nearest first.
    pub fn objects_near(&self, mask: LayerMask, x: f64, z: f64, radius: f64) -> Vec<Placement> {
        let r = radius.max(0.0);
        let ground = self.ground(mask, [x - r, z - r], [x + r, z + r]);
        objects_near(&self.set, &ground, mask, x, z, r)
    }
}
