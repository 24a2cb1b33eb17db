//! One SGD training step, generated code side by side with a hand-written nalgebra
//! implementation of the same math (forward, softmax cross-entropy, backward, update).
//!
//! ```text
//! cargo bench --bench train_step
//! python3 benches/ratios.py        # generated / hand-written, from criterion's estimates
//! ```

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use network::nalgebra::{SMatrix, SVector};
use network::prelude::*;

#[path = "common/tiny.rs"]
mod tiny_step;
use tiny_step::{generated_fused_step, generated_step, HandTiny, Tiny, LR};
#[cfg(target_arch = "x86_64")]
use tiny_step::{hand_tiny_avx2, hand_tiny_avx512};

network! {
    struct Mnist {
        hidden: Dense<784, 128>, Relu,
        logits: Dense<128, 10>,
    }
}

/// Hand-written nalgebra 784-128-10 on a batch of 32 columns.
struct HandMnist {
    w1: SMatrix<f32, 128, 784>,
    b1: SVector<f32, 128>,
    w2: SMatrix<f32, 10, 128>,
    b2: SVector<f32, 10>,
}

impl HandMnist {
    fn from(net: &Mnist<f32>) -> Box<Self> {
        Box::new(HandMnist {
            w1: net.hidden.weight,
            b1: net.hidden.bias,
            w2: net.logits.weight,
            b2: net.logits.bias,
        })
    }

    fn step(&mut self, x: &SMatrix<f32, 784, 32>, y: &SMatrix<f32, 10, 32>) -> f32 {
        let mut z1 = self.w1 * x;
        for mut c in z1.column_iter_mut() {
            c += self.b1;
        }
        let a1 = z1.map(|v| v.max(0.0));
        let mut z2 = self.w2 * a1;
        for mut c in z2.column_iter_mut() {
            c += self.b2;
        }
        let mut d2 = SMatrix::<f32, 10, 32>::zeros();
        let mut loss = 0.0;
        for (j, z) in z2.column_iter().enumerate() {
            let max = z.max();
            let e = z.map(|v| (v - max).exp());
            let sum = e.sum();
            loss += (max + sum.ln()) - z.dot(&y.column(j));
            d2.set_column(j, &((e / sum - y.column(j)) / 32.0));
        }
        let d1 =
            (self.w2.transpose() * d2).component_mul(&a1.map(|v| if v > 0.0 { 1.0 } else { 0.0 }));
        self.w2 -= LR * d2 * a1.transpose();
        self.b2 -= LR * d2.column_sum();
        self.w1 -= LR * d1 * x.transpose();
        self.b1 -= LR * d1.column_sum();
        loss / 32.0
    }
}

fn one_hot_batch<const R: usize, const B: usize>(rng: &mut Rng) -> SMatrix<f32, R, B> {
    let mut y = SMatrix::<f32, R, B>::zeros();
    for c in 0..B {
        y[(rng.below(R), c)] = 1.0;
    }
    y
}

fn tiny(c: &mut Criterion) {
    let mut rng = Rng::seed_from_u64(1);
    let mut net = Tiny::<f32>::random(&mut rng);
    let mut hand = HandTiny::from(&net);
    let mut grads = Tiny::<f32>::zeros();
    let mut tape = Tiny::<f32>::new_tape::<1>();
    let x = SVector::<f32, 4>::from_fn(|_, _| rng.uniform(-1.0, 1.0) as f32);
    let y = one_hot_batch::<3, 1>(&mut rng);

    // Same math: one step from the same weights gives the same loss.
    let mut check = Tiny::<f32>::zeros();
    check.zip_params_mut(&net, |_, d, s| d.copy_from_slice(s));
    let a = generated_step(&mut check, &mut grads, &mut tape, &x, &y);
    let b = HandTiny::from(&net).step(&x, &y);
    assert!(
        (a - b).abs() < 1e-5,
        "generated loss {a} vs hand-written {b}"
    );

    let c_loss = HandTiny::from(&net).step_in_place(&x, &y);
    assert!(
        (a - c_loss).abs() < 1e-5,
        "generated loss {a} vs hand-written in place {c_loss}"
    );

    let mut group = c.benchmark_group("sgd_step_4-16-16-3_batch1");
    group.bench_function("generated", |bench| {
        bench.iter(|| {
            generated_step(
                &mut net,
                &mut grads,
                &mut tape,
                black_box(&x),
                black_box(&y),
            )
        })
    });
    group.bench_function("generated_fused_sgd", |bench| {
        bench.iter(|| generated_fused_step(&mut net, &mut tape, black_box(&x), black_box(&y)))
    });
    group.bench_function("hand_written_nalgebra", |bench| {
        bench.iter(|| hand.step(black_box(&x), black_box(&y)))
    });
    group.bench_function("hand_written_nalgebra_in_place", |bench| {
        bench.iter(|| hand.step_in_place(black_box(&x), black_box(&y)))
    });
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            group.bench_function("hand_written_nalgebra_in_place_avx2_fma", |bench| {
                // SAFETY: the CPU has AVX2 and FMA (checked above).
                bench.iter(|| unsafe { hand_tiny_avx2(&mut hand, black_box(&x), black_box(&y)) })
            });
        }
        if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("fma") {
            group.bench_function("hand_written_nalgebra_in_place_avx512", |bench| {
                // SAFETY: the CPU has AVX-512F, AVX2 and FMA (checked above).
                bench.iter(|| unsafe { hand_tiny_avx512(&mut hand, black_box(&x), black_box(&y)) })
            });
        }
    }
    group.finish();
}

fn mnist(c: &mut Criterion) {
    let mut rng = Rng::seed_from_u64(2);
    let mut net = Box::new(Mnist::<f32>::random(&mut rng));
    let mut hand = HandMnist::from(&net);
    let mut grads = Box::new(Mnist::<f32>::zeros());
    let mut tape = Box::new(Mnist::<f32>::new_tape::<32>());
    let x = Box::new(SMatrix::<f32, 784, 32>::from_fn(|_, _| {
        rng.uniform(0.0, 1.0) as f32
    }));
    let y = one_hot_batch::<10, 32>(&mut rng);

    let mut copy = Box::new(Mnist::<f32>::zeros());
    copy.zip_params_mut(&net, |_, d, s| d.copy_from_slice(s));
    let a = generated_step(&mut *copy, &mut grads, &mut tape, &x, &y);
    let b = HandMnist::from(&net).step(&x, &y);
    assert!(
        (a - b).abs() < 1e-4,
        "generated loss {a} vs hand-written {b}"
    );

    let mut group = c.benchmark_group("sgd_step_784-128-10_batch32");
    group.bench_function("generated", |bench| {
        bench.iter(|| {
            generated_step(
                &mut *net,
                &mut grads,
                &mut tape,
                black_box(&x),
                black_box(&y),
            )
        })
    });
    group.bench_function("generated_fused_sgd", |bench| {
        bench.iter(|| generated_fused_step(&mut *net, &mut tape, black_box(&x), black_box(&y)))
    });
    group.bench_function("hand_written_nalgebra", |bench| {
        bench.iter(|| hand.step(black_box(&x), black_box(&y)))
    });
    group.finish();
}

criterion_group!(benches, tiny, mnist);
criterion_main!(benches);
