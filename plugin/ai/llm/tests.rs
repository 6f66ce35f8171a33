//! Whole-model tests on tiny random models the tests write: both loaders, both engines, a
//! plain `f64` reference, caching, cancellation, sampling and damaged files.

use std::sync::Arc;

use aigc_world_kernels::Format;

use super::tiny::TinyLlama;
use super::*;
use crate::ai::backend::ComputeDevice;

fn config(tied: bool) -> LlamaConfig {
    LlamaConfig {
        vocab_size: 96,
        hidden_size: 64,
        intermediate_size: 128,
        layers: 2,
        heads: 4,
        kv_heads: 2,
        head_dim: 16,
        context_length: 128,
        rope_base: 10_000.0,
        rope_layout: RopeLayout::Halves,
        rope_freq_factors: None,
        rms_eps: 1e-5,
        tied_embeddings: tied,
    }
}

/// A shape the K formats fit (rows of 256).
fn k_config() -> LlamaConfig {
    LlamaConfig {
        vocab_size: 64,
        hidden_size: 256,
        intermediate_size: 512,
        head_dim: 64,
        ..config(true)
    }
}

const PROMPT: [u32; 7] = [3, 17, 42, 5, 88, 1, 60];

fn gguf(model: &TinyLlama, format: Format, embed: Format, engine: Engine) -> LanguageModel {
    let bytes: Arc<[u8]> = model.to_gguf(format, embed).into();
    LanguageModel::load(ModelSource::Gguf(bytes), engine).expect("tiny GGUF loads")
}

fn safetensors(model: &TinyLlama, dtype: &str, engine: Engine) -> LanguageModel {
    let source = ModelSource::Safetensors {
        config_json: model.config_json(),
        shards: vec![model.to_safetensors(dtype).into()],
    };
    LanguageModel::load(source, engine).expect("tiny safetensors loads")
}

fn logits(model: &mut LanguageModel, tokens: &[u32]) -> Vec<f32> {
    let mut s = model.new_session(64);
    model.prefill(&mut s, tokens, &|| false).unwrap().to_vec()
}

/// The Llama forward pass in `f64`, position by position, straight from the Hugging Face
/// layout (rotate-half rotary pairs): the logits after the last token.
fn reference(m: &TinyLlama, tokens: &[u32]) -> Vec<f64> {
    let c = &m.config;
    let t = |name: &str| -> Vec<f64> { m.tensors[name].1.iter().map(|&v| f64::from(v)).collect() };
    let matvec = |w: &[f64], x: &[f64]| -> Vec<f64> {
        w.chunks_exact(x.len())
            .map(|row| row.iter().zip(x).map(|(a, b)| a * b).sum())
            .collect()
    };
    let norm = |x: &[f64], w: &[f64]| -> Vec<f64> {
        let ms = x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64;
        let s = 1.0 / (ms + f64::from(c.rms_eps)).sqrt();
        x.iter().zip(w).map(|(v, w)| v * s * w).collect()
    };
    let d = c.head_dim;
    let rotate = |x: &mut [f64], pos: usize| {
        for head in x.chunks_exact_mut(d) {
            for i in 0..d / 2 {
                let angle = pos as f64 * f64::from(c.rope_base).powf(-2.0 * i as f64 / d as f64);
                let (a, b) = (head[i], head[i + d / 2]);
                head[i] = a * angle.cos() - b * angle.sin();
                head[i + d / 2] = a * angle.sin() + b * angle.cos();
            }
        }
    };
    let embed = t("model.embed_tokens.weight");
    let h = c.hidden_size;
    let mut xs: Vec<Vec<f64>> = tokens
        .iter()
        .map(|&tok| embed[tok as usize * h..(tok as usize + 1) * h].to_vec())
        .collect();
    for l in 0..c.layers {
        let p = |part: &str| t(&format!("model.layers.{l}.{part}.weight"));
        let (wq, wk, wv, wo) = (
            p("self_attn.q_proj"),
            p("self_attn.k_proj"),
            p("self_attn.v_proj"),
            p("self_attn.o_proj"),
        );
        let (wg, wu, wd) = (p("mlp.gate_proj"), p("mlp.up_proj"), p("mlp.down_proj"));
        let (n1, n2) = (p("input_layernorm"), p("post_attention_layernorm"));
        let mut keys = Vec::new();
        let mut values = Vec::new();
        for (pos, x) in xs.iter_mut().enumerate() {
            let a = norm(x, &n1);
            let mut q = matvec(&wq, &a);
            let mut k = matvec(&wk, &a);
            rotate(&mut q, pos);
            rotate(&mut k, pos);
            keys.push(k);
            values.push(matvec(&wv, &a));
            let mut attended = vec![0.0; c.q_dim()];
            for head in 0..c.heads {
                let g = head / (c.heads / c.kv_heads);
                let qh = &q[head * d..(head + 1) * d];
                let scores: Vec<f64> = keys
                    .iter()
                    .map(|k| {
                        qh.iter()
                            .zip(&k[g * d..(g + 1) * d])
                            .map(|(a, b)| a * b)
                            .sum::<f64>()
                            / (d as f64).sqrt()
                    })
                    .collect();
                let max = scores.iter().copied().fold(f64::MIN, f64::max);
                let e: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let total: f64 = e.iter().sum();
                for (p, v) in values.iter().enumerate() {
                    for i in 0..d {
                        attended[head * d + i] += e[p] / total * v[g * d + i];
                    }
                }
            }
            for (x, o) in x.iter_mut().zip(matvec(&wo, &attended)) {
                *x += o;
            }
            let b = norm(x, &n2);
            let gate = matvec(&wg, &b);
            let up = matvec(&wu, &b);
            let act: Vec<f64> = gate
                .iter()
                .zip(&up)
                .map(|(g, u)| g / (1.0 + (-g).exp()) * u)
                .collect();
            for (x, o) in x.iter_mut().zip(matvec(&wd, &act)) {
                *x += o;
            }
        }
    }
    let last = norm(xs.last().unwrap(), &t("model.norm.weight"));
    let out = if c.tied_embeddings {
        embed
    } else {
        t("lm_head.weight")
    };
    matvec(&out, &last)
}

/// Largest difference from the reference, as a fraction of the reference's largest magnitude.
fn relative_error(got: &[f32], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    got.iter()
        .zip(want)
        .map(|(g, w)| (f64::from(*g) - w).abs())
        .fold(0.0, f64::max)
        / scale
}

fn argmax(v: &[f32]) -> usize {
    (0..v.len()).max_by(|&a, &b| v[a].total_cmp(&v[b])).unwrap()
}

#[test]
fn both_loaders_give_the_reference_logits() {
    for tied in [false, true] {
        let tiny = TinyLlama::random(&config(tied), 7);
        let want = reference(&tiny, &PROMPT);
        let from_st = logits(&mut safetensors(&tiny, "F32", Engine::Quantized), &PROMPT);
        let from_gguf = logits(
            &mut gguf(&tiny, Format::F32, Format::F32, Engine::Quantized),
            &PROMPT,
        );
        // Float weights: the only rounding is the key/value cache in halves.
        assert!(
            relative_error(&from_st, &want) < 1e-3,
            "safetensors {}",
            relative_error(&from_st, &want)
        );
        assert!(
            relative_error(&from_gguf, &want) < 1e-3,
            "gguf {}",
            relative_error(&from_gguf, &want)
        );
        let both: Vec<f64> = from_st.iter().map(|&v| f64::from(v)).collect();
        assert!(
            relative_error(&from_gguf, &both) < 1e-5,
            "the two loaders differ"
        );
        assert_eq!(
            argmax(&from_gguf),
            argmax(&want.iter().map(|&v| v as f32).collect::<Vec<_>>())
        );
    }
}

#[test]
fn half_precision_safetensors_match_the_reference_of_their_stored_weights() {
    let tiny = TinyLlama::random(&config(true), 8);
    for (dtype, format) in [("F16", Format::F16), ("BF16", Format::BF16)] {
        let want = reference(&tiny.as_stored(format), &PROMPT);
        let got = logits(&mut safetensors(&tiny, dtype, Engine::Quantized), &PROMPT);
        assert!(
            relative_error(&got, &want) < 2e-3,
            "{dtype}: {}",
            relative_error(&got, &want)
        );
    }
}

/// Quantized GGUF files match the reference computed on the weights the file really holds;
/// what remains is the 8-bit rounding of activations inside the fused products.
#[test]
fn quantized_gguf_matches_the_reference_of_its_stored_weights() {
    let cases = [
        (config(false), Format::Q8_0, Format::Q8_0),
        (config(true), Format::Q4_0, Format::Q8_0),
        (config(false), Format::Q4_1, Format::Q4_1),
        (k_config(), Format::Q4K, Format::Q6K),
        (k_config(), Format::Q6K, Format::Q4K),
    ];
    for (config, format, embed) in cases {
        let tiny = TinyLlama::random(&config, 9);
        let mut stored = tiny.as_stored(format);
        let embed_name = "model.embed_tokens.weight".to_string();
        stored.tensors.insert(
            embed_name.clone(),
            tiny.as_stored(embed).tensors[&embed_name].clone(),
        );
        let prompt: Vec<u32> = PROMPT
            .iter()
            .map(|t| t % config.vocab_size as u32)
            .collect();
        let want = reference(&stored, &prompt);
        let got = logits(&mut gguf(&tiny, format, embed, Engine::Quantized), &prompt);
        let error = relative_error(&got, &want);
        assert!(
            error < 0.02,
            "{} / {}: {error}",
            format.name(),
            embed.name()
        );
        // And far from a model of other weights (the check can fail).
        let other = reference(&TinyLlama::random(&config, 10).as_stored(format), &prompt);
        assert!(relative_error(&got, &other) > 0.1);
    }
}

#[test]
fn the_wrong_rotary_layout_is_caught() {
    // A GGUF read as if it were rotate-half (no permutation) gives other logits.
    let tiny = TinyLlama::random(&config(false), 7);
    let bytes: Arc<[u8]> = tiny.to_gguf(Format::F32, Format::F32).into();
    let mut weights = ModelSource::Gguf(bytes).weights().unwrap();
    weights.config.rope_layout = RopeLayout::Halves;
    let mut model = LanguageModel::from_weights(Arc::new(weights), &Engine::Quantized);
    let got = logits(&mut model, &PROMPT);
    assert!(relative_error(&got, &reference(&tiny, &PROMPT)) > 0.01);
}

#[test]
fn cached_generation_equals_recomputing_everything() {
    let tiny = TinyLlama::random(&config(false), 11);
    let mut model = gguf(&tiny, Format::Q8_0, Format::Q8_0, Engine::Quantized);
    let mut session = model.new_session(64);
    let mut tokens = PROMPT.to_vec();
    let mut next = argmax(model.prefill(&mut session, &PROMPT, &|| false).unwrap()) as u32;
    for _ in 0..10 {
        tokens.push(next);
        let cached = model.step(&mut session, next).unwrap().to_vec();
        let fresh = logits(&mut model, &tokens);
        // The same arithmetic on the same numbers: bit for bit.
        assert_eq!(cached, fresh);
        next = argmax(&cached) as u32;
    }
    assert_eq!(session.tokens(), &tokens[..]);
    assert_eq!(
        session.kv_bytes(),
        tokens.len() * model.config().kv_bytes_per_token()
    );
}

#[test]
fn a_cached_prefix_equals_recomputing_it() {
    let tiny = TinyLlama::random(&config(true), 12);
    for engine in [Engine::Quantized, Engine::Burn(ComputeDevice::Cpu)] {
        let mut model = gguf(&tiny, Format::Q4_1, Format::Q8_0, engine);
        // A prefix longer than one chunk, so it is computed in pieces.
        let prefix: Vec<u32> = (0..45).map(|i| (i * 7 + 3) % 96).collect();
        let line = [9, 33, 71, 2];
        let mut persona = model.new_session(80);
        model.prefill(&mut persona, &prefix, &|| false).unwrap();
        let mut turn = persona.clone();
        let cached = model.prefill(&mut turn, &line, &|| false).unwrap().to_vec();
        let all: Vec<u32> = prefix.iter().chain(&line).copied().collect();
        let fresh = logits_in(&mut model, &all, 80);
        let diff = cached
            .iter()
            .zip(&fresh)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(diff < 1e-4, "{}: {diff}", model.engine_name());
        // Rolling back and taking another turn also matches.
        turn.truncate(prefix.len());
        let again = model.prefill(&mut turn, &line, &|| false).unwrap().to_vec();
        assert_eq!(again, cached, "{}", model.engine_name());
        // The original prefix session is untouched by its clone's turns.
        assert_eq!(persona.len(), prefix.len());
        // A longer prompt that starts with the session's tokens reuses them.
        assert_eq!(turn.shared_prefix(&all), all.len());
        assert_eq!(turn.shared_prefix(&[prefix[0], 95]), 1);
    }
}

fn logits_in(model: &mut LanguageModel, tokens: &[u32], capacity: usize) -> Vec<f32> {
    let mut s = model.new_session(capacity);
    model.prefill(&mut s, tokens, &|| false).unwrap().to_vec()
}

#[test]
fn the_burn_engine_matches_the_quantized_engine() {
    for (format, tolerance) in [(Format::F32, 1e-3), (Format::Q8_0, 0.02)] {
        let tiny = TinyLlama::random(&config(false), 13);
        let mut fast = gguf(&tiny, format, format, Engine::Quantized);
        let mut reference_engine = gguf(&tiny, format, format, Engine::Burn(ComputeDevice::Cpu));
        assert_eq!(reference_engine.engine_name(), "burn-cpu");
        let a = logits(&mut fast, &PROMPT);
        let b: Vec<f64> = logits(&mut reference_engine, &PROMPT)
            .iter()
            .map(|&v| f64::from(v))
            .collect();
        assert!(
            relative_error(&a, &b) < tolerance,
            "{}: {}",
            format.name(),
            relative_error(&a, &b)
        );
        // Step by step on burn too.
        let mut s = reference_engine.new_session(32);
        reference_engine
            .prefill(&mut s, &PROMPT[..3], &|| false)
            .unwrap();
        for &t in &PROMPT[3..] {
            reference_engine.step(&mut s, t).unwrap();
        }
        let stepped: Vec<f64> = reference_engine
            .step(&mut s, 4)
            .unwrap()
            .iter()
            .map(|&v| f64::from(v))
            .collect();
        let mut all = PROMPT.to_vec();
        all.push(4);
        assert!(relative_error(&logits(&mut fast, &all), &stepped) < tolerance);
    }
}

#[test]
fn the_resident_model_is_about_its_file() {
    let tiny = TinyLlama::random(&config(false), 14);
    let bytes = tiny.to_gguf(Format::Q4_1, Format::Q8_0);
    let len = bytes.len();
    let model = LanguageModel::load(ModelSource::Gguf(bytes.into()), Engine::Quantized).unwrap();
    let resident = model.resident_bytes();
    assert!(
        resident >= len && resident < len + len / 10,
        "{resident} vs file {len}"
    );
    assert!(model.weights().matrix_bytes() < len);
}

#[test]
fn seeded_generation_is_deterministic_and_respects_limits() {
    let tiny = TinyLlama::random(&config(false), 15);
    let mut model = gguf(&tiny, Format::Q8_0, Format::Q8_0, Engine::Quantized);
    let limits = GenerateLimits {
        max_tokens: 12,
        stop: vec![],
    };
    let mut run = |seed: u64, mask: &mut dyn LogitMask| {
        let mut s = model.new_session(64);
        let mut sampler = Sampler::new(SamplingParams {
            seed,
            temperature: 1.0,
            ..SamplingParams::default()
        });
        let mut streamed = Vec::new();
        let g = model
            .generate(
                &mut s,
                &PROMPT,
                &mut sampler,
                mask,
                &limits,
                &|| false,
                &mut |t| {
                    streamed.push(t);
                    true
                },
            )
            .unwrap();
        assert_eq!(g.tokens, streamed);
        assert_eq!(s.len(), PROMPT.len() + g.tokens.len());
        g
    };
    let a = run(1, &mut NoMask);
    assert_eq!((a.tokens.len(), a.stop), (12, StopReason::MaxTokens));
    assert_eq!(a, run(1, &mut NoMask));
    assert_ne!(a.tokens, run(2, &mut NoMask).tokens);
    // Ban every token the unconstrained run chose: none of them comes back.
    let banned = run(1, &mut BannedTokens(a.tokens.clone()));
    assert!(
        banned.tokens.iter().all(|t| !a.tokens.contains(t)),
        "{banned:?}"
    );
    // A stop token ends the reply without being part of it.
    let greedy = {
        let mut s = model.new_session(64);
        let l = model.prefill(&mut s, &PROMPT, &|| false).unwrap();
        argmax(l) as u32
    };
    let mut s = model.new_session(64);
    let stop = GenerateLimits {
        max_tokens: 12,
        stop: vec![greedy],
    };
    let g = model
        .generate(
            &mut s,
            &PROMPT,
            &mut Sampler::new(SamplingParams::greedy()),
            &mut NoMask,
            &stop,
            &|| false,
            &mut |_| true,
        )
        .unwrap();
    assert_eq!((g.tokens.len(), g.stop), (0, StopReason::Stop(greedy)));
}

#[test]
fn cancelling_stops_between_chunks_and_tokens_and_keeps_the_session() {
    let tiny = TinyLlama::random(&config(false), 16);
    let mut model = gguf(&tiny, Format::Q8_0, Format::Q8_0, Engine::Quantized);
    let mut s = model.new_session(128);
    model.prefill(&mut s, &[1, 2, 3], &|| false).unwrap();
    let long: Vec<u32> = (0..70).map(|i| i % 96).collect();
    let asked = std::cell::Cell::new(0);
    let cancel_on_second_ask = || {
        asked.set(asked.get() + 1);
        asked.get() >= 2
    };
    let result = model.prefill(&mut s, &long, &cancel_on_second_ask);
    assert_eq!(result.err(), Some(LlmError::Cancelled));
    assert_eq!(s.tokens(), &[1, 2, 3], "a cancelled prompt leaves no trace");
    asked.set(0);
    let cancel_after_four = || {
        asked.set(asked.get() + 1);
        asked.get() > 4
    };
    let limits = GenerateLimits {
        max_tokens: 50,
        stop: vec![],
    };
    let mut sampler = Sampler::new(SamplingParams::greedy());
    let mut count = 0;
    let result = model.generate(
        &mut s,
        &[4],
        &mut sampler,
        &mut NoMask,
        &limits,
        &cancel_after_four,
        &mut |_| {
            count += 1;
            true
        },
    );
    assert_eq!(result.err(), Some(LlmError::Cancelled));
    assert!((2..=4).contains(&count), "{count} tokens before cancelling");
}

#[test]
fn bad_input_is_an_error_never_a_panic() {
    let tiny = TinyLlama::random(&config(false), 17);
    let bytes = tiny.to_gguf(Format::Q4_1, Format::Q8_0);
    // Truncations anywhere (a sample of cut points) and flipped bytes in the header.
    for cut in (0..bytes.len()).step_by(997) {
        assert!(
            ModelSource::Gguf(bytes[..cut].to_vec().into())
                .weights()
                .is_err(),
            "cut {cut}"
        );
    }
    for at in (0..2000).step_by(7) {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x5a;
        // Either an error, or a model that still runs without panicking.
        if let Ok(mut m) = LanguageModel::load(ModelSource::Gguf(damaged.into()), Engine::Quantized)
        {
            let mut s = m.new_session(16);
            let _ = m.prefill(&mut s, &[1, 2], &|| false);
        }
    }
    let st = tiny.to_safetensors("F32");
    for cut in (0..st.len()).step_by(1009) {
        let source = ModelSource::Safetensors {
            config_json: tiny.config_json(),
            shards: vec![st[..cut].to_vec().into()],
        };
        assert!(source.weights().is_err(), "cut {cut}");
    }
    // A missing tensor is named.
    let source = ModelSource::Safetensors {
        config_json: tiny
            .config_json()
            .replace("\"num_hidden_layers\":2", "\"num_hidden_layers\":3"),
        shards: vec![st.into()],
    };
    assert_eq!(
        source.weights().err(),
        Some(LlmError::MissingTensor(
            "model.layers.2.input_layernorm.weight".into()
        ))
    );
    // A tensor of the wrong shape is named: metadata says 160 feed-forward units, the tensors
    // hold 128.
    let mut wide = tiny.clone();
    wide.config.intermediate_size = 160;
    let bytes = wide.to_gguf(Format::F32, Format::F32);
    let e = LanguageModel::load(ModelSource::Gguf(bytes.into()), Engine::Quantized).err();
    assert!(
        matches!(&e, Some(LlmError::Tensor(m)) if m.contains("ffn")),
        "{e:?}"
    );
    // Runtime misuse.
    let mut model = gguf(&tiny, Format::Q8_0, Format::Q8_0, Engine::Quantized);
    let mut s = model.new_session(4);
    assert_eq!(
        model.prefill(&mut s, &[500], &|| false).err(),
        Some(LlmError::TokenOutOfRange {
            token: 500,
            vocab: 96
        })
    );
    assert_eq!(
        model.prefill(&mut s, &[], &|| false).err(),
        Some(LlmError::EmptyInput)
    );
    assert_eq!(
        model.prefill(&mut s, &[1, 2, 3, 4, 5], &|| false).err(),
        Some(LlmError::ContextFull { capacity: 4 })
    );
    assert!(s.is_empty());
    let other = gguf(
        &TinyLlama::random(&k_config(), 1),
        Format::Q8_0,
        Format::Q8_0,
        Engine::Quantized,
    );
    let mut foreign = other.new_session(4);
    assert_eq!(
        model.prefill(&mut foreign, &[1], &|| false).err(),
        Some(LlmError::SessionMismatch)
    );
    let burn = gguf(
        &tiny,
        Format::Q8_0,
        Format::Q8_0,
        Engine::Burn(ComputeDevice::Cpu),
    );
    let mut burn_session = burn.new_session(4);
    assert_eq!(
        model.prefill(&mut burn_session, &[1], &|| false).err(),
        Some(LlmError::SessionMismatch)
    );
}

/// The model worker owns a model and its sessions on its own thread (a compile-time check).
#[test]
fn models_and_sessions_move_to_the_worker_thread() {
    fn send<T: Send + 'static>() {}
    send::<LanguageModel>();
    send::<Session>();
    send::<Sampler>();
}
