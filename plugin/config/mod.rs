//! World files in RON: the schema, its validation with file:line:column errors, the asset loader,
//! and hot reload that keeps the last good world when an edit is broken.
//!
//! The pure part ([`WorldConfig`], [`parse_world`]) has no Bevy types; [`WorldConfigPlugin`]
//! wraps it as an asset and keeps [`ActiveWorld`] up to date.

mod error;
pub mod locate;
mod node_map;
mod schema;
mod validate;

use std::sync::Arc;

use bevy::asset::io::Reader;
use bevy::asset::{AssetLoader, LoadContext};
use bevy::ecs::error::Severity;
use bevy::prelude::*;
use thiserror::Error;

pub use error::{ConfigError, ConfigErrorKind};
pub use node_map::NodeMap;
pub use schema::*;
pub use validate::{
    MAX_BIOMES, MAX_NODES, MAX_OCTAVES, MAX_REACH_CHUNKS, MAX_VIEW_RADIUS_M, node_inputs,
    parse_ron, parse_world, validate_world,
};

use crate::AigcWorldSystems;

/// The world that ships with the crate, used until (or unless) a world file loads.
pub const DEFAULT_WORLD_RON: &str = include_str!("../../assets/worlds/default.world.ron");

/// Loads the world file and keeps [`ActiveWorld`] current.
///
/// The built-in default world is active from the first frame, so terrain and ground queries
/// work immediately; the file at `path` replaces it once loaded, and again on every valid edit
/// (with Bevy's `file_watcher` feature, our `hot_reload` feature). An invalid edit logs one
/// warning with file, line and column, and the last good world stays.
#[derive(Clone, Debug)]
pub struct WorldConfigPlugin {
    /// Asset path of the world file, or `None` to use only the built-in default world.
    pub path: Option<String>,
}

impl Default for WorldConfigPlugin {
    fn default() -> Self {
        Self {
            path: Some("worlds/default.world.ron".into()),
        }
    }
}

impl Plugin for WorldConfigPlugin {
    fn build(&self, app: &mut App) {
        let default = parse_world(DEFAULT_WORLD_RON, "<built-in default.world.ron>")
            .expect("the built-in default world must be valid (tested in config::tests)");
        crate::configure_sets(app);
        app.init_asset::<WorldAsset>()
            .register_asset_loader(WorldAssetLoader)
            .add_message::<WorldConfigChanged>()
            .insert_resource(ActiveWorld::new(default, "<built-in default world>"))
            .insert_resource(WorldFile {
                path: self.path.clone(),
                handle: None,
            })
            .init_resource::<WorldConfigStatus>()
            .add_systems(
                Update,
                (load_world_file, apply_world_asset)
                    .chain()
                    .in_set(AigcWorldSystems::Config),
            );
    }
}

/// A loaded world file: the parsed world, or why it could not be used. Loading never fails on
/// bad content, so Bevy does not log its own error and the message is ours, once.
#[derive(Asset, TypePath, Debug)]
pub struct WorldAsset {
    /// The world, or what is wrong with the file.
    pub result: Result<WorldConfig, ConfigError>,
}

/// Reads `.world.ron` files into [`WorldAsset`]s.
#[derive(Default, TypePath)]
pub struct WorldAssetLoader;

/// The world file could not be read at all.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum WorldLoadError {
    /// Reading the bytes failed.
    #[error("could not read world file: {0}")]
    Io(#[from] std::io::Error),
}

impl AssetLoader for WorldAssetLoader {
    type Asset = WorldAsset;
    type Settings = ();
    type Error = WorldLoadError;

    async fn load(
        &self,
        reader: &mut dyn Reader,
        _settings: &(),
        load_context: &mut LoadContext<'_>,
    ) -> Result<WorldAsset, WorldLoadError> {
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes).await?;
        let file = load_context.path().to_string();
        let result = match std::str::from_utf8(&bytes) {
            Ok(src) => parse_world(src, &file),
            Err(e) => {
                let (line, column) = locate::line_col(
                    &String::from_utf8_lossy(&bytes[..e.valid_up_to()]),
                    e.valid_up_to(),
                );
                Err(ConfigError::at(
                    &file,
                    (line, column),
                    ConfigErrorKind::Io(format!("not UTF-8 text: {e}")),
                ))
            }
        };
        Ok(WorldAsset { result })
    }

    fn extensions(&self) -> &[&str] {
        &["world.ron"]
    }
}

/// The world in use. Systems that generate content read it; it changes on hot reload and when
/// tools (the sandbox's World panel) edit it. [`version`](Self::version) grows on every change.
#[derive(Resource, Clone, Debug)]
pub struct ActiveWorld {
    config: Arc<WorldConfig>,
    version: u64,
    source: String,
}

impl ActiveWorld {
    /// A world from `config`, labelled `source` in logs.
    pub fn new(config: WorldConfig, source: impl Into<String>) -> Self {
        Self {
            config: Arc::new(config),
            version: 1,
            source: source.into(),
        }
    }

    /// The world's settings.
    pub fn config(&self) -> &Arc<WorldConfig> {
        &self.config
    }

    /// Grows by one on every change.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Where the world came from (a file path, or a description).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Replaces the world after validating it (`source` labels errors and logs). Nothing changes
    /// if it is invalid or equal to the current one.
    pub fn replace(
        &mut self,
        config: WorldConfig,
        source: impl Into<String>,
    ) -> Result<bool, ConfigError> {
        let source = source.into();
        validate_world(&config, "", &source)?;
        if *self.config == config {
            return Ok(false);
        }
        self.config = Arc::new(config);
        self.version += 1;
        self.source = source;
        Ok(true)
    }
}

/// Sent when [`ActiveWorld`] changes.
#[derive(Message, Clone, Debug)]
pub struct WorldConfigChanged {
    /// The new [`ActiveWorld::version`].
    pub version: u64,
}

/// The outcome of the latest world file load, for UIs that show config errors.
#[derive(Resource, Clone, Debug, Default)]
pub struct WorldConfigStatus {
    /// The last load's error, cleared by the next good load.
    pub last_error: Option<ConfigError>,
    /// Good loads so far.
    pub loads: u64,
}

/// Which world file is followed.
#[derive(Resource, Debug)]
pub struct WorldFile {
    /// Asset path to load (changing it loads the new file).
    pub path: Option<String>,
    handle: Option<(String, Handle<WorldAsset>)>,
}

fn load_world_file(server: Res<AssetServer>, mut file: ResMut<WorldFile>) {
    let Some(path) = file.path.clone() else {
        file.handle = None;
        return;
    };
    if file.handle.as_ref().is_some_and(|(p, _)| *p == path) {
        return;
    }
    let handle = server.load::<WorldAsset>(path.clone());
    file.handle = Some((path, handle));
}

pub(crate) fn apply_world_asset(
    mut events: MessageReader<AssetEvent<WorldAsset>>,
    assets: Res<Assets<WorldAsset>>,
    file: Res<WorldFile>,
    mut active: ResMut<ActiveWorld>,
    mut status: ResMut<WorldConfigStatus>,
    mut changed: MessageWriter<WorldConfigChanged>,
) -> Result {
    let Some((path, handle)) = &file.handle else {
        return Ok(());
    };
    // A reload can bring both `Modified` and `LoadedWithDependencies`: handle the file once.
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
            if *active.config != *config {
                active.config = Arc::new(config.clone());
                active.version += 1;
                active.source = path.clone();
                info!("aigc_world: world loaded from {path}");
                changed.write(WorldConfigChanged {
                    version: active.version,
                });
            }
            Ok(())
        }
        Err(err) => {
            status.last_error = Some(err.clone());
            Err(BevyError::from(KeptLastGoodWorld(err.clone())).with_severity(Severity::Warning))
        }
    }
}

/// A world file edit that was rejected; the message says the game goes on with the old world.
#[derive(Debug, Error)]
#[error("{0} (keeping the last good world)")]
struct KeptLastGoodWorld(ConfigError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_default_world_is_valid() {
        let world = parse_world(DEFAULT_WORLD_RON, "default.world.ron").unwrap();
        assert!(world.biomes.table.len() >= 5);
    }
}
