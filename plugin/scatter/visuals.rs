//! Meshes and materials for scattered objects (feature `render`; skipped in apps without PBR).
//!
//! Each (kind, variant) mesh of the objects with an entity of their own (trees, conifers,
//! boulders) is generated once and shared, and every object uses one material (colours are per
//! vertex), so Bevy batches all instances of a mesh into one draw. Bushes, rocks and grass come
//! as one mesh per chunk and layer, built off the frame thread. Grass gets its own double-sided
//! material and sways in the wind with trees ([`wind`](super::wind)). Objects fade out at
//! their layer's view distance through [`VisibilityRange`], a layer's mesh as a whole.

use bevy::asset::RenderAssetUsages;
use bevy::camera::primitives::Aabb;
use bevy::camera::visibility::VisibilityRange;
use bevy::ecs::system::SystemParam;
use bevy::light::NotShadowCaster;
use bevy::mesh::{Indices, PrimitiveTopology};
use bevy::platform::collections::HashMap;
use bevy::prelude::*;

use super::meshes::{OBJECT_MESH_SEED, ObjectMesh, object_mesh};
use super::wind::{WindExtension, WindMaterial, WindSettings};
use super::{ObjectKind, Placement};

/// The shared meshes and materials, made on first use.
#[derive(Resource, Default)]
pub(crate) struct ScatterMeshes {
    meshes: HashMap<(ObjectKind, u8), Handle<Mesh>>,
    solid: Option<Handle<StandardMaterial>>,
    grass: Option<Handle<WindMaterial>>,
    trees: Option<Handle<WindMaterial>>,
}

impl ScatterMeshes {
    /// The material of everything that does not sway, made on first use.
    fn solid_material(
        &mut self,
        materials: &mut Assets<StandardMaterial>,
    ) -> Handle<StandardMaterial> {
        self.solid
            .get_or_insert_with(|| materials.add(solid_base()))
            .clone()
    }
}

/// What dressing objects needs.
#[derive(SystemParam)]
pub(crate) struct VisualParams<'w> {
    meshes: Option<ResMut<'w, Assets<Mesh>>>,
    materials: Option<ResMut<'w, Assets<StandardMaterial>>>,
    wind_materials: Option<ResMut<'w, Assets<WindMaterial>>>,
    wind: Res<'w, WindSettings>,
    cache: ResMut<'w, ScatterMeshes>,
}

/// A Bevy mesh of `data`, kept in the main world too when `main_world` (so bounds are computed).
pub fn to_bevy_mesh(data: ObjectMesh, main_world: bool) -> Mesh {
    let usages = if main_world {
        RenderAssetUsages::default()
    } else {
        RenderAssetUsages::RENDER_WORLD
    };
    let mut mesh = Mesh::new(PrimitiveTopology::TriangleList, usages)
        .with_inserted_attribute(Mesh::ATTRIBUTE_POSITION, data.positions)
        .with_inserted_attribute(Mesh::ATTRIBUTE_NORMAL, data.normals)
        .with_inserted_attribute(Mesh::ATTRIBUTE_COLOR, data.colors)
        .with_inserted_indices(Indices::U32(data.indices));
    // The wind shader reads the sway from UV v.
    if !data.sway.is_empty() {
        let uvs: Vec<[f32; 2]> = data.sway.iter().map(|&s| [0.0, s]).collect();
        mesh.insert_attribute(Mesh::ATTRIBUTE_UV_0, uvs);
    }
    mesh
}

/// Sway by height for a tree: the square of the height over the top's, so the trunk's foot
/// stays put and the crown moves most.
fn tree_sway(mesh: &mut ObjectMesh) {
    let (_, hi) = mesh.bounds();
    let top = hi[1].max(1e-3);
    mesh.sway = mesh
        .positions
        .iter()
        .map(|p| (p[1] / top).clamp(0.0, 1.0).powi(2))
        .collect();
}

/// A material that sways `bend_m` at full sway, on `base`.
fn wind_material(base: StandardMaterial, wind: &WindSettings, bend_m: f32) -> WindMaterial {
    WindMaterial {
        base,
        extension: WindExtension {
            params: wind.uniform(bend_m),
        },
    }
}

/// The swaying material kept in `slot`, made on first use from `base`, bending `bend_m`.
fn shared_wind_material(
    slot: &mut Option<Handle<WindMaterial>>,
    materials: &mut Assets<WindMaterial>,
    base: StandardMaterial,
    wind: &WindSettings,
    bend_m: f32,
) -> Handle<WindMaterial> {
    slot.get_or_insert_with(|| materials.add(wind_material(base, wind, bend_m)))
        .clone()
}

fn solid_base() -> StandardMaterial {
    StandardMaterial {
        base_color: Color::WHITE,
        perceptual_roughness: 0.85,
        reflectance: 0.2,
        ..default()
    }
}

fn grass_base() -> StandardMaterial {
    StandardMaterial {
        base_color: Color::WHITE,
        perceptual_roughness: 0.9,
        reflectance: 0.1,
        double_sided: true,
        cull_mode: None,
        ..default()
    }
}

/// Carries [`WindSettings`] changes to the shared grass and tree materials.
pub(crate) fn update_wind(
    wind: Res<WindSettings>,
    cache: Res<ScatterMeshes>,
    materials: Option<ResMut<Assets<WindMaterial>>>,
) {
    let Some(mut materials) = materials.filter(|_| wind.is_changed()) else {
        return;
    };
    if let Some(mut m) = cache.grass.as_ref().and_then(|h| materials.get_mut(h)) {
        m.extension.params = wind.uniform(wind.grass_bend_m);
    }
    if let Some(mut m) = cache.trees.as_ref().and_then(|h| materials.get_mut(h)) {
        m.extension.params = wind.uniform(wind.tree_bend_m);
    }
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
        let (Some(meshes), Some(materials), Some(wind_materials)) = (
            self.meshes.as_mut(),
            self.materials.as_mut(),
            self.wind_materials.as_mut(),
        ) else {
            return;
        };
        let sways = p.kind.upright();
        let mesh = self
            .cache
            .meshes
            .entry((p.kind, p.variant))
            .or_insert_with(|| {
                let mut data = object_mesh(p.kind, p.variant, OBJECT_MESH_SEED);
                if sways {
                    tree_sway(&mut data);
                }
                meshes.add(to_bevy_mesh(data, true))
            })
            .clone();
        if sways {
            let material = shared_wind_material(
                &mut self.cache.trees,
                wind_materials,
                solid_base(),
                &self.wind,
                self.wind.tree_bend_m,
            );
            object.insert((Mesh3d(mesh), MeshMaterial3d(material), fade(view, false)));
            return;
        }
        let material = self.cache.solid_material(materials);
        object.insert((Mesh3d(mesh), MeshMaterial3d(material), fade(view, false)));
    }

    /// Gives the entity of a chunk's objects of one layer its mesh (positions relative to the
    /// chunk): grass sways in the wind and casts no shadow; bushes, rocks and far levels stand
    /// still.
    pub(crate) fn dress_layer(
        &mut self,
        object: &mut EntityCommands,
        kind: ObjectKind,
        far: bool,
        mesh: ObjectMesh,
        view: f32,
    ) {
        let (Some(meshes), Some(materials), Some(wind_materials)) = (
            self.meshes.as_mut(),
            self.materials.as_mut(),
            self.wind_materials.as_mut(),
        ) else {
            return;
        };
        let (mut lo, mut hi) = mesh.bounds();
        let grass = kind == ObjectKind::Grass && !far;
        if grass {
            // Room for the blades' bend.
            let reach = self.wind.grass_bend_m.abs().min(5.0);
            lo = [lo[0] - reach, lo[1] - reach, lo[2] - reach];
            hi = [hi[0] + reach, hi[1], hi[2] + reach];
        }
        // The mesh lives only in the render world, so its bounds are given here.
        let bounds = Aabb::from_min_max(Vec3::from_array(lo), Vec3::from_array(hi));
        let mesh = Mesh3d(meshes.add(to_bevy_mesh(mesh, false)));
        if grass {
            let material = shared_wind_material(
                &mut self.cache.grass,
                wind_materials,
                grass_base(),
                &self.wind,
                self.wind.grass_bend_m,
            );
            object.insert((
                mesh,
                MeshMaterial3d(material),
                bounds,
                fade(view, true),
                NotShadowCaster,
            ));
            return;
        }
        let material = self.cache.solid_material(materials);
        object.insert((mesh, MeshMaterial3d(material), bounds, fade(view, true)));
    }
}
