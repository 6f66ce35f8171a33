//! The learned erosion model's inference in plain Rust: input features from a noise heightfield,
//! then the convolutions, giving the height change (eroded minus noise) in metres.
//!
//! Why not burn here: a chunk's edge heights are computed by both chunks that share the edge, at
//! different places in their tiles, and must be equal to the bit. These loops compute every output
//! cell with the same operations in the same order wherever it lies in the tile (no padding, no
//! tiling of the reduction, no fused multiply-add), so a height depends only on the world-space
//! noise around it. burn trains the model ([`super::model`]) and is checked to agree closely.
//!
//! A two-scale model ([`ErosionWeights::is_two_scale`]) also runs layers on 2x2 means of the
//! features. Those squares must start at even grid indices of the world, or two windows would
//! disagree on them: [`ErosionNet::residual_at`] places windows so.
//!
//! Layout: channel-major planes, rows of x fastest.

use aigc_world_kernels::conv::{ConvShape, conv2d_valid};

use super::features::features;
use super::weights::{ConvLayer, ErosionWeights, Stage};

/// Channel-major planes and their size.
type Planes = (Vec<f32>, usize, usize);

/// One valid (unpadded) convolution of `input` (`layer.inputs` planes of `nx` x `nz`), with a
/// ReLU when `relu`. Returns the output and its size. The loops are
/// [`aigc_world_kernels::conv`]'s: AVX2 where the processor has it, with the bits of the
/// portable build.
pub fn conv(
    layer: &ConvLayer,
    input: &[f32],
    nx: usize,
    nz: usize,
    relu: bool,
) -> (Vec<f32>, usize, usize) {
    let shape = ConvShape {
        inputs: layer.inputs,
        outputs: layer.outputs,
        kernel: layer.kernel,
        dilation: layer.dilation,
    };
    conv2d_valid(shape, &layer.weight, &layer.bias, input, (nx, nz), relu)
}

/// Means of 2x2 squares of each of `channels` planes of `nx` x `nz` (odd last rows and columns
/// dropped), summed in one fixed order.
fn pool2(input: &[f32], channels: usize, nx: usize, nz: usize) -> Planes {
    let (px, pz) = (nx / 2, nz / 2);
    let mut out = Vec::with_capacity(channels * px * pz);
    for plane in input.chunks_exact(nx * nz).take(channels) {
        for j in 0..pz {
            let (top, bottom) = (&plane[2 * j * nx..], &plane[(2 * j + 1) * nx..]);
            for i in 0..px {
                let sum = (top[2 * i] + top[2 * i + 1]) + (bottom[2 * i] + bottom[2 * i + 1]);
                out.push(sum * 0.25);
            }
        }
    }
    (out, px, pz)
}

/// An up layer: each input cell's channels give its 2x2 square of output cells
/// (`weight[c][o][dz][dx]`), channels summed in order after the bias; a ReLU when `relu`.
/// Sums run along whole input rows, which the compiler vectorises.
fn up2(layer: &ConvLayer, (input, nx, nz): &Planes, relu: bool) -> Planes {
    let (nx, nz) = (*nx, *nz);
    let (ox, oz) = (2 * nx, 2 * nz);
    let (ins, outs) = (layer.inputs, layer.outputs);
    if input.len() < ins * nx * nz || nx * nz == 0 {
        return (Vec::new(), 0, 0);
    }
    let mut out = vec![0.0; outs * ox * oz];
    let mut acc = [vec![0.0f32; nx], vec![0.0f32; nx]];
    for o in 0..outs {
        for j in 0..nz {
            for dz in 0..2 {
                acc.iter_mut().for_each(|a| a.fill(layer.bias[o]));
                for c in 0..ins {
                    let row = &input[c * nx * nz + j * nx..][..nx];
                    for (dx, acc) in acc.iter_mut().enumerate() {
                        let w = layer.weight[((c * outs + o) * 2 + dz) * 2 + dx];
                        acc.iter_mut().zip(row).for_each(|(a, v)| *a += v * w);
                    }
                }
                let row = &mut out[o * ox * oz + (2 * j + dz) * ox..][..ox];
                for (i, pair) in row.chunks_exact_mut(2).enumerate() {
                    for (dx, v) in pair.iter_mut().enumerate() {
                        let a = acc[dx][i];
                        *v = if relu { a.max(0.0) } else { a };
                    }
                }
            }
        }
    }
    (out, ox, oz)
}

/// The `nx` x `nz` cells from `(x0, z0)` of every plane; empty when they do not fit.
fn crop((input, w, h): &Planes, (x0, z0): (usize, usize), (nx, nz): (usize, usize)) -> Vec<f32> {
    let mut out = Vec::new();
    if x0 + nx > *w || z0 + nz > *h || nx * nz == 0 {
        return out;
    }
    for plane in input.chunks_exact(w * h) {
        for j in z0..z0 + nz {
            out.extend_from_slice(&plane[j * w + x0..j * w + x0 + nx]);
        }
    }
    out
}

/// A loaded erosion model, ready to run on any thread.
#[derive(Clone, Debug, PartialEq)]
pub struct ErosionNet {
    weights: ErosionWeights,
}

impl ErosionNet {
    /// Wraps checked weights (from [`ErosionWeights::from_bytes`] or training).
    pub fn new(weights: ErosionWeights) -> Self {
        Self { weights }
    }

    /// The weights.
    pub fn weights(&self) -> &ErosionWeights {
        &self.weights
    }

    /// Cells of noise needed beyond each side of the cells to erode.
    pub fn margin(&self) -> usize {
        self.weights.margin()
    }

    /// How windows must line up: a window's feature planes (from grid index `origin +
    /// features.reach()`) must start at a multiple of this, and hold a multiple of it per side
    /// (2 for a two-scale model, else 1).
    pub fn alignment(&self) -> usize {
        if self.weights.is_two_scale() { 2 } else { 1 }
    }

    /// Height change in metres (eroded minus noise) for the `nx - 2m` x `nz - 2m` middle of an
    /// `nx` x `nz` window of noise heights (`m` = [`margin`](Self::margin)), `spacing` metres
    /// apart. Empty when the window is too small, or when a two-scale model's feature planes
    /// would have an odd side. For a two-scale model the window must also start where
    /// [`alignment`](Self::alignment) says; [`residual_at`](Self::residual_at) places it.
    pub fn residual(&self, heights: &[f32], nx: usize, nz: usize, spacing: f32) -> Vec<f32> {
        let w = &self.weights;
        let x = features(w.features, heights, nx, nz, spacing, w.input_scale);
        let r = w.features.reach();
        let (fx, fz) = (nx.saturating_sub(2 * r), nz.saturating_sub(2 * r));
        let two_scale = w.is_two_scale();
        if x.is_empty() || (two_scale && (fx % 2 == 1 || fz % 2 == 1)) {
            return Vec::new();
        }
        let reach = w.reach();
        let mut coarse = if two_scale {
            pool2(&x, w.features.inputs(), fx, fz)
        } else {
            Planes::default()
        };
        // The head reads the fine branch only where the coarse one also reaches: the fine
        // layers run on no more than that (a valid convolution gives the same bits anywhere).
        let trim = reach.branches - reach.fine;
        let mut fine: Planes = if trim == 0 {
            (x, fx, fz)
        } else {
            let (sx, sz) = (fx.saturating_sub(2 * trim), fz.saturating_sub(2 * trim));
            let planes = (x, fx, fz);
            (crop(&planes, (trim, trim), (sx, sz)), sx, sz)
        };
        let mut up: Option<Planes> = None;
        let mut head: Option<Planes> = None;
        let last = w.layers.len().saturating_sub(1);
        for (k, layer) in w.layers.iter().enumerate() {
            let relu = k != last;
            let step = |(x, nx, nz): &Planes| conv(layer, x, *nx, *nz, relu);
            match layer.stage {
                Stage::Fine => fine = step(&fine),
                Stage::Coarse => coarse = step(&coarse),
                Stage::Up => up = Some(up2(layer, &coarse, relu)),
                Stage::Head => {
                    let input = head.take().unwrap_or_else(|| {
                        // The fine branch covers feature cells from `reach.branches` (trimmed
                        // above), the up layer from `2 reach.coarse`: the head reads where both
                        // do.
                        let side = |n: usize| n.saturating_sub(2 * reach.branches);
                        let (sx, sz) = (side(fx), side(fz));
                        if up.is_none() && (fine.1, fine.2) == (sx, sz) {
                            // One scale: the fine planes are the head's input as they are.
                            return std::mem::take(&mut fine);
                        }
                        let mut merged = crop(&fine, (0, 0), (sx, sz));
                        if let Some(up) = &up {
                            let off = reach.branches - 2 * reach.coarse;
                            let up = crop(up, (off, off), (sx, sz));
                            if up.is_empty() {
                                return (Vec::new(), 0, 0);
                            }
                            merged.extend(up);
                        }
                        (merged, sx, sz)
                    });
                    head = Some(step(&input));
                }
            }
            let empty = match layer.stage {
                Stage::Fine => fine.0.is_empty(),
                Stage::Head => head.as_ref().is_none_or(|h| h.0.is_empty()),
                Stage::Coarse | Stage::Up => false,
            };
            if empty {
                // Too small a window.
                return Vec::new();
            }
        }
        let mut out = head.map(|h| h.0).unwrap_or_default();
        out.iter_mut().for_each(|v| *v *= w.output_scale);
        out
    }

    /// Height change and noise height for the `nx` x `nz` cells of the world grid from grid index
    /// `(ix0, iz0)`, row-major. `noise(ix0, iz0, nx, nz)` gives the noise of any window; this
    /// asks it for one around the cells, widened to the model's [`alignment`](Self::alignment),
    /// so a cell's change depends only on its grid index, to the bit.
    pub fn residual_at(
        &self,
        noise: impl FnOnce(i64, i64, usize, usize) -> Vec<f32>,
        (ix0, iz0): (i64, i64),
        (nx, nz): (usize, usize),
        spacing: f32,
    ) -> (Vec<f32>, Vec<f32>) {
        let (m, a) = (self.margin(), self.alignment() as i64);
        let r = self.weights.features.reach() as i64;
        // Cells added before and after, per axis, to line the feature planes up.
        let pad = |i0: i64, n: usize| {
            let before = (i0 - m as i64 + r).rem_euclid(a) as usize;
            (
                before,
                (n + before).next_multiple_of(a as usize) - n - before,
            )
        };
        let ((bx, ax), (bz, az)) = (pad(ix0, nx), pad(iz0, nz));
        let (wx, wz) = (bx + nx + ax + 2 * m, bz + nz + az + 2 * m);
        let heights = noise(ix0 - (m + bx) as i64, iz0 - (m + bz) as i64, wx, wz);
        let residual = self.residual(&heights, wx, wz, spacing);
        let ox = wx - 2 * m;
        let (mut change, mut middle) = (Vec::with_capacity(nx * nz), Vec::with_capacity(nx * nz));
        for j in 0..nz {
            for i in 0..nx {
                change.push(residual.get((j + bz) * ox + i + bx).copied().unwrap_or(0.0));
                middle.push(heights[(j + bz + m) * wx + i + bx + m]);
            }
        }
        (change, middle)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::erosion::FeatureSet;
    use crate::erosion::test_field as field;

    /// A layer with made-up weights, varied by `salt`.
    fn made_up_layer(
        stage: Stage,
        (inputs, outputs): (usize, usize),
        (kernel, dilation): (usize, usize),
        salt: usize,
    ) -> ConvLayer {
        let n = outputs * inputs * kernel * kernel;
        ConvLayer {
            stage,
            inputs,
            outputs,
            kernel,
            dilation,
            weight: (0..n)
                .map(|i| ((i * 7 + salt) % 13) as f32 * 0.05 - 0.3)
                .collect(),
            bias: (0..outputs).map(|i| (i % 3) as f32 * 0.1 - 0.05).collect(),
        }
    }

    /// A small model with made-up weights: `hidden` channels, dilations 1 and 2, a 1x1 head.
    pub(crate) fn tiny_weights(hidden: usize) -> ErosionWeights {
        tiny_weights_reading(FeatureSet::default(), hidden)
    }

    /// The same, reading `features`.
    pub(crate) fn tiny_weights_reading(features: FeatureSet, hidden: usize) -> ErosionWeights {
        let f = features.inputs();
        ErosionWeights {
            spacing_m: 1.0,
            input_scale: 1.0,
            output_scale: 0.5,
            features,
            layers: vec![
                made_up_layer(Stage::Fine, (f, hidden), (3, 1), 1),
                made_up_layer(Stage::Fine, (hidden, hidden), (3, 2), 2),
                made_up_layer(Stage::Head, (hidden, 1), (1, 1), 3),
            ],
        }
    }

    /// A two-scale model with made-up weights: a fine layer (dilation 1), coarse layers
    /// (dilations 1 and 2), the up layer and two head layers.
    pub(crate) fn tiny_two_scale(hidden: usize) -> ErosionWeights {
        let features = FeatureSet::default();
        let (f, h) = (features.inputs(), hidden);
        ErosionWeights {
            spacing_m: 1.0,
            input_scale: 1.0,
            output_scale: 0.5,
            features,
            layers: vec![
                made_up_layer(Stage::Fine, (f, h), (3, 1), 1),
                made_up_layer(Stage::Coarse, (f, h), (3, 1), 2),
                made_up_layer(Stage::Coarse, (h, h), (3, 2), 3),
                made_up_layer(Stage::Up, (h, h), (2, 1), 4),
                made_up_layer(Stage::Head, (2 * h, h), (1, 1), 5),
                made_up_layer(Stage::Head, (h, 1), (1, 1), 6),
            ],
        }
    }

    #[test]
    fn a_two_scale_model_reaches_twice_as_far_with_its_coarse_layers() {
        let w = tiny_two_scale(3);
        let reach = w.reach();
        assert_eq!((reach.fine, reach.coarse, reach.branches), (1, 3, 6));
        assert_eq!(w.margin(), FeatureSet::default().reach() + 6);
        assert_eq!(ErosionNet::new(w).alignment(), 2);
        assert_eq!(ErosionNet::new(tiny_weights(3)).alignment(), 1);
    }

    #[test]
    fn two_scale_cells_depend_only_on_their_grid_index() {
        for weights in [tiny_two_scale(4), tiny_weights(4)] {
            let net = ErosionNet::new(weights);
            // The endless field, read anywhere by grid index.
            let noise = |x0: i64, z0: i64, nx: usize, nz: usize| {
                let (x0, z0) = ((x0 + 1000) as usize, (z0 + 1000) as usize);
                field(nx, nz, x0, z0)
            };
            let (big, _) = net.residual_at(noise, (-7, 3), (31, 26), 1.0);
            assert_eq!(big.len(), 31 * 26);
            assert!(
                big.iter().any(|v| *v != big[0]),
                "a flat residual proves nothing"
            );
            // Windows at odd and even places, of odd and even sizes, give the same bits.
            for (x0, z0, nx, nz) in [(-7, 3, 1, 1), (-6, 4, 2, 2), (-3, 8, 5, 3), (0, 10, 24, 19)] {
                let (small, heights) = net.residual_at(noise, (x0, z0), (nx, nz), 1.0);
                let expected = noise(x0, z0, nx, nz);
                for j in 0..nz {
                    for i in 0..nx {
                        let at = (j + (z0 - 3) as usize) * 31 + i + (x0 + 7) as usize;
                        assert_eq!(
                            small[j * nx + i].to_bits(),
                            big[at].to_bits(),
                            "{i},{j} of the window at {x0},{z0}"
                        );
                        assert_eq!(heights[j * nx + i], expected[j * nx + i]);
                    }
                }
            }
        }
    }

    #[test]
    fn two_scale_windows_of_odd_feature_sides_give_nothing() {
        let net = ErosionNet::new(tiny_two_scale(2));
        let n = 2 * net.margin() + 3;
        assert!(net.residual(&field(n, n, 0, 0), n, n, 1.0).is_empty());
        assert_eq!(
            net.residual(&field(n + 1, n + 1, 0, 0), n + 1, n + 1, 1.0)
                .len(),
            16
        );
    }

    #[test]
    fn margin_covers_the_receptive_field() {
        assert_eq!(
            ErosionNet::new(tiny_weights(4)).margin(),
            FeatureSet::default().reach() + 1 + 2
        );
    }

    #[test]
    fn a_cell_depends_only_on_the_noise_around_it() {
        let net = ErosionNet::new(tiny_weights(5));
        let m = net.margin();
        let (nx, nz) = (2 * m + 24, 2 * m + 20);
        let big = net.residual(&field(nx, nz, 0, 0), nx, nz, 1.0);
        let (bx, bz) = (nx - 2 * m, nz - 2 * m);
        assert_eq!(big.len(), bx * bz);
        // Windows at other places in the big one give the same bits for the same cells.
        for (x0, z0, nx, nz) in [(3, 5, 2 * m + 1, 2 * m + 4), (11, 0, 2 * m + 9, 2 * m + 2)] {
            let small = net.residual(&field(nx, nz, x0, z0), nx, nz, 1.0);
            let (sx, sz) = (nx - 2 * m, nz - 2 * m);
            for j in 0..sz {
                for i in 0..sx {
                    assert_eq!(
                        small[j * sx + i].to_bits(),
                        big[(j + z0) * bx + i + x0].to_bits(),
                        "{i},{j} of the window at {x0},{z0}"
                    );
                }
            }
        }
    }

    #[test]
    fn too_small_windows_give_nothing() {
        let net = ErosionNet::new(tiny_weights(2));
        let m = net.margin();
        assert!(
            net.residual(&field(2 * m, 2 * m, 0, 0), 2 * m, 2 * m, 1.0)
                .is_empty()
        );
        assert!(
            net.residual(&[1.0; 5], 2 * m + 1, 2 * m + 1, 1.0)
                .is_empty()
        );
        assert_eq!(
            net.residual(
                &field(2 * m + 1, 2 * m + 1, 0, 0),
                2 * m + 1,
                2 * m + 1,
                1.0
            )
            .len(),
            1
        );
    }

    #[test]
    fn flat_ground_changes_uniformly() {
        let net = ErosionNet::new(tiny_weights(3));
        let n = 2 * net.margin() + 8;
        let out = net.residual(&vec![12.0; n * n], n, n, 1.0);
        assert_eq!(out.len(), 64);
        assert!(out.iter().all(|v| v.to_bits() == out[0].to_bits()));
    }
}
