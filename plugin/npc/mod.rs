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

use bevy::asset::io::Reader;
use bevy::asset::{AssetLoader, LoadContext};
use bevy::ecs::error::Severity;
use bevy::prelude::*;
use thiserror::Error;

pub use facts::{Compass, Surroundings, Turn, WorldFacts};
pub use persona::{NpcId, Persona};
pub use placement::{NpcWorld, PlacedNpc, Settlement};
pub use rules::{DEFAULT_NPC_RON, NpcConfig};
pub use spawn::NpcStats;

use crate::AigcWorldSystems;
use crate::config::{ConfigError, ConfigErrorKind, locate};
use crate::terrain::ChunkCoord;

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
        crate::configure_sets(app);
        app.init_asset::<NpcAsset>()
            .register_asset_loader(NpcAssetLoader)
            .insert_resource(ActiveNpcConfig {
                config: Arc::new(NpcConfig::builtin()),
                version: 1,
            })
            .insert_resource(NpcFile {
                path: self.path.clone(),
                handle: None,
            })
            .init_resource::<NpcStats>()
            .init_resource::<NpcFileStatus>()
            .add_systems(
                Update,
                (
                    (load_npc_file, apply_npc_asset)
                        .chain()
                        .in_set(AigcWorldSystems::Config),
                    (spawn::plan_npc_chunks, spawn::poll_npc_tasks)
                        .chain()
                        .in_set(AigcWorldSystems::Npcs),
                ),
            );
        #[cfg(feature = "render")]
        app.add_systems(
            Update,
            visuals::add_npc_visuals
                .in_set(AigcWorldSystems::Npcs)
                .after(spawn::poll_npc_tasks),
        );
    }
}

/// The NPC rules in use; [`version`](Self::version) grows on every change.
#[derive(Resource, Clone, Debug)]
pub struct ActiveNpcConfig {
    config: Arc<NpcConfig>,
    version: u64,
}

impl ActiveNpcConfig {
    /// The rules.
    pub fn config(&self) -> &Arc<NpcConfig> {
        &self.config
    }

    /// Grows by one on every change.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Replaces the rules (NPCs are placed again). Nothing changes if they are equal.
    pub fn replace(&mut self, config: NpcConfig) {
        if *self.config != config {
            self.config = Arc::new(config);
            self.version += 1;
        }
    }
}

/// A loaded NPC file: the rules, or why they cannot be used. Loading never fails on bad content.
#[derive(Asset, TypePath, Debug)]
pub struct NpcAsset {
    /// The rules, or what is wrong with the file.
    pub result: Result<NpcConfig, ConfigError>,
}

/// Reads `.npc.ron` files into [`NpcAsset`]s.
#[derive(Default, TypePath)]
pub struct NpcAssetLoader;

/// An NPC or grammar file could not be read at all.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ReadError {
    /// Reading the bytes failed.
    #[error("could not read file: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads a whole asset as UTF-8 text; bad UTF-8 becomes a [`ConfigError`] at its position.
pub(crate) async fn read_text(
    reader: &mut dyn Reader,
    file: &str,
) -> Result<Result<String, ConfigError>, ReadError> {
    let mut bytes = Vec::new();
    reader.read_to_end(&mut bytes).await?;
    Ok(String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let prefix = String::from_utf8_lossy(&e.as_bytes()[..valid]).into_owned();
        ConfigError::at(
            file,
            locate::line_col(&prefix, valid),
            ConfigErrorKind::Io(format!("not UTF-8 text: {}", e.utf8_error())),
        )
    }))
}

impl AssetLoader for NpcAssetLoader {
    type Asset = NpcAsset;
    type Settings = ();
    type Error = ReadError;

    async fn load(
        &self,
        reader: &mut dyn Reader,
        _settings: &(),
        load_context: &mut LoadContext<'_>,
    ) -> Result<NpcAsset, ReadError> {
        let file = load_context.path().to_string();
        let result = read_text(reader, &file)
            .await?
            .and_then(|src| NpcConfig::parse(&src, &file));
        Ok(NpcAsset { result })
    }

    fn extensions(&self) -> &[&str] {
        &["npc.ron"]
    }
}

/// Which NPC file is followed.
#[derive(Resource, Debug)]
pub struct NpcFile {
    /// Asset path to load (changing it loads the new file).
    pub path: Option<String>,
    handle: Option<(String, Handle<NpcAsset>)>,
}

fn load_npc_file(server: Res<AssetServer>, mut file: ResMut<NpcFile>) {
    let Some(path) = file.path.clone() else {
        file.handle = None;
        return;
    };
    if file.handle.as_ref().is_some_and(|(p, _)| *p == path) {
        return;
    }
    let handle = server.load::<NpcAsset>(path.clone());
    file.handle = Some((path, handle));
}

/// The outcome of the latest NPC file load, for UIs and tests.
#[derive(Resource, Clone, Debug, Default)]
pub struct NpcFileStatus {
    /// The last load's error, cleared by the next good load.
    pub last_error: Option<ConfigError>,
    /// Good loads so far.
    pub loads: u64,
}

/// An NPC file edit that was rejected.
#[derive(Debug, Error)]
#[error("{0} (keeping the last good NPC rules)")]
struct KeptLastGoodNpcs(ConfigError);

fn apply_npc_asset(
    mut events: MessageReader<AssetEvent<NpcAsset>>,
    assets: Res<Assets<NpcAsset>>,
    file: Res<NpcFile>,
    mut active: ResMut<ActiveNpcConfig>,
    mut status: ResMut<NpcFileStatus>,
) -> Result {
    let Some((path, handle)) = &file.handle else {
        return Ok(());
    };
    let touched = events.read().any(|event| {
        matches!(event,
            AssetEvent::LoadedWithDependencies { id } | AssetEvent::Modified { id }
                if *id == handle.id())
    });
    let Some(asset) = assets.get(handle.id()).filter(|_| touched) else {
        return Ok(());
    };
    match &asset.result {
        Ok(config) => {
            status.last_error = None;
            status.loads += 1;
            let before = active.version;
            active.replace(config.clone());
            if active.version != before {
                info!("aigc_world: NPC rules loaded from {path}");
            }
            Ok(())
        }
        Err(err) => {
            status.last_error = Some(err.clone());
            Err(BevyError::from(KeptLastGoodNpcs(err.clone())).with_severity(Severity::Warning))
        }
    }
}
