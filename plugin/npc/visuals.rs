//! Capsules for NPCs, coloured by culture (feature `render`; skipped in apps without PBR).

use bevy::platform::collections::HashMap;
use bevy::prelude::*;

use super::{ActiveNpcConfig, Npc};

/// Height of an NPC capsule in metres (feet at the entity's origin).
pub const NPC_HEIGHT_M: f32 = 1.8;

/// Shared capsule mesh and one material per culture.
#[derive(Default)]
pub(crate) struct NpcVisuals {
    mesh: Option<Handle<Mesh>>,
    materials: HashMap<String, Handle<StandardMaterial>>,
    version: u64,
}

/// Gives new NPCs a capsule mesh in their culture's colour.
pub(crate) fn add_npc_visuals(
    mut commands: Commands,
    new: Query<(Entity, &Npc), Added<Npc>>,
    rules: Res<ActiveNpcConfig>,
    meshes: Option<ResMut<Assets<Mesh>>>,
    materials: Option<ResMut<Assets<StandardMaterial>>>,
    mut visuals: Local<NpcVisuals>,
) {
    let (Some(mut meshes), Some(mut materials)) = (meshes, materials) else {
        return;
    };
    if new.is_empty() {
        return;
    }
    if visuals.version != rules.version() {
        visuals.materials.clear();
        visuals.version = rules.version();
    }
    let radius = 0.35;
    let mesh = visuals
        .mesh
        .get_or_insert_with(|| {
            let capsule = Capsule3d::new(radius, NPC_HEIGHT_M - 2.0 * radius);
            meshes.add(Mesh::from(capsule).translated_by(Vec3::Y * NPC_HEIGHT_M * 0.5))
        })
        .clone();
    for (e, npc) in &new {
        let culture = &npc.persona.culture;
        let material = match visuals.materials.get(culture) {
            Some(m) => m.clone(),
            None => {
                let (r, g, b) = rules
                    .config()
                    .cultures
                    .get(culture)
                    .map_or((0.6, 0.6, 0.6), |c| c.color);
                let m = materials.add(StandardMaterial {
                    base_color: Color::linear_rgb(r, g, b),
                    perceptual_roughness: 0.7,
                    ..default()
                });
                visuals.materials.insert(culture.clone(), m.clone());
                m
            }
        };
        commands
            .entity(e)
            .insert((Mesh3d(mesh.clone()), MeshMaterial3d(material)));
    }
}
