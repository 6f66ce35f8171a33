// aigc_world terrain material: an extension of Bevy's StandardMaterial.
//
// Each vertex carries the weights of up to 8 biomes (locations 8 and 9) and a wetness (location 10:
// channels where water runs on the eroded ground darken and shine). The fragment stage blends
// the biomes' layers (texture array layers when the texture plugin has made them, plain colours
// until then), puts rock on steep slopes and snow on high flat ground, projects textures
// triplanarly where the ground is steep so cliffs are not stretched, and hands the result to
// Bevy's PBR lighting, shadows and distance fog.

#import bevy_pbr::{
    mesh_functions,
    view_transformations::position_world_to_clip,
    forward_io::{VertexOutput, FragmentOutput},
    pbr_fragment::pbr_input_from_standard_material,
    pbr_functions::{apply_pbr_lighting, main_pass_post_lighting_processing},
}

struct TerrainMaterial {
    // Linear RGB base colour of each biome layer (alpha unused).
    layer_colors: array<vec4<f32>, 8>,
    // Used for rock and snow when the world has no biome layer for them.
    rock_color: vec4<f32>,
    snow_color: vec4<f32>,
    // Rock fades in between these values of (1 - normal.y).
    rock_slope_min: f32,
    rock_slope_max: f32,
    // Snow covers ground above snow_line_m (blending over snow_blend_m) flatter than snow_slope_max.
    snow_line_m: f32,
    snow_blend_m: f32,
    snow_slope_max: f32,
    // World metres covered by one repeat of a texture layer.
    metres_per_tile: f32,
    // Higher values confine the side projections of triplanar mapping to steeper faces.
    triplanar_sharpness: f32,
    normal_strength: f32,
    // Bit 0: texture arrays are bound and should be sampled.
    flags: u32,
    // Layer index of rock and snow in the arrays, or -1 when the world has none.
    rock_layer: i32,
    snow_layer: i32,
    layer_count: u32,
}

const FLAG_TEXTURES: u32 = 1u;
const LAYERS: u32 = 8u;

@group(#{MATERIAL_BIND_GROUP}) @binding(100) var<uniform> terrain: TerrainMaterial;
@group(#{MATERIAL_BIND_GROUP}) @binding(101) var albedo_layers: texture_2d_array<f32>;
@group(#{MATERIAL_BIND_GROUP}) @binding(102) var albedo_sampler: sampler;
@group(#{MATERIAL_BIND_GROUP}) @binding(103) var normal_layers: texture_2d_array<f32>;
@group(#{MATERIAL_BIND_GROUP}) @binding(104) var normal_sampler: sampler;

struct TerrainVertex {
    @builtin(instance_index) instance_index: u32,
    @location(0) position: vec3<f32>,
    @location(1) normal: vec3<f32>,
#ifdef VERTEX_UVS_A
    @location(2) uv: vec2<f32>,
#endif
    @location(8) biome_low: vec4<f32>,
    @location(9) biome_high: vec4<f32>,
    @location(10) wetness: f32,
};

// Bevy's forward VertexOutput (same locations) plus the biome weights.
struct TerrainVertexOutput {
    @builtin(position) position: vec4<f32>,
    @location(0) world_position: vec4<f32>,
    @location(1) world_normal: vec3<f32>,
#ifdef VERTEX_UVS_A
    @location(2) uv: vec2<f32>,
#endif
#ifdef VERTEX_OUTPUT_INSTANCE_INDEX
    @location(6) @interpolate(flat) instance_index: u32,
#endif
#ifdef VISIBILITY_RANGE_DITHER
    @location(7) @interpolate(flat) visibility_range_dither: i32,
#endif
    @location(8) biome_low: vec4<f32>,
    @location(9) biome_high: vec4<f32>,
    @location(10) wetness: f32,
};

@vertex
fn vertex(vertex: TerrainVertex) -> TerrainVertexOutput {
    var out: TerrainVertexOutput;
    let world_from_local = mesh_functions::get_world_from_local(vertex.instance_index);
    out.world_position = mesh_functions::mesh_position_local_to_world(
        world_from_local,
        vec4<f32>(vertex.position, 1.0),
    );
    out.position = position_world_to_clip(out.world_position.xyz);
    out.world_normal = mesh_functions::mesh_normal_local_to_world(vertex.normal, vertex.instance_index);
#ifdef VERTEX_UVS_A
    out.uv = vertex.uv;
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
    out.biome_low = vertex.biome_low;
    out.biome_high = vertex.biome_high;
    out.wetness = vertex.wetness;
    return out;
}

struct Surface {
    albedo: vec3<f32>,
    roughness: f32,
    normal: vec3<f32>,
};

// The two heaviest layers and their share of the pair. Sampling a fixed number of layers keeps
// every texture fetch in uniform control flow with implicit derivatives: a loop that skipped
// light layers needed explicit gradients, which software rasterisers evaluate per pixel
// (several times slower on lavapipe).
struct LayerPair {
    first: i32,
    second: i32,
    second_share: f32,
};

fn heaviest_two(weights: array<f32, 8>) -> LayerPair {
    var first = 0u;
    var second = 1u;
    if weights[1] > weights[0] {
        first = 1u;
        second = 0u;
    }
    for (var i = 2u; i < LAYERS; i++) {
        if weights[i] > weights[first] {
            second = first;
            first = i;
        } else if weights[i] > weights[second] {
            second = i;
        }
    }
    var pair: LayerPair;
    pair.first = i32(first);
    pair.second = i32(second);
    pair.second_share = weights[second] / max(weights[first] + weights[second], 1e-4);
    return pair;
}

// One projection of the layer pair: albedo, tangent-space normal and roughness.
struct Projected {
    albedo: vec3<f32>,
    tangent_normal: vec3<f32>,
    roughness: f32,
};

fn sample_pair(uv: vec2<f32>, pair: LayerPair) -> Projected {
    let a0 = textureSample(albedo_layers, albedo_sampler, uv, pair.first);
    let a1 = textureSample(albedo_layers, albedo_sampler, uv, pair.second);
    let n0 = textureSample(normal_layers, normal_sampler, uv, pair.first);
    let n1 = textureSample(normal_layers, normal_sampler, uv, pair.second);
    let nr = mix(n0, n1, pair.second_share);
    var p: Projected;
    p.albedo = mix(a0.rgb, a1.rgb, pair.second_share);
    p.tangent_normal = vec3<f32>((nr.xy * 2.0 - 1.0) * terrain.normal_strength, nr.z * 2.0 - 1.0);
    p.roughness = nr.a;
    return p;
}

fn textured_surface(world: vec3<f32>, n: vec3<f32>, weights: array<f32, 8>) -> Surface {
    let pair = heaviest_two(weights);
    let scale = 1.0 / terrain.metres_per_tile;
    // Triplanar, reduced to two projections: the top one, and the side one facing the slope
    // (x or z, whichever the ground faces more). Cliffs get an unstretched side projection.
    var blend = pow(abs(n), vec3<f32>(terrain.triplanar_sharpness));
    blend = blend / (blend.x + blend.y + blend.z);
    let side_weight = blend.x + blend.z;
    let faces_x = abs(n.x) > abs(n.z);
    let side_uv = select(world.xy, world.zy, faces_x);

    let top = sample_pair(world.xz * scale, pair);
    let side = sample_pair(side_uv * scale, pair);

    // Whiteout blend of the tangent-space normals onto each projection's axis (Golus, "Normal
    // Mapping for a Triplanar Shader").
    let top_n = vec3<f32>(top.tangent_normal.xy + n.xz, abs(top.tangent_normal.z) * n.y).xzy;
    let side_axis_n = select(n.xy, n.zy, faces_x);
    let side_up = select(n.z, n.x, faces_x);
    let side_t = vec3<f32>(side.tangent_normal.xy + side_axis_n, abs(side.tangent_normal.z) * side_up);
    let side_n = select(side_t.xyz, side_t.zyx, faces_x);

    var s: Surface;
    s.albedo = mix(top.albedo, side.albedo, side_weight);
    s.roughness = clamp(mix(top.roughness, side.roughness, side_weight), 0.05, 1.0);
    s.normal = normalize(mix(top_n, side_n, side_weight) + n * 1e-4);
    return s;
}

fn colored_surface(n: vec3<f32>, weights: array<f32, 8>) -> Surface {
    var s: Surface;
    s.albedo = vec3<f32>(0.0);
    for (var i = 0u; i < LAYERS; i++) {
        s.albedo += weights[i] * terrain.layer_colors[i].rgb;
    }
    s.roughness = 0.92;
    s.normal = n;
    return s;
}

// Moves `amount` of every layer's weight onto `layer`.
fn overlay(weights: ptr<function, array<f32, 8>>, layer: i32, amount: f32) {
    if layer < 0 || amount <= 0.0 {
        return;
    }
    for (var i = 0u; i < LAYERS; i++) {
        (*weights)[i] *= 1.0 - amount;
    }
    (*weights)[u32(layer)] += amount;
}

fn terrain_surface(
    world: vec3<f32>,
    n: vec3<f32>,
    low: vec4<f32>,
    high: vec4<f32>,
) -> Surface {
    var weights = array<f32, 8>(low.x, low.y, low.z, low.w, high.x, high.y, high.z, high.w);
    var total = 0.0;
    for (var i = 0u; i < LAYERS; i++) {
        weights[i] = max(weights[i], 0.0);
        total += weights[i];
    }
    for (var i = 0u; i < LAYERS; i++) {
        weights[i] = weights[i] / max(total, 1e-4);
    }

    let steepness = 1.0 - clamp(n.y, 0.0, 1.0);
    let rock = smoothstep(terrain.rock_slope_min, terrain.rock_slope_max, steepness);
    let snow = smoothstep(
        terrain.snow_line_m - terrain.snow_blend_m,
        terrain.snow_line_m + terrain.snow_blend_m,
        world.y,
    ) * (1.0 - smoothstep(terrain.snow_slope_max * 0.6, terrain.snow_slope_max, steepness));
    overlay(&weights, terrain.rock_layer, rock);
    overlay(&weights, terrain.snow_layer, snow);

    var s: Surface;
    if (terrain.flags & FLAG_TEXTURES) != 0u {
        s = textured_surface(world, n, weights);
    } else {
        s = colored_surface(n, weights);
    }
    // Worlds without rock or snow layers still get them, in plain colour.
    if terrain.rock_layer < 0 {
        s.albedo = mix(s.albedo, terrain.rock_color.rgb, rock);
    }
    if terrain.snow_layer < 0 {
        s.albedo = mix(s.albedo, terrain.snow_color.rgb, snow);
        s.roughness = mix(s.roughness, 0.6, snow);
    }
    return s;
}

@fragment
fn fragment(
    in: VertexOutput,
    @builtin(front_facing) is_front: bool,
    @location(8) biome_low: vec4<f32>,
    @location(9) biome_high: vec4<f32>,
    @location(10) wetness: f32,
) -> FragmentOutput {
    var pbr_input = pbr_input_from_standard_material(in, is_front);
    let world = in.world_position.xyz;
    let surface = terrain_surface(
        world,
        pbr_input.world_normal,
        biome_low,
        biome_high,
    );
    // Channels where water runs read as wet: darker and glossier.
    let wet = clamp(wetness, 0.0, 1.0);
    pbr_input.material.base_color = vec4<f32>(surface.albedo * (1.0 - 0.5 * wet), 1.0);
    pbr_input.material.perceptual_roughness = mix(surface.roughness, 0.25, wet);
    pbr_input.N = surface.normal;

    var out: FragmentOutput;
    out.color = apply_pbr_lighting(pbr_input);
    // Distance fog (when the camera has DistanceFog), tonemapping and debanding.
    out.color = main_pass_post_lighting_processing(pbr_input, out.color);
    return out;
}
