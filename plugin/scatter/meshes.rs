//! Procedural meshes for scattered objects, as plain buffers: seeded trees (a branching trunk
//! with leaf clusters), conifers, bushes, faceted rocks and grass tufts. No downloaded assets.
//!
//! Colours are per vertex (linear RGB), so every kind draws with one shared material and Bevy
//! batches all instances of a (kind, variant) mesh. Each object stands on its origin with +y up;
//! the placement's transform turns, tilts and scales it.

use std::f32::consts::TAU;

use bevy::math::{Quat, Vec3};

use super::rules::ObjectKind;
use crate::npc::rng::Rng;

/// Seed of the shared object meshes (independent of the world, so they outlive world edits).
pub const OBJECT_MESH_SEED: u64 = 0x7ee5;

/// Most variants of a kind ([`Layer::variants`](super::rules::Layer::variants) is at most this).
pub const MAX_VARIANTS: u8 = 8;

/// Mesh buffers of one object (or of a chunk's grass).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObjectMesh {
    /// Positions, metres.
    pub positions: Vec<[f32; 3]>,
    /// Unit normals.
    pub normals: Vec<[f32; 3]>,
    /// Linear RGBA colours.
    pub colors: Vec<[f32; 4]>,
    /// Triangle list, counter-clockwise seen from outside.
    pub indices: Vec<u32>,
    /// How far each vertex moves in the wind, 0 (rooted) to 1 (a blade's tip); empty for
    /// meshes that do not sway.
    pub sway: Vec<f32>,
}

impl ObjectMesh {
    /// Number of vertices.
    pub fn vertex_count(&self) -> usize {
        self.positions.len()
    }

    /// Lowest and highest corner of the positions (zero when empty).
    pub fn bounds(&self) -> ([f32; 3], [f32; 3]) {
        if self.positions.is_empty() {
            return ([0.0; 3], [0.0; 3]);
        }
        let (mut lo, mut hi) = ([f32::INFINITY; 3], [f32::NEG_INFINITY; 3]);
        for p in &self.positions {
            for k in 0..3 {
                lo[k] = lo[k].min(p[k]);
                hi[k] = hi[k].max(p[k]);
            }
        }
        (lo, hi)
    }

    /// A flat-shaded triangle (its own three vertices, the face normal).
    fn flat_triangle(&mut self, a: Vec3, b: Vec3, c: Vec3, color: [f32; 3]) {
        let n = (b - a).cross(c - a).normalize_or(Vec3::Y).to_array();
        let base = self.positions.len() as u32;
        for p in [a, b, c] {
            self.positions.push(p.to_array());
            self.normals.push(n);
            self.colors.push([color[0], color[1], color[2], 1.0]);
        }
        self.indices.extend([base, base + 1, base + 2]);
    }

    /// A smooth-shaded tapered tube from `a` to `b` with `sides` sides (no caps).
    fn tube(&mut self, a: Vec3, b: Vec3, (ra, rb): (f32, f32), sides: u32, color: [f32; 3]) {
        let axis = (b - a).normalize_or(Vec3::Y);
        let side = axis.any_orthonormal_vector();
        let other = axis.cross(side);
        let base = self.positions.len() as u32;
        for k in 0..sides {
            let t = k as f32 / sides as f32 * TAU;
            let dir = side * t.cos() + other * t.sin();
            for (centre, r) in [(a, ra), (b, rb)] {
                self.positions.push((centre + dir * r).to_array());
                self.normals.push(dir.to_array());
                self.colors.push([color[0], color[1], color[2], 1.0]);
            }
        }
        for k in 0..sides {
            let (i0, i1) = (base + 2 * k, base + 2 * ((k + 1) % sides));
            self.indices.extend([i0, i1 + 1, i0 + 1, i0, i1, i1 + 1]);
        }
    }

    /// A faceted blob: an icosphere (`subdivisions` times split) displaced by `rng`, scaled by
    /// `size` per axis, centred at `centre`, each face in `color` varied by up to `vary`.
    fn blob(
        &mut self,
        rng: &mut Rng,
        centre: Vec3,
        size: Vec3,
        subdivisions: u32,
        roughness: f32,
        color: [f32; 3],
        vary: f32,
    ) {
        let (verts, faces) = icosphere(subdivisions);
        // Low-frequency bumps: a few random directions pushing the surface out or in.
        let bumps: Vec<(Vec3, f32)> = (0..5)
            .map(|_| {
                let d = Vec3::new(
                    rng.unit() as f32 * 2.0 - 1.0,
                    rng.unit() as f32 * 2.0 - 1.0,
                    rng.unit() as f32 * 2.0 - 1.0,
                )
                .normalize_or(Vec3::X);
                (d, (rng.unit() as f32 * 2.0 - 1.0) * roughness)
            })
            .collect();
        let shaped: Vec<Vec3> = verts
            .iter()
            .map(|&v| {
                let r = 1.0
                    + bumps
                        .iter()
                        .map(|(d, a)| a * v.dot(*d).max(0.0).powi(2))
                        .sum::<f32>()
                    + (rng.unit() as f32 - 0.5) * roughness * 0.3;
                centre + v * r * size
            })
            .collect();
        for f in faces {
            let shade = 1.0 + (rng.unit() as f32 - 0.5) * vary;
            let c = color.map(|x| (x * shade).clamp(0.0, 1.0));
            self.flat_triangle(shaped[f[0]], shaped[f[1]], shaped[f[2]], c);
        }
    }
}

/// Unit icosphere: vertices and triangles (counter-clockwise from outside).
fn icosphere(subdivisions: u32) -> (Vec<Vec3>, Vec<[usize; 3]>) {
    let t = (1.0 + 5.0f32.sqrt()) / 2.0;
    let mut verts: Vec<Vec3> = [
        (-1.0, t, 0.0),
        (1.0, t, 0.0),
        (-1.0, -t, 0.0),
        (1.0, -t, 0.0),
        (0.0, -1.0, t),
        (0.0, 1.0, t),
        (0.0, -1.0, -t),
        (0.0, 1.0, -t),
        (t, 0.0, -1.0),
        (t, 0.0, 1.0),
        (-t, 0.0, -1.0),
        (-t, 0.0, 1.0),
    ]
    .iter()
    .map(|&(x, y, z)| Vec3::new(x, y, z).normalize())
    .collect();
    let mut faces = vec![
        [0, 11, 5],
        [0, 5, 1],
        [0, 1, 7],
        [0, 7, 10],
        [0, 10, 11],
        [1, 5, 9],
        [5, 11, 4],
        [11, 10, 2],
        [10, 7, 6],
        [7, 1, 8],
        [3, 9, 4],
        [3, 4, 2],
        [3, 2, 6],
        [3, 6, 8],
        [3, 8, 9],
        [4, 9, 5],
        [2, 4, 11],
        [6, 2, 10],
        [8, 6, 7],
        [9, 8, 1],
    ];
    for _ in 0..subdivisions {
        let mut mid = std::collections::HashMap::new();
        let mut split = |a: usize, b: usize, verts: &mut Vec<Vec3>| {
            *mid.entry((a.min(b), a.max(b))).or_insert_with(|| {
                verts.push((verts[a] + verts[b]).normalize());
                verts.len() - 1
            })
        };
        let mut next = Vec::with_capacity(faces.len() * 4);
        for [a, b, c] in faces {
            let ab = split(a, b, &mut verts);
            let bc = split(b, c, &mut verts);
            let ca = split(c, a, &mut verts);
            next.extend([[a, ab, ca], [b, bc, ab], [c, ca, bc], [ab, bc, ca]]);
        }
        faces = next;
    }
    (verts, faces)
}

const BARK: [f32; 3] = [0.16, 0.10, 0.06];
const LEAVES: [f32; 3] = [0.09, 0.22, 0.05];
const NEEDLES: [f32; 3] = [0.04, 0.13, 0.06];
const STONE: [f32; 3] = [0.30, 0.29, 0.27];

/// Variant `variant` of `kind`, the same for the same `(kind, variant, seed)`. Grass tufts are
/// drawn per chunk by [`layer_mesh`](super::chunk_mesh::layer_mesh); this gives one tuft.
pub fn object_mesh(kind: ObjectKind, variant: u8, seed: u64) -> ObjectMesh {
    let mut rng = Rng::new(&[seed, kind as u64, u64::from(variant), 0x000b_1ec7]);
    let mut mesh = ObjectMesh::default();
    match kind {
        ObjectKind::Tree => tree(&mut mesh, &mut rng),
        ObjectKind::Conifer => conifer(&mut mesh, &mut rng),
        ObjectKind::Bush => bush(&mut mesh, &mut rng),
        ObjectKind::Rock => rock(&mut mesh, &mut rng, 0.45, 1),
        ObjectKind::Boulder => rock(&mut mesh, &mut rng, 1.6, 2),
        ObjectKind::Grass => tuft(&mut mesh, &mut rng, Vec3::ZERO, Quat::IDENTITY, 1.0),
    }
    mesh
}

/// The far level of variant `variant` of `kind`: a few dozen triangles with the silhouette and
/// colours of [`object_mesh`]'s, for objects past their layer's detail distance. A tree is a
/// trunk under one faceted crown, a conifer a trunk inside two cones, anything else one faceted
/// blob filling the object's bounds.
pub fn far_object_mesh(kind: ObjectKind, variant: u8, seed: u64) -> ObjectMesh {
    let full = object_mesh(kind, variant, seed);
    let mut rng = Rng::new(&[seed, kind as u64, u64::from(variant), 0x0000_fa12]);
    let mut mesh = ObjectMesh::default();
    // Foliage: everything that is not bark.
    let foliage: Vec<usize> = (0..full.vertex_count())
        .filter(|&i| full.colors[i][..3] != BARK)
        .collect();
    let (lo, hi) = bounds_of(foliage.iter().map(|&i| full.positions[i]));
    let colour = mean_colour(foliage.iter().map(|&i| full.colors[i]));
    let (lo, hi) = (Vec3::from(lo), Vec3::from(hi));
    let centre = lo.midpoint(hi);
    match kind {
        ObjectKind::Tree if !foliage.is_empty() => {
            mesh.tube(Vec3::ZERO, Vec3::Y * centre.y, (0.2, 0.12), 4, BARK);
            mesh.blob(&mut rng, centre, (hi - lo) * 0.48, 0, 0.15, colour, 0.3);
        }
        ObjectKind::Conifer if !foliage.is_empty() => {
            let height = hi.y - lo.y;
            let radius = (hi.x - lo.x).max(hi.z - lo.z) * 0.5;
            mesh.tube(
                Vec3::ZERO,
                Vec3::Y * (lo.y + height * 0.5),
                (0.2, 0.1),
                4,
                BARK,
            );
            let base = Vec3::new(centre.x, lo.y, centre.z);
            cone(&mut mesh, base, height * 0.62, radius, 6, colour, &mut rng);
            let upper = base + Vec3::Y * height * 0.42;
            cone(
                &mut mesh,
                upper,
                height * 0.58,
                radius * 0.62,
                6,
                colour,
                &mut rng,
            );
        }
        _ => {
            let (lo, hi) = full.bounds();
            let (lo, hi) = (Vec3::from(lo), Vec3::from(hi));
            let colour = mean_colour(full.colors.iter().copied());
            mesh.blob(
                &mut rng,
                lo.midpoint(hi),
                (hi - lo) * 0.5,
                0,
                0.1,
                colour,
                0.25,
            );
        }
    }
    mesh
}

/// Lowest and highest corner of `points` (zero when there are none).
fn bounds_of(points: impl Iterator<Item = [f32; 3]>) -> ([f32; 3], [f32; 3]) {
    let mut mesh = ObjectMesh::default();
    mesh.positions.extend(points);
    mesh.bounds()
}

/// The mean RGB of `colours` (black when there are none).
fn mean_colour(colours: impl Iterator<Item = [f32; 4]>) -> [f32; 3] {
    let (mut sum, mut n) = ([0.0f32; 3], 0.0f32);
    for c in colours {
        for k in 0..3 {
            sum[k] += c[k];
        }
        n += 1.0;
    }
    sum.map(|x| x / n.max(1.0))
}

/// A broadleaf tree: a trunk that forks a few times (each fork turning and thinning, a small
/// seeded L-system), with a leaf cluster at every twig's end.
fn tree(mesh: &mut ObjectMesh, rng: &mut Rng) {
    let height = 2.6 + rng.unit() as f32 * 1.4;
    let radius = 0.18 + rng.unit() as f32 * 0.08;
    let hue = 0.85 + rng.unit() as f32 * 0.3;
    let leaves = LEAVES.map(|c| c * hue);
    branch(mesh, rng, Vec3::ZERO, Vec3::Y, height, radius, 3, leaves);
}

fn branch(
    mesh: &mut ObjectMesh,
    rng: &mut Rng,
    start: Vec3,
    dir: Vec3,
    length: f32,
    radius: f32,
    depth: u32,
    leaves: [f32; 3],
) {
    let end = start + dir * length;
    let top = radius * 0.68;
    mesh.tube(start, end, (radius, top), 5, BARK);
    if depth == 0 {
        let size = 1.0 + rng.unit() as f32 * 0.6;
        let s = Vec3::new(size, size * 0.75, size);
        mesh.blob(rng, end, s, 0, 0.25, leaves, 0.35);
        return;
    }
    let forks = 2 + rng.below(2) as u32;
    let turn = rng.unit() as f32 * TAU;
    let side = dir.any_orthonormal_vector();
    for k in 0..forks {
        let azimuth = turn + k as f32 / forks as f32 * TAU + (rng.unit() as f32 - 0.5) * 0.8;
        let elevation = 0.45 + rng.unit() as f32 * 0.45;
        let around = Quat::from_axis_angle(dir, azimuth) * side;
        // Lean away from the parent, then back up a little towards the light.
        let child =
            (Quat::from_axis_angle(around, elevation) * dir + Vec3::Y * 0.25).normalize_or(Vec3::Y);
        let at = start + dir * length * (0.75 + rng.unit() as f32 * 0.25);
        let len = length * (0.55 + rng.unit() as f32 * 0.2);
        branch(mesh, rng, at, child, len, top * 0.75, depth - 1, leaves);
    }
}

/// A conifer: a straight trunk inside stacked cones of needles.
fn conifer(mesh: &mut ObjectMesh, rng: &mut Rng) {
    let height = 7.0 + rng.unit() as f32 * 4.0;
    mesh.tube(Vec3::ZERO, Vec3::Y * height * 0.9, (0.2, 0.08), 5, BARK);
    let tiers = 4 + rng.below(2) as u32;
    let shade = 0.85 + rng.unit() as f32 * 0.3;
    let color = NEEDLES.map(|c| c * shade);
    for t in 0..tiers {
        let f = t as f32 / tiers as f32;
        let bottom = height * (0.18 + 0.72 * f);
        let top = bottom + height * (0.36 - 0.12 * f);
        let r = (2.3 - 1.7 * f) * (0.9 + rng.unit() as f32 * 0.2);
        cone(mesh, Vec3::Y * bottom, top - bottom, r, 8, color, rng);
    }
}

/// A cone of `sides` faceted sides with a flat underside.
fn cone(
    mesh: &mut ObjectMesh,
    base: Vec3,
    height: f32,
    radius: f32,
    sides: u32,
    color: [f32; 3],
    rng: &mut Rng,
) {
    let apex = base + Vec3::Y * height;
    let twist = rng.unit() as f32 * TAU;
    let ring: Vec<Vec3> = (0..sides)
        .map(|k| {
            let a = twist + k as f32 / sides as f32 * TAU;
            let r = radius * (0.85 + rng.unit() as f32 * 0.3);
            base + Vec3::new(a.cos() * r, -0.15 * r, a.sin() * r)
        })
        .collect();
    for k in 0..sides as usize {
        let (a, b) = (ring[k], ring[(k + 1) % sides as usize]);
        let shade = 0.9 + rng.unit() as f32 * 0.2;
        mesh.flat_triangle(a, apex, b, color.map(|c| c * shade));
        mesh.flat_triangle(a, b, base, color.map(|c| c * 0.6));
    }
}

/// A bush: a few leaf clusters close to the ground.
fn bush(mesh: &mut ObjectMesh, rng: &mut Rng) {
    let hue = 0.9 + rng.unit() as f32 * 0.4;
    let color = [LEAVES[0] * 1.2 * hue, LEAVES[1] * hue, LEAVES[2]];
    for _ in 0..3 + rng.below(3) {
        let a = rng.unit() as f32 * TAU;
        let d = rng.unit() as f32 * 0.5;
        let size = 0.45 + rng.unit() as f32 * 0.35;
        let centre = Vec3::new(a.cos() * d, size * 0.6, a.sin() * d);
        let s = Vec3::new(size, size * 0.8, size);
        mesh.blob(rng, centre, s, 0, 0.3, color, 0.35);
    }
}

/// A rock: a displaced, flattened icosphere with flat facets.
fn rock(mesh: &mut ObjectMesh, rng: &mut Rng, size: f32, subdivisions: u32) {
    let stretch = 0.8 + rng.unit() as f32 * 0.5;
    let s = Vec3::new(size * stretch, size * (0.5 + rng.unit() as f32 * 0.2), size);
    let tint = 0.85 + rng.unit() as f32 * 0.3;
    let color = [STONE[0] * tint, STONE[1] * tint, STONE[2] * (tint * 0.95)];
    mesh.blob(rng, Vec3::Y * s.y * 0.5, s, subdivisions, 0.45, color, 0.25);
}

/// One grass tuft: a few thin blades (one triangle each) leaning outwards, dark at the root
/// and light at the tip, all normals facing `up` so tufts shade like the ground under them.
pub(super) fn tuft(mesh: &mut ObjectMesh, rng: &mut Rng, origin: Vec3, turn: Quat, scale: f32) {
    let up = turn * Vec3::Y;
    let normal = up.to_array();
    let root = [0.05, 0.13, 0.02, 1.0];
    let tip_shade = 0.8 + rng.unit() as f32 * 0.4;
    let tip = [0.24 * tip_shade, 0.42 * tip_shade, 0.10, 1.0];
    for _ in 0..4 {
        let a = rng.unit() as f32 * TAU;
        let out = Vec3::new(a.cos(), 0.0, a.sin());
        let across = Vec3::new(-a.sin(), 0.0, a.cos());
        let height = (0.3 + rng.unit() as f32 * 0.3) * scale;
        let width = 0.035 * scale;
        let lean = 0.15 + rng.unit() as f32 * 0.3;
        let base = origin + turn * (out * 0.06 * scale);
        let top = origin + turn * (out * (0.06 * scale + lean * height) + Vec3::Y * height);
        let first = mesh.positions.len() as u32;
        for (p, c, sway) in [
            (base - turn * across * width, root, 0.0),
            (base + turn * across * width, root, 0.0),
            (top, tip, 1.0),
        ] {
            mesh.positions.push(p.to_array());
            mesh.normals.push(normal);
            mesh.colors.push(c);
            mesh.sway.push(sway);
        }
        mesh.indices.extend([first, first + 1, first + 2]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn far_levels_are_small_and_fill_about_the_same_space() {
        for kind in [ObjectKind::Tree, ObjectKind::Conifer, ObjectKind::Boulder] {
            for variant in 0..3 {
                let full = object_mesh(kind, variant, OBJECT_MESH_SEED);
                let far = far_object_mesh(kind, variant, OBJECT_MESH_SEED);
                assert_eq!(far, far_object_mesh(kind, variant, OBJECT_MESH_SEED));
                let n = far.vertex_count();
                assert!(n <= 120 && n * 2 <= full.vertex_count(), "{kind:?} {n}");
                assert_eq!((far.normals.len(), far.colors.len()), (n, n));
                assert!(far.indices.iter().all(|&i| (i as usize) < n));
                let ((a, b), (c, d)) = (full.bounds(), far.bounds());
                for k in 0..3 {
                    let (full_size, far_size) = (b[k] - a[k], d[k] - c[k]);
                    assert!(
                        (far_size - full_size).abs() <= 0.3 * full_size,
                        "{kind:?} {variant} axis {k}: {far_size} against {full_size}"
                    );
                }
            }
        }
    }

    #[test]
    fn meshes_are_seeded_well_formed_and_small() {
        for kind in ObjectKind::ALL {
            for variant in 0..3 {
                let m = object_mesh(kind, variant, 7);
                assert_eq!(m, object_mesh(kind, variant, 7), "{kind:?}");
                let n = m.vertex_count();
                assert!(n > 0 && n < 4000, "{kind:?} has {n} vertices");
                assert_eq!((m.normals.len(), m.colors.len()), (n, n));
                assert!(m.indices.iter().all(|&i| (i as usize) < n));
                assert!(m.positions.iter().flatten().all(|x| x.is_finite()));
                // Only grass carries its own sway (trees get theirs by height when drawn).
                let sway = if kind == ObjectKind::Grass { n } else { 0 };
                assert_eq!(m.sway.len(), sway, "{kind:?}");
                let (lo, hi) = m.bounds();
                // Standing on the origin: not floating, and more above the ground than below.
                assert!(
                    lo[1] < 0.5 && hi[1] > 0.1 && hi[1] > -lo[1],
                    "{kind:?} {lo:?} {hi:?}"
                );
            }
            assert_ne!(object_mesh(kind, 0, 7), object_mesh(kind, 1, 7), "{kind:?}");
        }
    }
}
