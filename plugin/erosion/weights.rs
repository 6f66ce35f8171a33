//! The `.erosion` weights file: a small header, the layers' shapes, the parameters as
//! little-endian `f32`, and a checksum, so a truncated or corrupted file is rejected with the byte
//! it goes wrong at instead of eroding the world into garbage. Pure Rust, no burn.
//!
//! Layout: magic `AIGCERO\0`, `u32` version (2), `f32` grid spacing trained at (metres),
//! `f32` input scale, `f32` output scale (metres per unit of output), `u32` feature set
//! ([`FeatureSet::id`]), `u32` layer count, then per layer `u32` inputs, outputs, kernel (1 or 3)
//! and dilation; then every layer's weights (`[outputs, inputs, kernel, kernel]` row-major) and
//! biases (`[outputs]`), then the FNV-1a 64 hash of all bytes before it. Version 1 files have no
//! feature set field and read [`FeatureSet::SlopeRelief`].

use thiserror::Error;

use super::features::FeatureSet;

const MAGIC: &[u8; 8] = b"AIGCERO\0";
const VERSION: u32 = 2;
/// Bytes before the first layer's shape, in version 2 (version 1: four fewer).
const FIXED: usize = 8 + 4 * 6;

/// One convolution: `outputs` filters of `inputs` x `kernel` x `kernel` taps `dilation` cells
/// apart, without padding.
#[derive(Clone, Debug, PartialEq)]
pub struct ConvLayer {
    /// Input channels.
    pub inputs: usize,
    /// Output channels.
    pub outputs: usize,
    /// Side of the square kernel: 1 or 3.
    pub kernel: usize,
    /// Cells between taps (1 = neighbours).
    pub dilation: usize,
    /// `[outputs, inputs, kernel, kernel]` row-major.
    pub weight: Vec<f32>,
    /// `[outputs]`.
    pub bias: Vec<f32>,
}

impl ConvLayer {
    /// Cells the layer reads beyond each side of an output cell.
    pub fn reach(&self) -> usize {
        (self.kernel / 2) * self.dilation
    }
}

/// The parameters of a learned erosion model.
#[derive(Clone, Debug, PartialEq)]
pub struct ErosionWeights {
    /// Metres between grid samples in the training data; the model expects the same grid.
    pub spacing_m: f32,
    /// Multiplies the input features (slopes and relief, in metres per metre and metres).
    pub input_scale: f32,
    /// Metres of height change per unit of the network's output.
    pub output_scale: f32,
    /// The input features the first layer reads.
    pub features: FeatureSet,
    /// The layers, first to last; a ReLU follows every layer but the last.
    pub layers: Vec<ConvLayer>,
}

/// Why weights could not be read.
#[derive(Clone, Debug, PartialEq, Error)]
#[non_exhaustive]
pub enum ErosionWeightsError {
    /// Fewer bytes than the header and parameters need.
    #[error("file too short ({0} bytes): truncated or not an erosion model")]
    TooShort(usize),
    /// The file does not start with the magic bytes.
    #[error("not an erosion model (bad magic bytes)")]
    BadMagic,
    /// A newer format than this build reads.
    #[error("unsupported erosion model version {0} (this build reads versions 1 and 2)")]
    Version(u32),
    /// Sizes in the header are implausible or do not chain.
    #[error("bad shape: {0}")]
    Shape(String),
    /// The bytes were changed after writing.
    #[error("checksum mismatch: the file is corrupted")]
    Checksum,
    /// A parameter or scale is NaN or infinite.
    #[error("value {0} is not finite")]
    NonFinite(usize),
}

impl ErosionWeights {
    /// Cells of input the model reads beyond each side of its output (features included).
    pub fn margin(&self) -> usize {
        self.features.reach() + self.layers.iter().map(ConvLayer::reach).sum::<usize>()
    }

    /// Number of parameters.
    pub fn param_count(&self) -> usize {
        self.layers
            .iter()
            .map(|l| l.weight.len() + l.bias.len())
            .sum()
    }

    /// Serialises to the `.erosion` format.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(FIXED + 16 * self.layers.len() + 4 * self.param_count());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        for v in [self.spacing_m, self.input_scale, self.output_scale] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&self.features.id().to_le_bytes());
        out.extend_from_slice(&(self.layers.len() as u32).to_le_bytes());
        for l in &self.layers {
            for v in [l.inputs, l.outputs, l.kernel, l.dilation] {
                out.extend_from_slice(&(v as u32).to_le_bytes());
            }
        }
        for l in &self.layers {
            for v in l.weight.iter().chain(&l.bias) {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        let hash = fnv1a(&out);
        out.extend_from_slice(&hash.to_le_bytes());
        out
    }

    /// Reads the `.erosion` format, with the byte offset an error is found at.
    pub fn from_bytes_located(bytes: &[u8]) -> Result<Self, (usize, ErosionWeightsError)> {
        use ErosionWeightsError as E;
        if bytes.len() >= MAGIC.len() && &bytes[..MAGIC.len()] != MAGIC {
            return Err((0, E::BadMagic));
        }
        let u32_at = |at: usize| {
            bytes
                .get(at..at + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        let version = u32_at(8).unwrap_or(0);
        if bytes.len() >= 12 && !(1..=VERSION).contains(&version) {
            return Err((8, E::Version(version)));
        }
        let fixed = if version == 1 { FIXED - 4 } else { FIXED };
        if bytes.len() < fixed + 8 {
            return Err((bytes.len(), E::TooShort(bytes.len())));
        }
        let scales: Vec<f32> = [12, 16, 20]
            .iter()
            .map(|&at| f32::from_bits(u32_at(at).unwrap_or(0)))
            .collect();
        for (k, s) in scales.iter().enumerate() {
            if !(s.is_finite() && *s > 0.0) {
                return Err((12 + 4 * k, E::Shape(format!("scale {s} must be positive"))));
            }
        }
        let features = if version == 1 {
            FeatureSet::SlopeRelief
        } else {
            let id = u32_at(24).unwrap_or(0);
            FeatureSet::from_id(id)
                .ok_or((24, E::Shape(format!("unknown feature set {id} (1 or 2)"))))?
        };
        let count = u32_at(fixed - 4).unwrap_or(0) as usize;
        if !(1..=8).contains(&count) {
            return Err((
                fixed - 4,
                E::Shape(format!("{count} layers (expected 1..=8)")),
            ));
        }
        let mut shapes = Vec::with_capacity(count);
        let mut previous = features.inputs();
        for k in 0..count {
            let at = fixed + 16 * k;
            let field = |f: usize| u32_at(at + 4 * f).map(|v| v as usize);
            let (Some(inputs), Some(outputs), Some(kernel), Some(dilation)) =
                (field(0), field(1), field(2), field(3))
            else {
                return Err((bytes.len(), E::TooShort(bytes.len())));
            };
            let last = k + 1 == count;
            let problem = if inputs != previous {
                Some(format!(
                    "layer {k} takes {inputs} channels, {previous} arrive"
                ))
            } else if !(1..=64).contains(&outputs) || (last && outputs != 1) {
                Some(format!(
                    "layer {k} has {outputs} outputs (1..=64, and the last exactly 1)"
                ))
            } else if !(kernel == 1 || kernel == 3) || !(1..=16).contains(&dilation) {
                Some(format!(
                    "layer {k}: kernel {kernel}, dilation {dilation} (kernel 1 or 3, dilation 1..=16)"
                ))
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err((at, E::Shape(problem)));
            }
            previous = outputs;
            shapes.push((inputs, outputs, kernel, dilation));
        }
        let params: usize = shapes.iter().map(|(i, o, k, _)| o * i * k * k + o).sum();
        let start = fixed + 16 * count;
        let end = start + 4 * params;
        if bytes.len() != end + 8 {
            let at = bytes.len().min(end + 8);
            return Err((
                at,
                E::Shape(format!(
                    "{} bytes where the layers need {}",
                    bytes.len(),
                    end + 8
                )),
            ));
        }
        let stored = u64::from_le_bytes(bytes[end..end + 8].try_into().unwrap_or([0; 8]));
        if stored != fnv1a(&bytes[..end]) {
            return Err((end, E::Checksum));
        }
        let mut values = Vec::with_capacity(params);
        for (k, chunk) in bytes[start..end].chunks_exact(4).enumerate() {
            let v = f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            if !v.is_finite() {
                return Err((start + 4 * k, E::NonFinite(k)));
            }
            values.push(v);
        }
        let mut rest = values.as_slice();
        let mut take = |n: usize| {
            let (head, tail) = rest.split_at(n);
            rest = tail;
            head.to_vec()
        };
        let layers = shapes
            .into_iter()
            .map(|(inputs, outputs, kernel, dilation)| ConvLayer {
                inputs,
                outputs,
                kernel,
                dilation,
                weight: take(outputs * inputs * kernel * kernel),
                bias: take(outputs),
            })
            .collect();
        Ok(Self {
            spacing_m: scales[0],
            input_scale: scales[1],
            output_scale: scales[2],
            features,
            layers,
        })
    }

    /// [`from_bytes_located`](Self::from_bytes_located) without the position.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ErosionWeightsError> {
        Self::from_bytes_located(bytes).map_err(|(_, e)| e)
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn small() -> ErosionWeights {
        super::super::net::tests::tiny_weights(3)
    }

    #[test]
    fn weights_round_trip() {
        let w = small();
        assert_eq!(ErosionWeights::from_bytes(&w.to_bytes()), Ok(w));
    }

    #[test]
    fn damage_is_reported_at_its_byte() {
        let bytes = small().to_bytes();
        let at = |b: &[u8]| ErosionWeights::from_bytes_located(b).unwrap_err();
        let mut magic = bytes.clone();
        magic[1] = b'x';
        assert_eq!(at(&magic), (0, ErosionWeightsError::BadMagic));
        assert!(matches!(
            at(&bytes[..bytes.len() - 3]).1,
            ErosionWeightsError::Shape(_)
        ));
        assert!(matches!(
            at(&bytes[..10]),
            (10, ErosionWeightsError::TooShort(10))
        ));
        let mut flipped = bytes.clone();
        flipped[bytes.len() - 20] ^= 1;
        assert_eq!(
            at(&flipped),
            (bytes.len() - 8, ErosionWeightsError::Checksum)
        );
        let mut chain = bytes.clone();
        chain[FIXED + 16] = 9; // second layer's inputs
        assert_eq!(at(&chain).0, FIXED + 16);
        for cut in 0..bytes.len() {
            assert!(ErosionWeights::from_bytes(&bytes[..cut]).is_err());
        }
    }

    #[test]
    fn version_1_files_read_as_slope_and_relief_models() {
        let w = super::super::net::tests::tiny_weights_reading(FeatureSet::SlopeRelief, 3);
        let v2 = w.to_bytes();
        // Version 1: no feature set field.
        let mut v1 = v2[..8].to_vec();
        v1.extend_from_slice(&1u32.to_le_bytes());
        v1.extend_from_slice(&v2[12..24]);
        v1.extend_from_slice(&v2[28..v2.len() - 8]);
        let hash = fnv1a(&v1);
        v1.extend_from_slice(&hash.to_le_bytes());
        assert_eq!(ErosionWeights::from_bytes(&v1), Ok(w));
        // A feature set this build does not know is named where it is.
        let mut unknown = v2.clone();
        unknown[24] = 7;
        assert!(matches!(
            ErosionWeights::from_bytes_located(&unknown),
            Err((24, ErosionWeightsError::Shape(_)))
        ));
    }
}
