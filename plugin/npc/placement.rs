//! Where NPCs stand: a pure function of (world seed, chunk, NPC rules, terrain generator).
//!
//! Two kinds of people: wanderers, drawn from a few hashed candidate spots per chunk and kept
//! where the biome's density allows; and residents of settlements. Settlements live on their own
//! coarse grid of cells (`settlements.cell_m`), independent of chunk boundaries, so "where is the
//! nearest settlement?" can be answered from anywhere, loaded or not. A resident is spawned by
//! whichever chunk contains it. Nothing here depends on load order or threads.

use std::collections::HashMap;

use super::persona::{NpcId, place_name};
use super::rng::{Rng, hash_str, hash_words};
use super::rules::NpcConfig;
use crate::terrain::{ChunkCoord, GroundSample, TerrainGenerator};

/// Slots below this are wanderers' candidate indices; residents count up from it.
const RESIDENT_SLOTS: u32 = 64;

/// A settlement: a cluster of residents on gentle ground.
#[derive(Clone, Debug, PartialEq)]
pub struct Settlement {
    /// Cell of the settlement grid it belongs to.
    pub cell: (i32, i32),
    /// Its name, from its culture's place-name generator.
    pub name: String,
    /// The culture of its people.
    pub culture: String,
    /// Centre on the ground (world metres).
    pub position: [f32; 3],
    /// Biome at the centre.
    pub biome: String,
    /// How many residents it has (some may stand on ground too steep and be left out).
    pub residents: u32,
}

/// An NPC's place in the world, before it has a persona.
#[derive(Clone, Debug, PartialEq)]
pub struct PlacedNpc {
    /// Stable id: hash of (world seed, chunk, slot).
    pub id: NpcId,
    /// The chunk that spawns it.
    pub chunk: ChunkCoord,
    /// Its slot in the chunk: a candidate index for wanderers, 64 and up for residents.
    pub slot: u32,
    /// Feet on the ground, world metres.
    pub position: [f32; 3],
    /// Name of the biome it stands in.
    pub biome: String,
    /// Its culture.
    pub culture: String,
    /// The settlement it lives in, if it is a resident.
    pub home: Option<Settlement>,
}

/// The stable id of the NPC in `slot` of `chunk`.
pub fn npc_id(seed: u64, chunk: ChunkCoord, slot: u32) -> NpcId {
    NpcId(hash_words(&[
        seed,
        chunk.x as u64,
        chunk.z as u64,
        u64::from(slot),
        0x004e_5043,
    ]))
}

/// The world as NPC placement sees it, with a memo of settlement cells already looked at.
pub struct NpcWorld<'a> {
    /// World seed.
    pub seed: u64,
    /// The terrain.
    pub terrain: &'a TerrainGenerator,
    /// The NPC rules.
    pub config: &'a NpcConfig,
    settlements: HashMap<(i32, i32), Option<Settlement>>,
}

impl<'a> NpcWorld<'a> {
    /// A view of the world with `seed`, `terrain` and NPC `config`.
    pub fn new(seed: u64, terrain: &'a TerrainGenerator, config: &'a NpcConfig) -> Self {
        Self {
            seed,
            terrain,
            config,
            settlements: HashMap::new(),
        }
    }

    /// Name of biome `id` of the world's table.
    pub fn biome_name(&self, id: usize) -> &str {
        self.terrain.biomes().name(id).unwrap_or("unknown")
    }

    /// Whether `g`, the ground at world `(x, z)`, is somewhere to stand: high enough above the
    /// sea, not under a lake, not too steep.
    fn ground_ok(
        &self,
        g: &GroundSample,
        (x, z): (f64, f64),
        max_slope: f32,
        min_height: f32,
    ) -> bool {
        g.height >= self.terrain.sea_level() + min_height
            && g.slope <= max_slope
            && g.height.is_finite()
            && g.height >= self.terrain.water_level_at(x, z)
    }

    /// A culture living in `biome`, chosen with `rng`, or `None` if no culture lives there.
    fn culture_for(&self, biome: &str, rng: &mut Rng) -> Option<String> {
        rng.pick(&self.config.cultures_in(biome))
            .map(|s| (*s).to_owned())
    }

    /// The settlement of grid cell `cell`, if it has one.
    pub fn settlement(&mut self, cell: (i32, i32)) -> Option<Settlement> {
        if let Some(s) = self.settlements.get(&cell) {
            return s.clone();
        }
        let s = self.found_settlement(cell);
        self.settlements.insert(cell, s.clone());
        s
    }

    fn found_settlement(&self, cell: (i32, i32)) -> Option<Settlement> {
        let rules = &self.config.placement.settlements;
        let mut rng = Rng::new(&[self.seed, cell.0 as u64, cell.1 as u64, 0x005e_771e]);
        if !rng.chance(f64::from(rules.chance)) {
            return None;
        }
        let size = f64::from(rules.cell_m);
        let inset = f64::from(rules.radius_m);
        for _ in 0..rules.attempts {
            let x = f64::from(cell.0) * size + inset + rng.unit() * (size - 2.0 * inset);
            let z = f64::from(cell.1) * size + inset + rng.unit() * (size - 2.0 * inset);
            let g = self.terrain.sample(x, z);
            let biome = self.biome_name(g.biome);
            if !self.ground_ok(&g, (x, z), rules.max_slope, rules.min_height_m)
                || !rules.biomes.iter().any(|b| b == biome)
            {
                continue;
            }
            let biome = biome.to_owned();
            let Some(culture) = self.culture_for(&biome, &mut rng) else {
                continue;
            };
            let residents = rng.range_inclusive(rules.min_residents, rules.max_residents);
            return Some(Settlement {
                cell,
                name: place_name(self.seed, cell, &culture, self.config),
                culture,
                position: [x as f32, g.height, z as f32],
                biome,
                residents,
            });
        }
        None
    }

    /// Where resident `index` of `settlement` stands (x, z).
    fn resident_spot(&self, settlement: &Settlement, index: u32) -> (f64, f64) {
        let (cx, cz) = settlement.cell;
        let mut rng = Rng::new(&[
            self.seed,
            cx as u64,
            cz as u64,
            u64::from(index),
            0x004e_5de7,
        ]);
        let r = f64::from(self.config.placement.settlements.radius_m) * rng.unit().sqrt();
        let a = rng.unit() * std::f64::consts::TAU;
        (
            f64::from(settlement.position[0]) + r * a.cos(),
            f64::from(settlement.position[2]) + r * a.sin(),
        )
    }

    /// Cell of the settlement grid containing world `(x, z)`.
    pub fn cell_at(&self, x: f64, z: f64) -> (i32, i32) {
        let size = f64::from(self.config.placement.settlements.cell_m);
        ((x / size).floor() as i32, (z / size).floor() as i32)
    }

    /// Everyone chunk `coord` spawns, in slot order.
    pub fn place_chunk(&mut self, coord: ChunkCoord) -> Vec<PlacedNpc> {
        let rules = &self.config.placement;
        let mut out = Vec::new();
        let (x0, z0) = self.terrain.chunk_origin(coord);
        let size = self.terrain.chunk_size();
        let max_density = rules.density.values().copied().fold(0.0f32, f32::max);

        for slot in 0..rules.candidates_per_chunk {
            let mut rng = Rng::new(&[
                self.seed,
                coord.x as u64,
                coord.z as u64,
                u64::from(slot),
                0x3a4d,
            ]);
            let roll = rng.unit();
            let (x, z) = (x0 + rng.unit() * size, z0 + rng.unit() * size);
            // The roll is drawn first so most candidates are rejected without a terrain sample.
            if roll >= f64::from(max_density) {
                continue;
            }
            let g = self.terrain.sample(x, z);
            let biome = self.biome_name(g.biome).to_owned();
            let density = rules.density.get(&biome).copied().unwrap_or(0.0);
            if roll >= f64::from(density)
                || !self.ground_ok(&g, (x, z), rules.max_slope, rules.min_height_m)
            {
                continue;
            }
            let Some(culture) = self.culture_for(&biome, &mut rng) else {
                continue;
            };
            out.push(PlacedNpc {
                id: npc_id(self.seed, coord, slot),
                chunk: coord,
                slot,
                position: [x as f32, g.height, z as f32],
                biome,
                culture,
                home: None,
            });
        }

        // Settlement cells whose residents could stand in this chunk.
        let reach = f64::from(rules.settlements.radius_m);
        let lo = self.cell_at(x0 - reach, z0 - reach);
        let hi = self.cell_at(x0 + size + reach, z0 + size + reach);
        let mut slot = RESIDENT_SLOTS;
        for cz in lo.1..=hi.1 {
            for cx in lo.0..=hi.0 {
                let Some(s) = self.settlement((cx, cz)) else {
                    continue;
                };
                for index in 0..s.residents {
                    let (x, z) = self.resident_spot(&s, index);
                    if self.terrain.chunk_at(x, z) != coord {
                        continue;
                    }
                    let g = self.terrain.sample(x, z);
                    let rules = &self.config.placement;
                    if !self.ground_ok(&g, (x, z), rules.max_slope, rules.min_height_m) {
                        continue;
                    }
                    out.push(PlacedNpc {
                        id: npc_id(self.seed, coord, slot),
                        chunk: coord,
                        slot,
                        position: [x as f32, g.height, z as f32],
                        biome: self.biome_name(g.biome).to_owned(),
                        culture: s.culture.clone(),
                        home: Some(s.clone()),
                    });
                    slot += 1;
                }
            }
        }
        out
    }

    /// The settlement nearest to world `(x, z)` within `settlements.search_radius_m`, and its
    /// distance in metres.
    pub fn nearest_settlement(&mut self, x: f64, z: f64) -> Option<(Settlement, f64)> {
        let rules = &self.config.placement.settlements;
        let (size, search) = (f64::from(rules.cell_m), f64::from(rules.search_radius_m));
        let centre = self.cell_at(x, z);
        let mut best: Option<(Settlement, f64)> = None;
        let max_ring = (search / size).ceil() as i32 + 1;
        for ring in 0..=max_ring {
            // Every cell in this ring is at least (ring - 1) cells away from the point.
            let nearest_possible = f64::from(ring - 1).max(0.0) * size;
            if nearest_possible > search || best.as_ref().is_some_and(|b| b.1 <= nearest_possible) {
                break;
            }
            for dz in -ring..=ring {
                for dx in -ring..=ring {
                    if dx.abs().max(dz.abs()) != ring {
                        continue;
                    }
                    let Some(s) = self.settlement((centre.0 + dx, centre.1 + dz)) else {
                        continue;
                    };
                    let d = (f64::from(s.position[0]) - x).hypot(f64::from(s.position[2]) - z);
                    // Ties go to the smaller cell so the answer does not depend on search order.
                    let better = match &best {
                        None => true,
                        Some((b, bd)) => d < *bd || (d == *bd && s.cell < b.cell),
                    };
                    if d <= search && better {
                        best = Some((s, d));
                    }
                }
            }
        }
        best
    }
}

/// A stable fingerprint of placement results, for golden tests and cross-thread comparisons.
pub fn fingerprint(npcs: &[PlacedNpc]) -> u64 {
    let mut words = Vec::with_capacity(npcs.len() * 6);
    for n in npcs {
        words.extend([
            n.id.0,
            u64::from(n.position[0].to_bits()),
            u64::from(n.position[1].to_bits()),
            u64::from(n.position[2].to_bits()),
            hash_str(&n.culture),
            hash_str(n.home.as_ref().map_or("", |h| h.name.as_str())),
        ]);
    }
    hash_words(&words)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DEFAULT_WORLD_RON, parse_world};

    fn terrain() -> TerrainGenerator {
        TerrainGenerator::new(&parse_world(DEFAULT_WORLD_RON, "w").unwrap()).unwrap()
    }

    #[test]
    fn placement_is_a_pure_function_of_its_inputs() {
        let (t, config) = (terrain(), NpcConfig::builtin());
        let coords: Vec<ChunkCoord> = (-6..6)
            .flat_map(|z| (-6..6).map(move |x| ChunkCoord::new(x, z)))
            .collect();
        let mut a = NpcWorld::new(7, &t, &config);
        let first: Vec<_> = coords.iter().map(|&c| a.place_chunk(c)).collect();
        // A fresh world visiting chunks in the opposite order agrees exactly.
        let mut b = NpcWorld::new(7, &t, &config);
        let mut second: Vec<_> = coords.iter().rev().map(|&c| b.place_chunk(c)).collect();
        second.reverse();
        assert_eq!(first, second);
        assert!(
            first.iter().map(Vec::len).sum::<usize>() > 0,
            "nobody lives in 12x12 chunks"
        );
        let mut other = NpcWorld::new(8, &t, &config);
        let third: Vec<_> = coords.iter().map(|&c| other.place_chunk(c)).collect();
        assert_ne!(first, third);
    }

    #[test]
    fn residents_stand_near_their_settlement_on_gentle_ground() {
        let (t, config) = (terrain(), NpcConfig::builtin());
        let mut w = NpcWorld::new(1337, &t, &config);
        let mut residents = 0;
        for z in -16..16 {
            for x in -16..16 {
                for n in w.place_chunk(ChunkCoord::new(x, z)) {
                    assert_eq!(
                        t.chunk_at(f64::from(n.position[0]), f64::from(n.position[2])),
                        n.chunk
                    );
                    let g = t.sample(f64::from(n.position[0]), f64::from(n.position[2]));
                    assert!(
                        g.slope <= config.placement.max_slope && g.height >= 0.5,
                        "{n:?}"
                    );
                    if let Some(home) = &n.home {
                        residents += 1;
                        let d = (home.position[0] - n.position[0])
                            .hypot(home.position[2] - n.position[2]);
                        assert!(d <= config.placement.settlements.radius_m + 1e-3);
                        assert_eq!(home.culture, n.culture);
                    }
                }
            }
        }
        assert!(residents > 0, "no settlement within 1 km of the origin");
    }

    #[test]
    fn nearest_settlement_is_the_nearest() {
        let (t, config) = (terrain(), NpcConfig::builtin());
        let mut w = NpcWorld::new(1337, &t, &config);
        let (s, d) = w
            .nearest_settlement(100.0, -40.0)
            .expect("a settlement within 3 km");
        // Brute force over every cell within the search radius.
        let mut best = f64::INFINITY;
        for cz in -8..=8 {
            for cx in -8..=8 {
                if let Some(o) = w.settlement((cx, cz)) {
                    best = best.min(
                        (f64::from(o.position[0]) - 100.0).hypot(f64::from(o.position[2]) + 40.0),
                    );
                }
            }
        }
        assert!((d - best).abs() < 1e-6, "{d} vs {best} ({})", s.name);
    }
}
