//! The learned erosion model's inference in plain Rust: input features from a noise heightfield,
//! then the convolutions, giving the height change (eroded minus noise) in metres.
//!
//! Why not burn here: a chunk's edge heights are computed by both chunks that share the edge, at
//! different places in their tiles, and must be equal to the bit. These loops compute every output
//! cell with the same operations in the same order wherever it lies in the tile (no padding, no
//! tiling of the reduction, no fused multiply-add), so a height depends only on the world-space
//! noise around it. burn trains the model ([`super::model`]) and is checked to agree closely.
//!
//! Layout: channel-major planes, rows of x fastest.

use aigc_world_kernels::conv::{ConvShape, conv2d_valid};

use super::features::features;
use super::weights::{ConvLayer, ErosionWeights};

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

    /// Height change in metres (eroded minus noise) for the `nx - 2m` x `nz - 2m` middle of an
    /// `nx` x `nz` window of noise heights (`m` = [`margin`](Self::margin)), `spacing` metres
    /// apart. Empty when the window is too small.
    pub fn residual(&self, heights: &[f32], nx: usize, nz: usize, spacing: f32) -> Vec<f32> {
        let w = &self.weights;
        let mut x = features(w.features, heights, nx, nz, spacing, w.input_scale);
        let reach = w.features.reach();
        let (mut cx, mut cz) = (nx.saturating_sub(2 * reach), nz.saturating_sub(2 * reach));
        let last = w.layers.len().saturating_sub(1);
        for (k, layer) in w.layers.iter().enumerate() {
            if x.is_empty() {
                return Vec::new();
            }
            (x, cx, cz) = conv(layer, &x, cx, cz, k != last);
        }
        let _ = (cx, cz);
        x.iter_mut().for_each(|v| *v *= w.output_scale);
        x
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::erosion::FeatureSet;
    use crate::erosion::test_field as field;

    /// A small model with made-up weights: `hidden` channels, dilations 1 and 2, a 1x1 head.
    pub(crate) fn tiny_weights(hidden: usize) -> ErosionWeights {
        tiny_weights_reading(FeatureSet::default(), hidden)
    }

    /// The same, reading `features`.
    pub(crate) fn tiny_weights_reading(features: FeatureSet, hidden: usize) -> ErosionWeights {
        let layer = |inputs: usize, outputs: usize, kernel: usize, dilation: usize, salt: usize| {
            let n = outputs * inputs * kernel * kernel;
            ConvLayer {
                inputs,
                outputs,
                kernel,
                dilation,
                weight: (0..n)
                    .map(|i| ((i * 7 + salt) % 13) as f32 * 0.05 - 0.3)
                    .collect(),
                bias: (0..outputs).map(|i| (i % 3) as f32 * 0.1 - 0.05).collect(),
            }
        };
        ErosionWeights {
            spacing_m: 1.0,
            input_scale: 1.0,
            output_scale: 0.5,
            features,
            layers: vec![
                layer(features.inputs(), hidden, 3, 1, 1),
                layer(hidden, hidden, 3, 2, 2),
                layer(hidden, 1, 1, 1, 3),
            ],
        }
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
