//! The Stats panel: frame rate, a frame-time graph, terrain streaming numbers, scatter, what is
//! drawn (instances and draw calls, [`DrawStats`]), NPCs, textures and the AI backend.

use std::collections::VecDeque;

use bevy::diagnostic::{DiagnosticPath, DiagnosticsStore, FrameTimeDiagnosticsPlugin};
use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};

use super::WorldUiSettings;
use crate::ai::AiRuntime;
use crate::dialogue::llm::{LanguageModelState, LanguageModelStatus};
use crate::npc::Npc;
use crate::render::DrawStats;
use crate::scatter::ScatterStats;
use crate::terrain::{ErosionStatus, TerrainStats};
use crate::texture::{TextureSource, TextureStatus};

/// Frames kept for the frame-time graph.
pub const FRAME_HISTORY: usize = 240;

/// Frame time of a 60 Hz display, drawn as the graph's reference line.
const TARGET_FRAME_MS: f32 = 1000.0 / 60.0;

/// Real frame times of the last [`FRAME_HISTORY`] frames in milliseconds, oldest first.
#[derive(Resource, Clone, Debug, Default)]
pub struct FrameTimeHistory {
    frames_ms: VecDeque<f32>,
}

impl FrameTimeHistory {
    /// Adds one frame, dropping the oldest beyond [`FRAME_HISTORY`].
    pub fn push(&mut self, ms: f32) {
        if self.frames_ms.len() == FRAME_HISTORY {
            self.frames_ms.pop_front();
        }
        self.frames_ms.push_back(ms);
    }

    /// Frame times in milliseconds, oldest first.
    pub fn frames_ms(&self) -> impl ExactSizeIterator<Item = f32> + '_ {
        self.frames_ms.iter().copied()
    }

    /// The slowest frame kept, in milliseconds.
    pub fn worst_ms(&self) -> f32 {
        self.frames_ms.iter().copied().fold(0.0, f32::max)
    }
}

/// Records this frame's real duration (kept up while the panel is hidden, so the graph is full
/// when it opens).
pub(crate) fn record_frame_time(time: Res<Time<Real>>, mut history: ResMut<FrameTimeHistory>) {
    let ms = time.delta_secs() * 1000.0;
    // The first frame has no duration yet.
    if ms > 0.0 {
        history.push(ms);
    }
}

/// What the Stats panel reads, besides the terrain numbers.
#[derive(bevy::ecs::system::SystemParam)]
pub(crate) struct StatsSources<'w, 's> {
    diagnostics: Option<Res<'w, DiagnosticsStore>>,
    history: Res<'w, FrameTimeHistory>,
    terrain: Option<Res<'w, TerrainStats>>,
    scatter: Option<Res<'w, ScatterStats>>,
    draws: Option<Res<'w, DrawStats>>,
    textures: Option<Res<'w, TextureStatus>>,
    ai: Option<Res<'w, AiRuntime>>,
    speech: Option<Res<'w, LanguageModelStatus>>,
    erosion: Option<Res<'w, ErosionStatus>>,
    npcs: Query<'w, 's, (), With<Npc>>,
}

/// Draws the Stats window.
pub(crate) fn draw_stats(
    mut contexts: EguiContexts,
    settings: Res<WorldUiSettings>,
    sources: StatsSources,
) -> Result {
    if !settings.visible || !settings.show_stats {
        return Ok(());
    }
    let ctx = contexts.ctx_mut()?;
    // Leave the bottom right corner to the minimap: on short screens the rest scrolls.
    let minimap = if settings.show_minimap {
        settings.minimap_display_px.max(64.0) + 80.0
    } else {
        0.0
    };
    let max_height = (ctx.content_rect().height() - minimap - 60.0).max(120.0);
    egui::Window::new("Stats")
        .id(egui::Id::new("aigc_world_stats"))
        .anchor(egui::Align2::RIGHT_TOP, egui::vec2(-8.0, 8.0))
        .resizable(false)
        .show(ctx, |ui| {
            egui::ScrollArea::vertical()
                .max_height(max_height)
                .show(ui, |ui| stats_body(ui, &sources));
        });
    Ok(())
}

/// What the learned erosion does, when the world names a model.
fn erosion_line(status: &ErosionStatus) -> Option<String> {
    let model = status.model.as_ref()?;
    Some(match (&status.failure, status.active) {
        (Some(reason), true) => format!("Erosion: {model} (keeping the last good model: {reason})"),
        (Some(reason), false) => format!("Erosion: off, plain noise ({reason})"),
        (None, true) => format!("Erosion: {model}"),
        (None, false) => format!("Erosion: loading {model}"),
    })
}

fn stats_body(ui: &mut egui::Ui, sources: &StatsSources) {
    frame_section(ui, sources);
    ui.separator();
    if let Some(stats) = &sources.terrain {
        terrain_section(ui, stats);
        ui.separator();
    }
    if let Some(line) = sources.erosion.as_deref().and_then(erosion_line) {
        ui.label(line);
    }
    if let Some(scatter) = &sources.scatter {
        ui.label(format!(
            "Scatter: {} objects in {} entities on {} chunks, {:.1} ms a chunk",
            scatter.instances, scatter.entities, scatter.chunks, scatter.mean_place_ms
        ));
    }
    if let Some(draws) = &sources.draws {
        ui.label(format!(
            "Drawn: {} instances, {} draw calls ({} for shadows)",
            draws.instances, draws.draw_calls, draws.shadow_draw_calls
        ));
    }
    ui.label(format!("NPCs: {}", sources.npcs.iter().count()));
    if let Some(ai) = &sources.ai {
        let last = ai
            .last_inference_ms()
            .map_or(String::new(), |ms| format!(", last run {ms:.0} ms"));
        ui.label(format!(
            "AI: {} backend, {} waiting{last}",
            ai.backend_name(),
            ai.waiting()
        ));
    }
    if let Some(speech) = &sources.speech {
        speech_section(ui, speech);
    }
    if let Some(textures) = &sources.textures {
        texture_section(ui, textures);
    }
}

/// Who answers NPC dialogue, and how fast the last local reply came.
fn speech_section(ui: &mut egui::Ui, speech: &LanguageModelStatus) {
    let state = match &speech.state {
        LanguageModelState::Off => "grammar only".to_owned(),
        LanguageModelState::Loading { model, progress } => {
            format!("loading {model} ({:.0}%)", progress * 100.0)
        }
        LanguageModelState::Ready { model } => model.clone(),
        LanguageModelState::Failed { model, .. } => format!("grammar ({model} failed)"),
    };
    ui.label(format!("NPC speech: {state}"));
    if let Some(last) = &speech.last_reply {
        let seconds = last.total_ms / 1000.0;
        ui.label(format!(
            "  last reply: first words {:.0} ms, {} tokens at {:.1}/s, {} of {} prompt tokens cached",
            last.first_words_ms.unwrap_or(f64::NAN),
            last.reply_tokens,
            last.reply_tokens as f64 / seconds.max(1e-9),
            last.cached_tokens,
            last.prompt_tokens
        ));
    }
}

fn frame_section(ui: &mut egui::Ui, sources: &StatsSources) {
    let smoothed = |path: &DiagnosticPath| {
        sources
            .diagnostics
            .as_ref()
            .and_then(|d| d.get(path))
            .and_then(|d| d.smoothed())
    };
    let fps = smoothed(&FrameTimeDiagnosticsPlugin::FPS);
    let frame_ms = smoothed(&FrameTimeDiagnosticsPlugin::FRAME_TIME);
    ui.label(format!(
        "FPS {}   frame {}   worst {:.1} ms",
        fps.map_or("–".into(), |f| format!("{f:.0}")),
        frame_ms.map_or("–".into(), |ms| format!("{ms:.1} ms")),
        sources.history.worst_ms(),
    ));
    frame_graph(ui, &sources.history);
}

/// Bars of the recent frame times, with a line at 60 Hz. The scale grows to fit spikes but never
/// below two 60 Hz frames, so a steady game reads as a flat band under the line.
fn frame_graph(ui: &mut egui::Ui, history: &FrameTimeHistory) {
    let size = egui::vec2(FRAME_HISTORY as f32, 64.0);
    let (rect, _) = ui.allocate_exact_size(size, egui::Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 2.0, egui::Color32::from_black_alpha(120));
    let top_ms = history.worst_ms().max(2.0 * TARGET_FRAME_MS);
    let y_of = |ms: f32| rect.bottom() - (ms / top_ms).min(1.0) * rect.height();
    let bar_width = rect.width() / FRAME_HISTORY as f32;
    // Newest frame at the right edge.
    let offset = FRAME_HISTORY - history.frames_ms.len();
    for (i, ms) in history.frames_ms().enumerate() {
        let x = rect.left() + (offset + i) as f32 * bar_width;
        let color = if ms <= TARGET_FRAME_MS * 1.05 {
            egui::Color32::from_rgb(90, 200, 120)
        } else if ms <= 2.0 * TARGET_FRAME_MS {
            egui::Color32::from_rgb(230, 190, 70)
        } else {
            egui::Color32::from_rgb(230, 80, 70)
        };
        painter.rect_filled(
            egui::Rect::from_min_max(
                egui::pos2(x, y_of(ms)),
                egui::pos2(x + bar_width.max(1.0), rect.bottom()),
            ),
            0.0,
            color,
        );
    }
    let target_y = y_of(TARGET_FRAME_MS);
    painter.hline(
        rect.x_range(),
        target_y,
        egui::Stroke::new(1.0, egui::Color32::from_white_alpha(160)),
    );
    painter.text(
        egui::pos2(rect.left() + 2.0, target_y - 1.0),
        egui::Align2::LEFT_BOTTOM,
        "16.7 ms",
        egui::FontId::monospace(10.0),
        egui::Color32::from_white_alpha(200),
    );
    painter.text(
        rect.left_top() + egui::vec2(2.0, 1.0),
        egui::Align2::LEFT_TOP,
        format!("{top_ms:.0} ms"),
        egui::FontId::monospace(10.0),
        egui::Color32::from_white_alpha(140),
    );
}

fn terrain_section(ui: &mut egui::Ui, stats: &TerrainStats) {
    egui::Grid::new("aigc_world_terrain_stats")
        .num_columns(2)
        .show(ui, |ui| {
            let mut row = |name: &str, value: String| {
                ui.label(name);
                ui.label(value);
                ui.end_row();
            };
            row(
                "chunks",
                format!("{} resident / {} total", stats.resident, stats.chunks),
            );
            row(
                "queue",
                format!(
                    "{} pending, {} in flight, {} ready",
                    stats.pending, stats.in_flight, stats.ready
                ),
            );
            row("generated", stats.generated_total.to_string());
            row(
                "generation",
                if stats.generation_ms > 0.0 {
                    format!("{:.2} ms / chunk", stats.generation_ms)
                } else {
                    "–".into()
                },
            );
            row("apply", format!("{:.2} ms this frame", stats.apply_ms));
            row(
                "mesh memory",
                format!("{:.1} MiB", stats.mesh_bytes as f64 / (1024.0 * 1024.0)),
            );
        });
}

fn texture_section(ui: &mut egui::Ui, textures: &TextureStatus) {
    let title = if textures.busy {
        "Textures (working…)"
    } else {
        "Textures"
    };
    egui::CollapsingHeader::new(title)
        .id_salt("aigc_world_texture_stats")
        .show(ui, |ui| {
            for (material, source) in &textures.materials {
                let (text, color) = match source {
                    TextureSource::Pending => ("pending".to_owned(), egui::Color32::GRAY),
                    TextureSource::Procedural => {
                        ("procedural".to_owned(), egui::Color32::LIGHT_GRAY)
                    }
                    TextureSource::Learned => {
                        ("learned".to_owned(), egui::Color32::from_rgb(120, 200, 255))
                    }
                    TextureSource::Fallback(why) => (
                        format!("fallback: {why}"),
                        egui::Color32::from_rgb(230, 190, 70),
                    ),
                };
                ui.horizontal(|ui| {
                    ui.label(material);
                    ui.label(egui::RichText::new(text).color(color));
                });
            }
            if let Some(last) = textures.warnings.last() {
                ui.label(
                    egui::RichText::new(last)
                        .small()
                        .color(egui::Color32::YELLOW),
                );
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_history_keeps_the_newest_frames() {
        let mut history = FrameTimeHistory::default();
        for i in 0..FRAME_HISTORY + 10 {
            history.push(i as f32);
        }
        assert_eq!(history.frames_ms().len(), FRAME_HISTORY);
        assert_eq!(history.frames_ms().next(), Some(10.0));
        assert_eq!(history.worst_ms(), (FRAME_HISTORY + 9) as f32);
    }

    #[test]
    fn the_erosion_line_says_what_the_ground_is() {
        let mut status = ErosionStatus::default();
        assert_eq!(erosion_line(&status), None, "no model named: no line");
        status.model = Some("models/a.erosion".into());
        assert_eq!(
            erosion_line(&status).unwrap(),
            "Erosion: loading models/a.erosion"
        );
        status.active = true;
        assert_eq!(erosion_line(&status).unwrap(), "Erosion: models/a.erosion");
        status.active = false;
        status.failure = Some("models/a.erosion:1:1: not an erosion model".into());
        assert!(
            erosion_line(&status)
                .unwrap()
                .starts_with("Erosion: off, plain noise")
        );
    }
}
