//! The binary kinds: valid files from parameters, and structure-aware steps that know their
//! layouts. A texture model (`.nca`) gets header fields, parameters and a re-computed checksum
//! (so a step reaches the checks behind it); a GGUF model is taken apart with the crate's reader,
//! changed as metadata and tensor descriptors, and written again with the crate's writer.

use aigc_world::ai::llm::gguf::{GgmlType, GgufFile, GgufWriter, MetaValue};
use aigc_world::ai::nca::NcaWeights;
use proptest::prelude::*;

/// A valid texture model of the given shape, parameters drawn from `seed`.
pub fn nca_file(channels: usize, hidden: usize, steps: u32, fire: f32, seed: u32) -> Vec<u8> {
    let count = NcaWeights::param_count(channels, hidden);
    let mut x = seed | 1;
    let mut params = (0..count).map(|_| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        (x % 2001) as f32 / 1000.0 - 1.0
    });
    let w1 = params.by_ref().take(4 * channels * hidden).collect();
    let b1 = params.by_ref().take(hidden).collect();
    let w2 = params.collect();
    NcaWeights {
        channels,
        hidden,
        steps,
        fire_rate: fire,
        w1,
        b1,
        w2,
    }
    .to_bytes()
}

pub fn valid_nca() -> impl Strategy<Value = Vec<u8>> {
    (
        4..=12usize,
        1..=24usize,
        1..=10_000u32,
        1..=1000u32,
        any::<u32>(),
    )
        .prop_map(|(c, h, s, f, seed)| nca_file(c, h, s, f as f32 / 1000.0, seed))
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// A structure-aware step on a `.nca` file.
#[derive(Clone, Debug)]
pub enum NcaOp {
    /// Set one of the six `u32` header fields (version, channels, hidden, steps, fire rate,
    /// parameter count) to an extreme.
    Header(u8, u32),
    /// Put NaN, an infinity or a huge value into a parameter.
    Param(usize, u8),
    /// Append or remove parameters (the count left as it was).
    Resize(i16),
}

pub fn nca_op() -> impl Strategy<Value = NcaOp> {
    let extreme = prop_oneof![
        Just(0u32),
        Just(1),
        Just(3),
        Just(4),
        Just(64),
        Just(65),
        Just(1024),
        Just(1025),
        Just(10_000),
        Just(10_001),
        Just(u32::MAX),
        Just(i32::MAX as u32),
        Just(f32::NAN.to_bits()),
        Just(f32::INFINITY.to_bits()),
        Just((-0.0f32).to_bits()),
        Just(1.0f32.to_bits()),
        Just(f32::MIN_POSITIVE.to_bits()),
        any::<u32>(),
    ];
    prop_oneof![
        3 => (0..6u8, extreme).prop_map(|(f, v)| NcaOp::Header(f, v)),
        2 => (any::<usize>(), any::<u8>()).prop_map(|(i, v)| NcaOp::Param(i, v)),
        1 => any::<i16>().prop_map(NcaOp::Resize),
    ]
}

/// Applies `ops` to a `.nca` file; with `fix_checksum`, the checksum is made right again so the
/// checks after it are reached.
pub fn mutate_nca(bytes: &mut Vec<u8>, ops: &[NcaOp], fix_checksum: bool) {
    const HEADER: usize = 32;
    if bytes.len() < HEADER + 8 {
        return;
    }
    bytes.truncate(bytes.len() - 8);
    for op in ops {
        match *op {
            NcaOp::Header(field, value) => {
                let at = 8 + 4 * usize::from(field % 6);
                bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
            }
            NcaOp::Param(i, v) => {
                let n = (bytes.len() - HEADER) / 4;
                if n > 0 {
                    let at = HEADER + 4 * (i % n);
                    let x = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, f32::MAX, -0.0]
                        [usize::from(v % 5)];
                    bytes[at..at + 4].copy_from_slice(&x.to_le_bytes());
                }
            }
            NcaOp::Resize(by) => {
                let len = bytes.len() as isize + 4 * isize::from(by);
                bytes.resize(len.max(HEADER as isize) as usize, 0x3f);
            }
        }
    }
    let hash = if fix_checksum {
        fnv1a(bytes)
    } else {
        0x0123_4567_89ab_cdef
    };
    bytes.extend_from_slice(&hash.to_le_bytes());
}

/// A structure-aware step on a GGUF file's metadata and tensor list.
#[derive(Clone, Debug)]
pub enum GgufOp {
    /// Remove a metadata entry.
    DropKey(usize),
    /// Write a metadata entry twice.
    DuplicateKey(usize),
    /// Give a metadata entry a value of another type.
    Retype(usize, u8),
    /// Put an extreme number into a numeric metadata entry (or an array's elements).
    Extreme(usize, u8),
    /// Make an array (or string) very long.
    Huge(usize, u8),
    /// Nest a metadata value in arrays.
    Deep(usize, u8),
    /// Remove a tensor.
    DropTensor(usize),
    /// Change a tensor's dimensions.
    Dims(usize, u8),
    /// Change a tensor's element type.
    TensorType(usize, u8),
    /// Move metadata entries or tensors around.
    Reorder(usize),
}

pub fn gguf_op() -> impl Strategy<Value = GgufOp> {
    let i = any::<usize>();
    prop_oneof![
        2 => i.prop_map(GgufOp::DropKey),
        1 => i.prop_map(GgufOp::DuplicateKey),
        2 => (i, any::<u8>()).prop_map(|(a, b)| GgufOp::Retype(a, b)),
        3 => (i, any::<u8>()).prop_map(|(a, b)| GgufOp::Extreme(a, b)),
        1 => (i, any::<u8>()).prop_map(|(a, b)| GgufOp::Huge(a, b)),
        1 => (i, any::<u8>()).prop_map(|(a, b)| GgufOp::Deep(a, b)),
        1 => i.prop_map(GgufOp::DropTensor),
        2 => (i, any::<u8>()).prop_map(|(a, b)| GgufOp::Dims(a, b)),
        1 => (i, any::<u8>()).prop_map(|(a, b)| GgufOp::TensorType(a, b)),
        1 => i.prop_map(GgufOp::Reorder),
    ]
}

const EXTREME_INTS: &[u64] = &[
    0,
    1,
    2,
    3,
    7,
    255,
    256,
    65_536,
    1 << 31,
    u32::MAX as u64,
    1 << 32,
    i64::MAX as u64,
    u64::MAX,
];

fn extreme(value: &MetaValue, which: u8) -> MetaValue {
    let w = usize::from(which);
    match value {
        MetaValue::UInt(_) => MetaValue::UInt(EXTREME_INTS[w % EXTREME_INTS.len()]),
        MetaValue::Int(_) => MetaValue::Int([0, -1, i64::MIN, i64::MAX, -65_536][w % 5]),
        MetaValue::Float(_) => MetaValue::Float(
            [
                f64::NAN,
                f64::INFINITY,
                f64::NEG_INFINITY,
                0.0,
                -0.0,
                1e300,
                -1e300,
                1e-320,
            ][w % 8],
        ),
        MetaValue::Array(items) => {
            MetaValue::Array(items.iter().map(|v| extreme(v, which)).collect())
        }
        MetaValue::Str(_) => {
            MetaValue::Str(["", "\0", "\u{fffd}\u{10ffff}", "{{ x }}"][w % 4].into())
        }
        MetaValue::Bool(b) => MetaValue::Bool(!b),
    }
}

fn retyped(value: &MetaValue, which: u8) -> MetaValue {
    match which % 6 {
        0 => MetaValue::UInt(7),
        1 => MetaValue::Int(-7),
        2 => MetaValue::Float(0.5),
        3 => MetaValue::Bool(true),
        4 => MetaValue::Str("x".into()),
        _ => MetaValue::Array(vec![value.clone()]),
    }
}

/// About how many bytes `value` takes in a file.
fn meta_size(value: &MetaValue) -> usize {
    match value {
        MetaValue::Str(s) => 8 + s.len(),
        MetaValue::Array(items) => 12 + items.iter().map(meta_size).sum::<usize>(),
        _ => 8,
    }
}

/// A tensor as the writer takes it.
type Tensor = (String, Vec<u64>, GgmlType, Vec<u8>);

/// Applies `ops` to a GGUF file; `None` if the crate's reader does not read it to begin with.
pub fn mutate_gguf(bytes: &[u8], ops: &[GgufOp]) -> Option<Vec<u8>> {
    let file = GgufFile::parse(bytes.to_vec()).ok()?;
    let mut meta: Vec<(String, MetaValue)> = file.metadata.clone().into_iter().collect();
    let mut tensors: Vec<Tensor> = file
        .tensors
        .iter()
        .map(|t| {
            let data = file.tensor_bytes(t).to_vec();
            (t.name.clone(), t.dims.clone(), t.ty, data)
        })
        .collect();
    for op in ops {
        let nm = meta.len().max(1);
        let nt = tensors.len().max(1);
        match *op {
            GgufOp::DropKey(i) if !meta.is_empty() => {
                meta.remove(i % nm);
            }
            GgufOp::DuplicateKey(i) if !meta.is_empty() => {
                let entry = meta[i % nm].clone();
                meta.push(entry);
            }
            GgufOp::Retype(i, w) if !meta.is_empty() => {
                let v = &mut meta[i % nm].1;
                *v = retyped(v, w);
            }
            GgufOp::Extreme(i, w) if !meta.is_empty() => {
                let v = &mut meta[i % nm].1;
                *v = extreme(v, w);
            }
            GgufOp::Huge(i, w) if !meta.is_empty() => {
                let len = [1_000, 50_000, 300_000][usize::from(w % 3)];
                let v = &mut meta[i % nm].1;
                *v = match v {
                    MetaValue::Array(items) => {
                        let item = items.first().cloned().unwrap_or(MetaValue::UInt(1));
                        // At most a few megabytes, whatever the item (an earlier step may have
                        // made it huge itself).
                        let size = meta_size(&item).max(1);
                        MetaValue::Array(vec![item; len.min(4_000_000 / size).max(1)])
                    }
                    _ => MetaValue::Str("ab ".repeat(len)),
                };
            }
            GgufOp::Deep(i, w) if !meta.is_empty() => {
                let v = &mut meta[i % nm].1;
                for _ in 0..1 + usize::from(w % 64) {
                    *v = MetaValue::Array(vec![v.clone()]);
                }
            }
            GgufOp::DropTensor(i) if !tensors.is_empty() => {
                tensors.remove(i % nt);
            }
            GgufOp::Dims(i, w) if !tensors.is_empty() => {
                let dims = &mut tensors[i % nt].1;
                match w % 5 {
                    0 => dims.reverse(),
                    1 => dims.push(1),
                    2 => dims[0] = 0,
                    3 => dims[0] = dims[0].saturating_mul(2),
                    _ => dims[0] = EXTREME_INTS[usize::from(w) % EXTREME_INTS.len()],
                }
            }
            GgufOp::TensorType(i, w) if !tensors.is_empty() => {
                let ids = [0, 1, 2, 3, 6, 8, 10, 12, 14, 30, 99, u32::MAX];
                tensors[i % nt].2 = GgmlType::from_id(ids[usize::from(w) % ids.len()]);
            }
            GgufOp::Reorder(i) => {
                meta.rotate_left(i % nm.max(1));
                tensors.rotate_left(i % nt.max(1));
            }
            _ => {}
        }
    }
    let mut writer = GgufWriter::new();
    for (key, value) in meta {
        writer = writer.meta(key, value);
    }
    for (name, dims, ty, data) in tensors {
        writer = writer.tensor(name, &dims, ty, data);
    }
    Some(writer.to_bytes())
}
