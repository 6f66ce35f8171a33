//! Hugging Face safetensors files: an 8-byte little-endian header length, a JSON header naming
//! each tensor's `dtype`, `shape` and `data_offsets` (relative to the end of the header), then
//! the data. Read over the file's bytes without copying; every offset and size is checked.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;

use super::LlmError;
use aigc_world_kernels::Format;

/// One tensor of a safetensors file.
#[derive(Clone, Debug, PartialEq)]
pub struct SafeTensor {
    /// Element type, when it is one the engines read (`F32`, `F16`, `BF16`).
    pub format: Option<Format>,
    /// The `dtype` as written.
    pub dtype: String,
    /// Shape, outermost first (a weight matrix is `[rows, cols]`).
    pub shape: Vec<usize>,
    /// Byte range in the file.
    pub range: std::ops::Range<usize>,
}

/// A parsed safetensors file.
#[derive(Clone, Debug)]
pub struct SafetensorsFile {
    /// Tensors by name.
    pub tensors: BTreeMap<String, SafeTensor>,
    bytes: Arc<[u8]>,
}

#[derive(Deserialize)]
struct Entry {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: (usize, usize),
}

impl SafetensorsFile {
    /// Parses `bytes`; the tensor data is borrowed, not copied.
    pub fn parse(bytes: impl Into<Arc<[u8]>>) -> Result<Self, LlmError> {
        let bytes: Arc<[u8]> = bytes.into();
        let bad = |m: String| LlmError::Safetensors(m);
        let len_bytes: [u8; 8] = bytes
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad(format!("{} bytes is too short for a header", bytes.len())))?;
        let header_len = u64::from_le_bytes(len_bytes);
        let data_start = usize::try_from(header_len)
            .ok()
            .and_then(|h| h.checked_add(8))
            .filter(|&end| end <= bytes.len())
            .ok_or_else(|| bad(format!("header of {header_len} bytes runs past the end")))?;
        let header = std::str::from_utf8(&bytes[8..data_start])
            .map_err(|e| bad(format!("header is not UTF-8: {e}")))?;
        let raw: BTreeMap<String, serde_json::Value> = serde_json::from_str(header.trim_end())
            .map_err(|e| bad(format!("header:{}:{}: {e}", e.line(), e.column())))?;
        let data_len = bytes.len() - data_start;
        let mut tensors = BTreeMap::new();
        for (name, value) in raw {
            if name == "__metadata__" {
                continue;
            }
            let entry: Entry =
                serde_json::from_value(value).map_err(|e| bad(format!("tensor `{name}`: {e}")))?;
            let (begin, end) = entry.data_offsets;
            if begin > end || end > data_len {
                return Err(bad(format!(
                    "tensor `{name}`: data {begin}..{end} outside the {data_len} data bytes"
                )));
            }
            let elem = match entry.dtype.as_str() {
                "F64" | "I64" | "U64" => 8,
                "F32" | "I32" | "U32" => 4,
                "F16" | "BF16" | "I16" | "U16" => 2,
                "I8" | "U8" | "BOOL" | "F8_E4M3" | "F8_E5M2" => 1,
                other => return Err(bad(format!("tensor `{name}`: unknown dtype {other}"))),
            };
            let size = entry
                .shape
                .iter()
                .try_fold(elem, |acc: usize, &d| acc.checked_mul(d));
            if size != Some(end - begin) {
                return Err(bad(format!(
                    "tensor `{name}`: shape {:?} of {} does not fill {} bytes",
                    entry.shape,
                    entry.dtype,
                    end - begin
                )));
            }
            let format = match entry.dtype.as_str() {
                "F32" => Some(Format::F32),
                "F16" => Some(Format::F16),
                "BF16" => Some(Format::BF16),
                _ => None,
            };
            tensors.insert(
                name,
                SafeTensor {
                    format,
                    dtype: entry.dtype,
                    shape: entry.shape,
                    range: data_start + begin..data_start + end,
                },
            );
        }
        Ok(Self { tensors, bytes })
    }

    /// The whole file.
    pub fn bytes(&self) -> &Arc<[u8]> {
        &self.bytes
    }
}

/// Writes safetensors files (tests and tools): tensors as `(name, dtype, shape, bytes)`.
pub fn write_safetensors(tensors: &[(String, &str, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut offset = 0;
    for (name, dtype, shape, data) in tensors {
        header.insert(
            name.clone(),
            serde_json::json!({
                "dtype": dtype,
                "shape": shape,
                "data_offsets": [offset, offset + data.len()],
            }),
        );
        offset += data.len();
    }
    let mut json = serde_json::Value::Object(header).to_string().into_bytes();
    // Pad the header with spaces so the data starts 8-byte aligned, as the format recommends.
    while !(json.len() + 8).is_multiple_of(8) {
        json.push(b' ');
    }
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend(json);
    for (_, _, _, data) in tensors {
        out.extend(data);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let floats: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        write_safetensors(&[
            ("a.weight".into(), "F32", vec![2, 3], floats),
            ("b".into(), "BF16", vec![2], vec![0x80, 0x3f, 0x00, 0x40]),
        ])
    }

    #[test]
    fn reads_what_the_writer_wrote() {
        let file = SafetensorsFile::parse(sample()).unwrap();
        let a = &file.tensors["a.weight"];
        assert_eq!(
            (a.format, a.shape.as_slice()),
            (Some(Format::F32), &[2, 3][..])
        );
        assert_eq!(&file.bytes()[a.range.clone()][4..8], &2.0f32.to_le_bytes());
        assert_eq!(file.tensors["b"].format, Some(Format::BF16));
    }

    #[test]
    fn damage_is_an_error_not_a_panic() {
        let bytes = sample();
        for len in 0..bytes.len() {
            assert!(
                SafetensorsFile::parse(bytes[..len].to_vec()).is_err(),
                "{len}"
            );
        }
        let mut huge = sample();
        huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(SafetensorsFile::parse(huge).is_err());
        let mut wrong_shape = sample();
        let at = wrong_shape
            .windows(5)
            .position(|w| w == b"[2,3]")
            .expect("shape in the header");
        wrong_shape[at + 1] = b'3';
        let e = SafetensorsFile::parse(wrong_shape).unwrap_err();
        assert!(e.to_string().contains("does not fill"), "{e}");
    }
}
