//! `Network::backward_overwrite` writes every parameter gradient, whatever the gradient
//! held, with the bits `backward` gives into zeroed gradients: for every layer kind with
//! parameters (dense, per-step dense, convolutions, recurrent layers, batch and layer
//! norm, inside and outside residual blocks), in f32 (with `simd`, the batch products'
//! overwriting stores) and f64.

use network::nalgebra::SMatrix;
use network::prelude::*;

network! {
    struct Mlp {
        a: Dense<6, 16>, Relu,
        bn: BatchNorm,
        block: Residual { b: Dense<16, 16>, Tanh, ln: LayerNorm },
        c: Dense<16, 3>,
    }
}

network! {
    struct Cnn {
        Input<2, 8, 8>,
        a: Conv2d<8, 3>(padding = 1), Relu,
        bn: BatchNorm,
        MaxPool2d<2>,
        block: Residual { b: Conv2d<8, 3>(padding = "same", groups = 2), Tanh },
        c: Conv2d<4, 1>(bias = false),
        GlobalAvgPool,
        d: Dense<3>,
    }
}

network! {
    struct Sequence {
        Input<2, 16>,
        c: Conv1d<4, 3>(padding = "causal", dilation = 2), Tanh,
        Transpose,
        gru: Gru<8>,
        proj: Dense<6>, Relu,
        lstm: Lstm<4>(output = "last"),
        out: Dense<3>,
    }
}

/// The bits of every parameter, in visiting order.
fn bits<T: Scalar, N: Network<T, IN, OUT>, const IN: usize, const OUT: usize>(net: &N) -> Vec<u64> {
    let mut all = Vec::new();
    net.for_each_param(|_, values| all.extend(values.iter().map(|v| v.as_f64().to_bits())));
    all
}

fn check<T, N, const IN: usize, const OUT: usize, const B: usize>(seed: u64)
where
    T: Scalar,
    N: Network<T, IN, OUT>,
{
    let mut rng = Rng::seed_from_u64(seed);
    let mut net = N::random(&mut rng);
    let x = SMatrix::<T, IN, B>::from_fn(|_, _| T::of(rng.uniform(-1.0, 1.0)));
    let y = SMatrix::<T, OUT, B>::from_fn(|r, c| T::of(if c % OUT == r { 1.0 } else { 0.0 }));
    let mut tape = N::new_tape::<B>();
    let mut d_out = SMatrix::<T, OUT, B>::zeros();
    let output = net.forward_train(&x, &mut tape, &mut rng);
    SoftmaxCrossEntropy.loss_and_grad(output, &y, &mut d_out);

    let mut zeroed = N::zeros();
    net.backward(&x, &tape, &d_out, &mut zeroed);
    let mut garbage = N::zeros();
    garbage.for_each_param_mut(|_, values| values.fill(T::of(f64::NAN)));
    net.backward_overwrite(&x, &tape, &d_out, &mut garbage);
    let (expected, got) = (bits(&zeroed), bits(&garbage));
    assert!(expected.iter().any(|&b| b != 0), "a gradient to compare");
    assert_eq!(got.len(), expected.len());
    for (index, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(g, e, "parameter value {index}");
    }
}

#[test]
fn overwriting_backward_equals_backward_into_zeros() {
    check::<f32, Mlp<f32>, 6, 3, 16>(1);
    check::<f64, Mlp<f64>, 6, 3, 5>(2);
    check::<f32, Cnn<f32>, 128, 3, 16>(3);
    check::<f64, Cnn<f64>, 128, 3, 3>(4);
    check::<f32, Sequence<f32>, 32, 3, 16>(5);
    check::<f64, Sequence<f64>, 32, 3, 2>(6);
}
