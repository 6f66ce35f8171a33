//! What the renderer draws each frame: draw calls and scatter instances (feature `render`).
//!
//! Bevy 0.19.1's `RenderDiagnosticsPlugin` records pass times and pipeline statistics (shader
//! invocations, primitives), not draw calls, so [`DrawStatsPlugin`] counts them from the render
//! phases the way the render passes walk them: a multi-draw batch set, a batchable bin, an
//! unbatchable entity and a non-mesh item are one draw command each in binned phases (opaque,
//! alpha mask, prepass, deferred, shadow), and a batch is one draw in sorted phases (transparent,
//! transmissive). Shadow-map views are counted too, and also on their own. The count is taken in
//! the render world after batching and read by the main world one frame later.
//!
//! Scatter instances are the trees, bushes, rocks and grass tufts (see
//! [`ScatterObject::instances`]) on the entities the cameras see after visibility culling
//! (frustum and [`VisibilityRange`](bevy::camera::visibility::VisibilityRange)).
//!
//! The Stats panel and the sandbox's `--bench` line both read [`DrawStats`].

use std::any::TypeId;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use bevy::camera::visibility::{VisibilitySystems, VisibleEntities};
use bevy::core_pipeline::core_3d::{AlphaMask3d, Opaque3d, Transparent3d};
use bevy::core_pipeline::deferred::{AlphaMask3dDeferred, Opaque3dDeferred};
use bevy::core_pipeline::prepass::{AlphaMask3dPrepass, Opaque3dPrepass};
use bevy::pbr::{Shadow, Transmissive3d};
use bevy::prelude::*;
use bevy::render::render_phase::{
    BinnedPhaseItem, SortedPhaseItem, ViewBinnedRenderPhases, ViewSortedRenderPhases,
};
use bevy::render::{Render, RenderApp, RenderSystems};

use crate::scatter::ScatterObject;

/// Draw calls and visible scatter instances, updated every frame.
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DrawStats {
    /// Draw commands the render passes recorded in the latest rendered frame (one frame behind
    /// the main world with pipelined rendering), shadow maps included.
    pub draw_calls: u32,
    /// The part of [`draw_calls`](Self::draw_calls) that drew shadow maps.
    pub shadow_draw_calls: u32,
    /// Scatter instances (objects and grass tufts) on entities some camera sees this frame.
    pub instances: u64,
    /// Rendered frames counted so far (0 until the render world has counted one).
    pub frames: u64,
}

/// Counts that the render world writes and the main world reads.
#[derive(Resource, Clone, Default)]
struct SharedCounts(Arc<Counts>);

#[derive(Default)]
struct Counts {
    draw_calls: AtomicU32,
    shadow_draw_calls: AtomicU32,
    frames: AtomicU64,
}

/// Keeps [`DrawStats`] current. In [`AigcWorldPlugin`](crate::AigcWorldPlugin) (feature
/// `render`); without a render app (headless servers, tests) only the instances are counted.
pub struct DrawStatsPlugin;

impl Plugin for DrawStatsPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<DrawStats>()
            .init_resource::<SharedCounts>()
            .add_systems(
                PostUpdate,
                count_instances
                    .run_if(any_with_component::<Camera>)
                    .after(VisibilitySystems::CheckVisibility),
            );
    }

    fn finish(&self, app: &mut App) {
        let shared = app.world().resource::<SharedCounts>().clone();
        // Headless apps draw nothing: no render world to count in, nothing to read back.
        let Some(render_app) = app.get_sub_app_mut(RenderApp) else {
            return;
        };
        render_app.insert_resource(shared).add_systems(
            Render,
            count_draw_calls
                .after(RenderSystems::PrepareResourcesFlush)
                .before(RenderSystems::Render),
        );
        app.add_systems(First, read_draw_calls);
    }
}

/// Copies the render world's latest counts into [`DrawStats`].
fn read_draw_calls(shared: Res<SharedCounts>, mut stats: ResMut<DrawStats>) {
    let counts = &shared.0;
    let new = DrawStats {
        draw_calls: counts.draw_calls.load(Ordering::Acquire),
        shadow_draw_calls: counts.shadow_draw_calls.load(Ordering::Acquire),
        frames: counts.frames.load(Ordering::Acquire),
        ..*stats
    };
    stats.set_if_neq(new);
}

/// Sums the instances of the scatter entities that cameras see.
fn count_instances(
    views: Query<(&Camera, &VisibleEntities)>,
    objects: Query<&ScatterObject>,
    mut stats: ResMut<DrawStats>,
) {
    let mesh = TypeId::of::<Mesh3d>();
    let instances = views
        .iter()
        .filter(|(camera, _)| camera.is_active)
        .flat_map(|(_, visible)| visible.iter(mesh))
        .filter_map(|&e| objects.get(e).ok())
        .map(|o| u64::from(o.instances))
        .sum();
    if stats.instances != instances {
        stats.instances = instances;
    }
}

/// What the main views' and the shadow views' phases hold this frame.
#[derive(bevy::ecs::system::SystemParam)]
struct Phases<'w> {
    opaque: Option<Res<'w, ViewBinnedRenderPhases<Opaque3d>>>,
    alpha_mask: Option<Res<'w, ViewBinnedRenderPhases<AlphaMask3d>>>,
    opaque_prepass: Option<Res<'w, ViewBinnedRenderPhases<Opaque3dPrepass>>>,
    alpha_mask_prepass: Option<Res<'w, ViewBinnedRenderPhases<AlphaMask3dPrepass>>>,
    opaque_deferred: Option<Res<'w, ViewBinnedRenderPhases<Opaque3dDeferred>>>,
    alpha_mask_deferred: Option<Res<'w, ViewBinnedRenderPhases<AlphaMask3dDeferred>>>,
    transmissive: Option<Res<'w, ViewSortedRenderPhases<Transmissive3d>>>,
    transparent: Option<Res<'w, ViewSortedRenderPhases<Transparent3d>>>,
    shadow: Option<Res<'w, ViewBinnedRenderPhases<Shadow>>>,
}

fn count_draw_calls(phases: Phases, shared: Res<SharedCounts>) {
    let main = binned(&phases.opaque)
        + binned(&phases.alpha_mask)
        + binned(&phases.opaque_prepass)
        + binned(&phases.alpha_mask_prepass)
        + binned(&phases.opaque_deferred)
        + binned(&phases.alpha_mask_deferred)
        + sorted(&phases.transmissive)
        + sorted(&phases.transparent);
    let shadow = binned(&phases.shadow);
    let counts = &shared.0;
    counts.draw_calls.store(main + shadow, Ordering::Release);
    counts.shadow_draw_calls.store(shadow, Ordering::Release);
    counts.frames.fetch_add(1, Ordering::AcqRel);
}

/// Draw commands of a binned phase over all views, as `BinnedRenderPhase::render` issues them.
fn binned<I: BinnedPhaseItem>(phases: &Option<Res<ViewBinnedRenderPhases<I>>>) -> u32 {
    let Some(phases) = phases else { return 0 };
    let total: usize = phases
        .values()
        .map(|phase| {
            phase.multidrawable_meshes.len()
                + phase.batchable_meshes.len()
                + phase
                    .unbatchable_meshes
                    .values()
                    .map(|u| u.entities.len())
                    .sum::<usize>()
                + phase
                    .non_mesh_items
                    .values()
                    .map(|n| n.entities.len())
                    .sum::<usize>()
        })
        .sum();
    u32::try_from(total).unwrap_or(u32::MAX)
}

/// Draw commands of a sorted phase over all views, as `SortedRenderPhase::render` issues them.
fn sorted<I: SortedPhaseItem>(phases: &Option<Res<ViewSortedRenderPhases<I>>>) -> u32 {
    let Some(phases) = phases else { return 0 };
    let total: usize = phases
        .values()
        .map(|phase| sorted_draws(phase.items.values().map(|i| i.batch_range().len())))
        .sum();
    u32::try_from(total).unwrap_or(u32::MAX)
}

/// Draws for items with these batch lengths: an item with a batch of n draws once and covers the
/// n - 1 items after it; an empty batch draws nothing.
fn sorted_draws(batch_lengths: impl Iterator<Item = usize>) -> usize {
    let mut draws = 0;
    let mut covered = 0usize;
    for len in batch_lengths {
        if covered > 0 {
            covered -= 1;
            continue;
        }
        if len > 0 {
            draws += 1;
            covered = len - 1;
        }
    }
    draws
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sorted_batch_draws_once_and_skips_what_it_covers() {
        assert_eq!(sorted_draws([].into_iter()), 0);
        assert_eq!(sorted_draws([1, 1, 1].into_iter()), 3);
        // One batch of three, then a single item.
        assert_eq!(sorted_draws([3, 0, 0, 1].into_iter()), 2);
        // Empty batches draw nothing.
        assert_eq!(sorted_draws([0, 0, 2, 0].into_iter()), 1);
    }
}
