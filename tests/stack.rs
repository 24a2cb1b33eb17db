//! A 784-256-128-10 network (940 KB of parameters; with its gradient and Adam's state,
//! 4.7 MB) trains with batches of 32 in a thread with a 2 MiB stack, in a debug build:
//! network, gradient and optimizer are allocated zeroed on the heap and initialized in
//! place, never built on the stack.

use network::data::Dataset;
use network::prelude::*;

network! {
    struct Big {
        a: Dense<784, 256>, Relu,
        b: Dense<256, 128>, Relu,
        c: Dense<128, 10>,
    }
}

/// 64 synthetic samples of 784 features in 10 classes, as CSV.
fn data() -> Dataset {
    let mut rng = Rng::seed_from_u64(1);
    let mut text = (0..784).map(|i| format!("f{i},")).collect::<String>() + "label\n";
    for sample in 0..64 {
        let label = sample % 10;
        for i in 0..784 {
            let signal = if i % 10 == label { 1.0 } else { 0.0 };
            text.push_str(&format!("{:.3},", signal + rng.uniform(-0.1, 0.1)));
        }
        text.push_str(&format!("{label}\n"));
    }
    Dataset::from_csv_str(&text).unwrap()
}

#[test]
fn a_784_256_128_10_network_trains_in_a_2_mib_stack() {
    assert!(std::mem::size_of::<Big<f32>>() > 900_000);
    let data = data();
    let indices: Vec<usize> = (0..data.len()).collect();
    let handle = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let net: Box<Big<f32>> = network::boxed::random(&mut Rng::seed_from_u64(2));
            let adam = network::boxed::zeroed_with(|a: &mut Adam<f32, Big<f32>>| {
                a.config = AdamConfig::adam(1e-3)
            });
            let config = TrainConfig {
                epochs: 3,
                quiet: true,
                ..TrainConfig::default()
            };
            let mut trainer =
                Trainer::from_boxed(net, adam, Constant(1e-3), SoftmaxCrossEntropy, config);
            let history = trainer.fit::<32>(&data, &indices, None).unwrap().clone();
            let (_, accuracy) = trainer.evaluate::<32>(&data, &indices).unwrap();
            (history, accuracy)
        })
        .unwrap();
    let (history, accuracy) = handle
        .join()
        .expect("training overflowed or failed in a 2 MiB stack");
    assert_eq!(history.epochs.len(), 3);
    assert!(history.epochs[2].train_loss < history.epochs[0].train_loss);
    assert!(accuracy > 0.5, "accuracy {accuracy}");
}

#[test]
fn boxed_construction_matches_stack_construction() {
    network! {
        #[derive(Debug, PartialEq)]
        struct Small { a: Dense<3, 4>, Relu, bn: BatchNorm, b: Dense<2> }
    }
    let on_heap: Box<Small<f64>> = network::boxed::random(&mut Rng::seed_from_u64(3));
    assert_eq!(*on_heap, Small::<f64>::random(&mut Rng::seed_from_u64(3)));
    assert_eq!(*network::boxed::zeroed::<Small<f64>>(), Small::zeros());
    assert_eq!(on_heap.bn.running_var, SVector::<f64, 4>::from_element(1.0));
}
