//! Meshing a chunk's heightfield: positions, normals, UVs, biome weights, indices and skirts.

use super::biome::BiomeTable;
use super::generator::{ChunkCoord, normal_and_slope};
use crate::config::MAX_BIOMES;

/// Heights of a chunk with a one-sample border on every side.
#[derive(Clone, Debug, PartialEq)]
pub struct Heightfield {
    /// Vertices along one side of the chunk itself (without the border).
    pub side: usize,
    /// `(side + 2)^2` heights, row-major (x fastest), border included.
    pub heights: Vec<f32>,
    /// Metres between neighbouring samples.
    pub step_m: f64,
}

impl Heightfield {
    /// Height at chunk vertex `(i, j)`; `-1` and `side` reach into the border.
    #[inline]
    pub fn at(&self, i: isize, j: isize) -> f32 {
        let w = self.side + 2;
        self.heights[(j + 1) as usize * w + (i + 1) as usize]
    }
}

/// Mesh buffers of one chunk, ready to hand to a renderer. Surface vertices come first
/// (`side * side`, row-major with x fastest), then the skirt vertices.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChunkMeshData {
    /// Which chunk.
    pub coord: ChunkCoord,
    /// Vertex step (level of detail) it was built at.
    pub vertex_step: u32,
    /// Surface vertices per side.
    pub side: usize,
    /// Positions relative to the chunk origin, metres.
    pub positions: Vec<[f32; 3]>,
    /// Unit normals.
    pub normals: Vec<[f32; 3]>,
    /// 0..1 across the chunk.
    pub uvs: Vec<[f32; 2]>,
    /// Weights of biomes 0..4.
    pub biome_weights_low: Vec<[f32; 4]>,
    /// Weights of biomes 4..8.
    pub biome_weights_high: Vec<[f32; 4]>,
    /// How much each vertex reads as a water channel, 0 (dry) to 1 (riverbed): the water that
    /// runs through it on the eroded ground ([`wetness`](super::generator::wetness)); 0
    /// everywhere without erosion.
    pub wetness: Vec<f32>,
    /// Triangle list, counter-clockwise seen from above.
    pub indices: Vec<u32>,
    /// How far each edge's skirt hangs below it: north (min z), south (max z), west (min x), east
    /// (max x).
    pub skirt_depth: [f32; 4],
    /// Lowest surface height.
    pub min_height: f32,
    /// Highest surface height.
    pub max_height: f32,
}

impl ChunkMeshData {
    /// Number of surface (non-skirt) vertices.
    pub fn surface_vertex_count(&self) -> usize {
        self.side * self.side
    }

    /// Bytes of vertex and index data, for memory statistics.
    pub fn byte_size(&self) -> usize {
        self.positions.len() * (12 + 12 + 8 + 32 + 4) + self.indices.len() * 4
    }
}

/// Builds the mesh of a chunk from its heightfield and its climate at each vertex.
pub(crate) fn build_chunk_mesh(
    coord: ChunkCoord,
    vertex_step: u32,
    field: &Heightfield,
    temperature: &[f32],
    moisture: &[f32],
    biomes: &BiomeTable,
    skirt_depth: [f32; 4],
    wetness: &[f32],
) -> ChunkMeshData {
    let side = field.side;
    let count = side * side;
    let skirt_count = 4 * side;
    let step = field.step_m as f32;
    let inv_2step = 1.0 / (2.0 * step);
    let inv_uv = 1.0 / (side - 1) as f32;

    let mut positions = Vec::with_capacity(count + skirt_count);
    let mut normals = Vec::with_capacity(count + skirt_count);
    let mut uvs = Vec::with_capacity(count + skirt_count);
    let mut low = Vec::with_capacity(count + skirt_count);
    let mut wet: Vec<f32> = (0..count)
        .map(|k| wetness.get(k).copied().unwrap_or(0.0))
        .collect();
    wet.reserve(skirt_count);
    let mut high = Vec::with_capacity(count + skirt_count);
    let (mut min_height, mut max_height) = (f32::INFINITY, f32::NEG_INFINITY);

    for j in 0..side as isize {
        for i in 0..side as isize {
            let h = field.at(i, j);
            min_height = min_height.min(h);
            max_height = max_height.max(h);
            let dx = (field.at(i + 1, j) - field.at(i - 1, j)) * inv_2step;
            let dz = (field.at(i, j + 1) - field.at(i, j - 1)) * inv_2step;
            let (normal, slope) = normal_and_slope(dx, dz);
            let k = j as usize * side + i as usize;
            let t = biomes.temperature_at(temperature.get(k).copied().unwrap_or(0.5), h);
            let m = moisture.get(k).copied().unwrap_or(0.5);
            let w = biomes.weights(h, slope, t, m);
            positions.push([i as f32 * step, h, j as f32 * step]);
            normals.push(normal);
            uvs.push([i as f32 * inv_uv, j as f32 * inv_uv]);
            low.push([w[0], w[1], w[2], w[3]]);
            high.push(if MAX_BIOMES > 4 {
                [w[4], w[5], w[6], w[7]]
            } else {
                [0.0; 4]
            });
        }
    }

    let quads = (side - 1) * (side - 1);
    let mut indices = Vec::with_capacity(quads * 6 + 4 * (side - 1) * 12);
    for j in 0..side - 1 {
        for i in 0..side - 1 {
            let a = (j * side + i) as u32;
            let b = a + 1;
            let c = a + side as u32;
            let d = c + 1;
            indices.extend_from_slice(&[a, c, b, b, c, d]);
        }
    }

    // Skirts: a copy of each edge lowered by that edge's depth, joined to the edge by a wall drawn
    // with both windings so it hides a crack from either side.
    for (edge, depth) in skirt_depth.into_iter().enumerate() {
        let surface_index = |k| edge_vertex(edge, k, side);
        let base = positions.len() as u32;
        for k in 0..side {
            let s = surface_index(k);
            let [x, y, z] = positions[s];
            positions.push([x, y - depth, z]);
            normals.push(normals[s]);
            uvs.push(uvs[s]);
            low.push(low[s]);
            high.push(high[s]);
            wet.push(wet[s]);
        }
        for k in 0..side - 1 {
            let (e0, e1) = (surface_index(k) as u32, surface_index(k + 1) as u32);
            let (s0, s1) = (base + k as u32, base + k as u32 + 1);
            indices.extend_from_slice(&[e0, e1, s0, e1, s1, s0, e0, s0, e1, e1, s0, s1]);
        }
    }

    ChunkMeshData {
        coord,
        vertex_step,
        side,
        positions,
        normals,
        uvs,
        biome_weights_low: low,
        biome_weights_high: high,
        wetness: wet,
        indices,
        skirt_depth,
        min_height,
        max_height,
    }
}

/// Index of the `k`-th surface vertex along edge `edge` (north, south, west, east).
#[inline]
pub(crate) fn edge_vertex(edge: usize, k: usize, side: usize) -> usize {
    match edge {
        0 => k,
        1 => (side - 1) * side + k,
        2 => k * side,
        _ => k * side + side - 1,
    }
}
