//! The ECS shell of scatter: which chunks want which layers, placement on the task pool, the
//! index of what is placed and the stats. Spawning the results is [`apply`](super::apply).

use std::sync::Arc;

use bevy::platform::collections::HashMap;
use bevy::platform::time::Instant;
use bevy::prelude::*;
use bevy::tasks::{AsyncComputeTaskPool, Task};

use super::apply::{ScatterReady, clear_objects};
use super::chunk_mesh::{far_layer_mesh, layer_mesh};
use super::meshes::ObjectMesh;
use super::place::{FULL_DETAIL, far_bit, full_bit};
use super::{ActiveScatter, LayerMask, ObjectKind, Placement, ScatterWorld};
use crate::config::ActiveWorld;
use crate::terrain::{
    ChunkChanges, ChunkCoord, ObserverPoses, TerrainChunk, TerrainSampler, WorldObserver,
    catch_up_factor,
};

/// Placement tasks allowed at once at 60 fps (the async pool is shared with terrain
/// generation); more on slower frames (see [`catch_up_factor`]), so a slow renderer does not
/// wait minutes for the trees of its starting area.
const MAX_TASKS: usize = 2;

/// Observers may drift this far (metres) before chunks are checked again.
const REPLAN_M: f32 = 4.0;

/// What scatter is doing.
#[derive(Resource, Clone, Debug, Default, PartialEq)]
pub struct ScatterStats {
    /// Objects shown: one per object entity plus every object in the layers' meshes.
    pub instances: usize,
    /// Scatter entities alive (objects, and one mesh per chunk and layer drawn per chunk).
    pub entities: usize,
    /// Chunks with their objects placed.
    pub chunks: usize,
    /// Placement tasks running.
    pub in_flight: usize,
    /// Chunks waiting for a placement task.
    pub pending: usize,
    /// Chunks placed whose objects are still being spawned (a few hundred objects a frame).
    pub applying: usize,
    /// Chunks placed since start.
    pub placed_total: u64,
    /// Mean milliseconds (on a pool thread) to place one chunk, over all chunks so far.
    pub mean_place_ms: f64,
    /// Slowest chunk so far, milliseconds.
    pub max_place_ms: f64,
    /// Frame-thread milliseconds the scatter systems took in the last frame.
    pub frame_ms: f64,
    /// The most frame-thread milliseconds the scatter systems took in any frame so far.
    pub max_frame_ms: f64,
}

impl ScatterStats {
    /// Whether every chunk in range has what it wants and nothing is in flight.
    pub fn is_settled(&self) -> bool {
        self.in_flight == 0 && self.pending == 0 && self.applying == 0 && self.chunks > 0
    }
}

/// A scattered object, or the mesh of a chunk's objects of one layer drawn per chunk
/// ([`ObjectKind::drawn_per_chunk`]): a child of its terrain chunk. Read it, don't write it.
#[derive(Component, Clone, Debug)]
#[cfg_attr(feature = "render", require(Transform, Visibility))]
#[cfg_attr(not(feature = "render"), require(Transform))]
pub struct ScatterObject {
    /// Index of its layer in the scatter rules.
    pub layer: u16,
    /// What it is.
    pub kind: ObjectKind,
    /// Its placement's id (0 for a layer's mesh).
    pub id: u64,
    /// Instances it draws (1, or the objects of a layer's mesh).
    pub instances: u32,
    /// Whether it is the mesh of its layer's objects at their far level, past the layer's
    /// detail distance.
    pub far: bool,
}

impl ScatterObject {
    /// Its bit in a [`LayerMask`]: its layer, in full detail or at the far level.
    pub fn mask_bit(&self) -> LayerMask {
        match (usize::from(self.layer), self.far) {
            (layer, _) if layer >= 32 => 0,
            (layer, true) => far_bit(layer),
            (layer, false) => full_bit(layer),
        }
    }

    /// Whether it draws many objects of its layer as one mesh (a kind drawn per chunk, or the
    /// far level) rather than one object.
    pub fn is_layer_mesh(&self) -> bool {
        self.far || self.kind.drawn_per_chunk()
    }
}

/// The rules compiled for the current world, rebuilt when either changes.
#[derive(Resource, Clone)]
pub struct CompiledScatter {
    /// The compiled rules, shared with tasks.
    pub world: Arc<ScatterWorld>,
    /// (world sampler version, rules version) it was built from.
    pub version: (u64, u64),
}

/// Placements of the chunks that have them, for "what stands near here" without recomputing.
#[derive(Resource, Default, Debug)]
pub struct ScatterIndex {
    pub(super) chunks: HashMap<ChunkCoord, Arc<Vec<Placement>>>,
    pub(super) owners: HashMap<Entity, ChunkCoord>,
    chunk_size: f64,
    /// Something was placed or cleared since the stats were counted.
    pub(super) dirty: bool,
    /// A scatter system timed itself this frame (else [`ScatterStats::frame_ms`] goes to 0).
    pub(super) timed: bool,
}

impl ScatterIndex {
    /// Placed objects within `radius` metres (horizontally) of world `(x, z)` on chunks that are
    /// placed, nearest first. Chunks beyond the view distances are not placed: ask
    /// [`ScatterWorld::objects_near`] for those.
    pub fn near(&self, x: f32, z: f32, radius: f32) -> Vec<Placement> {
        if self.chunk_size <= 0.0 {
            return Vec::new();
        }
        let size = self.chunk_size as f32;
        let lo = ((x - radius) / size).floor() as i32;
        let hi = ((x + radius) / size).floor() as i32;
        let (zlo, zhi) = (
            ((z - radius) / size).floor() as i32,
            ((z + radius) / size).floor() as i32,
        );
        let d = |p: &Placement| (p.position[0] - x).hypot(p.position[2] - z);
        let mut found: Vec<Placement> = (zlo..=zhi)
            .flat_map(|cz| (lo..=hi).map(move |cx| ChunkCoord::new(cx, cz)))
            .filter_map(|c| self.chunks.get(&c))
            .flat_map(|v| v.iter().copied())
            .filter(|p| d(p) <= radius)
            .collect();
        found.sort_by(|a, b| d(a).total_cmp(&d(b)).then(a.id.cmp(&b.id)));
        found
    }

    /// Chunks with placements.
    pub fn len(&self) -> usize {
        self.chunks.len()
    }

    /// Whether no chunk has placements.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }
}

/// A chunk's objects are being placed.
#[derive(Component)]
pub(crate) struct ScatterTask {
    pub(super) task: Task<Placed>,
    version: (u64, u64),
    mask: LayerMask,
}

/// A chunk's objects are spawned (as its children), for these layers.
#[derive(Component)]
pub(crate) struct ScatterPlaced {
    pub(super) version: (u64, u64),
    pub(super) mask: LayerMask,
    pub(super) entities: usize,
    pub(super) instances: usize,
}

/// The objects of one layer of a chunk as one mesh, built on the placement task.
pub(crate) struct LayerMesh {
    pub(super) layer: u16,
    pub(super) kind: ObjectKind,
    /// The layer's far level rather than its full detail.
    pub(super) far: bool,
    pub(super) instances: u32,
    pub(super) mesh: ObjectMesh,
}

impl LayerMesh {
    /// Its bit in a [`LayerMask`].
    pub(super) fn bit(&self) -> LayerMask {
        if self.far {
            far_bit(usize::from(self.layer))
        } else {
            full_bit(usize::from(self.layer))
        }
    }
}

pub(crate) struct Placed {
    pub(super) coord: ChunkCoord,
    /// Layers already shown when the task started, not placed again.
    pub(super) have: LayerMask,
    pub(super) placements: Vec<Placement>,
    /// One mesh per layer [drawn per chunk](ObjectKind::drawn_per_chunk), by layer.
    pub(super) layer_meshes: Vec<LayerMesh>,
    pub(super) version: (u64, u64),
    pub(super) mask: LayerMask,
    pub(super) ms: f64,
}

/// Whether [`compile_scatter`] may have something to do: the rules or the ground changed, or
/// nothing is compiled yet.
pub(crate) fn rules_or_ground_changed(
    sampler: Option<Res<TerrainSampler>>,
    rules: Res<ActiveScatter>,
    compiled: Option<Res<CompiledScatter>>,
) -> bool {
    compiled.is_none() || rules.is_changed() || sampler.is_some_and(|s| s.is_changed())
}

/// Rebuilds [`CompiledScatter`] when the world or the rules change.
pub(crate) fn compile_scatter(
    mut commands: Commands,
    world: Option<Res<ActiveWorld>>,
    sampler: Option<Res<TerrainSampler>>,
    rules: Res<ActiveScatter>,
    compiled: Option<Res<CompiledScatter>>,
    mut index: ResMut<ScatterIndex>,
) {
    let (Some(world), Some(sampler)) = (world, sampler) else {
        return;
    };
    let version = (sampler.version(), rules.version());
    if compiled.is_some_and(|c| c.version == version) {
        return;
    }
    let (scatter, warnings) = ScatterWorld::new(
        world.config().seed,
        rules.config(),
        sampler.generator().clone(),
    );
    for w in warnings {
        warn!("aigc_world: {w}");
    }
    index.chunk_size = sampler.generator().chunk_size();
    commands.insert_resource(CompiledScatter {
        world: Arc::new(scatter),
        version,
    });
}

/// What the last full planning pass saw, to skip passes when nothing moved.
#[derive(Default)]
pub(crate) struct LastPlan {
    eyes: Vec<Vec2>,
    version: (u64, u64),
}

/// Whether [`plan_scatter`] may have something to do: an observer moved or went, a chunk was
/// spawned or changed detail ([`ChunkChanges`]: one tick comparison, not a scan of the chunks),
/// the rules were compiled again, or chunks wait for a task slot.
pub(crate) fn plan_may_change(
    compiled: Option<Res<CompiledScatter>>,
    stats: Res<ScatterStats>,
    observers: Query<(&GlobalTransform, &WorldObserver)>,
    mut poses: Local<ObserverPoses>,
    chunks: Option<Res<ChunkChanges>>,
) -> bool {
    // Looked at every frame, so it is the move since the last frame.
    let moved = poses.changed(&observers);
    compiled.is_some_and(|c| c.is_changed())
        || stats.pending != 0
        || moved
        || chunks.is_some_and(|c| c.is_changed())
}

/// Starts placement where a chunk's wanted layers changed, cancels out-of-date tasks, and drops
/// objects whose rules or world changed.
pub(crate) fn plan_scatter(
    mut commands: Commands,
    time: Res<Time<Real>>,
    compiled: Option<Res<CompiledScatter>>,
    world: Option<Res<ActiveWorld>>,
    observers: Query<&GlobalTransform, With<WorldObserver>>,
    chunks: Query<(
        Entity,
        &TerrainChunk,
        Option<&ScatterTask>,
        Option<&ScatterPlaced>,
        Has<ScatterReady>,
    )>,
    changed: Query<(), Changed<TerrainChunk>>,
    mut last: Local<LastPlan>,
    mut index: ResMut<ScatterIndex>,
    mut stats: ResMut<ScatterStats>,
) {
    let start = Instant::now();
    let (Some(compiled), Some(world)) = (compiled, world) else {
        return;
    };
    let version = compiled.version;
    let eyes: Vec<Vec2> = observers.iter().map(|t| t.translation().xz()).collect();
    let moved = eyes.len() != last.eyes.len()
        || eyes
            .iter()
            .zip(&last.eyes)
            .any(|(a, b)| a.distance_squared(*b) > REPLAN_M * REPLAN_M);
    index.timed = true;
    if !moved && last.version == version && changed.is_empty() && stats.pending == 0 {
        stats.frame_ms = start.elapsed().as_secs_f64() * 1000.0;
        return;
    }
    last.eyes.clone_from(&eyes);
    last.version = version;
    let set = &compiled.world.set;
    let hysteresis = world.config().streaming.hysteresis_m as f32;
    let size = compiled.world.generator().chunk_size() as f32;
    let distance = |c: &TerrainChunk| {
        let min = Vec2::new(c.x as f32, c.z as f32) * size;
        let max = min + Vec2::splat(size);
        eyes.iter()
            .map(|&p| (min - p).max(p - max).max(Vec2::ZERO).length())
            .fold(f32::INFINITY, f32::min)
    };

    let mut running = 0;
    let mut wanted = Vec::new();
    for (e, chunk, task, placed, ready) in &chunks {
        let d = distance(chunk);
        // Layers come in at their view distance and go a hysteresis beyond it.
        let current = placed.filter(|p| p.version == version).map(|p| p.mask);
        let mut target = set.layers_within(d);
        if let Some(mask) = current {
            target |= mask & set.layers_within(d - hysteresis);
        }
        // A layer kept in full detail by the hysteresis is not drawn at its far level too.
        target &= !((target & FULL_DETAIL) << 32);
        if chunk.vertex_step == 0 {
            target = 0;
        }
        if let Some(t) = task {
            if t.version == version && t.mask == target {
                running += 1;
                continue;
            }
            // Dropping the task cancels it.
            commands.entity(e).remove::<ScatterTask>();
        }
        if ready {
            continue;
        }
        if target == 0 {
            if placed.is_some() {
                commands
                    .entity(e)
                    .queue(clear_objects(0, false))
                    .remove::<ScatterPlaced>();
                index.dirty = true;
            }
            continue;
        }
        if current == Some(target) {
            continue;
        }
        wanted.push((d, e, chunk.coord(), target, current.unwrap_or(0) & target));
    }
    stats.in_flight = running;
    let max_tasks = (MAX_TASKS as f64 * catch_up_factor(time.delta_secs_f64() * 1000.0)) as usize;
    let free = max_tasks.saturating_sub(running);
    stats.pending = wanted.len().saturating_sub(free);
    wanted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let pool = AsyncComputeTaskPool::get();
    for &(_, e, coord, mask, have) in wanted.iter().take(free) {
        let scatter = compiled.world.clone();
        let task = pool.spawn(async move {
            let _share = crate::background::take_share();
            let start = Instant::now();
            // Layers already shown keep their objects: only the new ones are placed.
            let placements = scatter.place_chunk(coord, mask & !have);
            let (origin, _) = scatter.chunk_bounds(coord);
            let layer_meshes = layer_meshes(&placements, origin, mask & !have);
            Placed {
                coord,
                have,
                placements,
                layer_meshes,
                version,
                mask,
                ms: start.elapsed().as_secs_f64() * 1000.0,
            }
        });
        commands.entity(e).insert(ScatterTask {
            task,
            version,
            mask,
        });
        stats.in_flight += 1;
    }
    stats.frame_ms = start.elapsed().as_secs_f64() * 1000.0;
}

/// The meshes of the layers in `placements` drawn as one mesh per chunk: those of kinds drawn
/// per chunk, and those whose far level is in `mask`; in layer order.
fn layer_meshes(placements: &[Placement], origin: [f64; 2], mask: LayerMask) -> Vec<LayerMesh> {
    let mut layers: Vec<(u16, ObjectKind, u32)> = Vec::new();
    for p in placements {
        match layers.iter_mut().find(|l| l.0 == p.layer) {
            Some(l) => l.2 += 1,
            None => layers.push((p.layer, p.kind, 1)),
        }
    }
    layers.sort_by_key(|l| l.0);
    layers
        .into_iter()
        .filter_map(|(layer, kind, instances)| {
            let far = mask & far_bit(usize::from(layer)) != 0;
            let mesh = if kind.drawn_per_chunk() {
                layer_mesh(placements, layer, origin)
            } else if far {
                far_layer_mesh(placements, layer, origin)
            } else {
                return None;
            };
            Some(LayerMesh {
                layer,
                kind,
                far,
                instances,
                mesh,
            })
        })
        .collect()
}

/// Whether [`update_scatter_stats`] may have something to do: objects were placed or cleared,
/// a chunk with objects went, or a frame's timing is still shown.
pub(crate) fn stats_may_change(
    index: Res<ScatterIndex>,
    stats: Res<ScatterStats>,
    mut removed: RemovedComponents<ScatterPlaced>,
) -> bool {
    let removed = removed.read().count() > 0;
    index.dirty || index.timed || stats.frame_ms != 0.0 || stats.applying != 0 || removed
}

/// Forgets chunks that were despawned, and counts what is shown when that changed (nothing per
/// chunk on frames where nothing was placed or cleared).
pub(crate) fn update_scatter_stats(
    mut removed: RemovedComponents<ScatterPlaced>,
    placed: Query<&ScatterPlaced>,
    ready: Query<(), With<ScatterReady>>,
    mut index: ResMut<ScatterIndex>,
    mut stats: ResMut<ScatterStats>,
) {
    let applying = ready.iter().count();
    if stats.applying != applying {
        stats.applying = applying;
    }
    for e in removed.read() {
        index.dirty = true;
        if placed.contains(e) {
            continue;
        }
        if let Some(coord) = index.owners.remove(&e) {
            index.chunks.remove(&coord);
        }
    }
    if !std::mem::take(&mut index.timed) {
        // No scatter system ran this frame.
        stats.frame_ms = 0.0;
    }
    stats.max_frame_ms = stats.max_frame_ms.max(stats.frame_ms);
    if !std::mem::take(&mut index.dirty) {
        return;
    }
    stats.chunks = placed.iter().count();
    stats.entities = placed.iter().map(|p| p.entities).sum();
    stats.instances = placed.iter().map(|p| p.instances).sum();
}
