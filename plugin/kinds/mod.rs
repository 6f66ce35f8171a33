//! File kinds: every file a modder edits (worlds, NPC rules, grammars, texture sets, AI settings,
//! texture models) is one [`FileKind`], loaded, hot-reloaded and checked by one mechanism.
//!
//! | piece | what it is |
//! |---|---|
//! | [`FileKind`] | a kind: its value type, extensions, human name and parser (bytes to value or a positioned [`ConfigError`]) |
//! | [`registry`], [`kind_for_path`] | every kind of the crate, usable without a Bevy app (validators, fuzzers) |
//! | [`FileAsset`] | a loaded file of any kind: one asset type for all kinds, read by one loader per kind (chosen by extension) |
//! | [`FileKindPlugin`] | for one kind: the loader, the followed file ([`FollowedFile`]), hot reload, keep-last-good, one warning per rejected edit, [`FileStatus`], [`Active`], [`ActiveChanged`] |
//! | [`FileSlot`] | one of many followed files of a kind (a model per material): loading, hot reload, keep-last-good, polled by the feature that follows them |
//!
//! A kind is a unit type and an `impl FileKind`; adding it to [`registry`] makes the validator
//! and the generic tests cover it. Its own behaviour on a new value is a small system reading
//! [`Active<K>`] (with change detection) or [`ActiveChanged<K>`], ordered after
//! [`FileKindSystems`].
//!
//! Positions: text kinds report the 1-based line and column (columns count characters) of what
//! is wrong; binary kinds report line 1 and the 1-based byte position as the column, so
//! `model.nca:1:41` is byte offset 40.

mod plugin;
mod registry;
mod slot;

use std::fmt::Debug;

use bevy::reflect::TypePath;

pub use plugin::{
    Active, ActiveChanged, FileAsset, FileAssetLoader, FileKindPlugin, FileKindSystems,
    FileLoadError, FileStatus, FollowedFile, add_file_asset,
};
pub use registry::{KindInfo, kind_for_path, registry};
pub use slot::{FileSlot, SlotChange};

use crate::config::{ConfigError, ConfigErrorKind, locate};

/// One kind of file a modder edits: what it parses into and how.
///
/// Implemented by a unit type (`#[derive(Clone, Copy, Debug, Default, TypePath)]`), which names
/// the kind in [`FileKindPlugin<K>`], [`Active<K>`] and the other generic pieces.
pub trait FileKind: TypePath + Clone + Copy + Debug + Default + Send + Sync + 'static {
    /// What a valid file gives.
    type Value: Clone + PartialEq + Debug + Send + Sync + 'static;

    /// A human name for messages: "world", "NPC rules", "texture model".
    const NAME: &'static str;

    /// File name endings without the leading dot, such as `"world.ron"`.
    const EXTENSIONS: &'static [&'static str];

    /// Parses and checks a whole file; `file` labels errors. Never panics on bad input. Text
    /// kinds start with [`text`].
    fn parse(bytes: &[u8], file: &str) -> Result<Self::Value, ConfigError>;

    /// Checks a value made by a tool rather than read from a file (see [`Active::replace`]);
    /// `source` labels errors. Values from [`parse`](Self::parse) are checked already.
    fn check(value: &Self::Value, source: &str) -> Result<(), ConfigError> {
        let _ = (value, source);
        Ok(())
    }
}

/// The bytes of a text file as UTF-8, or a [`ConfigError`] at the first bad byte.
pub fn text<'a>(bytes: &'a [u8], file: &str) -> Result<&'a str, ConfigError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let valid = e.valid_up_to();
        // The prefix is valid UTF-8 by definition, so this never falls back.
        let prefix = std::str::from_utf8(&bytes[..valid]).unwrap_or_default();
        ConfigError::at(
            file,
            locate::line_col(prefix, valid),
            ConfigErrorKind::Io(format!("not UTF-8 text: {e}")),
        )
    })
}

/// A [`ConfigError`] at byte `offset` of a binary file (line 1, column `offset + 1`).
pub fn at_byte(file: &str, offset: usize, kind: ConfigErrorKind) -> ConfigError {
    ConfigError::at(file, (1, offset + 1), kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_utf8_is_reported_where_it_starts() {
        let bytes = b"(\n  name: \"caf\xff\",\n)";
        let err = text(bytes, "x.world.ron").unwrap_err();
        assert_eq!((err.line, err.column), (2, 13), "{err}");
        assert!(err.to_string().starts_with("x.world.ron:2:13: "), "{err}");
        assert_eq!(text(b"(a: 1)", "f").unwrap(), "(a: 1)");
    }
}
