//! Biome weights from height, slope, temperature and moisture.

use crate::config::{BiomeConfig, MAX_BIOMES, Range};

/// Weights of up to [`MAX_BIOMES`] biomes at one place, summing to 1.
pub type BiomeWeights = [f32; MAX_BIOMES];

/// The biome table, ready to score samples.
#[derive(Clone, Debug)]
pub struct BiomeTable {
    entries: Vec<BiomeRanges>,
    names: Vec<String>,
    colors: Vec<[f32; 3]>,
    lapse_per_m: f32,
    /// Height of the sea surface, where the climate's temperature applies.
    sea_level: f32,
}

#[derive(Clone, Copy, Debug)]
struct BiomeRanges {
    height: Range,
    slope: Range,
    temperature: Range,
    moisture: Range,
}

impl BiomeTable {
    /// The table of `config` (at most [`MAX_BIOMES`] entries are used).
    pub fn new(config: &BiomeConfig) -> Self {
        let table = &config.table[..config.table.len().min(MAX_BIOMES)];
        Self {
            entries: table
                .iter()
                .map(|b| BiomeRanges {
                    height: b.height,
                    slope: b.slope,
                    temperature: b.temperature,
                    moisture: b.moisture,
                })
                .collect(),
            names: table.iter().map(|b| b.name.clone()).collect(),
            colors: table
                .iter()
                .map(|b| [b.color.0, b.color.1, b.color.2])
                .collect(),
            lapse_per_m: config.lapse_per_km / 1000.0,
            sea_level: 0.0,
        }
    }

    /// The same table for a world whose sea is at `sea_level` metres: temperature falls with
    /// the height above it.
    pub fn with_sea_level(mut self, sea_level: f32) -> Self {
        self.sea_level = sea_level;
        self
    }

    /// Number of biomes.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Name of biome `id`.
    pub fn name(&self, id: usize) -> Option<&str> {
        self.names.get(id).map(String::as_str)
    }

    /// Id of the biome called `name`.
    pub fn id(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// Base colour of biome `id` (linear RGB).
    pub fn color(&self, id: usize) -> [f32; 3] {
        self.colors.get(id).copied().unwrap_or([0.5, 0.5, 0.5])
    }

    /// Temperature at `height` metres for a sea-level temperature.
    #[inline]
    pub fn temperature_at(&self, sea_level_temperature: f32, height: f32) -> f32 {
        sea_level_temperature - self.lapse_per_m * (height - self.sea_level).max(0.0)
    }

    /// Weights of every biome for one sample. `temperature` is already lapse-corrected.
    ///
    /// Each biome scores the product of its four soft range memberships; scores are normalised to
    /// sum to 1. Where no biome's ranges reach, the biome that is closest (fewest blend widths
    /// away) takes weight 1, so every point has a biome.
    pub fn weights(
        &self,
        height: f32,
        slope: f32,
        temperature: f32,
        moisture: f32,
    ) -> BiomeWeights {
        let mut w = [0.0f32; MAX_BIOMES];
        let mut sum = 0.0;
        for (wi, b) in w.iter_mut().zip(&self.entries) {
            *wi = membership(b.height, height)
                * membership(b.slope, slope)
                * membership(b.temperature, temperature)
                * membership(b.moisture, moisture);
            sum += *wi;
        }
        if sum > 1e-6 {
            let inv = 1.0 / sum;
            w.iter_mut().for_each(|x| *x *= inv);
        } else {
            let nearest = self
                .entries
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    let d = distance(b.height, height)
                        + distance(b.slope, slope)
                        + distance(b.temperature, temperature)
                        + distance(b.moisture, moisture);
                    (i, d)
                })
                .fold(
                    (0, f32::INFINITY),
                    |best, (i, d)| if d < best.1 { (i, d) } else { best },
                );
            w = [0.0; MAX_BIOMES];
            if !self.entries.is_empty() {
                w[nearest.0] = 1.0;
            }
        }
        w
    }
}

/// Index of the largest weight (the first on ties).
pub fn dominant(weights: &BiomeWeights) -> usize {
    weights
        .iter()
        .enumerate()
        .fold(
            (0, f32::MIN),
            |best, (i, &w)| if w > best.1 { (i, w) } else { best },
        )
        .0
}

/// 1 inside the range, falling smoothly to 0 at `blend` outside it.
#[inline]
fn membership(r: Range, v: f32) -> f32 {
    let outside = (r.min - v).max(v - r.max);
    if outside <= 0.0 {
        1.0
    } else if r.blend > 0.0 && outside < r.blend {
        let t = 1.0 - outside / r.blend;
        t * t * (3.0 - 2.0 * t)
    } else {
        0.0
    }
}

/// How many blend widths (or plain units, for a hard edge) `v` lies outside the range.
#[inline]
fn distance(r: Range, v: f32) -> f32 {
    let outside = (r.min - v).max(v - r.max).max(0.0);
    if r.blend > 0.0 {
        outside / r.blend
    } else {
        outside
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BiomeEntry;

    fn entry(name: &str, height: Range) -> BiomeEntry {
        BiomeEntry {
            name: name.into(),
            height,
            slope: Range::any(),
            temperature: Range::any(),
            moisture: Range::any(),
            color: (0.5, 0.5, 0.5),
        }
    }

    fn table() -> BiomeTable {
        BiomeTable::new(&BiomeConfig {
            temperature: "t".into(),
            moisture: "m".into(),
            lapse_per_km: 6.0,
            table: vec![
                entry(
                    "low",
                    Range {
                        min: -100.0,
                        max: 10.0,
                        blend: 10.0,
                    },
                ),
                entry(
                    "high",
                    Range {
                        min: 20.0,
                        max: 100.0,
                        blend: 10.0,
                    },
                ),
            ],
        })
    }

    #[test]
    fn weights_sum_to_one_and_blend_smoothly() {
        let t = table();
        let mut prev_high = 0.0;
        for h in 0..=30 {
            let w = t.weights(h as f32, 0.0, 0.5, 0.5);
            assert!((w.iter().sum::<f32>() - 1.0).abs() < 1e-5);
            assert!(w[1] >= prev_high);
            prev_high = w[1];
        }
        assert_eq!(t.weights(0.0, 0.0, 0.5, 0.5)[0], 1.0);
        assert_eq!(t.weights(25.0, 0.0, 0.5, 0.5)[1], 1.0);
    }

    #[test]
    fn uncovered_points_take_the_nearest_biome() {
        let t = table();
        assert_eq!(dominant(&t.weights(500.0, 0.0, 0.5, 0.5)), 1);
        assert_eq!(dominant(&t.weights(-500.0, 0.0, 0.5, 0.5)), 0);
    }

    #[test]
    fn mountains_are_colder() {
        let t = table();
        assert!((t.temperature_at(0.5, 1000.0) - (0.5 - 6.0)).abs() < 1e-5);
        assert_eq!(t.temperature_at(0.5, -50.0), 0.5);
    }
}
