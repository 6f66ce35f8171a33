//! Whether the area around the camera has finished generating: [`StartingArea`] (for scripts and
//! the sandbox, no egui needed) and the centred progress bar shown until it has.

use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};

use super::WorldUiSettings;
use crate::config::ActiveWorld;
use crate::terrain::TerrainStats;

/// When the first area around the observers was complete.
#[derive(Resource, Reflect, Clone, Debug, Default, PartialEq)]
#[reflect(Resource)]
pub struct StartingArea {
    /// Whether every wanted chunk has shown its wanted mesh at least once since start.
    pub ready: bool,
    /// Seconds of real time from app start until `ready` first turned true.
    pub seconds: Option<f32>,
}

/// Generation progress of the current world, for the progress bar.
#[derive(Resource, Clone, Debug, Default, PartialEq)]
pub struct WorldProgress {
    /// Whether the current world has not yet settled once (the bar shows while true).
    pub generating: bool,
    /// Chunks showing their wanted mesh of the current world.
    pub done: usize,
    /// Chunks that exist.
    pub total: usize,
    /// [`ActiveWorld::version`] being tracked; a new version starts generation over.
    pub version: u64,
}

impl WorldProgress {
    /// `done / total`, 0 while nothing is wanted yet.
    pub fn fraction(&self) -> f32 {
        if self.total == 0 {
            0.0
        } else {
            self.done as f32 / self.total as f32
        }
    }
}

/// Chunks that are up to date (showing the wanted detail of the current world) and all chunks.
pub fn chunks_done(stats: &TerrainStats) -> (usize, usize) {
    let waiting = stats.pending + stats.in_flight + stats.ready;
    (stats.chunks.saturating_sub(waiting), stats.chunks)
}

/// Updates [`StartingArea`] and [`WorldProgress`] from [`TerrainStats`]; runs after
/// [`AigcWorldSystems::Diagnostics`](crate::AigcWorldSystems::Diagnostics), when the stats are
/// this frame's.
pub(crate) fn track_progress(
    stats: Res<TerrainStats>,
    world: Res<ActiveWorld>,
    time: Res<Time<Real>>,
    mut starting: ResMut<StartingArea>,
    mut progress: ResMut<WorldProgress>,
) {
    let settled = stats.is_settled();
    if progress.version != world.version() {
        // A new world (or the first frame): show the bar until this one settles.
        progress.version = world.version();
        progress.generating = !settled;
    } else if settled {
        progress.generating = false;
    }
    let (done, total) = chunks_done(&stats);
    progress.done = done;
    progress.total = total;
    if settled && !starting.ready {
        starting.ready = true;
        starting.seconds = Some(time.elapsed_secs());
        info!(
            "aigc_world: starting area ready after {:.2} s ({total} chunks)",
            time.elapsed_secs()
        );
    }
}

/// Draws the centred "Generating world…" bar while the current world has not settled.
pub(crate) fn draw_progress(
    mut contexts: EguiContexts,
    settings: Res<WorldUiSettings>,
    progress: Res<WorldProgress>,
) -> Result {
    if !settings.visible || !progress.generating {
        return Ok(());
    }
    let ctx = contexts.ctx_mut()?;
    egui::Area::new(egui::Id::new("aigc_world_progress"))
        .anchor(egui::Align2::CENTER_CENTER, egui::vec2(0.0, 0.0))
        // Only a notice: clicks go through to the game.
        .interactable(false)
        .show(ctx, |ui| {
            egui::Frame::popup(ui.style()).show(ui, |ui| {
                ui.set_width(320.0);
                let text = if progress.total == 0 {
                    "Generating world…".to_owned()
                } else {
                    format!(
                        "Generating world… {}/{} chunks",
                        progress.done, progress.total
                    )
                };
                ui.label(text);
                ui.add(
                    egui::ProgressBar::new(progress.fraction())
                        .show_percentage()
                        .animate(true),
                );
            });
        });
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bevy::time::TimeUpdateStrategy;

    use super::*;
    use crate::config::{DEFAULT_WORLD_RON, parse_world};

    fn app() -> App {
        let mut app = App::new();
        app.add_plugins(MinimalPlugins)
            .insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_millis(
                100,
            )))
            .insert_resource(ActiveWorld::new(
                parse_world(DEFAULT_WORLD_RON, "default").unwrap(),
                "test",
            ))
            .init_resource::<TerrainStats>()
            .init_resource::<StartingArea>()
            .init_resource::<WorldProgress>()
            .add_systems(Update, track_progress);
        app
    }

    fn set_stats(app: &mut App, chunks: usize, pending: usize, in_flight: usize) {
        *app.world_mut().resource_mut::<TerrainStats>() = TerrainStats {
            chunks,
            resident: chunks - pending - in_flight,
            pending,
            in_flight,
            ..default()
        };
    }

    #[test]
    fn starting_area_turns_ready_once_when_the_stats_first_settle() {
        let mut app = app();
        app.update();
        assert!(!app.world().resource::<StartingArea>().ready);
        assert!(app.world().resource::<WorldProgress>().generating);

        set_stats(&mut app, 10, 4, 2);
        app.update();
        let progress = app.world().resource::<WorldProgress>().clone();
        assert_eq!((progress.done, progress.total), (4, 10));
        assert!(progress.generating);
        assert!((progress.fraction() - 0.4).abs() < 1e-6);

        set_stats(&mut app, 10, 0, 0);
        app.update();
        let starting = app.world().resource::<StartingArea>().clone();
        assert!(starting.ready);
        let seconds = starting.seconds.unwrap();
        assert!(seconds > 0.0, "{seconds}");
        assert!(!app.world().resource::<WorldProgress>().generating);

        // Later busy frames (the camera flying on) neither show the bar nor move the time.
        set_stats(&mut app, 12, 2, 0);
        app.update();
        assert!(!app.world().resource::<WorldProgress>().generating);
        assert_eq!(
            app.world().resource::<StartingArea>().seconds,
            Some(seconds)
        );
    }

    #[test]
    fn a_world_change_shows_the_bar_again_until_it_settles() {
        let mut app = app();
        set_stats(&mut app, 4, 0, 0);
        app.update();
        assert!(!app.world().resource::<WorldProgress>().generating);

        let mut edited = (**app.world().resource::<ActiveWorld>().config()).clone();
        edited.seed += 1;
        app.world_mut()
            .resource_mut::<ActiveWorld>()
            .replace(edited, "test edit")
            .unwrap();
        set_stats(&mut app, 4, 3, 1);
        app.update();
        assert!(app.world().resource::<WorldProgress>().generating);

        set_stats(&mut app, 4, 0, 0);
        app.update();
        assert!(!app.world().resource::<WorldProgress>().generating);
    }
}
