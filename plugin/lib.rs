#![doc = include_str!("../README.md")]
//!
//! # Plugins
//!
//! [`AigcWorldPlugin`] is a [`PluginGroup`] of:
//!
//! | plugin | what it adds |
//! |---|---|
//! | [`WorldConfigPlugin`](config::WorldConfigPlugin) | the RON world file as an asset, hot reload, [`ActiveWorld`](config::ActiveWorld) |
//! | [`TerrainPlugin`](terrain::TerrainPlugin) | chunk streaming around [`WorldObserver`](terrain::WorldObserver)s, [`TerrainSampler`](terrain::TerrainSampler) |
//! | [`NpcPlugin`](npc::NpcPlugin) | NPCs placed per chunk from RON rules, personas, world facts |
//! | [`DialoguePlugin`](dialogue::DialoguePlugin) | grammar dialogue, the [`DialogueSource`](dialogue::DialogueSource) API, conversation memory |
//! | [`LanguageModelPlugin`](dialogue::llm::LanguageModelPlugin) | NPCs answer with a language model (local or a server) chosen in `ai/npc.llm.ron`; the grammar is the fallback |
//! | [`AiRuntimePlugin`](ai::AiRuntimePlugin) | the model worker on a CPU or GPU burn backend, [`AiRuntime`](ai::AiRuntime) |
//! | [`TexturePlugin`](texture::TexturePlugin) | procedural and learned biome textures in [`BiomeTextures`](texture::BiomeTextures) |
//! | [`WaterPlugin`](water::WaterPlugin) | the sea over chunks below the world's `sea_level_m`, lakes in closed basins: depth colour, shore foam, waves (feature `render` draws it) |
//! | [`ScatterPlugin`](scatter::ScatterPlugin) | trees, bushes, rocks and grass per chunk from `*.scatter.ron`, [`ScatterStats`](scatter::ScatterStats) |
//! | `TerrainMaterialPlugin` (feature `render`) | the terrain's biome-blending material and its embedded WGSL shader |
//! | `DrawStatsPlugin` (feature `render`) | draw calls and visible scatter instances each frame, in `DrawStats` |
//!
//! Every file a modder edits (world, NPC rules, grammar, texture set, texture models, AI
//! settings) is a [file kind](kinds): loaded, hot-reloaded and checked by one generic
//! [`FileKindPlugin`](kinds::FileKindPlugin), and listed in [`kinds::registry`] for tools.
//!
//! Not in the group, for windowed apps with bevy_egui's `EguiPlugin` (feature `egui`):
//! `WorldUiPlugin` (world, stats and minimap panels, a progress bar) and `DialogueUiPlugin`
//! (talking to NPCs).
//!
//! Disable or configure any of them like Bevy's own groups:
//!
//! ```no_run
//! use aigc_world::prelude::*;
//! use bevy::prelude::*;
//!
//! App::new().add_plugins((
//!     MinimalPlugins,
//!     AssetPlugin::default(),
//!     AigcWorldPlugin.set(WorldConfigPlugin {
//!         path: Some("worlds/islands.world.ron".into()),
//!     }),
//! ));
//! ```

pub mod ai;
pub mod background;
pub mod clock;
pub mod config;
pub mod dialogue;
pub mod erosion;
pub mod kinds;
pub mod npc;
#[cfg(feature = "render")]
pub mod render;
pub mod scatter;
pub mod terrain;
pub mod texture;
#[cfg(feature = "egui")]
pub mod ui;
pub mod water;

use bevy::app::{MainScheduleOrder, PluginGroupBuilder};
use bevy::ecs::schedule::{ScheduleLabel, SingleThreadedExecutor};
use bevy::prelude::*;

/// The things most games need.
pub mod prelude {
    pub use crate::ai::{AiRuntime, AiRuntimePlugin};
    pub use crate::clock::WorldClock;
    pub use crate::config::{ActiveWorld, WorldConfig, WorldConfigPlugin};
    pub use crate::dialogue::llm::{LanguageModelPlugin, LanguageModelStatus};
    #[cfg(feature = "egui")]
    pub use crate::dialogue::ui::DialogueUiPlugin;
    pub use crate::dialogue::{DialoguePlugin, DialogueReply, ReplyEvent, SayToNpc};
    pub use crate::npc::{Npc, NpcPlugin};
    #[cfg(feature = "render")]
    pub use crate::render::{
        DrawStats, TerrainMaterial, TerrainMaterialPlugin, TerrainMaterialSettings,
    };
    pub use crate::scatter::{ScatterPlugin, ScatterStats, ScatterSystems};
    pub use crate::terrain::{
        TerrainChunk, TerrainPlugin, TerrainSampler, TerrainSettings, TerrainStats, WorldObserver,
    };
    pub use crate::texture::{BiomeTextures, TexturePlugin};
    #[cfg(feature = "egui")]
    pub use crate::ui::{StartingArea, WorldUiPlugin, WorldUiSettings};
    #[cfg(feature = "render")]
    pub use crate::water::WaterSettings;
    pub use crate::water::{WaterPlugin, WaterSurface, WaterSystems};
    pub use crate::{AigcWorldPlugin, AigcWorldSystems, AigcWorldUpdate};
}

/// Everything aigc_world does, as one plugin group: `app.add_plugins(AigcWorldPlugin)`.
pub struct AigcWorldPlugin;

impl PluginGroup for AigcWorldPlugin {
    fn build(self) -> PluginGroupBuilder {
        let group = PluginGroupBuilder::start::<Self>()
            .add(clock::ClockPlugin)
            .add(config::WorldConfigPlugin::default())
            .add(terrain::TerrainPlugin)
            .add(npc::NpcPlugin::default())
            .add(dialogue::DialoguePlugin::default())
            .add(dialogue::llm::LanguageModelPlugin::default())
            .add(ai::AiRuntimePlugin::default())
            .add(texture::TexturePlugin::default())
            .add(scatter::ScatterPlugin::default())
            .add(water::WaterPlugin);
        #[cfg(feature = "render")]
        let group = group
            .add(render::TerrainMaterialPlugin)
            .add(render::DrawStatsPlugin);
        group
    }
}

/// The schedule the plugin's systems run in: right after [`Update`], once a frame, on the
/// frame thread one system after the other (Bevy's single-threaded executor).
///
/// The plugin's per-frame systems are light (generation and inference run on other threads) and
/// chained, so running them in parallel gains nothing, while the multi-threaded executor's
/// bookkeeping for them (access checks, task hand-offs, re-scanning after skipped systems)
/// cost a 2-core machine about 0.07 ms a frame at rest (BENCHMARKS.md). Systems of yours that
/// must see this frame's results go in [`PostUpdate`], or here ordered against
/// [`AigcWorldSystems`]; `app.edit_schedule(AigcWorldUpdate, ..)` may choose another executor.
///
/// Where Bevy's compute task pool has one thread (its default on a 2-core machine), the plugin
/// also puts [`PreUpdate`] on the single-threaded executor: Bevy's asset tracking there (one
/// system per asset type, all taking the asset server's lock) costs more split across two
/// threads than run on one, 0.04 ms a frame at rest (BENCHMARKS.md). To keep Bevy's default,
/// after adding the plugin:
///
/// ```no_run
/// # use bevy::prelude::*;
/// # use bevy::ecs::schedule::MultiThreadedExecutor;
/// # let mut app = App::new();
/// app.edit_schedule(PreUpdate, |schedule| {
///     schedule.set_executor(MultiThreadedExecutor::new());
/// });
/// ```
#[derive(ScheduleLabel, Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AigcWorldUpdate;

/// The system sets every aigc_world system runs in, chained in this order in
/// [`AigcWorldUpdate`]. Order your own systems there against them: read ground queries after
/// [`Config`](Self::Config), see new chunk meshes after [`Apply`](Self::Apply).
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AigcWorldSystems {
    /// World file loading and hot reload; [`ActiveWorld`](config::ActiveWorld) and
    /// [`TerrainSampler`](terrain::TerrainSampler) are current after it.
    Config,
    /// Finished generation tasks collected (before planning, so their slots refill this frame).
    Poll,
    /// Chunks spawned, despawned and given a level of detail; generation tasks started.
    Plan,
    /// Finished chunks turned into meshes within the per-frame budget.
    Apply,
    /// NPCs placed on chunks near observers (placement tasks started and collected), and
    /// removed from chunks that left the NPC radius.
    Npcs,
    /// Player lines turned into dialogue requests; replies streamed out as
    /// [`DialogueReply`](dialogue::DialogueReply) messages.
    Dialogue,
    /// Statistics and Bevy diagnostics published.
    Diagnostics,
}

/// Whether Bevy's compute task pool has a single thread (Bevy's default on two cores), or, if
/// it is not built yet, whether the machine has at most two cores.
fn compute_pool_has_one_thread() -> bool {
    bevy::tasks::ComputeTaskPool::try_get().map_or_else(
        || bevy::tasks::available_parallelism() <= 2,
        |pool| pool.thread_num() <= 1,
    )
}

/// Adds [`AigcWorldUpdate`] after [`Update`] (once) and chains [`AigcWorldSystems`] in it.
/// Every sub-plugin calls it, so each also works when added on its own.
pub(crate) fn configure_sets(app: &mut App) {
    // Another sub-plugin may have added systems (and so the schedule) already: the order tells.
    let label = AigcWorldUpdate.intern();
    if let Some(mut order) = app.world_mut().get_resource_mut::<MainScheduleOrder>()
        && !order.labels.contains(&label)
    {
        order.insert_after(Update, AigcWorldUpdate);
        app.edit_schedule(AigcWorldUpdate, |schedule| {
            schedule.set_executor(SingleThreadedExecutor::new());
        });
        if compute_pool_has_one_thread() {
            // Bevy runs one `track_assets` per asset type in `PreUpdate`, each holding the asset
            // server's lock; with one compute thread beside the frame thread the multi-threaded
            // executor splits them across the two, where they wait on each other. The plugin's
            // three asset types made that 0.04 ms a frame at rest on 2 cores (BENCHMARKS.md).
            app.edit_schedule(PreUpdate, |schedule| {
                schedule.set_executor(SingleThreadedExecutor::new());
            });
        }
    }
    app.configure_sets(
        AigcWorldUpdate,
        (
            AigcWorldSystems::Config,
            AigcWorldSystems::Poll,
            AigcWorldSystems::Plan,
            AigcWorldSystems::Apply,
            AigcWorldSystems::Npcs,
            AigcWorldSystems::Dialogue,
            AigcWorldSystems::Diagnostics,
        )
            .chain(),
    );
}
