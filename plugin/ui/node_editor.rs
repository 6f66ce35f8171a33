//! Widgets that edit a [`WorldConfig`] in place: the seed, the view radius and the numeric
//! parameters of every terrain noise node. They only change the working copy; the World panel
//! decides when it becomes the active world.

use bevy_egui::egui;

use crate::config::{
    ErosionConfig, FractalKind, MAX_OCTAVES, MAX_VIEW_RADIUS_M, NoiseNode, SourceKind, WorldConfig,
};

/// Edits `config`; returns whether anything changed this frame.
pub(crate) fn edit_world(ui: &mut egui::Ui, config: &mut WorldConfig) -> bool {
    let mut changed = false;
    egui::Grid::new("aigc_world_world_params")
        .num_columns(2)
        .show(ui, |ui| {
            ui.label("seed");
            ui.horizontal(|ui| {
                changed |= ui
                    .add(egui::DragValue::new(&mut config.seed).speed(1.0))
                    .changed();
                if ui.button("random").clicked() {
                    config.seed = random_seed(config.seed);
                    changed = true;
                }
            });
            ui.end_row();
            changed |= drag_f64(
                ui,
                "view radius",
                &mut config.streaming.view_radius_m,
                32.0..=MAX_VIEW_RADIUS_M,
                " m",
            );
            changed |= edit_erosion(ui, &mut config.erosion);
        });
    let nodes = &mut config.terrain.nodes.0;
    egui::CollapsingHeader::new(format!("Terrain nodes ({})", nodes.len()))
        .id_salt("aigc_world_nodes")
        .default_open(true)
        .show(ui, |ui| {
            for (name, node) in nodes.iter_mut() {
                egui::CollapsingHeader::new(format!("{name}  ·  {}", kind_name(node)))
                    .id_salt(("aigc_world_node", name.as_str()))
                    .show(ui, |ui| {
                        egui::Grid::new(("aigc_world_node_grid", name.as_str()))
                            .num_columns(2)
                            .show(ui, |ui| changed |= edit_node(ui, node));
                    });
            }
        });
    changed
}

/// The learned erosion: on or off (on uses the world's model, or the shipped one) and its
/// strength. One grid row.
fn edit_erosion(ui: &mut egui::Ui, erosion: &mut Option<ErosionConfig>) -> bool {
    ui.label("learned erosion");
    let mut changed = false;
    ui.horizontal(|ui| {
        let mut on = erosion.is_some();
        if ui.checkbox(&mut on, "").changed() {
            *erosion = on.then(ErosionConfig::default);
            changed = true;
        }
        if let Some(e) = erosion {
            changed |= ui
                .add(
                    egui::DragValue::new(&mut e.strength)
                        .speed(0.01)
                        .range(0.0..=2.0)
                        .prefix("strength "),
                )
                .changed();
            ui.label(&e.model)
                .on_hover_text("the .erosion model (world file's erosion.model)");
        }
    });
    ui.end_row();
    changed
}

/// A new seed that differs from `previous`. 32 bits, so the seed's drag field (which works in
/// `f64`) shows and keeps it exactly.
pub(crate) fn random_seed(previous: u64) -> u64 {
    use std::hash::BuildHasher;
    // Every `RandomState` is keyed from the OS's randomness: no RNG dependency needed.
    let seed = std::collections::hash_map::RandomState::new().hash_one(previous) >> 32;
    if seed == previous { seed ^ 1 } else { seed }
}

/// The node's kind as written in world files.
fn kind_name(node: &NoiseNode) -> &'static str {
    match node {
        NoiseNode::Constant(_) => "Constant",
        NoiseNode::Source { .. } => "Source",
        NoiseNode::Fractal { .. } => "Fractal",
        NoiseNode::Add(_) => "Add",
        NoiseNode::Multiply(_) => "Multiply",
        NoiseNode::Min(_) => "Min",
        NoiseNode::Max(_) => "Max",
        NoiseNode::ScaleBias { .. } => "ScaleBias",
        NoiseNode::Clamp { .. } => "Clamp",
        NoiseNode::Abs(_) => "Abs",
        NoiseNode::Curve { .. } => "Curve",
        NoiseNode::Terrace { .. } => "Terrace",
        NoiseNode::DomainWarp { .. } => "DomainWarp",
        NoiseNode::Blend { .. } => "Blend",
    }
}

/// One grid row per numeric parameter; node references are shown, not edited (rewiring the
/// graph belongs in the world file).
fn edit_node(ui: &mut egui::Ui, node: &mut NoiseNode) -> bool {
    let mut changed = false;
    match node {
        NoiseNode::Constant(value) => changed |= drag_f32(ui, "value", value, None),
        NoiseNode::Source {
            source,
            frequency,
            seed,
        } => {
            changed |= pick_source(ui, source);
            changed |= drag_frequency(ui, frequency);
            changed |= drag_u32(ui, "seed", seed, 0..=u32::MAX);
        }
        NoiseNode::Fractal {
            fractal,
            source,
            octaves,
            frequency,
            lacunarity,
            gain,
            seed,
        } => {
            changed |= pick(
                ui,
                "fractal",
                fractal,
                &[FractalKind::Fbm, FractalKind::Ridged, FractalKind::Billow],
            );
            changed |= pick_source(ui, source);
            changed |= drag_u32(ui, "octaves", octaves, 1..=MAX_OCTAVES);
            changed |= drag_frequency(ui, frequency);
            changed |= drag_f64(ui, "lacunarity", lacunarity, 1.0..=8.0, "");
            changed |= drag_f64(ui, "gain", gain, 0.0..=1.0, "");
            changed |= drag_u32(ui, "seed", seed, 0..=u32::MAX);
        }
        NoiseNode::Add(inputs)
        | NoiseNode::Multiply(inputs)
        | NoiseNode::Min(inputs)
        | NoiseNode::Max(inputs) => inputs_row(ui, &inputs.join(", ")),
        NoiseNode::Abs(input) => inputs_row(ui, input),
        NoiseNode::ScaleBias { input, scale, bias } => {
            inputs_row(ui, input);
            changed |= drag_f32(ui, "scale", scale, None);
            changed |= drag_f32(ui, "bias", bias, None);
        }
        NoiseNode::Clamp { input, min, max } => {
            inputs_row(ui, input);
            changed |= drag_f32(ui, "min", min, None);
            changed |= drag_f32(ui, "max", max, None);
        }
        NoiseNode::Curve { input, points } => {
            inputs_row(ui, input);
            for (i, (x, y)) in points.iter_mut().enumerate() {
                ui.label(format!("point {i}"));
                ui.horizontal(|ui| {
                    changed |= ui.add(drag_value_f32(x)).changed();
                    ui.label("→");
                    changed |= ui.add(drag_value_f32(y)).changed();
                });
                ui.end_row();
            }
        }
        NoiseNode::Terrace {
            input,
            steps,
            sharpness,
        } => {
            inputs_row(ui, input);
            for (i, step) in steps.iter_mut().enumerate() {
                changed |= drag_f32(ui, &format!("step {i}"), step, None);
            }
            changed |= drag_f32(ui, "sharpness", sharpness, Some(0.0..=1.0));
        }
        NoiseNode::DomainWarp {
            input,
            x_offset,
            z_offset,
            amplitude,
        } => {
            inputs_row(ui, &format!("{input} by ({x_offset}, {z_offset})"));
            changed |= drag_f64(ui, "amplitude", amplitude, 0.0..=10_000.0, " m");
        }
        NoiseNode::Blend {
            a,
            b,
            control,
            from,
            to,
        } => {
            inputs_row(ui, &format!("{a} → {b} by {control}"));
            changed |= drag_f32(ui, "from", from, None);
            changed |= drag_f32(ui, "to", to, None);
        }
    }
    changed
}

fn inputs_row(ui: &mut egui::Ui, inputs: &str) {
    ui.label("input");
    ui.label(egui::RichText::new(inputs).weak());
    ui.end_row();
}

/// Drag speed proportional to the value, so 0.002 and 300 are both comfortable to adjust.
fn relative_speed(value: f64) -> f64 {
    value.abs().max(0.01) * 0.005
}

fn drag_value_f32(value: &mut f32) -> egui::DragValue<'_> {
    let speed = relative_speed(f64::from(*value));
    egui::DragValue::new(value).speed(speed).max_decimals(4)
}

fn drag_f32(
    ui: &mut egui::Ui,
    label: &str,
    value: &mut f32,
    range: Option<std::ops::RangeInclusive<f32>>,
) -> bool {
    ui.label(label);
    let mut drag = drag_value_f32(value);
    if let Some(range) = range {
        drag = drag.range(range);
    }
    let changed = ui.add(drag).changed();
    ui.end_row();
    changed
}

fn drag_f64(
    ui: &mut egui::Ui,
    label: &str,
    value: &mut f64,
    range: std::ops::RangeInclusive<f64>,
    suffix: &str,
) -> bool {
    ui.label(label);
    let speed = relative_speed(*value);
    let changed = ui
        .add(
            egui::DragValue::new(value)
                .speed(speed)
                .range(range)
                .max_decimals(4)
                .suffix(suffix),
        )
        .changed();
    ui.end_row();
    changed
}

/// Frequencies are small (features per metre): more decimals, and never zero.
fn drag_frequency(ui: &mut egui::Ui, frequency: &mut f64) -> bool {
    ui.label("frequency");
    let speed = relative_speed(*frequency).min(*frequency * 0.01);
    let changed = ui
        .add(
            egui::DragValue::new(frequency)
                .speed(speed)
                .range(1e-6..=10.0)
                .max_decimals(6)
                .suffix(" /m"),
        )
        .changed();
    ui.end_row();
    changed
}

fn drag_u32(
    ui: &mut egui::Ui,
    label: &str,
    value: &mut u32,
    range: std::ops::RangeInclusive<u32>,
) -> bool {
    ui.label(label);
    let changed = ui
        .add(egui::DragValue::new(value).speed(0.1).range(range))
        .changed();
    ui.end_row();
    changed
}

fn pick_source(ui: &mut egui::Ui, source: &mut SourceKind) -> bool {
    pick(
        ui,
        "source",
        source,
        &[
            SourceKind::Perlin,
            SourceKind::OpenSimplex,
            SourceKind::Value,
            SourceKind::Worley,
        ],
    )
}

fn pick<T: Copy + PartialEq + std::fmt::Debug>(
    ui: &mut egui::Ui,
    label: &str,
    value: &mut T,
    choices: &[T],
) -> bool {
    ui.label(label);
    let before = *value;
    egui::ComboBox::from_id_salt(ui.next_auto_id())
        .selected_text(format!("{before:?}"))
        .show_ui(ui, |ui| {
            for &choice in choices {
                ui.selectable_value(value, choice, format!("{choice:?}"));
            }
        });
    ui.end_row();
    *value != before
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_seeds_fit_in_32_bits_and_differ_from_the_last() {
        for previous in [0, 1, 42, u64::from(u32::MAX)] {
            let seed = random_seed(previous);
            assert_ne!(seed, previous);
            assert!(seed <= u64::from(u32::MAX));
        }
    }

    #[test]
    fn every_node_kind_has_its_file_name() {
        let world =
            crate::config::parse_world(crate::config::DEFAULT_WORLD_RON, "default").unwrap();
        for (_, node) in world.terrain.nodes.iter() {
            let ron = ron::to_string(node).unwrap();
            assert!(ron.starts_with(kind_name(node)), "{ron}");
        }
    }
}
