//! Erosion: terrain that looks carved by water, from a reference simulator and a learned model
//! that imitates it.
//!
//! | piece | what it is |
//! |---|---|
//! | [`sim`] | the reference simulator: droplet hydraulic erosion plus thermal erosion on a [`HeightTile`], deterministic, slow; ground truth and training data |
//! | [`features`] | the learned model's inputs from noise heights: slopes, relief, fill depth, peak height |
//! | [`flow`] | flow accumulation along paths of bounded length: where water runs, the same in every window |
//! | [`net`] | the learned model's inference in plain Rust: bit-identical for a cell wherever it sits in a tile, so chunks meet without seams |
//! | [`weights`] | the `.erosion` weights file |
//! | [`model`] | the same network in burn, generic over the backend, and its training on simulator pairs |
//! | [`pairs`] | training pairs from a world's noise graph and the simulator |
//! | [`preview`] | hillshade pictures of heightfields |
//! | [`ErosionModelKind`] | `*.erosion` files as a [file kind](crate::kinds) |
//!
//! The model maps the noise heightfield (through [`features`]) to the height change
//! the simulator would make (a residual), so the world is `noise + strength * model(noise)`.
//! Everything here is pure: no Bevy types, no threads.

pub mod features;
pub mod flow;
pub mod model;
pub mod net;
pub mod pairs;
pub mod preview;
pub mod sim;
pub mod weights;

use bevy::reflect::TypePath;

pub use features::FeatureSet;
pub use net::ErosionNet;
pub use sim::{ErosionParams, HeightTile, erode, height_hash};
pub use weights::{ConvLayer, ErosionWeights, ErosionWeightsError, Reach, Stage};

use crate::config::{ConfigError, ConfigErrorKind};
use crate::kinds::{self, FileKind};

/// A smooth, uneven `nx` x `nz` heightfield whose first sample is at `(x0, z0)` of an endless
/// one: windows of it at other places share their values, as windows of the world do.
#[cfg(test)]
pub(crate) fn test_field(nx: usize, nz: usize, x0: usize, z0: usize) -> Vec<f32> {
    (0..nx * nz)
        .map(|k| {
            let (x, z) = ((k % nx + x0) as f32, (k / nx + z0) as f32);
            (x * 0.21).sin() * 7.0 + (z * 0.13).cos() * 5.0 + (x * z * 0.01).sin()
        })
        .collect()
}

/// Learned erosion models, `*.erosion` ([`ErosionWeights`]). Binary: errors name the byte (line
/// 1, column = byte offset + 1).
#[derive(Clone, Copy, Debug, Default, TypePath)]
pub struct ErosionModelKind;

impl FileKind for ErosionModelKind {
    type Value = ErosionWeights;
    const NAME: &'static str = "erosion model";
    const EXTENSIONS: &'static [&'static str] = &["erosion"];

    fn parse(bytes: &[u8], file: &str) -> Result<ErosionWeights, ConfigError> {
        ErosionWeights::from_bytes_located(bytes).map_err(|(at, e)| {
            kinds::at_byte(
                file,
                at,
                ConfigErrorKind::Invalid(format!("{e} (at byte {at})")),
            )
        })
    }
}
