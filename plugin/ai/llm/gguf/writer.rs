//! Writing GGUF v3 files (tests and tools build small models with it): metadata written with
//! the types llama.cpp's converter uses, tensors aligned to 32 bytes.

use super::{DEFAULT_ALIGNMENT, GgmlType, MAGIC, MetaValue};

/// Writes GGUF v3 files: tests and tools build small models with it.
#[derive(Debug, Default)]
pub struct GgufWriter {
    metadata: Vec<(String, MetaValue)>,
    tensors: Vec<(String, Vec<u64>, GgmlType, Vec<u8>)>,
}

impl GgufWriter {
    /// An empty file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a metadata entry. Integers are written as `u32`/`i32` when they fit (as llama.cpp's
    /// converter does), floats as `f32`, arrays with their first element's type.
    pub fn meta(mut self, key: impl Into<String>, value: MetaValue) -> Self {
        self.metadata.push((key.into(), value));
        self
    }

    /// Adds a tensor with dimensions innermost first and its raw bytes.
    pub fn tensor(
        mut self,
        name: impl Into<String>,
        dims: &[u64],
        ty: GgmlType,
        data: Vec<u8>,
    ) -> Self {
        self.tensors.push((name.into(), dims.to_vec(), ty, data));
        self
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&3u32.to_le_bytes());
        out.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.metadata.len() as u64).to_le_bytes());
        for (key, value) in &self.metadata {
            write_string(&mut out, key);
            out.extend_from_slice(&type_of(value).to_le_bytes());
            write_value(&mut out, value);
        }
        let mut offset = 0u64;
        let mut offsets = Vec::new();
        for (name, dims, ty, data) in &self.tensors {
            write_string(&mut out, name);
            out.extend_from_slice(&(dims.len() as u32).to_le_bytes());
            for d in dims {
                out.extend_from_slice(&d.to_le_bytes());
            }
            out.extend_from_slice(&ty.id().to_le_bytes());
            out.extend_from_slice(&offset.to_le_bytes());
            offsets.push(offset);
            offset = (offset + data.len() as u64).div_ceil(DEFAULT_ALIGNMENT) * DEFAULT_ALIGNMENT;
        }
        let data_start = (out.len() as u64).div_ceil(DEFAULT_ALIGNMENT) * DEFAULT_ALIGNMENT;
        out.resize(data_start as usize, 0);
        for ((_, _, _, data), offset) in self.tensors.iter().zip(offsets) {
            out.resize((data_start + offset) as usize, 0);
            out.extend_from_slice(data);
        }
        out
    }
}

fn type_of(value: &MetaValue) -> u32 {
    match value {
        MetaValue::UInt(v) if u32::try_from(*v).is_ok() => 4,
        MetaValue::UInt(_) => 10,
        MetaValue::Int(v) if i32::try_from(*v).is_ok() => 5,
        MetaValue::Int(_) => 11,
        MetaValue::Float(_) => 6,
        MetaValue::Bool(_) => 7,
        MetaValue::Str(_) => 8,
        MetaValue::Array(_) => 9,
    }
}

fn write_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn write_value(out: &mut Vec<u8>, value: &MetaValue) {
    match value {
        MetaValue::UInt(v) => match u32::try_from(*v) {
            Ok(v) => out.extend_from_slice(&v.to_le_bytes()),
            Err(_) => out.extend_from_slice(&v.to_le_bytes()),
        },
        MetaValue::Int(v) => match i32::try_from(*v) {
            Ok(v) => out.extend_from_slice(&v.to_le_bytes()),
            Err(_) => out.extend_from_slice(&v.to_le_bytes()),
        },
        MetaValue::Float(v) => out.extend_from_slice(&(*v as f32).to_le_bytes()),
        MetaValue::Bool(b) => out.push(u8::from(*b)),
        MetaValue::Str(s) => write_string(out, s),
        MetaValue::Array(items) => {
            // An empty array is written as an array of u32.
            let elem = items.first().map_or(4, type_of);
            out.extend_from_slice(&elem.to_le_bytes());
            out.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for item in items {
                // Elements share the first element's type: widen integers that differ.
                match (elem, item) {
                    (10, MetaValue::UInt(v)) => out.extend_from_slice(&v.to_le_bytes()),
                    (11, MetaValue::Int(v)) => out.extend_from_slice(&v.to_le_bytes()),
                    _ => write_value(out, item),
                }
            }
        }
    }
}
