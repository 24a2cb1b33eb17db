//! Tiny networks against hand-written plain-loop Rust of the same math, side by side:
//! inference of one sample and one SGD training step (forward, loss gradient, backward,
//! update) of 4-16-16-3 (ReLU, softmax cross-entropy) and 2-8-1 (tanh, MSE). The 2-8-1
//! baseline runs twice: with libm's `tanhf`, and with the crate's branch-free
//! `kernels::tanh_f32` that the generated code uses.
//!
//! ```text
//! cargo bench --bench tiny && python3 benches/ratios.py
//! ```

// Plain index loops are the baseline being measured.
#![allow(clippy::needless_range_loop)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use network::loss::Loss;
use network::nalgebra::{SMatrix, SVector};
use network::prelude::*;

network! {
    struct Mlp { a: Dense<4, 16>, Relu, b: Dense<16, 16>, Relu, c: Dense<16, 3> }
}

network! {
    struct Small { a: Dense<2, 8>, Tanh, b: Dense<8, 1> }
}

#[path = "common/plain.rs"]
mod plain;
use plain::{PlainLayer, PlainMlp, LR};

/// 2-8-1 in plain loops, with `tanh` from libm (`LIBM`, what a hand-written program
/// calls) or from `network::kernels::tanh_f32` (what the generated code calls), to show
/// how much of the difference is the `tanh`.
struct PlainSmall<const LIBM: bool>(PlainLayer<2, 8>, PlainLayer<8, 1>);

impl<const LIBM: bool> PlainSmall<LIBM> {
    /// An in-place loop: LLVM vectorizes it with the branch-free `tanh` (`array::map`
    /// it did not: 58 ns instead of 17 for the forward pass).
    #[inline(always)]
    fn tanh(&self, mut h: [f32; 8]) -> [f32; 8] {
        for v in &mut h {
            *v = if LIBM {
                libm::tanhf(*v)
            } else {
                network::kernels::tanh_f32(*v)
            };
        }
        h
    }

    fn forward(&self, x: &[f32; 2]) -> [f32; 1] {
        let h = self.tanh(self.0.forward(x));
        self.1.forward(&h)
    }

    fn step(&mut self, x: &[f32; 2], y: f32) -> f32 {
        let h = self.tanh(self.0.forward(x));
        let z = self.1.forward(&h);
        let diff = z[0] - y;
        let mut d = self.1.backward_sgd(&h, &[2.0 * diff]);
        (0..8).for_each(|k| d[k] *= 1.0 - h[k] * h[k]);
        self.0.backward_sgd(x, &d);
        diff * diff
    }
}

/// The generated fused step: forward_train, loss gradient, backward_sgd.
fn generated_step<N: Network<f32, IN, OUT>, L: Loss, const IN: usize, const OUT: usize>(
    net: &mut N,
    tape: &mut N::Tape<1>,
    x: &SVector<f32, IN>,
    y: &SVector<f32, OUT>,
    loss: L,
    rng: &mut Rng,
) -> f32 {
    let mut d = SMatrix::<f32, OUT, 1>::zeros();
    let value = loss.loss_and_grad(net.forward_train(x, tape, rng), y, &mut d);
    net.backward_sgd(x, tape, &d, LR);
    value
}

fn tiny(c: &mut Criterion) {
    let mut rng = Rng::seed_from_u64(1);
    let mut mlp = Mlp::<f32>::random(&mut rng);
    let mut plain = PlainMlp(
        PlainLayer::from(&mlp.a),
        PlainLayer::from(&mlp.b),
        PlainLayer::from(&mlp.c),
    );
    let x = SVector::<f32, 4>::new(0.3, -1.2, 0.8, 0.1);
    let y = SVector::<f32, 3>::new(0.0, 1.0, 0.0);
    let (xa, ya) = ([0.3, -1.2, 0.8, 0.1], [0.0, 1.0, 0.0]);
    let generated = mlp.forward(&x);
    let reference = plain.forward(&xa);
    for k in 0..3 {
        assert!((generated[k] - reference[k]).abs() < 1e-5, "different math");
    }
    let mut tape = Mlp::<f32>::new_tape::<1>();
    let mut group = c.benchmark_group("tiny_4-16-16-3_forward");
    group.bench_function("generated", |b| b.iter(|| mlp.forward(black_box(&x))));
    group.bench_function("plain_loops", |b| b.iter(|| plain.forward(black_box(&xa))));
    group.finish();
    let mut group = c.benchmark_group("tiny_4-16-16-3_sgd_step");
    group.bench_function("generated", |b| {
        b.iter(|| {
            generated_step(
                &mut mlp,
                &mut tape,
                black_box(&x),
                &y,
                SoftmaxCrossEntropy,
                &mut rng,
            )
        })
    });
    group.bench_function("plain_loops", |b| {
        b.iter(|| plain.step(black_box(&xa), &ya))
    });
    group.finish();

    let mut small = Small::<f32>::random(&mut rng);
    let mut plain = PlainSmall::<true>(PlainLayer::from(&small.a), PlainLayer::from(&small.b));
    let mut plain_ours =
        PlainSmall::<false>(PlainLayer::from(&small.a), PlainLayer::from(&small.b));
    let x = SVector::<f32, 2>::new(0.5, -0.25);
    let y = SVector::<f32, 1>::new(0.7);
    let xa = [0.5, -0.25];
    for reference in [plain.forward(&xa)[0], plain_ours.forward(&xa)[0]] {
        assert!(
            (small.forward(&x)[0] - reference).abs() < 1e-5,
            "different math"
        );
    }
    let mut tape = Small::<f32>::new_tape::<1>();
    let mut group = c.benchmark_group("tiny_2-8-1_forward");
    group.bench_function("generated", |b| b.iter(|| small.forward(black_box(&x))));
    group.bench_function("plain_loops", |b| b.iter(|| plain.forward(black_box(&xa))));
    group.bench_function("plain_loops_tanh_f32", |b| {
        b.iter(|| plain_ours.forward(black_box(&xa)))
    });
    group.finish();
    let mut group = c.benchmark_group("tiny_2-8-1_sgd_step");
    group.bench_function("generated", |b| {
        b.iter(|| generated_step(&mut small, &mut tape, black_box(&x), &y, Mse, &mut rng))
    });
    group.bench_function("plain_loops", |b| {
        b.iter(|| plain.step(black_box(&xa), 0.7))
    });
    group.bench_function("plain_loops_tanh_f32", |b| {
        b.iter(|| plain_ours.step(black_box(&xa), 0.7))
    });
    group.finish();
}

/// The activations alone over a 16-wide layer output: libm (a call with branches per
/// element) against the crate's branch-free kernels, which LLVM vectorizes.
fn activations(c: &mut Criterion) {
    let x: [f32; 16] = core::array::from_fn(|i| (i as f32 - 8.0) * 0.7);
    let libm_sigmoid = |v: f32| {
        if v >= 0.0 {
            1.0 / (1.0 + libm::expf(-v))
        } else {
            let e = libm::expf(v);
            e / (1.0 + e)
        }
    };
    let mut group = c.benchmark_group("activation_tanh_16");
    group.bench_function("libm", |b| b.iter(|| black_box(x).map(libm::tanhf)));
    group.bench_function("network", |b| {
        b.iter(|| {
            let mut v = black_box(x);
            v.iter_mut()
                .for_each(|e| *e = network::kernels::tanh_f32(*e));
            v
        })
    });
    group.finish();
    let mut group = c.benchmark_group("activation_sigmoid_16");
    group.bench_function("libm", |b| b.iter(|| black_box(x).map(libm_sigmoid)));
    group.bench_function("network", |b| {
        b.iter(|| {
            let mut v = black_box(x);
            v.iter_mut()
                .for_each(|e| *e = network::kernels::sigmoid_f32(*e));
            v
        })
    });
    group.finish();
}

criterion_group!(benches, tiny, activations);
criterion_main!(benches);
