//! A chunk's objects of one layer as one mesh: the kinds drawn per chunk (bushes, rocks,
//! grass) and the far level of the others, built on the placement task so that many small or
//! distant objects cost one entity, not one each.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use bevy::math::{Quat, Vec3};

use super::meshes::{
    MAX_VARIANTS, OBJECT_MESH_SEED, ObjectMesh, far_object_mesh, object_mesh, tuft,
};
use super::place::Placement;
use super::rules::ObjectKind;
use crate::npc::rng::Rng;

/// The objects of `layer` in `placements` (others are skipped) as one mesh, positions relative
/// to world `origin` (x, z): what a chunk draws for a layer of a kind
/// [drawn per chunk](ObjectKind::drawn_per_chunk). Grass tufts are grown in place; other kinds
/// copy their [`OBJECT_MESH_SEED`] variant turned, tilted and scaled as the placement says,
/// exactly as an object of its own would stand.
pub fn layer_mesh(placements: &[Placement], layer: u16, origin: [f64; 2]) -> ObjectMesh {
    merged_mesh(placements, layer, origin, false)
}

/// The objects of `layer` in `placements` at their far level ([`far_object_mesh`]) as one mesh,
/// positions relative to world `origin` (x, z): what a chunk past the layer's detail distance
/// draws instead of an entity per object.
pub fn far_layer_mesh(placements: &[Placement], layer: u16, origin: [f64; 2]) -> ObjectMesh {
    merged_mesh(placements, layer, origin, true)
}

/// Variant `variant` of `kind` ([`object_mesh`], or [`far_object_mesh`] when `far`), built once
/// per process and shared by every chunk's placement task: a far tree grows its full tree
/// first, and each chunk would otherwise build the same few variants again. At most
/// `2 x kinds x MAX_VARIANTS` entries.
pub fn shared_variant(kind: ObjectKind, variant: u8, far: bool) -> Arc<ObjectMesh> {
    type Cache = Mutex<HashMap<(ObjectKind, u8, bool), Arc<ObjectMesh>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let variant = variant.min(MAX_VARIANTS - 1);
    let key = (kind, variant, far);
    let cache = CACHE.get_or_init(Cache::default);
    if let Some(mesh) = cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return mesh;
    }
    // Built outside the lock; two tasks racing build the same value and one is kept.
    let build = if far { far_object_mesh } else { object_mesh };
    let mesh = Arc::new(build(kind, variant, OBJECT_MESH_SEED));
    match cache.lock() {
        Ok(mut c) => c.entry(key).or_insert(mesh).clone(),
        Err(_) => mesh,
    }
}

fn merged_mesh(placements: &[Placement], layer: u16, origin: [f64; 2], far: bool) -> ObjectMesh {
    let mut mesh = ObjectMesh::default();
    for p in placements.iter().filter(|p| p.layer == layer) {
        let local = Vec3::new(
            (f64::from(p.position[0]) - origin[0]) as f32,
            p.position[1],
            (f64::from(p.position[2]) - origin[1]) as f32,
        );
        let turn =
            Quat::from_rotation_arc(Vec3::Y, Vec3::from_array(p.up)) * Quat::from_rotation_y(p.yaw);
        if p.kind == ObjectKind::Grass {
            let mut rng = Rng::new(&[p.id, 0x6a55]);
            tuft(&mut mesh, &mut rng, local, turn, p.scale);
            continue;
        }
        let source = shared_variant(p.kind, p.variant, far);
        append_placed(&mut mesh, &source, local, turn, p.scale);
    }
    mesh
}

/// Appends `source` to `mesh`, scaled by `scale`, turned by `turn` and moved to `at`.
fn append_placed(mesh: &mut ObjectMesh, source: &ObjectMesh, at: Vec3, turn: Quat, scale: f32) {
    let base = mesh.positions.len() as u32;
    mesh.positions.extend(
        source
            .positions
            .iter()
            .map(|&p| (at + turn * (Vec3::from_array(p) * scale)).to_array()),
    );
    mesh.normals.extend(
        source
            .normals
            .iter()
            .map(|&n| (turn * Vec3::from_array(n)).to_array()),
    );
    mesh.colors.extend_from_slice(&source.colors);
    mesh.indices
        .extend(source.indices.iter().map(|&i| base + i));
    if !source.sway.is_empty() || !mesh.sway.is_empty() {
        // Keep one sway per vertex when either side sways.
        mesh.sway.resize(base as usize, 0.0);
        if source.sway.is_empty() {
            mesh.sway.resize(mesh.positions.len(), 0.0);
        } else {
            mesh.sway.extend_from_slice(&source.sway);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_variants_are_built_once_and_equal_fresh_ones() {
        for far in [false, true] {
            let a = shared_variant(ObjectKind::Tree, 2, far);
            let b = shared_variant(ObjectKind::Tree, 2, far);
            assert!(Arc::ptr_eq(&a, &b), "far {far}: built again");
            let fresh = if far {
                far_object_mesh(ObjectKind::Tree, 2, OBJECT_MESH_SEED)
            } else {
                object_mesh(ObjectKind::Tree, 2, OBJECT_MESH_SEED)
            };
            assert_eq!(*a, fresh);
        }
        assert!(!Arc::ptr_eq(
            &shared_variant(ObjectKind::Tree, 2, false),
            &shared_variant(ObjectKind::Tree, 2, true)
        ));
    }

    #[test]
    fn grass_blades_sway_at_the_tip_and_stay_rooted() {
        let p = Placement {
            id: 9,
            layer: 0,
            kind: ObjectKind::Grass,
            variant: 0,
            position: [3.0, 1.0, 4.0],
            up: [0.0, 1.0, 0.0],
            yaw: 0.3,
            scale: 1.0,
        };
        let m = layer_mesh(&[p], 0, [0.0, 0.0]);
        assert_eq!(m.sway.len(), m.vertex_count());
        for (pos, s) in m.positions.iter().zip(&m.sway) {
            // Roots (at the ground) stay put, tips (above it) move fully.
            if *s == 0.0 {
                assert!((pos[1] - 1.0).abs() < 1e-4, "{pos:?}");
            } else {
                assert_eq!(*s, 1.0);
                assert!(pos[1] > 1.1, "{pos:?}");
            }
        }
        assert!(m.sway.contains(&0.0) && m.sway.contains(&1.0));
    }

    #[test]
    fn a_layer_mesh_puts_each_object_where_its_own_entity_would_stand() {
        let rock = |id, layer, position: [f32; 3], up: [f32; 3], yaw, scale| Placement {
            id,
            layer,
            kind: ObjectKind::Rock,
            variant: (id % 3) as u8,
            position,
            up,
            yaw,
            scale,
        };
        let tilted = Vec3::new(0.3, 1.0, -0.2).normalize().to_array();
        let placements = [
            rock(1, 2, [70.0, 12.5, 130.0], [0.0, 1.0, 0.0], 0.4, 1.2),
            rock(2, 5, [75.0, 9.0, 140.0], tilted, 1.0, 1.0),
            rock(4, 2, [100.0, 3.0, 150.0], tilted, 2.5, 0.6),
        ];
        let origin = [64.0, 128.0];
        let merged = layer_mesh(&placements, 2, origin);
        // Only layer 2's two rocks, each its variant placed by the object transform.
        let mut expected = ObjectMesh::default();
        for p in placements.iter().filter(|p| p.layer == 2) {
            let source = object_mesh(p.kind, p.variant, OBJECT_MESH_SEED);
            let turn = Quat::from_rotation_arc(Vec3::Y, Vec3::from_array(p.up))
                * Quat::from_rotation_y(p.yaw);
            let at = Vec3::new(
                p.position[0] - origin[0] as f32,
                p.position[1],
                p.position[2] - origin[1] as f32,
            );
            let base = expected.positions.len() as u32;
            for (q, n) in source.positions.iter().zip(&source.normals) {
                let q = at + turn * (Vec3::from_array(*q) * p.scale);
                expected.positions.push(q.to_array());
                expected
                    .normals
                    .push((turn * Vec3::from_array(*n)).to_array());
            }
            expected.colors.extend_from_slice(&source.colors);
            expected
                .indices
                .extend(source.indices.iter().map(|i| base + i));
        }
        assert_eq!(merged.vertex_count(), expected.vertex_count());
        assert_eq!(merged.indices, expected.indices);
        assert_eq!(merged.colors, expected.colors);
        assert!(merged.sway.is_empty());
        for (a, b) in merged.positions.iter().zip(&expected.positions) {
            assert!(
                Vec3::from_array(*a).distance(Vec3::from_array(*b)) < 1e-4,
                "{a:?} {b:?}"
            );
        }
        for (a, b) in merged.normals.iter().zip(&expected.normals) {
            assert!(
                Vec3::from_array(*a).distance(Vec3::from_array(*b)) < 1e-5,
                "{a:?} {b:?}"
            );
        }
        assert_eq!(layer_mesh(&placements, 3, origin), ObjectMesh::default());
    }
}
