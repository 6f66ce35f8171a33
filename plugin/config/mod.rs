//! World files in RON: the schema, its validation with file:line:column errors, the asset loader,
//! and hot reload that keeps the last good world when an edit is broken.
//!
//! The pure part ([`WorldConfig`], [`parse_world`]) has no Bevy types; [`WorldKind`] makes it a
//! [file kind](crate::kinds), and [`WorldConfigPlugin`] follows the world file and keeps
//! [`ActiveWorld`] up to date.

mod error;
pub mod locate;
mod node_map;
mod schema;
mod validate;

use bevy::prelude::*;

pub use error::{ConfigError, ConfigErrorKind};
pub use node_map::NodeMap;
pub use schema::*;
pub use validate::{
    MAX_BIOMES, MAX_NODES, MAX_OCTAVES, MAX_REACH_CHUNKS, MAX_VIEW_RADIUS_M, node_inputs,
    parse_ron, parse_world, validate_world,
};

use crate::kinds::{
    self, Active, ActiveChanged, FileKind, FileKindPlugin, FileStatus, FollowedFile,
};

/// The world that ships with the crate, used until (or unless) a world file loads.
pub const DEFAULT_WORLD_RON: &str = include_str!("../../assets/worlds/default.world.ron");

/// Loads the world file and keeps [`ActiveWorld`] current.
///
/// The built-in default world is active from the first frame, so terrain and ground queries
/// work immediately; the file at `path` replaces it once loaded, and again on every valid edit
/// (with Bevy's `file_watcher` feature, our `hot_reload` feature). An invalid edit logs one
/// warning with file, line and column, and the last good world stays. The loading is
/// [`FileKindPlugin<WorldKind>`](crate::kinds::FileKindPlugin).
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
        app.add_plugins(FileKindPlugin::<WorldKind>::new(self.path.clone(), default));
    }
}

/// World files, `*.world.ron`: a [`WorldConfig`].
#[derive(Clone, Copy, Debug, Default, TypePath)]
pub struct WorldKind;

impl FileKind for WorldKind {
    type Value = WorldConfig;
    const NAME: &'static str = "world";
    const EXTENSIONS: &'static [&'static str] = &["world.ron"];

    fn parse(bytes: &[u8], file: &str) -> Result<WorldConfig, ConfigError> {
        parse_world(kinds::text(bytes, file)?, file)
    }

    fn check(config: &WorldConfig, source: &str) -> Result<(), ConfigError> {
        validate_world(config, "", source)
    }
}

/// The world in use. Systems that generate content read it; it changes on hot reload and when
/// tools (the sandbox's World panel) edit it ([`Active::replace`](crate::kinds::Active::replace)
/// validates). [`version`](crate::kinds::Active::version) grows on every change.
pub type ActiveWorld = Active<WorldKind>;

/// Sent when [`ActiveWorld`] changes.
pub type WorldConfigChanged = ActiveChanged<WorldKind>;

/// The outcome of the latest world file load, for UIs that show config errors.
pub type WorldConfigStatus = FileStatus<WorldKind>;

/// Which world file is followed (change `path` to load another).
pub type WorldFile = FollowedFile<WorldKind>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_default_world_is_valid() {
        let world = parse_world(DEFAULT_WORLD_RON, "default.world.ron").unwrap();
        assert!(world.biomes.table.len() >= 5);
    }
}
