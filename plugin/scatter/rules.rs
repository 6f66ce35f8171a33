//! The scatter file's schema (`*.scatter.ron`): layers of trees, bushes, rocks and grass, with
//! where each may stand and how it varies. Plain serde types with no Bevy in them;
//! `assets/worlds/default.scatter.ron` is the commented reference.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, ConfigErrorKind, locate::locate, parse_ron};

/// Most layers a scatter file may have.
pub const MAX_LAYERS: usize = 32;

/// Most candidates per 100 m² a layer may ask for in any biome (one per square metre).
pub const MAX_DENSITY: f32 = 100.0;

/// How many candidate cells the minimum spacing may span: conflicts are checked against every
/// cell that close, so this bounds the work per candidate.
pub const MAX_SPACING_CELLS: f32 = 4.0;

/// Everything scattered over a world.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScatterRules {
    /// Mixed with the world seed.
    pub seed: u64,
    /// The layers, each one kind of object.
    pub layers: Vec<Layer>,
}

/// What a layer places.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ObjectKind {
    /// A broadleaf tree: trunk, branches and leaf clusters.
    Tree,
    /// A conifer: trunk and stacked cones of needles.
    Conifer,
    /// A low bush of leaf clusters.
    Bush,
    /// A small faceted rock.
    Rock,
    /// A large faceted rock.
    Boulder,
    /// A grass tuft.
    Grass,
}

impl ObjectKind {
    /// Every kind, in a fixed order.
    pub const ALL: [ObjectKind; 6] = [
        ObjectKind::Tree,
        ObjectKind::Conifer,
        ObjectKind::Bush,
        ObjectKind::Rock,
        ObjectKind::Boulder,
        ObjectKind::Grass,
    ];

    /// Whether it stands upright whatever the slope (trees grow towards the sky).
    pub fn upright(self) -> bool {
        matches!(self, ObjectKind::Tree | ObjectKind::Conifer)
    }

    /// How far objects with entities of their own (trees, conifers, boulders) are drawn in
    /// full detail when their layer does not say: beyond, each chunk draws them as one mesh of
    /// simplified shapes, so a forest 600 m deep is not thousands of entities.
    pub const DEFAULT_DETAIL_DISTANCE_M: f32 = 150.0;

    /// Whether a chunk's objects of a layer of this kind are drawn as one mesh (one entity)
    /// rather than one entity each: the small and numerous kinds (bushes, rocks, grass), whose
    /// entities would otherwise cost every frame in transform and visibility upkeep.
    pub fn drawn_per_chunk(self) -> bool {
        matches!(
            self,
            ObjectKind::Bush | ObjectKind::Rock | ObjectKind::Grass
        )
    }
}

/// A range of values.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinMax {
    /// Lowest.
    pub min: f32,
    /// Highest.
    pub max: f32,
}

/// Density scaled by a node of the world's noise graph, so objects gather in groves and
/// clearings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    /// Name of a node in the world file's terrain graph.
    pub node: String,
    /// At or below this value of the node, nothing is placed.
    pub low: f32,
    /// At or above this value, the full density applies (smooth in between).
    pub high: f32,
}

/// One layer of objects.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    /// Unique name; it also seeds the layer, so reordering layers moves nothing.
    pub name: String,
    /// What it places.
    pub kind: ObjectKind,
    /// Candidates per 100 m² by biome name; unlisted biomes get none.
    pub density: BTreeMap<String, f32>,
    /// No two objects of the layer stand closer than this (metres).
    pub min_spacing_m: f32,
    /// Steepest ground (rise over run).
    pub max_slope: f32,
    /// Ground height range (metres).
    pub height_m: MinMax,
    /// Optional clustering by a noise node.
    #[serde(default)]
    pub cluster: Option<Cluster>,
    /// Size factor range.
    pub scale: MinMax,
    /// Random turn about the vertical, up to this many degrees either way.
    pub yaw_jitter_deg: f32,
    /// How far the object leans with the ground: 0 upright, 1 along the ground's normal.
    #[serde(default)]
    pub tilt: f32,
    /// How deep the base is buried (metres).
    pub sink_m: f32,
    /// Drawn up to this distance (metres).
    pub view_distance_m: f32,
    /// Full detail, one entity per object, up to this distance (metres); farther, up to the
    /// view distance, a chunk draws the layer's objects as one mesh of simplified shapes.
    /// Absent: [`ObjectKind::DEFAULT_DETAIL_DISTANCE_M`]. Kinds drawn per chunk have no far
    /// level and ignore it.
    #[serde(default)]
    pub detail_distance_m: Option<f32>,
    /// Different meshes of the kind (1..=8).
    pub variants: u32,
}

impl Layer {
    /// Up to where objects are drawn in full detail: the view distance for kinds drawn per
    /// chunk, else the layer's (or its kind's default) detail distance, at most the view
    /// distance.
    pub fn detail_distance(&self) -> f32 {
        if self.kind.drawn_per_chunk() {
            return self.view_distance_m;
        }
        self.detail_distance_m
            .unwrap_or(ObjectKind::DEFAULT_DETAIL_DISTANCE_M)
            .min(self.view_distance_m)
    }

    /// The densest biome's candidates per 100 m².
    pub fn max_density(&self) -> f32 {
        self.density.values().copied().fold(0.0, f32::max)
    }

    /// Side of the layer's candidate cells in metres: one candidate per cell at the densest
    /// biome's density.
    pub fn cell_m(&self) -> f64 {
        let d = f64::from(self.max_density()).max(1e-3);
        (100.0 / d).sqrt()
    }
}

/// The scatter file that ships with the crate, used until (or unless) another one loads.
pub const DEFAULT_SCATTER_RON: &str = include_str!("../../assets/worlds/default.scatter.ron");

impl ScatterRules {
    /// Parses and checks a scatter file; `file` labels errors.
    pub fn parse(src: &str, file: &str) -> Result<Self, ConfigError> {
        let rules: ScatterRules = parse_ron(src, file)?;
        rules.validate(src, file)?;
        Ok(rules)
    }

    /// The built-in default.
    pub fn builtin() -> Self {
        Self::parse(DEFAULT_SCATTER_RON, "<built-in default.scatter.ron>")
            .expect("the built-in scatter file must be valid (tested in scatter::rules::tests)")
    }

    /// No layers: nothing is scattered.
    pub fn empty() -> Self {
        Self {
            seed: 0,
            layers: Vec::new(),
        }
    }

    /// The largest view distance of any layer (0 without layers).
    pub fn max_view_distance(&self) -> f32 {
        self.layers
            .iter()
            .map(|l| l.view_distance_m)
            .fold(0.0, f32::max)
    }

    /// Checks what serde cannot; `src` is the text the rules came from, used to find positions
    /// (empty for values built in code).
    pub fn validate(&self, src: &str, file: &str) -> Result<(), ConfigError> {
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
        if self.layers.len() > MAX_LAYERS {
            return fail(
                &["layers"],
                "layers".into(),
                format!("{} layers", self.layers.len()),
                &format!("at most {MAX_LAYERS}"),
            );
        }
        for (i, layer) in self.layers.iter().enumerate() {
            let quoted = format!("\"{}\"", layer.name);
            // Positions: the layer's name, then the field after it.
            let at = |field: &str| -> Vec<String> {
                vec!["layers".into(), "name".into(), quoted.clone(), field.into()]
            };
            let fail_at = |field: &str, value: String, expected: &str| {
                let path = at(field);
                let path: Vec<&str> = path.iter().map(String::as_str).collect();
                fail(&path, format!("layers[{i}].{field}"), value, expected)
            };
            if layer.name.is_empty() {
                return Err(ConfigError::at(
                    file,
                    locate(src, &["layers", "\"\""]),
                    ConfigErrorKind::Invalid(format!("layer {i} needs a name")),
                ));
            }
            if self.layers[..i].iter().any(|l| l.name == layer.name) {
                let path = ["layers", "name", &quoted, "name", &quoted];
                return Err(ConfigError::at(
                    file,
                    locate(src, &path),
                    ConfigErrorKind::Invalid(format!("two layers are called `{}`", layer.name)),
                ));
            }
            for (biome, d) in &layer.density {
                if !(d.is_finite() && (0.0..=MAX_DENSITY).contains(d)) {
                    let key = format!("\"{biome}\"");
                    let path = ["layers", "name", &quoted, "density", &key];
                    return fail(
                        &path,
                        format!("layers[{i}].density[{biome}]"),
                        d.to_string(),
                        "0..100 candidates per 100 m²",
                    );
                }
            }
            let s = layer.min_spacing_m;
            let most = MAX_SPACING_CELLS * layer.cell_m() as f32;
            if !(s.is_finite() && s >= 0.0 && s <= most.min(64.0)) {
                return fail_at(
                    "min_spacing_m",
                    s.to_string(),
                    &format!(
                        "0..{:.1} m (at most {MAX_SPACING_CELLS} candidate cells of sqrt(100 / densest) m, and 64 m)",
                        most.min(64.0)
                    ),
                );
            }
            if !(layer.max_slope.is_finite() && (0.0..=20.0).contains(&layer.max_slope)) {
                return fail_at("max_slope", layer.max_slope.to_string(), "0..20");
            }
            let h = layer.height_m;
            if !(h.min.is_finite() && h.max.is_finite() && h.min < h.max) {
                return fail_at(
                    "height_m",
                    format!("({}, {})", h.min, h.max),
                    "finite with min < max",
                );
            }
            if let Some(c) = &layer.cluster
                && !(c.low.is_finite() && c.high.is_finite() && c.low < c.high)
            {
                return fail_at(
                    "cluster",
                    format!("low {} high {}", c.low, c.high),
                    "finite with low < high",
                );
            }
            let sc = layer.scale;
            if !(sc.min.is_finite() && sc.max.is_finite() && 0.0 < sc.min && sc.min <= sc.max)
                || sc.max > 20.0
            {
                return fail_at(
                    "scale",
                    format!("({}, {})", sc.min, sc.max),
                    "0 < min <= max <= 20",
                );
            }
            if !(layer.yaw_jitter_deg.is_finite() && (0.0..=180.0).contains(&layer.yaw_jitter_deg))
            {
                return fail_at(
                    "yaw_jitter_deg",
                    layer.yaw_jitter_deg.to_string(),
                    "0..180 degrees",
                );
            }
            if !(layer.tilt.is_finite() && (0.0..=1.0).contains(&layer.tilt)) {
                return fail_at("tilt", layer.tilt.to_string(), "0..1");
            }
            if !(layer.sink_m.is_finite() && (0.0..=10.0).contains(&layer.sink_m)) {
                return fail_at("sink_m", layer.sink_m.to_string(), "0..10 m");
            }
            if !(layer.view_distance_m.is_finite()
                && (1.0..=5000.0).contains(&layer.view_distance_m))
            {
                return fail_at(
                    "view_distance_m",
                    layer.view_distance_m.to_string(),
                    "1..5000 m",
                );
            }
            if let Some(d) = layer.detail_distance_m
                && !(d.is_finite() && (0.0..=5000.0).contains(&d))
            {
                return fail_at("detail_distance_m", d.to_string(), "0..5000 m");
            }
            if !(1..=8).contains(&layer.variants) {
                return fail_at("variants", layer.variants.to_string(), "1..8");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_scatter_file_is_valid() {
        let rules = ScatterRules::builtin();
        assert!(rules.layers.len() >= 5);
        for kind in ObjectKind::ALL {
            assert!(
                rules.layers.iter().any(|l| l.kind == kind),
                "no {kind:?} layer"
            );
        }
    }

    #[test]
    fn errors_point_at_the_layer_field() {
        let src = DEFAULT_SCATTER_RON.replacen("variants: 3,", "variants: 9,", 1);
        let err = ScatterRules::parse(&src, "x.scatter.ron").unwrap_err();
        let line = src.lines().nth(err.line - 1).unwrap();
        assert!(line.contains("variants: 9"), "{err} at {line}");
        assert!(err.to_string().contains("layers[1].variants"), "{err}");
    }
}
