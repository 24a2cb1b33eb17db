//! GRU and LSTM layers in declarations: sequences `Input<steps, features>`, every step's
//! output or the last one's, in residual blocks, checkpointed, with named sizes. Finite
//! differences in f64 for every parameter and input through whole networks, single
//! sample and batch; SGD fused with backward against the plain path; PyTorch's names.

mod common;

use common::{check_network, flatten, matrix, one_hot_columns};
use network::prelude::*;

const HIDDEN: usize = 4;

network! {
    /// Every step's output, then a dense layer over the flattened sequence.
    #[derive(Clone, Debug)]
    struct Sequence {
        Input<5, 3>,
        rnn: Gru<HIDDEN>, Tanh,
        block: Residual {
            #[checkpoint]
            inner: Gru<4>,
        },
        Flatten,
        head: Dense<2>,
    }
}

network! {
    /// The last step's output.
    #[derive(Clone, Debug)]
    struct Last {
        Input<5, 3>,
        rnn: Lstm<HIDDEN>(output = "last"),
        out: Dense<3>,
    }
}

network! {
    /// An LSTM over every step, a GRU to the last one.
    #[derive(Clone, Debug)]
    struct Stacked {
        Input<4, 2>,
        a: Lstm<3>,
        b: Gru<2>(output = "last"), Relu,
        out: Dense<2>,
    }
}

network! {
    /// A dense layer after a sequence output applies to every step: [5, 4] -> [5, 2].
    #[derive(Clone, Debug)]
    struct PerStep {
        Input<5, 3>,
        rnn: Gru<4>, Tanh,
        Dropout(0.0),
        out: Dense<4, 2>,
    }
}

#[test]
fn a_dense_layer_after_a_sequence_applies_to_every_step() {
    assert_eq!(PerStep::<f32>::OUTPUTS, 10);
    assert_eq!(PerStep::<f32>::PARAMS, 12 * 9 + 4 * 2 + 2);
    let mut rng = Rng::seed_from_u64(14);
    let net = PerStep::<f64>::random(&mut rng);
    let x = matrix::<15, 2>(&mut rng, 1.0);
    let y = net.forward(&x);
    // Step by step: the GRU's states, then the same weights on each.
    for b in 0..2 {
        let mut h = SVector::<f64, 4>::zeros();
        for t in 0..5 {
            let xt =
                SVector::<f64, 3>::from_column_slice(&x.column(b).as_slice()[t * 3..t * 3 + 3]);
            let state = net.rnn.step(&xt, &mut h).map(f64::tanh);
            let expected = net.out.weight * state + net.out.bias;
            for o in 0..2 {
                approx::assert_relative_eq!(y[(t * 2 + o, b)], expected[o], epsilon = 1e-12);
            }
        }
    }
    check_network(&net, &x, &matrix::<10, 2>(&mut rng, 1.0), Mse);
}

#[test]
fn shapes_parameters_and_pytorch_names() {
    assert_eq!(Sequence::<f32>::INPUTS, 15);
    assert_eq!(Sequence::<f32>::OUTPUTS, 2);
    // GRU: 3H (F + H + 2) = 12 * 9 and 12 * 10; dense 20 * 2 + 2.
    assert_eq!(Sequence::<f32>::PARAMS, 108 + 120 + 42);
    let names: Vec<(&str, &[usize])> = <Last<f32> as Params<f32>>::PARAM_INFO
        .iter()
        .map(|p| (p.name, p.shape))
        .collect();
    assert_eq!(
        names[..4],
        [
            ("rnn.weight_ih_l0", &[16, 3][..]),
            ("rnn.weight_hh_l0", &[16, 4][..]),
            ("rnn.bias_ih_l0", &[16][..]),
            ("rnn.bias_hh_l0", &[16][..]),
        ]
    );
    assert_eq!(Last::<f32>::OUTPUTS, 3);
    assert_eq!(Stacked::<f32>::PARAMS, 12 * 7 + 6 * 7 + 6);
}

#[test]
fn gradients_match_finite_differences_single_sample_and_batch() {
    let mut rng = Rng::seed_from_u64(11);
    let net = Sequence::<f64>::random(&mut rng);
    check_network(
        &net,
        &matrix::<15, 1>(&mut rng, 1.0),
        &matrix::<2, 1>(&mut rng, 1.0),
        Mse,
    );
    check_network(
        &net,
        &matrix::<15, 3>(&mut rng, 1.0),
        &matrix::<2, 3>(&mut rng, 1.0),
        Mse,
    );
    let net = Last::<f64>::random(&mut rng);
    check_network(
        &net,
        &matrix::<15, 2>(&mut rng, 1.0),
        &one_hot_columns::<3, 2>([2, 0]),
        SoftmaxCrossEntropy,
    );
    let net = Stacked::<f64>::random(&mut rng);
    check_network(
        &net,
        &matrix::<8, 3>(&mut rng, 1.0),
        &matrix::<2, 3>(&mut rng, 1.0),
        Mse,
    );
}

#[test]
fn sgd_fused_with_backward_equals_gradient_then_step() {
    let mut rng = Rng::seed_from_u64(12);
    let start = Stacked::<f64>::random(&mut rng);
    let x = matrix::<8, 4>(&mut rng, 1.0);
    let y = matrix::<2, 4>(&mut rng, 1.0);
    let mut plain = start.clone();
    let mut tape = Stacked::<f64>::new_tape::<4>();
    let mut grads = Stacked::<f64>::zeros();
    compute_gradients(&mut plain, &x, &y, &Mse, &mut tape, &mut grads, &mut rng).unwrap();
    Sgd::new(0.1).step(&mut plain, &grads);
    let mut fused = start.clone();
    let out = *fused.forward_train_deterministic(&x, &mut tape);
    let mut d_out = SMatrix::<f64, 2, 4>::zeros();
    network::loss::Loss::loss_and_grad(&Mse, &out, &y, &mut d_out);
    fused.backward_sgd(&x, &tape, &d_out, 0.1);
    for (a, b) in flatten(&plain).iter().zip(flatten(&fused)) {
        approx::assert_relative_eq!(*a, b, epsilon = 1e-12);
    }
}

#[test]
fn sgd_fused_through_a_per_step_dense_layer_equals_gradient_then_step() {
    // `PerStep`'s dense layer updates step by step in place; the unfused path sums the
    // steps' gradients first: the same values up to rounding.
    let mut rng = Rng::seed_from_u64(14);
    let start = PerStep::<f64>::random(&mut rng);
    let x = matrix::<15, 3>(&mut rng, 1.0);
    let y = matrix::<10, 3>(&mut rng, 1.0);
    let mut plain = start.clone();
    let mut tape = PerStep::<f64>::new_tape::<3>();
    let mut grads = PerStep::<f64>::zeros();
    compute_gradients(&mut plain, &x, &y, &Mse, &mut tape, &mut grads, &mut rng).unwrap();
    Sgd::new(0.1).step(&mut plain, &grads);
    let mut fused = start.clone();
    // Dropout(0.0) keeps everything, whatever the generator draws.
    let out = *fused.forward_train(&x, &mut tape, &mut rng);
    let mut d_out = SMatrix::<f64, 10, 3>::zeros();
    network::loss::Loss::loss_and_grad(&Mse, &out, &y, &mut d_out);
    fused.backward_sgd(&x, &tape, &d_out, 0.1);
    assert_ne!(flatten(&fused), flatten(&start), "the step changed nothing");
    for (a, b) in flatten(&plain).iter().zip(flatten(&fused)) {
        approx::assert_relative_eq!(*a, b, epsilon = 1e-12);
    }
}

#[test]
fn inference_equals_the_training_forward_pass() {
    let mut rng = Rng::seed_from_u64(13);
    let net = Sequence::<f64>::random(&mut rng);
    let x = matrix::<15, 3>(&mut rng, 1.0);
    let mut tape = Sequence::<f64>::new_tape::<3>();
    let trained = *net.forward_train_deterministic(&x, &mut tape);
    assert_eq!(net.forward(&x), trained);
}

network! {
    /// Streams: GRU and LSTM over every step, a residual block, per-step dense layers,
    /// an LSTM to the last step, a norm and a dense layer on the vector.
    #[derive(Clone, Debug)]
    struct Streaming {
        Input<7, 2>,
        a: Gru<6>, Tanh,
        block: Residual {
            inner: Lstm<6>,
        },
        Dropout(0.2),
        proj: Dense<6, 5>, Elu,
        last: Lstm<4>(output = "last"),
        ln: LayerNorm,
        out: Dense<3>, Softmax,
    }
}

#[test]
fn stepping_through_a_sequence_gives_the_whole_sequence_bits() {
    let mut rng = Rng::seed_from_u64(15);
    for _ in 0..3 {
        // f32, one sample: `step` after the last time step is `forward` on the sequence.
        let net = Streaming::<f32>::random(&mut rng);
        let x = SMatrix::<f32, 14, 1>::from_fn(|_, _| rng.uniform(-2.0, 2.0) as f32);
        let mut state = StreamingStream::new();
        let mut y = SVector::<f32, 3>::zeros();
        for t in 0..7 {
            y = net.step(
                &mut state,
                &SVector::<f32, 2>::from_column_slice(&x.as_slice()[t * 2..t * 2 + 2]),
            );
        }
        let whole = net.forward(&x);
        assert_eq!(y.map(f32::to_bits), whole.map(f32::to_bits));
        // `reset` starts a new sequence.
        state.reset();
        assert_eq!(state, StreamingStream::new());
    }
    // A sequence output: every step's row.
    let net = PerStep::<f32>::random(&mut rng);
    let x = SMatrix::<f32, 15, 1>::from_fn(|_, _| rng.uniform(-2.0, 2.0) as f32);
    let whole = net.forward(&x);
    let mut state = PerStepStream::<f32>::default();
    for t in 0..5 {
        let y = net.step(
            &mut state,
            &SVector::<f32, 3>::from_column_slice(&x.as_slice()[t * 3..t * 3 + 3]),
        );
        assert_eq!(
            y.map(f32::to_bits).as_slice(),
            whole.map(f32::to_bits).as_slice()[t * 2..t * 2 + 2].as_ref()
        );
    }
}

network! {
    /// A WaveNet/TCN stack: dilated causal convolutions, grouped, with batch norm and a
    /// residual block; streamed one column at a time through ring buffers.
    #[derive(Clone, Debug)]
    struct Tcn {
        Input<2, 24>,
        a: Conv1d<4, 3>(padding = "causal"), Tanh,
        bn: BatchNorm,
        block: Residual {
            b: Conv1d<4, 2>(padding = "causal", dilation = 2, groups = 2), Relu,
            c: Conv1d<4, 3>(padding = "causal", dilation = 4, bias = false),
        },
        out: Conv1d<1, 1>(padding = "causal"),
    }
}

#[test]
fn causal_convolutions_stream_through_ring_buffers() {
    // f64 runs the direct loops, whose sums `step` reproduces in order: the same bits.
    let mut rng = Rng::seed_from_u64(16);
    let mut net = Tcn::<f64>::random(&mut rng);
    // Running statistics away from 0 and 1, so that batch norm does something.
    let mut tape = Tcn::<f64>::new_tape::<4>();
    for _ in 0..5 {
        let x = matrix::<48, 4>(&mut rng, 1.0);
        net.forward_train_deterministic(&x, &mut tape);
    }
    let x = matrix::<48, 1>(&mut rng, 1.0);
    let whole = net.forward(&x);
    let mut state = TcnStream::<f64>::new();
    for t in 0..24 {
        // Column t of the [2, 24] signal: channel c at c * 24 + t.
        let column = SVector::<f64, 2>::new(x[t], x[24 + t]);
        let y = net.step(&mut state, &column);
        assert_eq!(y[0].to_bits(), whole[t].to_bits(), "step {t}");
    }
    // Past the ring's span the oldest values are overwritten: a reset starts over.
    state.reset();
    let again = net.step(&mut state, &SVector::<f64, 2>::new(x[0], x[24]));
    assert_eq!(again[0].to_bits(), whole[0].to_bits());
}

network! {
    /// The real-time audio shape: dilated causal convolutions, then a GRU over the
    /// signal read as a sequence, then a dense layer on every step.
    #[derive(Clone, Debug)]
    struct ConvGru {
        Input<2, 12>,
        c: Conv1d<4, 3>(padding = "causal", dilation = 2), Tanh,
        Transpose,
        rnn: Gru<5>,
        out: Dense<1>,
    }
}

#[test]
fn convolutions_then_a_gru_train_and_stream() {
    assert_eq!(ConvGru::<f32>::OUTPUTS, 12);
    let mut rng = Rng::seed_from_u64(17);
    let net = ConvGru::<f64>::random(&mut rng);
    check_network(
        &net,
        &matrix::<24, 2>(&mut rng, 1.0),
        &matrix::<12, 2>(&mut rng, 1.0),
        Mse,
    );
    let x = matrix::<24, 1>(&mut rng, 1.0);
    let whole = net.forward(&x);
    let mut state = ConvGruStream::<f64>::new();
    for t in 0..12 {
        let y = net.step(&mut state, &SVector::<f64, 2>::new(x[t], x[12 + t]));
        assert_eq!(y[0].to_bits(), whole[t].to_bits(), "step {t}");
    }
    let source = ConvGru::<f32>::pytorch().to_string();
    assert!(source.contains("        h = h.transpose(1, 2)\n        h, _ = self.rnn(h)\n"));
}
