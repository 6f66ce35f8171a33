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

/// The water over `chunk` for a sea at `sea_level` metres and, where given, the lake level over
/// each vertex of its surface grid (`NEG_INFINITY` where no lake is; see
/// [`lake_levels`](super::lakes::lake_levels)), or `None` when no ground of the chunk is under
/// water.
///
/// A quad's water is the highest surface over any of its corners; it is drawn when a corner
/// under that surface has ground below it. Corners outside a lake get raised to its level, so a
/// lake's edge is a flat sheet that the ground rises out of, as the sea's is.
pub fn water_mesh(
    chunk: &ChunkMeshData,
    sea_level: f32,
    lake_levels: Option<&[f32]>,
) -> Option<WaterMeshData> {
    let side = chunk.side;
    let n = side * side;
    let lake_levels = lake_levels.filter(|l| l.len() >= n);
    let highest = lake_levels
        .map(|l| l[..n].iter().copied().fold(sea_level, f32::max))
        .unwrap_or(sea_level);
    if side < 2 || chunk.min_height >= highest || chunk.positions.len() < n {
        return None;
    }
    let ground = |k: usize| chunk.positions[k][1];
    // The surface over vertex k: the sea, or a lake above it.
    let surface = |k: usize| lake_levels.map_or(sea_level, |l| l[k].max(sea_level));
    // Vertex k of the chunk's surface -> its index in the water mesh at its own surface
    // (u32::MAX: unused); vertices raised to a neighbouring lake's level are kept apart.
    let mut remap = vec![u32::MAX; n];
    let mut raised: Vec<((usize, u32), u32)> = Vec::new();
    let mut mesh = WaterMeshData::default();
    let push = |k: usize, level: f32, mesh: &mut WaterMeshData| -> u32 {
        let [x, h, z] = chunk.positions[k];
        let depth = level - h;
        mesh.positions.push([x, level, z]);
        mesh.depths.push(depth);
        mesh.max_depth = mesh.max_depth.max(depth);
        (mesh.positions.len() - 1) as u32
    };
    let mut use_vertex = |k: usize, level: f32, mesh: &mut WaterMeshData| -> u32 {
        if level == surface(k) {
            if remap[k] == u32::MAX {
                remap[k] = push(k, level, mesh);
            }
            return remap[k];
        }
        let key = (k, level.to_bits());
        if let Some(&(_, v)) = raised.iter().find(|(r, _)| *r == key) {
            return v;
        }
        let v = push(k, level, mesh);
        raised.push((key, v));
        v
    };
    for j in 0..side - 1 {
        for i in 0..side - 1 {
            let a = j * side + i;
            let (b, c) = (a + 1, a + side);
            let d = c + 1;
            let corners = [a, b, c, d];
            let level = corners
                .iter()
                .map(|&k| surface(k))
                .fold(sea_level, f32::max);
            if !corners
                .iter()
                .any(|&k| surface(k) == level && ground(k) < level)
            {
                continue;
            }
            let [a, b, c, d] = corners.map(|k| use_vertex(k, level, &mut mesh));
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
        assert_eq!(water_mesh(&chunk([1.0; 9]), 0.0, None), None);
        assert_eq!(
            water_mesh(&chunk([0.0; 9]), 0.0, None),
            None,
            "ground at sea level"
        );
        assert!(
            water_mesh(&chunk([1.0; 9]), 1.5, None).is_some(),
            "a higher sea"
        );
    }

    #[test]
    fn only_quads_touching_wet_ground_with_depths_at_every_vertex() {
        // One wet corner (vertex 0) wets only the first quad.
        let mut h = [5.0; 9];
        h[0] = -3.0;
        let w = water_mesh(&chunk(h), 0.0, None).unwrap();
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
        let w = water_mesh(&chunk(h), 0.0, None).unwrap();
        assert_eq!((w.indices.len(), w.vertex_count()), (24, 9));
        assert!(w.indices.iter().all(|&i| (i as usize) < w.vertex_count()));
    }

    #[test]
    fn lakes_raise_the_surface_over_their_vertices_and_the_shore_quads() {
        // Ground at 5 with a dip at the centre; a lake at 6 covers the centre only.
        let mut h = [7.0; 9];
        h[4] = 5.0;
        let mut levels = [f32::NEG_INFINITY; 9];
        levels[4] = 6.0;
        let w = water_mesh(&chunk(h), 0.0, Some(&levels)).unwrap();
        // All four quads touch the centre: one vertex at the lake's own surface, the eight
        // around raised to it, every one at the lake's level.
        assert_eq!((w.indices.len(), w.vertex_count()), (24, 9));
        assert!(w.positions.iter().all(|p| p[1] == 6.0));
        assert_eq!(w.max_depth, 1.0);
        assert_eq!(w.depths.iter().filter(|&&d| d < 0.0).count(), 8);
        // Ground under the lake's level but outside it stays dry (no corner is under a lake).
        let dry = [f32::NEG_INFINITY; 9];
        assert_eq!(water_mesh(&chunk(h), 0.0, Some(&dry)), None);
        // A lake vertex whose ground is above the level holds no water.
        let mut high = h;
        high[4] = 6.5;
        assert_eq!(water_mesh(&chunk(high), 0.0, Some(&levels)), None);
        // The sea still floods what is below it, beside a lake: a lake in the last quad,
        // the sea in the first.
        let mut both = [7.0; 9];
        (both[0], both[8]) = (-1.0, 5.0);
        let mut levels = [f32::NEG_INFINITY; 9];
        levels[8] = 6.0;
        let w = water_mesh(&chunk(both), 0.0, Some(&levels)).unwrap();
        assert_eq!(w.indices.len(), 12);
        assert_eq!(w.positions.iter().filter(|p| p[1] == 0.0).count(), 4);
        assert_eq!(w.positions.iter().filter(|p| p[1] == 6.0).count(), 4);
    }
}
