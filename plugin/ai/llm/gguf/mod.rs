//! GGUF files (llama.cpp's model format, versions 2 and 3): header, metadata and tensor
//! descriptors, read without copying the tensor data. Pure Rust, no burn.
//!
//! Layout: magic `GGUF`, `u32` version, `u64` tensor count, `u64` metadata count, the metadata
//! (key string, `u32` type, value), the tensor descriptors (name, `u32` dimension count, `u64`
//! dimensions innermost first, `u32` type, `u64` offset into the data), padding to
//! `general.alignment` (32 by default), then the tensor data. All little-endian; strings are a
//! `u64` length and UTF-8 bytes.
//!
//! Every count and offset is checked against the bytes that are actually there before anything
//! is allocated, so a truncated or hostile file is an error with a byte offset, never a panic
//! or a huge allocation.

use std::collections::BTreeMap;
use std::sync::Arc;

use thiserror::Error;

mod writer;
pub use writer::GgufWriter;

const MAGIC: &[u8; 4] = b"GGUF";
const DEFAULT_ALIGNMENT: u64 = 32;
/// Arrays inside arrays deeper than this are rejected (real files use none).
const MAX_ARRAY_DEPTH: u32 = 4;
/// Tensors with more dimensions than this are rejected (GGML has at most 4).
const MAX_DIMS: u32 = 4;

/// Why a GGUF file could not be read. Offsets are bytes from the start of the file.
#[derive(Clone, Debug, PartialEq, Error)]
#[non_exhaustive]
pub enum GgufError {
    /// The file ends before a value that should be there.
    #[error("truncated at byte {offset}: {what} needs {needed} more bytes")]
    Truncated {
        /// Where the missing value starts.
        offset: usize,
        /// What was being read.
        what: &'static str,
        /// Bytes it needs.
        needed: u64,
    },
    /// The file does not start with `GGUF`.
    #[error("not a GGUF file (bad magic bytes)")]
    BadMagic,
    /// A version this reader does not know (it reads 2 and 3).
    #[error("unsupported GGUF version {0} (this build reads versions 2 and 3)")]
    Version(u32),
    /// Something in the file is malformed.
    #[error("at byte {offset}: {message}")]
    Malformed {
        /// Where.
        offset: usize,
        /// What is wrong.
        message: String,
    },
}

impl GgufError {
    /// Byte offset the error refers to, when it has one.
    pub fn offset(&self) -> Option<usize> {
        match self {
            Self::Truncated { offset, .. } | Self::Malformed { offset, .. } => Some(*offset),
            Self::BadMagic | Self::Version(_) => Some(0),
        }
    }
}

/// GGML tensor element types this crate can hold. Others are named by id in errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GgmlType {
    /// 32-bit float.
    F32,
    /// IEEE half.
    F16,
    /// bfloat16.
    BF16,
    /// 32 weights: `f16` scale, 16 bytes of 4-bit values (offset 8).
    Q4_0,
    /// 32 weights: `f16` scale, `f16` minimum, 16 bytes of 4-bit values.
    Q4_1,
    /// 32 weights: `f16` scale, 32 signed bytes.
    Q8_0,
    /// 256 weights in 8 sub-blocks with 6-bit scales and minimums.
    Q4K,
    /// 256 weights of 6 bits in 16 sub-blocks with 8-bit scales.
    Q6K,
    /// A type this build does not read (the GGML id).
    Other(u32),
}

impl GgmlType {
    /// The type with GGML id `id`.
    pub fn from_id(id: u32) -> Self {
        match id {
            0 => Self::F32,
            1 => Self::F16,
            2 => Self::Q4_0,
            3 => Self::Q4_1,
            8 => Self::Q8_0,
            12 => Self::Q4K,
            14 => Self::Q6K,
            30 => Self::BF16,
            other => Self::Other(other),
        }
    }

    /// GGML's id for the type.
    pub fn id(self) -> u32 {
        match self {
            Self::F32 => 0,
            Self::F16 => 1,
            Self::Q4_0 => 2,
            Self::Q4_1 => 3,
            Self::Q8_0 => 8,
            Self::Q4K => 12,
            Self::Q6K => 14,
            Self::BF16 => 30,
            Self::Other(id) => id,
        }
    }

    /// `(weights per block, bytes per block)`, or `None` for a type this build does not read.
    pub fn block(self) -> Option<(u64, u64)> {
        Some(match self {
            Self::F32 => (1, 4),
            Self::F16 | Self::BF16 => (1, 2),
            Self::Q4_0 => (32, 18),
            Self::Q4_1 => (32, 20),
            Self::Q8_0 => (32, 34),
            Self::Q4K => (256, 144),
            Self::Q6K => (256, 210),
            Self::Other(_) => return None,
        })
    }

    /// Bytes taken by `count` weights (a whole number of blocks), or `None` if the type is not
    /// read here, `count` is not a multiple of the block size, or the size overflows `u64`.
    pub fn bytes_for(self, count: u64) -> Option<u64> {
        let (per_block, bytes) = self.block()?;
        if !count.is_multiple_of(per_block) {
            return None;
        }
        (count / per_block).checked_mul(bytes)
    }

    /// GGML's name of the type (`Q4_1`, `F16`, ...).
    pub fn name(self) -> String {
        match self {
            Self::F32 => "F32".into(),
            Self::F16 => "F16".into(),
            Self::BF16 => "BF16".into(),
            Self::Q4_0 => "Q4_0".into(),
            Self::Q4_1 => "Q4_1".into(),
            Self::Q8_0 => "Q8_0".into(),
            Self::Q4K => "Q4_K".into(),
            Self::Q6K => "Q6_K".into(),
            Self::Other(id) => format!("GGML type {id}"),
        }
    }
}

/// A metadata value.
#[derive(Clone, Debug, PartialEq)]
pub enum MetaValue {
    /// `u8`, `u16`, `u32` or `u64`.
    UInt(u64),
    /// `i8`, `i16`, `i32` or `i64`.
    Int(i64),
    /// `f32` or `f64`.
    Float(f64),
    /// `bool`.
    Bool(bool),
    /// A string.
    Str(String),
    /// An array (all elements of one type).
    Array(Vec<MetaValue>),
}

impl MetaValue {
    /// The value as an unsigned integer, if it is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Self::UInt(v) => Some(v),
            Self::Int(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as a float, if it is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Self::Float(v) => Some(v),
            Self::UInt(v) => Some(v as f64),
            Self::Int(v) => Some(v as f64),
            _ => None,
        }
    }

    /// The string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The boolean, if it is one.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Self::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The elements, if it is an array.
    pub fn as_array(&self) -> Option<&[MetaValue]> {
        match self {
            Self::Array(v) => Some(v),
            _ => None,
        }
    }
}

/// A tensor's name, shape, type and where its bytes are in the file.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    /// The tensor's name (`blk.0.attn_q.weight`).
    pub name: String,
    /// Dimensions innermost (fastest-varying) first, as GGML lists them: a weight matrix of
    /// `rows` outputs by `cols` inputs is `[cols, rows]`.
    pub dims: Vec<u64>,
    /// Element type.
    pub ty: GgmlType,
    /// Byte range of the data in the file.
    pub range: std::ops::Range<usize>,
}

impl TensorInfo {
    /// Number of elements.
    pub fn elements(&self) -> u64 {
        self.dims.iter().product()
    }
}

/// A parsed GGUF file: metadata, tensor descriptors and the bytes they point into.
#[derive(Clone, Debug)]
pub struct GgufFile {
    /// Format version (2 or 3).
    pub version: u32,
    /// Metadata, by key.
    pub metadata: BTreeMap<String, MetaValue>,
    /// Tensors in file order.
    pub tensors: Vec<TensorInfo>,
    bytes: Arc<[u8]>,
}

impl GgufFile {
    /// Parses `bytes`. Tensor data is not copied: [`tensor_bytes`](Self::tensor_bytes) borrows it.
    pub fn parse(bytes: impl Into<Arc<[u8]>>) -> Result<Self, GgufError> {
        let bytes: Arc<[u8]> = bytes.into();
        let mut r = Cursor {
            bytes: &bytes,
            at: 0,
        };
        if r.take(4, "magic")? != MAGIC {
            return Err(GgufError::BadMagic);
        }
        let version = r.u32("version")?;
        if !(2..=3).contains(&version) {
            return Err(GgufError::Version(version));
        }
        // Each descriptor and key-value takes at least 8 + 4 bytes, so counts beyond what the
        // file can hold are rejected before anything is reserved.
        let tensor_count = r.count("tensor count", 12)?;
        let kv_count = r.count("metadata count", 12)?;
        let mut metadata = BTreeMap::new();
        for _ in 0..kv_count {
            let key_at = r.at;
            let key = r.string("metadata key")?;
            let ty = r.u32("metadata type")?;
            let value = r.value(ty, 0)?;
            if metadata.insert(key.clone(), value).is_some() {
                return Err(r.malformed(key_at, format!("metadata key `{key}` appears twice")));
            }
        }
        let alignment = match metadata.get("general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some(v) => match v.as_u64() {
                Some(a) if a.is_power_of_two() && a <= 1 << 16 => a,
                _ => {
                    return Err(
                        r.malformed(0, format!("general.alignment {v:?} is not a power of two"))
                    );
                }
            },
        };
        let mut infos = Vec::with_capacity(tensor_count);
        for _ in 0..tensor_count {
            let at = r.at;
            let name = r.string("tensor name")?;
            let n_dims = r.u32("tensor dimension count")?;
            if n_dims == 0 || n_dims > MAX_DIMS {
                return Err(r.malformed(at, format!("tensor `{name}` has {n_dims} dimensions")));
            }
            let mut dims = Vec::with_capacity(n_dims as usize);
            for _ in 0..n_dims {
                dims.push(r.u64("tensor dimension")?);
            }
            let ty = GgmlType::from_id(r.u32("tensor type")?);
            let offset = r.u64("tensor offset")?;
            infos.push((at, name, dims, ty, offset));
        }
        let data_start = (r.at as u64).div_ceil(alignment) * alignment;
        let mut tensors = Vec::with_capacity(infos.len());
        let mut names = std::collections::HashSet::new();
        for (at, name, dims, ty, offset) in infos {
            if !names.insert(name.clone()) {
                return Err(r.malformed(at, format!("tensor `{name}` appears twice")));
            }
            let elements = dims
                .iter()
                .try_fold(1u64, |acc, &d| acc.checked_mul(d))
                .ok_or_else(|| r.malformed(at, format!("tensor `{name}`: shape overflows")))?;
            let size = match ty.bytes_for(elements) {
                Some(size) => size,
                // Unknown types are kept (a file may carry tensors we never use) with no range.
                None if ty.block().is_none() => 0,
                None if ty
                    .block()
                    .is_some_and(|(per, _)| elements.is_multiple_of(per)) =>
                {
                    return Err(r.malformed(at, format!("tensor `{name}`: size overflows")));
                }
                None => {
                    return Err(r.malformed(
                        at,
                        format!(
                            "tensor `{name}`: {elements} elements is not a whole number of {} blocks",
                            ty.name()
                        ),
                    ));
                }
            };
            if offset % alignment != 0 {
                return Err(r.malformed(
                    at,
                    format!("tensor `{name}`: offset {offset} is not aligned to {alignment}"),
                ));
            }
            let start = data_start.checked_add(offset);
            let end = start.and_then(|s| s.checked_add(size));
            let (Some(start), Some(end)) = (start, end) else {
                return Err(r.malformed(at, format!("tensor `{name}`: offset overflows")));
            };
            if end > bytes.len() as u64 {
                return Err(GgufError::Truncated {
                    offset: bytes.len(),
                    what: "tensor data",
                    needed: end - bytes.len() as u64,
                });
            }
            tensors.push(TensorInfo {
                name,
                dims,
                ty,
                range: start as usize..end as usize,
            });
        }
        Ok(Self {
            version,
            metadata,
            tensors,
            bytes,
        })
    }

    /// The tensor called `name`.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// The raw bytes of `tensor` (quantized blocks, or little-endian floats).
    pub fn tensor_bytes(&self, tensor: &TensorInfo) -> &[u8] {
        &self.bytes[tensor.range.clone()]
    }

    /// The whole file.
    pub fn bytes(&self) -> &Arc<[u8]> {
        &self.bytes
    }

    /// Metadata value for `key`.
    pub fn get(&self, key: &str) -> Option<&MetaValue> {
        self.metadata.get(key)
    }

    /// String metadata for `key`.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(MetaValue::as_str)
    }

    /// Unsigned integer metadata for `key`.
    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.get(key).and_then(MetaValue::as_u64)
    }

    /// Numeric metadata for `key`.
    pub fn get_f64(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(MetaValue::as_f64)
    }
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn take(&mut self, n: u64, what: &'static str) -> Result<&'a [u8], GgufError> {
        if n > self.remaining() as u64 {
            return Err(GgufError::Truncated {
                offset: self.at,
                what,
                needed: n - self.remaining() as u64,
            });
        }
        let slice = &self.bytes[self.at..self.at + n as usize];
        self.at += n as usize;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], GgufError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N as u64, what)?);
        Ok(out)
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, GgufError> {
        self.array(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, GgufError> {
        self.array(what).map(u64::from_le_bytes)
    }

    /// A count of items each at least `min_size` bytes long, checked against what is left.
    fn count(&mut self, what: &'static str, min_size: u64) -> Result<usize, GgufError> {
        let at = self.at;
        let n = self.u64(what)?;
        let fits = n
            .checked_mul(min_size)
            .is_some_and(|b| b <= self.remaining() as u64);
        if !fits {
            return Err(self.malformed(
                at,
                format!(
                    "{what} {n} cannot fit in the {} bytes left",
                    self.remaining()
                ),
            ));
        }
        Ok(n as usize)
    }

    fn string(&mut self, what: &'static str) -> Result<String, GgufError> {
        let at = self.at;
        let len = self.u64(what)?;
        let raw = self.take(len, what)?;
        String::from_utf8(raw.to_vec())
            .map_err(|e| self.malformed(at, format!("{what} is not UTF-8: {e}")))
    }

    fn value(&mut self, ty: u32, depth: u32) -> Result<MetaValue, GgufError> {
        let at = self.at;
        Ok(match ty {
            0 => MetaValue::UInt(self.array::<1>("u8")?[0].into()),
            1 => MetaValue::Int(i8::from_le_bytes(self.array("i8")?).into()),
            2 => MetaValue::UInt(u16::from_le_bytes(self.array("u16")?).into()),
            3 => MetaValue::Int(i16::from_le_bytes(self.array("i16")?).into()),
            4 => MetaValue::UInt(self.u32("u32")?.into()),
            5 => MetaValue::Int(i32::from_le_bytes(self.array("i32")?).into()),
            6 => MetaValue::Float(f32::from_le_bytes(self.array("f32")?).into()),
            7 => match self.array::<1>("bool")?[0] {
                0 => MetaValue::Bool(false),
                1 => MetaValue::Bool(true),
                b => return Err(self.malformed(at, format!("bool value {b}"))),
            },
            8 => MetaValue::Str(self.string("string value")?),
            9 => {
                if depth >= MAX_ARRAY_DEPTH {
                    return Err(self.malformed(at, "arrays nested too deeply".into()));
                }
                let elem = self.u32("array element type")?;
                let min_size = match elem {
                    0 | 1 | 7 => 1,
                    2 | 3 => 2,
                    4..=6 => 4,
                    8..=12 => 8,
                    other => return Err(self.malformed(at, format!("array of type {other}"))),
                };
                let n = self.count("array length", min_size)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(elem, depth + 1)?);
                }
                MetaValue::Array(items)
            }
            10 => MetaValue::UInt(self.u64("u64")?),
            11 => MetaValue::Int(i64::from_le_bytes(self.array("i64")?)),
            12 => MetaValue::Float(f64::from_le_bytes(self.array("f64")?)),
            other => return Err(self.malformed(at, format!("unknown metadata type {other}"))),
        })
    }

    fn malformed(&self, offset: usize, message: String) -> GgufError {
        GgufError::Malformed { offset, message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        GgufWriter::new()
            .meta("general.architecture", MetaValue::Str("llama".into()))
            .meta("llama.block_count", MetaValue::UInt(2))
            .meta("llama.rope.freq_base", MetaValue::Float(10000.0))
            .meta(
                "tokenizer.ggml.tokens",
                MetaValue::Array(vec![MetaValue::Str("a".into()), MetaValue::Str("é".into())]),
            )
            .meta("flag", MetaValue::Bool(true))
            .meta("neg", MetaValue::Int(-3))
            .tensor(
                "x",
                &[2, 3],
                GgmlType::F32,
                (0..6u32).flat_map(|i| (i as f32).to_le_bytes()).collect(),
            )
            .tensor("q", &[32], GgmlType::Q8_0, vec![7; 34])
            .to_bytes()
    }

    #[test]
    fn reads_what_the_writer_wrote() {
        let file = GgufFile::parse(sample()).unwrap();
        assert_eq!(file.version, 3);
        assert_eq!(file.get_str("general.architecture"), Some("llama"));
        assert_eq!(file.get_u64("llama.block_count"), Some(2));
        assert_eq!(file.get_f64("llama.rope.freq_base"), Some(10000.0));
        assert_eq!(file.get("flag").and_then(MetaValue::as_bool), Some(true));
        assert_eq!(file.get("neg"), Some(&MetaValue::Int(-3)));
        let tokens = file
            .get("tokenizer.ggml.tokens")
            .unwrap()
            .as_array()
            .unwrap();
        assert_eq!(tokens[1].as_str(), Some("é"));
        let x = file.tensor("x").unwrap();
        assert_eq!(
            (x.dims.as_slice(), x.ty, x.elements()),
            (&[2, 3][..], GgmlType::F32, 6)
        );
        assert_eq!(x.range.start % 32, 0);
        let floats: Vec<f32> = file
            .tensor_bytes(x)
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(floats, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        let q = file.tensor("q").unwrap();
        assert_eq!(file.tensor_bytes(q), &[7; 34][..]);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let bytes = sample();
        for len in 0..bytes.len() - 1 {
            let err = GgufFile::parse(bytes[..len].to_vec()).unwrap_err();
            assert!(err.offset().is_some(), "{len}: {err}");
        }
    }

    #[test]
    fn rejects_bad_magic_versions_and_huge_counts() {
        let mut bytes = sample();
        bytes[0] = b'X';
        assert_eq!(GgufFile::parse(bytes).unwrap_err(), GgufError::BadMagic);
        let mut bytes = sample();
        bytes[4] = 1;
        assert_eq!(GgufFile::parse(bytes).unwrap_err(), GgufError::Version(1));
        // A tensor count of 2^60 must not allocate.
        let mut bytes = sample();
        bytes[8..16].copy_from_slice(&(1u64 << 60).to_le_bytes());
        assert!(matches!(
            GgufFile::parse(bytes).unwrap_err(),
            GgufError::Malformed { offset: 8, .. }
        ));
        // So must a string length of 2^62.
        let mut bytes = sample();
        bytes[24..32].copy_from_slice(&(1u64 << 62).to_le_bytes());
        assert!(matches!(
            GgufFile::parse(bytes).unwrap_err(),
            GgufError::Truncated { offset: 32, .. }
        ));
    }

    #[test]
    fn a_tensor_reaching_past_the_end_is_truncation() {
        let bytes = sample();
        let cut = bytes.len() - 1;
        assert!(matches!(
            GgufFile::parse(bytes[..cut].to_vec()).unwrap_err(),
            GgufError::Truncated {
                what: "tensor data",
                ..
            }
        ));
    }

    #[test]
    fn block_sizes_match_ggml() {
        assert_eq!(GgmlType::Q4_1.bytes_for(64), Some(40));
        assert_eq!(GgmlType::Q4K.bytes_for(512), Some(288));
        assert_eq!(GgmlType::Q6K.bytes_for(256), Some(210));
        assert_eq!(GgmlType::Q8_0.bytes_for(33), None);
        // Found by the fuzzer: a huge element count overflowed the multiplication.
        assert_eq!(GgmlType::F32.bytes_for(u64::MAX), None);
        assert_eq!(GgmlType::from_id(30), GgmlType::BF16);
        assert_eq!(GgmlType::from_id(99).block(), None);
    }
}
