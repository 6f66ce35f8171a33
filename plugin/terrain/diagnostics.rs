//! Streaming numbers in Bevy's [`DiagnosticsStore`](bevy::diagnostic::DiagnosticsStore).

use bevy::diagnostic::{Diagnostic, DiagnosticPath, Diagnostics, RegisterDiagnostic};
use bevy::prelude::*;

use super::TerrainStats;
use super::streaming::{FrameCounters, stats_may_change, update_stats};
use crate::{AigcWorldSystems, AigcWorldUpdate};

/// Paths of the terrain diagnostics.
pub struct TerrainDiagnostics;

impl TerrainDiagnostics {
    /// Chunks showing a mesh.
    pub const CHUNKS_RESIDENT: DiagnosticPath =
        DiagnosticPath::const_new("aigc_world/chunks_resident");
    /// Chunks waiting for a generation slot.
    pub const CHUNKS_PENDING: DiagnosticPath =
        DiagnosticPath::const_new("aigc_world/chunks_pending");
    /// Generation tasks running.
    pub const CHUNKS_IN_FLIGHT: DiagnosticPath =
        DiagnosticPath::const_new("aigc_world/chunks_in_flight");
    /// Mean milliseconds to generate one chunk (measured inside the task), per frame with results.
    pub const GENERATION_MS: DiagnosticPath = DiagnosticPath::const_new("aigc_world/generation_ms");
    /// Main-thread milliseconds spent applying finished chunks this frame.
    pub const APPLY_MS: DiagnosticPath = DiagnosticPath::const_new("aigc_world/apply_ms");
    /// Megabytes of vertex and index data in shown chunk meshes.
    pub const MESH_MB: DiagnosticPath = DiagnosticPath::const_new("aigc_world/mesh_mb");
}

pub(super) struct TerrainDiagnosticsPlugin;

impl Plugin for TerrainDiagnosticsPlugin {
    fn build(&self, app: &mut App) {
        for (path, suffix) in [
            (TerrainDiagnostics::CHUNKS_RESIDENT, ""),
            (TerrainDiagnostics::CHUNKS_PENDING, ""),
            (TerrainDiagnostics::CHUNKS_IN_FLIGHT, ""),
            (TerrainDiagnostics::GENERATION_MS, " ms"),
            (TerrainDiagnostics::APPLY_MS, " ms"),
            (TerrainDiagnostics::MESH_MB, " MB"),
        ] {
            app.register_diagnostic(Diagnostic::new(path).with_suffix(suffix));
        }
        app.init_resource::<FrameCounters>().add_systems(
            AigcWorldUpdate,
            (
                update_stats.run_if(stats_may_change),
                publish.run_if(resource_changed::<TerrainStats>),
            )
                .chain()
                .in_set(AigcWorldSystems::Diagnostics),
        );
    }
}

/// Publishes the counts when they change (a world at rest adds no measurements).
fn publish(stats: Res<TerrainStats>, mut diagnostics: Diagnostics) {
    diagnostics.add_measurement(&TerrainDiagnostics::CHUNKS_RESIDENT, || {
        stats.resident as f64
    });
    diagnostics.add_measurement(&TerrainDiagnostics::CHUNKS_PENDING, || stats.pending as f64);
    diagnostics.add_measurement(&TerrainDiagnostics::CHUNKS_IN_FLIGHT, || {
        stats.in_flight as f64
    });
    if stats.generation_ms > 0.0 {
        diagnostics.add_measurement(&TerrainDiagnostics::GENERATION_MS, || stats.generation_ms);
    }
    diagnostics.add_measurement(&TerrainDiagnostics::APPLY_MS, || stats.apply_ms);
    diagnostics.add_measurement(&TerrainDiagnostics::MESH_MB, || {
        stats.mesh_bytes as f64 / (1024.0 * 1024.0)
    });
}
