//! The ECS shell of a file kind: one generic plugin that loads the followed file, hot-reloads
//! it, keeps the last good value and reports a rejected edit once, for any [`FileKind`].

use std::any::{Any, TypeId};
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bevy::asset::io::Reader;
use bevy::asset::{AssetLoader, LoadContext, LoadState};
use bevy::ecs::error::Severity;
use bevy::prelude::*;
use thiserror::Error;

use super::FileKind;
use crate::config::{ConfigError, ConfigErrorKind};
use crate::{AigcWorldSystems, AigcWorldUpdate};

/// A loaded file of any [`FileKind`]: which kind read it, and its value or why it cannot be
/// used. One asset type serves every kind (one loader per kind, chosen by extension), so the
/// engine tracks one asset type per frame however many kinds there are. Loading never fails on
/// bad content, so Bevy logs nothing and the plugin reports the error once, itself.
#[derive(Asset, TypePath)]
pub struct FileAsset {
    kind: TypeId,
    kind_name: &'static str,
    file: String,
    result: Result<Arc<dyn Any + Send + Sync>, ConfigError>,
    /// Which load this is (unique in the process), so each load is applied once.
    serial: u64,
}

impl FileAsset {
    /// Parses `bytes` (labelled `file` in errors) as a new load of a kind-`K` file.
    pub fn parse<K: FileKind>(bytes: &[u8], file: &str) -> Self {
        static LOADS: AtomicU64 = AtomicU64::new(1);
        Self {
            kind: TypeId::of::<K>(),
            kind_name: K::NAME,
            file: file.to_owned(),
            result: K::parse(bytes, file)
                .map(|value| Arc::new(value) as Arc<dyn Any + Send + Sync>),
            serial: LOADS.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Which load this is: unique in the process, so a new load of the same file differs.
    pub fn serial(&self) -> u64 {
        self.serial
    }

    /// [`FileKind::NAME`] of the kind whose loader read the file (chosen by its extension).
    pub fn kind_name(&self) -> &'static str {
        self.kind_name
    }

    /// Whether a kind-`K` loader read the file.
    pub fn is<K: FileKind>(&self) -> bool {
        self.kind == TypeId::of::<K>()
    }

    /// The value as kind `K`, or what is wrong with the file: its own error, or that its name
    /// makes it a file of another kind.
    pub fn result<K: FileKind>(&self) -> Result<Arc<K::Value>, ConfigError> {
        let wrong_kind = || {
            ConfigError::at(
                &self.file,
                (1, 1),
                ConfigErrorKind::Invalid(format!(
                    "this is read as a {} file (by its name), not a {} file; {} files end in {}",
                    self.kind_name,
                    K::NAME,
                    K::NAME,
                    K::EXTENSIONS
                        .iter()
                        .map(|e| format!(".{e}"))
                        .collect::<Vec<_>>()
                        .join(" or ")
                )),
            )
        };
        match &self.result {
            Ok(_) if !self.is::<K>() => Err(wrong_kind()),
            Ok(value) => value
                .clone()
                .downcast::<K::Value>()
                .map_err(|_| wrong_kind()),
            Err(error) => Err(error.clone()),
        }
    }
}

impl std::fmt::Debug for FileAsset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileAsset")
            .field("kind", &self.kind_name)
            .field("file", &self.file)
            .field("ok", &self.result.is_ok())
            .field("serial", &self.serial)
            .finish()
    }
}

/// Reads files of kind `K` (by [`FileKind::EXTENSIONS`]) into [`FileAsset`]s.
#[derive(TypePath)]
pub struct FileAssetLoader<K: FileKind>(PhantomData<fn() -> K>);

impl<K: FileKind> Default for FileAssetLoader<K> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

/// A file could not be read at all (its content is never a load error).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum FileLoadError {
    /// Reading the bytes failed.
    #[error("could not read the file: {0}")]
    Io(#[from] std::io::Error),
}

impl<K: FileKind> AssetLoader for FileAssetLoader<K> {
    type Asset = FileAsset;
    type Settings = ();
    type Error = FileLoadError;

    async fn load(
        &self,
        reader: &mut dyn Reader,
        _settings: &(),
        load_context: &mut LoadContext<'_>,
    ) -> Result<FileAsset, FileLoadError> {
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes).await?;
        let file = load_context.path().to_string();
        Ok(FileAsset::parse::<K>(&bytes, &file))
    }

    fn extensions(&self) -> &[&str] {
        K::EXTENSIONS
    }
}

/// The kinds whose loaders are registered, so each is registered once.
#[derive(Resource, Default)]
struct FileKindLoaders(Vec<TypeId>);

/// Registers [`FileAsset`] (once for all kinds) and the loader of kind `K` (once): for kinds
/// whose files are followed some other way than by [`FileKindPlugin`] (many files of one kind,
/// say).
pub fn add_file_asset<K: FileKind>(app: &mut App) {
    if !app.world().contains_resource::<Assets<FileAsset>>() {
        app.init_asset::<FileAsset>();
    }
    let mut loaders = app.world_mut().get_resource_or_init::<FileKindLoaders>();
    if !loaders.0.contains(&TypeId::of::<K>()) {
        loaders.0.push(TypeId::of::<K>());
        app.register_asset_loader(FileAssetLoader::<K>::default());
    }
}

/// Follows one file of kind `K` and keeps [`Active<K>`] current.
///
/// `builtin` is active from the first frame; the file at `path` replaces it once loaded, and
/// again on every valid edit (with Bevy's `file_watcher` feature, our `hot_reload` feature). A
/// file that cannot be read or is invalid logs one warning naming file, line and column, and
/// the last good value stays. Adds [`FollowedFile<K>`] (change its path to follow another
/// file), [`FileStatus<K>`], [`Active<K>`] and the [`ActiveChanged<K>`] message; its systems
/// run in [`FileKindSystems`].
pub struct FileKindPlugin<K: FileKind> {
    /// Asset path of the file, or `None` to use only `builtin`.
    pub path: Option<String>,
    /// The value used until (or unless) the file loads.
    pub builtin: K::Value,
}

impl<K: FileKind> FileKindPlugin<K> {
    /// Follows `path`, starting from `builtin`.
    pub fn new(path: Option<String>, builtin: K::Value) -> Self {
        Self { path, builtin }
    }
}

impl<K: FileKind> Plugin for FileKindPlugin<K> {
    fn build(&self, app: &mut App) {
        crate::configure_sets(app);
        add_file_asset::<K>(app);
        app.configure_sets(
            AigcWorldUpdate,
            FileKindSystems.in_set(AigcWorldSystems::Config),
        )
        .add_message::<ActiveChanged<K>>()
        .insert_resource(Active::<K>::new(
            self.builtin.clone(),
            format!("<built-in {}>", K::NAME),
        ))
        .insert_resource(FollowedFile::<K> {
            path: self.path.clone(),
            handle: None,
            applied: 0,
            _kind: PhantomData,
        })
        .init_resource::<FileStatus<K>>()
        .add_systems(
            AigcWorldUpdate,
            follow_file::<K>
                .run_if(file_may_have_news::<K>)
                .in_set(FileKindSystems),
        );
    }
}

/// Where every [`FileKindPlugin`] loads and applies its file, inside
/// [`AigcWorldSystems::Config`]. A kind's own reaction to a new value runs after it.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileKindSystems;

/// The value of kind `K` in use: the built-in one, then the followed file's last good version.
/// Tools may [`replace`](Self::replace) it; [`version`](Self::version) grows on every change.
#[derive(Resource, Clone, Debug)]
pub struct Active<K: FileKind> {
    value: Arc<K::Value>,
    version: u64,
    source: String,
}

impl<K: FileKind> Active<K> {
    /// `value`, labelled `source` in logs, as version 1.
    pub fn new(value: K::Value, source: impl Into<String>) -> Self {
        Self {
            value: Arc::new(value),
            version: 1,
            source: source.into(),
        }
    }

    /// The value.
    pub fn config(&self) -> &Arc<K::Value> {
        &self.value
    }

    /// The value, shared (a cheap clone that outlives the borrow of the resource).
    pub fn get(&self) -> Arc<K::Value> {
        self.value.clone()
    }

    /// Grows by one on every change.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Where the value came from (a file path, or a description).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Replaces the value after [checking](FileKind::check) it (`source` labels errors and
    /// logs). Returns whether it changed: nothing changes if it is invalid, and a value equal
    /// to the current one keeps its version (only [`source`](Self::source) becomes `source`).
    pub fn replace(
        &mut self,
        value: K::Value,
        source: impl Into<String>,
    ) -> Result<bool, ConfigError> {
        let source = source.into();
        K::check(&value, &source)?;
        Ok(self.set(Arc::new(value), source))
    }

    /// Replaces a checked value; returns whether it changed. An equal value keeps its version
    /// but is now labelled `source`: a file saying what the built-in value says shows as loaded.
    fn set(&mut self, value: Arc<K::Value>, source: String) -> bool {
        self.source = source;
        if *self.value == *value {
            return false;
        }
        self.value = value;
        self.version += 1;
        true
    }
}

/// Sent when [`Active<K>`] changes, by the file loader and by tools that replace it.
#[derive(Message, Clone, Debug)]
pub struct ActiveChanged<K: FileKind> {
    /// The new [`Active::version`].
    pub version: u64,
    _kind: PhantomData<fn() -> K>,
}

impl<K: FileKind> ActiveChanged<K> {
    /// The change to `version`.
    pub fn new(version: u64) -> Self {
        Self {
            version,
            _kind: PhantomData,
        }
    }
}

/// How the followed file of kind `K` fared, for UIs and tests.
#[derive(Resource, Clone, Debug)]
pub struct FileStatus<K: FileKind> {
    /// The last load's error, cleared by the next good load.
    pub last_error: Option<ConfigError>,
    /// Good loads so far (an unchanged file counts too).
    pub loads: u64,
    /// Rejected loads so far: invalid edits and files that could not be read.
    pub rejected: u64,
    /// Whether the followed file is being read for the first time (no outcome yet).
    pub pending: bool,
    _kind: PhantomData<fn() -> K>,
}

impl<K: FileKind> Default for FileStatus<K> {
    fn default() -> Self {
        Self {
            last_error: None,
            loads: 0,
            rejected: 0,
            pending: false,
            _kind: PhantomData,
        }
    }
}

/// Which file of kind `K` is followed.
#[derive(Resource, Debug)]
pub struct FollowedFile<K: FileKind> {
    /// Asset path to load (changing it loads the new file), or `None` for the built-in value.
    pub path: Option<String>,
    handle: Option<(String, Handle<FileAsset>)>,
    /// [`FileAsset`] serial of the last load applied.
    applied: u64,
    _kind: PhantomData<fn() -> K>,
}

/// Whether [`follow_file`] has anything to do: the followed path changed, a first read is under
/// way, or a file of the kind (re)loaded. A world at rest skips it, so ten kinds cost nothing
/// per frame.
fn file_may_have_news<K: FileKind>(
    file: Res<FollowedFile<K>>,
    status: Res<FileStatus<K>>,
    assets: Res<Assets<FileAsset>>,
) -> bool {
    file.is_changed() || status.pending || assets.is_changed()
}

/// Loads the followed file when its path changes, and applies each new load of it once. A
/// reload brings both `Modified` and `LoadedWithDependencies`, in different frames, so loads are
/// told apart by their serial rather than by events.
fn follow_file<K: FileKind>(
    server: Res<AssetServer>,
    assets: Res<Assets<FileAsset>>,
    mut file: ResMut<FollowedFile<K>>,
    mut active: ResMut<Active<K>>,
    mut status: ResMut<FileStatus<K>>,
    mut changed: MessageWriter<ActiveChanged<K>>,
) -> Result {
    match file.path.clone() {
        None if file.handle.is_some() => file.handle = None,
        Some(path) if file.handle.as_ref().is_none_or(|(p, _)| *p != path) => {
            let handle = server.load::<FileAsset>(path.clone());
            file.handle = Some((path, handle));
            status.pending = true;
        }
        _ => {}
    }
    // Written without change detection, so only a new path wakes this system again.
    let file = file.bypass_change_detection();
    let Some((path, handle)) = &file.handle else {
        return Ok(());
    };
    if status.pending
        && let LoadState::Failed(e) = server.load_state(handle.id())
    {
        status.pending = false;
        let error = ConfigError::at(path, (1, 1), ConfigErrorKind::Io(e.to_string()));
        return Err(reject(&mut status, error));
    }
    let Some(asset) = assets
        .get(handle.id())
        .filter(|asset| asset.serial() != file.applied)
    else {
        return Ok(());
    };
    file.applied = asset.serial();
    status.pending = false;
    match asset.result::<K>() {
        Ok(value) => {
            status.last_error = None;
            status.loads += 1;
            // `set` touches `Active` only for a real change, so its change detection means one.
            if active.bypass_change_detection().set(value, path.clone()) {
                active.set_changed();
                info!("aigc_world: {} loaded from {path}", K::NAME);
                changed.write(ActiveChanged::new(active.version()));
            }
            Ok(())
        }
        Err(error) => Err(reject(&mut status, error)),
    }
}

/// Records a rejected file and makes its one warning.
fn reject<K: FileKind>(status: &mut FileStatus<K>, error: ConfigError) -> BevyError {
    status.rejected += 1;
    status.last_error = Some(error.clone());
    BevyError::from(KeptLastGood {
        error,
        what: K::NAME,
    })
    .with_severity(Severity::Warning)
}

/// A file that was rejected; the message says the game goes on with the last good value.
#[derive(Debug, Error)]
#[error("{error} (keeping the last good {what})")]
struct KeptLastGood {
    error: ConfigError,
    what: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::WorldKind;
    use crate::npc::NpcRulesKind;

    const NPC_FILE: &str = include_str!("../../assets/npc/default.npc.ron");

    #[test]
    fn a_file_gives_its_value_to_its_own_kind_only() {
        let asset = FileAsset::parse::<NpcRulesKind>(NPC_FILE.as_bytes(), "npc/a.npc.ron");
        assert!(asset.is::<NpcRulesKind>() && !asset.is::<WorldKind>());
        assert_eq!(
            *asset.result::<NpcRulesKind>().unwrap(),
            NpcRulesKind::parse(NPC_FILE.as_bytes(), "x").unwrap()
        );
        // Followed as a world, it names both kinds and where world files end.
        let error = asset.result::<WorldKind>().unwrap_err();
        let text = error.to_string();
        assert!(text.starts_with("npc/a.npc.ron:1:1: "), "{text}");
        assert!(
            text.contains("NPC rules") && text.contains(".world.ron"),
            "{text}"
        );
    }

    #[test]
    fn each_load_has_its_own_serial_and_keeps_its_error() {
        let a = FileAsset::parse::<WorldKind>(b"(seed: ", "w.world.ron");
        let b = FileAsset::parse::<WorldKind>(b"(seed: ", "w.world.ron");
        assert_ne!(a.serial(), b.serial());
        let error = a.result::<WorldKind>().unwrap_err();
        assert_eq!(error.file, "w.world.ron", "{error}");
        assert_eq!(a.kind_name(), "world");
    }
}
