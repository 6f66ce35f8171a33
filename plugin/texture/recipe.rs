//! The texture file's schema (`*.textures.ron`): noise recipes per material and which material
//! each of the world's biomes uses. Plain serde types, no Bevy; `assets/textures/default.textures.ron`
//! is the commented reference.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, ConfigErrorKind, locate::locate, parse_ron};

/// Largest texture side accepted, in pixels.
pub const MAX_TEXTURE_SIZE: u32 = 2048;

/// A whole texture file: materials, the biome-to-material map and output settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextureSetConfig {
    /// Pixels along a side of every layer (a power of two, 16..=2048).
    #[serde(default = "default_size")]
    pub size: u32,
    /// World metres covered by one repeat of a texture.
    #[serde(default = "default_metres")]
    pub metres_per_tile: f32,
    /// Seed of every recipe and model; change it for different (equally seamless) textures.
    #[serde(default)]
    pub seed: u64,
    /// Named materials.
    pub materials: BTreeMap<String, MaterialRecipe>,
    /// World biome name to material name. Biomes not listed use `fallback`.
    #[serde(default)]
    pub biomes: BTreeMap<String, String>,
    /// Material for biomes missing from `biomes`.
    pub fallback: String,
}

fn default_size() -> u32 {
    256
}

fn default_metres() -> f32 {
    4.0
}

/// How to make one material: a height field from noise layers, coloured by a ramp, with relief
/// and roughness derived from the height. `model` names learned weights that replace the
/// albedo once they load.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaterialRecipe {
    /// Noise layers summed into the height field.
    pub layers: Vec<NoiseLayer>,
    /// Colour ramp over the height normalised to 0..1: `(position, (r, g, b))`, sRGB 0..1,
    /// positions ascending.
    pub colors: Vec<(f32, (f32, f32, f32))>,
    /// Large, soft brightness variation so repeats are less obvious.
    #[serde(default)]
    pub variation: Option<Variation>,
    /// Relief height as a fraction of the tile: how strongly the normal map bends.
    #[serde(default = "default_bump")]
    pub bump: f32,
    /// Roughness at the lowest and the highest point of the height field.
    #[serde(default = "default_roughness")]
    pub roughness: (f32, f32),
    /// Asset path of learned NCA weights (`.nca`) whose output replaces the albedo.
    #[serde(default)]
    pub model: Option<String>,
}

fn default_bump() -> f32 {
    0.01
}

fn default_roughness() -> (f32, f32) {
    (0.85, 0.75)
}

/// One noise layer of a height field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoiseLayer {
    /// The pattern.
    pub kind: LayerKind,
    /// Features per tile along each axis; whole numbers keep the texture seamless.
    pub frequency: u32,
    /// Octaves, each at twice the frequency.
    #[serde(default = "one")]
    pub octaves: u32,
    /// Amplitude multiplier per octave.
    #[serde(default = "half")]
    pub gain: f32,
    /// Weight of the layer in the sum.
    #[serde(default = "one_f")]
    pub weight: f32,
    /// Domain warp strength in tile units (0 = none): bends the pattern with smooth noise.
    #[serde(default)]
    pub warp: f32,
    /// Sharpening exponent applied to the layer's 0..1 value (1 = unchanged).
    #[serde(default = "one_f")]
    pub power: f32,
    /// Extra seed so two similar layers differ.
    #[serde(default)]
    pub seed: u32,
}

fn one() -> u32 {
    1
}

fn one_f() -> f32 {
    1.0
}

fn half() -> f32 {
    0.5
}

/// Patterns a [`NoiseLayer`] can make.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum LayerKind {
    /// Rolling fractal Perlin noise.
    Fbm,
    /// Sharp crests (1 - |noise|), for rock and ridges.
    Ridged,
    /// Rounded bumps (|noise|).
    Billow,
    /// Domes around random points: pebbles, clumps, grains.
    Cells,
    /// Thin grooves between cells: cracks and crevices.
    Cracks,
    /// Parallel waves across the tile, `(a, b)` whole waves along u and v: sand ripples.
    Ripples(i32, i32),
}

/// Soft brightness variation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variation {
    /// Features per tile (whole number).
    pub frequency: u32,
    /// Brightness change, 0..1 (0.2 = up to 20% darker or lighter).
    pub strength: f32,
}

impl TextureSetConfig {
    /// Material used for biome `name`: its mapping, else the fallback.
    pub fn material_for_biome(&self, name: &str) -> &str {
        self.biomes.get(name).map_or(&self.fallback, String::as_str)
    }
}

/// Parses and checks a texture file; `file` names it in errors.
pub fn parse_texture_set(src: &str, file: &str) -> Result<TextureSetConfig, ConfigError> {
    let config: TextureSetConfig = parse_ron(src, file)?;
    validate_texture_set(&config, src, file)?;
    Ok(config)
}

/// Checks what serde cannot: sizes, references, ramps and frequencies.
pub fn validate_texture_set(
    config: &TextureSetConfig,
    src: &str,
    file: &str,
) -> Result<(), ConfigError> {
    let fail = |path: &[&str], field: String, value: String, expected: &str| {
        Err(ConfigError::at(
            file,
            locate(src, path),
            ConfigErrorKind::OutOfRange {
                field,
                value,
                expected: expected.to_owned(),
            },
        ))
    };
    if !(16..=MAX_TEXTURE_SIZE).contains(&config.size) || !config.size.is_power_of_two() {
        return fail(
            &["size"],
            "size".into(),
            config.size.to_string(),
            "a power of two from 16 to 2048",
        );
    }
    if !(config.metres_per_tile.is_finite() && config.metres_per_tile > 0.0) {
        return fail(
            &["metres_per_tile"],
            "metres_per_tile".into(),
            config.metres_per_tile.to_string(),
            "a positive number of metres",
        );
    }
    let known = || {
        config
            .materials
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    };
    let unknown = |path: &[&str], name: &str| {
        Err(ConfigError::at(
            file,
            locate(src, path),
            ConfigErrorKind::Invalid(format!(
                "material \"{name}\" is not defined; defined materials: {}",
                known()
            )),
        ))
    };
    if !config.materials.contains_key(&config.fallback) {
        return unknown(&["fallback"], &config.fallback);
    }
    for (biome, material) in &config.biomes {
        if !config.materials.contains_key(material) {
            return unknown(&["biomes", &format!("\"{biome}\"")], material);
        }
    }
    for (name, recipe) in &config.materials {
        let quoted = format!("\"{name}\"");
        if recipe.layers.is_empty() {
            return fail(
                &["materials", &quoted, "layers"],
                format!("materials.{name}.layers"),
                "empty".into(),
                "at least one layer",
            );
        }
        for layer in &recipe.layers {
            if !(1..=512).contains(&layer.frequency) || !(1..=10).contains(&layer.octaves) {
                return fail(
                    &["materials", &quoted, "frequency"],
                    format!("materials.{name}.layers.frequency/octaves"),
                    format!("{}/{}", layer.frequency, layer.octaves),
                    "frequency 1..=512 and octaves 1..=10",
                );
            }
            if !(layer.power.is_finite() && layer.power > 0.0 && layer.weight.is_finite()) {
                return fail(
                    &["materials", &quoted, "power"],
                    format!("materials.{name}.layers.power"),
                    layer.power.to_string(),
                    "a positive power and a finite weight",
                );
            }
        }
        let ascending = recipe.colors.windows(2).all(|w| w[0].0 <= w[1].0);
        if recipe.colors.is_empty() || !ascending {
            return fail(
                &["materials", &quoted, "colors"],
                format!("materials.{name}.colors"),
                format!("{} stops", recipe.colors.len()),
                "at least one stop, positions ascending",
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_texture_file_is_valid() {
        let src = include_str!("../../assets/textures/default.textures.ron");
        let set = parse_texture_set(src, "default.textures.ron").unwrap();
        for material in ["grass", "rock", "sand", "snow", "dirt"] {
            assert!(set.materials.contains_key(material), "{material}");
        }
        let world = crate::config::parse_world(crate::config::DEFAULT_WORLD_RON, "w").unwrap();
        for biome in &world.biomes.table {
            assert!(set.biomes.contains_key(&biome.name), "{}", biome.name);
        }
    }

    #[test]
    fn unknown_material_is_reported_with_position() {
        let src = "(materials: {}, fallback: \"mud\")";
        let err = parse_texture_set(src, "t.ron").unwrap_err();
        assert_eq!((err.line, err.column), (1, 17));
        assert!(err.to_string().contains("\"mud\""), "{err}");
    }
}
