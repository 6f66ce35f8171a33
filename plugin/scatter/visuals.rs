//! Meshes and materials for scattered objects (feature `render`; skipped in apps without PBR).
//!
//! Each (kind, variant) mesh is generated once and shared, and every object uses one material
//! (colours are per vertex), so Bevy batches all instances of a mesh into one draw. Grass gets
//! its own double-sided material and one mesh per chunk. Objects fade out at their layer's view
//! distance through [`VisibilityRange`].

use bevy::asset::RenderAssetUsages;
use bevy::camera::primitives::Aabb;
use bevy::camera::visibility::VisibilityRange;
use bevy::ecs::system::SystemParam;
use bevy::light::NotShadowCaster;
use bevy::mesh::{Indices, PrimitiveTopology};
use bevy::platform::collections::HashMap;
use bevy::prelude::*;

use super::meshes::{ObjectMesh, object_mesh};
use super::{ObjectKind, Placement};

/// Seed of the shared object meshes (independent of the world, so they outlive world edits).
const MESH_SEED: u64 = 0x7ee5;

/// The shared meshes and materials, made on first use.
#[derive(Resource, Default)]
pub(crate) struct ScatterMeshes {
    meshes: HashMap<(ObjectKind, u8), Handle<Mesh>>,
    solid: Option<Handle<StandardMaterial>>,
    grass: Option<Handle<StandardMaterial>>,
}

/// What dressing objects needs.
#[derive(SystemParam)]
pub(crate) struct VisualParams<'w> {
    meshes: Option<ResMut<'w, Assets<Mesh>>>,
    materials: Option<ResMut<'w, Assets<StandardMaterial>>>,
    cache: ResMut<'w, ScatterMeshes>,
}

/// A Bevy mesh of `data`, kept in the main world too when `main_world` (so bounds are computed).
pub fn to_bevy_mesh(data: ObjectMesh, main_world: bool) -> Mesh {
    let usages = if main_world {
        RenderAssetUsages::default()
    } else {
        RenderAssetUsages::RENDER_WORLD
    };
    Mesh::new(PrimitiveTopology::TriangleList, usages)
        .with_inserted_attribute(Mesh::ATTRIBUTE_POSITION, data.positions)
        .with_inserted_attribute(Mesh::ATTRIBUTE_NORMAL, data.normals)
        .with_inserted_attribute(Mesh::ATTRIBUTE_COLOR, data.colors)
        .with_inserted_indices(Indices::U32(data.indices))
}

/// Fades out over the last tenth of `view`.
fn fade(view: f32, use_aabb: bool) -> VisibilityRange {
    VisibilityRange {
        start_margin: 0.0..0.0,
        end_margin: view * 0.9..view,
        use_aabb,
    }
}

impl VisualParams<'_> {
    /// Gives object `p` its shared mesh and material.
    pub(crate) fn dress(&mut self, object: &mut EntityCommands, p: &Placement, view: f32) {
        let (Some(meshes), Some(materials)) = (self.meshes.as_mut(), self.materials.as_mut())
        else {
            return;
        };
        let mesh = self
            .cache
            .meshes
            .entry((p.kind, p.variant))
            .or_insert_with(|| {
                meshes.add(to_bevy_mesh(
                    object_mesh(p.kind, p.variant, MESH_SEED),
                    true,
                ))
            })
            .clone();
        let material = self
            .cache
            .solid
            .get_or_insert_with(|| {
                materials.add(StandardMaterial {
                    base_color: Color::WHITE,
                    perceptual_roughness: 0.85,
                    reflectance: 0.2,
                    ..default()
                })
            })
            .clone();
        object.insert((Mesh3d(mesh), MeshMaterial3d(material), fade(view, false)));
    }

    /// Gives a chunk's grass entity its mesh (positions relative to the chunk).
    pub(crate) fn dress_grass(
        &mut self,
        object: &mut EntityCommands,
        grass: ObjectMesh,
        view: f32,
    ) {
        let (Some(meshes), Some(materials)) = (self.meshes.as_mut(), self.materials.as_mut())
        else {
            return;
        };
        let (lo, hi) = grass.bounds();
        let mesh = meshes.add(to_bevy_mesh(grass, false));
        let material = self
            .cache
            .grass
            .get_or_insert_with(|| {
                materials.add(StandardMaterial {
                    base_color: Color::WHITE,
                    perceptual_roughness: 0.9,
                    reflectance: 0.1,
                    double_sided: true,
                    cull_mode: None,
                    ..default()
                })
            })
            .clone();
        object.insert((
            Mesh3d(mesh),
            MeshMaterial3d(material),
            // The mesh lives only in the render world, so its bounds are given here.
            Aabb::from_min_max(Vec3::from_array(lo), Vec3::from_array(hi)),
            fade(view, true),
            NotShadowCaster,
        ));
    }
}
