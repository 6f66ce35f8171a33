//! GGML block formats and a checked view of a weight matrix stored in one.
//!
//! Byte layouts (little-endian; `f16` is an IEEE half):
//!
//! | format | weights per block | bytes | layout |
//! |---|---|---|---|
//! | `Q4_0` | 32 | 18 | `d: f16`, `qs: [u8; 16]`; weight `j` is `(qs[j] & 15) - 8`, weight `j + 16` is `(qs[j] >> 4) - 8`, times `d` |
//! | `Q4_1` | 32 | 20 | `d: f16`, `m: f16`, `qs: [u8; 16]`; nibbles as `Q4_0` without the offset, times `d`, plus `m` |
//! | `Q8_0` | 32 | 34 | `d: f16`, `qs: [i8; 32]`; weight is `qs[j] * d` |
//! | `Q4_K` | 256 | 144 | `d: f16`, `dmin: f16`, `scales: [u8; 12]` (eight 6-bit scales and minimums), `qs: [u8; 128]` |
//! | `Q6_K` | 256 | 210 | `ql: [u8; 128]` (low 4 bits), `qh: [u8; 64]` (high 2 bits), `scales: [i8; 16]`, `d: f16` |
//!
//! The K formats are detailed in [`crate::dequant`].

/// A weight storage format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// 32-bit floats.
    F32,
    /// IEEE halves.
    F16,
    /// bfloat16.
    BF16,
    /// 4-bit, one scale per 32.
    Q4_0,
    /// 4-bit, a scale and a minimum per 32.
    Q4_1,
    /// 8-bit, one scale per 32.
    Q8_0,
    /// 4-bit super-blocks of 256 with 6-bit sub-block scales and minimums.
    Q4K,
    /// 6-bit super-blocks of 256 with 8-bit scales per 16.
    Q6K,
}

impl Format {
    /// Every format, for tests and tools.
    pub const ALL: [Format; 8] = [
        Format::F32,
        Format::F16,
        Format::BF16,
        Format::Q4_0,
        Format::Q4_1,
        Format::Q8_0,
        Format::Q4K,
        Format::Q6K,
    ];

    /// Weights per block.
    pub const fn block_len(self) -> usize {
        match self {
            Format::F32 | Format::F16 | Format::BF16 => 1,
            Format::Q4_0 | Format::Q4_1 | Format::Q8_0 => 32,
            Format::Q4K | Format::Q6K => 256,
        }
    }

    /// Bytes per block.
    pub const fn block_bytes(self) -> usize {
        match self {
            Format::F32 => 4,
            Format::F16 | Format::BF16 => 2,
            Format::Q4_0 => 18,
            Format::Q4_1 => 20,
            Format::Q8_0 => 34,
            Format::Q4K => 144,
            Format::Q6K => 210,
        }
    }

    /// Bytes of a row of `cols` weights, or `None` when `cols` is not a whole number of blocks.
    pub const fn row_bytes(self, cols: usize) -> Option<usize> {
        if !cols.is_multiple_of(self.block_len()) {
            return None;
        }
        (cols / self.block_len()).checked_mul(self.block_bytes())
    }

    /// GGML's name for the format.
    pub const fn name(self) -> &'static str {
        match self {
            Format::F32 => "F32",
            Format::F16 => "F16",
            Format::BF16 => "BF16",
            Format::Q4_0 => "Q4_0",
            Format::Q4_1 => "Q4_1",
            Format::Q8_0 => "Q8_0",
            Format::Q4K => "Q4_K",
            Format::Q6K => "Q6_K",
        }
    }
}

/// Why bytes cannot be viewed as a matrix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShapeError {
    /// The columns are not a whole number of blocks.
    Blocks {
        /// The format.
        format: Format,
        /// Columns asked for.
        cols: usize,
    },
    /// The byte count does not match the shape.
    Bytes {
        /// The format.
        format: Format,
        /// Rows asked for.
        rows: usize,
        /// Columns asked for.
        cols: usize,
        /// Bytes given.
        found: usize,
    },
}

impl std::fmt::Display for ShapeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            ShapeError::Blocks { format, cols } => write!(
                f,
                "{cols} columns of {} are not a whole number of {}-weight blocks",
                format.name(),
                format.block_len()
            ),
            ShapeError::Bytes {
                format,
                rows,
                cols,
                found,
            } => match format.row_bytes(cols).and_then(|r| r.checked_mul(rows)) {
                Some(needed) => write!(
                    f,
                    "{rows}x{cols} {} needs {needed} bytes, found {found}",
                    format.name()
                ),
                None => write!(f, "{rows}x{cols} {} is too large", format.name()),
            },
        }
    }
}

impl std::error::Error for ShapeError {}

/// A `rows` x `cols` weight matrix, row-major (each row a run of blocks), borrowed from the
/// bytes it is stored in. Construction checks the size, so the kernels never index out of it.
#[derive(Clone, Copy, Debug)]
pub struct MatrixRef<'a> {
    format: Format,
    rows: usize,
    cols: usize,
    row_bytes: usize,
    bytes: &'a [u8],
}

impl<'a> MatrixRef<'a> {
    /// Views `bytes` as a matrix, checking that they hold exactly `rows` rows of `cols`.
    pub fn new(
        format: Format,
        rows: usize,
        cols: usize,
        bytes: &'a [u8],
    ) -> Result<Self, ShapeError> {
        let row_bytes = format
            .row_bytes(cols)
            .ok_or(ShapeError::Blocks { format, cols })?;
        if row_bytes.checked_mul(rows) != Some(bytes.len()) {
            return Err(ShapeError::Bytes {
                format,
                rows,
                cols,
                found: bytes.len(),
            });
        }
        Ok(Self {
            format,
            rows,
            cols,
            row_bytes,
            bytes,
        })
    }

    /// The storage format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Number of rows (outputs of a product).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns (inputs of a product).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The bytes of row `r`.
    pub fn row(&self, r: usize) -> &'a [u8] {
        &self.bytes[r * self.row_bytes..(r + 1) * self.row_bytes]
    }

    /// All the bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Decodes row `r` into `out` (`cols` long).
    pub fn dequantize_row(&self, r: usize, out: &mut [f32]) {
        crate::dequant::dequantize(self.format, self.row(r), out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_are_checked() {
        let bytes = vec![0u8; 2 * 40];
        let m = MatrixRef::new(Format::Q4_1, 2, 64, &bytes).unwrap();
        assert_eq!((m.rows(), m.cols(), m.row(1).len()), (2, 64, 40));
        let e = MatrixRef::new(Format::Q4_1, 2, 48, &bytes).unwrap_err();
        assert!(e.to_string().contains("not a whole number"), "{e}");
        let e = MatrixRef::new(Format::Q4_1, 3, 64, &bytes).unwrap_err();
        assert!(e.to_string().contains("needs 120 bytes, found 80"), "{e}");
        assert!(MatrixRef::new(Format::F32, usize::MAX, 4, &bytes).is_err());
        assert_eq!(Format::Q6K.row_bytes(512), Some(420));
        assert_eq!(Format::Q4K.row_bytes(128), None);
    }
}
