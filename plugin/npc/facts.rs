//! What an NPC can see and knows about the world around it, collected by pure functions so the
//! grammar and any neural dialogue layer talk about the same things.
//!
//! [`survey`] looks at the terrain around a spot once (it is a few dozen ground samples); a
//! [`WorldFacts`] adds the time of day and the recent conversation, which change while talking.
//! Directions follow the sun of [`WorldClock`](crate::clock::WorldClock): east is +x, so north is
//! -z (Bevy's forward).

use crate::clock::DayPeriod;

use super::placement::NpcWorld;

/// Eight compass directions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Compass {
    /// -z.
    North,
    /// +x -z.
    NorthEast,
    /// +x.
    East,
    /// +x +z.
    SouthEast,
    /// +z.
    South,
    /// -x +z.
    SouthWest,
    /// -x.
    West,
    /// -x -z.
    NorthWest,
}

impl Compass {
    /// The direction of the offset `(dx, dz)` in world metres.
    pub fn of(dx: f64, dz: f64) -> Self {
        // Angle clockwise from north (-z) towards east (+x).
        let a = dx.atan2(0.0 - dz).to_degrees().rem_euclid(360.0);
        const ALL: [Compass; 8] = [
            Compass::North,
            Compass::NorthEast,
            Compass::East,
            Compass::SouthEast,
            Compass::South,
            Compass::SouthWest,
            Compass::West,
            Compass::NorthWest,
        ];
        ALL[((a + 22.5) / 45.0) as usize % 8]
    }

    /// Lower-case name: "north", "north-east", ...
    pub fn name(self) -> &'static str {
        match self {
            Compass::North => "north",
            Compass::NorthEast => "north-east",
            Compass::East => "east",
            Compass::SouthEast => "south-east",
            Compass::South => "south",
            Compass::SouthWest => "south-west",
            Compass::West => "west",
            Compass::NorthWest => "north-west",
        }
    }
}

/// A notable place in sight.
#[derive(Clone, Debug, PartialEq)]
pub struct Landmark {
    /// Which way it lies.
    pub direction: Compass,
    /// How far, metres.
    pub distance_m: f32,
    /// Ground height there, metres.
    pub height_m: f32,
}

/// The nearest settlement, as the NPC knows it.
#[derive(Clone, Debug, PartialEq)]
pub struct SettlementFact {
    /// Its name.
    pub name: String,
    /// Its culture.
    pub culture: String,
    /// Which way it lies.
    pub direction: Compass,
    /// How far, metres.
    pub distance_m: f32,
}

/// The terrain around a spot: what does not change while a conversation goes on.
#[derive(Clone, Debug, PartialEq)]
pub struct Surroundings {
    /// The spot (feet on the ground), world metres.
    pub position: [f32; 3],
    /// Biome at the spot.
    pub biome: String,
    /// Ground height, metres (below the world's sea level is sea).
    pub height_m: f32,
    /// Ground slope (rise over run).
    pub slope: f32,
    /// Temperature after altitude, about 0 (polar) to 1 (tropical).
    pub temperature: f32,
    /// Moisture, about 0 (arid) to 1 (wet).
    pub moisture: f32,
    /// Every biome in sight (within [`SIGHT_M`]), the spot's own included, sorted.
    pub seen_biomes: Vec<String>,
    /// The highest ground in sight, if it rises well above the spot.
    pub peak: Option<Landmark>,
    /// Low ground in sight, if it falls well below the spot (sea excluded).
    pub valley: Option<Landmark>,
    /// The nearest sea in sight.
    pub water: Option<Landmark>,
    /// The nearest lake in sight.
    pub lake: Option<Landmark>,
    /// The nearest cliff (ground steeper than 45 degrees) in sight.
    pub cliff: Option<Landmark>,
    /// Whether the spot is on low ground among higher land.
    pub in_valley: bool,
    /// The nearest settlement within the search radius.
    pub settlement: Option<SettlementFact>,
}

/// How far an NPC looks around, metres.
pub const SIGHT_M: f32 = 600.0;
/// Rings of the survey, metres from the spot.
const RINGS: [f64; 4] = [60.0, 150.0, 300.0, 600.0];
/// Directions per ring.
const SPOKES: usize = 16;
/// Height above the spot that makes a peak worth mentioning, metres.
const PEAK_RISE_M: f32 = 40.0;
/// Drop below the spot that makes a valley worth mentioning, metres.
const VALLEY_DROP_M: f32 = 30.0;
/// Slope (rise over run) that counts as a cliff: 45 degrees.
const CLIFF_SLOPE: f32 = 1.0;

/// Looks around world `(x, z)`: biome, peaks, valleys, sea, lakes, cliffs and the nearest settlement.
/// About 65 ground samples plus the settlement search.
pub fn survey(world: &mut NpcWorld, x: f64, z: f64) -> Surroundings {
    let here = world.terrain.sample(x, z);
    let sea = world.terrain.sea_level();
    let mut seen = vec![world.biome_name(here.biome).to_owned()];
    let mut lake: Option<Landmark> = None;
    let (mut peak, mut valley, mut water, mut cliff): (
        Option<Landmark>,
        Option<Landmark>,
        Option<Landmark>,
        Option<Landmark>,
    ) = (None, None, None, None);
    let mut near_sum = 0.0f32;
    let mut near_n = 0.0f32;
    for &r in &RINGS {
        for k in 0..SPOKES {
            let a = k as f64 / SPOKES as f64 * std::f64::consts::TAU;
            let (dx, dz) = (r * a.sin(), -r * a.cos());
            let g = world.terrain.sample(x + dx, z + dz);
            let mark = Landmark {
                direction: Compass::of(dx, dz),
                distance_m: r as f32,
                height_m: g.height,
            };
            let name = world.biome_name(g.biome);
            if !seen.iter().any(|s| s == name) {
                seen.push(name.to_owned());
            }
            if r <= 300.0 {
                near_sum += g.height;
                near_n += 1.0;
            }
            if g.height > here.height + PEAK_RISE_M
                && peak.as_ref().is_none_or(|p| g.height > p.height_m)
            {
                peak = Some(mark.clone());
            }
            if g.height < sea {
                if water
                    .as_ref()
                    .is_none_or(|w| mark.distance_m < w.distance_m)
                {
                    water = Some(mark.clone());
                }
            } else if g.height < world.terrain.water_level_at(x + dx, z + dz) {
                if lake.as_ref().is_none_or(|l| mark.distance_m < l.distance_m) {
                    lake = Some(mark.clone());
                }
            } else if g.height < here.height - VALLEY_DROP_M
                && valley.as_ref().is_none_or(|v| g.height < v.height_m)
            {
                valley = Some(mark.clone());
            }
            if g.slope > CLIFF_SLOPE
                && cliff
                    .as_ref()
                    .is_none_or(|c| mark.distance_m < c.distance_m)
            {
                cliff = Some(mark);
            }
        }
    }
    seen.sort();
    let in_valley =
        near_n > 0.0 && here.height >= sea && near_sum / near_n > here.height + VALLEY_DROP_M;
    let settlement = world.nearest_settlement(x, z).map(|(s, d)| SettlementFact {
        direction: Compass::of(f64::from(s.position[0]) - x, f64::from(s.position[2]) - z),
        name: s.name,
        culture: s.culture,
        distance_m: d as f32,
    });
    Surroundings {
        position: [x as f32, here.height, z as f32],
        biome: world.biome_name(here.biome).to_owned(),
        height_m: here.height,
        slope: here.slope,
        temperature: here.temperature,
        moisture: here.moisture,
        seen_biomes: seen,
        peak,
        valley,
        water,
        lake,
        cliff,
        in_valley,
        settlement,
    }
}

/// Who said a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Speaker {
    /// The player.
    Player,
    /// The NPC.
    Npc,
}

/// One line of a conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Turn {
    /// Who said it.
    pub speaker: Speaker,
    /// What was said.
    pub text: String,
}

/// Everything an NPC knows when it answers: its surroundings, the time, the conversation so far.
#[derive(Clone, Debug, PartialEq)]
pub struct WorldFacts {
    /// The terrain around the NPC.
    pub surroundings: Surroundings,
    /// Time of day, hours since midnight.
    pub hours: f32,
    /// Coarse time of day.
    pub period: DayPeriod,
    /// The most recent turns with the player, oldest first.
    pub recent: Vec<Turn>,
    /// Turns of the conversation before `recent` (forgotten or left out).
    pub earlier_turns: usize,
}

impl WorldFacts {
    /// Facts from a survey, the time of day and recent turns.
    pub fn new(surroundings: Surroundings, hours: f32, recent: Vec<Turn>) -> Self {
        let clock = crate::clock::WorldClock { hours, speed: 0.0 };
        Self {
            surroundings,
            hours,
            period: clock.period(),
            recent,
            earlier_turns: 0,
        }
    }
}

/// All facts for an NPC standing at world `(x, z)` at `hours`, after `recent` turns: a survey plus
/// time and conversation. The one function both dialogue layers get their facts from.
pub fn collect_facts(
    world: &mut NpcWorld,
    x: f64,
    z: f64,
    hours: f32,
    recent: Vec<Turn>,
) -> WorldFacts {
    WorldFacts::new(survey(world, x, z), hours, recent)
}

/// A distance in words a person might use: "a stone's throw", "about 400 metres", "about 2 km".
pub fn distance_words(m: f32) -> String {
    match m {
        m if m < 40.0 => "a stone's throw".to_owned(),
        m if m < 950.0 => format!("about {} metres", ((m / 50.0).round() * 50.0) as u32),
        m => {
            let km = (m / 500.0).round() / 2.0;
            if km.fract() == 0.0 {
                format!("about {} km", km as u32)
            } else {
                format!("about {km:.1} km")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compass_directions() {
        assert_eq!(Compass::of(0.0, -10.0), Compass::North);
        assert_eq!(Compass::of(10.0, 0.0), Compass::East);
        assert_eq!(Compass::of(0.0, 10.0), Compass::South);
        assert_eq!(Compass::of(-10.0, -10.0), Compass::NorthWest);
        assert_eq!(Compass::of(0.0, 0.0), Compass::North);
    }

    #[test]
    fn distances_in_words() {
        assert_eq!(distance_words(12.0), "a stone's throw");
        assert_eq!(distance_words(420.0), "about 400 metres");
        assert_eq!(distance_words(1480.0), "about 1.5 km");
        assert_eq!(distance_words(2100.0), "about 2 km");
    }
}
