//! The noise graph compiled for evaluation over whole buffers.
//!
//! Named nodes from the world file become an array of operations; each evaluation runs the nodes
//! that the requested outputs need, in dependency order, one whole buffer per node. There is no
//! boxed call per sample: each node is one tight loop over the grid.

use std::collections::HashMap;

use thiserror::Error;

use super::noise::{Coords, FractalParams, fill_fractal, fill_source, seed_mix};
use crate::config::{NoiseNode, SourceKind, TerrainConfig, node_inputs};

/// Index of a node in a [`NoiseGraph`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NodeId(usize);

/// A graph that could not be compiled. The config validator reports these with positions first;
/// this is the last line of defence for graphs built in code.
#[derive(Clone, Debug, PartialEq, Error)]
#[non_exhaustive]
pub enum GraphError {
    /// A node names a node that does not exist.
    #[error("node \"{node}\" refers to undefined node \"{reference}\"")]
    UnknownNode {
        /// The referring node.
        node: String,
        /// The missing name.
        reference: String,
    },
    /// The nodes refer to each other in a loop through this node.
    #[error("node \"{0}\" is part of a cycle")]
    Cycle(String),
}

#[derive(Clone, Debug)]
enum Op {
    Constant(f32),
    Source {
        source: SourceKind,
        frequency: f64,
        seed: u32,
    },
    Fractal {
        params: FractalParams,
        seed: u32,
    },
    Add(Vec<NodeId>),
    Multiply(Vec<NodeId>),
    Min(Vec<NodeId>),
    Max(Vec<NodeId>),
    ScaleBias {
        input: NodeId,
        scale: f32,
        bias: f32,
    },
    Clamp {
        input: NodeId,
        min: f32,
        max: f32,
    },
    Abs(NodeId),
    Curve {
        input: NodeId,
        points: Vec<(f32, f32)>,
        tangents: Vec<f32>,
    },
    Terrace {
        input: NodeId,
        steps: Vec<f32>,
        sharpness: f32,
    },
    DomainWarp {
        /// The warped input, evaluated by its own plan at the displaced positions.
        input: Plan,
        x_offset: NodeId,
        z_offset: NodeId,
        amplitude: f64,
    },
    Blend {
        a: NodeId,
        b: NodeId,
        control: NodeId,
        from: f32,
        to: f32,
    },
}

/// Nodes to run, in dependency order, to produce some outputs. Made once by
/// [`NoiseGraph::plan`], run many times by [`NoiseGraph::run`].
#[derive(Clone, Debug)]
pub struct Plan {
    order: Vec<NodeId>,
    outputs: Vec<NodeId>,
}

/// A compiled noise graph.
#[derive(Clone, Debug)]
pub struct NoiseGraph {
    ops: Vec<Op>,
    names: Vec<String>,
    world_seed: u64,
}

impl NoiseGraph {
    /// Compiles the nodes of `terrain` for a world with `world_seed`.
    pub fn compile(terrain: &TerrainConfig, world_seed: u64) -> Result<Self, GraphError> {
        let names: Vec<String> = terrain.nodes.iter().map(|(n, _)| n.to_owned()).collect();
        let lookup = names.clone();
        let index: HashMap<&str, usize> = lookup
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        let resolve = |owner: &str, name: &str| {
            index
                .get(name)
                .map(|&i| NodeId(i))
                .ok_or_else(|| GraphError::UnknownNode {
                    node: owner.to_owned(),
                    reference: name.to_owned(),
                })
        };
        // Reject cycles before building plans (plans recurse through inputs).
        let order = topological_order(terrain, &index)?;
        let mut ops: Vec<Option<Op>> = vec![None; names.len()];
        for i in order {
            let (name, node) = &terrain.nodes.0[i];
            let list = |v: &Vec<String>| -> Result<Vec<NodeId>, GraphError> {
                v.iter().map(|n| resolve(name, n)).collect()
            };
            let op = match node {
                NoiseNode::Constant(c) => Op::Constant(*c),
                NoiseNode::Source {
                    source,
                    frequency,
                    seed,
                } => Op::Source {
                    source: *source,
                    frequency: *frequency,
                    seed: seed_mix(world_seed, *seed, 0),
                },
                NoiseNode::Fractal {
                    fractal,
                    source,
                    octaves,
                    frequency,
                    lacunarity,
                    gain,
                    seed,
                } => Op::Fractal {
                    params: FractalParams {
                        fractal: *fractal,
                        source: *source,
                        octaves: *octaves,
                        frequency: *frequency,
                        lacunarity: *lacunarity,
                        gain: *gain,
                    },
                    seed: *seed,
                },
                NoiseNode::Add(v) => Op::Add(list(v)?),
                NoiseNode::Multiply(v) => Op::Multiply(list(v)?),
                NoiseNode::Min(v) => Op::Min(list(v)?),
                NoiseNode::Max(v) => Op::Max(list(v)?),
                NoiseNode::ScaleBias { input, scale, bias } => Op::ScaleBias {
                    input: resolve(name, input)?,
                    scale: *scale,
                    bias: *bias,
                },
                NoiseNode::Clamp { input, min, max } => Op::Clamp {
                    input: resolve(name, input)?,
                    min: *min,
                    max: *max,
                },
                NoiseNode::Abs(input) => Op::Abs(resolve(name, input)?),
                NoiseNode::Curve { input, points } => Op::Curve {
                    input: resolve(name, input)?,
                    tangents: monotone_tangents(points),
                    points: points.clone(),
                },
                NoiseNode::Terrace {
                    input,
                    steps,
                    sharpness,
                } => Op::Terrace {
                    input: resolve(name, input)?,
                    steps: steps.clone(),
                    sharpness: *sharpness,
                },
                NoiseNode::DomainWarp {
                    input,
                    x_offset,
                    z_offset,
                    amplitude,
                } => {
                    // The plan is filled in below, once every op exists.
                    let input = resolve(name, input)?;
                    Op::DomainWarp {
                        input: Plan {
                            order: Vec::new(),
                            outputs: vec![input],
                        },
                        x_offset: resolve(name, x_offset)?,
                        z_offset: resolve(name, z_offset)?,
                        amplitude: *amplitude,
                    }
                }
                NoiseNode::Blend {
                    a,
                    b,
                    control,
                    from,
                    to,
                } => Op::Blend {
                    a: resolve(name, a)?,
                    b: resolve(name, b)?,
                    control: resolve(name, control)?,
                    from: *from,
                    to: *to,
                },
            };
            ops[i] = Some(op);
        }
        let mut graph = NoiseGraph {
            ops: ops
                .into_iter()
                .map(|o| o.unwrap_or(Op::Constant(0.0)))
                .collect(),
            names,
            world_seed,
        };
        for i in 0..graph.ops.len() {
            if let Op::DomainWarp { input, .. } = &graph.ops[i] {
                let plan = graph.plan(&input.outputs);
                if let Op::DomainWarp { input, .. } = &mut graph.ops[i] {
                    *input = plan;
                }
            }
        }
        Ok(graph)
    }

    /// The node called `name`.
    pub fn node(&self, name: &str) -> Option<NodeId> {
        self.names.iter().position(|n| n == name).map(NodeId)
    }

    /// Evaluates `outputs` over `coords`; returns one buffer per output, in order.
    pub fn evaluate(&self, outputs: &[NodeId], coords: &Coords) -> Vec<Vec<f32>> {
        let plan = self.plan(outputs);
        self.run(&plan, coords)
    }

    /// The nodes needed for `outputs`, in dependency order.
    pub fn plan(&self, outputs: &[NodeId]) -> Plan {
        let mut order = Vec::new();
        let mut seen = vec![false; self.ops.len()];
        for &o in outputs {
            self.visit(o, &mut seen, &mut order);
        }
        Plan {
            order,
            outputs: outputs.to_vec(),
        }
    }

    fn visit(&self, id: NodeId, seen: &mut [bool], order: &mut Vec<NodeId>) {
        if seen[id.0] {
            return;
        }
        seen[id.0] = true;
        for input in self.inputs(id) {
            self.visit(input, seen, order);
        }
        order.push(id);
    }

    /// Inputs evaluated in the same plan (a domain warp's own input has its own plan).
    fn inputs(&self, id: NodeId) -> Vec<NodeId> {
        match &self.ops[id.0] {
            Op::Constant(_) | Op::Source { .. } | Op::Fractal { .. } => vec![],
            Op::Add(v) | Op::Multiply(v) | Op::Min(v) | Op::Max(v) => v.clone(),
            Op::ScaleBias { input, .. }
            | Op::Clamp { input, .. }
            | Op::Abs(input)
            | Op::Curve { input, .. }
            | Op::Terrace { input, .. } => vec![*input],
            Op::DomainWarp {
                x_offset, z_offset, ..
            } => vec![*x_offset, *z_offset],
            Op::Blend { a, b, control, .. } => vec![*a, *b, *control],
        }
    }

    /// Runs `plan` over `coords`; returns one buffer per output of the plan, in order.
    pub fn run(&self, plan: &Plan, coords: &Coords) -> Vec<Vec<f32>> {
        let len = coords.len();
        let mut values: Vec<Vec<f32>> = vec![Vec::new(); self.ops.len()];
        for &id in &plan.order {
            let mut out = vec![0.0f32; len];
            self.run_op(id, coords, &values, &mut out);
            values[id.0] = out;
        }
        plan.outputs.iter().map(|o| values[o.0].clone()).collect()
    }

    fn run_op(&self, id: NodeId, coords: &Coords, values: &[Vec<f32>], out: &mut [f32]) {
        let v = |n: &NodeId| values[n.0].as_slice();
        match &self.ops[id.0] {
            Op::Constant(c) => out.fill(*c),
            Op::Source {
                source,
                frequency,
                seed,
            } => fill_source(*source, coords, *frequency, *seed, out, |o, x| *o = x),
            Op::Fractal { params, seed } => {
                fill_fractal(coords, params, self.world_seed, *seed, out)
            }
            Op::Add(inputs) => fold(out, inputs, values, |a, b| a + b),
            Op::Multiply(inputs) => fold(out, inputs, values, |a, b| a * b),
            Op::Min(inputs) => fold(out, inputs, values, f32::min),
            Op::Max(inputs) => fold(out, inputs, values, f32::max),
            Op::ScaleBias { input, scale, bias } => {
                for (o, x) in out.iter_mut().zip(v(input)) {
                    *o = x * scale + bias;
                }
            }
            Op::Clamp { input, min, max } => {
                for (o, x) in out.iter_mut().zip(v(input)) {
                    *o = x.clamp(*min, *max);
                }
            }
            Op::Abs(input) => {
                for (o, x) in out.iter_mut().zip(v(input)) {
                    *o = x.abs();
                }
            }
            Op::Curve {
                input,
                points,
                tangents,
            } => {
                for (o, &x) in out.iter_mut().zip(v(input)) {
                    *o = eval_curve(points, tangents, x);
                }
            }
            Op::Terrace {
                input,
                steps,
                sharpness,
            } => {
                for (o, &x) in out.iter_mut().zip(v(input)) {
                    *o = eval_terrace(steps, *sharpness, x);
                }
            }
            Op::DomainWarp {
                input,
                x_offset,
                z_offset,
                amplitude,
            } => {
                let (dx, dz) = (v(x_offset), v(z_offset));
                let (xs, zs): (Vec<f64>, Vec<f64>) = (0..coords.len())
                    .map(|k| {
                        let (x, z) = coords.position(k);
                        (x + amplitude * dx[k] as f64, z + amplitude * dz[k] as f64)
                    })
                    .unzip();
                let warped = Coords::Points { x: &xs, z: &zs };
                if let Some(result) = self.run(input, &warped).into_iter().next() {
                    out.copy_from_slice(&result);
                }
            }
            Op::Blend {
                a,
                b,
                control,
                from,
                to,
            } => {
                let inv = 1.0 / (to - from);
                for (((o, &a), &b), &c) in out.iter_mut().zip(v(a)).zip(v(b)).zip(v(control)) {
                    let t = ((c - from) * inv).clamp(0.0, 1.0);
                    let t = t * t * (3.0 - 2.0 * t);
                    *o = a + (b - a) * t;
                }
            }
        }
    }
}

fn fold(out: &mut [f32], inputs: &[NodeId], values: &[Vec<f32>], f: impl Fn(f32, f32) -> f32) {
    let mut inputs = inputs.iter();
    if let Some(first) = inputs.next() {
        out.copy_from_slice(&values[first.0]);
    }
    for input in inputs {
        for (o, &x) in out.iter_mut().zip(&values[input.0]) {
            *o = f(*o, x);
        }
    }
}

/// Node indices in dependency order (inputs first), or the node where a cycle was found.
fn topological_order(
    terrain: &TerrainConfig,
    index: &HashMap<&str, usize>,
) -> Result<Vec<usize>, GraphError> {
    let nodes = &terrain.nodes.0;
    let mut state = vec![0u8; nodes.len()];
    let mut order = Vec::with_capacity(nodes.len());
    // Iterative depth-first search, so a long chain of nodes cannot overflow the stack.
    for root in 0..nodes.len() {
        if state[root] != 0 {
            continue;
        }
        let mut stack = vec![(root, 0usize)];
        state[root] = 1;
        while let Some(&mut (at, ref mut next)) = stack.last_mut() {
            let (name, node) = &nodes[at];
            let inputs = node_inputs(node);
            if let Some(input) = inputs.get(*next) {
                *next += 1;
                let Some(&child) = index.get(input) else {
                    return Err(GraphError::UnknownNode {
                        node: name.clone(),
                        reference: (*input).to_owned(),
                    });
                };
                match state[child] {
                    0 => {
                        state[child] = 1;
                        stack.push((child, 0));
                    }
                    1 => return Err(GraphError::Cycle(nodes[child].0.clone())),
                    _ => {}
                }
            } else {
                state[at] = 2;
                order.push(at);
                stack.pop();
            }
        }
    }
    Ok(order)
}

/// Fritsch-Carlson tangents: a cubic Hermite curve through the points that never overshoots, so
/// a remap of heights cannot invent spikes between control points.
fn monotone_tangents(points: &[(f32, f32)]) -> Vec<f32> {
    let n = points.len();
    if n < 2 {
        return vec![0.0; n];
    }
    let secants: Vec<f32> = points
        .windows(2)
        .map(|w| (w[1].1 - w[0].1) / (w[1].0 - w[0].0))
        .collect();
    let mut tangents = vec![0.0; n];
    tangents[0] = secants[0];
    tangents[n - 1] = secants[n - 2];
    for i in 1..n - 1 {
        let (a, b) = (secants[i - 1], secants[i]);
        tangents[i] = if a * b <= 0.0 {
            0.0
        } else {
            // Harmonic mean keeps the curve monotone within each segment.
            2.0 * a * b / (a + b)
        };
    }
    tangents
}

fn eval_curve(points: &[(f32, f32)], tangents: &[f32], x: f32) -> f32 {
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return x;
    };
    if !(x > first.0) {
        return first.1;
    }
    if x >= last.0 {
        return last.1;
    }
    let seg = points.partition_point(|p| p.0 <= x).saturating_sub(1);
    let (x0, y0) = points[seg];
    let (x1, y1) = points[seg + 1];
    let h = x1 - x0;
    let t = (x - x0) / h;
    let (t2, t3) = (t * t, t * t * t);
    let h00 = 2.0 * t3 - 3.0 * t2 + 1.0;
    let h10 = t3 - 2.0 * t2 + t;
    let h01 = -2.0 * t3 + 3.0 * t2;
    let h11 = t3 - t2;
    h00 * y0 + h10 * h * tangents[seg] + h01 * y1 + h11 * h * tangents[seg + 1]
}

fn eval_terrace(steps: &[f32], sharpness: f32, x: f32) -> f32 {
    let (Some(&first), Some(&last)) = (steps.first(), steps.last()) else {
        return x;
    };
    if !(x > first) {
        return first;
    }
    if x >= last {
        return last;
    }
    let seg = steps.partition_point(|&s| s <= x).saturating_sub(1);
    let (a, b) = (steps[seg], steps[seg + 1]);
    let t = (x - a) / (b - a);
    // Flat shelf after each step, rising ever faster to the next one.
    let shaped = t + (t * t * t - t) * sharpness;
    a + (b - a) * shaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NodeMap;
    use crate::terrain::noise::Grid;

    fn terrain(nodes: Vec<(&str, NoiseNode)>) -> TerrainConfig {
        TerrainConfig {
            height: nodes[0].0.to_owned(),
            nodes: NodeMap(nodes.into_iter().map(|(n, v)| (n.to_owned(), v)).collect()),
        }
    }

    #[test]
    fn cycles_and_unknown_nodes_are_errors() {
        let cyclic = terrain(vec![
            ("a", NoiseNode::Abs("b".into())),
            ("b", NoiseNode::Abs("a".into())),
        ]);
        assert!(matches!(
            NoiseGraph::compile(&cyclic, 1),
            Err(GraphError::Cycle(_))
        ));
        let missing = terrain(vec![("a", NoiseNode::Abs("zz".into()))]);
        assert!(matches!(
            NoiseGraph::compile(&missing, 1),
            Err(GraphError::UnknownNode { .. })
        ));
    }

    #[test]
    fn operations_compute_what_they_say() {
        let t = terrain(vec![
            (
                "out",
                NoiseNode::Blend {
                    a: "lo".into(),
                    b: "sum".into(),
                    control: "ctl".into(),
                    from: 0.0,
                    to: 1.0,
                },
            ),
            ("lo", NoiseNode::Constant(-5.0)),
            ("two", NoiseNode::Constant(2.0)),
            ("three", NoiseNode::Constant(3.0)),
            ("sum", NoiseNode::Add(vec!["two".into(), "three".into()])),
            ("ctl", NoiseNode::Constant(1.0)),
        ]);
        let g = NoiseGraph::compile(&t, 0).unwrap();
        let grid = Coords::Grid(Grid {
            ix0: 0,
            iz0: 0,
            stride: 1,
            spacing: 1.0,
            nx: 3,
            nz: 2,
        });
        let out = g.evaluate(&[g.node("out").unwrap()], &grid);
        assert_eq!(out[0], vec![5.0; 6]);
    }

    #[test]
    fn curve_passes_through_points_without_overshoot() {
        let pts = vec![(-1.0, 0.0), (0.0, 0.1), (0.5, 0.9), (1.0, 1.0)];
        let tan = monotone_tangents(&pts);
        for &(x, y) in &pts {
            assert!((eval_curve(&pts, &tan, x) - y).abs() < 1e-6);
        }
        let mut prev = f32::MIN;
        for k in 0..=200 {
            let y = eval_curve(&pts, &tan, -1.0 + k as f32 / 100.0);
            assert!(y >= prev - 1e-6 && (0.0..=1.0).contains(&y));
            prev = y;
        }
    }

    #[test]
    fn terrace_holds_steps() {
        let steps = [0.0, 10.0, 20.0];
        assert_eq!(eval_terrace(&steps, 1.0, 10.0), 10.0);
        assert!(eval_terrace(&steps, 1.0, 11.0) < 10.1);
        assert_eq!(eval_terrace(&steps, 0.0, 15.0), 15.0);
        assert_eq!(eval_terrace(&steps, 1.0, 99.0), 20.0);
    }
}
