//! Fractal sums of octaves: fBm, ridged and billow.

use super::{Coords, fill_source, seed_mix};
use crate::config::{FractalKind, SourceKind};

/// Parameters of a fractal node.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FractalParams {
    /// How octaves combine.
    pub fractal: FractalKind,
    /// Which noise each octave samples.
    pub source: SourceKind,
    /// Number of octaves.
    pub octaves: u32,
    /// Frequency of the first octave.
    pub frequency: f64,
    /// Frequency multiplier per octave.
    pub lacunarity: f64,
    /// Amplitude multiplier per octave.
    pub gain: f64,
}

/// Fills `out` with the fractal over `coords`, normalised to about -1..=1. Octave `k` uses seed
/// `seed_mix(world_seed, node_seed, k)`.
pub fn fill_fractal(
    coords: &Coords,
    params: &FractalParams,
    world_seed: u64,
    node_seed: u32,
    out: &mut [f32],
) {
    out.fill(0.0);
    let mut frequency = params.frequency;
    let mut amplitude = 1.0f32;
    let mut total = 0.0f32;
    let gain = params.gain as f32;
    for octave in 0..params.octaves {
        let seed = seed_mix(world_seed, node_seed, octave);
        let a = amplitude;
        match params.fractal {
            FractalKind::Fbm => fill_source(params.source, coords, frequency, seed, out, |o, v| {
                *o += a * v
            }),
            FractalKind::Ridged => {
                fill_source(params.source, coords, frequency, seed, out, |o, v| {
                    let r = 1.0 - v.abs();
                    *o += a * r * r
                })
            }
            FractalKind::Billow => {
                fill_source(params.source, coords, frequency, seed, out, |o, v| {
                    *o += a * (2.0 * v.abs() - 1.0)
                })
            }
        }
        total += amplitude;
        frequency *= params.lacunarity;
        amplitude *= gain;
    }
    let norm = 1.0 / total;
    match params.fractal {
        // Ridges sum to 0..1; stretch to -1..1 like the others.
        FractalKind::Ridged => out.iter_mut().for_each(|o| *o = *o * norm * 2.0 - 1.0),
        _ => out.iter_mut().for_each(|o| *o *= norm),
    }
}
