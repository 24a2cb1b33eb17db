//! Forward, backward, loss, optimizer steps, schedules and clipping allocate nothing:
//! counted by a global allocator, per thread (the test harness allocates in its own
//! threads while a test runs).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use network::prelude::*;
use network::regularize::grad_norm;

struct Counting;

thread_local! {
    /// Allocations made by this thread (const-initialized: reading it allocates nothing).
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

fn count() {
    // A thread being torn down may allocate after its locals are gone: not counted.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

network! {
    struct Net {
        a: Dense<8, 32>, Relu,
        b: Dense<32, 16>, Tanh,
        c: Dense<16, 4>, Softmax,
        d: Dense<4, 3>,
    }
}

network! {
    /// Every shaped layer: convolutions (matrix products with `simd` and f32), pooling,
    /// batch norm over channels, a residual block, global average pooling.
    struct Cnn {
        Input<2, 8, 8>,
        a: Conv2d<8, 3>(padding = 1), Relu,
        bn: BatchNorm,
        MaxPool2d<2>,
        block: Residual { b: Conv2d<8, 3>(padding = "same", groups = 2), Tanh },
        AvgPool2d<2>,
        c: Conv2d<4, 1>,
        GlobalAvgPool,
        d: Dense<3>,
    }
}

network! {
    /// A network with an int8 form: convolutions, a folded batch norm, pooling, dense.
    struct Quantizable {
        Input<1, 8, 8>,
        a: Conv2d<4, 3>(padding = 1),
        bn: BatchNorm, Relu,
        MaxPool2d<2>,
        b: Conv2d<4, 3>(groups = 4, padding = 1), Relu,
        AvgPool2d<2>,
        Flatten,
        d: Dense<16, 3>,
    }
}

#[test]
fn quantization_and_int8_inference_allocate_nothing() {
    let mut rng = Rng::seed_from_u64(4);
    let net = Quantizable::<f32>::random(&mut rng);
    let calibration: [SMatrix<f32, 64, 1>; 4] =
        core::array::from_fn(|k| SMatrix::from_fn(|r, _| ((r * 5 + k) as f32).sin()));
    // Warm up the CPU feature detection, then count.
    let q = net.quantize(&calibration);
    let _ = q.predict(&calibration[0]);
    let mut bytes = [0u8; QuantizableInt8::RAW_LEN];
    let before = allocations();
    let q = net.quantize(&calibration);
    for x in &calibration {
        std::hint::black_box(q.predict(x));
        std::hint::black_box(q.forward(x));
    }
    q.to_raw(&mut bytes).unwrap();
    let back = QuantizableInt8::from_raw(&bytes).unwrap();
    assert_eq!(allocations() - before, 0);
    assert_eq!(back, q);
}

#[test]
fn a_convolutional_training_step_allocates_nothing() {
    // The counter sees this thread's allocations.
    let before = allocations();
    drop(std::hint::black_box(vec![1u8; 8]));
    assert_eq!(allocations() - before, 1);
    let mut rng = Rng::seed_from_u64(2);
    let mut net = Cnn::<f32>::random(&mut rng);
    let mut grads = Cnn::<f32>::zeros();
    let mut tape = Cnn::<f32>::new_tape::<16>();
    let mut adam = Adam::<f32, Cnn<f32>>::new(AdamConfig::adam(1e-3));
    let x = SMatrix::<f32, 128, 16>::from_fn(|r, c| ((r * 16 + c) as f32).sin());
    let y = SMatrix::<f32, 3, 16>::from_fn(|r, c| if c % 3 == r { 1.0 } else { 0.0 });
    let one = SMatrix::<f32, 128, 1>::from_fn(|r, _| (r as f32).cos());
    // Warm up the CPU feature detection (see below), then count.
    let _ = net.forward(&x);
    let before = allocations();
    for _ in 0..5 {
        let _ = net.forward(&x);
        let _ = net.forward(&one);
        compute_gradients(
            &mut net,
            &x,
            &y,
            &SoftmaxCrossEntropy,
            &mut tape,
            &mut grads,
            &mut rng,
        )
        .unwrap();
        adam.step(&mut net, &grads);
        let mut d_out = SMatrix::<f32, 3, 16>::zeros();
        SoftmaxCrossEntropy.loss_and_grad(
            net.forward_train(&x, &mut tape, &mut rng),
            &y,
            &mut d_out,
        );
        net.backward_sgd(&x, &tape, &d_out, 1e-3);
    }
    assert_eq!(allocations() - before, 0);
}

network! {
    /// Causal convolutions, a transposition, a GRU, a per-step dense layer, an LSTM to
    /// the last step: training and streaming.
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

#[test]
fn recurrent_training_and_streaming_allocate_nothing() {
    let mut rng = Rng::seed_from_u64(3);
    let mut net = Sequence::<f32>::random(&mut rng);
    let mut grads = Sequence::<f32>::zeros();
    let mut tape = Sequence::<f32>::new_tape::<8>();
    let mut adam = Adam::<f32, Sequence<f32>>::new(AdamConfig::adam(1e-3));
    let x = SMatrix::<f32, 32, 8>::from_fn(|r, c| ((r * 8 + c) as f32).sin());
    let y = SMatrix::<f32, 3, 8>::from_fn(|r, c| if c % 3 == r { 1.0 } else { 0.0 });
    let mut state = SequenceStream::new();
    // Warm up the CPU feature detection, then count.
    let _ = net.forward(&x);
    let _ = net.step(&mut state, &SVector::<f32, 2>::new(0.5, -0.5));
    let before = allocations();
    for k in 0..5 {
        let _ = net.forward(&x);
        compute_gradients(
            &mut net,
            &x,
            &y,
            &SoftmaxCrossEntropy,
            &mut tape,
            &mut grads,
            &mut rng,
        )
        .unwrap();
        adam.step(&mut net, &grads);
        let mut d_out = SMatrix::<f32, 3, 8>::zeros();
        SoftmaxCrossEntropy.loss_and_grad(
            net.forward_train_deterministic(&x, &mut tape),
            &y,
            &mut d_out,
        );
        net.backward_sgd(&x, &tape, &d_out, 1e-3);
        for t in 0..16 {
            let _ = net.step(&mut state, &SVector::<f32, 2>::new(x[t], x[16 + t + k]));
        }
        state.reset();
    }
    assert_eq!(allocations() - before, 0);
}

#[test]
fn a_training_step_allocates_nothing() {
    let mut rng = Rng::seed_from_u64(1);
    let mut net = Net::<f32>::random(&mut rng);
    let mut grads = Net::<f32>::zeros();
    let mut tape = Net::<f32>::new_tape::<16>();
    let mut adam = Adam::<f32, Net<f32>>::new(AdamConfig::adam(1e-3));
    let mut momentum = Momentum::<f32, Net<f32>>::nesterov(1e-2, 0.9);
    let schedule = Warmup {
        steps: 5,
        start_factor: 0.1,
        after: CosineAnnealing {
            lr: 1e-3,
            min_lr: 0.0,
            steps: 100,
        },
    };
    // A batch of 16: large enough for the `simd` products when they are enabled.
    let x = SMatrix::<f32, 8, 16>::from_fn(|r, c| ((r * 16 + c) as f32).sin());
    let y = SMatrix::<f32, 3, 16>::from_fn(|r, c| if c % 3 == r { 1.0 } else { 0.0 });

    // One sample and a batch of 3: the `simd` one-sample products (layers a and b are
    // large enough for them), sample after sample.
    let one = SMatrix::<f32, 8, 1>::from_fn(|r, _| (r as f32).cos());
    let one_y = SMatrix::<f32, 3, 1>::new(0.0, 1.0, 0.0);
    let mut one_tape = Net::<f32>::new_tape::<1>();
    let few = x.fixed_columns::<3>(0).into_owned();
    let few_y = y.fixed_columns::<3>(0).into_owned();
    let mut few_tape = Net::<f32>::new_tape::<3>();

    // Once per process, the standard library's CPU feature detection (which the `simd`
    // products consult) reads an environment variable: warm it up, then count.
    compute_gradients(
        &mut net,
        &x,
        &y,
        &SoftmaxCrossEntropy,
        &mut tape,
        &mut grads,
        &mut rng,
    )
    .unwrap();
    let before = allocations();
    for step in 0..10u64 {
        let _ = net.forward(&x);
        let loss = compute_gradients(
            &mut net,
            &x,
            &y,
            &SoftmaxCrossEntropy,
            &mut tape,
            &mut grads,
            &mut rng,
        )
        .unwrap();
        clip_grad_norm(&mut grads, 1.0);
        clip_grad_value(&mut grads, 0.5);
        let _ = Penalty {
            l1: 1e-4,
            l2: 1e-4,
            include_bias: false,
        }
        .apply(&net, &mut grads);
        adam.set_lr(schedule.lr(step) as f32);
        adam.step(&mut net, &grads);
        momentum.step(&mut net, &grads);
        Sgd::new(1e-3).step(&mut net, &grads);
        let mut d_out = SMatrix::<f32, 3, 16>::zeros();
        SoftmaxCrossEntropy.loss_and_grad(
            net.forward_train(&x, &mut tape, &mut rng),
            &y,
            &mut d_out,
        );
        net.backward_sgd(&x, &tape, &d_out, 1e-3);
        assert!(loss.is_finite() && grad_norm(&grads).is_finite());

        let _ = net.forward(&one);
        let mut d_one = SMatrix::<f32, 3, 1>::zeros();
        SoftmaxCrossEntropy.loss_and_grad(
            net.forward_train(&one, &mut one_tape, &mut rng),
            &one_y,
            &mut d_one,
        );
        net.backward_sgd(&one, &one_tape, &d_one, 1e-3);
        let few_loss = compute_gradients(
            &mut net,
            &few,
            &few_y,
            &SoftmaxCrossEntropy,
            &mut few_tape,
            &mut grads,
            &mut rng,
        )
        .unwrap();
        adam.step(&mut net, &grads);
        assert!(few_loss.is_finite());
    }
    assert_eq!(
        allocations() - before,
        0,
        "heap allocations in the hot path"
    );
}
