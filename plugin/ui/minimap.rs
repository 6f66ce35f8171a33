//! The Minimap: a shaded, biome-coloured image of the ground around the camera.
//!
//! The pixels are computed off the frame thread: [`MinimapSampler`] compiles the active world's
//! noise graph once per world version, and [`render_minimap`] evaluates it over a whole pixel
//! grid at once (the grid path of the noise graph, much faster than one
//! [`TerrainGenerator::sample`](crate::terrain::TerrainGenerator::sample) per pixel). A new image
//! is requested when the camera has moved an eighth of the map or the world changed, with at
//! most one task in flight. Loaded NPCs show as dots, named on hover.

use std::sync::Arc;

use bevy::prelude::*;
use bevy::tasks::{AsyncComputeTaskPool, Task, futures::check_ready};
use bevy_egui::{EguiContexts, egui};

use super::WorldUiSettings;
use crate::background::run_with_share;
use crate::config::{ActiveWorld, WorldConfig};
use crate::npc::Npc;
use crate::terrain::graph::{GraphError, NoiseGraph, Plan};
use crate::terrain::noise::{Coords, Grid};
use crate::terrain::{BiomeTable, WorldObserver};
use crate::water::lakes::{Lakes, surface_over};

/// The parts of a compiled world the minimap needs: the noise graph with its height and climate
/// plans, and the biome table. Cheap to share between tasks behind an [`Arc`].
#[derive(Clone, Debug)]
pub struct MinimapSampler {
    graph: NoiseGraph,
    height: Plan,
    climate: Plan,
    biomes: BiomeTable,
    /// The world's lakes, drawn as water, and the metres between its vertices.
    lakes: Option<Arc<Lakes>>,
    vertex_spacing: f64,
}

impl MinimapSampler {
    /// Compiles `config`'s terrain graph (the config should be valid, as [`ActiveWorld`]'s is).
    pub fn new(config: &WorldConfig) -> Result<Self, GraphError> {
        let graph = NoiseGraph::compile(&config.terrain, config.seed)?;
        let node = |name: &str| {
            graph.node(name).ok_or_else(|| GraphError::UnknownNode {
                node: "minimap".into(),
                reference: name.to_owned(),
            })
        };
        let height = graph.plan(&[node(&config.terrain.height)?]);
        let climate = graph.plan(&[
            node(&config.biomes.temperature)?,
            node(&config.biomes.moisture)?,
        ]);
        let vertex_spacing = config.chunk.size_m / f64::from(config.chunk.vertices.max(3) - 1);
        Ok(Self {
            graph,
            height,
            climate,
            biomes: BiomeTable::new(&config.biomes).with_sea_level(config.sea_level_m),
            lakes: config
                .lakes
                .as_ref()
                .map(|l| Arc::new(Lakes::new(l, vertex_spacing, config.sea_level_m))),
            vertex_spacing,
        })
    }
}

/// A finished minimap image and where on the ground it lies.
#[derive(Clone, Debug, PartialEq)]
pub struct MinimapImage {
    /// Pixels, row-major, RGBA8 in sRGB. Row 0 is the smallest z (north, Bevy's forward), column
    /// 0 the smallest x.
    pub rgba: Vec<u8>,
    /// Pixels per side.
    pub size_px: usize,
    /// World `(x, z)` of the corner of pixel `(0, 0)`.
    pub origin: Vec2,
    /// Metres per pixel.
    pub metres_per_px: f32,
    /// [`ActiveWorld::version`] the image was made from.
    pub version: u64,
}

impl MinimapImage {
    /// Where world position `(x, z)` falls in the image, in pixels from its top-left corner.
    pub fn pixel_of(&self, world_xz: Vec2) -> Vec2 {
        (world_xz - self.origin) / self.metres_per_px
    }
}

/// Renders a `size_px` x `size_px` image of the ground covering `extent_m` metres around
/// `centre` (world x, z): biome colours blended by weight, lit by a fixed low sun from the
/// north-west so relief reads at a glance.
///
/// Pixels are snapped to a world grid of `extent_m / size_px` metres, so the same area always
/// gives the same bits. Slope for biome weights comes from neighbouring pixels, as a coarse
/// level of detail would compute it.
pub fn render_minimap(
    sampler: &MinimapSampler,
    centre: Vec2,
    extent_m: f32,
    size_px: usize,
    version: u64,
) -> MinimapImage {
    let n = size_px.max(2);
    let spacing = f64::from(extent_m.max(1.0)) / n as f64;
    let half = (n / 2) as i64;
    let ix0 = (f64::from(centre.x) / spacing).floor() as i64 - half;
    let iz0 = (f64::from(centre.y) / spacing).floor() as i64 - half;
    // Heights with a one-pixel border, so every pixel has neighbours for its slope.
    let bordered = Grid {
        ix0: ix0 - 1,
        iz0: iz0 - 1,
        stride: 1,
        spacing,
        nx: n + 2,
        nz: n + 2,
    };
    let inner = Grid {
        ix0,
        iz0,
        nx: n,
        nz: n,
        ..bordered
    };
    let heights = sampler
        .graph
        .run(&sampler.height, &Coords::Grid(bordered))
        .pop()
        .unwrap_or_default();
    let mut climate = sampler.graph.run(&sampler.climate, &Coords::Grid(inner));
    let moisture = climate.pop().unwrap_or_default();
    let temperature = climate.pop().unwrap_or_default();
    let at = |i: usize, j: usize| heights.get(j * (n + 2) + i).copied().unwrap_or(0.0);
    let sun = Vec3::new(-1.0, 1.4, -1.0).normalize();
    let colors: Vec<Vec3> = (0..sampler.biomes.len())
        .map(|b| Vec3::from_array(sampler.biomes.color(b)))
        .collect();

    // Lakes over the map: the world vertex under each pixel, tested against each lake.
    let vertex = |px: i64| ((px as f64 * spacing) / sampler.vertex_spacing).floor() as i64;
    let lakes = sampler.lakes.as_ref().map_or_else(Vec::new, |lakes| {
        let (a, b) = (vertex(ix0), vertex(iz0));
        let (c, d) = (vertex(ix0 + n as i64), vertex(iz0 + n as i64));
        lakes.near((a, b, c, d), |g| {
            sampler
                .graph
                .run(&sampler.height, &Coords::Grid(g))
                .pop()
                .unwrap_or_default()
        })
    });
    let mut rgba = Vec::with_capacity(n * n * 4);
    for j in 0..n {
        for i in 0..n {
            let h = at(i + 1, j + 1);
            let dx = (at(i + 2, j + 1) - at(i, j + 1)) / (2.0 * spacing as f32);
            let dz = (at(i + 1, j + 2) - at(i + 1, j)) / (2.0 * spacing as f32);
            let slope = (dx * dx + dz * dz).sqrt();
            let k = j * n + i;
            let t = sampler
                .biomes
                .temperature_at(temperature.get(k).copied().unwrap_or(0.0), h);
            let m = moisture.get(k).copied().unwrap_or(0.0);
            let weights = sampler.biomes.weights(h, slope, t, m);
            let base = colors
                .iter()
                .zip(weights)
                .fold(Vec3::ZERO, |acc, (c, w)| acc + *c * w);
            let normal = Vec3::new(-dx, 1.0, -dz).normalize();
            // Ambient plus sun, so shadowed slopes keep their biome colour.
            let light = 0.45 + 0.75 * normal.dot(sun).max(0.0);
            let (vx, vz) = (vertex(ix0 + i as i64), vertex(iz0 + j as i64));
            let lake = surface_over(&lakes, f32::NEG_INFINITY, vx, vz) - h;
            let c = if lake > 0.0 {
                // Still water: shallows lighter, flat (no relief shading).
                LAKE_SHALLOW.lerp(LAKE_DEEP, (lake / 8.0).min(1.0))
            } else {
                base * light
            };
            rgba.extend_from_slice(&[srgb_u8(c.x), srgb_u8(c.y), srgb_u8(c.z), 255]);
        }
    }
    MinimapImage {
        rgba,
        size_px: n,
        origin: Vec2::new(ix0 as f32, iz0 as f32) * spacing as f32,
        metres_per_px: spacing as f32,
        version,
    }
}

/// Linear colours of a lake's shallows and of its water 8 m deep.
const LAKE_SHALLOW: Vec3 = Vec3::new(0.08, 0.32, 0.42);
const LAKE_DEEP: Vec3 = Vec3::new(0.02, 0.10, 0.26);

/// Linear colour channel to an 8-bit sRGB value (biome colours in world files are linear).
fn srgb_u8(linear: f32) -> u8 {
    let x = linear.clamp(0.0, 1.0);
    let s = if x <= 0.003_130_8 {
        x * 12.92
    } else {
        1.055 * x.powf(1.0 / 2.4) - 0.055
    };
    (s * 255.0).round() as u8
}

/// The minimap's background work and latest image.
#[derive(Resource, Default)]
pub struct MinimapState {
    sampler: Option<(u64, Arc<MinimapSampler>)>,
    task: Option<Task<MinimapImage>>,
    /// Centre and world version of the newest request (finished or not).
    requested: Option<(Vec2, u64)>,
    latest: Option<MinimapImage>,
    /// Whether `latest` has not been handed to egui yet.
    upload: bool,
}

impl MinimapState {
    /// The newest finished image, if any.
    pub fn image(&self) -> Option<&MinimapImage> {
        self.latest.as_ref()
    }

    /// Whether an image is being computed.
    pub fn busy(&self) -> bool {
        self.task.is_some()
    }
}

/// Collects a finished image, and starts a new one when the camera moved an eighth of the map
/// or the world changed.
pub(crate) fn update_minimap(
    settings: Res<WorldUiSettings>,
    world: Res<ActiveWorld>,
    cameras: Query<&GlobalTransform, With<WorldObserver>>,
    mut state: ResMut<MinimapState>,
) {
    if let Some(task) = state.task.as_mut()
        && let Some(image) = check_ready(task)
    {
        state.task = None;
        state.latest = Some(image);
        state.upload = true;
    }
    // Hidden panels need no map; catch up when they show again.
    if !settings.visible || !settings.show_minimap || state.task.is_some() {
        return;
    }
    let Some(eye) = cameras.iter().next() else {
        return;
    };
    let centre = eye.translation().xz();
    let version = world.version();
    let extent = settings.minimap_extent_m.max(1.0);
    let stale = state
        .requested
        .is_none_or(|(c, v)| v != version || c.distance(centre) > extent / 8.0);
    if !stale {
        return;
    }
    if state.sampler.as_ref().is_none_or(|(v, _)| *v != version) {
        match MinimapSampler::new(world.config()) {
            Ok(sampler) => state.sampler = Some((version, Arc::new(sampler))),
            Err(e) => {
                // Remember the request so the warning is not repeated every frame.
                state.requested = Some((centre, version));
                warn!("aigc_world: the minimap cannot use this world: {e}");
                return;
            }
        }
    }
    let Some((_, sampler)) = state.sampler.clone() else {
        return;
    };
    let size = settings.minimap_size_px.clamp(16, 1024) as usize;
    state.requested = Some((centre, version));
    state.task = Some(AsyncComputeTaskPool::get().spawn(async move {
        run_with_share(|| render_minimap(&sampler, centre, extent, size, version))
    }));
}

/// Draws the Minimap window with the camera's position and heading, and the loaded NPCs (their
/// names on hover).
pub(crate) fn draw_minimap(
    mut contexts: EguiContexts,
    settings: Res<WorldUiSettings>,
    mut state: ResMut<MinimapState>,
    cameras: Query<&GlobalTransform, With<WorldObserver>>,
    npcs: Query<(&GlobalTransform, &Npc)>,
    mut texture: Local<Option<egui::TextureHandle>>,
) -> Result {
    if !settings.visible || !settings.show_minimap {
        return Ok(());
    }
    let ctx = contexts.ctx_mut()?;
    if state.upload
        && let Some(image) = &state.latest
    {
        let pixels =
            egui::ColorImage::from_rgba_unmultiplied([image.size_px, image.size_px], &image.rgba);
        match texture.as_mut() {
            Some(handle) => handle.set(pixels, egui::TextureOptions::LINEAR),
            None => {
                *texture = Some(ctx.load_texture(
                    "aigc_world_minimap",
                    pixels,
                    egui::TextureOptions::LINEAR,
                ));
            }
        }
        state.upload = false;
    }
    let eye = cameras.iter().next();
    egui::Window::new("Minimap")
        .id(egui::Id::new("aigc_world_minimap"))
        .anchor(egui::Align2::RIGHT_BOTTOM, egui::vec2(-8.0, -8.0))
        .resizable(false)
        .show(ctx, |ui| {
            let side = settings.minimap_display_px.max(64.0);
            let (rect, _) = ui.allocate_exact_size(egui::vec2(side, side), egui::Sense::hover());
            let (Some(handle), Some(image)) = (texture.as_ref(), state.latest.as_ref()) else {
                ui.put(rect, egui::Spinner::new());
                return;
            };
            let painter = ui.painter_at(rect);
            let uv = egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0));
            painter.image(handle.id(), rect, uv, egui::Color32::WHITE);
            let scale = side / image.size_px as f32;
            let pointer = ui.ctx().pointer_hover_pos().filter(|p| rect.contains(*p));
            let mut hovered: Option<(f32, &str)> = None;
            for (transform, npc) in &npcs {
                let p = image.pixel_of(transform.translation().xz()) * scale;
                let at = rect.min + egui::vec2(p.x, p.y);
                if !rect.contains(at) {
                    continue;
                }
                painter.circle(
                    at,
                    2.5,
                    egui::Color32::from_rgb(255, 214, 64),
                    egui::Stroke::new(1.0, egui::Color32::BLACK),
                );
                if let Some(pointer) = pointer {
                    let distance = pointer.distance(at);
                    if distance < 8.0 && hovered.is_none_or(|(d, _)| distance < d) {
                        hovered = Some((distance, npc.persona.name.as_str()));
                    }
                }
            }
            if let (Some((_, name)), Some(pointer)) = (hovered, pointer) {
                painter.text(
                    pointer + egui::vec2(8.0, -8.0),
                    egui::Align2::LEFT_BOTTOM,
                    name,
                    egui::FontId::proportional(13.0),
                    egui::Color32::WHITE,
                );
            }
            if let Some(eye) = eye {
                let p = image.pixel_of(eye.translation().xz()) * scale;
                let at = rect.min + egui::vec2(p.x, p.y);
                let f = eye.forward().xz().normalize_or_zero();
                let tip = at + egui::vec2(f.x, f.y) * 12.0;
                let stroke = egui::Stroke::new(2.0, egui::Color32::BLACK);
                painter.line_segment([at, tip], egui::Stroke::new(4.0, egui::Color32::BLACK));
                painter.line_segment([at, tip], egui::Stroke::new(2.0, egui::Color32::WHITE));
                painter.circle(at, 4.0, egui::Color32::from_rgb(255, 80, 60), stroke);
            }
            ui.label(
                egui::RichText::new(format!(
                    "{:.1} km across, north up{}",
                    image.size_px as f32 * image.metres_per_px / 1000.0,
                    if state.busy() { " (updating)" } else { "" }
                ))
                .small()
                .weak(),
            );
        });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DEFAULT_WORLD_RON, parse_world};

    fn sampler() -> MinimapSampler {
        let world = parse_world(DEFAULT_WORLD_RON, "default.world.ron").unwrap();
        MinimapSampler::new(&world).unwrap()
    }

    #[test]
    fn lakes_show_as_water() {
        // The lake nearest the origin of the default world lies around (-20, 192).
        let (centre, extent) = (Vec2::new(-20.0, 192.0), 600.0);
        let with = render_minimap(&sampler(), centre, extent, 64, 1);
        let mut dry = parse_world(DEFAULT_WORLD_RON, "default.world.ron").unwrap();
        dry.lakes = None;
        let without = render_minimap(&MinimapSampler::new(&dry).unwrap(), centre, extent, 64, 1);
        let changed: Vec<&[u8]> = with
            .rgba
            .chunks(4)
            .zip(without.rgba.chunks(4))
            .filter(|(a, b)| a != b)
            .map(|(a, _)| a)
            .collect();
        assert!(changed.len() > 40, "{} lake pixels", changed.len());
        assert!(
            changed.iter().all(|p| p[2] > p[0] + 40),
            "lake pixels are blue"
        );
    }

    #[test]
    fn minimap_images_are_deterministic_full_size_and_not_uniform() {
        let sampler = sampler();
        let a = render_minimap(&sampler, Vec2::new(120.0, -40.0), 2000.0, 64, 1);
        let b = render_minimap(&sampler, Vec2::new(120.0, -40.0), 2000.0, 64, 1);
        assert_eq!(a, b);
        assert_eq!(a.rgba.len(), 64 * 64 * 4);
        assert!(a.rgba.chunks(4).all(|p| p[3] == 255));
        let first = &a.rgba[..4];
        let differing = a.rgba.chunks(4).filter(|p| *p != first).count();
        assert!(differing > 64 * 64 / 4, "only {differing} pixels differ");
    }

    #[test]
    fn the_centre_maps_to_the_middle_of_the_image() {
        let image = render_minimap(&sampler(), Vec2::new(500.0, 300.0), 1000.0, 32, 1);
        let p = image.pixel_of(Vec2::new(500.0, 300.0));
        assert!((p - Vec2::splat(16.0)).length() < 1.5, "{p}");
        assert_eq!(image.metres_per_px, 1000.0 / 32.0);
    }

    #[test]
    fn srgb_conversion_matches_reference_points() {
        assert_eq!(srgb_u8(0.0), 0);
        assert_eq!(srgb_u8(1.0), 255);
        assert_eq!(srgb_u8(0.2158), 128);
        assert_eq!(srgb_u8(2.0), 255);
    }
}
