//! Where objects stand: a pure function of (seed, rules, region, ground), no Bevy types.
//!
//! Each layer lays a grid of world-aligned candidate cells over the world, one candidate per
//! cell, its position and draws hashed from (seed, layer name, cell). A candidate is *alive*
//! where the ground allows it (height, slope, sea level) and a hashed roll is under the local
//! density (biome densities blended by the ground's biome weights, times the clustering node).
//! Minimum spacing is a hard core resolved by priority: an alive candidate is kept unless an
//! alive candidate of the same layer with a higher priority hash lies closer than the spacing
//! (Matérn's second hard-core process). Both tests look only at cells within the spacing, and
//! everything they read is a function of world position, so a region's result does not depend
//! on which region was placed first, and a candidate belongs to the one chunk that contains it:
//! nothing doubled, nothing missing, spacing kept across every border.

use std::collections::HashMap;

use super::rules::{MinMax, ObjectKind, ScatterRules};
use crate::config::MAX_BIOMES;
use crate::npc::rng::{Rng, hash_str, hash_words};
use crate::terrain::{BiomeTable, BiomeWeights};

/// The ground at one place, as scatter needs it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GroundPoint {
    /// Height of the full-detail terrain surface (metres).
    pub height: f32,
    /// Unit normal (y up).
    pub normal: [f32; 3],
    /// Rise over run.
    pub slope: f32,
    /// Biome weights, summing to 1.
    pub biome_weights: BiomeWeights,
    /// Height of the water surface over it (the sea, or a lake above it): nothing is placed
    /// where the ground is below it.
    pub water_level: f32,
}

/// Ground and clustering noise anywhere. Implementations must answer from world position alone
/// (the same point gives the same bits whoever asks), or placement would depend on load order.
pub trait Ground {
    /// The ground at world `(x, z)`.
    fn at(&self, x: f64, z: f64) -> GroundPoint;
    /// Value of clustering node `index` (of [`ScatterSet::cluster_nodes`]) at world `(x, z)`.
    fn cluster(&self, index: usize, x: f64, z: f64) -> f32;
}

/// Which layers to place: bit `i` is layer `i` in full detail, bit `32 + i` the same layer at
/// its far level (one simplified mesh per chunk). Placement treats both bits as the layer.
pub type LayerMask = u64;

/// Every layer.
pub const ALL_LAYERS: LayerMask = u64::MAX;

/// The full-detail bits of a [`LayerMask`] (the far level's are these shifted up by 32).
pub const FULL_DETAIL: LayerMask = 0xffff_ffff;

/// Bit of layer `layer` in full detail.
pub fn full_bit(layer: usize) -> LayerMask {
    1 << layer
}

/// Bit of layer `layer` at its far level.
pub fn far_bit(layer: usize) -> LayerMask {
    1 << (layer + 32)
}

/// The layers in `mask`, at whichever level, as full-detail bits.
pub fn layers_of(mask: LayerMask) -> LayerMask {
    (mask | mask >> 32) & FULL_DETAIL
}

/// A layer compiled for one world.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerPlan {
    /// Its name.
    pub name: String,
    /// What it places.
    pub kind: ObjectKind,
    seed: u64,
    cell: f64,
    max_density: f32,
    density: [f32; MAX_BIOMES],
    /// Minimum distance between two of its objects (metres).
    pub spacing: f32,
    max_slope: f32,
    height: MinMax,
    cluster: Option<(usize, f32, f32)>,
    scale: MinMax,
    yaw_jitter: f32,
    tilt: f32,
    /// Burial depth (metres).
    pub sink: f32,
    /// Drawn up to this distance (metres).
    pub view_distance: f32,
    /// Drawn in full detail up to this distance, at the far level beyond (metres; the view
    /// distance when the layer has no far level).
    pub detail_distance: f32,
    /// Meshes of the kind.
    pub variants: u32,
}

/// Scatter rules compiled for one world: biome names resolved to its table, clustering nodes
/// to a list its ground can evaluate.
#[derive(Clone, Debug, PartialEq)]
pub struct ScatterSet {
    /// The layers, in file order.
    pub layers: Vec<LayerPlan>,
    /// Names of the world graph's nodes used for clustering, indexed by [`Ground::cluster`].
    pub cluster_nodes: Vec<String>,
    sea_level: f32,
}

impl ScatterSet {
    /// Compiles `rules` for a world with `world_seed`, `biomes`, its sea at `sea_level` (nothing
    /// is placed below it) and noise nodes for which `has_node` holds. Also returns warnings: biome names the world does not have (their
    /// density is ignored) and clustering nodes it lacks (that layer is placed unclustered).
    pub fn compile(
        world_seed: u64,
        rules: &ScatterRules,
        biomes: &BiomeTable,
        sea_level: f32,
        has_node: impl Fn(&str) -> bool,
    ) -> (Self, Vec<String>) {
        let mut warnings = Vec::new();
        let mut cluster_nodes: Vec<String> = Vec::new();
        let seed = hash_words(&[world_seed, rules.seed, 0x5ca7_7e12]);
        let layers = rules
            .layers
            .iter()
            .map(|l| {
                let mut density = [0.0; MAX_BIOMES];
                for (name, d) in &l.density {
                    match biomes.id(name) {
                        Some(id) if id < MAX_BIOMES => density[id] = *d,
                        _ => warnings.push(format!(
                            "scatter layer `{}`: the world has no biome `{name}`",
                            l.name
                        )),
                    }
                }
                let cluster = l.cluster.as_ref().and_then(|c| {
                    if !has_node(&c.node) {
                        warnings.push(format!(
                            "scatter layer `{}`: the world has no noise node `{}`; placed without clustering",
                            l.name, c.node
                        ));
                        return None;
                    }
                    let index = match cluster_nodes.iter().position(|n| *n == c.node) {
                        Some(i) => i,
                        None => {
                            cluster_nodes.push(c.node.clone());
                            cluster_nodes.len() - 1
                        }
                    };
                    Some((index, c.low, c.high))
                });
                LayerPlan {
                    name: l.name.clone(),
                    kind: l.kind,
                    seed: hash_words(&[seed, hash_str(&l.name)]),
                    cell: l.cell_m(),
                    max_density: l.max_density(),
                    density,
                    spacing: l.min_spacing_m,
                    max_slope: l.max_slope,
                    height: l.height_m,
                    cluster,
                    scale: l.scale,
                    yaw_jitter: l.yaw_jitter_deg.to_radians(),
                    tilt: l.tilt,
                    sink: l.sink_m,
                    view_distance: l.view_distance_m,
                    detail_distance: l.detail_distance(),
                    variants: l.variants.max(1),
                }
            })
            .collect();
        (
            Self {
                layers,
                cluster_nodes,
                sea_level,
            },
            warnings,
        )
    }

    /// The largest minimum spacing of the layers in `mask` (how far outside a region the ground
    /// is read).
    pub fn margin(&self, mask: LayerMask) -> f64 {
        self.layers
            .iter()
            .enumerate()
            .filter(|(i, _)| in_mask(mask, *i))
            .map(|(_, l)| f64::from(l.spacing))
            .fold(0.0, f64::max)
    }

    /// Layers whose view distance reaches `distance` metres: in full detail up to their detail
    /// distance, at their far level beyond.
    pub fn layers_within(&self, distance: f32) -> LayerMask {
        self.layers
            .iter()
            .enumerate()
            .filter(|(_, l)| l.view_distance >= distance)
            .fold(0, |m, (i, l)| {
                if distance <= l.detail_distance {
                    m | full_bit(i)
                } else {
                    m | far_bit(i)
                }
            })
    }
}

fn in_mask(mask: LayerMask, layer: usize) -> bool {
    layer < 32 && layers_of(mask) & full_bit(layer) != 0
}

/// One placed object.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Placement {
    /// Stable id (the candidate's priority hash).
    pub id: u64,
    /// Index of its layer in the rules.
    pub layer: u16,
    /// What it is.
    pub kind: ObjectKind,
    /// Which mesh of the kind (below the layer's `variants`).
    pub variant: u8,
    /// World position of its base: on the ground, minus the layer's sink depth.
    pub position: [f32; 3],
    /// Unit up direction: the vertical leant towards the ground normal by the layer's tilt.
    pub up: [f32; 3],
    /// Turn about `up`, radians.
    pub yaw: f32,
    /// Size factor.
    pub scale: f32,
}

/// A candidate of one cell, before any ground test.
struct Candidate {
    x: f64,
    z: f64,
    roll: f32,
    priority: u64,
    rng: Rng,
}

fn candidate(layer: &LayerPlan, cx: i64, cz: i64) -> Candidate {
    let mut rng = Rng::new(&[layer.seed, cx as u64, cz as u64]);
    let x = (cx as f64 + rng.unit()) * layer.cell;
    let z = (cz as f64 + rng.unit()) * layer.cell;
    let roll = rng.unit() as f32;
    let priority = rng.next_u64();
    Candidate {
        x,
        z,
        roll,
        priority,
        rng,
    }
}

fn smoothstep(low: f32, high: f32, v: f32) -> f32 {
    let t = ((v - low) / (high - low)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// The ground under `c` if the candidate is alive (allowed there and under the local density).
fn alive(
    set: &ScatterSet,
    layer: &LayerPlan,
    c: &Candidate,
    ground: &impl Ground,
) -> Option<GroundPoint> {
    let g = ground.at(c.x, c.z);
    let h = g.height;
    if !(h.is_finite()
        && h >= set.sea_level
        && h >= g.water_level
        && h >= layer.height.min
        && h <= layer.height.max
        && g.slope <= layer.max_slope)
    {
        return None;
    }
    let mut density: f32 = g
        .biome_weights
        .iter()
        .zip(&layer.density)
        .map(|(w, d)| w * d)
        .sum();
    if let Some((index, low, high)) = layer.cluster {
        density *= smoothstep(low, high, ground.cluster(index, c.x, c.z));
    }
    (c.roll * layer.max_density < density).then_some(g)
}

/// Everything of the layers in `mask` whose position lies in the half-open rectangle
/// `[min, max)` (world x and z), in layer order, then by candidate cell. Regions that tile the
/// plane give, together, exactly what one region covering them all gives.
pub fn place_region(
    set: &ScatterSet,
    ground: &impl Ground,
    mask: LayerMask,
    min: [f64; 2],
    max: [f64; 2],
) -> Vec<Placement> {
    let mut out = Vec::new();
    for (index, layer) in set.layers.iter().enumerate() {
        if !in_mask(mask, index) || layer.max_density <= 0.0 {
            continue;
        }
        place_layer(set, index, layer, ground, min, max, &mut out);
    }
    out
}

fn place_layer(
    set: &ScatterSet,
    index: usize,
    layer: &LayerPlan,
    ground: &impl Ground,
    min: [f64; 2],
    max: [f64; 2],
    out: &mut Vec<Placement>,
) {
    let cell = layer.cell;
    let ring = (f64::from(layer.spacing) / cell).ceil() as i64;
    let spacing2 = f64::from(layer.spacing).powi(2);
    let (cx0, cz0) = (
        (min[0] / cell).floor() as i64,
        (min[1] / cell).floor() as i64,
    );
    let (cx1, cz1) = (
        (max[0] / cell).floor() as i64,
        (max[1] / cell).floor() as i64,
    );
    // Alive or not, for neighbours looked at more than once.
    let mut memo: HashMap<(i64, i64), bool> = HashMap::new();
    for cz in cz0..=cz1 {
        for cx in cx0..=cx1 {
            let c = candidate(layer, cx, cz);
            if !(min[0] <= c.x && c.x < max[0] && min[1] <= c.z && c.z < max[1]) {
                continue;
            }
            let Some(g) = alive(set, layer, &c, ground) else {
                continue;
            };
            memo.insert((cx, cz), true);
            let mut beaten = false;
            'cells: for nz in cz - ring..=cz + ring {
                for nx in cx - ring..=cx + ring {
                    if (nx, nz) == (cx, cz) {
                        continue;
                    }
                    let n = candidate(layer, nx, nz);
                    let d2 = (n.x - c.x).powi(2) + (n.z - c.z).powi(2);
                    if d2 >= spacing2 || (n.priority, nx, nz) < (c.priority, cx, cz) {
                        continue;
                    }
                    let n_alive = *memo
                        .entry((nx, nz))
                        .or_insert_with(|| alive(set, layer, &n, ground).is_some());
                    if n_alive {
                        beaten = true;
                        break 'cells;
                    }
                }
            }
            if !beaten {
                out.push(finish(index, layer, c, &g));
            }
        }
    }
}

/// The kept candidate `c` as a placement, with its remaining draws.
fn finish(index: usize, layer: &LayerPlan, mut c: Candidate, g: &GroundPoint) -> Placement {
    let variant = c.rng.below(layer.variants as usize) as u8;
    let yaw = (c.rng.unit() as f32 * 2.0 - 1.0) * layer.yaw_jitter;
    let t = c.rng.unit() as f32;
    let scale = layer.scale.min + (layer.scale.max - layer.scale.min) * t;
    let tilt = if layer.kind.upright() {
        0.0
    } else {
        layer.tilt
    };
    let [nx, ny, nz] = g.normal;
    let up = [nx * tilt, 1.0 - tilt + ny * tilt, nz * tilt];
    let len = (up[0] * up[0] + up[1] * up[1] + up[2] * up[2])
        .sqrt()
        .max(1e-6);
    Placement {
        id: c.priority,
        layer: index as u16,
        kind: layer.kind,
        variant,
        position: [c.x as f32, g.height - layer.sink, c.z as f32],
        up: [up[0] / len, up[1] / len, up[2] / len],
        yaw,
        scale,
    }
}

/// Placements of the layers in `mask` within `radius` metres (horizontally) of world `(x, z)`,
/// nearest first: "what stands near here", loaded or not.
pub fn objects_near(
    set: &ScatterSet,
    ground: &impl Ground,
    mask: LayerMask,
    x: f64,
    z: f64,
    radius: f64,
) -> Vec<Placement> {
    let r = radius.max(0.0);
    let mut found: Vec<(f64, Placement)> =
        place_region(set, ground, mask, [x - r, z - r], [x + r, z + r])
            .into_iter()
            .map(|p| {
                let d = (f64::from(p.position[0]) - x).hypot(f64::from(p.position[2]) - z);
                (d, p)
            })
            .filter(|(d, _)| *d <= r)
            .collect();
    found.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.id.cmp(&b.1.id)));
    found.into_iter().map(|(_, p)| p).collect()
}

/// A stable fingerprint of placements, for golden tests.
pub fn fingerprint(placements: &[Placement]) -> u64 {
    let words: Vec<u64> = placements
        .iter()
        .flat_map(|p| {
            [
                p.id,
                u64::from(p.layer),
                u64::from(p.variant),
                u64::from(p.position[0].to_bits()),
                u64::from(p.position[1].to_bits()),
                u64::from(p.position[2].to_bits()),
                u64::from(p.yaw.to_bits()),
                u64::from(p.scale.to_bits()),
            ]
        })
        .collect();
    hash_words(&words)
}
