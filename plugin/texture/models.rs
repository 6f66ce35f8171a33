//! Learned-texture models: each `.nca` file from loading to a grow request on the model worker,
//! and again whenever the file changes on disk (hot reload).
//!
//! A model that cannot be used logs one warning naming the file and the reason, and its
//! materials keep the procedural texture. An edit that breaks a working model logs one warning
//! and keeps the last good model; an edit that fixes a broken one brings the learned texture
//! back. While a reloaded model grows its texture, the previous learned texture stays on screen.

use std::collections::BTreeSet;
use std::sync::Arc;

use bevy::prelude::*;
use bevy::tasks::AsyncComputeTaskPool;

use super::systems::{LearnedTexture, TextureState, warn_once};
use super::{NcaModelKind, TextureSource, TextureStatus, material_from_albedo};
use crate::ai::surface::SurfaceParams;
use crate::ai::{AiJob, AiOutput, AiPriority, AiResponse, AiRuntime};
use crate::background::run_with_share;
use crate::kinds::{FileAsset, FileSlot, SlotChange};

/// Where one model file stands.
pub(super) type ModelSlot = FileSlot<NcaModelKind>;

/// Whether [`poll_models`] may have news: a model file is loading or (re)loaded, learned
/// textures are to be requested, or requested ones are on their way.
pub(super) fn models_may_have_news(
    state: Res<TextureState>,
    models: Res<Assets<FileAsset>>,
) -> bool {
    state.models_to_check
        || !state.requests.is_empty()
        || models.is_changed()
        || state.models.values().any(ModelSlot::loading)
}

/// Follows weight files from loading (and reloading) to a grow request, and collects grown
/// textures.
pub(super) fn poll_models(
    mut state: ResMut<TextureState>,
    mut status: ResMut<TextureStatus>,
    models: Res<Assets<FileAsset>>,
    runtime: Option<Res<AiRuntime>>,
    mut responses: MessageReader<AiResponse>,
) {
    let state = &mut *state;
    let mut fixed = Vec::new();
    for (path, slot) in state.models.iter_mut() {
        let Some(change) = slot.poll(&models) else {
            continue;
        };
        state.models_to_check = true;
        match change {
            SlotChange::Usable => {
                info!("aigc_world: texture model \"{path}\" loaded");
                fixed.push(path.clone());
            }
            SlotChange::Changed => {
                info!("aigc_world: texture model \"{path}\" changed; growing its texture again");
                fixed.push(path.clone());
                state.dirty = true;
            }
            SlotChange::Rejected(reason) => {
                warn_once(
                    &mut status,
                    format!(
                        "aigc_world: texture model \"{path}\" was edited and is now unusable: {reason}; keeping the last good model"
                    ),
                );
                state.dirty = true;
            }
            SlotChange::Unusable(reason) => warn_once(
                &mut status,
                format!(
                    "aigc_world: texture model \"{path}\" not used: {reason}; using the procedural texture"
                ),
            ),
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
    if state.models_to_check {
        // Looked at again next frame if the runtime is not there yet.
        state.models_to_check = !request_learned(state, &mut status, runtime.as_deref());
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
                    run_with_share(|| (key, Arc::new(material_from_albedo(rgba, size, &recipe))))
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

/// Asks the model worker for every learned texture a layer needs that is neither grown nor
/// asked for; false when there is no runtime to ask yet.
fn request_learned(
    state: &mut TextureState,
    status: &mut TextureStatus,
    runtime: Option<&AiRuntime>,
) -> bool {
    let set = state.set.clone();
    let used: BTreeSet<String> = state.layers.iter().cloned().collect();
    for material in &used {
        let Some(path) = set.materials.get(material).and_then(|r| r.model.as_ref()) else {
            continue;
        };
        let Some(slot) = state.models.get(path) else {
            continue;
        };
        if let Some(reason) = slot.failure() {
            status
                .materials
                .insert(material.clone(), TextureSource::Fallback(reason.to_owned()));
        }
        let Some(weights) = slot.value() else {
            continue;
        };
        let key = state.learned_key(material, weights);
        if state.learned.contains_key(&key) || state.requested.contains(&key) {
            continue;
        }
        let Some(runtime) = runtime else {
            return false;
        };
        state.requested.insert(key);
        let Some(recipe) = set.materials.get(material) else {
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
    true
}
