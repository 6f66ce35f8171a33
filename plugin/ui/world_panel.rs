//! The World panel: a working copy of the active world whose seed and noise parameters can be
//! edited live, applied (validated exactly as the world file is) so the terrain regenerates, and
//! reset to the world as the file last gave it.
//!
//! Where a world came from is told by its version: [`WorldEditor`] remembers the
//! [`ActiveWorld::version`] each of its own edits produced, so any other change (a file load, a
//! hot reload, another tool) is taken as the new "file" world.

use std::sync::Arc;

use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};

use super::WorldUiSettings;
use super::node_editor::edit_world;
use crate::config::{ActiveWorld, ConfigError, WorldConfig, WorldConfigChanged};

/// Label of worlds made by the World panel, in [`ActiveWorld::source`] and error messages.
pub const WORLD_PANEL_SOURCE: &str = "World panel";

/// The World panel's working copy of the world and the last world that came from a file.
///
/// Scripts and tests can drive it without egui: change [`draft_mut`](Self::draft_mut) and call
/// [`request_apply`](Self::request_apply), or [`reset_to_file`](Self::reset_to_file).
#[derive(Resource, Debug, Default)]
pub struct WorldEditor {
    draft: Option<WorldConfig>,
    file_world: Option<Arc<WorldConfig>>,
    /// The newest [`ActiveWorld::version`] looked at.
    seen_version: u64,
    /// The version the panel's own last apply produced.
    own_version: Option<u64>,
    /// Real time (seconds) of the last edit not yet applied, for the live-apply delay.
    edited_at: Option<f64>,
    apply_requested: bool,
    error: Option<String>,
}

impl WorldEditor {
    /// The working copy (`None` until the first world has been seen).
    pub fn draft(&self) -> Option<&WorldConfig> {
        self.draft.as_ref()
    }

    /// The working copy, to edit. Changes apply on [`request_apply`](Self::request_apply) (or
    /// after the live delay, if [`mark_edited`](Self::mark_edited) is called).
    pub fn draft_mut(&mut self) -> Option<&mut WorldConfig> {
        self.draft.as_mut()
    }

    /// The world as the file (or whatever last changed the world other than this panel) gave it.
    pub fn file_world(&self) -> Option<&Arc<WorldConfig>> {
        self.file_world.as_ref()
    }

    /// Why the last apply was refused; cleared by the next successful one.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Applies the working copy in the next frame.
    pub fn request_apply(&mut self) {
        self.apply_requested = true;
    }

    /// Notes an edit made at `now` (real seconds), so live apply waits for the edits to stop.
    pub fn mark_edited(&mut self, now: f64) {
        self.edited_at = Some(now);
    }

    /// Replaces the working copy with the file's world and applies it.
    pub fn reset_to_file(&mut self) {
        if let Some(file) = &self.file_world {
            self.draft = Some((**file).clone());
            self.apply_requested = true;
        }
    }

    /// Throws the unapplied edits away: the working copy becomes `active` again.
    pub fn revert(&mut self, active: &ActiveWorld) {
        self.draft = Some((**active.config()).clone());
        self.edited_at = None;
        self.error = None;
    }
}

/// Validates `draft` and makes it the active world. Returns the new version, or `None` when the
/// draft equals the active world (nothing to regenerate). An invalid draft changes nothing.
pub fn apply_world_draft(
    active: &mut ActiveWorld,
    draft: &WorldConfig,
) -> Result<Option<u64>, ConfigError> {
    let changed = active.replace(draft.clone(), WORLD_PANEL_SOURCE)?;
    Ok(changed.then(|| active.version()))
}

/// Applies the working copy when asked, or live once edits have paused for the configured delay.
/// Runs before [`AigcWorldSystems::Config`](crate::AigcWorldSystems::Config), so the terrain
/// sampler is rebuilt in the same frame.
pub(crate) fn apply_world_edits(
    time: Res<Time<Real>>,
    settings: Res<WorldUiSettings>,
    mut editor: ResMut<WorldEditor>,
    mut active: ResMut<ActiveWorld>,
    mut changed: MessageWriter<WorldConfigChanged>,
) {
    let now = time.elapsed_secs_f64();
    let settled = |t: f64| now - t >= f64::from(settings.apply_delay_s);
    let due =
        editor.apply_requested || (settings.live_apply && editor.edited_at.is_some_and(settled));
    if !due {
        return;
    }
    editor.apply_requested = false;
    editor.edited_at = None;
    let Some(draft) = editor.draft.take() else {
        return;
    };
    // Touch `ActiveWorld` mutably only for a real change, so its change detection means one.
    let result = if **active.config() == draft {
        Ok(None)
    } else {
        apply_world_draft(active.bypass_change_detection(), &draft)
    };
    match result {
        Ok(Some(version)) => {
            active.set_changed();
            editor.own_version = Some(version);
            editor.error = None;
            info!("aigc_world: world edited in the World panel (version {version})");
            changed.write(WorldConfigChanged::new(version));
        }
        Ok(None) => editor.error = None,
        Err(e) => editor.error = Some(e.kind.to_string()),
    }
    editor.draft = Some(draft);
}

/// Follows [`ActiveWorld`]: a change this panel did not make becomes the new file world and
/// replaces the working copy.
pub(crate) fn sync_world_editor(active: Res<ActiveWorld>, mut editor: ResMut<WorldEditor>) {
    if editor.seen_version == active.version() && editor.draft.is_some() {
        return;
    }
    editor.seen_version = active.version();
    if editor.own_version == Some(active.version()) {
        return;
    }
    editor.file_world = Some(active.config().clone());
    editor.revert(&active);
}

/// Draws the World window.
pub(crate) fn draw_world_panel(
    mut contexts: EguiContexts,
    mut settings: ResMut<WorldUiSettings>,
    time: Res<Time<Real>>,
    active: Res<ActiveWorld>,
    mut editor: ResMut<WorldEditor>,
) -> Result {
    if !settings.visible || !settings.show_world {
        return Ok(());
    }
    let ctx = contexts.ctx_mut()?;
    let max_height = (ctx.content_rect().height() - 120.0).max(200.0);
    egui::Window::new("World")
        .id(egui::Id::new("aigc_world_world_panel"))
        .default_pos(egui::pos2(8.0, 8.0))
        .default_width(320.0)
        .show(ctx, |ui| {
            ui.label(
                egui::RichText::new(format!(
                    "{} (version {})",
                    active.source(),
                    active.version()
                ))
                .small()
                .weak(),
            );
            let Some(draft) = editor.draft.as_mut() else {
                ui.label("Waiting for the world…");
                return;
            };
            let edited = egui::ScrollArea::vertical()
                .max_height(max_height)
                .show(ui, |ui| edit_world(ui, draft))
                .inner;
            let dirty = **active.config() != *draft;
            if edited {
                editor.mark_edited(time.elapsed_secs_f64());
            }
            ui.separator();
            ui.horizontal(|ui| {
                ui.checkbox(&mut settings.live_apply, "live");
                if ui
                    .add_enabled(dirty, egui::Button::new("Apply"))
                    .on_hover_text("Validate the edits and regenerate the world")
                    .clicked()
                {
                    editor.request_apply();
                }
                if ui
                    .add_enabled(dirty, egui::Button::new("Revert"))
                    .on_hover_text("Forget the edits not applied yet")
                    .clicked()
                {
                    editor.revert(&active);
                }
                let from_file = editor
                    .file_world
                    .as_ref()
                    .is_some_and(|f| **f != **active.config() || dirty);
                if ui
                    .add_enabled(from_file, egui::Button::new("Reset to file"))
                    .on_hover_text("Restore the world as the file gave it")
                    .clicked()
                {
                    editor.reset_to_file();
                }
            });
            if let Some(error) = &editor.error {
                ui.label(egui::RichText::new(error).color(egui::Color32::from_rgb(255, 90, 80)));
            } else if dirty {
                let note = if settings.live_apply {
                    "applying when you stop editing…"
                } else {
                    "edited: press Apply"
                };
                ui.label(egui::RichText::new(note).weak());
            }
        });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DEFAULT_WORLD_RON, NoiseNode, parse_world};
    use crate::ui::WorldUiPlugin;

    fn default_world() -> WorldConfig {
        parse_world(DEFAULT_WORLD_RON, "default.world.ron").unwrap()
    }

    /// The UI plugin without egui: its per-frame systems run, its drawing schedule never does.
    fn app() -> App {
        let mut app = App::new();
        app.add_plugins(MinimalPlugins)
            .insert_resource(ActiveWorld::new(default_world(), "file.world.ron"))
            .add_message::<WorldConfigChanged>()
            .init_resource::<crate::terrain::TerrainStats>()
            .add_plugins(WorldUiPlugin);
        app.update();
        app
    }

    fn edit(app: &mut App, change: impl FnOnce(&mut WorldConfig)) {
        let mut editor = app.world_mut().resource_mut::<WorldEditor>();
        change(
            editor
                .draft_mut()
                .expect("the editor follows the active world"),
        );
        editor.request_apply();
        app.update();
    }

    fn active(app: &App) -> &ActiveWorld {
        app.world().resource::<ActiveWorld>()
    }

    #[test]
    fn a_valid_edit_becomes_the_active_world_and_the_file_world_stays() {
        let mut app = app();
        let before = active(&app).version();
        edit(&mut app, |w| w.seed = 12345);
        assert_eq!(active(&app).config().seed, 12345);
        assert_eq!(active(&app).version(), before + 1);
        assert_eq!(active(&app).source(), WORLD_PANEL_SOURCE);
        let editor = app.world().resource::<WorldEditor>();
        assert_eq!(editor.error(), None);
        assert_eq!(**editor.file_world().unwrap(), default_world());
        assert_eq!(editor.draft().unwrap().seed, 12345);
    }

    #[test]
    fn an_invalid_edit_keeps_the_world_and_says_why() {
        let mut app = app();
        let before = active(&app).version();
        edit(&mut app, |w| {
            let fractal = w.terrain.nodes.0.iter_mut().find_map(|(_, n)| match n {
                NoiseNode::Fractal { gain, .. } => Some(gain),
                _ => None,
            });
            *fractal.expect("the default world has a fractal") = 3.0;
        });
        assert_eq!(active(&app).version(), before);
        let error = app.world().resource::<WorldEditor>().error().unwrap();
        assert!(error.contains("gain"), "{error}");
        // The broken draft is kept for fixing.
        assert_ne!(
            app.world().resource::<WorldEditor>().draft().unwrap(),
            &**active(&app).config()
        );
    }

    #[test]
    fn reset_to_file_restores_the_loaded_world() {
        let mut app = app();
        edit(&mut app, |w| w.streaming.view_radius_m = 400.0);
        assert_eq!(active(&app).config().streaming.view_radius_m, 400.0);
        app.world_mut()
            .resource_mut::<WorldEditor>()
            .reset_to_file();
        app.update();
        assert_eq!(**active(&app).config(), default_world());
    }

    #[test]
    fn a_change_from_elsewhere_becomes_the_new_file_world() {
        let mut app = app();
        let mut reloaded = default_world();
        reloaded.seed = 777;
        app.world_mut()
            .resource_mut::<ActiveWorld>()
            .replace(reloaded.clone(), "file.world.ron")
            .unwrap();
        app.update();
        let editor = app.world().resource::<WorldEditor>();
        assert_eq!(**editor.file_world().unwrap(), reloaded);
        assert_eq!(editor.draft(), Some(&reloaded));
    }

    #[test]
    fn live_edits_wait_for_the_delay() {
        let mut app = app();
        app.world_mut()
            .resource_mut::<WorldUiSettings>()
            .apply_delay_s = 3600.0;
        let before = active(&app).version();
        {
            let mut editor = app.world_mut().resource_mut::<WorldEditor>();
            editor.draft_mut().unwrap().seed = 99;
            editor.mark_edited(0.0);
        }
        app.update();
        assert_eq!(active(&app).version(), before, "applied before the delay");
        app.world_mut()
            .resource_mut::<WorldUiSettings>()
            .apply_delay_s = 0.0;
        app.update();
        assert_eq!(active(&app).config().seed, 99);
    }
}
