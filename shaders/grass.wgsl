// aigc_world wind: a vertex stage for Bevy's StandardMaterial (its fragment stage is Bevy's own).
//
// UV v (location 2) says how far a vertex may move: 0 at a grass blade's root, 1 at its tip (trees
// by their height). The vertex bends downwind by gusts that travel across the land with the wind,
// and flutters a little across it, from its world position and the time, so the base stays put
// and neighbouring tufts move together as a gust passes.

#import bevy_pbr::{
    mesh_functions,
    mesh_view_bindings::globals,
    view_transformations::position_world_to_clip,
    forward_io::{Vertex, VertexOutput},
}

struct Wind {
    // Unit (x, z) the wind blows towards.
    direction: vec2<f32>,
    // Bend of a fully swaying vertex in a full gust, metres.
    bend_m: f32,
    gust_speed: f32,
    gust_length_m: f32,
    // Share of the bend that flutters across the wind.
    flutter: f32,
}

@group(#{MATERIAL_BIND_GROUP}) @binding(100) var<uniform> wind: Wind;

const TAU: f32 = 6.28318530718;

// How far a vertex at world `xz` with sway `s` moves at time `t`.
fn wind_offset(xz: vec2<f32>, s: f32, t: f32) -> vec3<f32> {
    let along = dot(xz, wind.direction);
    // Gusts: broad waves travelling downwind, never quite still.
    let gust = 0.35 + 0.65 * (0.5 + 0.5 * sin(TAU * (along - wind.gust_speed * t) / wind.gust_length_m));
    // Flutter: quick, across the wind, out of step between neighbours.
    let flutter = sin(t * 4.7 + dot(xz, vec2<f32>(1.37, 2.11))) * wind.flutter;
    let across = vec2<f32>(-wind.direction.y, wind.direction.x);
    let bend = wind.bend_m * s * s;
    let sideways = wind.direction * (bend * gust) + across * (bend * flutter);
    // Bent tips dip a little, so blades do not stretch.
    let dip = 0.4 * length(sideways) * s;
    return vec3<f32>(sideways.x, -dip, sideways.y);
}

@vertex
fn vertex(vertex: Vertex) -> VertexOutput {
    var out: VertexOutput;
    let world_from_local = mesh_functions::get_world_from_local(vertex.instance_index);
    var world = mesh_functions::mesh_position_local_to_world(
        world_from_local,
        vec4<f32>(vertex.position, 1.0),
    );
#ifdef VERTEX_UVS_A
    let sway = clamp(vertex.uv.y, 0.0, 1.0);
#else
    let sway = 0.0;
#endif
    world = vec4<f32>(world.xyz + wind_offset(world.xz, sway, globals.time), 1.0);
    out.world_position = world;
    out.position = position_world_to_clip(world.xyz);
#ifdef VERTEX_NORMALS
    out.world_normal = mesh_functions::mesh_normal_local_to_world(vertex.normal, vertex.instance_index);
#endif
#ifdef VERTEX_UVS_A
    out.uv = vertex.uv;
#endif
#ifdef VERTEX_UVS_B
    out.uv_b = vertex.uv_b;
#endif
#ifdef VERTEX_TANGENTS
    out.world_tangent = mesh_functions::mesh_tangent_local_to_world(
        world_from_local,
        vertex.tangent,
        vertex.instance_index
    );
#endif
#ifdef VERTEX_COLORS
    out.color = vertex.color;
#endif
#ifdef VERTEX_OUTPUT_INSTANCE_INDEX
    out.instance_index = vertex.instance_index;
#endif
#ifdef VISIBILITY_RANGE_DITHER
    out.visibility_range_dither = mesh_functions::get_visibility_range_dither_level(
        vertex.instance_index,
        world_from_local[3],
    );
#endif
    return out;
}
