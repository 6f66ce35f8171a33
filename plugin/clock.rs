//! The world's time of day, shared by the sun (sandbox), NPC small talk and anything else that
//! cares whether it is morning.

use bevy::prelude::*;

use crate::AigcWorldUpdate;

/// Time of day in hours (0 = midnight, 12 = noon), advancing with [`Time`] at `speed` game
/// hours per real second. Added by [`AigcWorldPlugin`](crate::AigcWorldPlugin).
#[derive(Resource, Reflect, Clone, Debug, PartialEq)]
#[reflect(Resource)]
pub struct WorldClock {
    /// Hours since midnight, 0..24.
    pub hours: f32,
    /// Game hours per real second (0 stops the clock). The default makes a day last 24 minutes.
    pub speed: f32,
}

impl Default for WorldClock {
    fn default() -> Self {
        Self {
            hours: 10.0,
            speed: 1.0 / 60.0,
        }
    }
}

/// A coarse name for the time, for dialogue and UI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DayPeriod {
    /// 5:00 to 11:00.
    Morning,
    /// 11:00 to 17:00.
    Afternoon,
    /// 17:00 to 21:00.
    Evening,
    /// 21:00 to 5:00.
    Night,
}

impl WorldClock {
    /// The period of the day.
    pub fn period(&self) -> DayPeriod {
        match self.hours {
            h if (5.0..11.0).contains(&h) => DayPeriod::Morning,
            h if (11.0..17.0).contains(&h) => DayPeriod::Afternoon,
            h if (17.0..21.0).contains(&h) => DayPeriod::Evening,
            _ => DayPeriod::Night,
        }
    }

    /// Direction towards the sun (unit, y up): rises in the east (+x), sets in the west, below
    /// the horizon at night.
    pub fn sun_direction(&self) -> Vec3 {
        let angle = (self.hours - 6.0) / 24.0 * std::f32::consts::TAU;
        Vec3::new(angle.cos(), angle.sin(), 0.35).normalize()
    }
}

/// Adds and advances [`WorldClock`].
pub struct ClockPlugin;

impl Plugin for ClockPlugin {
    fn build(&self, app: &mut App) {
        // Without this the clock's system would sit in a schedule that never runs when the
        // plugin is added on its own.
        crate::configure_sets(app);
        app.register_type::<WorldClock>()
            .init_resource::<WorldClock>()
            .add_systems(
                AigcWorldUpdate,
                advance
                    .run_if(|clock: Res<WorldClock>| clock.speed != 0.0)
                    .in_set(crate::AigcWorldSystems::Config),
            );
    }
}

fn advance(time: Res<Time>, mut clock: ResMut<WorldClock>) {
    if clock.speed != 0.0 {
        clock.hours = (clock.hours + time.delta_secs() * clock.speed).rem_euclid(24.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_and_sun() {
        let at = |hours| WorldClock { hours, speed: 0.0 };
        assert_eq!(at(8.0).period(), DayPeriod::Morning);
        assert_eq!(at(23.5).period(), DayPeriod::Night);
        assert!(at(12.0).sun_direction().y > 0.9);
        assert!(at(0.0).sun_direction().y < -0.9);
    }

    #[test]
    fn the_clock_runs_when_its_plugin_is_added_alone() {
        let mut app = App::new();
        app.add_plugins((MinimalPlugins, ClockPlugin))
            .insert_resource(bevy::time::TimeUpdateStrategy::ManualDuration(
                std::time::Duration::from_secs(1),
            ));
        app.world_mut().resource_mut::<WorldClock>().speed = 0.5;
        let before = app.world().resource::<WorldClock>().hours;
        for _ in 0..4 {
            app.update();
        }
        let after = app.world().resource::<WorldClock>().hours;
        assert!(after > before, "hours {before} -> {after}");
    }
}
