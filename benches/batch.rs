//! One SGD step of 784-128-10 on a batch of 32, against one core's FMA peak (measured
//! here with an FMA microbenchmark) and against the same five products through the
//! matrixmultiply crate, side by side in one run.
//!
//! ```text
//! cargo bench --bench batch && python3 benches/ratios.py
//! ```
//!
//! FLOPs count 2 per multiply-add of the products the step performs: forward 784x128x32
//! and 128x10x32; backward dW2 10x128x32, dH 128x10x32, dW1 128x784x32 (no input gradient
//! for the first layer). `generated_forward_train` times the forward pass alone (its two
//! products, bias and ReLU), to tell the forward kernel from the backward ones.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use network::loss::Loss;
use network::nalgebra::SMatrix;
use network::prelude::*;

network! {
    struct Mnist { hidden: Dense<784, 128>, Relu, logits: Dense<128, 10> }
}

/// Multiply-adds of one step's products.
pub const STEP_MACS: u64 = 784 * 128 * 32 + 128 * 10 * 32 * 3 + 128 * 784 * 32;

#[cfg(target_arch = "x86_64")]
#[path = "common/peak.rs"]
mod peak;

/// The step's five products through matrixmultiply (column-major strides).
#[allow(clippy::too_many_arguments)]
fn matrixmultiply_products(
    w1: &[f32],
    w2: &[f32],
    x: &[f32],
    h: &mut [f32],
    z: &mut [f32],
    dz: &[f32],
    dh: &mut [f32],
    dw1: &mut [f32],
    dw2: &mut [f32],
) {
    unsafe {
        // h[128x32] = W1[128x784] x[784x32]
        matrixmultiply::sgemm(
            128,
            784,
            32,
            1.0,
            w1.as_ptr(),
            1,
            128,
            x.as_ptr(),
            1,
            784,
            0.0,
            h.as_mut_ptr(),
            1,
            128,
        );
        // z[10x32] = W2[10x128] h[128x32]
        matrixmultiply::sgemm(
            10,
            128,
            32,
            1.0,
            w2.as_ptr(),
            1,
            10,
            h.as_ptr(),
            1,
            128,
            0.0,
            z.as_mut_ptr(),
            1,
            10,
        );
        // dW2[10x128] += dz[10x32] h^T
        matrixmultiply::sgemm(
            10,
            32,
            128,
            1.0,
            dz.as_ptr(),
            1,
            10,
            h.as_ptr(),
            128,
            1,
            1.0,
            dw2.as_mut_ptr(),
            1,
            10,
        );
        // dh[128x32] = W2^T dz
        matrixmultiply::sgemm(
            128,
            10,
            32,
            1.0,
            w2.as_ptr(),
            10,
            1,
            dz.as_ptr(),
            1,
            10,
            0.0,
            dh.as_mut_ptr(),
            1,
            128,
        );
        // dW1[128x784] += dh[128x32] x^T
        matrixmultiply::sgemm(
            128,
            32,
            784,
            1.0,
            dh.as_ptr(),
            1,
            128,
            x.as_ptr(),
            784,
            1,
            1.0,
            dw1.as_mut_ptr(),
            1,
            128,
        );
    }
}

fn batch(c: &mut Criterion) {
    let mut rng = Rng::seed_from_u64(1);
    let mut net = network::boxed::random::<f32, Mnist<f32>, 784, 10>(&mut rng);
    let mut grads = network::boxed::zeroed::<Mnist<f32>>();
    let mut tape = Box::new(Mnist::<f32>::new_tape::<32>());
    let x = Box::new(SMatrix::<f32, 784, 32>::from_fn(|_, _| {
        rng.uniform(0.0, 1.0) as f32
    }));
    let y = SMatrix::<f32, 10, 32>::from_fn(|r, col| if col % 10 == r { 1.0 } else { 0.0 });
    println!(
        "products per step: {} multiply-adds, {} FLOPs",
        STEP_MACS,
        2 * STEP_MACS
    );

    let mut group = c.benchmark_group("batch_784-128-10_b32");
    #[cfg(target_arch = "x86_64")]
    {
        const ITERATIONS: u64 = 10_000;
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // Runs ITERATIONS x 192 FLOPs; python3 benches/ratios.py turns it into GFLOP/s.
            group.bench_function("fma_peak_avx2_1920000_flops", |b| {
                b.iter(|| unsafe { peak::avx2(black_box(ITERATIONS)) })
            });
        }
        if std::is_x86_feature_detected!("avx512f") {
            group.bench_function("fma_peak_avx512_3840000_flops", |b| {
                b.iter(|| unsafe { peak::avx512(black_box(ITERATIONS)) })
            });
        }
    }
    let (w1, w2) = (
        net.hidden.weight.as_slice().to_vec(),
        net.logits.weight.as_slice().to_vec(),
    );
    let xs = x.as_slice().to_vec();
    let (mut h, mut z, dz, mut dh) = (
        vec![0.0; 128 * 32],
        vec![0.0; 10 * 32],
        vec![0.01; 10 * 32],
        vec![0.0; 128 * 32],
    );
    let (mut dw1, mut dw2) = (vec![0.0; 128 * 784], vec![0.0; 10 * 128]);
    group.bench_function("matrixmultiply_products", |b| {
        b.iter(|| {
            matrixmultiply_products(
                &w1,
                &w2,
                black_box(&xs),
                &mut h,
                &mut z,
                &dz,
                &mut dh,
                &mut dw1,
                &mut dw2,
            )
        })
    });
    group.bench_function("generated_forward_train", |b| {
        b.iter(|| {
            net.forward_train(black_box(&x), &mut tape, &mut rng);
        })
    });
    group.bench_function("generated_step", |b| {
        b.iter(|| {
            let mut d = SMatrix::<f32, 10, 32>::zeros();
            let loss = SoftmaxCrossEntropy.loss_and_grad(
                net.forward_train(black_box(&x), &mut tape, &mut rng),
                &y,
                &mut d,
            );
            net.backward_overwrite(&x, &tape, &d, &mut grads);
            Sgd::new(0.01).step(&mut *net, &*grads);
            loss
        })
    });
    group.bench_function("generated_fused_step", |b| {
        b.iter(|| {
            let mut d = SMatrix::<f32, 10, 32>::zeros();
            let loss = SoftmaxCrossEntropy.loss_and_grad(
                net.forward_train(black_box(&x), &mut tape, &mut rng),
                &y,
                &mut d,
            );
            net.backward_sgd(&x, &tape, &d, 0.01);
            loss
        })
    });
    group.finish();
}

criterion_group!(benches, batch);
criterion_main!(benches);
