// aigc_world water material: an extension of Bevy's StandardMaterial (alpha blended).
//
// Each vertex carries the water depth under it (location 8: sea level minus the ground, negative
// on the dry corners of shore quads). The vertex stage lifts the surface by a few travelling
// sines of world position and time, fading them out towards the shore; the fragment stage takes
// the waves' normals (plus finer ripples), colours the water by depth (clear turquoise shallows to
// deep blue), lays foam where the depth nears zero, and hands the result to Bevy's PBR lighting
// and distance fog, so the sea fades into the same horizon as the terrain.

#import bevy_pbr::{
    mesh_functions,
    mesh_view_bindings::globals,
    view_transformations::position_world_to_clip,
    forward_io::{VertexOutput, FragmentOutput},
    pbr_fragment::pbr_input_from_standard_material,
    pbr_functions::{apply_pbr_lighting, main_pass_post_lighting_processing},
}

struct WaterMaterial {
    // Linear RGB (alpha unused).
    shallow_color: vec4<f32>,
    deep_color: vec4<f32>,
    foam_color: vec4<f32>,
    // Depth (metres) at which the water is mostly the deep colour.
    deep_at_m: f32,
    // The shore foams where the water is shallower than this (metres).
    foam_depth_m: f32,
    // Largest wave: height and length in metres, speed in metres per second.
    wave_height_m: f32,
    wave_length_m: f32,
    wave_speed: f32,
    // Opacity of the shallowest water.
    shallow_opacity: f32,
}

@group(#{MATERIAL_BIND_GROUP}) @binding(100) var<uniform> water: WaterMaterial;

const TAU: f32 = 6.28318530718;

struct WaterVertex {
    @builtin(instance_index) instance_index: u32,
    @location(0) position: vec3<f32>,
    @location(1) normal: vec3<f32>,
    @location(8) depth: f32,
};

// Bevy's forward VertexOutput (same locations) plus the depth.
struct WaterVertexOutput {
    @builtin(position) position: vec4<f32>,
    @location(0) world_position: vec4<f32>,
    @location(1) world_normal: vec3<f32>,
#ifdef VERTEX_OUTPUT_INSTANCE_INDEX
    @location(6) @interpolate(flat) instance_index: u32,
#endif
#ifdef VISIBILITY_RANGE_DITHER
    @location(7) @interpolate(flat) visibility_range_dither: i32,
#endif
    @location(8) depth: f32,
};

// One travelling sine: its height and slope (d/dx, d/dz) at `xz`.
fn sine_wave(xz: vec2<f32>, direction: vec2<f32>, length: f32, height: f32, t: f32) -> vec3<f32> {
    let k = TAU / length;
    // Deep-water waves: longer ones travel faster (speed grows with the root of the length).
    let speed = water.wave_speed * sqrt(length / water.wave_length_m);
    let phase = k * (dot(direction, xz) - speed * t);
    let slope = height * k * cos(phase);
    return vec3<f32>(height * sin(phase), slope * direction.x, slope * direction.y);
}

// The swell: three waves from different directions. Height and slope.
fn swell(xz: vec2<f32>, t: f32) -> vec3<f32> {
    let l = water.wave_length_m;
    let h = water.wave_height_m;
    return sine_wave(xz, vec2<f32>(0.94, 0.34), l, h, t)
        + sine_wave(xz, vec2<f32>(-0.37, 0.93), l * 0.61, h * 0.55, t)
        + sine_wave(xz, vec2<f32>(0.75, -0.66), l * 0.37, h * 0.3, t);
}

// Waves calm down towards the shore, so the waterline stays where the ground meets sea level.
fn shore_calm(depth: f32) -> f32 {
    return smoothstep(0.0, 1.5, depth);
}

@vertex
fn vertex(vertex: WaterVertex) -> WaterVertexOutput {
    var out: WaterVertexOutput;
    let world_from_local = mesh_functions::get_world_from_local(vertex.instance_index);
    var world = mesh_functions::mesh_position_local_to_world(
        world_from_local,
        vec4<f32>(vertex.position, 1.0),
    );
    let wave = swell(world.xz, globals.time);
    world.y += wave.x * shore_calm(vertex.depth);
    out.world_position = world;
    out.position = position_world_to_clip(world.xyz);
    out.world_normal = mesh_functions::mesh_normal_local_to_world(vertex.normal, vertex.instance_index);
#ifdef VERTEX_OUTPUT_INSTANCE_INDEX
    out.instance_index = vertex.instance_index;
#endif
#ifdef VISIBILITY_RANGE_DITHER
    out.visibility_range_dither = mesh_functions::get_visibility_range_dither_level(
        vertex.instance_index,
        world_from_local[3],
    );
#endif
    out.depth = vertex.depth;
    return out;
}

@fragment
fn fragment(
    in: VertexOutput,
    @builtin(front_facing) is_front: bool,
    @location(8) depth_in: f32,
) -> FragmentOutput {
    var pbr_input = pbr_input_from_standard_material(in, is_front);
    let t = globals.time;
    let xz = in.world_position.xz;
    let depth = max(depth_in, 0.0);
    let calm = shore_calm(depth_in);

    // Normals: the swell's slopes plus two short ripples that only shade.
    var slope = swell(xz, t).yz * calm;
    slope += sine_wave(xz, vec2<f32>(0.6, 0.8), 3.1, 0.025, t).yz;
    slope += sine_wave(xz, vec2<f32>(-0.9, 0.44), 1.7, 0.012, t).yz;
    let n = normalize(vec3<f32>(-slope.x, 1.0, -slope.y));

    // Colour by depth: 90% of the way to the deep colour at deep_at_m.
    let deep = 1.0 - exp(-2.3 * depth / water.deep_at_m);
    var color = mix(water.shallow_color.rgb, water.deep_color.rgb, deep);
    var alpha = mix(water.shallow_opacity, 0.97, deep);

    // Foam where the water thins out at the shore, lapping back and forth.
    let lap = 0.5 + 0.5 * sin(t * 1.4 + dot(xz, vec2<f32>(0.21, 0.17)));
    let reach = water.foam_depth_m * (0.6 + 0.6 * lap);
    let foam = (1.0 - smoothstep(0.0, max(reach, 1e-3), depth_in)) * step(1e-4, water.foam_depth_m);
    color = mix(color, water.foam_color.rgb, foam);
    alpha = max(alpha, foam * 0.9);

    pbr_input.material.base_color = vec4<f32>(color, alpha);
    pbr_input.material.perceptual_roughness = mix(0.06, 0.6, foam);
    pbr_input.N = n;
    pbr_input.world_normal = n;

    var out: FragmentOutput;
    out.color = apply_pbr_lighting(pbr_input);
    // Distance fog (when the camera has DistanceFog), tonemapping and debanding.
    out.color = main_pass_post_lighting_processing(pbr_input, out.color);
    return out;
}
