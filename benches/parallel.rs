//! All the cores: one SGD step of 784-128-10 on a batch of 256, on one thread and split
//! across threads by `network::parallel::DataParallel`, side by side in one run; and one
//! `Trainer` epoch (2048 samples, batches of 256) through `fit` and `fit_parallel`.
//!
//! ```text
//! python3 benches/parallel.py   # runs this bench, then PyTorch and NumPy, one table
//! ```
//!
//! A step is the gradient of the batch's mean softmax cross-entropy and an SGD update.
//! `threads_2_parts_128` is two threads of one part each (`compute_gradients`, then the
//! optimizer on the calling thread); `threads_2_parts_128_step` the same with
//! `DataParallel::step`, each thread updating the weights whose gradient sum it made;
//! `threads_2_parts_64` cuts the batch into four parts of 64, two per thread.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use network::data::Dataset;
use network::nalgebra::SMatrix;
use network::parallel::DataParallel;
use network::prelude::*;

network! {
    struct Mnist { hidden: Dense<784, 128>, Relu, logits: Dense<128, 10> }
}

fn step(c: &mut Criterion) {
    let mut rng = Rng::seed_from_u64(1);
    let mut net = network::boxed::random::<f32, Mnist<f32>, 784, 10>(&mut rng);
    let mut grads = network::boxed::zeroed::<Mnist<f32>>();
    let mut tape = Box::new(Mnist::<f32>::new_tape::<256>());
    let x = Box::new(SMatrix::<f32, 784, 256>::from_fn(|_, _| {
        rng.uniform(0.0, 1.0) as f32
    }));
    let y = Box::new(SMatrix::<f32, 10, 256>::from_fn(|r, col| {
        if col % 10 == r {
            1.0
        } else {
            0.0
        }
    }));
    // A tiny rate: the weights stay near where they started over the whole run.
    let mut sgd = Sgd::new(1e-6);

    let mut group = c.benchmark_group("parallel_784-128-10_b256");
    group.bench_function("one_thread", |b| {
        b.iter(|| {
            let loss = network::compute_gradients(
                &mut *net,
                black_box(&*x),
                &*y,
                &SoftmaxCrossEntropy,
                &mut tape,
                &mut grads,
                &mut rng,
            )
            .unwrap();
            sgd.step(&mut *net, &grads);
            loss
        })
    });
    let mut two_128 =
        DataParallel::<f32, Mnist<f32>, _, 784, 10, 128>::new(SoftmaxCrossEntropy, 2).unwrap();
    group.bench_function("threads_2_parts_128", |b| {
        b.iter(|| {
            let loss = two_128
                .compute_gradients(&*net, black_box(&*x), &*y, &mut grads)
                .unwrap();
            sgd.step(&mut *net, &grads);
            loss
        })
    });
    group.bench_function("threads_2_parts_128_step", |b| {
        b.iter(|| {
            two_128
                .step(&mut *net, black_box(&*x), &*y, &mut grads, &mut sgd)
                .unwrap()
        })
    });
    drop(two_128);
    let mut two_64 =
        DataParallel::<f32, Mnist<f32>, _, 784, 10, 64>::new(SoftmaxCrossEntropy, 2).unwrap();
    group.bench_function("threads_2_parts_64", |b| {
        b.iter(|| {
            let loss = two_64
                .compute_gradients(&*net, black_box(&*x), &*y, &mut grads)
                .unwrap();
            sgd.step(&mut *net, &grads);
            loss
        })
    });
    drop(two_64);
    group.finish();

    // One epoch through the trainer, with everything it does per step (data gathering,
    // gradient statistics, the checked optimizer step).
    let mut rng = Rng::seed_from_u64(2);
    let rows: Vec<(Vec<f64>, usize)> = (0..2048)
        .map(|i| ((0..784).map(|_| rng.uniform(0.0, 1.0)).collect(), i % 10))
        .collect();
    let data = Dataset::from_rows(None, rows).unwrap();
    let train: Vec<usize> = (0..data.len()).collect();
    let mut group = c.benchmark_group("parallel_trainer_epoch_2048_b256");
    group.sample_size(10);
    for threads in [1, 2] {
        let name = if threads == 1 {
            "fit"
        } else {
            "fit_parallel_2_threads"
        };
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let net = network::boxed::random::<f32, Mnist<f32>, 784, 10>(
                        &mut Rng::seed_from_u64(1),
                    );
                    let sgd = Box::new(Sgd::new(1e-3));
                    let config = TrainConfig {
                        epochs: 1,
                        quiet: true,
                        ..TrainConfig::default()
                    };
                    Trainer::from_boxed(net, sgd, Constant(1e-3), SoftmaxCrossEntropy, config)
                },
                |mut trainer| {
                    if threads == 1 {
                        trainer.fit::<256>(&data, &train, None).unwrap();
                    } else {
                        trainer
                            .fit_parallel::<256, 128>(&data, &train, None, threads)
                            .unwrap();
                    }
                    trainer
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, step);
criterion_main!(benches);
