//! Backward passes proven against finite differences in f64: every activation and every
//! loss, through networks of three to five layers, for single samples and batches.

mod common;

use common::{check_network, matrix, one_hot_columns};
use network::prelude::*;

network! {
    /// Every element-wise activation, one per layer, ending in logits.
    #[derive(Clone, Debug)]
    struct Mixed {
        a: Dense<3, 5>, Relu,
        b: Dense<5, 4>, Tanh,
        c: Dense<4, 4>, Sigmoid,
        d: Dense<4, 3>, LeakyRelu(0.1),
        e: Dense<3, 2>,
    }
}

network! {
    /// Softmax inside the network (its full Jacobian), explicit Identity, inferred inputs.
    #[derive(Clone)]
    struct WithSoftmax {
        a: Dense<3, 4>, Tanh,
        b: Dense<4>, Identity,
        c: Dense<3>, Softmax,
    }
}

const WIDE: usize = 6;

network! {
    /// Sizes given as constants, default LeakyRelu slope.
    #[derive(Clone)]
    struct Named {
        a: Dense<2, WIDE>, LeakyRelu,
        b: Dense<WIDE, { WIDE - 2 }>, Relu,
        c: Dense<{ WIDE - 2 }, 2>,
    }
}

fn mixed(seed: u64) -> Mixed<f64> {
    let mut rng = Rng::seed_from_u64(seed);
    let mut net = Mixed::<f64>::random(&mut rng);
    // Non-zero biases so their gradients and the activations' offsets are exercised.
    net.for_each_param_mut(|info, values| {
        if info.name.ends_with(".bias") {
            values.iter_mut().for_each(|v| *v = rng.uniform(-0.5, 0.5));
        }
    });
    net
}

#[test]
fn mixed_network_with_mse_single_sample_and_batch() {
    let net = mixed(1);
    let mut rng = Rng::seed_from_u64(10);
    check_network(
        &net,
        &matrix::<3, 1>(&mut rng, 2.0),
        &matrix::<2, 1>(&mut rng, 1.0),
        Mse,
    );
    check_network(
        &net,
        &matrix::<3, 4>(&mut rng, 2.0),
        &matrix::<2, 4>(&mut rng, 1.0),
        Mse,
    );
}

#[test]
fn mixed_network_with_softmax_cross_entropy_single_sample_and_batch() {
    let net = mixed(2);
    let mut rng = Rng::seed_from_u64(11);
    check_network(
        &net,
        &matrix::<3, 1>(&mut rng, 2.0),
        &one_hot_columns::<2, 1>([1]),
        SoftmaxCrossEntropy,
    );
    check_network(
        &net,
        &matrix::<3, 5>(&mut rng, 2.0),
        &one_hot_columns::<2, 5>([0, 1, 1, 0, 1]),
        SoftmaxCrossEntropy,
    );
}

#[test]
fn mixed_network_with_bce_with_logits_single_sample_and_batch() {
    let net = mixed(3);
    let mut rng = Rng::seed_from_u64(12);
    check_network(
        &net,
        &matrix::<3, 1>(&mut rng, 2.0),
        &one_hot_columns::<2, 1>([0]),
        BceWithLogits,
    );
    check_network(
        &net,
        &matrix::<3, 3>(&mut rng, 2.0),
        &one_hot_columns::<2, 3>([1, 0, 1]),
        BceWithLogits,
    );
}

#[test]
fn softmax_layer_single_sample_and_batch() {
    let mut rng = Rng::seed_from_u64(4);
    let net = WithSoftmax::<f64>::random(&mut rng);
    check_network(
        &net,
        &matrix::<3, 1>(&mut rng, 2.0),
        &one_hot_columns::<3, 1>([2]),
        Mse,
    );
    check_network(
        &net,
        &matrix::<3, 4>(&mut rng, 2.0),
        &one_hot_columns::<3, 4>([2, 0, 1, 1]),
        Mse,
    );
}

#[test]
fn named_sizes_single_sample_and_batch() {
    let mut rng = Rng::seed_from_u64(5);
    let net = Named::<f64>::random(&mut rng);
    check_network(
        &net,
        &matrix::<2, 1>(&mut rng, 2.0),
        &one_hot_columns::<2, 1>([1]),
        SoftmaxCrossEntropy,
    );
    check_network(
        &net,
        &matrix::<2, 6>(&mut rng, 2.0),
        &one_hot_columns::<2, 6>([1, 0, 0, 1, 1, 0]),
        SoftmaxCrossEntropy,
    );
}

#[test]
fn gradients_accumulate_across_backward_calls() {
    let net = mixed(6);
    let mut rng = Rng::seed_from_u64(13);
    let x = matrix::<3, 2>(&mut rng, 1.0);
    let mut tape = Mixed::<f64>::new_tape::<2>();
    let d_out = matrix::<2, 2>(&mut rng, 1.0);
    let mut trained = net.clone();
    trained.forward_train(&x, &mut tape, &mut Rng::seed_from_u64(0));
    let mut once = Mixed::zeros();
    net.backward(&x, &tape, &d_out, &mut once);
    let mut twice = Mixed::zeros();
    net.backward(&x, &tape, &d_out, &mut twice);
    net.backward(&x, &tape, &d_out, &mut twice);
    let (once, twice) = (common::flatten(&once), common::flatten(&twice));
    for (a, b) in once.iter().zip(&twice) {
        // Accumulation reorders the sums, so equal up to rounding.
        approx::assert_relative_eq!(2.0 * a, *b, max_relative = 1e-14);
    }
}
