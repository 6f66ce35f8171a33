//! Spawning placed objects: finished placements are spawned as children of their chunk within
//! the per-frame apply budget and [`ScatterSettings`], a big chunk over several frames, and
//! leaving objects are despawned a few hundred a frame. Objects of the kinds drawn per chunk
//! come as one mesh per layer, built on the placement task; each such mesh is one spawn.

use std::collections::VecDeque;
use std::sync::Arc;

use bevy::platform::time::Instant;
use bevy::prelude::*;
use bevy::tasks::futures::check_ready;

use super::place::{far_bit, full_bit, layers_of};
use super::spawn::{CompiledScatter, Placed, ScatterIndex, ScatterPlaced, ScatterTask};
use super::{LayerMask, Placement, ScatterObject, ScatterStats};
use crate::config::ActiveWorld;
use crate::terrain::catch_up_factor;

/// How much scatter work the frame thread does per frame, for games that want less (a slow
/// laptop) or more (a loading screen). Both limits are for a 60 fps frame and grow on slower
/// frames (see [`catch_up_factor`]), so a slow renderer still fills its world.
#[derive(Resource, Reflect, Clone, Debug, PartialEq)]
#[reflect(Resource)]
pub struct ScatterSettings {
    /// Objects spawned per frame, at least one. Spawns are applied after the systems run, so the
    /// world's apply time budget alone would not see them; a chunk with more objects is
    /// finished over the next frames.
    pub max_spawns_per_frame: usize,
    /// Objects despawned per frame: a layer leaving a chunk, or a chunk re-placed after an
    /// edit, hands its objects to a queue instead of dropping hundreds in one frame.
    pub max_despawns_per_frame: usize,
}

impl Default for ScatterSettings {
    fn default() -> Self {
        Self {
            max_spawns_per_frame: 250,
            max_despawns_per_frame: 250,
        }
    }
}

/// Objects on their way out, despawned a few hundred a frame (oldest first).
#[derive(Resource, Default, Debug)]
pub(crate) struct ScatterDespawns(VecDeque<Entity>);

/// A finished placement waiting for the apply budget. A chunk with more objects than a frame
/// may spawn is spawned over several frames, from where the last one stopped.
#[derive(Component)]
pub(crate) struct ScatterReady {
    placed: Option<Placed>,
    /// Set once the chunk's leaving objects were handed over: what is being spawned.
    progress: Option<Progress>,
}

/// How far a chunk's spawning got.
#[derive(Clone, Copy)]
struct Progress {
    /// Layers whose objects stay from before (not spawned again).
    keep: LayerMask,
    /// Index in the placements of the next one to look at.
    next: usize,
}

/// Hands a chunk's scatter children, except those of the layers in `keep`, to
/// [`ScatterDespawns`]: they are past their view distance already. With `now`, they go at once
/// (a chunk re-placed after an edit: its new objects must not stand beside the old ones).
pub(super) fn clear_objects(
    keep: LayerMask,
    now: bool,
) -> impl FnOnce(EntityWorldMut) + Send + 'static {
    move |entity: EntityWorldMut| {
        let id = entity.id();
        let world = entity.into_world_mut();
        let children: Vec<Entity> = world
            .get::<Children>(id)
            .map(|c| c.iter().collect())
            .unwrap_or_default();
        let leaving: Vec<Entity> = children
            .into_iter()
            .filter(|&child| {
                world
                    .get::<ScatterObject>(child)
                    .is_some_and(|o| keep & o.mask_bit() == 0)
            })
            .collect();
        if leaving.is_empty() {
            return;
        }
        if now {
            for child in leaving {
                world.despawn(child);
            }
            return;
        }
        if let Some(mut queue) = world.get_resource_mut::<ScatterDespawns>() {
            queue.0.extend(leaving);
        }
    }
}

/// Whether objects wait to be despawned.
pub(crate) fn despawns_queued(queue: Res<ScatterDespawns>) -> bool {
    !queue.0.is_empty()
}

/// Despawns objects handed to [`ScatterDespawns`], at most
/// [`ScatterSettings::max_despawns_per_frame`] a frame at 60 fps.
pub(crate) fn despawn_scatter(
    mut commands: Commands,
    time: Res<Time<Real>>,
    settings: Res<ScatterSettings>,
    mut queue: ResMut<ScatterDespawns>,
) {
    if queue.0.is_empty() {
        return;
    }
    let per_frame = settings.max_despawns_per_frame.max(1) as f64;
    let n = (per_frame * catch_up_factor(time.delta_secs_f64() * 1000.0)) as usize;
    let n = n.min(queue.0.len());
    for e in queue.0.drain(..n) {
        // The chunk may have taken it along already.
        commands.entity(e).try_despawn();
    }
}

/// Moves finished placements into [`ScatterReady`].
pub(crate) fn poll_scatter(
    mut commands: Commands,
    mut tasks: Query<(Entity, &mut ScatterTask)>,
    mut stats: ResMut<ScatterStats>,
) {
    for (e, mut task) in &mut tasks {
        if let Some(done) = check_ready(&mut task.task) {
            let n = stats.placed_total as f64;
            stats.mean_place_ms = (stats.mean_place_ms * n + done.ms) / (n + 1.0);
            stats.max_place_ms = stats.max_place_ms.max(done.ms);
            stats.placed_total += 1;
            stats.in_flight = stats.in_flight.saturating_sub(1);
            commands
                .entity(e)
                .remove::<ScatterTask>()
                .insert(ScatterReady {
                    placed: Some(done),
                    progress: None,
                });
        }
    }
}

/// Spawns ready placements as children of their chunk within the world's per-frame apply
/// budget and [`ScatterSettings::max_spawns_per_frame`] objects (at least one): a chunk with
/// more is continued next frame, so no frame pays for a whole forest.
pub(crate) fn apply_scatter(
    mut commands: Commands,
    time: Res<Time<Real>>,
    world: Option<Res<ActiveWorld>>,
    compiled: Option<Res<CompiledScatter>>,
    settings: Res<ScatterSettings>,
    mut ready: Query<(
        Entity,
        &mut ScatterReady,
        &Transform,
        Option<&ScatterPlaced>,
    )>,
    #[cfg(feature = "render")] mut visuals: super::visuals::VisualParams,
    mut index: ResMut<ScatterIndex>,
    mut stats: ResMut<ScatterStats>,
) {
    let start = Instant::now();
    let (Some(world), Some(compiled)) = (world, compiled) else {
        return;
    };
    let catch_up = catch_up_factor(time.delta_secs_f64() * 1000.0);
    let budget = world.config().streaming.apply_budget_ms * catch_up;
    let max_spawns = ((settings.max_spawns_per_frame as f64 * catch_up) as usize).max(1);
    let mut spawned = 0;
    let layers = &compiled.world.set.layers;
    for (e, mut ready, chunk_transform, placed) in &mut ready {
        if spawned >= max_spawns
            || (spawned > 0 && start.elapsed().as_secs_f64() * 1000.0 >= budget)
        {
            break;
        }
        let Some(mut done) = ready.placed.take() else {
            continue;
        };
        let progress = match ready.progress {
            Some(progress) => progress,
            None => {
                // Placement is a function of the version, so objects of layers already shown
                // stay: only layers that left are despawned, only layers that came are spawned.
                let old = placed
                    .filter(|p| p.version == done.version)
                    .map_or(0, |p| p.mask);
                let keep = old & done.mask & done.have;
                let replaced = placed.is_some_and(|p| p.version != done.version);
                commands.entity(e).queue(clear_objects(keep, replaced));
                index.dirty = true;
                if done.version != compiled.version {
                    commands.entity(e).remove::<(ScatterReady, ScatterPlaced)>();
                    continue;
                }
                Progress { keep, next: 0 }
            }
        };
        let keep = progress.keep;
        // What this result brings that was not shown before.
        let fresh = done.mask & !keep;
        let origin = chunk_transform.translation;
        // Objects of their own first, then the layers' meshes: one spawn each.
        let objects = done.placements.len();
        let total = objects + done.layer_meshes.len();
        let mut next = progress.next;
        while next < total && spawned < max_spawns {
            let item = next;
            next += 1;
            if item >= objects {
                let layer_mesh = &mut done.layer_meshes[item - objects];
                if fresh & layer_mesh.bit() == 0 {
                    continue;
                }
                spawned += 1;
                let mut object = commands.spawn((
                    ScatterObject {
                        layer: layer_mesh.layer,
                        kind: layer_mesh.kind,
                        id: 0,
                        instances: layer_mesh.instances,
                        far: layer_mesh.far,
                    },
                    Transform::IDENTITY,
                    ChildOf(e),
                ));
                let mesh = std::mem::take(&mut layer_mesh.mesh);
                let view = layers[layer_mesh.layer as usize].view_distance;
                #[cfg(feature = "render")]
                visuals.dress_layer(&mut object, layer_mesh.kind, layer_mesh.far, mesh, view);
                #[cfg(not(feature = "render"))]
                let _ = (&mut object, mesh, view);
                continue;
            }
            let p = &done.placements[item];
            if p.kind.drawn_per_chunk() || fresh & full_bit(usize::from(p.layer)) == 0 {
                continue;
            }
            spawned += 1;
            let up = Vec3::from_array(p.up);
            let rotation = Quat::from_rotation_arc(Vec3::Y, up) * Quat::from_rotation_y(p.yaw);
            let transform = Transform {
                translation: Vec3::from_array(p.position) - origin,
                rotation,
                scale: Vec3::splat(p.scale),
            };
            let mut object = commands.spawn((
                ScatterObject {
                    layer: p.layer,
                    kind: p.kind,
                    id: p.id,
                    instances: 1,
                    far: false,
                },
                transform,
                ChildOf(e),
            ));
            #[cfg(feature = "render")]
            visuals.dress(&mut object, p, layers[p.layer as usize].view_distance);
            #[cfg(not(feature = "render"))]
            let _ = (&mut object, layers);
        }
        if next < total {
            // Out of spawns for this frame: the rest of the chunk comes next frame.
            ready.placed = Some(done);
            ready.progress = Some(Progress { keep, next });
            break;
        }
        commands.entity(e).remove::<ScatterReady>();
        // The chunk's placements: the kept layers' from before, and the new ones.
        let mut all: Vec<Placement> = index
            .chunks
            .get(&done.coord)
            .map(|v| {
                v.iter()
                    .filter(|p| layers_of(keep) & full_bit(usize::from(p.layer)) != 0)
                    .copied()
                    .collect()
            })
            .unwrap_or_default();
        all.extend(done.placements);
        let instances = all.len();
        let mut entities = 0;
        let mut layer_meshes: LayerMask = 0;
        for p in &all {
            let layer = usize::from(p.layer);
            if p.kind.drawn_per_chunk() {
                layer_meshes |= full_bit(layer);
            } else if done.mask & far_bit(layer) != 0 {
                layer_meshes |= far_bit(layer);
            } else {
                entities += 1;
            }
        }
        commands.entity(e).insert(ScatterPlaced {
            version: done.version,
            mask: done.mask,
            entities: entities + layer_meshes.count_ones() as usize,
            instances,
        });
        index.owners.insert(e, done.coord);
        index.chunks.insert(done.coord, Arc::new(all));
        index.dirty = true;
    }
    if !std::mem::replace(&mut index.timed, true) {
        // Planning did not run this frame: this is the frame's only timing.
        stats.frame_ms = 0.0;
    }
    stats.frame_ms += start.elapsed().as_secs_f64() * 1000.0;
}
