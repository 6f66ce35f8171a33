//! The learned erosion model's input features, computed from a window of noise heights.
//!
//! Every value is a function of the heights within [`FeatureSet::reach`] cells of its own cell,
//! computed with the same operations wherever the cell lies in the window (the filters are exact
//! maxima and minima), so neighbouring chunks see equal features on their shared edge. Features do not change when the ground is raised, so a model is the same at
//! any altitude.
//!
//! Layout: channel-major planes, rows of x fastest.

/// Which input features a model reads; its weights file says which.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FeatureSet {
    /// Slope along x, slope along z and relief (height minus its 5x5 mean): 3 channels reading
    /// 2 cells around. The models of weights format version 1.
    SlopeRelief,
    /// Those, plus fill depth (the height's grey-scale closing over a 9x9 square minus the
    /// height: where sediment ponds) and peak height (the height minus its opening: what stands
    /// out to be worn down): 5 channels reading `2 MORPH_RADIUS` cells around. Where sediment
    /// settles is what a small convolution does not see from slopes alone.
    #[default]
    SlopeReliefFill,
}

/// Radius in cells of the squares of the closing and opening.
pub const MORPH_RADIUS: usize = 4;

impl FeatureSet {
    /// Input channels.
    pub const fn inputs(self) -> usize {
        match self {
            Self::SlopeRelief => 3,
            Self::SlopeReliefFill => 5,
        }
    }

    /// Cells the features read beyond each side of a cell (a closing is a max filter, then a
    /// min filter, each reaching `MORPH_RADIUS`).
    pub const fn reach(self) -> usize {
        match self {
            Self::SlopeRelief => 2,
            Self::SlopeReliefFill => 2 * MORPH_RADIUS,
        }
    }

    /// The number stored in a weights file.
    pub const fn id(self) -> u32 {
        match self {
            Self::SlopeRelief => 1,
            Self::SlopeReliefFill => 2,
        }
    }

    /// The set stored as `id`, if this build knows it.
    pub const fn from_id(id: u32) -> Option<Self> {
        match id {
            1 => Some(Self::SlopeRelief),
            2 => Some(Self::SlopeReliefFill),
            _ => None,
        }
    }
}

/// Features of an `nx` x `nz` height window: `set.inputs()` planes of `(nx - 2 reach) x
/// (nz - 2 reach)`, each value times `scale`. Slopes are central differences over `spacing`
/// metres. Empty when the window is too small.
pub fn features(
    set: FeatureSet,
    heights: &[f32],
    nx: usize,
    nz: usize,
    spacing: f32,
    scale: f32,
) -> Vec<f32> {
    let r = set.reach();
    if nx <= 2 * r || nz <= 2 * r || heights.len() != nx * nz {
        return Vec::new();
    }
    let (ox, oz) = (nx - 2 * r, nz - 2 * r);
    let plane = ox * oz;
    let mut out = vec![0.0f32; set.inputs() * plane];
    let half = 0.5 / spacing;
    for j in 0..oz {
        for i in 0..ox {
            let (ci, cj) = (i + r, j + r);
            let h = |di: isize, dj: isize| {
                heights[(cj as isize + dj) as usize * nx + (ci as isize + di) as usize]
            };
            let mut sum = 0.0f32;
            for dj in -2..=2 {
                for di in -2..=2 {
                    sum += h(di, dj);
                }
            }
            let k = j * ox + i;
            out[k] = (h(1, 0) - h(-1, 0)) * half * scale;
            out[plane + k] = (h(0, 1) - h(0, -1)) * half * scale;
            out[2 * plane + k] = (h(0, 0) - sum / 25.0) * scale;
        }
    }
    if set == FeatureSet::SlopeReliefFill {
        // Both filtered planes are the `ox` x `oz` middle: a closing reaches `2 MORPH_RADIUS`.
        let m = MORPH_RADIUS;
        let (mx, mz) = (nx - 2 * m, nz - 2 * m);
        let closing = square_filter(&square_filter(heights, nx, nz, m, true), mx, mz, m, false);
        let opening = square_filter(&square_filter(heights, nx, nz, m, false), mx, mz, m, true);
        for j in 0..oz {
            for i in 0..ox {
                let k = j * ox + i;
                let height = heights[(j + r) * nx + i + r];
                out[3 * plane + k] = (closing[k] - height) * scale;
                out[4 * plane + k] = (height - opening[k]) * scale;
            }
        }
    }
    out
}

/// The max (`max`) or min filter over squares of radius `r` of an `nx` x `nz` plane: its
/// `(nx - 2r) x (nz - 2r)` valid middle.
fn square_filter(plane: &[f32], nx: usize, nz: usize, r: usize, max: bool) -> Vec<f32> {
    let pick = |a: f32, b: f32| if max { a.max(b) } else { a.min(b) };
    let (ox, oz) = (nx - 2 * r, nz - 2 * r);
    let mut rows = vec![0.0f32; ox * nz];
    for j in 0..nz {
        let src = &plane[j * nx..(j + 1) * nx];
        for i in 0..ox {
            rows[j * ox + i] = src[i..=i + 2 * r].iter().copied().fold(src[i], pick);
        }
    }
    let mut out = vec![0.0f32; ox * oz];
    for (j, row) in out.chunks_exact_mut(ox).enumerate() {
        row.copy_from_slice(&rows[j * ox..(j + 1) * ox]);
        for k in 1..=2 * r {
            for (v, s) in row.iter_mut().zip(&rows[(j + k) * ox..(j + k + 1) * ox]) {
                *v = pick(*v, *s);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::erosion::test_field as field;

    #[test]
    fn features_depend_only_on_the_heights_around_a_cell() {
        for set in [FeatureSet::SlopeRelief, FeatureSet::SlopeReliefFill] {
            let (r, c) = (set.reach(), set.inputs());
            let big = features(set, &field(70, 64, 0, 0), 70, 64, 1.0, 1.0);
            let (bx, bz) = (70 - 2 * r, 64 - 2 * r);
            assert_eq!(big.len(), c * bx * bz);
            for (x0, z0, nx, nz) in [(3, 5, 2 * r + 1, 2 * r + 4), (11, 0, 2 * r + 9, 2 * r + 2)] {
                let small = features(set, &field(nx, nz, x0, z0), nx, nz, 1.0, 1.0);
                let (sx, sz) = (nx - 2 * r, nz - 2 * r);
                for ch in 0..c {
                    for j in 0..sz {
                        for i in 0..sx {
                            assert_eq!(
                                small[(ch * sz + j) * sx + i].to_bits(),
                                big[(ch * bz + j + z0) * bx + i + x0].to_bits(),
                                "{set:?} channel {ch}, {i},{j} of the window at {x0},{z0}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn sediment_would_fill_a_pit_and_wear_down_a_peak() {
        // A V-shaped valley along z, falling gently towards +z, with a pit in its floor and a
        // spike on one side.
        let n = 2 * FeatureSet::SlopeReliefFill.reach() + 25;
        let mut heights: Vec<f32> = (0..n * n)
            .map(|k| {
                let (x, z) = ((k % n) as f32, (k / n) as f32);
                (x - (n / 2) as f32).abs() * 0.5 - z * 0.05
            })
            .collect();
        let mid = n / 2;
        heights[mid * n + mid] -= 3.0;
        // Nine cells away: further than the closing of either reaches.
        heights[(mid - 9) * n + mid + 9] += 4.0;
        let set = FeatureSet::SlopeReliefFill;
        let f = features(set, &heights, n, n, 1.0, 1.0);
        let side = n - 2 * set.reach();
        let plane = side * side;
        let at = |ch: usize, i: usize, j: usize| f[ch * plane + j * side + i];
        let c = side / 2;
        // The V fills 2 m deep at its floor (the closing's square reaches 4 cells up each
        // side), the pit 3 m more; neither stands out.
        assert!(
            (at(3, c, c) - 5.0).abs() < 0.01 && at(4, c, c) == 0.0,
            "{}",
            at(3, c, c)
        );
        // The spike stands 4 m out and has nothing to fill.
        assert!(at(4, c + 9, c - 9) > 3.9 && at(3, c + 9, c - 9) == 0.0);
        // Flat ground: nothing to fill or wear.
        let flat = features(set, &vec![3.0; n * n], n, n, 1.0, 1.0);
        assert!(flat[3 * plane..].iter().all(|v| *v == 0.0));
    }

    #[test]
    fn feature_sets_are_stored_by_their_number() {
        for set in [FeatureSet::SlopeRelief, FeatureSet::SlopeReliefFill] {
            assert_eq!(FeatureSet::from_id(set.id()), Some(set));
        }
        assert_eq!(FeatureSet::from_id(0), None);
        assert_eq!(FeatureSet::from_id(3), None);
    }
}
