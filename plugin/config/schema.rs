//! The world file's schema: plain serde types with no Bevy in them.
//!
//! Every struct denies unknown fields, so a typo in a modder's RON file is an error with a line and
//! column rather than a silently ignored setting. `assets/worlds/default.world.ron` is the commented
//! reference for all of it.

use serde::{Deserialize, Serialize};

use super::node_map::NodeMap;

/// A whole world: seed, chunking, streaming, the terrain noise graph and the biome table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorldConfig {
    /// Master seed. Every generator derives its own seed from this one, so the same seed gives the
    /// same world on every machine.
    pub seed: u64,
    /// Height of the sea surface in metres: ground below it is under water (drawn by the water
    /// plugin), and nothing is scattered and no NPC stands there.
    #[serde(default)]
    pub sea_level_m: f32,
    /// Chunk grid: how many vertices a chunk has along each side and how many metres it spans.
    #[serde(default)]
    pub chunk: ChunkConfig,
    /// Streaming around observers: view radius, level of detail rings and per-frame budgets.
    #[serde(default)]
    pub streaming: StreamingConfig,
    /// The ground: a graph of named noise nodes and which node gives the height.
    pub terrain: TerrainConfig,
    /// Climate fields and the table that turns height, slope, temperature and moisture into biomes.
    pub biomes: BiomeConfig,
    /// Learned erosion of the ground; off when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erosion: Option<ErosionConfig>,
    /// Lakes in the ground's closed basins, filled to where they would spill over; none when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lakes: Option<LakeConfig>,
}

/// Where lakes form: every closed basin of the ground deep and wide enough holds one, its
/// surface at the height where it would spill over its rim.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LakeConfig {
    /// Side of the square cells basins are looked for in, metres. Each cell looks at itself and
    /// one cell around it, so a lake is at most about three cells across; larger basins are
    /// left dry.
    pub cell_m: f64,
    /// Metres between the height samples basins are found on (a whole number of vertices).
    /// Finer finds smaller basins and costs more; the shore itself always follows the ground's
    /// full detail.
    pub sample_m: f64,
    /// Basins shallower than this at their deepest stay dry, metres.
    pub min_depth_m: f32,
    /// Basins with less water surface than this stay dry, square metres.
    pub min_area_m2: f32,
}

impl Default for LakeConfig {
    fn default() -> Self {
        Self {
            cell_m: 256.0,
            sample_m: 8.0,
            min_depth_m: 3.0,
            min_area_m2: 10000.0,
        }
    }
}

/// Asset path of the erosion model shipped with the crate's assets, trained on the default
/// world (`assets/models/default.erosion`).
pub const DEFAULT_EROSION_MODEL: &str = "models/default.erosion";

/// The ground eroded by a learned model: `noise + strength * model(noise)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErosionConfig {
    /// Asset path of the `.erosion` model, such as `"models/default.erosion"`. A model that is
    /// missing or broken gives one warning and the plain noise terrain.
    pub model: String,
    /// 0 is the plain noise, 1 the erosion as trained; values between (or a little above) scale
    /// it.
    #[serde(default = "one")]
    pub strength: f32,
}

impl Default for ErosionConfig {
    /// The shipped model ([`DEFAULT_EROSION_MODEL`]) at strength 1.
    fn default() -> Self {
        Self {
            model: DEFAULT_EROSION_MODEL.into(),
            strength: 1.0,
        }
    }
}

/// Size and resolution of one terrain chunk at full detail.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChunkConfig {
    /// Vertices along one side at full detail. Must be 2^k + 1 (17, 33, 65, 129, 257) so coarser
    /// levels of detail take every 2nd, 4th, ... vertex and keep the chunk's corners.
    pub vertices: u32,
    /// Side length of a chunk in metres.
    pub size_m: f64,
}

impl Default for ChunkConfig {
    fn default() -> Self {
        Self {
            vertices: 65,
            size_m: 64.0,
        }
    }
}

/// How chunks stream in and out around each [`WorldObserver`](crate::terrain::WorldObserver).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamingConfig {
    /// Chunks whose nearest point is within this many metres of an observer are kept loaded.
    pub view_radius_m: f64,
    /// Extra distance a chunk may drift beyond the view radius (and beyond a level-of-detail ring)
    /// before it is dropped or coarsened, so a player moving back and forth over a boundary does
    /// not make chunks flicker in and out.
    pub hysteresis_m: f64,
    /// Level-of-detail rings, nearest first. A chunk uses the first ring whose `until_m` is at
    /// least its distance from the nearest observer; chunks beyond the last ring use the last one.
    pub lod_rings: Vec<LodRing>,
    /// Milliseconds of main-thread time per frame spent turning finished chunks into meshes and
    /// entities. At least one chunk is applied each frame so streaming always progresses. Frames
    /// slower than 60 fps get proportionally more (up to 16x; see
    /// [`catch_up_factor`](crate::terrain::catch_up_factor)).
    pub apply_budget_ms: f64,
    /// How many chunk generation tasks may run on the async compute pool at once at 60 fps;
    /// slower frames allow proportionally more (up to 16x).
    pub max_tasks_in_flight: u32,
    /// How much field of view (degrees, horizontal) counts as "in view" when ordering work: chunks
    /// in front of an observer are generated before chunks behind it.
    pub view_cone_deg: f64,
}

impl Default for StreamingConfig {
    fn default() -> Self {
        Self {
            view_radius_m: 1000.0,
            hysteresis_m: 64.0,
            lod_rings: vec![
                LodRing {
                    until_m: 192.0,
                    vertex_step: 1,
                },
                LodRing {
                    until_m: 384.0,
                    vertex_step: 2,
                },
                LodRing {
                    until_m: 704.0,
                    vertex_step: 4,
                },
                LodRing {
                    until_m: f64::INFINITY,
                    vertex_step: 8,
                },
            ],
            apply_budget_ms: 1.0,
            max_tasks_in_flight: 4,
            view_cone_deg: 100.0,
        }
    }
}

/// One level-of-detail ring.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LodRing {
    /// Outer edge of the ring in metres from the observer.
    pub until_m: f64,
    /// Take every n-th vertex of the full-detail grid: 1, 2, 4, 8, ... (a power of two no larger
    /// than `chunk.vertices - 1`).
    pub vertex_step: u32,
}

/// The ground: a graph of named noise nodes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerrainConfig {
    /// Name of the node whose value is the ground height in metres.
    pub height: String,
    /// Named nodes. A node refers to others by name; the graph must have no cycles.
    pub nodes: NodeMap,
}

/// A node of the terrain noise graph. Sources and fractals produce values near -1..1 (Worley
/// 0..1-ish); operations combine other nodes, named by string.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum NoiseNode {
    /// A constant value everywhere.
    Constant(f32),
    /// One octave of a noise source.
    Source {
        /// Which noise.
        source: SourceKind,
        /// Features per metre (0.01 = one feature every 100 m).
        frequency: f64,
        /// Added to the world seed, so two nodes with the same settings can differ.
        #[serde(default)]
        seed: u32,
    },
    /// Several octaves of a source summed at rising frequency and falling amplitude.
    Fractal {
        /// How octaves are combined.
        fractal: FractalKind,
        /// Which noise each octave samples.
        source: SourceKind,
        /// Number of octaves (1..=16).
        octaves: u32,
        /// Frequency of the first octave, features per metre.
        frequency: f64,
        /// Frequency multiplier from one octave to the next (2.0 doubles it).
        #[serde(default = "default_lacunarity")]
        lacunarity: f64,
        /// Amplitude multiplier from one octave to the next (0.5 halves it).
        #[serde(default = "default_gain")]
        gain: f64,
        /// Added to the world seed.
        #[serde(default)]
        seed: u32,
    },
    /// Sum of the named nodes.
    Add(Vec<String>),
    /// Product of the named nodes.
    Multiply(Vec<String>),
    /// Smallest of the named nodes at each point.
    Min(Vec<String>),
    /// Largest of the named nodes at each point.
    Max(Vec<String>),
    /// `input * scale + bias`.
    ScaleBias {
        /// Node to transform.
        input: String,
        /// Multiplier.
        #[serde(default = "one")]
        scale: f32,
        /// Added after scaling.
        #[serde(default)]
        bias: f32,
    },
    /// `input` limited to `min..=max`.
    Clamp {
        /// Node to clamp.
        input: String,
        /// Lower bound.
        min: f32,
        /// Upper bound.
        max: f32,
    },
    /// `|input|`.
    Abs(String),
    /// A remapping curve through control points `(in, out)`, sorted by `in`; smooth (cubic
    /// Hermite with monotone tangents) between them and flat outside them.
    Curve {
        /// Node to remap.
        input: String,
        /// At least two `(in, out)` points with strictly increasing `in`.
        points: Vec<(f32, f32)>,
    },
    /// Terraces: flat steps at the given levels with slopes between them. `sharpness` 0 is a plain
    /// linear ramp, 1 gives flat shelves and steep risers.
    Terrace {
        /// Node to terrace.
        input: String,
        /// At least two step levels, strictly increasing.
        steps: Vec<f32>,
        /// 0..=1.
        #[serde(default = "one")]
        sharpness: f32,
    },
    /// Samples `input` at positions pushed around by two other nodes: `(x + amplitude * x_offset,
    /// z + amplitude * z_offset)`. Bends rivers and ridges so they do not look grid-aligned.
    DomainWarp {
        /// Node sampled at the warped position.
        input: String,
        /// Node giving the x displacement (about -1..1).
        x_offset: String,
        /// Node giving the z displacement (about -1..1).
        z_offset: String,
        /// Displacement in metres for an offset of 1.
        amplitude: f64,
    },
    /// Mixes `a` and `b` by `control`: `a` where control <= `from`, `b` where control >= `to`,
    /// smoothly in between. With a narrow range this is a select.
    Blend {
        /// Value where control is low.
        a: String,
        /// Value where control is high.
        b: String,
        /// The controlling node.
        control: String,
        /// Control value at which the blend starts.
        from: f32,
        /// Control value at which the blend is complete (> `from`).
        to: f32,
    },
}

fn default_lacunarity() -> f64 {
    2.0
}
fn default_gain() -> f64 {
    0.5
}
fn one() -> f32 {
    1.0
}

/// A coherent noise function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SourceKind {
    /// Classic gradient noise on a square lattice.
    Perlin,
    /// Gradient noise on a simplex lattice: fewer axis-aligned artefacts than Perlin.
    OpenSimplex,
    /// Smoothly interpolated random values on a square lattice: blobby.
    Value,
    /// Distance to the nearest random feature point (cellular): cells, craters, crystals.
    Worley,
}

/// How a fractal combines its octaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FractalKind {
    /// Fractional Brownian motion: a plain weighted sum. Rolling hills.
    Fbm,
    /// `1 - |n|`, squared: sharp ridges. Mountain ranges.
    Ridged,
    /// `|n|`: rounded bumps with creases. Dunes, clouds.
    Billow,
}

/// Climate fields and the biome table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BiomeConfig {
    /// Node giving temperature at sea level, about 0 (polar) to 1 (tropical).
    pub temperature: String,
    /// Node giving moisture, about 0 (arid) to 1 (wet).
    pub moisture: String,
    /// Temperature lost per 1000 m of height, so mountain tops are cold.
    #[serde(default)]
    pub lapse_per_km: f32,
    /// Biomes (1 to 8). Each vertex gets a weight for every biome from how well its height, slope,
    /// temperature and moisture fit the biome's ranges; weights are normalised to sum to 1.
    pub table: Vec<BiomeEntry>,
}

/// One biome: where it lives and how it looks until textures take over.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BiomeEntry {
    /// Unique name, used by other files (textures, NPC placement) to refer to this biome.
    pub name: String,
    /// Height range in metres.
    #[serde(default = "Range::any")]
    pub height: Range,
    /// Slope range as rise over run (0 flat, 1 = 45 degrees).
    #[serde(default = "Range::any")]
    pub slope: Range,
    /// Temperature range (after the lapse rate).
    #[serde(default = "Range::any")]
    pub temperature: Range,
    /// Moisture range.
    #[serde(default = "Range::any")]
    pub moisture: Range,
    /// Linear RGB base colour, used by the terrain material until a texture is available.
    pub color: (f32, f32, f32),
}

/// An inclusive range with a soft edge: full membership inside `min..=max`, fading to zero over
/// `blend` outside it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    /// Lower bound.
    pub min: f32,
    /// Upper bound.
    pub max: f32,
    /// Width of the fade outside the range (0 for a hard edge).
    #[serde(default)]
    pub blend: f32,
}

impl Range {
    /// A range that accepts everything.
    pub fn any() -> Self {
        Self {
            min: f32::NEG_INFINITY,
            max: f32::INFINITY,
            blend: 0.0,
        }
    }
}
