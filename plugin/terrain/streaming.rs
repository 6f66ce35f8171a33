//! Which chunks exist, at what detail, and getting their meshes built without stalling a frame.
//!
//! The flow for one chunk: [`plan_chunks`] spawns its entity when an observer comes within the
//! view radius and keeps its wanted level of detail up to date; [`dispatch_tasks`] starts a
//! generation task for it when a slot is free, nearest and in-view chunks first; [`poll_tasks`]
//! collects the finished mesh; [`apply_chunks`] hands it to the renderer within the frame budget.
//! When every observer has moved away (beyond the radius plus hysteresis) the entity is
//! despawned, which drops and so cancels any task it still has.

use std::sync::Arc;

use bevy::platform::collections::HashMap;
use bevy::platform::time::Instant;
use bevy::prelude::*;
use bevy::tasks::{AsyncComputeTaskPool, Task, futures::check_ready};

use super::{
    ObserverPoses, TerrainChunk, TerrainGenerator, TerrainSampler, WorldObserver,
    chunk_mesh_to_bevy,
};
use crate::background::run_with_share;
use crate::config::{ActiveWorld, MAX_REACH_CHUNKS, MAX_VIEW_RADIUS_M, StreamingConfig};
use crate::terrain::ChunkCoord;
use crate::terrain::ChunkMeshData;
use crate::water::lakes::lake_levels;
use crate::water::{WaterMeshing, WaterSurface, water_mesh, water_mesh_to_bevy};

/// Metres above and below the sea level the water's bounds reach, for waves (the shader's
/// waves stay well inside: see [`WaterSettings`](crate::water::WaterSettings)).
#[cfg(feature = "render")]
const WAVE_ROOM_M: f32 = 2.0;

/// Where chunk generation runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Reflect)]
pub enum StreamingMode {
    /// On the async compute pool, never on the frame thread (the default).
    #[default]
    Background,
    /// On the frame thread, inside [`AigcWorldSystems::Plan`](crate::AigcWorldSystems::Plan):
    /// only for measuring what background generation saves, and for tools without task pools.
    Blocking,
}

/// Live knobs for terrain streaming (the world file holds the modder-facing ones).
#[derive(Resource, Reflect, Clone, Debug, Default)]
#[reflect(Resource)]
pub struct TerrainSettings {
    /// Where generation runs.
    pub mode: StreamingMode,
    /// Stops planning new chunks (existing ones stay); for debugging and screenshots.
    pub frozen: bool,
}

/// What streaming is doing, updated every frame; the same numbers go to Bevy's diagnostics.
#[derive(Resource, Clone, Debug, Default, PartialEq)]
pub struct TerrainStats {
    /// Chunk entities that exist (with or without a mesh yet).
    pub chunks: usize,
    /// Chunks showing a mesh.
    pub resident: usize,
    /// Chunks waiting for generation (no task yet) at their wanted detail and world version.
    pub pending: usize,
    /// Generation tasks running.
    pub in_flight: usize,
    /// Generated results waiting for the apply budget.
    pub ready: usize,
    /// Chunks generated since start.
    pub generated_total: u64,
    /// Chunk meshes applied since start.
    pub applied_total: u64,
    /// Bytes of vertex and index data in shown chunk meshes.
    pub mesh_bytes: usize,
    /// Main-thread milliseconds spent applying chunks this frame.
    pub apply_ms: f64,
    /// Mean generation milliseconds of the chunks that finished this frame (0 if none did).
    pub generation_ms: f64,
}

impl TerrainStats {
    /// Whether every wanted chunk shows its wanted mesh (the area around observers is complete).
    pub fn is_settled(&self) -> bool {
        self.chunks > 0 && self.pending == 0 && self.in_flight == 0 && self.ready == 0
    }
}

/// Chunk entities by coordinate, and the state that survives from frame to frame.
#[derive(Resource, Default)]
pub(crate) struct ChunkIndex {
    map: HashMap<ChunkCoord, Entity>,
    /// Observer positions at the last full plan; re-plan when one moves far enough.
    last_plan: Vec<Vec3>,
    last_version: u64,
    /// Observer view directions when the chunks' `in_view` flags were last refreshed.
    last_forward: Vec<Vec2>,
    /// Set whenever a chunk's wanted work may have changed (a plan, a finished or discarded
    /// result, a new world, new settings); [`dispatch_tasks`] scans the chunks only then, so an
    /// idle world costs nothing per chunk.
    work_changed: bool,
    /// Set whenever a chunk changed state; [`update_stats`] recounts only then.
    stats_changed: bool,
    /// Chunks out of reach, despawned a few per frame ([`RETIRE_PER_FRAME`]) so crossing a
    /// chunk border does not drop a whole row of meshes and entities in one frame.
    retiring: Vec<Entity>,
    /// Each observer's position last frame and smoothed ground velocity (m/s), for looking
    /// ahead along the direction of travel.
    motion: Vec<(Vec3, Vec2)>,
}

/// Chunk entities spawned or shown at a new level of detail so far. Changed (in Bevy's sense)
/// only then, so systems that react to chunks (scatter, NPCs) can tell with one tick comparison
/// whether to look, instead of scanning every chunk's change ticks every frame.
#[derive(Resource, Default, Debug)]
pub(crate) struct ChunkChanges(pub u64);

/// How far ahead (seconds of travel) work is prioritised: a chunk this far along an observer's
/// path is as urgent as one beside it, so fast flight finds the ground ready.
const LOOK_AHEAD_S: f32 = 2.0;

/// Out-of-reach chunks despawned per frame, at least; a longer queue goes faster (a tenth of
/// it per frame), so a teleport still clears within a few frames.
const RETIRE_PER_FRAME: usize = 4;

/// Internal streaming state of a chunk (kept apart from [`TerrainChunk`] so our writes do not
/// trigger users' change detection on it).
#[derive(Component, Debug)]
pub(crate) struct ChunkState {
    coord: ChunkCoord,
    /// Wanted vertex step.
    want_step: u32,
    /// Distance to the nearest observer at the last plan, and whether it is in a view cone.
    distance: f32,
    /// The smaller of `distance` and the distance to where an observer will be in
    /// [`LOOK_AHEAD_S`]: what orders the work.
    urgency: f32,
    in_view: bool,
    /// `(step, version)` of the mesh shown, of the task running, of the result waiting.
    shown: Option<(u32, u64)>,
    running: Option<(u32, u64)>,
    /// Out of reach and waiting to be despawned: no more work, not counted.
    retired: bool,
    /// The water surface shown over the chunk (a child entity), if any.
    water: Option<Entity>,
}

/// A generation task.
#[derive(Component)]
pub(crate) struct ChunkTask(Task<GeneratedChunk>);

/// A finished result waiting for the apply budget (taken when applied).
#[derive(Component)]
pub(crate) struct ChunkReady(Option<GeneratedChunk>);

pub(crate) struct GeneratedChunk {
    mesh: Mesh,
    step: u32,
    version: u64,
    generation_ms: f64,
    bytes: usize,
    #[cfg_attr(not(feature = "render"), allow(dead_code))]
    min_y: f32,
    #[cfg_attr(not(feature = "render"), allow(dead_code))]
    max_y: f32,
    #[cfg_attr(not(feature = "render"), allow(dead_code))]
    size: f32,
    /// The sea over the chunk, when water is wanted and some ground lies below it.
    water: Option<ChunkWater>,
}

/// The water mesh of a chunk, built in its generation task.
pub(crate) struct ChunkWater {
    mesh: Mesh,
    surface: WaterSurface,
    /// Lowest and highest water surface in it (the sea's level, lakes' levels).
    levels: (f32, f32),
}

/// Bytes of the mesh a chunk shows.
#[derive(Component, Default)]
pub(crate) struct ChunkMeshBytes(usize);

fn generate(
    generator: &TerrainGenerator,
    coord: ChunkCoord,
    step: u32,
    version: u64,
    with_water: bool,
) -> GeneratedChunk {
    let start = Instant::now();
    let data = generator.generate_chunk(coord, step);
    // The sea and lakes over the chunk, from the chunk's own heights.
    let water = with_water
        .then(|| chunk_water(generator, coord, &data))
        .flatten();
    let bytes = data.byte_size();
    let deepest = data.skirt_depth.iter().copied().fold(0.0, f32::max);
    let (min_y, max_y) = (data.min_height - deepest, data.max_height);
    let mesh = chunk_mesh_to_bevy(data);
    GeneratedChunk {
        mesh,
        step,
        version,
        generation_ms: start.elapsed().as_secs_f64() * 1000.0,
        bytes,
        min_y,
        max_y,
        size: generator.chunk_size() as f32,
        water,
    }
}

/// The water over a generated chunk: the sea, and the lakes that cover its vertices.
fn chunk_water(
    generator: &TerrainGenerator,
    coord: ChunkCoord,
    data: &ChunkMeshData,
) -> Option<ChunkWater> {
    let sea_level = generator.sea_level();
    let n0 = i64::from(generator.chunk_vertices() - 1);
    let (ix0, iz0) = (i64::from(coord.x) * n0, i64::from(coord.z) * n0);
    // The mesh's own vertex step (the generator clamps the one asked for).
    let step = n0 / (data.side.max(2) as i64 - 1).max(1);
    let lakes = generator.lakes_near(ix0, iz0, ix0 + n0, iz0 + n0);
    let levels = lake_levels(&lakes, (ix0, iz0), step, data.side);
    let w = water_mesh(data, sea_level, levels.as_deref())?;
    let (low, high) = w
        .positions
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p[1]), hi.max(p[1]))
        });
    Some(ChunkWater {
        surface: WaterSurface {
            max_depth: w.max_depth,
            vertices: w.vertex_count() as u32,
        },
        mesh: water_mesh_to_bevy(w),
        levels: (low, high),
    })
}

/// Vertex step for a chunk at `distance`, given the step it has now (for hysteresis).
fn wanted_step(config: &StreamingConfig, distance: f64, current: Option<u32>) -> u32 {
    let rings = &config.lod_rings;
    let ring = rings
        .iter()
        .position(|r| distance <= r.until_m)
        .unwrap_or(rings.len().saturating_sub(1));
    let step = rings.get(ring).map_or(1, |r| r.vertex_step);
    match current {
        // Coarsen only once past the current ring's edge plus hysteresis; refine at once.
        Some(cur) if step > cur => {
            let edge = rings
                .iter()
                .filter(|r| r.vertex_step <= cur)
                .map(|r| r.until_m)
                .fold(0.0, f64::max);
            if distance <= edge + config.hysteresis_m {
                cur
            } else {
                step
            }
        }
        _ => step,
    }
}

/// Distance in the xz plane from `p` to the square of chunk `c`.
fn chunk_distance(p: Vec2, c: ChunkCoord, size: f32) -> f32 {
    let min = Vec2::new(c.x as f32, c.z as f32) * size;
    let max = min + Vec2::splat(size);
    let d = (min - p).max(p - max).max(Vec2::ZERO);
    d.length()
}

/// Spawns chunks that came into range, despawns those that left it, and updates wanted detail.
/// Whether [`plan_chunks`] may have something to do: an observer moved, turned, came or went
/// (or is still slowing down), the world, the sampler or the settings changed, or chunks wait
/// to be retired.
pub(crate) fn plan_may_change(
    world: Res<ActiveWorld>,
    sampler: Option<Res<TerrainSampler>>,
    settings: Res<TerrainSettings>,
    index: Res<ChunkIndex>,
    observers: Query<(&GlobalTransform, &WorldObserver)>,
    mut poses: Local<ObserverPoses>,
) -> bool {
    // Looked at every frame, so it is the move since the last frame.
    let moved = poses.changed(&observers);
    moved
        || world.is_changed()
        || settings.is_changed()
        || sampler.is_some_and(|s| s.is_changed())
        || !index.retiring.is_empty()
        || index.motion.iter().any(|(_, v)| *v != Vec2::ZERO)
}

pub(crate) fn plan_chunks(
    mut commands: Commands,
    time: Res<Time>,
    world: Res<ActiveWorld>,
    sampler: Option<Res<TerrainSampler>>,
    settings: Res<TerrainSettings>,
    mut index: ResMut<ChunkIndex>,
    mut changes: ResMut<ChunkChanges>,
    observers: Query<(&GlobalTransform, &WorldObserver)>,
    mut chunks: Query<&mut ChunkState>,
    mut meshes: ResMut<Assets<Mesh>>,
    shown_meshes: Query<&Mesh3d>,
) {
    retire_some(&mut commands, &mut index, &mut meshes, &shown_meshes);
    let Some(sampler) = sampler else { return };
    if settings.frozen {
        return;
    }
    let config = &world.config().streaming;
    let size = sampler.generator().chunk_size() as f32;
    let views: Vec<(Vec2, Vec2, f32)> = observers
        .iter()
        .map(|(t, o)| {
            let p = t.translation();
            let f = t.forward();
            // An observer's own radius is not validated like the file's: clamp it the same way.
            let most =
                (MAX_REACH_CHUNKS * f64::from(size) - config.hysteresis_m).min(MAX_VIEW_RADIUS_M);
            let radius = o
                .view_radius_m
                .unwrap_or(config.view_radius_m)
                .clamp(0.0, most) as f32;
            (
                Vec2::new(p.x, p.z),
                Vec2::new(f.x, f.z).normalize_or_zero(),
                radius,
            )
        })
        .collect();

    // Re-plan only when an observer moved a fraction of a chunk or the world changed; the view
    // direction still updates every frame for ordering.
    let positions: Vec<Vec3> = observers.iter().map(|(t, _)| t.translation()).collect();
    track_motion(&mut index.motion, &positions, time.delta_secs());
    let ahead: Vec<Vec2> = views
        .iter()
        .zip(&index.motion)
        .map(|(&(p, _, radius), &(_, v))| p + (v * LOOK_AHEAD_S).clamp_length_max(radius * 0.5))
        .collect();
    let urgency = |c: ChunkCoord, d: f32| {
        ahead
            .iter()
            .map(|&a| chunk_distance(a, c, size))
            .fold(d, f32::min)
    };
    let moved = positions.len() != index.last_plan.len()
        || positions
            .iter()
            .zip(&index.last_plan)
            .any(|(a, b)| a.distance_squared(*b) > (size * 0.125).powi(2));
    let cone_cos = (config.view_cone_deg.to_radians() * 0.5).cos() as f32;
    let in_view = |c: ChunkCoord| {
        views.iter().any(|&(o, f, _)| {
            let centre = (Vec2::new(c.x as f32, c.z as f32) + 0.5) * size;
            let to = centre - o;
            let d = to.length();
            // The chunk under or right beside the observer counts as in view.
            d < size || f == Vec2::ZERO || to.dot(f) >= cone_cos * d
        })
    };

    if !moved && index.last_version == world.version() {
        // Turning changes only the order of work: refresh the flags when a view turned by more
        // than about a degree, not every frame.
        let forwards: Vec<Vec2> = views.iter().map(|v| v.1).collect();
        let turned = forwards.len() != index.last_forward.len()
            || forwards
                .iter()
                .zip(&index.last_forward)
                .any(|(a, b)| a.dot(*b) < 0.9998);
        if turned {
            index.last_forward = forwards;
            let mut any = false;
            for mut state in &mut chunks {
                let v = in_view(state.coord);
                if state.in_view != v {
                    state.in_view = v;
                    any = true;
                }
            }
            index.work_changed |= any;
        }
        return;
    }
    index.last_plan = positions;
    index.last_version = world.version();
    index.last_forward = views.iter().map(|v| v.1).collect();
    index.work_changed = true;
    index.stats_changed = true;

    // Nearest observer distance for every chunk within reach of any observer.
    let hysteresis = config.hysteresis_m as f32;
    let mut wanted: HashMap<ChunkCoord, f32> = HashMap::default();
    for &(p, _, radius) in &views {
        let reach = radius + hysteresis;
        let lo = ((p - reach) / size).floor();
        let hi = ((p + reach) / size).floor();
        for z in lo.y as i32..=hi.y as i32 {
            for x in lo.x as i32..=hi.x as i32 {
                let c = ChunkCoord::new(x, z);
                let d = chunk_distance(p, c, size);
                if d <= reach {
                    let e = wanted.entry(c).or_insert(f32::INFINITY);
                    *e = e.min(d);
                }
            }
        }
    }
    let radius_of = |c: ChunkCoord| {
        views
            .iter()
            .map(|&(p, _, r)| r - chunk_distance(p, c, size))
            .fold(f32::MIN, f32::max)
    };

    // Despawn chunks out of reach; the task component goes with the entity, which cancels it.
    let gone: Vec<ChunkCoord> = index
        .map
        .keys()
        .filter(|c| !wanted.contains_key(*c))
        .copied()
        .collect();
    for c in gone {
        if let Some(e) = index.map.remove(&c) {
            if let Ok(mut state) = chunks.get_mut(e) {
                state.retired = true;
            }
            index.retiring.push(e);
        }
    }

    for (&c, &d) in &wanted {
        match index.map.get(&c) {
            Some(&e) => {
                if let Ok(mut state) = chunks.get_mut(e) {
                    let current = state.shown.map(|s| s.0).or(Some(state.want_step));
                    state.want_step = wanted_step(config, f64::from(d), current);
                    state.distance = d;
                    state.urgency = urgency(c, d);
                    state.in_view = in_view(c);
                }
            }
            // New chunks only inside the radius proper; hysteresis only keeps old ones alive.
            None if radius_of(c) >= 0.0 => {
                let origin = sampler.generator().chunk_origin(c);
                let e = commands
                    .spawn((
                        Name::new(format!("Terrain chunk ({}, {})", c.x, c.z)),
                        TerrainChunk {
                            x: c.x,
                            z: c.z,
                            vertex_step: 0,
                        },
                        ChunkState {
                            coord: c,
                            want_step: wanted_step(config, f64::from(d), None),
                            distance: d,
                            urgency: urgency(c, d),
                            in_view: in_view(c),
                            shown: None,
                            running: None,
                            retired: false,
                            water: None,
                        },
                        ChunkMeshBytes::default(),
                        Transform::from_xyz(origin.0 as f32, 0.0, origin.1 as f32),
                    ))
                    .id();
                index.map.insert(c, e);
                changes.0 += 1;
            }
            None => {}
        }
    }
}

/// Updates each observer's smoothed ground velocity from its move since last frame. A jump
/// (a teleport) is capped, so it does not throw the look-ahead far off.
fn track_motion(motion: &mut Vec<(Vec3, Vec2)>, positions: &[Vec3], dt: f32) {
    if motion.len() != positions.len() {
        *motion = positions.iter().map(|&p| (p, Vec2::ZERO)).collect();
        return;
    }
    for ((last, velocity), &p) in motion.iter_mut().zip(positions) {
        if dt > 0.0 {
            let now = ((p - *last).xz() / dt).clamp_length_max(1000.0);
            *velocity = velocity.lerp(now, 0.25);
            // At rest exactly, so planning can stop (`plan_may_change`).
            if velocity.length_squared() < 0.01 {
                *velocity = Vec2::ZERO;
            }
        }
        *last = p;
    }
}

/// Despawns a few retired chunks; their mesh data is dropped on a pool thread rather than
/// freed here, where a row of large buffers returned to the OS at once costs a frame.
fn retire_some(
    commands: &mut Commands,
    index: &mut ChunkIndex,
    meshes: &mut Assets<Mesh>,
    shown_meshes: &Query<&Mesh3d>,
) {
    if index.retiring.is_empty() {
        return;
    }
    let n = RETIRE_PER_FRAME.max(index.retiring.len().div_ceil(10));
    let at = index.retiring.len().saturating_sub(n);
    let batch: Vec<Entity> = index.retiring.drain(at..).collect();
    let mut freed = Vec::with_capacity(batch.len());
    for e in batch {
        if let Ok(mesh) = shown_meshes.get(e)
            && let Some(data) = meshes.remove(mesh.id())
        {
            freed.push(data);
        }
        // The task component goes with the entity, which cancels it.
        if let Ok(mut chunk) = commands.get_entity(e) {
            chunk.try_despawn();
        }
    }
    if !freed.is_empty() {
        AsyncComputeTaskPool::get()
            .spawn(async move { drop(freed) })
            .detach();
    }
    index.stats_changed = true;
}

/// Priority of a chunk's work: lower runs first. Holes before detail changes, in view before
/// behind, near before far.
fn priority(state: &ChunkState) -> f32 {
    let hole = if state.shown.is_none() { 0.0 } else { 1.0e6 };
    let view = if state.in_view { 1.0 } else { 3.0 };
    hole + state.urgency * view
}

/// How far behind a frame rate of 60 the last frame was, between 1 and 16: the streaming limits
/// ([`StreamingConfig::max_tasks_in_flight`], [`StreamingConfig::apply_budget_ms`]) are meant
/// for a 60 fps frame and grow by this factor on slower ones, so a slow renderer (a software
/// rasteriser, a loading screen) still fills the world quickly. The added work stays the same
/// share of a frame, so it cannot slow frames down further.
pub fn catch_up_factor(frame_ms: f64) -> f64 {
    (frame_ms / (1000.0 / 60.0)).clamp(1.0, 16.0)
}

/// Whether [`dispatch_tasks`] may have something to start: a chunk's wanted work changed, or
/// the sampler or the settings did.
pub(crate) fn work_may_wait(
    index: Res<ChunkIndex>,
    sampler: Option<Res<TerrainSampler>>,
    settings: Res<TerrainSettings>,
) -> bool {
    index.work_changed || settings.is_changed() || sampler.is_some_and(|s| s.is_changed())
}

/// Starts generation for the most urgent chunks while task slots are free.
pub(crate) fn dispatch_tasks(
    mut commands: Commands,
    time: Res<Time<Real>>,
    world: Res<ActiveWorld>,
    sampler: Option<Res<TerrainSampler>>,
    settings: Res<TerrainSettings>,
    water: Option<Res<WaterMeshing>>,
    mut index: ResMut<ChunkIndex>,
    mut counters: ResMut<FrameCounters>,
    mut chunks: Query<(Entity, &mut ChunkState, Has<ChunkTask>, Has<ChunkReady>)>,
) {
    let with_water = water.is_some();
    let Some(sampler) = sampler else { return };
    if sampler.is_changed() || settings.is_changed() {
        index.work_changed = true;
    }
    if !index.work_changed {
        return;
    }
    let version = sampler.version();
    let mut max = world.config().streaming.max_tasks_in_flight as usize;
    if settings.mode == StreamingMode::Background {
        // Blocking mode generates on this thread: more work there would slow frames further.
        max = (max as f64 * catch_up_factor(time.delta_secs_f64() * 1000.0)).round() as usize;
    }

    let mut running = 0;
    let mut candidates: Vec<(f32, Entity)> = Vec::new();
    for (e, mut state, has_task, has_ready) in &mut chunks {
        if state.retired {
            if has_task {
                commands.entity(e).remove::<ChunkTask>();
                state.running = None;
            }
            continue;
        }
        let want = (state.want_step, version);
        if has_task {
            if state.running == Some(want) {
                running += 1;
                continue;
            }
            // Out of date (detail or world changed): cancel by dropping the task.
            commands.entity(e).remove::<ChunkTask>();
            state.running = None;
        }
        if state.shown != Some(want) && !(has_ready && state.running == Some(want)) {
            candidates.push((priority(&state), e));
        }
    }
    let free = max.saturating_sub(running);
    // Scan again next frame only while work is left waiting for a slot.
    index.work_changed = candidates.len() > free;
    index.stats_changed = true;
    if free == 0 || candidates.is_empty() {
        return;
    }
    if candidates.len() > free {
        candidates.select_nth_unstable_by(free - 1, |a, b| a.0.total_cmp(&b.0));
        candidates.truncate(free);
    }
    candidates.sort_by(|a, b| a.0.total_cmp(&b.0));

    let pool = AsyncComputeTaskPool::get();
    for (_, e) in candidates {
        let Ok((_, mut state, _, _)) = chunks.get_mut(e) else {
            continue;
        };
        let (coord, step) = (state.coord, state.want_step);
        state.running = Some((step, version));
        let generator: Arc<TerrainGenerator> = sampler.generator().clone();
        match settings.mode {
            StreamingMode::Background => {
                let task = pool.spawn(async move {
                    run_with_share(|| generate(&generator, coord, step, version, with_water))
                });
                commands.entity(e).insert(ChunkTask(task));
            }
            StreamingMode::Blocking => {
                let done = generate(&generator, coord, step, version, with_water);
                counters.record(done.generation_ms);
                commands.entity(e).insert(ChunkReady(Some(done)));
            }
        }
    }
}

/// Moves finished task results into [`ChunkReady`].
pub(crate) fn poll_tasks(
    mut commands: Commands,
    mut tasks: Query<(Entity, &mut ChunkTask)>,
    mut index: ResMut<ChunkIndex>,
    mut counters: ResMut<FrameCounters>,
) {
    for (e, mut task) in &mut tasks {
        if let Some(done) = check_ready(&mut task.0) {
            // A slot is free again.
            index.work_changed = true;
            index.stats_changed = true;
            counters.record(done.generation_ms);
            commands
                .entity(e)
                .remove::<ChunkTask>()
                .insert(ChunkReady(Some(done)));
        }
    }
}

/// Turns ready results into meshes, most urgent first, until the frame's budget is spent.
pub(crate) fn apply_chunks(
    mut commands: Commands,
    time: Res<Time<Real>>,
    world: Res<ActiveWorld>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut ready: Query<(
        Entity,
        &mut ChunkReady,
        &mut ChunkState,
        &mut TerrainChunk,
        &mut ChunkMeshBytes,
    )>,
    mut index: ResMut<ChunkIndex>,
    mut changes: ResMut<ChunkChanges>,
    mut counters: ResMut<FrameCounters>,
) {
    if ready.is_empty() {
        counters.apply_ms = 0.0;
        return;
    }
    // A result applied or found stale changes what the chunk still needs.
    index.work_changed = true;
    index.stats_changed = true;
    let start = Instant::now();
    let budget =
        world.config().streaming.apply_budget_ms * catch_up_factor(time.delta_secs_f64() * 1000.0);
    let mut order: Vec<(f32, Entity)> = ready
        .iter()
        .map(|(e, _, s, _, _)| (priority(s), e))
        .collect();
    order.sort_by(|a, b| a.0.total_cmp(&b.0));

    for (_, e) in order {
        if counters.applied > 0 && start.elapsed().as_secs_f64() * 1000.0 >= budget {
            break;
        }
        let Ok((_, mut result, mut state, mut chunk, mut bytes)) = ready.get_mut(e) else {
            continue;
        };
        commands.entity(e).remove::<ChunkReady>();
        let Some(done) = result.0.take() else {
            continue;
        };
        if state.retired {
            continue;
        }
        if state.running == Some((done.step, done.version)) {
            state.running = None;
        }
        // Once a chunk shows something, only a result for its current wanted detail and a world
        // version no older than the shown one may replace it.
        if let Some((_, shown_version)) = state.shown
            && (done.step != state.want_step || done.version < shown_version)
        {
            continue;
        }
        let handle = meshes.add(done.mesh);
        let mut entity = commands.entity(e);
        entity.insert(Mesh3d(handle));
        // The mesh lives only in the render world, so its bounds cannot be computed from it later.
        #[cfg(feature = "render")]
        entity.insert(bevy::camera::primitives::Aabb::from_min_max(
            Vec3::new(0.0, done.min_y, 0.0),
            Vec3::new(done.size, done.max_y, done.size),
        ));
        // The water goes and comes with the mesh it was built from.
        if let Some(old) = state.water.take()
            && let Ok(mut old) = commands.get_entity(old)
        {
            old.try_despawn();
        }
        if let Some(water) = done.water {
            let handle = meshes.add(water.mesh);
            let surface = commands
                .spawn((water.surface, Mesh3d(handle), ChildOf(e)))
                .id();
            // Render-world mesh: bounds given here, with room for the waves.
            #[cfg(feature = "render")]
            commands
                .entity(surface)
                .insert(bevy::camera::primitives::Aabb::from_min_max(
                    Vec3::new(0.0, water.levels.0 - WAVE_ROOM_M, 0.0),
                    Vec3::new(done.size, water.levels.1 + WAVE_ROOM_M, done.size),
                ));
            #[cfg(not(feature = "render"))]
            let _ = water.levels;
            state.water = Some(surface);
        }
        state.shown = Some((done.step, done.version));
        chunk.vertex_step = done.step;
        changes.0 += 1;
        bytes.0 = done.bytes;
        counters.applied += 1;
    }
    counters.apply_ms = start.elapsed().as_secs_f64() * 1000.0;
}

/// Work done this frame, gathered by the streaming systems and published by
/// [`update_stats`].
#[derive(Resource, Default)]
pub(crate) struct FrameCounters {
    finished: u64,
    generation_ms_total: f64,
    applied: u64,
    apply_ms: f64,
}

impl FrameCounters {
    fn record(&mut self, generation_ms: f64) {
        self.finished += 1;
        self.generation_ms_total += generation_ms;
    }
}

/// Whether [`update_stats`] has anything to do: a chunk changed state, the sampler changed, or
/// last frame's timings are still shown.
pub(crate) fn stats_may_change(
    index: Res<ChunkIndex>,
    sampler: Option<Res<TerrainSampler>>,
    stats: Res<TerrainStats>,
) -> bool {
    index.stats_changed
        || sampler.is_some_and(|s| s.is_changed())
        || stats.apply_ms != 0.0
        || stats.generation_ms != 0.0
}

/// Counts chunks by state into [`TerrainStats`] and resets the frame's counters.
pub(crate) fn update_stats(
    sampler: Option<Res<TerrainSampler>>,
    mut index: ResMut<ChunkIndex>,
    mut counters: ResMut<FrameCounters>,
    mut stats: ResMut<TerrainStats>,
    chunks: Query<(
        &ChunkState,
        &ChunkMeshBytes,
        Has<ChunkTask>,
        Has<ChunkReady>,
    )>,
) {
    let sampler_changed = sampler.as_ref().is_some_and(|s| s.is_changed());
    if !index.stats_changed && !sampler_changed {
        // Nothing moved between states: only this frame's timings reset.
        if stats.apply_ms != 0.0 || stats.generation_ms != 0.0 {
            stats.apply_ms = 0.0;
            stats.generation_ms = 0.0;
        }
        *counters = FrameCounters::default();
        return;
    }
    index.stats_changed = false;
    let version = sampler.map_or(0, |s| s.version());
    let mut s = TerrainStats {
        generated_total: stats.generated_total + counters.finished,
        applied_total: stats.applied_total + counters.applied,
        apply_ms: counters.apply_ms,
        generation_ms: if counters.finished > 0 {
            counters.generation_ms_total / counters.finished as f64
        } else {
            0.0
        },
        ..default()
    };
    for (state, bytes, has_task, has_ready) in &chunks {
        if state.retired {
            continue;
        }
        s.chunks += 1;
        if state.shown.is_some() {
            s.resident += 1;
            s.mesh_bytes += bytes.0;
        }
        if has_task {
            s.in_flight += 1;
        } else if has_ready {
            s.ready += 1;
        } else if state.shown != Some((state.want_step, version)) {
            s.pending += 1;
        }
    }
    stats.set_if_neq(s);
    *counters = FrameCounters::default();
}

#[cfg(test)]
mod tests {
    use super::catch_up_factor;

    #[test]
    fn catch_up_grows_with_slow_frames_within_bounds() {
        assert_eq!(catch_up_factor(1.0), 1.0);
        assert_eq!(catch_up_factor(1000.0 / 60.0), 1.0);
        assert!((catch_up_factor(100.0) - 6.0).abs() < 1e-9);
        assert_eq!(catch_up_factor(1000.0), 16.0);
        assert_eq!(catch_up_factor(f64::INFINITY), 16.0);
    }
}
