//! One of many followed files of a kind (one model per material, say): from reading, through
//! hot reloads, to the last good value. [`FileKindPlugin`](super::FileKindPlugin) follows one
//! file; a feature that follows a set of files keeps a [`FileSlot`] per path and polls it.

use std::sync::Arc;

use bevy::asset::{AssetLoadError, UntypedHandle};
use bevy::prelude::*;
use bevy::tasks::{IoTaskPool, Task, futures::check_ready};

use super::{FileAsset, FileKind};

/// Where one followed file of kind `K` stands.
pub enum FileSlot<K: FileKind> {
    /// The file is being read.
    Loading(Task<Result<UntypedHandle, AssetLoadError>>),
    /// Read; waiting for the asset to appear.
    Waiting(Handle<FileAsset>),
    /// A usable value. `previous` is the value before the last good edit, for whoever shows
    /// something made from it until the new value's version is ready.
    Ready {
        /// The file.
        handle: Handle<FileAsset>,
        /// The last good value.
        value: Arc<K::Value>,
        /// The value before it, if an edit replaced one.
        previous: Option<Arc<K::Value>>,
        /// [`FileAsset`] serial of the load looked at last.
        serial: u64,
    },
    /// Not usable, for `reason`. With a handle the file was read (its content is wrong) and an
    /// edit can still fix it; without one it could not be read at all.
    Failed {
        /// The file, if it was read.
        handle: Option<Handle<FileAsset>>,
        /// Why it cannot be used.
        reason: String,
        /// [`FileAsset`] serial of the load looked at last.
        serial: u64,
    },
}

/// What [`FileSlot::poll`] saw happen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlotChange {
    /// A good value arrived: the file's first, or one that fixes a file that could not be used.
    Usable,
    /// A good edit replaced the value (the old one is kept as `previous`).
    Changed,
    /// An edit was rejected, for the reason given; the last good value stays.
    Rejected(String),
    /// The file cannot be used, for the reason given, and has no good value.
    Unusable(String),
}

impl<K: FileKind> FileSlot<K> {
    /// Starts reading the file at asset path `path`.
    pub fn load(server: &AssetServer, path: &str) -> Self {
        let server = server.clone();
        let path = path.to_owned();
        Self::Loading(
            IoTaskPool::get()
                .spawn(async move { server.load_builder().load_untyped_async(path).await }),
        )
    }

    /// Whether the file is still being read.
    pub fn loading(&self) -> bool {
        matches!(self, Self::Loading(_) | Self::Waiting(_))
    }

    /// Whether the file could not be read at all (so only loading it again can help).
    pub fn unreadable(&self) -> bool {
        matches!(self, Self::Failed { handle: None, .. })
    }

    /// The last good value.
    pub fn value(&self) -> Option<&Arc<K::Value>> {
        match self {
            Self::Ready { value, .. } => Some(value),
            _ => None,
        }
    }

    /// Why the file cannot be used, if it cannot.
    pub fn failure(&self) -> Option<&str> {
        match self {
            Self::Failed { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// The usable values, newest first: the current one, then the one before a reload.
    pub fn values_newest_first(&self) -> impl Iterator<Item = &Arc<K::Value>> {
        let (value, previous) = match self {
            Self::Ready {
                value, previous, ..
            } => (Some(value), previous.as_ref()),
            _ => (None, None),
        };
        value.into_iter().chain(previous)
    }

    /// Moves the slot on: a finished read, a loaded file, or a new load (hot reload) of it, each
    /// seen once. Returns what changed, if anything did.
    pub fn poll(&mut self, assets: &Assets<FileAsset>) -> Option<SlotChange> {
        let (handle, seen) = match self {
            Self::Loading(task) => {
                let read = check_ready(task)?;
                match read
                    .map_err(|e| e.to_string())
                    .and_then(|handle| handle.try_typed::<FileAsset>().map_err(|e| e.to_string()))
                {
                    Ok(handle) => *self = Self::Waiting(handle),
                    Err(reason) => return Some(self.fail(None, reason, 0)),
                }
                return None;
            }
            Self::Waiting(handle) => (handle.clone(), 0),
            Self::Ready { handle, serial, .. } => (handle.clone(), *serial),
            Self::Failed {
                handle: Some(handle),
                serial,
                ..
            } => (handle.clone(), *serial),
            Self::Failed { handle: None, .. } => return None,
        };
        let asset = assets.get(handle.id()).filter(|a| a.serial() != seen)?;
        let serial = asset.serial();
        match (&mut *self, asset.result::<K>()) {
            (
                Self::Ready {
                    value, serial: s, ..
                },
                Ok(new),
            ) if **value == *new => {
                *s = serial;
                None
            }
            (Self::Ready { value, .. }, Ok(new)) => {
                let previous = Some(value.clone());
                *self = Self::Ready {
                    handle,
                    value: new,
                    previous,
                    serial,
                };
                Some(SlotChange::Changed)
            }
            (Self::Ready { serial: s, .. }, Err(e)) => {
                *s = serial;
                Some(SlotChange::Rejected(e.to_string()))
            }
            (_, Ok(new)) => {
                *self = Self::Ready {
                    handle,
                    value: new,
                    previous: None,
                    serial,
                };
                Some(SlotChange::Usable)
            }
            (_, Err(e)) => Some(self.fail(Some(handle), e.to_string(), serial)),
        }
    }

    fn fail(
        &mut self,
        handle: Option<Handle<FileAsset>>,
        reason: String,
        serial: u64,
    ) -> SlotChange {
        *self = Self::Failed {
            handle,
            reason: reason.clone(),
            serial,
        };
        SlotChange::Unusable(reason)
    }
}
