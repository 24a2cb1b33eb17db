//! Shaped inputs and the layers that need them, through whole declared networks:
//! `Input<C, L>` / `Input<C, H, W>`, `Conv1d`, `Conv2d`, pooling, global average pooling,
//! `Flatten`, batch norm over channels, residual blocks and checkpoints on shaped values.
//! Finite differences in f64 for every parameter and input, single sample and batch, and
//! SGD fused with backward against the plain path.

mod common;

use common::{check_network, flatten, matrix, one_hot_columns};
use network::prelude::*;

network! {
    /// A 1-d stack: strided, dilated, "same" and grouped convolutions, max and average
    /// pooling, batch norm over channels, a residual block and a checkpoint.
    #[derive(Clone, Debug, PartialEq)]
    struct Signal {
        Input<2, 16>,
        a: Conv1d<4, 3>(padding = 1), Relu,
        bn: BatchNorm,
        MaxPool1d<2>,
        block: Residual {
            b: Conv1d<4, 3>(padding = "same", dilation = 2, groups = 2), Tanh,
        },
        #[checkpoint]
        c: Conv1d<6, 4>(stride = 2, padding = "causal", bias = false), Gelu,
        AvgPool1d<3>(stride = 1, padding = 1),
        Flatten,
        logits: Dense<24, 3>,
    }
}

network! {
    /// A small 2-d net: convolution, pooling, depthwise convolution, global average.
    #[derive(Clone, Debug, PartialEq)]
    struct Image {
        Input<2, 6, 5>,
        a: Conv2d<4, 3>(padding = 1), Elu,
        MaxPool2d<2>(padding = (1, 0)),
        dw: Conv2d<4, 3, 2>(groups = 4, stride = (1, 2), padding = (1, 1)),
        bn: BatchNorm<4>, LeakyRelu,
        GlobalAvgPool,
        logits: Dense<3>,
    }
}

#[test]
fn shapes_parameters_and_pytorch_names() {
    // [2, 16] -> a [4, 16] -> pool [4, 8] -> block [4, 8] -> c [6, 4] -> avg [6, 4] -> 24.
    assert_eq!(<Signal<f32> as Network<f32, 32, 3>>::LAYERS.len(), 8);
    let names: Vec<(&str, &[usize])> = <Signal<f32> as Params<f32>>::PARAM_INFO
        .iter()
        .map(|i| (i.name, i.shape))
        .collect();
    assert_eq!(
        names,
        [
            ("a.weight", &[4, 2, 3][..]),
            ("a.bias", &[4]),
            ("bn.weight", &[4]),
            ("bn.bias", &[4]),
            ("b.weight", &[4, 2, 3]),
            ("b.bias", &[4]),
            ("c.weight", &[6, 4, 4]),
            ("logits.weight", &[3, 24]),
            ("logits.bias", &[3]),
        ]
    );
    assert_eq!(
        <Signal<f32> as Params<f32>>::PARAMS,
        24 + 4 + 8 + 24 + 4 + 96 + 72 + 3
    );
    // [2, 6, 5] -> a [4, 6, 5] -> pool (pad 1 rows) [4, 4, 2] -> dw (kernel 3x2, stride
    // (1, 2), padding (1, 1)) [4, 4, 2] -> [4].
    let image: Vec<&[usize]> = <Image<f32> as Params<f32>>::PARAM_INFO
        .iter()
        .map(|i| i.shape)
        .collect();
    assert_eq!(image[..3], [&[4, 2, 3, 3][..], &[4], &[4, 1, 3, 2]]);
    let layers = <Image<f32> as Network<f32, 60, 3>>::LAYERS;
    assert_eq!(
        layers
            .iter()
            .map(|l| (l.kind, l.outputs))
            .collect::<Vec<_>>(),
        [
            ("Conv2d", 120),
            ("MaxPool2d", 32),
            ("Conv2d", 32),
            ("BatchNorm", 32),
            ("GlobalAvgPool", 4),
            ("Dense", 3)
        ]
    );
}

#[test]
fn gradients_match_finite_differences_single_sample_and_batch() {
    let mut rng = Rng::seed_from_u64(7);
    let net = Signal::<f64>::random(&mut rng);
    let x = matrix::<32, 1>(&mut rng, 1.0);
    let n = check_network(&net, &x, &one_hot_columns::<3, 1>([2]), SoftmaxCrossEntropy);
    assert_eq!(n, 235 + 32);
    let x = matrix::<32, 3>(&mut rng, 1.0);
    check_network(
        &net,
        &x,
        &one_hot_columns::<3, 3>([0, 2, 1]),
        SoftmaxCrossEntropy,
    );

    let net = Image::<f64>::random(&mut rng);
    let x = matrix::<60, 2>(&mut rng, 1.0);
    check_network(
        &net,
        &x,
        &one_hot_columns::<3, 2>([1, 0]),
        SoftmaxCrossEntropy,
    );
    let x = matrix::<60, 1>(&mut rng, 1.0);
    check_network(&net, &x, &matrix::<3, 1>(&mut rng, 1.0), Mse);
}

#[test]
fn sgd_fused_with_backward_equals_gradient_then_step() {
    let mut rng = Rng::seed_from_u64(8);
    let start = Image::<f64>::random(&mut rng);
    let x = matrix::<60, 4>(&mut rng, 1.0);
    let y = one_hot_columns::<3, 4>([0, 1, 2, 1]);
    let mut plain = start.clone();
    let mut tape = Image::<f64>::new_tape::<4>();
    let mut grads = Image::<f64>::zeros();
    compute_gradients(
        &mut plain,
        &x,
        &y,
        &SoftmaxCrossEntropy,
        &mut tape,
        &mut grads,
        &mut Rng::seed_from_u64(1),
    )
    .unwrap();
    Sgd::new(0.1).step(&mut plain, &grads);

    let mut fused = start.clone();
    let out = *fused.forward_train(&x, &mut tape, &mut Rng::seed_from_u64(1));
    let mut d_out = SMatrix::<f64, 3, 4>::zeros();
    SoftmaxCrossEntropy.loss_and_grad(&out, &y, &mut d_out);
    fused.backward_sgd(&x, &tape, &d_out, 0.1);
    for (a, b) in flatten(&plain).iter().zip(flatten(&fused)) {
        approx::assert_relative_eq!(*a, b, epsilon = 1e-12);
    }
}

#[test]
fn inference_equals_training_mode_without_batch_statistics() {
    // With batch norm's running estimates equal to a batch's statistics, inference and
    // training agree; here simply: forward of one sample is finite and deterministic,
    // and forward of a batch is the forward of its samples.
    let mut rng = Rng::seed_from_u64(9);
    let net = Signal::<f64>::random(&mut rng);
    let x = matrix::<32, 3>(&mut rng, 1.0);
    let batch = net.forward(&x);
    for k in 0..3 {
        let one = net.forward(&SMatrix::<f64, 32, 1>::from_column_slice(
            x.column(k).as_slice(),
        ));
        approx::assert_relative_eq!(one, batch.column(k).into_owned(), epsilon = 1e-14);
    }
}

#[test]
fn weights_round_trip_through_raw_bytes_safetensors_and_checkpoints() {
    let mut rng = Rng::seed_from_u64(10);
    let mut net = Image::<f32>::random(&mut rng);
    // Move batch norm's running estimates (and its batch counter).
    let mut tape = Image::<f32>::new_tape::<4>();
    let x = SMatrix::<f32, 60, 4>::from_fn(|_, _| rng.uniform(-1.0, 1.0) as f32);
    net.forward_train(&x, &mut tape, &mut rng);
    assert_eq!(net.bn.num_batches_tracked, 1);

    let mut raw = vec![0u8; network::raw::raw_len::<f32, Image<f32>>()];
    network::raw::to_bytes(&net, &mut raw).unwrap();
    let mut back = Image::<f32>::zeros();
    network::raw::load_bytes(&mut back, &raw).unwrap();
    back.bn.num_batches_tracked = 1; // the raw format carries values, not counters
    assert_eq!(back, net);

    let file = network::weights::to_safetensors(&net).unwrap();
    let mut back = Image::<f32>::zeros();
    network::weights::from_safetensors(&mut back, &file).unwrap();
    assert_eq!(back, net);

    // A network whose second convolution has another kernel refuses the raw file.
    network! {
        #[derive(Debug, PartialEq)]
        struct Other {
            Input<2, 6, 5>,
            a: Conv2d<4, 3>(padding = 1), Elu,
            MaxPool2d<2>(padding = (1, 0)),
            dw: Conv2d<4, 3, 1>(groups = 4, stride = (1, 2), padding = (1, 0)),
            bn: BatchNorm<4>, LeakyRelu,
            GlobalAvgPool,
            logits: Dense<3>,
        }
    }
    let mut other = Other::<f32>::zeros();
    assert!(network::raw::load_bytes(&mut other, &raw).is_err());
    assert_eq!(other, Other::<f32>::zeros());
}
