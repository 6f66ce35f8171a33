//! Flow accumulation over a bounded reach: how much water from upslope runs through each cell of
//! a heightfield, following steepest-descent paths of at most [`FLOW_STEPS`] steps.
//!
//! Full flow accumulation is a function of a cell's whole catchment, which in an endless world
//! has no bound, so two chunks would disagree about the water on their shared edge. Paths cut at
//! a fixed length make it local: a cell's flow depends only on the heights within
//! [`FLOW_REACH`] cells of it, and is computed with the same operations in the same order
//! wherever the cell lies in its window, so neighbouring chunks agree to the bit. The length is
//! about the distance the simulator's droplets run before half their water is gone
//! ([`super::ErosionParams::margin`]), and water fades along a path as theirs does.
//!
//! Layout: rows of x fastest.

/// Most steps a path takes from the cell it starts in.
pub const FLOW_STEPS: usize = 16;

/// Cells of heights a cell's flow reads beyond each side: a path's cells lie within
/// [`FLOW_STEPS`] of the cell it reaches, and choosing their next step reads their neighbours.
pub const FLOW_REACH: usize = FLOW_STEPS + 1;

/// Water a path keeps per step (the simulator's default evaporation, 5% a step).
const KEEP: f32 = 0.95;

/// The eight neighbours in the fixed order ties are broken in, with 1 / distance.
const NEIGHBOURS: [(isize, isize, f32); 8] = {
    const D: f32 = std::f32::consts::FRAC_1_SQRT_2;
    [
        (-1, -1, D),
        (0, -1, 1.0),
        (1, -1, D),
        (-1, 0, 1.0),
        (1, 0, 1.0),
        (-1, 1, D),
        (0, 1, 1.0),
        (1, 1, D),
    ]
};

/// Flow over an `nx` x `nz` window of heights: for each cell of its `(nx - 2r) x (nz - 2r)`
/// middle (`r` = [`FLOW_REACH`]), the water that reaches it. Every cell starts one unit of
/// water down its steepest-descent path (to the neighbour with the largest drop over distance;
/// ties to the first in a fixed order), which keeps 95% of it per step, stops in a pit or on flat
/// ground and ends after [`FLOW_STEPS`] steps. A cell's flow is at least 1, its own water; a
/// channel draining a slope gathers tens. Empty when the window is too small.
///
/// A cell's sum takes every path that reaches it (none starts further than [`FLOW_STEPS`] away,
/// and every step it took lies inside the window), added in the row-major order of their starts,
/// which is the world's order wherever the window lies: the same bits in every window.
pub fn flow(heights: &[f32], nx: usize, nz: usize) -> Vec<f32> {
    let r = FLOW_REACH;
    if nx <= 2 * r || nz <= 2 * r || heights.len() != nx * nz {
        return Vec::new();
    }
    // The next cell of every cell off the window's rim; `usize::MAX` for pits, flats and the rim.
    let mut down = vec![usize::MAX; nx * nz];
    for j in 1..nz - 1 {
        for i in 1..nx - 1 {
            let c = j * nx + i;
            let (mut best, mut next) = (0.0f32, usize::MAX);
            for (di, dj, inverse) in NEIGHBOURS {
                let n = c.wrapping_add_signed(dj * nx as isize + di);
                let drop = (heights[c] - heights[n]) * inverse;
                if drop > best {
                    (best, next) = (drop, n);
                }
            }
            down[c] = next;
        }
    }
    let mut water_at = vec![0.0f32; nx * nz];
    for start in 0..nx * nz {
        let (mut c, mut water) = (start, 1.0f32);
        water_at[c] += water;
        for _ in 0..FLOW_STEPS {
            c = down[c];
            if c == usize::MAX {
                break;
            }
            water *= KEEP;
            water_at[c] += water;
        }
    }
    let (ox, oz) = (nx - 2 * r, nz - 2 * r);
    let mut out = Vec::with_capacity(ox * oz);
    for j in r..r + oz {
        out.extend_from_slice(&water_at[j * nx + r..j * nx + r + ox]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::erosion::test_field as field;

    #[test]
    fn a_cell_has_the_same_flow_in_every_window() {
        let r = FLOW_REACH;
        let (nx, nz) = (2 * r + 40, 2 * r + 30);
        let big = flow(&field(nx, nz, 0, 0), nx, nz);
        let bx = nx - 2 * r;
        assert_eq!(big.len(), bx * (nz - 2 * r));
        assert!(big.iter().any(|v| *v > 3.0), "some water gathers");
        for (x0, z0, wx, wz) in [(3, 5, 2 * r + 1, 2 * r + 4), (20, 0, 2 * r + 9, 2 * r + 30)] {
            let small = flow(&field(wx, wz, x0, z0), wx, wz);
            let sx = wx - 2 * r;
            for (k, v) in small.iter().enumerate() {
                let (i, j) = (k % sx, k / sx);
                assert_eq!(
                    v.to_bits(),
                    big[(j + z0) * bx + i + x0].to_bits(),
                    "{i},{j} of the window at {x0},{z0}"
                );
            }
        }
    }

    #[test]
    fn water_gathers_in_valleys_and_runs_downhill() {
        // A V-shaped valley along z, falling towards +z.
        let n = 2 * FLOW_REACH + 21;
        let heights: Vec<f32> = (0..n * n)
            .map(|k| {
                let (x, z) = ((k % n) as f32, (k / n) as f32);
                (x - (n / 2) as f32).abs() * 0.5 - z * 0.1
            })
            .collect();
        let water = flow(&heights, n, n);
        let side = n - 2 * FLOW_REACH;
        let at = |i: usize, j: usize| water[j * side + i];
        let c = side / 2;
        // The floor gathers its sides' water; a slope only its own and what is above it.
        assert!(
            at(c, c) > 5.0 * at(c + 5, c),
            "{} {}",
            at(c, c),
            at(c + 5, c)
        );
        // Further down the floor, more has arrived.
        assert!(at(c, c + 5) >= at(c, c - 5));
        assert!(water.iter().all(|v| *v >= 1.0));
        // Flat ground: every cell keeps its own water only.
        assert!(flow(&vec![2.0; n * n], n, n).iter().all(|v| *v == 1.0));
        // Too small: nothing.
        assert!(flow(&[0.0; 4], 2, 2).is_empty());
    }
}
