//! A Llama model's weights as they lie in the file: each matrix keeps its stored format and
//! points into the file's shared bytes (no copy, no expansion to `f32`), so the resident size
//! of a loaded model is about the size of its file. Norm vectors, a few kilobytes, are decoded.
//!
//! Every tensor the architecture needs is looked up by name and checked against the config's
//! shapes before use: a missing, mis-shaped or truncated tensor is an error naming it.

use std::ops::Range;
use std::sync::Arc;

use aigc_world_kernels::dequant::dequantize;
use aigc_world_kernels::{Format, MatrixRef};

use super::LlmError;
use super::config::LlamaConfig;
use super::gguf::{GgmlType, GgufFile};
use super::safetensors::SafetensorsFile;

/// A weight matrix in its stored format, over the bytes of the file it came from.
#[derive(Clone, Debug)]
pub struct WeightMatrix {
    format: Format,
    rows: usize,
    cols: usize,
    bytes: Arc<[u8]>,
    range: Range<usize>,
}

impl WeightMatrix {
    /// A `rows` x `cols` matrix in `format` at `range` of `bytes`, checked.
    pub fn new(
        name: &str,
        format: Format,
        rows: usize,
        cols: usize,
        bytes: Arc<[u8]>,
        range: Range<usize>,
    ) -> Result<Self, LlmError> {
        let slice = bytes.get(range.clone()).ok_or_else(|| {
            LlmError::Tensor(format!("`{name}`: bytes {range:?} are past the end"))
        })?;
        MatrixRef::new(format, rows, cols, slice)
            .map_err(|e| LlmError::Tensor(format!("`{name}`: {e}")))?;
        Ok(Self {
            format,
            rows,
            cols,
            bytes,
            range,
        })
    }

    /// The matrix for the kernels.
    pub fn view(&self) -> MatrixRef<'_> {
        MatrixRef::new(
            self.format,
            self.rows,
            self.cols,
            &self.bytes[self.range.clone()],
        )
        .expect("shape checked when the matrix was made")
    }

    /// Storage format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Rows (outputs).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns (inputs).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Bytes the matrix takes in its format.
    pub fn byte_len(&self) -> usize {
        self.range.len()
    }

    /// All weights as `f32`, row-major (for engines that compute in floats).
    pub fn to_f32(&self) -> Vec<f32> {
        let mut out = vec![0.0; self.rows * self.cols];
        dequantize(self.format, &self.bytes[self.range.clone()], &mut out);
        out
    }
}

/// One transformer block.
#[derive(Clone, Debug)]
pub struct LayerWeights {
    /// RMSNorm scale before attention.
    pub attn_norm: Vec<f32>,
    /// Query projection, `q_dim x hidden`.
    pub q: WeightMatrix,
    /// Key projection, `kv_dim x hidden`.
    pub k: WeightMatrix,
    /// Value projection, `kv_dim x hidden`.
    pub v: WeightMatrix,
    /// Attention output projection, `hidden x q_dim`.
    pub o: WeightMatrix,
    /// RMSNorm scale before the feed-forward layer.
    pub ffn_norm: Vec<f32>,
    /// SwiGLU gate, `ffn x hidden`.
    pub gate: WeightMatrix,
    /// SwiGLU up projection, `ffn x hidden`.
    pub up: WeightMatrix,
    /// Down projection, `hidden x ffn`.
    pub down: WeightMatrix,
}

/// All the weights of a Llama-architecture model.
#[derive(Clone, Debug)]
pub struct LlamaWeights {
    /// The shape.
    pub config: LlamaConfig,
    /// Token embedding, `vocab x hidden`.
    pub embed: WeightMatrix,
    /// The blocks.
    pub layers: Vec<LayerWeights>,
    /// Final RMSNorm scale.
    pub norm: Vec<f32>,
    /// Output head, `vocab x hidden` (the embedding again when tied).
    pub output: WeightMatrix,
    /// Bytes of the files the matrices point into.
    file_bytes: usize,
    /// Whether `output` is the embedding (tied).
    tied: bool,
}

impl LlamaWeights {
    /// Weights from a parsed GGUF file (its bytes are shared, not copied).
    pub fn from_gguf(file: &GgufFile) -> Result<Self, LlmError> {
        let mut config = LlamaConfig::from_gguf(file)?;
        let c = config.clone();
        let matrix = |name: &str, rows: usize, cols: usize| -> Result<WeightMatrix, LlmError> {
            let t = file
                .tensor(name)
                .ok_or_else(|| LlmError::MissingTensor(name.into()))?;
            let want = [cols as u64, rows as u64];
            if t.dims != want {
                return Err(LlmError::Tensor(format!(
                    "`{name}` has dimensions {:?}, the config needs {want:?}",
                    t.dims
                )));
            }
            let format = format_of(name, t.ty)?;
            WeightMatrix::new(
                name,
                format,
                rows,
                cols,
                file.bytes().clone(),
                t.range.clone(),
            )
        };
        let vector = |name: &str, len: usize| -> Result<Vec<f32>, LlmError> {
            let t = file
                .tensor(name)
                .ok_or_else(|| LlmError::MissingTensor(name.into()))?;
            if t.dims != [len as u64] {
                return Err(LlmError::Tensor(format!(
                    "`{name}` has dimensions {:?}, the config needs [{len}]",
                    t.dims
                )));
            }
            let format = format_of(name, t.ty)?;
            let m = WeightMatrix::new(name, format, 1, len, file.bytes().clone(), t.range.clone())?;
            Ok(m.to_f32())
        };
        if file.tensor("rope_freqs.weight").is_some() {
            config.rope_freq_factors = Some(vector("rope_freqs.weight", c.head_dim / 2)?);
            config = config.validate()?;
        }
        let embed = matrix("token_embd.weight", c.vocab_size, c.hidden_size)?;
        let tied = file.tensor("output.weight").is_none();
        let output = match tied {
            false => matrix("output.weight", c.vocab_size, c.hidden_size)?,
            true => embed.clone(),
        };
        let layers = (0..c.layers)
            .map(|i| {
                let n = |part: &str| format!("blk.{i}.{part}.weight");
                Ok(LayerWeights {
                    attn_norm: vector(&n("attn_norm"), c.hidden_size)?,
                    q: matrix(&n("attn_q"), c.q_dim(), c.hidden_size)?,
                    k: matrix(&n("attn_k"), c.kv_dim(), c.hidden_size)?,
                    v: matrix(&n("attn_v"), c.kv_dim(), c.hidden_size)?,
                    o: matrix(&n("attn_output"), c.hidden_size, c.q_dim())?,
                    ffn_norm: vector(&n("ffn_norm"), c.hidden_size)?,
                    gate: matrix(&n("ffn_gate"), c.intermediate_size, c.hidden_size)?,
                    up: matrix(&n("ffn_up"), c.intermediate_size, c.hidden_size)?,
                    down: matrix(&n("ffn_down"), c.hidden_size, c.intermediate_size)?,
                })
            })
            .collect::<Result<_, LlmError>>()?;
        Ok(Self {
            norm: vector("output_norm.weight", c.hidden_size)?,
            config,
            embed,
            layers,
            output,
            file_bytes: file.bytes().len(),
            tied,
        })
    }

    /// Weights from a Hugging Face `config.json` and the model's safetensors files (one, or the
    /// shards of a split model).
    pub fn from_safetensors(
        config_json: &str,
        shards: &[SafetensorsFile],
    ) -> Result<Self, LlmError> {
        let c = LlamaConfig::from_hf_json(config_json)?;
        let find = |name: &str| {
            shards
                .iter()
                .find_map(|s| s.tensors.get(name).map(|t| (s, t)))
        };
        let matrix = |name: &str, shape: &[usize]| -> Result<WeightMatrix, LlmError> {
            let (file, t) = find(name).ok_or_else(|| LlmError::MissingTensor(name.into()))?;
            if t.shape != shape {
                return Err(LlmError::Tensor(format!(
                    "`{name}` has shape {:?}, the config needs {shape:?}",
                    t.shape
                )));
            }
            let format = t.format.ok_or_else(|| {
                LlmError::Unsupported(format!(
                    "`{name}` is {} (F32, F16 and BF16 are read)",
                    t.dtype
                ))
            })?;
            let (rows, cols) = match *shape {
                [len] => (1, len),
                [rows, cols] => (rows, cols),
                _ => unreachable!("shapes here have one or two dimensions"),
            };
            WeightMatrix::new(
                name,
                format,
                rows,
                cols,
                file.bytes().clone(),
                t.range.clone(),
            )
        };
        let vector = |name: &str| matrix(name, &[c.hidden_size]).map(|m| m.to_f32());
        let embed = matrix("model.embed_tokens.weight", &[c.vocab_size, c.hidden_size])?;
        let tied = find("lm_head.weight").is_none();
        let output = match find("lm_head.weight") {
            Some(_) => matrix("lm_head.weight", &[c.vocab_size, c.hidden_size])?,
            None if c.tied_embeddings => embed.clone(),
            None => return Err(LlmError::MissingTensor("lm_head.weight".into())),
        };
        let layers = (0..c.layers)
            .map(|i| {
                let n = |part: &str| format!("model.layers.{i}.{part}.weight");
                let (h, f) = (c.hidden_size, c.intermediate_size);
                Ok(LayerWeights {
                    attn_norm: vector(&n("input_layernorm"))?,
                    q: matrix(&n("self_attn.q_proj"), &[c.q_dim(), h])?,
                    k: matrix(&n("self_attn.k_proj"), &[c.kv_dim(), h])?,
                    v: matrix(&n("self_attn.v_proj"), &[c.kv_dim(), h])?,
                    o: matrix(&n("self_attn.o_proj"), &[h, c.q_dim()])?,
                    ffn_norm: vector(&n("post_attention_layernorm"))?,
                    gate: matrix(&n("mlp.gate_proj"), &[f, h])?,
                    up: matrix(&n("mlp.up_proj"), &[f, h])?,
                    down: matrix(&n("mlp.down_proj"), &[h, f])?,
                })
            })
            .collect::<Result<_, LlmError>>()?;
        Ok(Self {
            norm: vector("model.norm.weight")?,
            config: c,
            embed,
            layers,
            output,
            file_bytes: shards.iter().map(|s| s.bytes().len()).sum(),
            tied,
        })
    }

    /// Whether the output head is the token embedding (tied weights).
    pub fn output_is_embedding(&self) -> bool {
        self.tied
    }

    /// Bytes the loaded model keeps resident: the file bytes the matrices point into, plus
    /// the decoded norms.
    pub fn resident_bytes(&self) -> usize {
        let norms = (2 * self.layers.len() + 1) * self.config.hidden_size * 4;
        self.file_bytes + norms
    }

    /// Number of parameters: every matrix (the output head once when tied) and the norms.
    pub fn parameter_count(&self) -> u64 {
        let size = |m: &WeightMatrix| (m.rows() * m.cols()) as u64;
        let layers: u64 = self
            .layers
            .iter()
            .flat_map(|l| [&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down])
            .map(size)
            .sum();
        let output = if self.tied { 0 } else { size(&self.output) };
        let norms = ((2 * self.layers.len() + 1) * self.config.hidden_size) as u64;
        size(&self.embed) + layers + output + norms
    }

    /// Bytes of all matrices in their stored formats (what one token reads).
    pub fn matrix_bytes(&self) -> usize {
        let per_layer: usize = self
            .layers
            .iter()
            .flat_map(|l| [&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down])
            .map(WeightMatrix::byte_len)
            .sum();
        per_layer + self.output.byte_len()
    }
}

/// The kernels' format for a GGML type, or why it cannot be read.
fn format_of(name: &str, ty: GgmlType) -> Result<Format, LlmError> {
    Ok(match ty {
        GgmlType::F32 => Format::F32,
        GgmlType::F16 => Format::F16,
        GgmlType::BF16 => Format::BF16,
        GgmlType::Q4_0 => Format::Q4_0,
        GgmlType::Q4_1 => Format::Q4_1,
        GgmlType::Q8_0 => Format::Q8_0,
        GgmlType::Q4K => Format::Q4K,
        GgmlType::Q6K => Format::Q6K,
        GgmlType::Other(_) => {
            return Err(LlmError::Unsupported(format!(
                "tensor `{name}` is stored as {} (this build reads F32, F16, BF16, Q4_0, Q4_1, \
                 Q8_0, Q4_K and Q6_K)",
                ty.name()
            )));
        }
    })
}
