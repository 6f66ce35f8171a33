//! Dilated 2-D convolutions without padding, for the learned erosion model.
//!
//! Each output cell starts from its bias and adds `weight * input` tap by tap in the order
//! (input channel, kernel row, kernel column), a separate multiply and add each, never a fused
//! multiply-add: IEEE 754 rounds every one the same way whatever the number of lanes, so the
//! AVX2 build (eight lanes) gives the bits of the portable one (four lanes of SSE2, or one), and
//! a cell's value depends only on the input around it, wherever it lies in the plane. The
//! erosion model needs that: two chunks compute their shared edge at different places in their
//! windows and must agree to the bit.

/// One convolution layer's shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    /// Input planes.
    pub inputs: usize,
    /// Output planes.
    pub outputs: usize,
    /// Kernel side (square).
    pub kernel: usize,
    /// Distance between taps.
    pub dilation: usize,
}

impl ConvShape {
    /// Cells the output loses on each axis: `(kernel - 1) * dilation`.
    pub fn span(&self) -> usize {
        self.kernel.saturating_sub(1) * self.dilation
    }
}

/// The valid (unpadded) convolution of `input`, `shape.inputs` planes of `nx` x `nz` (rows of x
/// fastest), with `weight` laid out `[output][input][row][column]` and one `bias` per output; a
/// ReLU when `relu`. Returns the output planes and their size, `nx - span` x `nz - span`, or
/// nothing when the input is not larger than the span.
///
/// # Panics
/// If `weight`, `bias` or `input` is shorter than the shape needs.
pub fn conv2d_valid(
    shape: ConvShape,
    weight: &[f32],
    bias: &[f32],
    input: &[f32],
    (nx, nz): (usize, usize),
    relu: bool,
) -> (Vec<f32>, usize, usize) {
    let ConvShape {
        inputs,
        outputs,
        kernel,
        ..
    } = shape;
    assert!(weight.len() >= outputs * inputs * kernel * kernel && bias.len() >= outputs);
    assert!(input.len() >= inputs * nx * nz);
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = pulp::x86::V3::try_new() {
        struct Run<'a> {
            shape: ConvShape,
            weight: &'a [f32],
            bias: &'a [f32],
            input: &'a [f32],
            size: (usize, usize),
            relu: bool,
        }
        impl pulp::NullaryFnOnce for Run<'_> {
            type Output = (Vec<f32>, usize, usize);
            #[inline(always)]
            fn call(self) -> Self::Output {
                conv_body(
                    self.shape,
                    self.weight,
                    self.bias,
                    self.input,
                    self.size,
                    self.relu,
                )
            }
        }
        return simd.vectorize(Run {
            shape,
            weight,
            bias,
            input,
            size: (nx, nz),
            relu,
        });
    }
    conv_body(shape, weight, bias, input, (nx, nz), relu)
}

/// [`conv2d_valid`] without run-time dispatch: the build's baseline instructions.
pub fn conv2d_valid_portable(
    shape: ConvShape,
    weight: &[f32],
    bias: &[f32],
    input: &[f32],
    size: (usize, usize),
    relu: bool,
) -> (Vec<f32>, usize, usize) {
    conv_body(shape, weight, bias, input, size, relu)
}

#[inline(always)]
fn conv_body(
    shape: ConvShape,
    weight: &[f32],
    bias: &[f32],
    input: &[f32],
    (nx, nz): (usize, usize),
    relu: bool,
) -> (Vec<f32>, usize, usize) {
    let span = shape.span();
    if nx <= span || nz <= span {
        return (Vec::new(), 0, 0);
    }
    let (ox, oz) = (nx - span, nz - span);
    let (k, d) = (shape.kernel, shape.dilation);
    let mut out = vec![0.0f32; shape.outputs * ox * oz];
    for (o, plane) in out.chunks_exact_mut(ox * oz).enumerate() {
        plane.iter_mut().for_each(|v| *v = bias[o]);
        for c in 0..shape.inputs {
            let src = &input[c * nx * nz..(c + 1) * nx * nz];
            for ky in 0..k {
                for kx in 0..k {
                    let w = weight[((o * shape.inputs + c) * k + ky) * k + kx];
                    for (j, row) in plane.chunks_exact_mut(ox).enumerate() {
                        let start = (j + ky * d) * nx + kx * d;
                        for (v, s) in row.iter_mut().zip(&src[start..start + ox]) {
                            *v += w * s;
                        }
                    }
                }
            }
        }
        if relu {
            plane.iter_mut().for_each(|v| *v = v.max(0.0));
        }
    }
    (out, ox, oz)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values of every magnitude and sign, from a small generator.
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let m = ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5;
                m * [0.01f32, 1.0, 37.0, 1e4][(s >> 20) as usize % 4]
            })
            .collect()
    }

    #[test]
    fn the_dispatched_convolution_has_the_portable_bits() {
        for (shape, nx, nz, relu) in [
            (
                ConvShape {
                    inputs: 5,
                    outputs: 16,
                    kernel: 3,
                    dilation: 1,
                },
                41,
                37,
                true,
            ),
            (
                ConvShape {
                    inputs: 16,
                    outputs: 16,
                    kernel: 3,
                    dilation: 8,
                },
                50,
                29,
                true,
            ),
            (
                ConvShape {
                    inputs: 16,
                    outputs: 1,
                    kernel: 1,
                    dilation: 1,
                },
                19,
                23,
                false,
            ),
        ] {
            let weight = values(
                shape.outputs * shape.inputs * shape.kernel * shape.kernel,
                1,
            );
            let bias = values(shape.outputs, 2);
            let input = values(shape.inputs * nx * nz, 3);
            let (a, ax, az) = conv2d_valid(shape, &weight, &bias, &input, (nx, nz), relu);
            let (b, bx, bz) = conv2d_valid_portable(shape, &weight, &bias, &input, (nx, nz), relu);
            assert_eq!((ax, az), (bx, bz));
            assert_eq!((ax, az), (nx - shape.span(), nz - shape.span()));
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&a), bits(&b), "{shape:?}");
        }
    }

    #[test]
    fn a_cell_is_its_bias_plus_each_tap_in_order() {
        let shape = ConvShape {
            inputs: 2,
            outputs: 1,
            kernel: 2,
            dilation: 2,
        };
        let (nx, nz) = (4, 3);
        let input: Vec<f32> = (0..2 * nx * nz).map(|k| k as f32).collect();
        let weight = [1.0, 2.0, 3.0, 4.0, 0.5, 0.25, -1.0, 2.0];
        let (out, ox, oz) = conv2d_valid(shape, &weight, &[10.0], &input, (nx, nz), false);
        assert_eq!((ox, oz), (2, 1));
        // Cell (1, 0): taps at x 1 and 3, rows 0 and 2, of both planes.
        let at = |c: usize, x: usize, z: usize| input[c * nx * nz + z * nx + x];
        let mut expected = 10.0f32;
        for (c, taps) in [(0, [1.0, 2.0, 3.0, 4.0]), (1, [0.5, 0.25, -1.0, 2.0])] {
            expected += taps[0] * at(c, 1, 0);
            expected += taps[1] * at(c, 3, 0);
            expected += taps[2] * at(c, 1, 2);
            expected += taps[3] * at(c, 3, 2);
        }
        assert_eq!(out[1], expected);
        assert!(
            conv2d_valid(shape, &weight, &[0.0], &input[..8], (2, 2), false)
                .0
                .is_empty()
        );
    }
}
