//! Parsing a world file and checking what serde cannot: ranges, references and cycles.

use std::collections::HashSet;

use super::error::{ConfigError, ConfigErrorKind};
use super::locate::locate;
use super::schema::{NoiseNode, WorldConfig};

/// Most biomes a world may have (the terrain mesh carries two `vec4` of weights per vertex).
pub const MAX_BIOMES: usize = 8;

/// Largest view radius in metres: beyond this the chunk count (and memory) would grow without
/// a useful limit.
pub const MAX_VIEW_RADIUS_M: f64 = 10_000.0;

/// Most chunks between an observer and the edge of its view (radius plus hysteresis, over the
/// chunk size): about 50,000 chunks in view at the limit.
pub const MAX_REACH_CHUNKS: f64 = 128.0;

/// Most nodes a terrain graph may have.
pub const MAX_NODES: usize = 256;

/// Most octaves a fractal node may have.
pub const MAX_OCTAVES: u32 = 16;

/// Parses and validates a world file. `file` is only used in error messages.
pub fn parse_world(src: &str, file: &str) -> Result<WorldConfig, ConfigError> {
    let config: WorldConfig = parse_ron(src, file)?;
    validate_world(&config, src, file)?;
    Ok(config)
}

/// Deserialises any RON file, turning RON's error into a [`ConfigError`] with line and column.
/// Every RON format of the crate (worlds, textures, personas, grammars) parses through this.
pub fn parse_ron<T: serde::de::DeserializeOwned>(src: &str, file: &str) -> Result<T, ConfigError> {
    ron::Options::default().from_str(src).map_err(|e| {
        ConfigError::at(
            file,
            (e.span.start.line.max(1), e.span.start.col.max(1)),
            ConfigErrorKind::Syntax(e.code.to_string()),
        )
    })
}

/// Checks a parsed world; `src` is the text it came from, used to find positions.
pub fn validate_world(config: &WorldConfig, src: &str, file: &str) -> Result<(), ConfigError> {
    let fail = |path: &[&str], kind| Err(ConfigError::at(file, locate(src, path), kind));
    let range = |field: &str, value: String, expected: &str| ConfigErrorKind::OutOfRange {
        field: field.to_owned(),
        value,
        expected: expected.to_owned(),
    };

    if !config.sea_level_m.is_finite() {
        return fail(
            &["sea_level_m"],
            range(
                "sea_level_m",
                config.sea_level_m.to_string(),
                "a finite height in metres",
            ),
        );
    }

    let v = config.chunk.vertices;
    if !(17..=257).contains(&v) || !(v - 1).is_power_of_two() {
        return fail(
            &["chunk", "vertices"],
            range(
                "chunk.vertices",
                v.to_string(),
                "2^k + 1 between 17 and 257 (17, 33, 65, 129 or 257)",
            ),
        );
    }
    if !(config.chunk.size_m.is_finite() && config.chunk.size_m >= 1.0) {
        return fail(
            &["chunk", "size_m"],
            range(
                "chunk.size_m",
                num(config.chunk.size_m),
                "a size of at least 1 metre",
            ),
        );
    }

    if let Some(erosion) = &config.erosion
        && !(erosion.strength.is_finite() && (0.0..=4.0).contains(&erosion.strength))
    {
        return fail(
            &["erosion", "strength"],
            range(
                "erosion.strength",
                erosion.strength.to_string(),
                "0 (off) to 4 (1 = as trained)",
            ),
        );
    }

    if let Some(lakes) = &config.lakes {
        let spacing = config.chunk.size_m / f64::from(v - 1);
        let checks: [(&str, bool, &str); 4] = [
            (
                "cell_m",
                lakes.cell_m.is_finite() && (16.0..=4096.0).contains(&lakes.cell_m),
                "16 to 4096 metres",
            ),
            (
                "sample_m",
                lakes.sample_m.is_finite()
                    && lakes.sample_m >= spacing * 0.5
                    && lakes.sample_m * 4.0 <= lakes.cell_m
                    && lakes.cell_m / lakes.sample_m <= 128.0,
                "at least half the vertex spacing, and 4 to 128 samples per cell",
            ),
            (
                "min_depth_m",
                lakes.min_depth_m.is_finite() && lakes.min_depth_m >= 0.0,
                "a depth of 0 metres or more",
            ),
            (
                "min_area_m2",
                lakes.min_area_m2.is_finite() && lakes.min_area_m2 >= 0.0,
                "an area of 0 square metres or more",
            ),
        ];
        let value = |field: &str| match field {
            "cell_m" => num(lakes.cell_m),
            "sample_m" => num(lakes.sample_m),
            "min_depth_m" => lakes.min_depth_m.to_string(),
            _ => lakes.min_area_m2.to_string(),
        };
        if let Some((field, _, expected)) = checks.iter().find(|(_, ok, _)| !ok) {
            return fail(
                &["lakes", field],
                range(&format!("lakes.{field}"), value(field), expected),
            );
        }
    }

    let s = &config.streaming;
    let positive = |x: f64| x.is_finite() && x > 0.0;
    if !(positive(s.view_radius_m) && s.view_radius_m <= MAX_VIEW_RADIUS_M) {
        return fail(
            &["streaming", "view_radius_m"],
            range(
                "streaming.view_radius_m",
                num(s.view_radius_m),
                &format!("a positive distance in metres, at most {MAX_VIEW_RADIUS_M}"),
            ),
        );
    }
    if !(s.hysteresis_m.is_finite() && (0.0..=MAX_VIEW_RADIUS_M).contains(&s.hysteresis_m)) {
        return fail(
            &["streaming", "hysteresis_m"],
            range(
                "streaming.hysteresis_m",
                num(s.hysteresis_m),
                "0 to 10000 metres",
            ),
        );
    }
    let reach_in_chunks = (s.view_radius_m + s.hysteresis_m) / config.chunk.size_m;
    if reach_in_chunks > MAX_REACH_CHUNKS {
        return fail(
            &["streaming", "view_radius_m"],
            range(
                "streaming.view_radius_m",
                format!(
                    "{} m with {} m chunks ({reach_in_chunks:.0} chunks)",
                    s.view_radius_m, config.chunk.size_m
                ),
                &format!(
                    "at most {MAX_REACH_CHUNKS} chunks of reach (view radius plus hysteresis): \
                     use larger chunks for a longer view"
                ),
            ),
        );
    }
    if !positive(s.apply_budget_ms) {
        return fail(
            &["streaming", "apply_budget_ms"],
            range(
                "streaming.apply_budget_ms",
                num(s.apply_budget_ms),
                "a positive number of milliseconds",
            ),
        );
    }
    if !(1..=64).contains(&s.max_tasks_in_flight) {
        return fail(
            &["streaming", "max_tasks_in_flight"],
            range(
                "streaming.max_tasks_in_flight",
                s.max_tasks_in_flight.to_string(),
                "1 to 64",
            ),
        );
    }
    if !(s.view_cone_deg.is_finite() && (0.0..=360.0).contains(&s.view_cone_deg)) {
        return fail(
            &["streaming", "view_cone_deg"],
            range(
                "streaming.view_cone_deg",
                num(s.view_cone_deg),
                "0 to 360 degrees",
            ),
        );
    }
    if s.lod_rings.is_empty() {
        return fail(
            &["streaming", "lod_rings"],
            range("streaming.lod_rings", "empty".into(), "at least one ring"),
        );
    }
    let mut previous: Option<(f64, u32)> = None;
    for ring in &s.lod_rings {
        let step = ring.vertex_step;
        if step == 0 || !step.is_power_of_two() || step > v - 1 {
            return fail(
                &["lod_rings", &format!("vertex_step: {step}")],
                range(
                    "streaming.lod_rings.vertex_step",
                    step.to_string(),
                    &format!("a power of two from 1 to {} (chunk.vertices - 1)", v - 1),
                ),
            );
        }
        if ring.until_m.is_nan() || ring.until_m <= 0.0 {
            return fail(
                &["lod_rings", "until_m"],
                range(
                    "streaming.lod_rings.until_m",
                    num(ring.until_m),
                    "a positive distance",
                ),
            );
        }
        if let Some((until, prev_step)) = previous
            && (ring.until_m <= until || step < prev_step)
        {
            return fail(
                &["lod_rings", &format!("vertex_step: {step}")],
                range(
                    "streaming.lod_rings",
                    format!("a ring until {} m with step {step}", ring.until_m),
                    "rings ordered by increasing until_m with vertex_step never decreasing",
                ),
            );
        }
        previous = Some((ring.until_m, step));
    }

    validate_nodes(config, src, file)?;

    let b = &config.biomes;
    if b.table.is_empty() || b.table.len() > MAX_BIOMES {
        return fail(
            &["biomes", "table"],
            range(
                "biomes.table",
                format!("{} biomes", b.table.len()),
                &format!("1 to {MAX_BIOMES} biomes"),
            ),
        );
    }
    if !b.lapse_per_km.is_finite() {
        return fail(
            &["biomes", "lapse_per_km"],
            range(
                "biomes.lapse_per_km",
                num(f64::from(b.lapse_per_km)),
                "a finite number",
            ),
        );
    }
    let mut names = HashSet::new();
    for entry in &b.table {
        let quoted = format!("\"{}\"", entry.name);
        if !names.insert(entry.name.as_str()) {
            return fail(
                &["biomes", &quoted, &quoted],
                range(
                    "biomes.table.name",
                    quoted.clone(),
                    "a name used by one biome only",
                ),
            );
        }
        for (field, r) in [
            ("height", entry.height),
            ("slope", entry.slope),
            ("temperature", entry.temperature),
            ("moisture", entry.moisture),
        ] {
            if r.min.is_nan() || r.max.is_nan() || r.min > r.max || !ordered(0.0, r.blend) {
                return fail(
                    &["biomes", &quoted, field],
                    range(
                        &format!("biomes.{}.{field}", entry.name),
                        format!("min {} max {} blend {}", r.min, r.max, r.blend),
                        "min <= max and blend >= 0",
                    ),
                );
            }
        }
        let (r, g, bl) = entry.color;
        if ![r, g, bl].iter().all(|c| (0.0..=1.0).contains(c)) {
            return fail(
                &["biomes", &quoted, "color"],
                range(
                    &format!("biomes.{}.color", entry.name),
                    format!("({r}, {g}, {bl})"),
                    "three components between 0 and 1",
                ),
            );
        }
    }
    Ok(())
}

/// References, parameter ranges and cycles in the noise graph.
fn validate_nodes(config: &WorldConfig, src: &str, file: &str) -> Result<(), ConfigError> {
    let nodes = &config.terrain.nodes;
    if nodes.len() > MAX_NODES {
        return Err(ConfigError::at(
            file,
            locate(src, &["terrain", "nodes"]),
            ConfigErrorKind::OutOfRange {
                field: "terrain.nodes".into(),
                value: format!("{} nodes", nodes.len()),
                expected: format!("at most {MAX_NODES} nodes"),
            },
        ));
    }
    let known = || nodes.iter().map(|(n, _)| n).collect::<Vec<_>>().join(", ");
    let missing = |owner: &str, path: &[&str], reference: &str| {
        Err(ConfigError::at(
            file,
            locate(src, path),
            ConfigErrorKind::UnknownNode {
                node: owner.to_owned(),
                reference: reference.to_owned(),
                known: known(),
            },
        ))
    };

    for (field, name) in [
        ("height", &config.terrain.height),
        ("temperature", &config.biomes.temperature),
        ("moisture", &config.biomes.moisture),
    ] {
        if nodes.get(name).is_none() {
            let section = if field == "height" {
                "terrain"
            } else {
                "biomes"
            };
            return missing(&format!("{section}.{field}"), &[section, field], name);
        }
    }

    for (name, node) in nodes.iter() {
        let quoted = format!("\"{name}\"");
        for reference in node_inputs(node) {
            if nodes.get(reference).is_none() {
                return missing(
                    &format!("node {quoted}"),
                    &[&quoted, &format!("\"{reference}\"")],
                    reference,
                );
            }
        }
        if let Some((field, value, expected)) = check_params(node) {
            return Err(ConfigError::at(
                file,
                locate(src, &[&quoted, field]),
                ConfigErrorKind::OutOfRange {
                    field: format!("terrain.nodes.{name}.{field}"),
                    value,
                    expected: expected.to_owned(),
                },
            ));
        }
    }

    if let Some(cycle) = find_cycle(config) {
        let first = format!("\"{}\"", cycle[0]);
        return Err(ConfigError::at(
            file,
            locate(src, &["nodes", &first]),
            ConfigErrorKind::Cycle(cycle.join(" -> ")),
        ));
    }
    Ok(())
}

/// The names a node reads from.
pub fn node_inputs(node: &NoiseNode) -> Vec<&str> {
    match node {
        NoiseNode::Constant(_) | NoiseNode::Source { .. } | NoiseNode::Fractal { .. } => vec![],
        NoiseNode::Add(inputs)
        | NoiseNode::Multiply(inputs)
        | NoiseNode::Min(inputs)
        | NoiseNode::Max(inputs) => inputs.iter().map(String::as_str).collect(),
        NoiseNode::ScaleBias { input, .. }
        | NoiseNode::Clamp { input, .. }
        | NoiseNode::Curve { input, .. }
        | NoiseNode::Terrace { input, .. } => vec![input],
        NoiseNode::Abs(input) => vec![input],
        NoiseNode::DomainWarp {
            input,
            x_offset,
            z_offset,
            ..
        } => vec![input, x_offset, z_offset],
        NoiseNode::Blend { a, b, control, .. } => vec![a, b, control],
    }
}

/// The first bad parameter of a node: `(field, value, expected)`.
fn check_params(node: &NoiseNode) -> Option<(&'static str, String, &'static str)> {
    let finite_pos = |x: f64| x.is_finite() && x > 0.0;
    match node {
        NoiseNode::Constant(c) if !c.is_finite() => {
            Some(("Constant", num(f64::from(*c)), "a finite number"))
        }
        NoiseNode::Source { frequency, .. } if !finite_pos(*frequency) => Some((
            "frequency",
            num(*frequency),
            "a positive number of features per metre",
        )),
        NoiseNode::Fractal {
            octaves,
            frequency,
            lacunarity,
            gain,
            ..
        } => {
            if !(1..=MAX_OCTAVES).contains(octaves) {
                Some(("octaves", octaves.to_string(), "1 to 16"))
            } else if !finite_pos(*frequency) {
                Some((
                    "frequency",
                    num(*frequency),
                    "a positive number of features per metre",
                ))
            } else if !(lacunarity.is_finite() && (1.0..=8.0).contains(lacunarity)) {
                Some(("lacunarity", num(*lacunarity), "1 to 8"))
            } else if !(gain.is_finite() && (0.0..=1.0).contains(gain)) {
                Some(("gain", num(*gain), "0 to 1"))
            } else {
                None
            }
        }
        NoiseNode::Add(v) | NoiseNode::Multiply(v) | NoiseNode::Min(v) | NoiseNode::Max(v)
            if v.is_empty() =>
        {
            Some(("[", "an empty list".into(), "at least one node name"))
        }
        NoiseNode::ScaleBias { scale, bias, .. } if !(scale.is_finite() && bias.is_finite()) => {
            Some((
                "scale",
                format!("{scale} / {bias}"),
                "finite scale and bias",
            ))
        }
        NoiseNode::Clamp { min, max, .. } if !ordered(*min, *max) => {
            Some(("min", format!("{min}..{max}"), "min <= max"))
        }
        NoiseNode::Curve { points, .. }
            if points.len() < 2
                || points.windows(2).any(|w| !strictly_ordered(w[0].0, w[1].0))
                || points.iter().any(|p| !p.1.is_finite()) =>
        {
            Some((
                "points",
                format!("{} points", points.len()),
                "at least two finite points with strictly increasing inputs",
            ))
        }
        NoiseNode::Terrace { steps, .. }
            if steps.len() < 2 || steps.windows(2).any(|w| !strictly_ordered(w[0], w[1])) =>
        {
            Some((
                "steps",
                format!("{} steps", steps.len()),
                "at least two strictly increasing levels",
            ))
        }
        NoiseNode::Terrace { sharpness, .. } if !(0.0..=1.0).contains(sharpness) => {
            Some(("sharpness", num(f64::from(*sharpness)), "0 to 1"))
        }
        NoiseNode::DomainWarp { amplitude, .. }
            if !(amplitude.is_finite() && *amplitude >= 0.0) =>
        {
            Some(("amplitude", num(*amplitude), "zero or more metres"))
        }
        NoiseNode::Blend { from, to, .. } if !strictly_ordered(*from, *to) => {
            Some(("from", format!("{from}..{to}"), "from < to"))
        }
        _ => None,
    }
}

/// A cycle of node names (first repeated at the end), if the graph has one.
fn find_cycle(config: &WorldConfig) -> Option<Vec<String>> {
    let nodes = &config.terrain.nodes;
    // 0 = unvisited, 1 = on the current path, 2 = done.
    let mut state = vec![0u8; nodes.len()];
    let index = |name: &str| nodes.0.iter().position(|(n, _)| n == name);

    fn visit(
        at: usize,
        nodes: &super::node_map::NodeMap,
        state: &mut [u8],
        path: &mut Vec<usize>,
        index: &dyn Fn(&str) -> Option<usize>,
    ) -> Option<Vec<String>> {
        state[at] = 1;
        path.push(at);
        for input in node_inputs(&nodes.0[at].1) {
            let Some(next) = index(input) else { continue };
            if state[next] == 1 {
                let start = path.iter().position(|&p| p == next).unwrap_or(0);
                let mut cycle: Vec<String> = path[start..]
                    .iter()
                    .map(|&p| nodes.0[p].0.clone())
                    .collect();
                cycle.push(nodes.0[next].0.clone());
                return Some(cycle);
            }
            if state[next] == 0
                && let Some(c) = visit(next, nodes, state, path, index)
            {
                return Some(c);
            }
        }
        path.pop();
        state[at] = 2;
        None
    }

    for start in 0..nodes.len() {
        if state[start] == 0 {
            let mut path = Vec::new();
            if let Some(c) = visit(start, nodes, &mut state, &mut path, &index) {
                return Some(c);
            }
        }
    }
    None
}

/// `a <= b`, false if either is NaN.
fn ordered(a: f32, b: f32) -> bool {
    a <= b
}

/// `a < b`, false if either is NaN.
fn strictly_ordered(a: f32, b: f32) -> bool {
    a < b
}

/// A number as a modder wrote it, but in exponent form when huge or tiny so messages stay short.
fn num(x: f64) -> String {
    if x != 0.0 && x.is_finite() && !(1e-6..1e9).contains(&x.abs()) {
        format!("{x:e}")
    } else {
        x.to_string()
    }
}
