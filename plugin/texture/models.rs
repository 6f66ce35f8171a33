//! Learned-texture models: each `.nca` file from loading to a grow request on the model worker,
//! and again whenever the file changes on disk (hot reload).
//!
//! A model that cannot be used logs one warning naming the file and the reason, and its
//! materials keep the procedural texture. An edit that breaks a working model logs one warning
//! and keeps the last good model; an edit that fixes a broken one brings the learned texture
//! back. While a reloaded model grows its texture, the previous learned texture stays on screen.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use bevy::asset::{AssetLoadError, UntypedHandle};
use bevy::prelude::*;
use bevy::tasks::{AsyncComputeTaskPool, IoTaskPool, Task, futures::check_ready};

use super::systems::{LearnedTexture, TextureState, warn_once};
use super::{NcaModelAsset, TextureSource, TextureStatus, material_from_albedo};
use crate::ai::nca::NcaWeights;
use crate::ai::surface::SurfaceParams;
use crate::ai::{AiJob, AiOutput, AiPriority, AiResponse, AiRuntime};

/// Where one model file stands.
pub(super) enum ModelSlot {
    /// The file is being read.
    Loading(Task<Result<UntypedHandle, AssetLoadError>>),
    /// Read; waiting for the asset to appear.
    Waiting(Handle<NcaModelAsset>),
    /// Usable weights. `previous` are the weights before the last reload, whose texture is
    /// shown until the new one has grown.
    Ready {
        handle: Handle<NcaModelAsset>,
        weights: Arc<NcaWeights>,
        previous: Option<Arc<NcaWeights>>,
    },
    /// Not usable, for `reason`. With a handle the file was read (its content is wrong) and
    /// an edit can still fix it; without one it could not be read at all.
    Failed {
        handle: Option<Handle<NcaModelAsset>>,
        reason: String,
    },
}

impl ModelSlot {
    /// Starts reading the model at `path` (an asset path).
    pub(super) fn load(server: &AssetServer, path: &str) -> Self {
        let server = server.clone();
        let path = path.to_owned();
        Self::Loading(
            IoTaskPool::get()
                .spawn(async move { server.load_builder().load_untyped_async(path).await }),
        )
    }

    /// Whether the file is still being read.
    pub(super) fn loading(&self) -> bool {
        matches!(self, Self::Loading(_) | Self::Waiting(_))
    }

    /// Whether the file could not be read at all (so only a retry can help).
    pub(super) fn unreadable(&self) -> bool {
        matches!(self, Self::Failed { handle: None, .. })
    }

    /// The usable weights, newest first: the current ones, then those before a reload.
    pub(super) fn weights_newest_first(&self) -> impl Iterator<Item = &Arc<NcaWeights>> {
        let (weights, previous) = match self {
            Self::Ready {
                weights, previous, ..
            } => (Some(weights), previous.as_ref()),
            _ => (None, None),
        };
        weights.into_iter().chain(previous)
    }

    fn handle(&self) -> Option<&Handle<NcaModelAsset>> {
        match self {
            Self::Waiting(handle) | Self::Ready { handle, .. } => Some(handle),
            Self::Failed { handle, .. } => handle.as_ref(),
            Self::Loading(_) => None,
        }
    }
}

/// Follows weight files from loading (and reloading) to a grow request, and collects grown
/// textures.
pub(super) fn poll_models(
    mut state: ResMut<TextureState>,
    mut status: ResMut<TextureStatus>,
    models: Res<Assets<NcaModelAsset>>,
    mut model_events: MessageReader<AssetEvent<NcaModelAsset>>,
    runtime: Option<Res<AiRuntime>>,
    mut responses: MessageReader<AiResponse>,
) {
    let state = &mut *state;
    let modified: HashSet<AssetId<NcaModelAsset>> = model_events
        .read()
        .filter_map(|event| match event {
            AssetEvent::Modified { id } => Some(*id),
            _ => None,
        })
        .collect();
    let mut fixed = Vec::new();
    for (path, slot) in state.models.iter_mut() {
        if slot.handle().is_some_and(|h| modified.contains(&h.id())) {
            if let Some(message) = reload(path, slot, &models) {
                warn_once(&mut status, message);
            }
            if matches!(slot, ModelSlot::Ready { .. }) {
                fixed.push(path.clone());
            }
            state.dirty = true;
        }
        let failure = match slot {
            ModelSlot::Loading(task) => match check_ready(task) {
                Some(Ok(handle)) => match handle.try_typed::<NcaModelAsset>() {
                    Ok(handle) => {
                        *slot = ModelSlot::Waiting(handle);
                        None
                    }
                    Err(e) => Some((None, e.to_string())),
                },
                Some(Err(e)) => Some((None, e.to_string())),
                None => None,
            },
            ModelSlot::Waiting(handle) => match models.get(handle.id()).map(|a| &a.result) {
                Some(Ok(weights)) => {
                    *slot = ModelSlot::Ready {
                        handle: handle.clone(),
                        weights: weights.clone(),
                        previous: None,
                    };
                    None
                }
                Some(Err(e)) => Some((Some(handle.clone()), e.to_string())),
                None => None,
            },
            ModelSlot::Ready { .. } | ModelSlot::Failed { .. } => None,
        };
        if let Some((handle, reason)) = failure {
            warn_once(
                &mut status,
                format!(
                    "aigc_world: texture model \"{path}\" not used: {reason}; using the procedural texture"
                ),
            );
            *slot = ModelSlot::Failed { handle, reason };
        }
    }
    let set = state.set.clone();
    // Materials whose model works again show the procedural texture until the learned one
    // grows; `apply_layers` then reports which one is on screen.
    for (material, recipe) in &set.materials {
        if recipe.model.as_ref().is_some_and(|p| fixed.contains(p))
            && let Some(source) = status.materials.get_mut(material)
            && matches!(source, TextureSource::Fallback(_))
        {
            *source = TextureSource::Procedural;
        }
    }
    let used: BTreeSet<String> = state.layers.iter().cloned().collect();
    for material in &used {
        let Some(path) = set.materials.get(material).and_then(|r| r.model.as_ref()) else {
            continue;
        };
        match state.models.get(path) {
            Some(ModelSlot::Failed { reason, .. }) => {
                status
                    .materials
                    .insert(material.clone(), TextureSource::Fallback(reason.clone()));
            }
            Some(ModelSlot::Ready { weights, .. }) => {
                let key = state.learned_key(material, weights);
                if state.learned.contains_key(&key) || !state.requested.insert(key) {
                    continue;
                }
                let (Some(runtime), Some(recipe)) = (runtime.as_ref(), set.materials.get(material))
                else {
                    continue;
                };
                let ticket = runtime.submit(
                    AiPriority::Normal,
                    AiJob::GrowSurface {
                        weights: weights.clone(),
                        size: set.size,
                        seed: state.seed(material),
                        steps: None,
                        surface: SurfaceParams {
                            bump: recipe.bump,
                            roughness: recipe.roughness,
                        },
                        mips: super::layers::mip_count(set.size),
                    },
                );
                state.requests.insert(ticket.id, (material.clone(), key));
            }
            _ => {}
        }
    }
    let pool = AsyncComputeTaskPool::get();
    for AiResponse(result) in responses.read() {
        let Some((material, key)) = state.requests.remove(&result.id) else {
            continue;
        };
        match &result.output {
            Ok(AiOutput::Texture { size, rgba }) => {
                let Some(recipe) = set.materials.get(&material).cloned() else {
                    continue;
                };
                let (size, rgba) = (*size, rgba.clone());
                state.finishing.push(pool.spawn(async move {
                    (key, Arc::new(material_from_albedo(rgba, size, &recipe)))
                }));
            }
            Ok(AiOutput::GpuSurface(surface)) => {
                state
                    .learned
                    .insert(key, LearnedTexture::Gpu(surface.clone()));
                status.generated += 1;
                state.dirty = true;
            }
            Ok(other) => {
                let reason = format!("the model worker answered {other:?}");
                status
                    .materials
                    .insert(material.clone(), TextureSource::Fallback(reason));
            }
            Err(e) => {
                warn_once(
                    &mut status,
                    format!(
                        "aigc_world: learned texture \"{material}\" failed: {e}; using the procedural texture"
                    ),
                );
                status
                    .materials
                    .insert(material.clone(), TextureSource::Fallback(e.to_string()));
            }
        }
    }
}

/// Applies an edit of the model file at `path`; returns the warning to log, if any.
fn reload(path: &str, slot: &mut ModelSlot, models: &Assets<NcaModelAsset>) -> Option<String> {
    let handle = slot.handle()?.clone();
    let result = &models.get(handle.id())?.result;
    match (&*slot, result) {
        (ModelSlot::Ready { weights, .. }, Ok(new)) if **weights == **new => None,
        (ModelSlot::Ready { weights, .. }, Ok(new)) => {
            info!("aigc_world: texture model \"{path}\" changed; growing its texture again");
            *slot = ModelSlot::Ready {
                handle,
                previous: Some(weights.clone()),
                weights: new.clone(),
            };
            None
        }
        (ModelSlot::Ready { .. }, Err(e)) => Some(format!(
            "aigc_world: texture model \"{path}\" was edited and is now unusable: {e}; keeping the last good model"
        )),
        (_, Ok(new)) => {
            info!("aigc_world: texture model \"{path}\" is usable now");
            *slot = ModelSlot::Ready {
                handle,
                weights: new.clone(),
                previous: None,
            };
            None
        }
        (_, Err(e)) => {
            let reason = e.to_string();
            *slot = ModelSlot::Failed {
                handle: Some(handle),
                reason: reason.clone(),
            };
            Some(format!(
                "aigc_world: texture model \"{path}\" not used: {reason}; using the procedural texture"
            ))
        }
    }
}
