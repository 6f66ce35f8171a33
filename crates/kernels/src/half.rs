//! IEEE half (`f16`) and bfloat16 conversions on raw bits, exact (round to nearest, ties to
//! even, when narrowing), so scales in GGML blocks decode the same on every CPU.

/// The `f32` value of the IEEE half with bits `h`.
///
/// The magnitude bits shifted into an `f32`'s place read as a float 2^112 times too small
/// (subnormal halves land on subnormal floats), so one multiply rebiases every finite value
/// exactly; infinities and NaNs get the all-ones exponent.
#[inline]
pub fn f16_to_f32(h: u16) -> f32 {
    let magnitude = u32::from(h & 0x7fff) << 13;
    let value = if magnitude >= 0x7c00 << 13 {
        f32::from_bits(0x7f80_0000 | magnitude)
    } else {
        f32::from_bits(magnitude) * f32::from_bits(0x7780_0000)
    };
    f32::from_bits(value.to_bits() | (u32::from(h & 0x8000) << 16))
}

/// Every half's `f32` value, indexed by its bits: one load instead of a dozen instructions
/// where the kernels widen block scales (256 KiB, made on first use).
pub fn f16_table() -> &'static [f32; 65536] {
    static TABLE: std::sync::LazyLock<Box<[f32; 65536]>> = std::sync::LazyLock::new(|| {
        let mut table = Box::new([0.0f32; 65536]);
        for (bits, value) in table.iter_mut().enumerate() {
            *value = f16_to_f32(bits as u16);
        }
        table
    });
    &TABLE
}

/// The IEEE half nearest to `x` (ties to even; overflow gives infinity, NaN stays NaN).
pub fn f32_to_f16(x: f32) -> u16 {
    let bits = x.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xff) as i32;
    let man = bits & 0x7f_ffff;
    if exp == 0xff {
        return sign | if man == 0 { 0x7c00 } else { 0x7e00 };
    }
    // Unbiased exponent of the half.
    let e = exp - 127 + 15;
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    if e <= 0 {
        // Subnormal half (or zero): shift the full mantissa, with its implicit bit, into place.
        if e < -10 {
            return sign;
        }
        let full = man | 0x80_0000;
        let shift = (14 - e) as u32;
        let half = full >> shift;
        let rest = full & ((1 << shift) - 1);
        let halfway = 1 << (shift - 1);
        let round = rest > halfway || (rest == halfway && half & 1 == 1);
        return sign | (half + u32::from(round)) as u16;
    }
    let half = ((e as u32) << 10) | (man >> 13);
    let rest = man & 0x1fff;
    let round = rest > 0x1000 || (rest == 0x1000 && half & 1 == 1);
    // A carry out of the mantissa correctly bumps the exponent (up to infinity).
    sign | (half + u32::from(round)) as u16
}

/// `x` rounded to the nearest half and back (how GGML stores block scales).
#[inline]
pub fn round_to_f16(x: f32) -> f32 {
    f16_to_f32(f32_to_f16(x))
}

/// The `f32` value of the bfloat16 with bits `b`.
#[inline]
pub fn bf16_to_f32(b: u16) -> f32 {
    f32::from_bits(u32::from(b) << 16)
}

/// The bfloat16 nearest to `x` (ties to even; NaN stays NaN).
pub fn f32_to_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    if x.is_nan() {
        return ((bits >> 16) as u16) | 0x40;
    }
    let round = 0x7fff + ((bits >> 16) & 1);
    (bits.wrapping_add(round) >> 16) as u16
}

/// Little-endian `u16` at byte `at`.
#[inline]
pub(crate) fn le_u16(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

/// The half stored little-endian at byte `at`, as `f32`.
#[inline]
pub(crate) fn le_f16(bytes: &[u8], at: usize) -> f32 {
    f16_to_f32(le_u16(bytes, at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_halves() {
        for (bits, value) in [
            (0x0000u16, 0.0f32),
            (0x3c00, 1.0),
            (0xc000, -2.0),
            (0x3555, 0.333_251_95),
            (0x7bff, 65504.0),
            (0x0400, 6.103_515_6e-5),
            (0x0001, 5.960_464_5e-8),
            (0x8001, -5.960_464_5e-8),
            (0x03ff, 6.097_555e-5),
        ] {
            assert_eq!(f16_to_f32(bits), value, "{bits:#06x}");
            assert_eq!(f32_to_f16(value), bits, "{value}");
        }
        assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
        assert_eq!(f16_to_f32(0xfc00), f32::NEG_INFINITY);
        assert!(f16_to_f32(0x7e01).is_nan());
        assert_eq!(f16_to_f32(0x8000).to_bits(), 0x8000_0000);
    }

    #[test]
    fn every_half_round_trips_and_narrowing_rounds_to_nearest_even() {
        for bits in 0..=u16::MAX {
            let v = f16_to_f32(bits);
            if v.is_nan() {
                assert!(f16_to_f32(f32_to_f16(v)).is_nan());
                continue;
            }
            assert_eq!(f32_to_f16(v), bits, "{bits:#06x} {v}");
        }
        // Halfway between 1.0 and the next half (1 + 2^-10): ties to the even one, 1.0.
        assert_eq!(f32_to_f16(1.0 + 2f32.powi(-11)), 0x3c00);
        // Halfway between 1 + 2^-10 and 1 + 2^-9: ties to 1 + 2^-9 (even mantissa).
        assert_eq!(f32_to_f16(1.0 + 3.0 * 2f32.powi(-11)), 0x3c02);
        assert_eq!(f32_to_f16(1.0 + 2f32.powi(-11) + 2f32.powi(-20)), 0x3c01);
        assert_eq!(f32_to_f16(70000.0), 0x7c00);
        assert_eq!(f32_to_f16(65519.0), 0x7bff);
        assert_eq!(f32_to_f16(65520.0), 0x7c00);
        assert_eq!(f32_to_f16(1e-9), 0);
        // Halfway between zero and the smallest subnormal rounds to zero (even).
        assert_eq!(f32_to_f16(2f32.powi(-25)), 0);
        assert_eq!(f32_to_f16(2f32.powi(-25) * 1.5), 1);
    }

    #[test]
    fn the_table_holds_every_half() {
        let table = f16_table();
        for bits in (0..=u16::MAX).step_by(7) {
            assert_eq!(
                table[bits as usize].to_bits(),
                f16_to_f32(bits).to_bits(),
                "{bits:#06x}"
            );
        }
    }

    #[test]
    fn bfloat16() {
        assert_eq!(bf16_to_f32(0x3f80), 1.0);
        assert_eq!(bf16_to_f32(0xc040), -3.0);
        assert_eq!(f32_to_bf16(1.0), 0x3f80);
        // 1 + 2^-8 is halfway between 1.0 and 1 + 2^-7: ties to even (1.0).
        assert_eq!(f32_to_bf16(1.0 + 2f32.powi(-8)), 0x3f80);
        assert_eq!(f32_to_bf16(1.0 + 3.0 * 2f32.powi(-8)), 0x3f82);
        assert!(bf16_to_f32(f32_to_bf16(f32::NAN)).is_nan());
    }
}
