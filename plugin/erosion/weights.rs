//! The `.erosion` weights file: a small header, the layers' shapes, the parameters as
//! little-endian `f32`, and a checksum, so a truncated or corrupted file is rejected with the byte
//! it goes wrong at instead of eroding the world into garbage. Pure Rust, no burn.
//!
//! Layout: magic `AIGCERO\0`, `u32` version (3), `f32` grid spacing trained at (metres),
//! `f32` input scale, `f32` output scale (metres per unit of output), `u32` feature set
//! ([`FeatureSet::id`]), `u32` layer count, then per layer `u32` inputs, outputs, kernel (1, 2 or
//! 3), dilation and [`Stage`]; then every layer's weights (`[outputs, inputs, kernel, kernel]`
//! row-major; a [`Stage::Up`] layer's are `[inputs, outputs, 2, 2]`) and biases (`[outputs]`),
//! then the FNV-1a 64 hash of all bytes before it. Version 2 files have no stage field: every
//! layer is [`Stage::Fine`] but the last, the [`Stage::Head`]. Version 1 files also have no
//! feature set field and read [`FeatureSet::SlopeRelief`].

use thiserror::Error;

use super::features::FeatureSet;

const MAGIC: &[u8; 8] = b"AIGCERO\0";
const VERSION: u32 = 3;
/// Bytes before the first layer's shape, in versions 2 and 3 (version 1: four fewer).
const FIXED: usize = 8 + 4 * 6;

/// Where a layer sits in the network. Layers come in this order: fine, coarse, one up layer
/// when there are coarse ones, head.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Stage {
    /// On the full-detail grid: the first reads the features, each later one the layer before.
    #[default]
    Fine,
    /// On the half-detail grid of 2x2 means of the features, whose squares start at even grid
    /// indices of the world (so every window agrees on them): the first reads those means, each
    /// later one the layer before. Reaches twice as far per tap as a fine layer.
    Coarse,
    /// A 2x2 transposed convolution with stride 2: each coarse cell gives its 2x2 square of
    /// full-detail cells.
    Up,
    /// On the last fine layer's channels followed by the up layer's, where both cover; the last
    /// head layer gives the one output.
    Head,
}

impl Stage {
    const fn id(self) -> u32 {
        match self {
            Self::Fine => 0,
            Self::Coarse => 1,
            Self::Up => 2,
            Self::Head => 3,
        }
    }

    const fn from_id(id: u32) -> Option<Self> {
        match id {
            0 => Some(Self::Fine),
            1 => Some(Self::Coarse),
            2 => Some(Self::Up),
            3 => Some(Self::Head),
            _ => None,
        }
    }
}

/// One convolution: `outputs` filters of `inputs` x `kernel` x `kernel` taps `dilation` cells
/// apart, without padding (or, at [`Stage::Up`], a 2x2 transposed convolution with stride 2).
#[derive(Clone, Debug, PartialEq)]
pub struct ConvLayer {
    /// Where the layer sits.
    pub stage: Stage,
    /// Input channels.
    pub inputs: usize,
    /// Output channels.
    pub outputs: usize,
    /// Side of the square kernel: 1 or 3 (2 at [`Stage::Up`]).
    pub kernel: usize,
    /// Cells between taps (1 = neighbours).
    pub dilation: usize,
    /// `[outputs, inputs, kernel, kernel]` row-major (`[inputs, outputs, 2, 2]` at
    /// [`Stage::Up`]).
    pub weight: Vec<f32>,
    /// `[outputs]`.
    pub bias: Vec<f32>,
}

impl ConvLayer {
    /// Cells of its own grid the layer reads beyond each side of an output cell (none for an
    /// up layer).
    pub fn reach(&self) -> usize {
        if self.stage == Stage::Up {
            0
        } else {
            (self.kernel / 2) * self.dilation
        }
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
    /// The layers, first to last, in [`Stage`] order; a ReLU follows every layer but the last.
    pub layers: Vec<ConvLayer>,
}

/// How far an [`ErosionWeights`]' layers reach, in full-detail cells beyond the features.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reach {
    /// The fine layers' reach.
    pub fine: usize,
    /// The coarse layers' reach in coarse cells (0 without a coarse branch).
    pub coarse: usize,
    /// Where the head's input starts: the larger of the fine reach and twice the coarse one.
    pub branches: usize,
    /// The head layers' reach.
    pub head: usize,
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
    #[error("unsupported erosion model version {0} (this build reads versions 1 to 3)")]
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
        let r = self.reach();
        self.features.reach() + r.branches + r.head
    }

    /// The layers' reach, branch by branch.
    pub fn reach(&self) -> Reach {
        let sum = |stage: Stage| -> usize {
            self.layers
                .iter()
                .filter(|l| l.stage == stage)
                .map(ConvLayer::reach)
                .sum()
        };
        let (fine, coarse) = (sum(Stage::Fine), sum(Stage::Coarse));
        Reach {
            fine,
            coarse,
            branches: fine.max(2 * coarse),
            head: sum(Stage::Head),
        }
    }

    /// Whether the model has a coarse branch, whose 2x2 squares start at even grid indices: its
    /// feature planes must then start at an even index (see
    /// [`ErosionNet::residual`](super::ErosionNet::residual)).
    pub fn is_two_scale(&self) -> bool {
        self.layers.iter().any(|l| l.stage == Stage::Coarse)
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
            out.extend_from_slice(&l.stage.id().to_le_bytes());
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
        if !(1..=16).contains(&count) {
            return Err((
                fixed - 4,
                E::Shape(format!("{count} layers (expected 1..=16)")),
            ));
        }
        let per_layer = if version == 3 { 20 } else { 16 };
        let mut shapes = Vec::with_capacity(count);
        let mut chain = Chain::new(features.inputs());
        for k in 0..count {
            let at = fixed + per_layer * k;
            let field = |f: usize| u32_at(at + 4 * f).map(|v| v as usize);
            let (Some(inputs), Some(outputs), Some(kernel), Some(dilation)) =
                (field(0), field(1), field(2), field(3))
            else {
                return Err((bytes.len(), E::TooShort(bytes.len())));
            };
            let last = k + 1 == count;
            let stage = if version == 3 {
                let Some(id) = u32_at(at + 16) else {
                    return Err((bytes.len(), E::TooShort(bytes.len())));
                };
                Stage::from_id(id).ok_or((
                    at + 16,
                    E::Shape(format!("layer {k}: unknown stage {id} (0..=3)")),
                ))?
            } else if last {
                Stage::Head
            } else {
                Stage::Fine
            };
            let shape = LayerShape {
                stage,
                inputs,
                outputs,
                kernel,
                dilation,
            };
            if let Err(problem) = chain.push(shape, last) {
                return Err((at, E::Shape(format!("layer {k}: {problem}"))));
            }
            shapes.push(shape);
        }
        let params: usize = shapes
            .iter()
            .map(|l| l.outputs * l.inputs * l.kernel * l.kernel + l.outputs)
            .sum();
        let start = fixed + per_layer * count;
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
            .map(|l| ConvLayer {
                stage: l.stage,
                inputs: l.inputs,
                outputs: l.outputs,
                kernel: l.kernel,
                dilation: l.dilation,
                weight: take(l.outputs * l.inputs * l.kernel * l.kernel),
                bias: take(l.outputs),
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

/// A layer's shape as the header gives it.
#[derive(Clone, Copy, Debug)]
struct LayerShape {
    stage: Stage,
    inputs: usize,
    outputs: usize,
    kernel: usize,
    dilation: usize,
}

/// Checks that layers come in [`Stage`] order and that each takes the channels that arrive.
struct Chain {
    features: usize,
    fine: usize,
    coarse: Option<usize>,
    up: Option<usize>,
    head: Option<usize>,
}

impl Chain {
    fn new(features: usize) -> Self {
        Self {
            features,
            fine: features,
            coarse: None,
            up: None,
            head: None,
        }
    }

    fn push(&mut self, l: LayerShape, last: bool) -> Result<(), String> {
        let after = |later: bool, what: &str| {
            if later {
                Err(format!("a {:?} layer after {what}", l.stage))
            } else {
                Ok(())
            }
        };
        let arriving = match l.stage {
            Stage::Fine => {
                after(self.coarse.is_some(), "a coarse one")?;
                after(self.head.is_some(), "a head one")?;
                self.fine
            }
            Stage::Coarse => {
                after(
                    self.up.is_some() || self.head.is_some(),
                    "the up or head layers",
                )?;
                self.coarse.unwrap_or(self.features)
            }
            Stage::Up => {
                after(
                    self.up.is_some() || self.head.is_some(),
                    "the up or head layers",
                )?;
                self.coarse
                    .ok_or_else(|| "an up layer without coarse layers".to_string())?
            }
            Stage::Head => {
                if self.coarse.is_some() && self.up.is_none() {
                    return Err("coarse layers without an up layer".into());
                }
                self.head.unwrap_or(self.fine + self.up.unwrap_or(0))
            }
        };
        if l.inputs != arriving {
            return Err(format!("takes {} channels, {arriving} arrive", l.inputs));
        }
        if !(1..=64).contains(&l.outputs) || (last && l.outputs != 1) {
            return Err(format!(
                "{} outputs (1..=64, and the last exactly 1)",
                l.outputs
            ));
        }
        let kernel_ok = if l.stage == Stage::Up {
            l.kernel == 2 && l.dilation == 1
        } else {
            (l.kernel == 1 || l.kernel == 3) && (1..=16).contains(&l.dilation)
        };
        if !kernel_ok {
            return Err(format!(
                "kernel {}, dilation {} (kernel 1 or 3 with dilation 1..=16; an up layer's is 2 \
                 with dilation 1)",
                l.kernel, l.dilation
            ));
        }
        if last && l.stage != Stage::Head {
            return Err("the last layer is not a head layer".into());
        }
        match l.stage {
            Stage::Fine => self.fine = l.outputs,
            Stage::Coarse => self.coarse = Some(l.outputs),
            Stage::Up => self.up = Some(l.outputs),
            Stage::Head => self.head = Some(l.outputs),
        }
        Ok(())
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
        chain[FIXED + 20] = 9; // second layer's inputs
        assert_eq!(at(&chain).0, FIXED + 20);
        for cut in 0..bytes.len() {
            assert!(ErosionWeights::from_bytes(&bytes[..cut]).is_err());
        }
    }

    #[test]
    fn two_scale_weights_round_trip() {
        let w = super::super::net::tests::tiny_two_scale(3);
        assert!(w.is_two_scale());
        assert_eq!(ErosionWeights::from_bytes(&w.to_bytes()), Ok(w));
    }

    #[test]
    fn layers_out_of_stage_order_are_named() {
        let w = super::super::net::tests::tiny_two_scale(3);
        let problem = |layers: Vec<ConvLayer>| {
            let bytes = ErosionWeights {
                layers,
                ..w.clone()
            }
            .to_bytes();
            match ErosionWeights::from_bytes(&bytes) {
                Err(ErosionWeightsError::Shape(s)) => s,
                other => panic!("{other:?}"),
            }
        };
        let l = &w.layers;
        // No up layer after the coarse ones.
        let no_up = vec![
            l[0].clone(),
            l[1].clone(),
            l[2].clone(),
            l[4].clone(),
            l[5].clone(),
        ];
        assert!(problem(no_up).contains("without an up layer"));
        // An up layer with nothing coarse to bring up.
        let bare_up = vec![l[0].clone(), l[3].clone(), l[4].clone(), l[5].clone()];
        assert!(problem(bare_up).contains("without coarse layers"));
        // A fine layer after the coarse branch.
        let late_fine = vec![l[1].clone(), l[0].clone(), l[2].clone(), l[3].clone()];
        assert!(problem(late_fine).contains("after"));
        // The last layer must be a head layer.
        let mut headless = small().layers;
        headless.iter_mut().for_each(|l| l.stage = Stage::Fine);
        assert!(problem(headless).contains("not a head layer"));
    }

    #[test]
    fn version_2_files_read_as_fine_layers_and_a_head() {
        let w = small();
        let v3 = w.to_bytes();
        // Version 2: no stage fields.
        let mut v2 = v3[..FIXED].to_vec();
        v2[8..12].copy_from_slice(&2u32.to_le_bytes());
        for k in 0..w.layers.len() {
            v2.extend_from_slice(&v3[FIXED + 20 * k..FIXED + 20 * k + 16]);
        }
        v2.extend_from_slice(&v3[FIXED + 20 * w.layers.len()..v3.len() - 8]);
        let hash = fnv1a(&v2);
        v2.extend_from_slice(&hash.to_le_bytes());
        assert_eq!(ErosionWeights::from_bytes(&v2), Ok(w));
    }

    #[test]
    fn version_1_files_read_as_slope_and_relief_models() {
        let w = super::super::net::tests::tiny_weights_reading(FeatureSet::SlopeRelief, 3);
        let v2 = w.to_bytes();
        // Version 1: no feature set field, no stage fields.
        let mut v1 = v2[..8].to_vec();
        v1.extend_from_slice(&1u32.to_le_bytes());
        v1.extend_from_slice(&v2[12..24]);
        v1.extend_from_slice(&v2[28..32]);
        for k in 0..w.layers.len() {
            v1.extend_from_slice(&v2[FIXED + 20 * k..FIXED + 20 * k + 16]);
        }
        v1.extend_from_slice(&v2[FIXED + 20 * w.layers.len()..v2.len() - 8]);
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
