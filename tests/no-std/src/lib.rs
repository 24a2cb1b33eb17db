//! Proof that a generated network and a training step build without `std` or an
//! allocator: inference and one SGD step on a statically allocated network.
#![no_std]

use network::prelude::*;

network! {
    /// A tiny classifier for a microcontroller.
    pub struct Tiny {
        hidden: Dense<4, 8>, Relu,
        logits: Dense<8, 3>,
    }
}

/// Predicts the class of one sample.
pub fn classify(net: &Tiny<f32>, x: &SVector<f32, 4>) -> usize {
    argmax(net.forward(x).as_slice())
}

/// One SGD step on a batch of two samples; returns the loss, or the numerical error.
pub fn train_step(
    net: &mut Tiny<f32>,
    grads: &mut Tiny<f32>,
    x: &SMatrix<f32, 4, 2>,
    y: &SMatrix<f32, 3, 2>,
) -> Result<f32, network::NumericError> {
    let mut tape = Tiny::<f32>::new_tape::<2>();
    let loss = compute_gradients(
        net,
        x,
        y,
        &SoftmaxCrossEntropy,
        &mut tape,
        grads,
        &mut Rng::seed_from_u64(0),
    )?;
    Sgd::new(0.1).step(net, grads);
    Ok(loss)
}

/// A network initialized from a seed.
pub fn new_network(seed: u64) -> Tiny<f32> {
    Tiny::random(&mut Rng::seed_from_u64(seed))
}

/// The model summary, written through `core::fmt` without allocation.
pub fn write_summary(out: &mut impl core::fmt::Write) -> core::fmt::Result {
    write!(out, "{}", Tiny::<f32>::summary(2, 0))
}

/// Counts the problems the diagnostics find in a gradient.
pub fn count_problems(step: u64, grads: &Tiny<f32>) -> usize {
    let mut problems = 0;
    network::diagnose::diagnose_gradients(
        step,
        grads,
        &network::diagnose::Thresholds::default(),
        |_| problems += 1,
    );
    problems
}

network! {
    /// A small convolutional network over a 3-axis accelerometer window of 16 samples.
    pub struct Gesture {
        Input<3, 16>,
        conv: Conv1d<8, 3>(padding = "same"), Relu,
        MaxPool1d<2>,
        deeper: Conv1d<8, 3>(dilation = 2, padding = "causal", groups = 2), Relu,
        bn: BatchNorm,
        GlobalAvgPool,
        logits: Dense<4>,
    }
}

/// Classifies one window; returns the class.
pub fn gesture(net: &Gesture<f32>, window: &SVector<f32, 48>) -> usize {
    argmax(net.forward(window).as_slice())
}

/// One SGD step of the convolutional network on a batch of four windows.
pub fn gesture_step(
    net: &mut Gesture<f32>,
    grads: &mut Gesture<f32>,
    x: &SMatrix<f32, 48, 4>,
    y: &SMatrix<f32, 4, 4>,
) -> Result<f32, network::NumericError> {
    let mut tape = Gesture::<f32>::new_tape::<4>();
    let loss = compute_gradients(
        net,
        x,
        y,
        &SoftmaxCrossEntropy,
        &mut tape,
        grads,
        &mut Rng::seed_from_u64(0),
    )?;
    Sgd::new(0.05).step(net, grads);
    Ok(loss)
}
