//! The terrain as scatter sees it: the full-detail mesh surface, read from a grid of generator
//! samples.
//!
//! Heights are the chunk meshes' own vertex heights (same grid indices, same bits), interpolated
//! over the same two triangles per quad as the mesh, so an object's base sits exactly on the
//! full-detail surface. Normals, biome weights and clustering noise are interpolated bilinearly
//! from the vertices. Every value depends only on world position, never on which grid answered,
//! so neighbouring chunks agree about every candidate they both look at.

use std::sync::Arc;

use super::place::{Ground, GroundPoint};
use crate::config::MAX_BIOMES;
use crate::terrain::generator::normal_and_slope;
use crate::terrain::graph::Plan;
use crate::terrain::{BiomeWeights, TerrainGenerator};
use crate::water::lakes::{Lake, surface_over};

/// Ground over a rectangle of full-detail vertices, computed at once; points outside it are
/// answered from a small grid made on the spot (slower, same bits).
pub struct GroundGrid<'a> {
    generator: &'a TerrainGenerator,
    clusters: &'a Plan,
    cluster_count: usize,
    /// Full-detail index of the first vertex with data.
    i0: i64,
    j0: i64,
    nx: usize,
    nz: usize,
    spacing: f64,
    height: Vec<f32>,
    gradient: Vec<[f32; 2]>,
    weights: Vec<BiomeWeights>,
    /// Per clustering node, one value per vertex.
    cluster: Vec<Vec<f32>>,
    /// Lakes that may cover a vertex of it.
    lakes: Vec<Arc<Lake>>,
}

impl<'a> GroundGrid<'a> {
    /// The ground over world `[min, max]` (x and z), extended to whole vertices. `clusters` is
    /// a plan of the generator's graph whose outputs are the clustering nodes, in order.
    pub fn new(
        generator: &'a TerrainGenerator,
        clusters: &'a Plan,
        cluster_count: usize,
        min: [f64; 2],
        max: [f64; 2],
    ) -> Self {
        let d = generator.spacing();
        let (i0, j0) = ((min[0] / d).floor() as i64, (min[1] / d).floor() as i64);
        let (i1, j1) = (
            (max[0] / d).floor() as i64 + 1,
            (max[1] / d).floor() as i64 + 1,
        );
        Self::over_vertices(generator, clusters, cluster_count, i0, j0, i1, j1)
    }

    /// The ground over vertices `i0..=i1`, `j0..=j1`.
    fn over_vertices(
        generator: &'a TerrainGenerator,
        clusters: &'a Plan,
        cluster_count: usize,
        i0: i64,
        j0: i64,
        i1: i64,
        j1: i64,
    ) -> Self {
        let (nx, nz) = ((i1 - i0 + 1).max(1) as usize, (j1 - j0 + 1).max(1) as usize);
        let spacing = generator.spacing();
        // Heights with a one-vertex border for the central differences, as the mesh has.
        let (bx, bz) = (nx + 2, nz + 2);
        let border = generator.heights_on(generator.full_grid(i0 - 1, j0 - 1, bx, bz));
        let inner = generator.full_grid(i0, j0, nx, nz);
        let (temperature, moisture) = generator.climate_on(inner);
        let cluster = if cluster_count > 0 {
            generator
                .graph()
                .run(clusters, &crate::terrain::noise::Coords::Grid(inner))
        } else {
            Vec::new()
        };
        let step = spacing as f32;
        let inv_2step = 1.0 / (2.0 * step);
        let biomes = generator.biomes();
        let mut height = Vec::with_capacity(nx * nz);
        let mut gradient = Vec::with_capacity(nx * nz);
        let mut weights = Vec::with_capacity(nx * nz);
        let at = |i: usize, j: usize| border[j * bx + i];
        for j in 1..=nz {
            for i in 1..=nx {
                let h = at(i, j);
                let dx = (at(i + 1, j) - at(i - 1, j)) * inv_2step;
                let dz = (at(i, j + 1) - at(i, j - 1)) * inv_2step;
                let (_, slope) = normal_and_slope(dx, dz);
                let k = (j - 1) * nx + (i - 1);
                let t = biomes.temperature_at(temperature.get(k).copied().unwrap_or(0.5), h);
                let m = moisture.get(k).copied().unwrap_or(0.5);
                height.push(h);
                gradient.push([dx, dz]);
                weights.push(biomes.weights(h, slope, t, m));
            }
        }
        Self {
            lakes: generator.lakes_near(i0, j0, i1, j1),
            generator,
            clusters,
            cluster_count,
            i0,
            j0,
            nx,
            nz,
            spacing,
            height,
            gradient,
            weights,
            cluster,
        }
    }

    /// The quad holding world `(x, z)`: its corner's index in this grid and the fractions
    /// across it, or `None` if the quad is not inside.
    fn quad(&self, x: f64, z: f64) -> Option<(usize, f32, f32)> {
        let (fx, fz) = (x / self.spacing, z / self.spacing);
        let (i, j) = (fx.floor(), fz.floor());
        let (tx, tz) = ((fx - i) as f32, (fz - j) as f32);
        let (li, lj) = (i as i64 - self.i0, j as i64 - self.j0);
        if li < 0 || lj < 0 || li + 1 >= self.nx as i64 || lj + 1 >= self.nz as i64 {
            return None;
        }
        Some((lj as usize * self.nx + li as usize, tx, tz))
    }

    /// A small grid around world `(x, z)`, for points outside this one.
    fn around(&self, x: f64, z: f64) -> GroundGrid<'a> {
        let (i, j) = (
            (x / self.spacing).floor() as i64,
            (z / self.spacing).floor() as i64,
        );
        Self::over_vertices(
            self.generator,
            self.clusters,
            self.cluster_count,
            i,
            j,
            i + 1,
            j + 1,
        )
    }
}

/// Bilinear interpolation of `v` over the quad with corner `k` in a grid `nx` wide.
fn bilinear(v: impl Fn(usize) -> f32, k: usize, nx: usize, tx: f32, tz: f32) -> f32 {
    let (a, b, c, d) = (v(k), v(k + 1), v(k + nx), v(k + nx + 1));
    let top = a + (b - a) * tx;
    let bottom = c + (d - c) * tx;
    top + (bottom - top) * tz
}

impl Ground for GroundGrid<'_> {
    fn at(&self, x: f64, z: f64) -> GroundPoint {
        let Some((k, tx, tz)) = self.quad(x, z) else {
            return self.around(x, z).at(x, z);
        };
        let nx = self.nx;
        let h = |k: usize| self.height[k];
        // The mesh splits each quad along the diagonal from (i + 1, j) to (i, j + 1).
        let height = if tx + tz <= 1.0 {
            h(k) + (h(k + 1) - h(k)) * tx + (h(k + nx) - h(k)) * tz
        } else {
            let d = h(k + nx + 1);
            d + (h(k + nx) - d) * (1.0 - tx) + (h(k + 1) - d) * (1.0 - tz)
        };
        let dx = bilinear(|k| self.gradient[k][0], k, nx, tx, tz);
        let dz = bilinear(|k| self.gradient[k][1], k, nx, tx, tz);
        let (normal, slope) = normal_and_slope(dx, dz);
        let mut biome_weights = [0.0; MAX_BIOMES];
        for (b, w) in biome_weights.iter_mut().enumerate() {
            *w = bilinear(|k| self.weights[k][b], k, nx, tx, tz);
        }
        // The water over the quad's first vertex, as `TerrainGenerator::water_level_at` has it.
        let (i, j) = (
            (x / self.spacing).floor() as i64,
            (z / self.spacing).floor() as i64,
        );
        let water_level = surface_over(&self.lakes, self.generator.sea_level(), i, j);
        GroundPoint {
            height,
            normal,
            slope,
            biome_weights,
            water_level,
        }
    }

    fn cluster(&self, index: usize, x: f64, z: f64) -> f32 {
        if index >= self.cluster_count {
            return 1.0;
        }
        let Some((k, tx, tz)) = self.quad(x, z) else {
            return self.around(x, z).cluster(index, x, z);
        };
        let values = &self.cluster[index];
        bilinear(|k| values[k], k, self.nx, tx, tz)
    }
}
