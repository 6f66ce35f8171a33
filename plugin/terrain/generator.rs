//! The pure terrain generator: a function of (world config, chunk coordinate, level of detail).
//!
//! No Bevy types, no global state, no threads: the same inputs give bit-identical output on any
//! thread in any order, which is what lets chunks be generated in parallel, cancelled, regenerated
//! and still meet their neighbours exactly.

use std::sync::Arc;

use super::biome::{BiomeTable, BiomeWeights, dominant};
use super::graph::{GraphError, NodeId, NoiseGraph, Plan};
use super::ground_cache::ErodedBlocks;
use super::mesh::{ChunkMeshData, Heightfield, build_chunk_mesh};
use super::noise::{Coords, Grid};
use crate::config::WorldConfig;
use crate::erosion::ErosionNet;
use crate::erosion::flow::{FLOW_REACH, flow};
use crate::water::lakes::{Lake, Lakes, surface_over};

/// Integer coordinate of a chunk on the world's chunk grid. Chunk `(x, z)` covers world
/// `x * size .. (x + 1) * size` along x, likewise along z.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChunkCoord {
    /// Column along world x.
    pub x: i32,
    /// Row along world z.
    pub z: i32,
}

impl ChunkCoord {
    /// The chunk at `(x, z)`.
    pub const fn new(x: i32, z: i32) -> Self {
        Self { x, z }
    }
}

/// What the ground is like at one place.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GroundSample {
    /// Height in metres.
    pub height: f32,
    /// Unit surface normal (y up).
    pub normal: [f32; 3],
    /// Rise over run (0 flat, 1 = 45 degrees).
    pub slope: f32,
    /// Temperature after the lapse rate, about 0..1.
    pub temperature: f32,
    /// Moisture, about 0..1.
    pub moisture: f32,
    /// Weight of each biome, summing to 1.
    pub biome_weights: BiomeWeights,
    /// The biome with the largest weight.
    pub biome: usize,
}

/// A compiled world: everything needed to generate any chunk or answer any ground query.
#[derive(Clone, Debug)]
pub struct TerrainGenerator {
    graph: NoiseGraph,
    height_plan: Plan,
    climate_plan: Plan,
    biomes: BiomeTable,
    /// Vertices per chunk side at full detail.
    vertices: u32,
    /// Metres between full-detail vertices.
    spacing: f64,
    size_m: f64,
    /// Coarsest vertex step of any level-of-detail ring (skirts must cover down to it).
    max_step: u32,
    /// Height of the sea surface (the world file's `sea_level_m`).
    sea_level: f32,
    /// The learned erosion model and its strength, when the ground is eroded.
    erosion: Option<(Arc<ErosionNet>, f32)>,
    /// Eroded ground in chunk-sized blocks, each made once, shared by clones.
    eroded_blocks: Arc<ErodedBlocks>,
    /// The world's lakes, when it has any (found on the noise heights, shared by clones).
    lakes: Option<Arc<Lakes>>,
}

impl TerrainGenerator {
    /// Compiles `config`. The config should have passed
    /// [`validate_world`](crate::config::validate_world); graph errors are still returned rather
    /// than trusted away.
    pub fn new(config: &WorldConfig) -> Result<Self, GraphError> {
        let graph = NoiseGraph::compile(&config.terrain, config.seed)?;
        let node = |name: &str| -> Result<NodeId, GraphError> {
            graph.node(name).ok_or_else(|| GraphError::UnknownNode {
                node: "world".into(),
                reference: name.to_owned(),
            })
        };
        let height = node(&config.terrain.height)?;
        let temperature = node(&config.biomes.temperature)?;
        let moisture = node(&config.biomes.moisture)?;
        let vertices = config.chunk.vertices.max(3);
        let spacing = config.chunk.size_m / f64::from(vertices - 1);
        let max_step = config
            .streaming
            .lod_rings
            .iter()
            .map(|r| r.vertex_step)
            .max()
            .unwrap_or(1)
            .clamp(1, vertices - 1);
        Ok(Self {
            height_plan: graph.plan(&[height]),
            climate_plan: graph.plan(&[temperature, moisture]),
            graph,
            biomes: BiomeTable::new(&config.biomes).with_sea_level(config.sea_level_m),
            vertices,
            spacing,
            size_m: config.chunk.size_m,
            max_step,
            sea_level: config.sea_level_m,
            erosion: None,
            eroded_blocks: Arc::default(),
            lakes: config
                .lakes
                .as_ref()
                .map(|l| Arc::new(Lakes::new(l, spacing, config.sea_level_m))),
        })
    }

    /// This world with its ground eroded by `net` at `strength` (0 = plain noise, 1 = as
    /// trained): every height, mesh and ground query sees `noise + strength * net(noise)`.
    pub fn with_erosion(mut self, net: Arc<ErosionNet>, strength: f32) -> Self {
        self.erosion = (strength != 0.0 && strength.is_finite()).then_some((net, strength));
        self.eroded_blocks = Arc::default();
        self
    }

    /// The erosion model and strength, if the ground is eroded.
    pub fn erosion(&self) -> Option<(&Arc<ErosionNet>, f32)> {
        self.erosion.as_ref().map(|(n, s)| (n, *s))
    }

    /// Full-detail ground heights (eroded when erosion is on) of the `nx` x `nz` window of the
    /// world grid starting at grid index `(ix0, iz0)`, row-major. A height depends only on its
    /// grid index, never on the window, to the bit.
    pub fn ground_window(&self, ix0: i64, iz0: i64, nx: usize, nz: usize) -> Vec<f32> {
        self.ground_and_change(ix0, iz0, nx, nz).0
    }

    /// [`ground_window`](Self::ground_window) and the height change erosion made at each
    /// sample (zeros without erosion).
    fn ground_and_change(&self, ix0: i64, iz0: i64, nx: usize, nz: usize) -> (Vec<f32>, Vec<f32>) {
        let Some((net, strength)) = &self.erosion else {
            return (self.noise_window(ix0, iz0, nx, nz), vec![0.0; nx * nz]);
        };
        let (residual, noise) = net.residual_at(
            |x, z, nx, nz| self.noise_window(x, z, nx, nz),
            (ix0, iz0),
            (nx, nz),
            self.spacing as f32,
        );
        let change: Vec<f32> = residual.iter().map(|r| strength * r).collect();
        let out = noise.iter().zip(&change).map(|(n, c)| n + c).collect();
        (out, change)
    }

    /// Ground heights at any points: bilinear between full-detail grid heights when eroded
    /// (exactly a grid height on a grid point), the noise itself otherwise. Eroded heights come
    /// from the chunk-sized blocks eroded chunks are made of where those exist (near loaded
    /// chunks), else from the four samples around the point alone.
    fn heights_at(&self, xs: &[f64], zs: &[f64]) -> Vec<f32> {
        if self.erosion.is_none() {
            return self.run_one(&self.height_plan, &Coords::Points { x: xs, z: zs });
        }
        let cell = |v: f64| {
            let g = v / self.spacing;
            let r = g.round();
            // On a grid line (to rounding): that line, weight 0 for the next.
            if (g - r).abs() < 1e-9 {
                (r as i64, 0.0f32)
            } else {
                (g.floor() as i64, (g - g.floor()) as f32)
            }
        };
        xs.iter()
            .zip(zs)
            .map(|(&x, &z)| {
                let ((i, u), (j, v)) = (cell(x), cell(z));
                // From the blocks when chunks there made them; else only these four samples:
                // a query (a camera on the frame thread, say) never makes whole blocks.
                let h = self
                    .eroded_blocks
                    .cached_ground(self, (i, j), (2, 2))
                    .unwrap_or_else(|| self.ground_window(i, j, 2, 2));
                h[0] * ((1.0 - u) * (1.0 - v))
                    + h[1] * (u * (1.0 - v))
                    + h[2] * ((1.0 - u) * v)
                    + h[3] * (u * v)
            })
            .collect()
    }

    /// Height of the sea surface in metres (the world file's `sea_level_m`).
    pub fn sea_level(&self) -> f32 {
        self.sea_level
    }

    /// Every lake that may cover a full-detail vertex of `ix0..=ix1` x `iz0..=iz1` (vertex
    /// indices, as [`full_grid`](Self::full_grid) counts them); none when the world has no
    /// lakes. Lakes are found on the noise heights, before any erosion.
    pub fn lakes_near(&self, ix0: i64, iz0: i64, ix1: i64, iz1: i64) -> Vec<Arc<Lake>> {
        self.lakes.as_ref().map_or_else(Vec::new, |lakes| {
            lakes.near((ix0, iz0, ix1, iz1), |g| self.heights_on(g))
        })
    }

    /// Height of the water surface over world `(x, z)`: the sea, or a lake above it there. Ground
    /// below it is under water.
    pub fn water_level_at(&self, x: f64, z: f64) -> f32 {
        let (ix, iz) = (
            (x / self.spacing).floor() as i64,
            (z / self.spacing).floor() as i64,
        );
        surface_over(&self.lakes_near(ix, iz, ix, iz), self.sea_level, ix, iz)
    }

    /// Side length of a chunk in metres.
    pub fn chunk_size(&self) -> f64 {
        self.size_m
    }

    /// Vertices per chunk side at full detail.
    pub fn chunk_vertices(&self) -> u32 {
        self.vertices
    }

    /// Metres between full-detail vertices.
    pub fn spacing(&self) -> f64 {
        self.spacing
    }

    /// The biome table.
    pub fn biomes(&self) -> &BiomeTable {
        &self.biomes
    }

    /// World position of the chunk's corner with the smallest x and z.
    pub fn chunk_origin(&self, coord: ChunkCoord) -> (f64, f64) {
        let n = i64::from(self.vertices - 1);
        (
            (i64::from(coord.x) * n) as f64 * self.spacing,
            (i64::from(coord.z) * n) as f64 * self.spacing,
        )
    }

    /// The chunk containing world position `(x, z)`.
    pub fn chunk_at(&self, x: f64, z: f64) -> ChunkCoord {
        ChunkCoord {
            x: (x / self.size_m).floor() as i64 as i32,
            z: (z / self.size_m).floor() as i64 as i32,
        }
    }

    /// Heights of a chunk at `vertex_step` with a one-sample border on every side, so normals at
    /// the chunk's edge see the neighbour's samples.
    pub fn heightfield(&self, coord: ChunkCoord, vertex_step: u32) -> Heightfield {
        let step = i64::from(vertex_step.clamp(1, self.vertices - 1));
        let n0 = i64::from(self.vertices - 1);
        let side = (n0 / step) as usize + 1;
        let grid = Grid {
            ix0: i64::from(coord.x) * n0 - step,
            iz0: i64::from(coord.z) * n0 - step,
            stride: step,
            spacing: self.spacing,
            nx: side + 2,
            nz: side + 2,
        };
        let heights = if self.erosion.is_some() {
            // Full detail around the chunk, then every step-th sample: a vertex has the same
            // height at every level of detail.
            let (full, n) = self.full_detail(coord, step as usize);
            let s = step as usize;
            (0..side + 2)
                .flat_map(|j| (0..side + 2).map(move |i| (i, j)))
                .map(|(i, j)| full[j * s * n + i * s])
                .collect()
        } else {
            self.run_one(&self.height_plan, &Coords::Grid(grid))
        };
        Heightfield {
            side,
            heights,
            step_m: step as f64 * self.spacing,
        }
    }

    /// Full-detail noise heights (before any erosion) of the `nx` x `nz` window of the world
    /// grid starting at grid index `(ix0, iz0)`, row-major.
    pub fn noise_window(&self, ix0: i64, iz0: i64, nx: usize, nz: usize) -> Vec<f32> {
        let grid = Grid {
            ix0,
            iz0,
            stride: 1,
            spacing: self.spacing,
            nx,
            nz,
        };
        self.run_one(&self.height_plan, &Coords::Grid(grid))
    }

    /// Full-detail ground of a chunk with `step` more samples on every side, and its side.
    fn full_detail(&self, coord: ChunkCoord, step: usize) -> (Vec<f32>, usize) {
        let (ground, _, n) = self.full_detail_and_change(coord, step);
        (ground, n)
    }

    /// [`full_detail`](Self::full_detail) with erosion's height change at each sample.
    pub(super) fn full_detail_and_change(
        &self,
        coord: ChunkCoord,
        step: usize,
    ) -> (Vec<f32>, Vec<f32>, usize) {
        if self.erosion.is_some() {
            // Out of blocks made once: neighbouring chunks and each level of detail of a chunk
            // share the network's runs.
            let (at, n) = self.window_of(coord, step);
            let (ground, change) = self.eroded_blocks.window(self, at, (n, n));
            return (ground, change, n);
        }
        self.window_around(coord, step)
    }

    /// Grid index of the first sample and side of the window of the chunk at `coord` with
    /// `border` samples around it.
    fn window_of(&self, coord: ChunkCoord, border: usize) -> ((i64, i64), usize) {
        let n0 = i64::from(self.vertices - 1);
        let at = (
            i64::from(coord.x) * n0 - border as i64,
            i64::from(coord.z) * n0 - border as i64,
        );
        (at, n0 as usize + 1 + 2 * border)
    }

    /// Ground and erosion's change of the chunk at `coord` with `border` samples around it, and
    /// the side.
    pub(super) fn window_around(
        &self,
        coord: ChunkCoord,
        border: usize,
    ) -> (Vec<f32>, Vec<f32>, usize) {
        let ((ix0, iz0), n) = self.window_of(coord, border);
        let (ground, change) = self.ground_and_change(ix0, iz0, n, n);
        (ground, change, n)
    }

    /// Noise blocks and change blocks kept for eroded windows.
    #[cfg(test)]
    pub(super) fn cached_blocks(&self) -> (usize, usize) {
        self.eroded_blocks.len()
    }

    /// Full-detail heights along the chunk's four edges, in the order north (min z), south
    /// (max z), west (min x), east (max x); each runs along increasing x or z.
    fn edge_profiles(&self, coord: ChunkCoord) -> [Vec<f32>; 4] {
        let n0 = i64::from(self.vertices - 1);
        if self.erosion.is_some() {
            let (full, n) = self.full_detail(coord, 1);
            return edges_of(&full, n, 1, n0 as usize);
        }
        let (x0, z0) = (i64::from(coord.x) * n0, i64::from(coord.z) * n0);
        let line = |ix0, iz0, nx, nz| {
            let grid = Grid {
                ix0,
                iz0,
                stride: 1,
                spacing: self.spacing,
                nx,
                nz,
            };
            if self.erosion.is_some() {
                self.ground_window(ix0, iz0, nx, nz)
            } else {
                self.run_one(&self.height_plan, &Coords::Grid(grid))
            }
        };
        let n = self.vertices as usize;
        [
            line(x0, z0, n, 1),
            line(x0, z0 + n0, n, 1),
            line(x0, z0, 1, n),
            line(x0 + n0, z0, 1, n),
        ]
    }

    /// A chunk's mesh at `vertex_step` (1 = full detail): positions relative to
    /// [`chunk_origin`](Self::chunk_origin), normals, UVs, biome weights and skirts deep enough
    /// to hide the gap to a neighbour at any level of detail up to the coarsest ring.
    pub fn generate_chunk(&self, coord: ChunkCoord, vertex_step: u32) -> ChunkMeshData {
        let n0 = i64::from(self.vertices - 1);
        let (field, edges, wetness) = if self.erosion.is_some() {
            // One full-detail window (one run of the network) gives all three; its border
            // covers both the level of detail's and the flow's reach.
            let s = vertex_step.clamp(1, self.vertices - 1) as usize;
            let border = s.max(FLOW_REACH);
            let (full, _, n) = self.full_detail_and_change(coord, border);
            let side = n0 as usize / s + 1;
            // Window index of the chunk's sample (i, j) at this step, counting from the one
            // before its first (the heightfield's own one-sample border).
            let o = border - s;
            let heights = (0..side + 2)
                .flat_map(|j| (0..side + 2).map(move |i| (i, j)))
                .map(|(i, j)| full[(o + j * s) * n + o + i * s])
                .collect();
            let water = flow(&full, n, n);
            let wide = n - 2 * FLOW_REACH;
            let wet = (1..side + 1)
                .flat_map(|j| (1..side + 1).map(move |i| (i, j)))
                .map(|(i, j)| {
                    let (x, z) = (o + i * s - FLOW_REACH, o + j * s - FLOW_REACH);
                    wetness(water[z * wide + x])
                })
                .collect();
            let field = Heightfield {
                side,
                heights,
                step_m: s as f64 * self.spacing,
            };
            (field, edges_of(&full, n, border, n0 as usize), wet)
        } else {
            (
                self.heightfield(coord, vertex_step),
                self.edge_profiles(coord),
                Vec::new(),
            )
        };
        let step = (field.step_m / self.spacing).round() as i64;
        let side = field.side;
        let inner = Grid {
            ix0: i64::from(coord.x) * n0,
            iz0: i64::from(coord.z) * n0,
            stride: step,
            spacing: self.spacing,
            nx: side,
            nz: side,
        };
        let mut climate = self.graph.run(&self.climate_plan, &Coords::Grid(inner));
        let moisture = climate.pop().unwrap_or_default();
        let temperature = climate.pop().unwrap_or_default();
        let skirts = edges.map(|edge| skirt_depth(&edge, self.max_step));
        build_chunk_mesh(
            coord,
            vertex_step,
            &field,
            &temperature,
            &moisture,
            &self.biomes,
            skirts,
            &wetness,
        )
    }

    /// Height of the ground at world `(x, z)`, equal to the bits of a mesh vertex there.
    pub fn height_at(&self, x: f64, z: f64) -> f32 {
        self.heights_at(&[x], &[z]).first().copied().unwrap_or(0.0)
    }

    /// Height, normal, climate and biome at world `(x, z)`, whether or not a chunk is loaded
    /// there. Normals and slope use central differences one full-detail vertex apart, as the
    /// full-detail mesh does.
    pub fn sample(&self, x: f64, z: f64) -> GroundSample {
        let d = self.spacing;
        let xs = [x, x - d, x + d, x, x];
        let zs = [z, z, z, z - d, z + d];
        let h = self.heights_at(&xs, &zs);
        let climate = self
            .graph
            .run(&self.climate_plan, &Coords::Points { x: &[x], z: &[z] });
        let first = |k: usize| {
            climate
                .get(k)
                .and_then(|v| v.first())
                .copied()
                .unwrap_or(0.0)
        };
        let (dx, dz) = (
            (h[2] - h[1]) / (2.0 * d as f32),
            (h[4] - h[3]) / (2.0 * d as f32),
        );
        let (normal, slope) = normal_and_slope(dx, dz);
        let temperature = self.biomes.temperature_at(first(0), h[0]);
        let moisture = first(1);
        let biome_weights = self.biomes.weights(h[0], slope, temperature, moisture);
        GroundSample {
            height: h[0],
            normal,
            slope,
            temperature,
            moisture,
            biome: dominant(&biome_weights),
            biome_weights,
        }
    }

    /// The full-detail grid of `nx * nz` vertices from full-detail vertex index `(ix0, iz0)`
    /// (world position = index * [`spacing`](Self::spacing)), row-major with x fastest.
    pub fn full_grid(&self, ix0: i64, iz0: i64, nx: usize, nz: usize) -> Grid {
        Grid {
            ix0,
            iz0,
            stride: 1,
            spacing: self.spacing,
            nx,
            nz,
        }
    }

    /// Heights over `grid`: the same bits as chunk mesh vertices at the same indices.
    pub fn heights_on(&self, grid: Grid) -> Vec<f32> {
        self.run_one(&self.height_plan, &Coords::Grid(grid))
    }

    /// Sea-level temperature and moisture over `grid`, as the chunk meshes use them.
    pub fn climate_on(&self, grid: Grid) -> (Vec<f32>, Vec<f32>) {
        let mut climate = self.graph.run(&self.climate_plan, &Coords::Grid(grid));
        let moisture = climate.pop().unwrap_or_default();
        let temperature = climate.pop().unwrap_or_default();
        (temperature, moisture)
    }

    /// The compiled noise graph, for other nodes of the world file (scatter clustering).
    pub fn graph(&self) -> &NoiseGraph {
        &self.graph
    }

    fn run_one(&self, plan: &Plan, coords: &Coords) -> Vec<f32> {
        self.graph
            .run(plan, coords)
            .into_iter()
            .next()
            .unwrap_or_else(|| vec![0.0; coords.len()])
    }
}

/// Flow ([`flow`]) at which a vertex starts to read as wet: more than a plain slope passes down
/// one line of cells (at most 1 + 0.95 + ... + 0.95^16, about 11.6), so only gathered water
/// counts.
const DAMP_FLOW: f32 = 15.0;

/// Flow at which a vertex is a full channel.
const CHANNEL_FLOW: f32 = 60.0;

/// How much a vertex reads as a water channel (0 dry to 1 riverbed), from the flow of water
/// through it on the eroded ground ([`flow`]: steepest-descent paths of bounded length, the same
/// bits in every chunk, so neighbours agree on shared vertices). Ridges and open slopes carry
/// only their own water and are dry; gullies and valley floors gather it.
pub fn wetness(water: f32) -> f32 {
    let (low, high) = (DAMP_FLOW.sqrt(), CHANNEL_FLOW.sqrt());
    ((water.max(0.0).sqrt() - low) / (high - low)).clamp(0.0, 1.0)
}

/// The four full-detail edges (as [`TerrainGenerator::edge_profiles`] orders them) of a chunk of
/// `n0 + 1` samples inside an `n` x `n` window with `border` samples around it.
fn edges_of(full: &[f32], n: usize, border: usize, n0: usize) -> [Vec<f32>; 4] {
    let (first, last, e) = (border, border + n0, n0 + 1);
    [
        full[first * n + first..first * n + first + e].to_vec(),
        full[last * n + first..last * n + first + e].to_vec(),
        (first..first + e).map(|j| full[j * n + first]).collect(),
        (first..first + e).map(|j| full[j * n + last]).collect(),
    ]
}

/// Unit normal and slope from the height gradient.
#[inline]
pub(crate) fn normal_and_slope(dhdx: f32, dhdz: f32) -> ([f32; 3], f32) {
    let len = (dhdx * dhdx + 1.0 + dhdz * dhdz).sqrt();
    (
        [-dhdx / len, 1.0 / len, -dhdz / len],
        (dhdx * dhdx + dhdz * dhdz).sqrt(),
    )
}

/// Skirt depth for an edge: twice the largest gap between the full-detail edge and its linear
/// interpolation at any vertex step up to `max_step`, plus a margin. Two neighbours at different
/// levels of detail are each within that gap of the full-detail edge, so the higher one's skirt
/// always reaches below the lower one's surface.
fn skirt_depth(edge: &[f32], max_step: u32) -> f32 {
    let n = edge.len().saturating_sub(1);
    let mut worst = 0.0f32;
    let mut step = 2usize;
    while step <= max_step as usize && step <= n {
        for k in 0..=n {
            let k0 = k / step * step;
            let k1 = (k0 + step).min(n);
            if k1 == k0 {
                continue;
            }
            let t = (k - k0) as f32 / (k1 - k0) as f32;
            let line = edge[k0] + (edge[k1] - edge[k0]) * t;
            worst = worst.max((edge[k] - line).abs());
        }
        step *= 2;
    }
    2.0 * worst + 1.0
}
