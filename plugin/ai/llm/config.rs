//! The shape of a Llama-architecture model, from GGUF metadata (`llama.*` keys) or a Hugging
//! Face `config.json`, checked for consistency before any weight is read.

use serde::Deserialize;

use super::LlmError;
use super::gguf::GgufFile;
pub use aigc_world_kernels::ops::RopeLayout;

/// Hyper-parameters of a Llama-architecture model.
#[derive(Clone, Debug, PartialEq)]
pub struct LlamaConfig {
    /// Tokens in the vocabulary (rows of the embedding).
    pub vocab_size: usize,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Transformer blocks.
    pub layers: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads (grouped-query attention when fewer than `heads`).
    pub kv_heads: usize,
    /// Values per head.
    pub head_dim: usize,
    /// Longest sequence the model was trained for.
    pub context_length: usize,
    /// Rotary position encoding base (`theta`).
    pub rope_base: f32,
    /// How head dimensions pair up for rotation: interleaved for GGUF, halves for Hugging Face.
    pub rope_layout: RopeLayout,
    /// Per-frequency divisors of the rotation angles (Llama 3's long-context scaling), if any.
    pub rope_freq_factors: Option<Vec<f32>>,
    /// Epsilon of the RMS norms.
    pub rms_eps: f32,
    /// Whether the output head reuses the token embedding.
    pub tied_embeddings: bool,
}

impl LlamaConfig {
    /// Width of all query heads together.
    pub fn q_dim(&self) -> usize {
        self.heads * self.head_dim
    }

    /// Width of all key (or value) heads together.
    pub fn kv_dim(&self) -> usize {
        self.kv_heads * self.head_dim
    }

    /// Bytes of key/value cache per token when stored as halves (both keys and values, all
    /// layers).
    pub fn kv_bytes_per_token(&self) -> usize {
        2 * self.layers * self.kv_dim() * 2
    }

    /// Reads the `llama.*` metadata of a GGUF file. Whether the output head is tied is decided
    /// by the tensors (an `output.weight` means separate).
    pub fn from_gguf(file: &GgufFile) -> Result<Self, LlmError> {
        let arch = file.get_str("general.architecture").unwrap_or("(none)");
        if arch != "llama" {
            return Err(LlmError::Unsupported(format!(
                "architecture `{arch}` (only `llama` is supported)"
            )));
        }
        let int = |key: &str| -> Result<usize, LlmError> {
            file.get_u64(&format!("llama.{key}"))
                .and_then(|v| usize::try_from(v).ok())
                .ok_or_else(|| LlmError::Config(format!("GGUF metadata `llama.{key}` is missing")))
        };
        let float = |key: &str, default: f64| {
            file.get_f64(&format!("llama.{key}")).unwrap_or(default) as f32
        };
        let hidden_size = int("embedding_length")?;
        let heads = int("attention.head_count")?;
        let kv_heads = int("attention.head_count_kv").unwrap_or(heads);
        let head_dim = match int("attention.key_length") {
            Ok(d) => d,
            Err(_) => hidden_size.checked_div(heads).unwrap_or(0),
        };
        let vocab_size = match int("vocab_size") {
            Ok(v) => v,
            Err(_) => file
                .tensor("token_embd.weight")
                .and_then(|t| t.dims.get(1).copied())
                .and_then(|v| usize::try_from(v).ok())
                .ok_or_else(|| LlmError::Config("vocabulary size unknown".into()))?,
        };
        let config = Self {
            vocab_size,
            hidden_size,
            intermediate_size: int("feed_forward_length")?,
            layers: int("block_count")?,
            heads,
            kv_heads,
            head_dim,
            context_length: int("context_length").unwrap_or(2048),
            rope_base: float("rope.freq_base", 10_000.0),
            rope_layout: RopeLayout::Interleaved,
            rope_freq_factors: None,
            rms_eps: float("attention.layer_norm_rms_epsilon", 1e-5),
            tied_embeddings: file.tensor("output.weight").is_none(),
        };
        if let Ok(rope_dims) = int("rope.dimension_count")
            && rope_dims != head_dim
        {
            return Err(LlmError::Unsupported(format!(
                "rotary encoding of {rope_dims} of {head_dim} head dimensions"
            )));
        }
        config.validate()
    }

    /// Reads a Hugging Face `config.json` (`model_type` `llama` or `mistral`).
    pub fn from_hf_json(json: &str) -> Result<Self, LlmError> {
        let hf: HfConfig = serde_json::from_str(json).map_err(|e| {
            LlmError::Config(format!("config.json:{}:{}: {e}", e.line(), e.column()))
        })?;
        if !matches!(hf.model_type.as_deref(), Some("llama" | "mistral")) {
            return Err(LlmError::Unsupported(format!(
                "model_type {:?} (only llama is supported)",
                hf.model_type
            )));
        }
        if hf.attention_bias || hf.mlp_bias {
            return Err(LlmError::Unsupported("attention or MLP biases".into()));
        }
        if hf.hidden_act.as_deref().is_some_and(|a| a != "silu") {
            return Err(LlmError::Unsupported(format!(
                "activation {:?}",
                hf.hidden_act
            )));
        }
        let heads = hf.num_attention_heads;
        let head_dim = hf
            .head_dim
            .unwrap_or(hf.hidden_size.checked_div(heads).unwrap_or(0));
        let rope_base = hf.rope_theta.unwrap_or(10_000.0) as f32;
        let rope_freq_factors = match &hf.rope_scaling {
            None => None,
            Some(scaling) => Some(scaling.llama3_factors(head_dim, rope_base)?),
        };
        Self {
            vocab_size: hf.vocab_size,
            hidden_size: hf.hidden_size,
            intermediate_size: hf.intermediate_size,
            layers: hf.num_hidden_layers,
            heads,
            kv_heads: hf.num_key_value_heads.unwrap_or(heads),
            head_dim,
            context_length: hf.max_position_embeddings.unwrap_or(2048),
            rope_base,
            rope_layout: RopeLayout::Halves,
            rope_freq_factors,
            rms_eps: hf.rms_norm_eps.unwrap_or(1e-6) as f32,
            tied_embeddings: hf.tie_word_embeddings,
        }
        .validate()
    }

    /// Checks that the numbers fit together (and are not absurd), so that loading and
    /// inference can index without surprises.
    pub fn validate(self) -> Result<Self, LlmError> {
        let bad = |what: String| Err(LlmError::Config(what));
        let sizes = [
            ("vocabulary", self.vocab_size),
            ("hidden size", self.hidden_size),
            ("feed-forward size", self.intermediate_size),
            ("layers", self.layers),
            ("heads", self.heads),
            ("key/value heads", self.kv_heads),
            ("head size", self.head_dim),
            ("context length", self.context_length),
        ];
        for (name, value) in sizes {
            if value == 0 || value > 1 << 24 {
                return bad(format!("{name} {value} is out of range"));
            }
        }
        if !self.heads.is_multiple_of(self.kv_heads) {
            return bad(format!(
                "{} heads do not share {} key/value heads evenly",
                self.heads, self.kv_heads
            ));
        }
        if !self.head_dim.is_multiple_of(2) {
            return bad(format!("head size {} is odd (rotary pairs)", self.head_dim));
        }
        if !(self.rope_base.is_finite() && self.rope_base > 1.0) {
            return bad(format!("rope base {} is not usable", self.rope_base));
        }
        if !(self.rms_eps.is_finite() && self.rms_eps >= 0.0) {
            return bad(format!("RMS epsilon {} is not usable", self.rms_eps));
        }
        if let Some(f) = &self.rope_freq_factors
            && (f.len() != self.head_dim / 2 || f.iter().any(|v| !(v.is_finite() && *v > 0.0)))
        {
            return bad(format!(
                "{} rope frequency factors for head size {}",
                f.len(),
                self.head_dim
            ));
        }
        Ok(self)
    }
}

/// The fields of a Hugging Face `config.json` that matter here.
#[derive(Deserialize)]
struct HfConfig {
    model_type: Option<String>,
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    max_position_embeddings: Option<usize>,
    rope_theta: Option<f64>,
    rms_norm_eps: Option<f64>,
    #[serde(default)]
    tie_word_embeddings: bool,
    #[serde(default)]
    attention_bias: bool,
    #[serde(default)]
    mlp_bias: bool,
    hidden_act: Option<String>,
    rope_scaling: Option<RopeScaling>,
}

/// `rope_scaling` of Llama 3.1+ (`rope_type: "llama3"`): long wavelengths are slowed by
/// `factor`, short ones kept, and the band between blended.
#[derive(Deserialize)]
struct RopeScaling {
    #[serde(alias = "type")]
    rope_type: String,
    factor: f64,
    low_freq_factor: Option<f64>,
    high_freq_factor: Option<f64>,
    original_max_position_embeddings: Option<f64>,
}

impl RopeScaling {
    /// The divisor of each rotation frequency, as llama.cpp's converter computes it.
    fn llama3_factors(&self, head_dim: usize, base: f32) -> Result<Vec<f32>, LlmError> {
        if self.rope_type != "llama3" {
            return Err(LlmError::Unsupported(format!(
                "rope_scaling `{}`",
                self.rope_type
            )));
        }
        let low = self.low_freq_factor.unwrap_or(1.0);
        let high = self.high_freq_factor.unwrap_or(4.0);
        let original = self.original_max_position_embeddings.unwrap_or(8192.0);
        let (low_wavelength, high_wavelength) = (original / low, original / high);
        Ok((0..head_dim / 2)
            .map(|i| {
                let freq = 1.0 / f64::from(base).powf(2.0 * i as f64 / head_dim as f64);
                let wavelength = 2.0 * std::f64::consts::PI / freq;
                if wavelength < high_wavelength {
                    1.0
                } else if wavelength > low_wavelength {
                    self.factor as f32
                } else {
                    let smooth = (original / wavelength - low) / (high - low);
                    (1.0 / ((1.0 - smooth) / self.factor + smooth)) as f32
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ai::llm::gguf::{GgufWriter, MetaValue};

    const SMOLLM2_JSON: &str = r#"{
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30,
        "num_attention_heads": 9, "num_key_value_heads": 3, "vocab_size": 49152,
        "max_position_embeddings": 8192, "rope_theta": 100000, "rms_norm_eps": 1e-05,
        "tie_word_embeddings": true, "hidden_act": "silu", "torch_dtype": "bfloat16"
    }"#;

    #[test]
    fn reads_hugging_face_and_gguf_configs_alike() {
        let hf = LlamaConfig::from_hf_json(SMOLLM2_JSON).unwrap();
        assert_eq!((hf.head_dim, hf.kv_dim(), hf.q_dim()), (64, 192, 576));
        assert_eq!(hf.rope_layout, RopeLayout::Halves);
        assert!(hf.tied_embeddings);
        let u = |v| MetaValue::UInt(v);
        let file = GgufWriter::new()
            .meta("general.architecture", MetaValue::Str("llama".into()))
            .meta("llama.embedding_length", u(576))
            .meta("llama.feed_forward_length", u(1536))
            .meta("llama.block_count", u(30))
            .meta("llama.attention.head_count", u(9))
            .meta("llama.attention.head_count_kv", u(3))
            .meta("llama.context_length", u(8192))
            .meta("llama.vocab_size", u(49152))
            .meta("llama.rope.freq_base", MetaValue::Float(100000.0))
            .meta(
                "llama.attention.layer_norm_rms_epsilon",
                MetaValue::Float(1e-5),
            )
            .to_bytes();
        let gguf = LlamaConfig::from_gguf(&GgufFile::parse(file).unwrap()).unwrap();
        assert_eq!(gguf.rope_layout, RopeLayout::Interleaved);
        assert_eq!(
            LlamaConfig {
                rope_layout: RopeLayout::Halves,
                ..gguf
            },
            hf
        );
        // SmolLM2: 30 layers x 192 x (key + value) x 2 bytes.
        assert_eq!(hf.kv_bytes_per_token(), 23_040);
    }

    #[test]
    fn bad_configs_are_errors() {
        let broken =
            SMOLLM2_JSON.replace("\"num_key_value_heads\": 3", "\"num_key_value_heads\": 4");
        assert!(
            matches!(LlamaConfig::from_hf_json(&broken), Err(LlmError::Config(m)) if m.contains("evenly"))
        );
        let e = LlamaConfig::from_hf_json("{\"model_type\": \"llama\",").unwrap_err();
        assert!(e.to_string().contains("config.json:1:"), "{e}");
        let gpt = SMOLLM2_JSON.replace("\"llama\"", "\"gpt2\"");
        assert!(matches!(
            LlamaConfig::from_hf_json(&gpt),
            Err(LlmError::Unsupported(_))
        ));
        let zero = SMOLLM2_JSON.replace("\"hidden_size\": 576", "\"hidden_size\": 0");
        assert!(LlamaConfig::from_hf_json(&zero).is_err());
        let file = GgufWriter::new()
            .meta("general.architecture", MetaValue::Str("llama".into()))
            .to_bytes();
        let e = LlamaConfig::from_gguf(&GgufFile::parse(file).unwrap()).unwrap_err();
        assert!(e.to_string().contains("llama.embedding_length"), "{e}");
    }

    #[test]
    fn llama3_rope_scaling_slows_long_wavelengths_only() {
        let json = SMOLLM2_JSON.replace(
            "\"tie_word_embeddings\": true",
            "\"tie_word_embeddings\": true, \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 32.0, \
             \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192}",
        );
        let factors = LlamaConfig::from_hf_json(&json)
            .unwrap()
            .rope_freq_factors
            .unwrap();
        assert_eq!(factors.len(), 32);
        assert_eq!(factors[0], 1.0);
        assert_eq!(factors[31], 32.0);
        assert!(factors.windows(2).all(|w| w[0] <= w[1]));
    }
}
