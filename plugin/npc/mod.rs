//! NPCs that live in the generated world: deterministic placement, personas and world facts.
//!
//! | piece | what it is |
//! |---|---|
//! | [`rules`] | the NPC file (`*.npc.ron`): placement rules, cultures, occupations |
//! | [`placement`], [`persona`], [`facts`] | the pure core: (seed, chunk, rules, terrain) to people, names and what they see |
//! | [`NpcPlugin`] | the ECS shell: NPC entities as children of terrain chunks near observers, hot reload |
//!
//! An NPC is spawned when its chunk has a mesh and lies within `placement.npc_radius_m` of a
//! [`WorldObserver`](crate::terrain::WorldObserver), as a child of the chunk entity, so it goes
//! when the chunk goes. Placing a chunk's people (terrain samples, persona, survey of the
//! surroundings) runs as a task on the async compute pool, never on the frame thread.

pub mod facts;
pub mod persona;
pub mod placement;
pub mod rng;
pub mod rules;
mod spawn;
#[cfg(feature = "render")]
mod visuals;

use std::sync::Arc;

use bevy::prelude::*;

pub use facts::{Compass, Surroundings, Turn, WorldFacts};
pub use persona::{NpcId, Persona};
pub use placement::{NpcWorld, PlacedNpc, Settlement};
pub use rules::{DEFAULT_NPC_RON, NpcConfig};
pub use spawn::NpcStats;

use crate::config::ConfigError;
use crate::kinds::{self, Active, FileKind, FileKindPlugin, FileStatus, FollowedFile};
use crate::terrain::ChunkCoord;
use crate::{AigcWorldSystems, AigcWorldUpdate};

/// One NPC, ready to spawn: where it stands, who it is and what it sees.
#[derive(Clone, Debug, PartialEq)]
pub struct NpcRecord {
    /// Its place.
    pub placed: PlacedNpc,
    /// Its persona.
    pub persona: Arc<Persona>,
    /// Its surroundings.
    pub surroundings: Arc<Surroundings>,
}

/// Everyone chunk `coord` spawns, with personas and surveys: the whole per-chunk job, pure.
pub fn populate_chunk(world: &mut NpcWorld, coord: ChunkCoord) -> Vec<NpcRecord> {
    world
        .place_chunk(coord)
        .into_iter()
        .map(|placed| {
            let home = placed.home.as_ref().map(|h| h.name.as_str());
            let persona =
                Persona::generate(world.seed, placed.id, &placed.culture, home, world.config);
            let (x, z) = (f64::from(placed.position[0]), f64::from(placed.position[2]));
            let surroundings = facts::survey(world, x, z);
            NpcRecord {
                placed,
                persona: Arc::new(persona),
                surroundings: Arc::new(surroundings),
            }
        })
        .collect()
}

/// An NPC entity: a child of its terrain chunk, standing on the ground. Read it, don't write it.
#[derive(Component, Clone, Debug)]
#[require(Transform)]
pub struct Npc {
    /// Stable id.
    pub id: NpcId,
    /// Who it is.
    pub persona: Arc<Persona>,
    /// What it sees around it.
    pub surroundings: Arc<Surroundings>,
    /// The chunk it belongs to.
    pub chunk: ChunkCoord,
}

/// Spawns NPCs around observers from the NPC file, and hot-reloads it.
#[derive(Clone, Debug)]
pub struct NpcPlugin {
    /// Asset path of the NPC file, or `None` to use only the built-in default.
    pub path: Option<String>,
}

impl Default for NpcPlugin {
    fn default() -> Self {
        Self {
            path: Some("npc/default.npc.ron".into()),
        }
    }
}

impl Plugin for NpcPlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins(FileKindPlugin::<NpcRulesKind>::new(
            self.path.clone(),
            NpcConfig::builtin(),
        ))
        .init_resource::<NpcStats>()
        .add_systems(
            AigcWorldUpdate,
            (
                spawn::plan_npc_chunks.run_if(spawn::plan_may_change),
                spawn::poll_npc_tasks.run_if(
                    any_with_component::<spawn::NpcTask>
                        .or_eager(any_component_removed::<spawn::NpcsPlaced>),
                ),
            )
                .chain()
                .in_set(AigcWorldSystems::Npcs),
        );
        #[cfg(feature = "render")]
        app.add_systems(
            AigcWorldUpdate,
            visuals::add_npc_visuals
                .run_if(any_match_filter::<Added<Npc>>)
                .in_set(AigcWorldSystems::Npcs)
                .after(spawn::poll_npc_tasks),
        );
    }
}

/// NPC files, `*.npc.ron`: placement rules, cultures and occupations ([`NpcConfig`]).
#[derive(Clone, Copy, Debug, Default, TypePath)]
pub struct NpcRulesKind;

impl FileKind for NpcRulesKind {
    type Value = NpcConfig;
    const NAME: &'static str = "NPC rules";
    const EXTENSIONS: &'static [&'static str] = &["npc.ron"];

    fn parse(bytes: &[u8], file: &str) -> Result<NpcConfig, ConfigError> {
        NpcConfig::parse(kinds::text(bytes, file)?, file)
    }
}

/// The NPC rules in use; replacing them places people again.
pub type ActiveNpcConfig = Active<NpcRulesKind>;

/// Which NPC file is followed (change `path` to load another).
pub type NpcFile = FollowedFile<NpcRulesKind>;

/// The outcome of the latest NPC file load, for UIs and tests.
pub type NpcFileStatus = FileStatus<NpcRulesKind>;
