//! The world file's learned erosion in the ECS: follows the `.erosion` model the world names and
//! rebuilds the [`TerrainSampler`] when the world, the model or its strength changes.
//!
//! While the model is still loading, the sampler is left as it is, so a chunk of the plain noise
//! never replaces an eroded one. A missing or broken model logs one warning (per file state) and
//! the ground is the plain noise; a fix brings the erosion back.

use std::sync::Arc;

use bevy::prelude::*;

use super::{TerrainGenerator, TerrainSampler};
use crate::config::ActiveWorld;
use crate::erosion::{ErosionModelKind, ErosionNet, ErosionWeights};
use crate::kinds::{FileAsset, FileSlot, SlotChange};

/// Where the world file's learned erosion stands.
#[derive(Resource, Clone, Debug, Default, PartialEq)]
pub struct ErosionStatus {
    /// Asset path of the model the world names, when erosion is on.
    pub model: Option<String>,
    /// Whether the [`TerrainSampler`]'s ground is eroded.
    pub active: bool,
    /// Why the model cannot be used (the ground is then the plain noise).
    pub failure: Option<String>,
    /// Warnings logged about models so far.
    pub warnings: u32,
}

/// The model file followed.
#[derive(Resource, Default)]
pub(super) struct ErosionFollow {
    path: Option<String>,
    slot: Option<FileSlot<ErosionModelKind>>,
}

/// What a sampler was built from, to know when to rebuild it.
#[derive(Clone, Debug, Default)]
pub(super) struct SamplerKey {
    /// [`ActiveWorld::version`].
    pub world: u64,
    /// The model and the strength's bits, when eroded.
    pub erosion: Option<(Arc<ErosionWeights>, u32)>,
}

impl SamplerKey {
    fn same(&self, other: &SamplerKey) -> bool {
        self.world == other.world
            && match (&self.erosion, &other.erosion) {
                (None, None) => true,
                (Some((a, s)), Some((b, t))) => Arc::ptr_eq(a, b) && s == t,
                _ => false,
            }
    }
}

/// Whether [`sync_sampler`] may have something to do: the world changed, there is no sampler
/// yet, or the erosion model is loading or a model file (re)loaded.
pub(super) fn sampler_may_be_stale(
    world: Res<ActiveWorld>,
    sampler: Option<Res<TerrainSampler>>,
    follow: Res<ErosionFollow>,
    models: Option<Res<Assets<FileAsset>>>,
) -> bool {
    world.is_changed()
        || sampler.is_none()
        || follow
            .slot
            .as_ref()
            .is_some_and(|slot| slot.loading() || models.is_some_and(|models| models.is_changed()))
}

/// Rebuilds the [`TerrainSampler`] when the active world or its erosion model changes.
pub(super) fn sync_sampler(
    mut commands: Commands,
    world: Res<ActiveWorld>,
    sampler: Option<Res<TerrainSampler>>,
    server: Option<Res<AssetServer>>,
    models: Option<Res<Assets<FileAsset>>>,
    mut follow: ResMut<ErosionFollow>,
    mut status: ResMut<ErosionStatus>,
) -> Result {
    let wanted = world.config().erosion.clone().filter(|e| e.strength != 0.0);
    let path = wanted.as_ref().map(|e| e.model.clone());
    if follow.path != path {
        follow.slot = match (&path, &server) {
            (Some(p), Some(server)) => Some(FileSlot::load(server, p)),
            _ => None,
        };
        follow.path = path.clone();
        status.model = path;
        status.failure = None;
    }
    if let (Some(slot), Some(models)) = (follow.slot.as_mut(), models.as_ref()) {
        match slot.poll(models) {
            Some(SlotChange::Rejected(reason) | SlotChange::Unusable(reason)) => {
                warn!(
                    "aigc_world: erosion model {reason}; {}",
                    if slot.value().is_some() {
                        "keeping the last good model"
                    } else {
                        "the terrain stays plain noise"
                    }
                );
                status.warnings += 1;
                status.failure = Some(reason);
            }
            Some(SlotChange::Usable | SlotChange::Changed) => status.failure = None,
            None => {}
        }
    }
    let erosion = match (&wanted, &follow.slot) {
        (Some(e), Some(slot)) => match slot.value() {
            Some(weights) => Some((weights.clone(), e.strength.to_bits())),
            // Still loading: keep what is shown rather than show chunks that will change.
            None if slot.loading() && sampler.is_some() => return Ok(()),
            None => None,
        },
        _ => None,
    };
    let key = SamplerKey {
        world: world.version(),
        erosion,
    };
    if sampler.as_ref().is_some_and(|s| s.key.same(&key)) {
        return Ok(());
    }
    let mut generator = TerrainGenerator::new(world.config())
        .map_err(|e| BevyError::from(e).with_severity(bevy::ecs::error::Severity::Warning))?;
    if let Some((weights, strength)) = &key.erosion {
        let net = Arc::new(ErosionNet::new(ErosionWeights::clone(weights)));
        generator = generator.with_erosion(net, f32::from_bits(*strength));
    }
    status.active = generator.erosion().is_some();
    let version = sampler
        .as_ref()
        .map_or(world.version(), |s| s.version() + 1)
        .max(world.version());
    commands.insert_resource(TerrainSampler {
        generator: Arc::new(generator),
        version,
        key,
    });
    Ok(())
}
