//! Which chunks have their people, placing them on the task pool, and spawning the results as
//! children of the chunk entity.

use std::sync::Arc;

use bevy::platform::time::Instant;
use bevy::prelude::*;
use bevy::tasks::{AsyncComputeTaskPool, Task, futures::check_ready};

use super::{ActiveNpcConfig, Npc, NpcRecord, NpcWorld, populate_chunk};
use crate::background::run_with_share;
use crate::config::ActiveWorld;
use crate::terrain::{ChunkChanges, ObserverPoses, TerrainChunk, TerrainSampler, WorldObserver};

/// Placement tasks allowed at once (the async pool is shared with terrain generation).
const MAX_TASKS: usize = 2;

/// What NPC placement is doing.
#[derive(Resource, Clone, Debug, Default, PartialEq)]
pub struct NpcStats {
    /// NPC entities alive.
    pub npcs: usize,
    /// Chunks whose people are placed.
    pub chunks_placed: usize,
    /// Placement tasks running.
    pub in_flight: usize,
    /// Chunks in range waiting for a placement task.
    pub pending: usize,
    /// Chunks placed since start.
    pub placed_total: u64,
    /// Mean milliseconds (on a pool thread) to place one chunk's people, over all chunks so far.
    pub mean_place_ms: f64,
    /// Slowest chunk so far, milliseconds.
    pub max_place_ms: f64,
    /// Frame-thread milliseconds the NPC systems took in the last frame.
    pub frame_ms: f64,
    /// The most frame-thread milliseconds the NPC systems took in any frame so far.
    pub max_frame_ms: f64,
}

impl NpcStats {
    /// Whether every chunk in range has its people and nothing is in flight.
    pub fn is_settled(&self) -> bool {
        self.in_flight == 0 && self.pending == 0 && self.chunks_placed > 0
    }
}

/// The (world, rules) version a chunk's people were placed for.
type Version = (u64, u64);

/// A chunk's people are being placed.
#[derive(Component)]
pub(crate) struct NpcTask {
    task: Task<(Vec<NpcRecord>, f64)>,
    version: Version,
}

/// A chunk's people are placed (as its children).
#[derive(Component)]
pub(crate) struct NpcsPlaced {
    version: Version,
}

/// What the last full planning pass saw, to skip passes when nothing moved.
#[derive(Default)]
pub(crate) struct LastPlan {
    eyes: Vec<Vec2>,
    version: Version,
}

/// Observers may drift this far (metres) before chunks are checked again.
const REPLAN_M: f32 = 4.0;

/// Whether [`plan_npc_chunks`] may have something to do: an observer moved or went, a chunk
/// appeared or changed detail ([`ChunkChanges`]), the ground or the rules changed, chunks wait
/// for a task slot, or the last frame's timing is still shown.
pub(crate) fn plan_may_change(
    rules: Res<ActiveNpcConfig>,
    sampler: Option<Res<TerrainSampler>>,
    stats: Res<NpcStats>,
    observers: Query<(&GlobalTransform, &WorldObserver)>,
    mut poses: Local<ObserverPoses>,
    chunks: Option<Res<ChunkChanges>>,
) -> bool {
    // Looked at every frame, so it is the move since the last frame.
    let moved = poses.changed(&observers);
    rules.is_changed()
        || sampler.is_some_and(|s| s.is_changed())
        || stats.pending != 0
        || stats.frame_ms != 0.0
        || moved
        || chunks.is_some_and(|c| c.is_changed())
}

/// Starts placement on chunks that came into range, and removes people from chunks that left it
/// or whose world or rules changed.
pub(crate) fn plan_npc_chunks(
    mut commands: Commands,
    world: Option<Res<ActiveWorld>>,
    rules: Res<ActiveNpcConfig>,
    sampler: Option<Res<TerrainSampler>>,
    observers: Query<&GlobalTransform, With<WorldObserver>>,
    chunks: Query<(
        Entity,
        &TerrainChunk,
        Option<&NpcTask>,
        Option<&NpcsPlaced>,
        Option<&Children>,
    )>,
    npcs: Query<(), With<Npc>>,
    changed: Query<(), Changed<TerrainChunk>>,
    mut last: Local<LastPlan>,
    mut stats: ResMut<NpcStats>,
) {
    let start = Instant::now();
    stats.frame_ms = 0.0;
    // Without the terrain plugins there is no ground to stand on.
    let (Some(sampler), Some(world)) = (sampler, world) else {
        return;
    };
    let version = (sampler.version(), rules.version());
    let eyes: Vec<Vec2> = observers.iter().map(|t| t.translation().xz()).collect();
    // Nothing to do unless an observer moved, a chunk appeared or changed detail, the world or
    // rules changed, or chunks wait for a task slot.
    let moved = eyes.len() != last.eyes.len()
        || eyes
            .iter()
            .zip(&last.eyes)
            .any(|(a, b)| a.distance_squared(*b) > REPLAN_M * REPLAN_M);
    if !moved && last.version == version && changed.is_empty() && stats.pending == 0 {
        // Nothing done: the frame's NPC cost is 0, and `plan_may_change` can rest.
        return;
    }
    last.eyes.clone_from(&eyes);
    last.version = version;
    let placement = &rules.config().placement;
    let size = sampler.generator().chunk_size() as f32;
    let distance = |c: &TerrainChunk| {
        let min = Vec2::new(c.x as f32, c.z as f32) * size;
        let max = min + Vec2::splat(size);
        eyes.iter()
            .map(|&p| (min - p).max(p - max).max(Vec2::ZERO).length())
            .fold(f32::INFINITY, f32::min)
    };

    let mut running = 0;
    let mut wanted = Vec::new();
    for (e, chunk, task, placed, children) in &chunks {
        let d = distance(chunk);
        let keep = d <= placement.npc_radius_m + placement.hysteresis_m;
        let mut free = placed.is_none() && task.is_none();
        if let Some(p) = placed
            && (p.version != version || !keep)
        {
            for child in children.into_iter().flatten() {
                if npcs.contains(*child) {
                    commands.entity(*child).despawn();
                }
            }
            commands.entity(e).remove::<NpcsPlaced>();
            free = true;
        }
        if let Some(t) = task {
            if t.version != version || !keep {
                // Dropping the task cancels it.
                commands.entity(e).remove::<NpcTask>();
                free = true;
            } else {
                running += 1;
            }
        }
        if free && chunk.vertex_step > 0 && d <= placement.npc_radius_m {
            wanted.push((d, e, chunk.coord()));
        }
    }
    stats.in_flight = running;
    let free = MAX_TASKS.saturating_sub(running);
    stats.pending = wanted.len().saturating_sub(free);
    if free == 0 || wanted.is_empty() {
        stats.frame_ms = start.elapsed().as_secs_f64() * 1000.0;
        return;
    }
    wanted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let pool = AsyncComputeTaskPool::get();
    for &(_, e, coord) in wanted.iter().take(free) {
        let generator = sampler.generator().clone();
        let config = Arc::clone(rules.config());
        let seed = world.config().seed;
        let task = pool.spawn(async move {
            run_with_share(|| {
                let start = Instant::now();
                let mut w = NpcWorld::new(seed, &generator, &config);
                let records = populate_chunk(&mut w, coord);
                (records, start.elapsed().as_secs_f64() * 1000.0)
            })
        });
        commands.entity(e).insert(NpcTask { task, version });
        stats.in_flight += 1;
    }
    stats.frame_ms = start.elapsed().as_secs_f64() * 1000.0;
}

/// Spawns the people of chunks whose placement finished, as children of the chunk.
pub(crate) fn poll_npc_tasks(
    mut commands: Commands,
    mut tasks: Query<(Entity, &mut NpcTask, &Transform)>,
    placed: Query<(), With<NpcsPlaced>>,
    npcs: Query<(), With<Npc>>,
    mut removed: RemovedComponents<NpcsPlaced>,
    mut stats: ResMut<NpcStats>,
) {
    // Idle (no placement running, no chunk's people removed): the counts cannot have changed.
    let removed = removed.read().count() > 0;
    if tasks.is_empty() && !removed {
        return;
    }
    let start = Instant::now();
    for (e, mut task, chunk_transform) in &mut tasks {
        let Some((records, ms)) = check_ready(&mut task.task) else {
            continue;
        };
        let version = task.version;
        let origin = chunk_transform.translation;
        commands
            .entity(e)
            .remove::<NpcTask>()
            .insert(NpcsPlaced { version });
        for r in records {
            let p = Vec3::from_array(r.placed.position);
            commands.spawn((
                Name::new(format!("NPC {} ({})", r.persona.name, r.placed.id)),
                Npc {
                    id: r.placed.id,
                    persona: r.persona,
                    surroundings: r.surroundings,
                    chunk: r.placed.chunk,
                },
                Transform::from_translation(p - origin),
                ChildOf(e),
            ));
        }
        let n = stats.placed_total as f64;
        stats.mean_place_ms = (stats.mean_place_ms * n + ms) / (n + 1.0);
        stats.max_place_ms = stats.max_place_ms.max(ms);
        stats.placed_total += 1;
        stats.in_flight = stats.in_flight.saturating_sub(1);
    }
    stats.chunks_placed = placed.iter().count();
    stats.npcs = npcs.iter().count();
    stats.frame_ms += start.elapsed().as_secs_f64() * 1000.0;
    stats.max_frame_ms = stats.max_frame_ms.max(stats.frame_ms);
}
