//! Greyscale hillshade of a heightfield, for previews and the README's pictures.

/// Hillshade of `nx` x `nz` heights `spacing` metres apart, lit from the north-west at 45
/// degrees: one byte per sample, row-major. Heights are exaggerated `relief` times.
pub fn hillshade(heights: &[f32], nx: usize, nz: usize, spacing: f32, relief: f32) -> Vec<u8> {
    let mut out = vec![0u8; nx * nz];
    if heights.len() != nx * nz || nx < 2 || nz < 2 {
        return out;
    }
    let light = {
        let l = [-1.0f32, 1.41, -1.0];
        let n = (l[0] * l[0] + l[1] * l[1] + l[2] * l[2]).sqrt();
        [l[0] / n, l[1] / n, l[2] / n]
    };
    let h = |i: usize, j: usize| heights[j.min(nz - 1) * nx + i.min(nx - 1)];
    for j in 0..nz {
        for i in 0..nx {
            let (i0, i1) = (i.saturating_sub(1), (i + 1).min(nx - 1));
            let (j0, j1) = (j.saturating_sub(1), (j + 1).min(nz - 1));
            let dx = (h(i1, j) - h(i0, j)) / ((i1 - i0) as f32 * spacing) * relief;
            let dz = (h(i, j1) - h(i, j0)) / ((j1 - j0) as f32 * spacing) * relief;
            let len = (dx * dx + 1.0 + dz * dz).sqrt();
            let lit = (-dx * light[0] + light[1] - dz * light[2]) / len;
            out[j * nx + i] = (lit.clamp(0.0, 1.0) * 235.0 + 20.0) as u8;
        }
    }
    out
}
