//! The texture plugin's systems: plan which materials each layer needs, generate them off the
//! frame thread, grow learned ones on the model worker, and stack the results into images.

use std::collections::{BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use bevy::asset::RenderAssetUsages;
use bevy::image::{ImageAddressMode, ImageFilterMode, ImageSampler, ImageSamplerDescriptor};
use bevy::prelude::*;
use bevy::tasks::{AsyncComputeTaskPool, Task, futures::check_ready};
use wgpu_types::{
    Extent3d, TextureDataOrder, TextureDimension, TextureFormat, TextureViewDescriptor,
    TextureViewDimension,
};

use super::gpu_layers::GpuLayerPatches;
use super::layers::{LayerArrays, compose};
use super::models::ModelSlot;
use super::{
    BiomeTextures, MaterialTexture, TextureSampling, TextureSetConfig, TextureSetKind,
    TextureSource, TextureStatus, generate_material,
};
use crate::ai::AiRuntime;
use crate::ai::backend::GpuSurface;
use crate::ai::nca::NcaWeights;
use crate::background::run_with_share;
use crate::config::{ActiveWorld, MAX_BIOMES};
use crate::kinds::{Active, FileStatus};

/// A grown learned texture.
#[derive(Clone)]
pub(super) enum LearnedTexture {
    /// Grown on the CPU: all maps in memory.
    Pixels(Arc<MaterialTexture>),
    /// Grown on the GPU: its maps stay there and are copied into the layer arrays.
    Gpu(Arc<GpuSurface>),
}

/// The layer arrays being stacked, and the GPU-resident layers to copy over them.
pub(super) struct Composing {
    task: Task<LayerArrays>,
    gpu_layers: Vec<(u32, Arc<GpuSurface>)>,
}

/// Everything the texture systems keep between frames.
#[derive(Resource)]
pub(super) struct TextureState {
    /// The active texture set (a copy of [`Active<TextureSetKind>`]'s).
    pub(super) set: Arc<TextureSetConfig>,
    /// Grows when the set changes or the texture file settles.
    pub(super) set_version: u64,
    /// Whether the texture file has loaded or failed (models wait for it, so the built-in
    /// set's models are not loaded, and warned about, for nothing).
    pub(super) settled: bool,
    pub(super) learned_enabled: bool,
    pub(super) planned: Option<(u64, u64)>,
    pub(super) layers: Vec<String>,
    pub(super) procedural: HashMap<u64, Arc<MaterialTexture>>,
    pub(super) learned: HashMap<u64, LearnedTexture>,
    pub(super) generating: Vec<Task<Vec<(u64, Arc<MaterialTexture>)>>>,
    pub(super) finishing: Vec<Task<(u64, Arc<MaterialTexture>)>>,
    pub(super) models: HashMap<String, ModelSlot>,
    pub(super) requests: HashMap<u64, (String, u64)>,
    pub(super) requested: BTreeSet<u64>,
    pub(super) composing: Option<Composing>,
    pub(super) dirty: bool,
    /// Whether the learned textures wanted may have changed (layers, set or a model did), so
    /// `poll_models` looks again; keys hash whole models, too much to do every frame.
    pub(super) models_to_check: bool,
}

impl TextureState {
    pub(super) fn new(set: TextureSetConfig, learned_enabled: bool) -> Self {
        Self {
            set: Arc::new(set),
            set_version: 1,
            settled: false,
            learned_enabled,
            planned: None,
            layers: Vec::new(),
            procedural: HashMap::new(),
            learned: HashMap::new(),
            generating: Vec::new(),
            finishing: Vec::new(),
            models: HashMap::new(),
            requests: HashMap::new(),
            requested: BTreeSet::new(),
            composing: None,
            dirty: false,
            models_to_check: true,
        }
    }

    pub(super) fn seed(&self, material: &str) -> u64 {
        super::material_seed(self.set.seed, material)
    }

    fn procedural_key(&self, material: &str) -> u64 {
        hash_of(&(
            format!("{:?}", self.set.materials.get(material)),
            self.set.size,
            self.seed(material),
        ))
    }

    pub(super) fn learned_key(&self, material: &str, weights: &NcaWeights) -> u64 {
        hash_of(&(weights.fingerprint(), self.procedural_key(material)))
    }
}

fn hash_of(value: &impl Hash) -> u64 {
    // FNV over the std hasher's input keeps keys stable across runs (no random state).
    struct Fnv(u64);
    impl Hasher for Fnv {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, bytes: &[u8]) {
            for &b in bytes {
                self.0 = (self.0 ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
    }
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    value.hash(&mut h);
    h.finish()
}

pub(super) fn warn_once(status: &mut TextureStatus, message: String) {
    warn!("{message}");
    status.warnings.push(message);
}

/// Follows the active texture set, and whether the texture file has settled (loaded or failed).
pub(super) fn follow_texture_set(
    active: Res<Active<TextureSetKind>>,
    file: Res<FileStatus<TextureSetKind>>,
    mut state: ResMut<TextureState>,
) {
    let settled = !file.pending;
    if active.is_changed() || settled != state.settled {
        state.set = active.get();
        state.settled = settled;
        state.set_version += 1;
    }
}

/// Whether [`plan_textures`] has a new world or texture set to plan for.
pub(super) fn layers_may_change(world: Option<Res<ActiveWorld>>, state: Res<TextureState>) -> bool {
    world.is_some_and(|w| state.planned != Some((w.version(), state.set_version)))
}

/// Works out each layer's material when the world or the texture file changes, and starts
/// whatever is missing.
pub(super) fn plan_textures(
    world: Option<Res<ActiveWorld>>,
    server: Res<AssetServer>,
    runtime: Option<Res<AiRuntime>>,
    mut state: ResMut<TextureState>,
    mut status: ResMut<TextureStatus>,
) {
    // Without the world config plugin there are no biomes to texture.
    let Some(world) = world else {
        return;
    };
    let version = (world.version(), state.set_version);
    if state.planned == Some(version) {
        return;
    }
    if state
        .planned
        .is_some_and(|(_, set)| set != state.set_version)
    {
        // An edited texture file retries models that could not be read at all (a missing file
        // may exist now); models that loaded follow their own file's edits.
        state.models.retain(|_, slot| !slot.unreadable());
    }
    state.planned = Some(version);
    let set = state.set.clone();
    let mut layers: Vec<String> = world
        .config()
        .biomes
        .table
        .iter()
        .map(|b| set.material_for_biome(&b.name).to_owned())
        .collect();
    layers.resize(MAX_BIOMES, set.fallback.clone());
    layers.truncate(MAX_BIOMES);
    let used: BTreeSet<String> = layers.iter().cloned().collect();
    status.layers = layers.clone();
    status.materials.retain(|m, _| used.contains(m));
    state.layers = layers;
    state.dirty = true;
    state.models_to_check = true;
    // One task makes every missing material in turn: a single pool thread, so terrain chunk
    // tasks keep the others.
    let mut jobs = Vec::new();
    for material in &used {
        status
            .materials
            .entry(material.clone())
            .or_insert(TextureSource::Pending);
        let key = state.procedural_key(material);
        if !state.procedural.contains_key(&key) {
            let recipe = set.materials[material].clone();
            jobs.push((key, recipe, state.seed(material)));
        }
        let model = set.materials[material].model.clone();
        let wanted = state.learned_enabled && state.settled && runtime.is_some();
        if let (Some(path), true) = (model, wanted)
            && !state.models.contains_key(&path)
        {
            let slot = ModelSlot::load(&server, &path);
            state.models.insert(path, slot);
        }
    }
    if !jobs.is_empty() {
        let size = set.size;
        state
            .generating
            .push(AsyncComputeTaskPool::get().spawn(async move {
                run_with_share(|| {
                    jobs.into_iter()
                        .map(|(key, recipe, seed)| {
                            (key, Arc::new(generate_material(&recipe, size, seed)))
                        })
                        .collect()
                })
            }));
    }
}

/// Whether textures are being made (procedural ones, or learned ones being finished).
pub(super) fn textures_on_the_way(state: Res<TextureState>) -> bool {
    !state.generating.is_empty() || !state.finishing.is_empty()
}

/// Collects finished procedural and learned textures into the caches.
pub(super) fn poll_textures(mut state: ResMut<TextureState>, mut status: ResMut<TextureStatus>) {
    let state = &mut *state;
    let mut changed = false;
    state.generating.retain_mut(|task| match check_ready(task) {
        Some(done) => {
            for (key, texture) in done {
                state.procedural.insert(key, texture);
                status.generated += 1;
            }
            changed = true;
            false
        }
        None => true,
    });
    state.finishing.retain_mut(|task| match check_ready(task) {
        Some((key, texture)) => {
            state.learned.insert(key, LearnedTexture::Pixels(texture));
            status.generated += 1;
            changed = true;
            false
        }
        None => true,
    });
    if changed {
        state.dirty = true;
    }
}

/// What a layer shows now.
struct LayerSource {
    /// The pixels stacked into the arrays.
    pixels: Arc<MaterialTexture>,
    /// Maps in GPU memory copied over that layer once the arrays are on the GPU.
    gpu: Option<Arc<GpuSurface>>,
    /// Whether it is the learned texture.
    learned: bool,
}

/// The texture a layer shows now: learned if grown (while a reloaded model grows, the last
/// model's), else procedural; `None` while neither is. A texture grown on the GPU stands on
/// the procedural pixels, which the GPU copy replaces.
fn current(state: &TextureState, material: &str) -> Option<LayerSource> {
    let learned = state
        .set
        .materials
        .get(material)
        .and_then(|r| r.model.as_ref())
        .and_then(|path| state.models.get(path))
        .and_then(|slot| {
            slot.values_newest_first()
                .find_map(|w| state.learned.get(&state.learned_key(material, w)))
        });
    let procedural = state
        .procedural
        .get(&state.procedural_key(material))
        .cloned();
    match (learned, procedural) {
        (Some(LearnedTexture::Pixels(t)), _) => Some(LayerSource {
            pixels: t.clone(),
            gpu: None,
            learned: true,
        }),
        (Some(LearnedTexture::Gpu(surface)), Some(pixels)) => Some(LayerSource {
            pixels,
            gpu: Some(surface.clone()),
            learned: true,
        }),
        (_, Some(pixels)) => Some(LayerSource {
            pixels,
            gpu: None,
            learned: false,
        }),
        (_, None) => None,
    }
}

/// Whether layers changed or their stacking is under way.
pub(super) fn layers_to_apply(state: Res<TextureState>) -> bool {
    state.dirty || state.composing.is_some()
}

/// Stacks the current layer textures (off the frame thread) and publishes the images.
pub(super) fn apply_layers(
    mut state: ResMut<TextureState>,
    mut status: ResMut<TextureStatus>,
    mut textures: ResMut<BiomeTextures>,
    mut images: ResMut<Assets<Image>>,
    mut gpu_layers: ResMut<GpuLayerPatches>,
    sampling: Option<Res<TextureSampling>>,
) {
    if let Some(composing) = state.composing.as_mut()
        && let Some(arrays) = check_ready(&mut composing.task)
    {
        let patches = std::mem::take(&mut composing.gpu_layers);
        state.composing = None;
        let anisotropy = sampling.map_or(TextureSampling::default().anisotropy, |s| s.anisotropy);
        let (albedo, normal) = publish(&mut images, arrays, anisotropy);
        *gpu_layers = GpuLayerPatches {
            albedo: Some(albedo.clone()),
            normal_roughness: Some(normal.clone()),
            layers: patches,
        };
        textures.albedo = Some(albedo);
        textures.normal_roughness = Some(normal);
        textures.metres_per_tile = state.set.metres_per_tile;
        textures.version += 1;
    }
    if !state.dirty || state.composing.is_some() {
        return;
    }
    let mut layers = Vec::with_capacity(state.layers.len());
    let mut gpu_layers = Vec::new();
    for (index, material) in state.layers.iter().enumerate() {
        let Some(LayerSource {
            pixels,
            gpu,
            learned,
        }) = current(&state, material)
        else {
            return;
        };
        if let Some(source) = status.materials.get_mut(material)
            && !matches!(source, TextureSource::Fallback(_))
        {
            *source = if learned {
                TextureSource::Learned
            } else {
                TextureSource::Procedural
            };
        }
        layers.push(pixels);
        if let Some(surface) = gpu {
            gpu_layers.push((index as u32, surface));
        }
    }
    state.dirty = false;
    state.composing = Some(Composing {
        task: AsyncComputeTaskPool::get().spawn(async move { run_with_share(|| compose(&layers)) }),
        gpu_layers,
    });
}

/// Adds the arrays as new images. Always new ones: Bevy re-uploads a changed image of the same
/// shape into its old texture with a single mip-0 copy, which misplaces the layers and mips of
/// an array with mips.
fn publish(
    images: &mut Assets<Image>,
    arrays: LayerArrays,
    anisotropy: u16,
) -> (Handle<Image>, Handle<Image>) {
    let make = |data: Vec<u8>, format| {
        let mut image = Image::new_uninit(
            Extent3d {
                width: arrays.size,
                height: arrays.size,
                depth_or_array_layers: arrays.layers,
            },
            TextureDimension::D2,
            format,
            RenderAssetUsages::default(),
        );
        image.data = Some(data);
        image.data_order = TextureDataOrder::LayerMajor;
        image.texture_descriptor.mip_level_count = arrays.mips;
        image.texture_view_descriptor = Some(TextureViewDescriptor {
            dimension: Some(TextureViewDimension::D2Array),
            ..default()
        });
        image.sampler = ImageSampler::Descriptor(ImageSamplerDescriptor {
            address_mode_u: ImageAddressMode::Repeat,
            address_mode_v: ImageAddressMode::Repeat,
            mag_filter: ImageFilterMode::Linear,
            min_filter: ImageFilterMode::Linear,
            mipmap_filter: ImageFilterMode::Linear,
            anisotropy_clamp: anisotropy.max(1),
            ..default()
        });
        image
    };
    let albedo_image = make(arrays.albedo.clone(), TextureFormat::Rgba8UnormSrgb);
    let normal_image = make(arrays.normal_roughness, TextureFormat::Rgba8Unorm);
    (images.add(albedo_image), images.add(normal_image))
}

/// Publishes whether texture work is still under way, for loading screens and screenshots.
pub(super) fn publish_busy(state: Res<TextureState>, mut status: ResMut<TextureStatus>) {
    let models_loading = state.models.values().any(ModelSlot::loading);
    let busy = !state.settled
        || state.planned.is_none()
        || state.dirty
        || models_loading
        || state.composing.is_some()
        || !state.generating.is_empty()
        || !state.finishing.is_empty()
        || !state.requests.is_empty();
    if status.busy != busy {
        status.busy = busy;
    }
}
