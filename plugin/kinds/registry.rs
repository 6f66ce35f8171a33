//! Every file kind of the crate in one list, for tools that work without a Bevy app: "which kind
//! is this file, and is it valid?"

use std::path::Path;

use super::FileKind;
use crate::config::ConfigError;

/// What a tool needs to know about one [`FileKind`], without its types.
#[derive(Clone, Copy, Debug)]
pub struct KindInfo {
    /// [`FileKind::NAME`].
    pub name: &'static str,
    /// [`FileKind::EXTENSIONS`].
    pub extensions: &'static [&'static str],
    /// Parses a whole file (`bytes`, labelled `file` in errors) and drops the value.
    pub validate: fn(bytes: &[u8], file: &str) -> Result<(), ConfigError>,
}

impl KindInfo {
    /// The entry for kind `K`.
    pub const fn of<K: FileKind>() -> Self {
        Self {
            name: K::NAME,
            extensions: K::EXTENSIONS,
            validate: validate::<K>,
        }
    }

    /// Whether `path`'s file name ends with one of this kind's extensions.
    pub fn matches(&self, path: &Path) -> bool {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            return false;
        };
        self.extensions.iter().any(|ext| {
            name.len() > ext.len() + 1
                && name.ends_with(ext)
                && name.as_bytes()[name.len() - ext.len() - 1] == b'.'
        })
    }
}

fn validate<K: FileKind>(bytes: &[u8], file: &str) -> Result<(), ConfigError> {
    K::parse(bytes, file).map(drop)
}

/// The kinds, one line each: a new kind is added here.
static KINDS: &[KindInfo] = &[
    KindInfo::of::<crate::config::WorldKind>(),
    KindInfo::of::<crate::npc::NpcRulesKind>(),
    KindInfo::of::<crate::dialogue::GrammarKind>(),
    KindInfo::of::<crate::texture::TextureSetKind>(),
    KindInfo::of::<crate::texture::NcaModelKind>(),
    KindInfo::of::<crate::ai::AiSettingsKind>(),
    KindInfo::of::<crate::dialogue::llm::LanguageSettingsKind>(),
    KindInfo::of::<crate::ai::llm::loaded::LanguageModelKind>(),
    KindInfo::of::<crate::erosion::ErosionModelKind>(),
    KindInfo::of::<crate::scatter::ScatterKind>(),
];

/// Every file kind the crate reads.
pub fn registry() -> &'static [KindInfo] {
    KINDS
}

/// The kind whose extension `path` has, if any.
pub fn kind_for_path(path: impl AsRef<Path>) -> Option<&'static KindInfo> {
    KINDS.iter().find(|kind| kind.matches(path.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_matched_by_their_whole_extension() {
        let name = |path: &str| kind_for_path(path).map(|k| k.name);
        assert_eq!(name("assets/worlds/default.world.ron"), Some("world"));
        assert_eq!(name("a/b/grass.nca"), Some("texture model"));
        assert_eq!(name("x.grammar.ron"), Some("dialogue grammar"));
        assert_eq!(name("world.ron"), None);
        assert_eq!(name("default.otherworld.ron"), None);
        assert_eq!(name("notes.ron"), None);
    }

    #[test]
    fn names_and_extensions_are_unique() {
        let mut names: Vec<_> = registry().iter().map(|k| k.name).collect();
        let mut exts: Vec<_> = registry().iter().flat_map(|k| k.extensions).collect();
        let (n, e) = (names.len(), exts.len());
        names.sort();
        names.dedup();
        exts.sort();
        exts.dedup();
        assert_eq!((names.len(), exts.len()), (n, e));
    }

    #[test]
    fn every_shipped_asset_validates_by_its_kind() {
        let mut checked = 0;
        let mut stack = vec![std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/assets"
        ))];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if let Some(kind) = kind_for_path(&path) {
                    let bytes = std::fs::read(&path).unwrap();
                    let label = path.display().to_string();
                    if let Err(e) = (kind.validate)(&bytes, &label) {
                        panic!("{e}");
                    }
                    checked += 1;
                }
            }
        }
        // Worlds, NPC rules, grammar, textures, AI settings and the shipped models.
        assert!(checked >= 9, "{checked}");
    }
}
