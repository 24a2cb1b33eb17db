//! The digits MLP (64-128-64-10, ReLU) and the digits CNN of `examples/cnn.rs` on one
//! sample, side by side in one run: the f32 network's `forward` against its int8
//! quantization's `forward_q` (integers only) and `predict` (quantizing the input
//! first), with random weights.
//!
//! ```text
//! cargo bench --bench int8
//! ```

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use network::nalgebra::SVector;
use network::prelude::*;

network! {
    struct Digits {
        hidden: Dense<64, 128>, Relu,
        deeper: Dense<128, 64>, Relu,
        logits: Dense<64, 10>,
    }
}

network! {
    struct DigitsCnn {
        Input<1, 8, 8>,
        c1: Conv2d<32, 3>(padding = 1),
        bn1: BatchNorm, Relu,
        MaxPool2d<2>,
        c2: Conv2d<64, 3>(padding = 1),
        bn2: BatchNorm, Relu,
        MaxPool2d<2>,
        Flatten,
        Dropout(0.3),
        logits: Dense<256, 10>,
    }
}

fn benches(c: &mut Criterion) {
    let mut rng = Rng::seed_from_u64(1);
    let net = Digits::<f32>::random(&mut rng);
    let samples: Vec<SVector<f32, 64>> = (0..64)
        .map(|_| SVector::from_fn(|_, _| rng.uniform(-2.0, 2.0) as f32))
        .collect();
    let quantized = net.quantize(&samples);
    let x = samples[0];
    let quantizer = quantized.input.quantizer();
    let xq = SVector::<i8, 64>::from_fn(|r, _| quantizer.quantize(x[r]));
    let mut group = c.benchmark_group("int8_digits_mlp");
    group.bench_function("f32_forward", |b| b.iter(|| net.forward(black_box(&x))));
    group.bench_function("int8_forward_q", |b| {
        b.iter(|| quantized.forward_q(black_box(&xq)))
    });
    group.bench_function("int8_predict", |b| {
        b.iter(|| quantized.predict(black_box(&x)))
    });
    group.finish();

    let cnn = DigitsCnn::<f32>::random(&mut rng);
    let cnn_int8 = cnn.quantize(&samples);
    let quantizer = cnn_int8.input.quantizer();
    let xq = SVector::<i8, 64>::from_fn(|r, _| quantizer.quantize(x[r]));
    let mut group = c.benchmark_group("int8_digits_cnn");
    group.bench_function("f32_forward", |b| b.iter(|| cnn.forward(black_box(&x))));
    group.bench_function("int8_forward_q", |b| {
        b.iter(|| cnn_int8.forward_q(black_box(&xq)))
    });
    group.finish();
}

criterion_group!(int8, benches);
criterion_main!(int8);
