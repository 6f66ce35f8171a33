//! egui panels for worlds (feature `egui`): world parameters, statistics, minimap, progress.
//!
//! Add [`WorldUiPlugin`] next to [`AigcWorldPlugin`](crate::AigcWorldPlugin) and bevy_egui's
//! `EguiPlugin`, with a camera carrying [`WorldObserver`](crate::terrain::WorldObserver):
//!
//! | panel | what it shows |
//! |---|---|
//! | World ([`world_panel`]) | seed, view radius and every noise node's parameters, edited live; "Reset to file" |
//! | Stats ([`stats_panel`]) | FPS, a frame-time graph, chunk streaming, scatter, instances drawn and draw calls, NPCs, textures, the AI backend |
//! | Minimap ([`minimap`]) | shaded biome map around the camera, drawn off the frame thread |
//! | progress ([`progress`]) | a centred bar until the area around the camera has generated |
//!
//! F1 ([`WorldUiSettings::toggle_key`]) hides and shows them all; hidden panels take no input.
//! [`StartingArea`] says when the first area was ready, with or without egui.

pub mod minimap;
mod node_editor;
pub mod progress;
pub mod stats_panel;
pub mod world_panel;

use bevy::diagnostic::FrameTimeDiagnosticsPlugin;
use bevy::input::ButtonInput;
use bevy::input::keyboard::KeyCode;
use bevy::prelude::*;
use bevy_egui::{EguiPlugin, EguiPrimaryContextPass};

pub use minimap::{MinimapImage, MinimapSampler, MinimapState, render_minimap};
pub use progress::{StartingArea, WorldProgress};
pub use stats_panel::FrameTimeHistory;
pub use world_panel::{WORLD_PANEL_SOURCE, WorldEditor, apply_world_draft};

use crate::config::ActiveWorld;
use crate::terrain::TerrainStats;
use crate::{AigcWorldSystems, AigcWorldUpdate};

/// The World, Stats and Minimap panels and the generation progress bar.
///
/// Needs [`WorldConfigPlugin`](crate::config::WorldConfigPlugin) and
/// [`TerrainPlugin`](crate::terrain::TerrainPlugin) (both in
/// [`AigcWorldPlugin`](crate::AigcWorldPlugin)); draws only when bevy_egui's `EguiPlugin` is
/// added. Adds Bevy's [`FrameTimeDiagnosticsPlugin`] unless it is already there (add yours
/// before this plugin if you configure it).
pub struct WorldUiPlugin;

impl Plugin for WorldUiPlugin {
    fn build(&self, app: &mut App) {
        crate::configure_sets(app);
        if !app.is_plugin_added::<FrameTimeDiagnosticsPlugin>() {
            app.add_plugins(FrameTimeDiagnosticsPlugin::default());
        }
        let has_world = resource_exists::<ActiveWorld>;
        app.register_type::<WorldUiSettings>()
            .register_type::<StartingArea>()
            .init_resource::<WorldUiSettings>()
            .init_resource::<WorldEditor>()
            .init_resource::<FrameTimeHistory>()
            .init_resource::<MinimapState>()
            .init_resource::<StartingArea>()
            .init_resource::<WorldProgress>()
            .add_systems(
                AigcWorldUpdate,
                (
                    (toggle_ui, stats_panel::record_frame_time),
                    world_panel::apply_world_edits
                        .before(AigcWorldSystems::Config)
                        .run_if(has_world),
                    world_panel::sync_world_editor
                        .after(AigcWorldSystems::Config)
                        .run_if(has_world),
                    (
                        progress::track_progress.run_if(resource_exists::<TerrainStats>),
                        minimap::update_minimap,
                    )
                        .after(AigcWorldSystems::Diagnostics)
                        .run_if(has_world),
                ),
            )
            .add_systems(
                EguiPrimaryContextPass,
                (
                    world_panel::draw_world_panel.run_if(has_world),
                    stats_panel::draw_stats,
                    minimap::draw_minimap,
                    progress::draw_progress,
                )
                    .chain(),
            );
    }

    fn finish(&self, app: &mut App) {
        if !app.is_plugin_added::<EguiPlugin>() {
            warn!("aigc_world: WorldUiPlugin needs bevy_egui's EguiPlugin; no panels will show");
        }
        if !app.world().contains_resource::<ActiveWorld>() {
            warn!(
                "aigc_world: WorldUiPlugin needs WorldConfigPlugin (in AigcWorldPlugin); \
                 the World panel, minimap and progress bar stay empty"
            );
        }
    }
}

/// Knobs of the world panels; edit live (the World panel's "live" box is `live_apply`).
#[derive(Resource, Reflect, Clone, Debug, PartialEq)]
#[reflect(Resource)]
pub struct WorldUiSettings {
    /// Whether any panel shows. Hidden panels draw nothing and take no input.
    pub visible: bool,
    /// The key that flips [`visible`](Self::visible).
    pub toggle_key: KeyCode,
    /// Whether the World panel shows.
    pub show_world: bool,
    /// Whether the Stats panel shows.
    pub show_stats: bool,
    /// Whether the Minimap shows (and is kept up to date).
    pub show_minimap: bool,
    /// Apply World panel edits by themselves once dragging stops, without pressing Apply.
    pub live_apply: bool,
    /// Seconds without edits before a live edit applies, so a drag regenerates the world once.
    pub apply_delay_s: f32,
    /// Metres of ground across the minimap.
    pub minimap_extent_m: f32,
    /// Pixels per side of the minimap image (its cost grows with the square).
    pub minimap_size_px: u32,
    /// Points per side the minimap takes on screen.
    pub minimap_display_px: f32,
}

impl Default for WorldUiSettings {
    fn default() -> Self {
        Self {
            visible: true,
            toggle_key: KeyCode::F1,
            show_world: true,
            show_stats: true,
            show_minimap: true,
            live_apply: true,
            apply_delay_s: 0.3,
            minimap_extent_m: 2000.0,
            minimap_size_px: 128,
            minimap_display_px: 200.0,
        }
    }
}

fn toggle_ui(keys: Option<Res<ButtonInput<KeyCode>>>, mut settings: ResMut<WorldUiSettings>) {
    if keys.is_some_and(|k| k.just_pressed(settings.toggle_key)) {
        settings.visible = !settings.visible;
    }
}
