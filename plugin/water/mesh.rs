//! The pure core of water: a chunk's own heights to the mesh of the sea over it. No Bevy
//! types; runs on the pool thread that generated the chunk, right after it.

use crate::terrain::ChunkMeshData;

/// The sea over one chunk: the chunk's surface grid (same vertices and triangles, so the
/// interpolated depth meets zero exactly where the drawn ground meets the water), lifted to sea
/// level and cut to the quads with ground below it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WaterMeshData {
    /// Positions relative to the chunk origin; `y` is the sea level.
    pub positions: Vec<[f32; 3]>,
    /// Water depth at each vertex: sea level minus the ground height there (negative on the dry
    /// corners of shore quads).
    pub depths: Vec<f32>,
    /// Triangle list, counter-clockwise seen from above, in the terrain's triangulation.
    pub indices: Vec<u32>,
    /// Deepest water of any vertex, metres.
    pub max_depth: f32,
}

impl WaterMeshData {
    /// Number of vertices.
    pub fn vertex_count(&self) -> usize {
        self.positions.len()
    }
}

/// The water over `chunk` for a sea at `sea_level` metres, or `None` when no ground of the chunk
/// dips below it.
pub fn water_mesh(chunk: &ChunkMeshData, sea_level: f32) -> Option<WaterMeshData> {
    let side = chunk.side;
    if side < 2 || chunk.min_height >= sea_level || chunk.positions.len() < side * side {
        return None;
    }
    let ground = |k: usize| chunk.positions[k][1];
    // Vertex k of the chunk's surface -> its index in the water mesh (u32::MAX: unused).
    let mut remap = vec![u32::MAX; side * side];
    let mut mesh = WaterMeshData::default();
    let mut use_vertex = |k: usize, mesh: &mut WaterMeshData| -> u32 {
        if remap[k] == u32::MAX {
            remap[k] = mesh.positions.len() as u32;
            let [x, h, z] = chunk.positions[k];
            let depth = sea_level - h;
            mesh.positions.push([x, sea_level, z]);
            mesh.depths.push(depth);
            mesh.max_depth = mesh.max_depth.max(depth);
        }
        remap[k]
    };
    for j in 0..side - 1 {
        for i in 0..side - 1 {
            let a = j * side + i;
            let (b, c) = (a + 1, a + side);
            let d = c + 1;
            if [a, b, c, d].iter().all(|&k| ground(k) >= sea_level) {
                continue;
            }
            let [a, b, c, d] = [a, b, c, d].map(|k| use_vertex(k, &mut mesh));
            // The terrain's own split of the quad (see `terrain::mesh`).
            mesh.indices.extend_from_slice(&[a, c, b, b, c, d]);
        }
    }
    (!mesh.indices.is_empty()).then_some(mesh)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3x3 chunk (2 m spacing) with the given heights, row-major.
    fn chunk(heights: [f32; 9]) -> ChunkMeshData {
        let positions: Vec<[f32; 3]> = (0..9)
            .map(|k| [(k % 3) as f32 * 2.0, heights[k], (k / 3) as f32 * 2.0])
            .collect();
        ChunkMeshData {
            side: 3,
            min_height: heights.iter().copied().fold(f32::INFINITY, f32::min),
            max_height: heights.iter().copied().fold(f32::NEG_INFINITY, f32::max),
            positions,
            ..Default::default()
        }
    }

    #[test]
    fn dry_chunks_have_no_water() {
        assert_eq!(water_mesh(&chunk([1.0; 9]), 0.0), None);
        assert_eq!(
            water_mesh(&chunk([0.0; 9]), 0.0),
            None,
            "ground at sea level"
        );
        assert!(water_mesh(&chunk([1.0; 9]), 1.5).is_some(), "a higher sea");
    }

    #[test]
    fn only_quads_touching_wet_ground_with_depths_at_every_vertex() {
        // One wet corner (vertex 0) wets only the first quad.
        let mut h = [5.0; 9];
        h[0] = -3.0;
        let w = water_mesh(&chunk(h), 0.0).unwrap();
        assert_eq!(w.indices.len(), 6);
        assert_eq!(w.vertex_count(), 4);
        assert_eq!(w.max_depth, 3.0);
        for (p, d) in w.positions.iter().zip(&w.depths) {
            assert_eq!(p[1], 0.0);
            let k = (p[2] / 2.0) as usize * 3 + (p[0] / 2.0) as usize;
            assert_eq!(*d, 0.0 - h[k]);
        }
        // The centre wet: all four quads share it.
        let mut h = [5.0; 9];
        h[4] = -1.0;
        let w = water_mesh(&chunk(h), 0.0).unwrap();
        assert_eq!((w.indices.len(), w.vertex_count()), (24, 9));
        assert!(w.indices.iter().all(|&i| (i as usize) < w.vertex_count()));
    }
}
