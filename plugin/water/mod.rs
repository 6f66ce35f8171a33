//! The sea and lakes: water surfaces that stream with the terrain chunks.
//!
//! | piece | what it is |
//! |---|---|
//! | [`mesh`] | the pure core: a chunk's heights, the sea level and the lake levels to the water mesh over it, with the depth at every vertex |
//! | [`lakes`] | the pure core of lakes: closed basins filled to their spill height, found per world cell (the world file's `lakes`) |
//! | [`WaterPlugin`] | the ECS shell: water meshes built beside each chunk's generation, [`WaterSurface`] children of their chunk, the material |
//! | `WaterMaterial` (feature `render`) | depth colour, shore foam, waves and fog in `shaders/water.wgsl` |
//!
//! With the plugin added, every chunk generation task also builds the water over the chunk from
//! the chunk's own heights, when some of its ground lies below the world file's `sea_level_m` or
//! under a lake; dry chunks get nothing. The water mesh is applied with its chunk,
//! within the chunk apply budget, as a child entity that goes with it (and is replaced when
//! the chunk changes its level of detail). Waves move in the shader: the frame thread does no
//! work per water chunk.

pub mod lakes;
#[cfg(feature = "render")]
mod material;
pub mod mesh;

use bevy::asset::RenderAssetUsages;
use bevy::mesh::{Indices, MeshVertexAttribute, PrimitiveTopology, VertexFormat};
use bevy::prelude::*;

use crate::AigcWorldUpdate;

#[cfg(feature = "render")]
pub use material::{
    WATER_SHADER, WaterExtension, WaterMaterial, WaterMaterialUniform, WaterSettings,
};
pub use mesh::{WaterMeshData, water_mesh};

/// Per-vertex water depth in metres, sea level minus the ground (`f32` at shader location 8 in
/// the water material).
pub const ATTRIBUTE_WATER_DEPTH: MeshVertexAttribute =
    MeshVertexAttribute::new("WaterDepth", 1_732_050_807, VertexFormat::Float32);

/// Draws the sea over terrain chunks whose ground dips below the world's sea level.
#[derive(Clone, Debug, Default)]
pub struct WaterPlugin;

impl Plugin for WaterPlugin {
    fn build(&self, app: &mut App) {
        crate::configure_sets(app);
        app.insert_resource(WaterMeshing).configure_sets(
            AigcWorldUpdate,
            WaterSystems::Material
                .after(crate::AigcWorldSystems::Apply)
                .before(crate::AigcWorldSystems::Npcs),
        );
        #[cfg(feature = "render")]
        material::build(app);
    }
}

/// Where water's systems run in [`AigcWorldUpdate`].
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WaterSystems {
    /// After [`AigcWorldSystems::Apply`](crate::AigcWorldSystems::Apply) (which spawns the
    /// water with its chunk) and before [`AigcWorldSystems::Npcs`](crate::AigcWorldSystems::Npcs):
    /// new water surfaces get the shared material, and `WaterSettings` changes reach it.
    Material,
}

/// Present while water meshes are wanted: chunk generation tasks build them only then.
#[derive(Resource, Clone, Copy, Debug, Default)]
pub(crate) struct WaterMeshing;

/// The water over one terrain chunk: a child of the chunk entity, despawned with it. Read it,
/// don't write it.
#[derive(Component, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "render", require(Transform, Visibility))]
#[cfg_attr(not(feature = "render"), require(Transform))]
pub struct WaterSurface {
    /// Deepest water under it, metres.
    pub max_depth: f32,
    /// Vertices of its mesh.
    pub vertices: u32,
}

/// Converts water buffers into a Bevy [`Mesh`]: positions, up normals and
/// [`ATTRIBUTE_WATER_DEPTH`]. The renderer keeps the only copy (apps without one keep it in the
/// main world, where tests read it).
pub fn water_mesh_to_bevy(data: WaterMeshData) -> Mesh {
    let normals = vec![[0.0, 1.0, 0.0]; data.positions.len()];
    Mesh::new(
        PrimitiveTopology::TriangleList,
        RenderAssetUsages::RENDER_WORLD,
    )
    .with_inserted_attribute(Mesh::ATTRIBUTE_POSITION, data.positions)
    .with_inserted_attribute(Mesh::ATTRIBUTE_NORMAL, normals)
    .with_inserted_attribute(ATTRIBUTE_WATER_DEPTH, data.depths)
    .with_inserted_indices(Indices::U32(data.indices))
}
