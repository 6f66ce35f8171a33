//! Talking to NPCs in a windowed app (feature `egui`): name labels over nearby NPCs, press E near
//! one to open a dialogue window that streams its replies, type a line and press Enter, Escape
//! closes.
//!
//! Add [`DialogueUiPlugin`] to any app with `EguiPlugin` and a camera carrying
//! [`WorldObserver`]. Scripts and tests drive the same window with
//! messages: [`OpenConversation`] (with `npc: None` it picks the NPC nearest to an observer),
//! [`SubmitLine`] and [`CloseConversation`]; [`ConversationUi`] shows what is open.

use bevy::input::ButtonInput;
use bevy::input::keyboard::KeyCode;
use bevy::prelude::*;
use bevy_egui::input::EguiWantsInput;
use bevy_egui::{EguiContexts, EguiPlugin, EguiPrimaryContextPass, egui};

use super::memory::NpcMemory;
use super::source::RequestId;
use super::{DialogueReply, ReplyEvent, SayToNpc};
use crate::npc::Npc;
use crate::npc::facts::Speaker;
use crate::terrain::WorldObserver;
use crate::{AigcWorldSystems, AigcWorldUpdate};

/// Labels, the talk key and the dialogue window.
pub struct DialogueUiPlugin;

impl Plugin for DialogueUiPlugin {
    fn build(&self, app: &mut App) {
        crate::configure_sets(app);
        app.register_type::<DialogueUiSettings>()
            .init_resource::<DialogueUiSettings>()
            .init_resource::<ConversationUi>()
            .add_message::<OpenConversation>()
            .add_message::<CloseConversation>()
            .add_message::<SubmitLine>()
            .add_systems(
                AigcWorldUpdate,
                (talk_keys, open_and_close, clamp_draft)
                    .chain()
                    .before(AigcWorldSystems::Dialogue)
                    .after(AigcWorldSystems::Npcs),
            )
            .add_systems(
                AigcWorldUpdate,
                follow_replies.after(AigcWorldSystems::Dialogue),
            )
            .add_systems(EguiPrimaryContextPass, (draw_labels, draw_window).chain());
    }

    fn finish(&self, app: &mut App) {
        if !app.is_plugin_added::<EguiPlugin>() {
            warn!(
                "aigc_world: DialogueUiPlugin needs bevy_egui's EguiPlugin; no dialogue window will show"
            );
        }
    }
}

/// Knobs of the dialogue UI.
#[derive(Resource, Reflect, Clone, Debug, PartialEq)]
#[reflect(Resource)]
pub struct DialogueUiSettings {
    /// How close (metres) an observer must be to an NPC to talk with E.
    pub talk_distance_m: f32,
    /// NPCs within this distance (metres) of the camera show their name.
    pub label_distance_m: f32,
    /// The key that opens a conversation.
    pub talk_key: KeyCode,
}

impl Default for DialogueUiSettings {
    fn default() -> Self {
        Self {
            talk_distance_m: 6.0,
            label_distance_m: 30.0,
            talk_key: KeyCode::KeyE,
        }
    }
}

/// The conversation on screen.
#[derive(Resource, Clone, Debug, Default, PartialEq)]
pub struct ConversationUi {
    /// The NPC being talked to.
    pub open: Option<Entity>,
    /// The player's line being typed.
    pub draft: String,
    /// The reply arriving now (empty when none is).
    pub streaming: String,
    /// The request being answered.
    pub request: Option<RequestId>,
    /// Who answered the last reply ("grammar", or a neural source).
    pub source: String,
    /// Replies completed in this conversation.
    pub replies: usize,
    focus: bool,
}

/// Opens the dialogue window with `npc`, or with the NPC nearest to any observer when `None`
/// (at any distance: for scripts and screenshots).
#[derive(Message, Clone, Debug, Default, PartialEq)]
pub struct OpenConversation {
    /// The NPC entity, or `None` for the nearest.
    pub npc: Option<Entity>,
}

/// Closes the dialogue window.
#[derive(Message, Clone, Debug, Default, PartialEq)]
pub struct CloseConversation;

/// Says `text` to the NPC in the open conversation, as if typed and sent.
#[derive(Message, Clone, Debug, PartialEq)]
pub struct SubmitLine {
    /// The player's line.
    pub text: String,
}

fn nearest_npc(
    observers: &Query<&GlobalTransform, With<WorldObserver>>,
    npcs: &Query<(Entity, &GlobalTransform), With<Npc>>,
    within: f32,
) -> Option<Entity> {
    let mut best: Option<(f32, Entity)> = None;
    for eye in observers {
        for (e, t) in npcs {
            let d = eye.translation().distance(t.translation());
            if d <= within && best.is_none_or(|b| d < b.0) {
                best = Some((d, e));
            }
        }
    }
    best.map(|b| b.1)
}

fn talk_keys(
    keys: Option<Res<ButtonInput<KeyCode>>>,
    wants: Option<Res<EguiWantsInput>>,
    settings: Res<DialogueUiSettings>,
    ui: Res<ConversationUi>,
    observers: Query<&GlobalTransform, With<WorldObserver>>,
    npcs: Query<(Entity, &GlobalTransform), With<Npc>>,
    mut open: MessageWriter<OpenConversation>,
    mut close: MessageWriter<CloseConversation>,
) {
    let Some(keys) = keys else { return };
    if ui.open.is_some() && keys.just_pressed(KeyCode::Escape) {
        close.write(CloseConversation);
        return;
    }
    let typing = wants.is_some_and(|w| w.wants_any_keyboard_input());
    if ui.open.is_none()
        && !typing
        && keys.just_pressed(settings.talk_key)
        && let Some(npc) = nearest_npc(&observers, &npcs, settings.talk_distance_m)
    {
        open.write(OpenConversation { npc: Some(npc) });
    }
}

fn open_and_close(
    mut opens: MessageReader<OpenConversation>,
    mut closes: MessageReader<CloseConversation>,
    mut lines: MessageReader<SubmitLine>,
    observers: Query<&GlobalTransform, With<WorldObserver>>,
    npcs: Query<(Entity, &GlobalTransform), With<Npc>>,
    mut ui: ResMut<ConversationUi>,
    mut say: MessageWriter<SayToNpc>,
) {
    for open in opens.read() {
        let Some(npc) = open
            .npc
            .or_else(|| nearest_npc(&observers, &npcs, f32::INFINITY))
        else {
            warn!("aigc_world: no NPC to talk to");
            continue;
        };
        *ui = ConversationUi {
            open: Some(npc),
            focus: true,
            ..default()
        };
        say.write(SayToNpc::open(npc));
    }
    if closes.read().count() > 0 {
        *ui = ConversationUi::default();
    }
    // The NPC's chunk may have unloaded under the window.
    if ui.open.is_some_and(|e| !npcs.contains(e)) {
        *ui = ConversationUi::default();
    }
    for line in lines.read() {
        if let Some(npc) = ui.open {
            say.write(SayToNpc::new(npc, line.text.clone()));
        }
    }
}

fn clamp_draft(mut ui: ResMut<ConversationUi>) {
    // Keeps the window's draft from growing without bound if something pastes a novel.
    if ui.draft.chars().count() > super::intent::MAX_LINE_CHARS {
        let cut = super::intent::clamp_line(&ui.draft).to_owned();
        ui.draft = cut;
    }
}

fn follow_replies(mut replies: MessageReader<DialogueReply>, mut ui: ResMut<ConversationUi>) {
    for reply in replies.read() {
        if Some(reply.npc) != ui.open {
            continue;
        }
        match &reply.event {
            ReplyEvent::Started { source, .. } => {
                ui.request = Some(reply.request);
                ui.streaming.clear();
                ui.source = source.clone();
            }
            ReplyEvent::Piece(text) if ui.request == Some(reply.request) => {
                ui.streaming.push_str(text)
            }
            ReplyEvent::Restart if ui.request == Some(reply.request) => ui.streaming.clear(),
            ReplyEvent::Done { source, .. } if ui.request == Some(reply.request) => {
                ui.streaming.clear();
                ui.request = None;
                ui.source = source.clone();
                ui.replies += 1;
            }
            _ => {}
        }
    }
}

fn draw_labels(
    mut contexts: EguiContexts,
    settings: Res<DialogueUiSettings>,
    ui: Res<ConversationUi>,
    cameras: Query<(&Camera, &GlobalTransform), With<WorldObserver>>,
    npcs: Query<(Entity, &Npc, &GlobalTransform)>,
) -> Result {
    let Some((camera, eye)) = cameras.iter().find(|(c, _)| c.is_active) else {
        return Ok(());
    };
    let ctx = contexts.ctx_mut()?;
    let painter = ctx.layer_painter(egui::LayerId::background());
    for (e, npc, t) in &npcs {
        let head = t.translation() + Vec3::Y * 2.2;
        let d = eye.translation().distance(head);
        if d > settings.label_distance_m {
            continue;
        }
        let Ok(p) = camera.world_to_viewport(eye, head) else {
            continue;
        };
        let alpha = (255.0 * (1.0 - d / settings.label_distance_m).clamp(0.25, 1.0)) as u8;
        let text = if Some(e) == ui.open || d > settings.talk_distance_m {
            npc.persona.name.clone()
        } else {
            format!("{} [E]", npc.persona.name)
        };
        let pos = egui::pos2(p.x, p.y);
        let font = egui::FontId::proportional(15.0);
        let galley = painter.layout_no_wrap(text, font, egui::Color32::from_white_alpha(alpha));
        let rect = egui::Align2::CENTER_BOTTOM
            .anchor_size(pos, galley.size())
            .expand(3.0);
        painter.rect_filled(rect, 3.0, egui::Color32::from_black_alpha(alpha / 2));
        painter.galley(
            rect.min + egui::vec2(3.0, 3.0),
            galley,
            egui::Color32::WHITE,
        );
    }
    Ok(())
}

fn draw_window(
    mut contexts: EguiContexts,
    mut ui_state: ResMut<ConversationUi>,
    npcs: Query<(&Npc, Option<&NpcMemory>)>,
    mut lines: MessageWriter<SubmitLine>,
    mut close: MessageWriter<CloseConversation>,
) -> Result {
    let Some(npc_entity) = ui_state.open else {
        return Ok(());
    };
    let Ok((npc, memory)) = npcs.get(npc_entity) else {
        return Ok(());
    };
    let ctx = contexts.ctx_mut()?;
    let mut open = true;
    egui::Window::new(format!("{} — {}", npc.persona.name, npc.persona.occupation))
        .id(egui::Id::new("aigc_world_dialogue"))
        .open(&mut open)
        .default_width(420.0)
        .anchor(egui::Align2::CENTER_BOTTOM, egui::vec2(0.0, -24.0))
        .collapsible(false)
        .show(ctx, |ui| {
            ui.label(egui::RichText::new(npc.persona.summary()).italics().weak());
            ui.separator();
            egui::ScrollArea::vertical()
                .max_height(220.0)
                .stick_to_bottom(true)
                .show(ui, |ui| {
                    for turn in memory.iter().flat_map(|m| m.turns.iter()) {
                        let who = match turn.speaker {
                            Speaker::Player => "You",
                            Speaker::Npc => npc.persona.name.as_str(),
                        };
                        ui.label(egui::RichText::new(format!("{who}: {}", turn.text)).color(
                            match turn.speaker {
                                Speaker::Player => egui::Color32::LIGHT_BLUE,
                                Speaker::Npc => egui::Color32::WHITE,
                            },
                        ));
                    }
                    if ui_state.request.is_some() {
                        ui.label(format!("{}: {}…", npc.persona.name, ui_state.streaming));
                    }
                });
            ui.separator();
            let edit = ui.add(
                egui::TextEdit::singleline(&mut ui_state.draft)
                    .hint_text("Say something and press Enter (Esc closes)")
                    .desired_width(f32::INFINITY),
            );
            if ui_state.focus {
                edit.request_focus();
                ui_state.focus = false;
            }
            if edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
                let text = std::mem::take(&mut ui_state.draft);
                if !text.trim().is_empty() {
                    lines.write(SubmitLine { text });
                }
                ui_state.focus = true;
            }
            if !ui_state.source.is_empty() {
                ui.label(
                    egui::RichText::new(format!("answered by: {}", ui_state.source))
                        .small()
                        .weak(),
                );
            }
        });
    if !open {
        close.write(CloseConversation);
    }
    Ok(())
}
