//! The eroded ground in chunk-sized blocks of the world grid, each made once and shared by
//! every window that covers it.
//!
//! An eroded chunk reads noise far around itself (the network's margin) and a window a little
//! wider than itself (its level of detail's border), so windows of neighbouring chunks, and of
//! one chunk at its successive levels of detail as a flight refines or coarsens it, overlap.
//! Made per window, the same noise and the same network outputs were computed again and again.
//! Here the world grid is cut into blocks as wide as a chunk: a block's noise and a block's
//! height change (the network's output times the strength) are each made once and windows are
//! copied out of them. Every value is a function of its grid index alone
//! ([`TerrainGenerator::ground_window`](super::generator::TerrainGenerator::ground_window)), so a
//! window copied out of blocks has the bits a window made on its own has.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};

use super::generator::TerrainGenerator;

/// Most blocks of each kind kept. At the default world's 64-cell blocks one is 16 KB, so the
/// noise and change blocks hold at most about 39 MB together: a 1 km view (about 880 chunks)
/// and the ring around it.
pub(super) const MAX_BLOCKS: usize = 1200;

/// Values by key, the least recently used dropped first when full; safe to share between
/// threads.
#[derive(Debug)]
pub(super) struct Lru<K, V> {
    inner: Mutex<Entries<K, V>>,
}

#[derive(Debug)]
struct Entries<K, V> {
    values: HashMap<K, (V, u64)>,
    clock: u64,
}

impl<K, V> Default for Lru<K, V> {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Entries {
                values: HashMap::new(),
                clock: 0,
            }),
        }
    }
}

impl<K: Copy + Eq + Hash, V: Clone> Lru<K, V> {
    fn entries(&self) -> MutexGuard<'_, Entries<K, V>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The value of `key`, made by `make` when not kept (without holding the lock, so other
    /// threads go on; two that make the same value keep the first). Keeps at most `capacity`.
    pub fn get_or_make(&self, key: K, capacity: usize, make: impl FnOnce() -> V) -> V {
        {
            let mut entries = self.entries();
            entries.clock += 1;
            let now = entries.clock;
            if let Some((value, used)) = entries.values.get_mut(&key) {
                *used = now;
                return value.clone();
            }
        }
        let value = make();
        let mut entries = self.entries();
        entries.clock += 1;
        let now = entries.clock;
        if let Some((kept, used)) = entries.values.get_mut(&key) {
            *used = now;
            return kept.clone();
        }
        if entries.values.len() >= capacity.max(1) {
            let oldest = entries
                .values
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(key, _)| *key);
            if let Some(oldest) = oldest {
                entries.values.remove(&oldest);
            }
        }
        entries.values.insert(key, (value.clone(), now));
        value
    }

    /// The value of `key`, if kept (marks it used).
    pub fn get(&self, key: &K) -> Option<V> {
        let mut entries = self.entries();
        entries.clock += 1;
        let now = entries.clock;
        let (value, used) = entries.values.get_mut(key)?;
        *used = now;
        Some(value.clone())
    }

    /// Values kept.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries().values.len()
    }
}

/// Noise and erosion's height change (the network's output times the strength) of the world
/// grid in blocks as wide as a chunk, shared by a generator's clones.
#[derive(Debug, Default)]
pub(super) struct ErodedBlocks {
    noise: Lru<(i64, i64), Arc<Vec<f32>>>,
    change: Lru<(i64, i64), Arc<Vec<f32>>>,
}

impl ErodedBlocks {
    /// Eroded ground and erosion's change of the `nx` x `nz` window of the world grid from
    /// grid index `(ix0, iz0)`, with the bits of
    /// [`TerrainGenerator::ground_window`]; plain noise and zeros when `g` is not eroded.
    pub fn window(
        &self,
        g: &TerrainGenerator,
        at: (i64, i64),
        size: (usize, usize),
    ) -> (Vec<f32>, Vec<f32>) {
        let side = (g.chunk_vertices() - 1) as usize;
        let noise = assemble(at, size, side, |bx, bz| self.noise_block(g, bx, bz));
        if g.erosion().is_none() {
            let zeros = vec![0.0; noise.len()];
            return (noise, zeros);
        }
        let change = assemble(at, size, side, |bx, bz| self.change_block(g, bx, bz));
        let ground = noise.iter().zip(&change).map(|(n, c)| n + c).collect();
        (ground, change)
    }

    /// [`window`](Self::window)'s eroded ground, only if every block it needs is kept already.
    pub fn cached_ground(
        &self,
        g: &TerrainGenerator,
        at: (i64, i64),
        size: (usize, usize),
    ) -> Option<Vec<f32>> {
        let side = (g.chunk_vertices() - 1) as usize;
        let mut missing = false;
        let mut kept = |lru: &Lru<(i64, i64), Arc<Vec<f32>>>, bx, bz| {
            lru.get(&(bx, bz)).unwrap_or_else(|| {
                missing = true;
                Arc::new(vec![0.0; side * side])
            })
        };
        let noise = assemble(at, size, side, |bx, bz| kept(&self.noise, bx, bz));
        let change = assemble(at, size, side, |bx, bz| kept(&self.change, bx, bz));
        (!missing).then(|| noise.iter().zip(&change).map(|(n, c)| n + c).collect())
    }

    fn noise_block(&self, g: &TerrainGenerator, bx: i64, bz: i64) -> Arc<Vec<f32>> {
        self.noise.get_or_make((bx, bz), MAX_BLOCKS, || {
            let side = (g.chunk_vertices() - 1) as usize;
            let s = side as i64;
            Arc::new(g.noise_window(bx * s, bz * s, side, side))
        })
    }

    fn change_block(&self, g: &TerrainGenerator, bx: i64, bz: i64) -> Arc<Vec<f32>> {
        self.change.get_or_make((bx, bz), MAX_BLOCKS, || {
            let side = (g.chunk_vertices() - 1) as usize;
            let Some((net, strength)) = g.erosion() else {
                return Arc::new(vec![0.0; side * side]);
            };
            let s = side as i64;
            let (residual, _) = net.residual_at(
                |x0, z0, nx, nz| {
                    assemble((x0, z0), (nx, nz), side, |x, z| self.noise_block(g, x, z))
                },
                (bx * s, bz * s),
                (side, side),
                g.spacing() as f32,
            );
            // As `ground_window` scales it, cell by cell.
            Arc::new(
                (0..side * side)
                    .map(|k| strength * residual.get(k).copied().unwrap_or(0.0))
                    .collect(),
            )
        })
    }

    /// Noise blocks and change blocks kept.
    #[cfg(test)]
    pub fn len(&self) -> (usize, usize) {
        (self.noise.len(), self.change.len())
    }
}

/// The `nx` x `nz` window of the world grid from grid index `(ix0, iz0)`, row-major, copied out
/// of square blocks `side` cells wide: `block(bx, bz)` gives the block from grid index
/// `(bx * side, bz * side)`, rows of x fastest.
pub(super) fn assemble(
    (ix0, iz0): (i64, i64),
    (nx, nz): (usize, usize),
    side: usize,
    mut block: impl FnMut(i64, i64) -> Arc<Vec<f32>>,
) -> Vec<f32> {
    if nx == 0 || nz == 0 || side == 0 {
        return Vec::new();
    }
    let s = side as i64;
    let (bx0, bx1) = (ix0.div_euclid(s), (ix0 + nx as i64 - 1).div_euclid(s));
    let (bz0, bz1) = (iz0.div_euclid(s), (iz0 + nz as i64 - 1).div_euclid(s));
    let across = (bx1 - bx0 + 1) as usize;
    let blocks: Vec<Arc<Vec<f32>>> = (bz0..=bz1)
        .flat_map(|bz| (bx0..=bx1).map(move |bx| (bx, bz)))
        .map(|(bx, bz)| block(bx, bz))
        .collect();
    let mut out = Vec::with_capacity(nx * nz);
    for iz in iz0..iz0 + nz as i64 {
        let bz = iz.div_euclid(s);
        let row = (iz - bz * s) as usize * side;
        let mut ix = ix0;
        while ix < ix0 + nx as i64 {
            let bx = ix.div_euclid(s);
            let from = (ix - bx * s) as usize;
            let len = (side - from).min((ix0 + nx as i64 - ix) as usize);
            let b = &blocks[(bz - bz0) as usize * across + (bx - bx0) as usize];
            out.extend_from_slice(&b[row + from..row + from + len]);
            ix += len as i64;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::terrain::generator::ChunkCoord;

    #[test]
    fn a_window_assembled_from_blocks_equals_the_grid() {
        let value = |ix: i64, iz: i64| (ix * 1000 + iz) as f32;
        let side = 4;
        let block = |bx: i64, bz: i64| {
            let s = side as i64;
            Arc::new(
                (0..s * s)
                    .map(|k| value(bx * s + k % s, bz * s + k / s))
                    .collect::<Vec<_>>(),
            )
        };
        for (ix0, iz0, nx, nz) in [(-5, -3, 11, 7), (0, 0, 4, 4), (3, -9, 1, 13), (-1, 2, 9, 1)] {
            let window = assemble((ix0, iz0), (nx, nz), side, block);
            let expected: Vec<f32> = (0..nz as i64)
                .flat_map(|j| (0..nx as i64).map(move |i| value(ix0 + i, iz0 + j)))
                .collect();
            assert_eq!(window, expected, "window at {ix0},{iz0}");
        }
        assert!(assemble((0, 0), (0, 3), side, block).is_empty());
    }

    #[test]
    fn the_least_recently_used_value_goes_first() {
        let cache: Lru<u8, u32> = Lru::default();
        cache.get_or_make(1, 2, || 10);
        cache.get_or_make(2, 2, || 20);
        assert_eq!(cache.get_or_make(1, 2, || 99), 10); // kept; now newer than 2
        cache.get_or_make(3, 2, || 30);
        assert_eq!(cache.len(), 2);
        assert_eq!(
            cache.get_or_make(2, 2, || 21),
            21,
            "2 was dropped and made again"
        );
        assert_eq!(cache.get_or_make(3, 2, || 99), 30);
    }

    #[test]
    fn every_level_cut_from_blocks_equals_its_own_window() {
        use crate::erosion::net::tests::{tiny_two_scale, tiny_weights};
        for weights in [tiny_weights(3), tiny_two_scale(3)] {
            levels_cut_from_blocks_equal_their_own_windows(weights);
        }
    }

    fn levels_cut_from_blocks_equal_their_own_windows(weights: crate::erosion::ErosionWeights) {
        use crate::config::{DEFAULT_WORLD_RON, parse_world};
        use crate::erosion::ErosionNet;
        use crate::terrain::TerrainGenerator;

        let world = parse_world(DEFAULT_WORLD_RON, "default.world.ron").unwrap();
        let g = TerrainGenerator::new(&world)
            .unwrap()
            .with_erosion(Arc::new(ErosionNet::new(weights)), 1.0);
        let bits = |v: &[f32]| v.iter().map(|h| h.to_bits()).collect::<Vec<_>>();
        // A ground query where no chunk made blocks makes none, and gives the blocks' bits.
        let (x0, z0) = g.chunk_origin(ChunkCoord::new(2, -5));
        let (x, z) = (x0 + 5.0 * g.spacing(), z0 + 7.0 * g.spacing());
        let alone = g.height_at(x, z);
        assert_eq!(g.cached_blocks(), (0, 0));
        // Coarse first, then finer levels, then the chunk beside it, as a flight asks.
        for (coord, step) in [(2, 8), (2, 4), (2, 2), (2, 1), (3, 1), (3, 8)] {
            let coord = ChunkCoord::new(coord, -5);
            let (ground, change, n) = g.full_detail_and_change(coord, step);
            let (own_ground, own_change, own_n) = g.window_around(coord, step);
            assert_eq!(n, own_n);
            assert_eq!(bits(&ground), bits(&own_ground), "{coord:?} step {step}");
            assert_eq!(bits(&change), bits(&own_change), "{coord:?} step {step}");
            assert!(change.iter().any(|&c| c != 0.0));
        }
        // Chunks x = 2 and 3 and the ring around them: 4 x 3 blocks of change, each made once.
        assert_eq!(g.cached_blocks().1, 12);
        assert_eq!(g.height_at(x, z).to_bits(), alone.to_bits());
    }
}
