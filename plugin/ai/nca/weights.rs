//! The `.nca` weights file: a small header, the parameters as little-endian `f32`, and a
//! checksum, so a truncated or corrupted file is rejected with a reason instead of producing
//! garbage. Pure Rust, no burn.
//!
//! Layout: magic `AIGCNCA\0`, `u32` version (1), `u32` channels, `u32` hidden, `u32` steps,
//! `f32` fire rate, `u32` parameter count, the parameters (`w1` `[4 * channels, hidden]`
//! row-major, `b1` `[hidden]`, `w2` `[hidden, channels]`), then the FNV-1a 64 hash of all bytes
//! before it.

use thiserror::Error;

const MAGIC: &[u8; 8] = b"AIGCNCA\0";
const VERSION: u32 = 1;
const HEADER: usize = 8 + 4 * 6;

/// Fixed perception filters per channel: identity, Sobel x, Sobel y, Laplacian.
pub const FILTERS: usize = 4;

/// The parameters of a trained texture NCA, in plain vectors.
#[derive(Clone, Debug, PartialEq)]
pub struct NcaWeights {
    /// State channels per cell; the first three are the colour.
    pub channels: usize,
    /// Width of the hidden layer of the update rule.
    pub hidden: usize,
    /// Update steps to grow a texture from an empty state.
    pub steps: u32,
    /// Probability that a cell updates in a step.
    pub fire_rate: f32,
    /// First layer, `[4 * channels, hidden]` row-major.
    pub w1: Vec<f32>,
    /// First layer bias, `[hidden]`.
    pub b1: Vec<f32>,
    /// Second layer, `[hidden, channels]` row-major.
    pub w2: Vec<f32>,
}

/// Why weights could not be read.
#[derive(Clone, Debug, PartialEq, Error)]
#[non_exhaustive]
pub enum WeightsError {
    /// Fewer bytes than the header and parameters need.
    #[error("file too short ({0} bytes): truncated or not a weights file")]
    TooShort(usize),
    /// The file does not start with the magic bytes.
    #[error("not an NCA weights file (bad magic bytes)")]
    BadMagic,
    /// A newer format than this build reads.
    #[error("unsupported weights format version {0} (this build reads version 1)")]
    Version(u32),
    /// Sizes in the header are implausible or do not match the parameter count.
    #[error("bad shape: {0}")]
    Shape(String),
    /// The bytes were changed after writing.
    #[error("checksum mismatch: the file is corrupted")]
    Checksum,
    /// A parameter is NaN or infinite.
    #[error("parameter {0} is not finite")]
    NonFinite(usize),
}

impl NcaWeights {
    /// Number of parameters for a shape.
    pub fn param_count(channels: usize, hidden: usize) -> usize {
        FILTERS * channels * hidden + hidden + hidden * channels
    }

    /// Serialises to the `.nca` format.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + 4 * self.w1.len() * 2 + 8);
        out.extend_from_slice(MAGIC);
        for v in [
            VERSION,
            self.channels as u32,
            self.hidden as u32,
            self.steps,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&self.fire_rate.to_le_bytes());
        let count = self.w1.len() + self.b1.len() + self.w2.len();
        out.extend_from_slice(&(count as u32).to_le_bytes());
        for v in self.w1.iter().chain(&self.b1).chain(&self.w2) {
            out.extend_from_slice(&v.to_le_bytes());
        }
        let hash = fnv1a(&out);
        out.extend_from_slice(&hash.to_le_bytes());
        out
    }

    /// Reads the `.nca` format, checking magic, version, shape, checksum and values.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WeightsError> {
        Self::from_bytes_located(bytes).map_err(|(_, e)| e)
    }

    /// [`from_bytes`](Self::from_bytes), with the byte offset an error is found at: the field
    /// of the header, the parameter, the checksum, or the end of a file of the wrong length.
    pub fn from_bytes_located(bytes: &[u8]) -> Result<Self, (usize, WeightsError)> {
        if bytes.len() >= MAGIC.len() && &bytes[..MAGIC.len()] != MAGIC {
            return Err((0, WeightsError::BadMagic));
        }
        if bytes.len() < HEADER + 8 {
            return Err((bytes.len(), WeightsError::TooShort(bytes.len())));
        }
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap_or([0; 4]));
        let version = u32_at(8);
        if version != VERSION {
            return Err((8, WeightsError::Version(version)));
        }
        let (channels, hidden, steps) = (u32_at(12) as usize, u32_at(16) as usize, u32_at(20));
        let fire_rate = f32::from_bits(u32_at(24));
        let count = u32_at(28) as usize;
        if !(4..=64).contains(&channels) || !(1..=1024).contains(&hidden) {
            return Err((
                12,
                WeightsError::Shape(format!(
                    "{channels} channels and {hidden} hidden units (expected 4..=64 and 1..=1024)"
                )),
            ));
        }
        if !((1..=10_000).contains(&steps) && fire_rate > 0.0 && fire_rate <= 1.0) {
            return Err((
                20,
                WeightsError::Shape(format!(
                    "{steps} steps, fire rate {fire_rate} (expected 1..=10000 and 0..1)"
                )),
            ));
        }
        let expected = Self::param_count(channels, hidden);
        if count != expected {
            return Err((
                28,
                WeightsError::Shape(format!(
                    "{count} parameters, {expected} expected for {channels} channels x {hidden} hidden"
                )),
            ));
        }
        let end = HEADER + 4 * count;
        if bytes.len() < end + 8 {
            return Err((bytes.len(), WeightsError::TooShort(bytes.len())));
        }
        if bytes.len() != end + 8 {
            return Err((
                end + 8,
                WeightsError::Shape(format!("{} bytes, {} expected", bytes.len(), end + 8)),
            ));
        }
        let stored = u64::from_le_bytes(bytes[end..end + 8].try_into().unwrap_or([0; 8]));
        if stored != fnv1a(&bytes[..end]) {
            return Err((end, WeightsError::Checksum));
        }
        let params: Vec<f32> = bytes[HEADER..end]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if let Some(bad) = params.iter().position(|v| !v.is_finite()) {
            return Err((HEADER + 4 * bad, WeightsError::NonFinite(bad)));
        }
        let (w1, rest) = params.split_at(FILTERS * channels * hidden);
        let (b1, w2) = rest.split_at(hidden);
        Ok(Self {
            channels,
            hidden,
            steps,
            fire_rate,
            w1: w1.to_vec(),
            b1: b1.to_vec(),
            w2: w2.to_vec(),
        })
    }

    /// A stable 64-bit fingerprint of the parameters (the file's checksum), for caches and logs.
    pub fn fingerprint(&self) -> u64 {
        let bytes = self.to_bytes();
        fnv1a(&bytes[..bytes.len() - 8])
    }
}

/// FNV-1a, 64 bit: tiny, dependency-free, good enough to catch corruption (not tampering).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> NcaWeights {
        let (c, h) = (8, 4);
        NcaWeights {
            channels: c,
            hidden: h,
            steps: 32,
            fire_rate: 0.5,
            w1: (0..FILTERS * c * h).map(|i| i as f32 * 0.01).collect(),
            b1: vec![0.1; h],
            w2: vec![-0.2; h * c],
        }
    }

    #[test]
    fn round_trips() {
        let w = sample();
        assert_eq!(NcaWeights::from_bytes(&w.to_bytes()).unwrap(), w);
    }

    #[test]
    fn rejects_damage_with_a_reason() {
        let bytes = sample().to_bytes();
        assert_eq!(
            NcaWeights::from_bytes(&bytes[..20]),
            Err(WeightsError::TooShort(20))
        );
        assert_eq!(
            NcaWeights::from_bytes(b"PNG not weights at all, definitely not"),
            Err(WeightsError::BadMagic)
        );
        let mut flipped = bytes.clone();
        flipped[HEADER + 5] ^= 0x10;
        assert_eq!(
            NcaWeights::from_bytes(&flipped),
            Err(WeightsError::Checksum)
        );
        let cut = &bytes[..bytes.len() - 12];
        assert!(NcaWeights::from_bytes(cut).is_err());
    }

    #[test]
    fn errors_say_which_byte() {
        let bytes = sample().to_bytes();
        let at = |b: &[u8]| NcaWeights::from_bytes_located(b).unwrap_err().0;
        assert_eq!(at(&bytes[..20]), 20);
        let mut version = bytes.clone();
        version[8] = 9;
        assert_eq!(at(&version), 8);
        let mut flipped = bytes.clone();
        flipped[HEADER + 5] ^= 0x10;
        assert_eq!(at(&flipped), bytes.len() - 8);
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(at(&longer), bytes.len());
    }
}
