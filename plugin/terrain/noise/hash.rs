//! Integer hashing of lattice points: no permutation tables, no state, any coordinate.

/// Mixes the bits of `x` thoroughly (the "lowbias32" finaliser by Chris Wellons).
#[inline(always)]
pub(crate) fn mix(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^= x >> 16;
    x
}

/// Column part of a lattice hash; combine with [`row`] and finish with [`mix`].
#[inline(always)]
pub(crate) fn column(cell: i32) -> u32 {
    (cell as u32).wrapping_mul(0x9e37_79b1)
}

/// Row part of a lattice hash, with the seed folded in.
#[inline(always)]
pub(crate) fn row(cell: i32, seed: u32) -> u32 {
    (cell as u32).wrapping_mul(0x85eb_ca77) ^ seed
}

/// Hash of lattice point `(x, z)` under `seed`.
#[inline(always)]
pub(crate) fn point(x: i32, z: i32, seed: u32) -> u32 {
    mix(column(x) ^ row(z, seed))
}

/// A well-spread 32-bit seed for node `offset` (and octave `octave`) of a world with `world_seed`.
pub fn seed_mix(world_seed: u64, offset: u32, octave: u32) -> u32 {
    let lo = world_seed as u32;
    let hi = (world_seed >> 32) as u32;
    mix(
        mix(mix(lo ^ 0x3c6e_f372).wrapping_add(hi) ^ offset.wrapping_mul(0x2545_f491))
            .wrapping_add(octave.wrapping_mul(0x6a09_e667)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbouring_points_differ_in_about_half_their_bits() {
        let mut total = 0u32;
        for x in -50..50 {
            total += (point(x, 3, 9) ^ point(x + 1, 3, 9)).count_ones();
        }
        let mean = total as f32 / 100.0;
        assert!((12.0..20.0).contains(&mean), "mean flipped bits {mean}");
    }

    #[test]
    fn seeds_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for node in 0..50 {
            for octave in 0..16 {
                assert!(seen.insert(seed_mix(1337, node, octave)));
            }
        }
    }
}
