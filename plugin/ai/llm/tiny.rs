//! Small random Llama models, written to both GGUF and safetensors, for tests, benches and
//! tools. Weights are drawn from a seeded stream in Hugging Face's layout; the GGUF writer
//! permutes the query and key rows the way llama.cpp's converter does (so the file needs
//! interleaved rotary pairs) and can store the matrices in any block format.

use std::collections::BTreeMap;

use aigc_world_kernels::Format;
use aigc_world_kernels::dequant::dequantize_to_vec;
use aigc_world_kernels::quantize::quantize_row;

use super::config::{LlamaConfig, RopeLayout};
use super::gguf::{GgmlType, GgufWriter, MetaValue};
use super::safetensors::write_safetensors;
use crate::npc::rng::Rng;

/// A model's weights as `f32` in Hugging Face's names and layout.
#[derive(Clone, Debug)]
pub struct TinyLlama {
    /// The shape (`rope_layout` is `Halves`: the Hugging Face layout).
    pub config: LlamaConfig,
    /// Tensors by Hugging Face name: shape (outermost first) and values.
    pub tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
}

impl TinyLlama {
    /// A model of shape `config` with weights drawn from `seed`: matrices uniform in
    /// `+-1/sqrt(inputs)` (embedding and output wider, so logits spread), norms near 1.
    pub fn random(config: &LlamaConfig, seed: u64) -> Self {
        let mut rng = Rng::new(&[seed, 0x7111_a11a]);
        let mut tensors = BTreeMap::new();
        let c = config;
        let mut matrix = |name: String, rows: usize, cols: usize, spread: f64| {
            let values = (0..rows * cols)
                .map(|_| ((rng.unit() * 2.0 - 1.0) * spread) as f32)
                .collect();
            tensors.insert(name, (vec![rows, cols], values));
        };
        let (h, f) = (c.hidden_size, c.intermediate_size);
        let s = |inputs: usize| 1.0 / (inputs as f64).sqrt();
        matrix("model.embed_tokens.weight".into(), c.vocab_size, h, 1.0);
        if !c.tied_embeddings {
            matrix("lm_head.weight".into(), c.vocab_size, h, 2.0 * s(h));
        }
        for i in 0..c.layers {
            let n = |part: &str| format!("model.layers.{i}.{part}.weight");
            matrix(n("self_attn.q_proj"), c.q_dim(), h, 2.0 * s(h));
            matrix(n("self_attn.k_proj"), c.kv_dim(), h, 2.0 * s(h));
            matrix(n("self_attn.v_proj"), c.kv_dim(), h, s(h));
            matrix(n("self_attn.o_proj"), h, c.q_dim(), s(c.q_dim()));
            matrix(n("mlp.gate_proj"), f, h, s(h));
            matrix(n("mlp.up_proj"), f, h, s(h));
            matrix(n("mlp.down_proj"), h, f, s(f));
        }
        let mut vector = |name: String| {
            let values = (0..h).map(|_| (0.8 + rng.unit() * 0.4) as f32).collect();
            tensors.insert(name, (vec![h], values));
        };
        for i in 0..c.layers {
            vector(format!("model.layers.{i}.input_layernorm.weight"));
            vector(format!("model.layers.{i}.post_attention_layernorm.weight"));
        }
        vector("model.norm.weight".into());
        Self {
            config: LlamaConfig {
                rope_layout: RopeLayout::Halves,
                ..config.clone()
            },
            tensors,
        }
    }

    /// The same model with every matrix replaced by what `format` stores of it (each row
    /// encoded and decoded; norms stay exact): the weights a file in `format` really holds.
    pub fn as_stored(&self, format: Format) -> Self {
        let mut out = self.clone();
        for (shape, values) in out.tensors.values_mut() {
            if let [_, cols] = shape[..] {
                *values = values
                    .chunks_exact(cols)
                    .flat_map(|row| dequantize_to_vec(format, &quantize_row(format, row), cols))
                    .collect();
            }
        }
        out
    }

    /// A Hugging Face `config.json` for the model.
    pub fn config_json(&self) -> String {
        let c = &self.config;
        serde_json::json!({
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "vocab_size": c.vocab_size,
            "hidden_size": c.hidden_size,
            "intermediate_size": c.intermediate_size,
            "num_hidden_layers": c.layers,
            "num_attention_heads": c.heads,
            "num_key_value_heads": c.kv_heads,
            "max_position_embeddings": c.context_length,
            "rope_theta": c.rope_base,
            "rms_norm_eps": c.rms_eps,
            "tie_word_embeddings": c.tied_embeddings,
            "hidden_act": "silu",
        })
        .to_string()
    }

    /// A safetensors file with every tensor in `dtype` (`"F32"`, `"F16"` or `"BF16"`).
    pub fn to_safetensors(&self, dtype: &str) -> Vec<u8> {
        let format = match dtype {
            "F16" => Format::F16,
            "BF16" => Format::BF16,
            _ => Format::F32,
        };
        let tensors: Vec<_> = self
            .tensors
            .iter()
            .map(|(name, (shape, values))| {
                (
                    name.clone(),
                    format.name(),
                    shape.clone(),
                    quantize_row(format, values),
                )
            })
            .collect();
        write_safetensors(&tensors)
    }

    /// A GGUF file: matrices in `format`, the token embedding in `embed_format`, norms `F32`;
    /// query and key rows permuted as llama.cpp's converter does.
    pub fn to_gguf(&self, format: Format, embed_format: Format) -> Vec<u8> {
        let c = &self.config;
        let u = |v: usize| MetaValue::UInt(v as u64);
        let mut w = GgufWriter::new()
            .meta("general.architecture", MetaValue::Str("llama".into()))
            .meta("llama.vocab_size", u(c.vocab_size))
            .meta("llama.embedding_length", u(c.hidden_size))
            .meta("llama.feed_forward_length", u(c.intermediate_size))
            .meta("llama.block_count", u(c.layers))
            .meta("llama.attention.head_count", u(c.heads))
            .meta("llama.attention.head_count_kv", u(c.kv_heads))
            .meta("llama.context_length", u(c.context_length))
            .meta("llama.rope.dimension_count", u(c.head_dim))
            .meta(
                "llama.rope.freq_base",
                MetaValue::Float(f64::from(c.rope_base)),
            )
            .meta(
                "llama.attention.layer_norm_rms_epsilon",
                MetaValue::Float(f64::from(c.rms_eps)),
            );
        let tensor = |w: GgufWriter, name: &str, hf: &str, format: Format, heads: Option<usize>| {
            let (shape, values) = &self.tensors[hf];
            let values = match heads {
                Some(heads) => permute_rows(values, shape[1], heads, c.head_dim),
                None => values.clone(),
            };
            let dims: Vec<u64> = shape.iter().rev().map(|&d| d as u64).collect();
            let format = if shape.len() == 1 {
                Format::F32
            } else {
                format
            };
            let bytes: Vec<u8> = match shape[..] {
                [_, cols] => values
                    .chunks_exact(cols)
                    .flat_map(|r| quantize_row(format, r))
                    .collect(),
                _ => quantize_row(format, &values),
            };
            w.tensor(name, &dims, ggml_type(format), bytes)
        };
        w = tensor(
            w,
            "token_embd.weight",
            "model.embed_tokens.weight",
            embed_format,
            None,
        );
        for i in 0..c.layers {
            let hf = |part: &str| format!("model.layers.{i}.{part}.weight");
            let gg = |part: &str| format!("blk.{i}.{part}.weight");
            w = tensor(w, &gg("attn_norm"), &hf("input_layernorm"), format, None);
            w = tensor(
                w,
                &gg("attn_q"),
                &hf("self_attn.q_proj"),
                format,
                Some(c.heads),
            );
            w = tensor(
                w,
                &gg("attn_k"),
                &hf("self_attn.k_proj"),
                format,
                Some(c.kv_heads),
            );
            w = tensor(w, &gg("attn_v"), &hf("self_attn.v_proj"), format, None);
            w = tensor(w, &gg("attn_output"), &hf("self_attn.o_proj"), format, None);
            w = tensor(
                w,
                &gg("ffn_norm"),
                &hf("post_attention_layernorm"),
                format,
                None,
            );
            w = tensor(w, &gg("ffn_gate"), &hf("mlp.gate_proj"), format, None);
            w = tensor(w, &gg("ffn_up"), &hf("mlp.up_proj"), format, None);
            w = tensor(w, &gg("ffn_down"), &hf("mlp.down_proj"), format, None);
        }
        w = tensor(w, "output_norm.weight", "model.norm.weight", format, None);
        if !c.tied_embeddings {
            w = tensor(w, "output.weight", "lm_head.weight", format, None);
        }
        w.to_bytes()
    }
}

/// llama.cpp's converter's permutation of query/key rows: within each head, row `2i + s` of
/// the result is row `s * head_dim / 2 + i` of the original (`s` in 0..2).
fn permute_rows(values: &[f32], cols: usize, heads: usize, head_dim: usize) -> Vec<f32> {
    let half = head_dim / 2;
    let mut out = Vec::with_capacity(values.len());
    for h in 0..heads {
        for j in 0..head_dim {
            let src = h * head_dim + (j % 2) * half + j / 2;
            out.extend_from_slice(&values[src * cols..(src + 1) * cols]);
        }
    }
    out
}

fn ggml_type(format: Format) -> GgmlType {
    match format {
        Format::F32 => GgmlType::F32,
        Format::F16 => GgmlType::F16,
        Format::BF16 => GgmlType::BF16,
        Format::Q4_0 => GgmlType::Q4_0,
        Format::Q4_1 => GgmlType::Q4_1,
        Format::Q8_0 => GgmlType::Q8_0,
        Format::Q4K => GgmlType::Q4K,
        Format::Q6K => GgmlType::Q6K,
    }
}
