//! CPU kernels for aigc_world's models (the language models' transformer, the erosion
//! network's convolutions), in safe Rust.
//!
//! A small Llama generating one token reads every weight once, so its speed is set by the bytes
//! it moves: weights stay in GGML's quantized block formats (the bytes of the GGUF file) and the
//! matrix products decode them inside the dot product. As llama.cpp does, the input vector is
//! quantized to 8 bits once per product (blocks of 32 or 256 with one scale each), so the inner
//! loop is an integer dot product: exact, and the same numbers llama.cpp computes.
//!
//! | module | what it is |
//! |---|---|
//! | [`half`] | IEEE half and bfloat16 conversions |
//! | [`format`] | the block formats and a validated view of a weight matrix |
//! | [`dequant`] | decoding blocks to `f32` (the reference the fused products are tested against) |
//! | [`quantize`] | encoding weights (for tests and tools) and activations (for the products) |
//! | [`matmul`] | fused quantized matrix products, one or several input vectors at a time |
//! | [`conv`] | dilated convolutions without padding, bit-identical whatever the lanes (the erosion model) |
//! | [`ops`] | the rest of a transformer layer: RMSNorm, rotary positions, attention over an `f16` cache, SwiGLU |
//!
//! SIMD: AVX2 + FMA (x86-64-v3) through `pulp`, chosen at run time; every kernel has a portable
//! scalar twin that tests compare it with. This crate is its own package so that its loops are
//! optimised even in the dev profile (`opt-level = 3` for it alone), which keeps tests that run
//! a real model fast.

pub mod conv;
pub mod dequant;
pub mod format;
pub mod half;
pub mod matmul;
pub mod ops;
pub mod quantize;
mod scalar;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use format::{Format, MatrixRef, ShapeError};
pub use matmul::{Activations, matmul};
