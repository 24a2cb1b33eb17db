//! The time cost of gradient checkpointing: one training step (forward, backward) of a
//! residual network with and without `#[checkpoint]` on its blocks, side by side.
//!
//! ```text
//! cargo bench --bench checkpoint && python3 benches/ratios.py
//! ```

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use network::loss::Loss;
use network::nalgebra::SMatrix;
use network::prelude::*;

network! {
    struct Plain {
        input: Dense<64, 128>, Relu,
        block1: Residual { a1: Dense<128>, Relu, bn1: BatchNorm, b1: Dense<128> }, Relu,
        block2: Residual { a2: Dense<128>, Relu, bn2: BatchNorm, b2: Dense<128> }, Relu,
        logits: Dense<10>,
    }
}

network! {
    struct Checkpointed {
        input: Dense<64, 128>, Relu,
        #[checkpoint]
        block1: Residual { a1: Dense<128>, Relu, bn1: BatchNorm, b1: Dense<128> }, Relu,
        #[checkpoint]
        block2: Residual { a2: Dense<128>, Relu, bn2: BatchNorm, b2: Dense<128> }, Relu,
        logits: Dense<10>,
    }
}

fn step<N: Network<f32, 64, 10>>(
    net: &mut N,
    grads: &mut N,
    tape: &mut N::Tape<32>,
    x: &SMatrix<f32, 64, 32>,
    y: &SMatrix<f32, 10, 32>,
    rng: &mut Rng,
) -> f32 {
    let mut d_out = SMatrix::<f32, 10, 32>::zeros();
    let loss = SoftmaxCrossEntropy.loss_and_grad(net.forward_train(x, tape, rng), y, &mut d_out);
    net.backward_overwrite(x, tape, &d_out, grads);
    loss
}

fn checkpoint(c: &mut Criterion) {
    let mut rng = Rng::seed_from_u64(1);
    let x = SMatrix::<f32, 64, 32>::from_fn(|_, _| rng.uniform(-1.0, 1.0) as f32);
    let y = SMatrix::<f32, 10, 32>::from_fn(|r, col| if col % 10 == r { 1.0 } else { 0.0 });
    let mut plain = Plain::<f32>::random(&mut Rng::seed_from_u64(2));
    let mut checkpointed = Checkpointed::<f32>::random(&mut Rng::seed_from_u64(2));
    let (mut grads_p, mut grads_c) = (Plain::<f32>::zeros(), Checkpointed::<f32>::zeros());
    let mut tape_p = Box::new(Plain::<f32>::new_tape::<32>());
    let mut tape_c = Box::new(Checkpointed::<f32>::new_tape::<32>());
    println!(
        "tape bytes for batch 32: plain {}, checkpointed {}",
        Plain::<f32>::tape_bytes(32),
        Checkpointed::<f32>::tape_bytes(32)
    );
    let mut group = c.benchmark_group("train_step_residual_2_blocks_batch32");
    group.bench_function("plain", |b| {
        b.iter(|| {
            step(
                &mut plain,
                &mut grads_p,
                &mut tape_p,
                black_box(&x),
                &y,
                &mut rng,
            )
        })
    });
    group.bench_function("checkpointed", |b| {
        b.iter(|| {
            step(
                &mut checkpointed,
                &mut grads_c,
                &mut tape_c,
                black_box(&x),
                &y,
                &mut rng,
            )
        })
    });
    group.finish();
}

criterion_group!(benches, checkpoint);
criterion_main!(benches);
