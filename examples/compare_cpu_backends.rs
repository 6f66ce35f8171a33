//! TEMPORARY: Flex vs ndarray timing for the NCA workload.
use aigc_world::ai::backend::compare_cpu_backends;
use aigc_world::ai::nca::{Exemplar, NcaWeights, rng::SplitMix};
fn main() {
    let (c, h) = (12, 32);
    let mut rng = SplitMix::new(3);
    let mut r = |n: usize, s: f32| {
        (0..n)
            .map(|_| (rng.next_f32() - 0.5) * s)
            .collect::<Vec<f32>>()
    };
    let w = NcaWeights {
        channels: c,
        hidden: h,
        steps: 64,
        fire_rate: 0.5,
        w1: r(4 * c * h, 0.3),
        b1: r(h, 0.1),
        w2: r(h * c, 0.05),
    };
    let ex = Exemplar {
        width: 96,
        height: 96,
        rgb: r(96 * 96 * 3, 1.0).iter().map(|v| v + 0.5).collect(),
    };
    print!("{}", compare_cpu_backends(&w, 256, ex, 5));
}
