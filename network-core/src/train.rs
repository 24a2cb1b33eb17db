//! One training step's numerics, checked: the step refuses NaN and infinity instead of
//! letting them into the weights.

use core::fmt;

use nalgebra::SMatrix;

use crate::loss::Loss;
use crate::{Network, Rng, Scalar};

/// Numerical trouble found during a training step, before any weight changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumericError {
    /// The input batch holds NaN or infinity in this sample (column).
    NonFiniteInput {
        /// Column of the offending sample in the batch.
        sample: usize,
    },
    /// The target batch holds NaN or infinity in this sample (column).
    NonFiniteTarget {
        /// Column of the offending sample in the batch.
        sample: usize,
    },
    /// A layer's output (after its activation) came out NaN or infinite: the first such
    /// layer in the forward pass.
    NonFiniteForward {
        /// The layer's name.
        layer: &'static str,
    },
    /// The loss came out NaN or infinite although every layer's output was finite.
    NonFiniteLoss,
    /// A gradient came out NaN or infinite.
    NonFiniteGradient {
        /// The tensor, as `"<layer>.weight"`.
        param: &'static str,
    },
    /// An optimizer step from finite gradients made a weight (or the optimizer's state)
    /// NaN or infinite: a learning rate or penalty too large for the scalar type. The
    /// trainer undoes such a step.
    NonFiniteUpdate {
        /// The first tensor that came out non-finite, as `"<layer>.weight"` (the
        /// optimizer state's tensors are named like the parameters they follow).
        param: &'static str,
    },
}

impl fmt::Display for NumericError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NumericError::NonFiniteInput { sample } => {
                write!(
                    f,
                    "sample {sample} of the input batch holds NaN or infinity"
                )
            }
            NumericError::NonFiniteTarget { sample } => {
                write!(
                    f,
                    "sample {sample} of the target batch holds NaN or infinity"
                )
            }
            NumericError::NonFiniteForward { layer } => {
                write!(f, "the output of layer `{layer}` holds NaN or infinity")
            }
            NumericError::NonFiniteLoss => write!(f, "the loss is NaN or infinite"),
            NumericError::NonFiniteGradient { param } => {
                write!(f, "the gradient of `{param}` holds NaN or infinity")
            }
            NumericError::NonFiniteUpdate { param } => {
                write!(
                    f,
                    "the optimizer step made `{param}` NaN or infinite; the step was undone"
                )
            }
        }
    }
}

impl core::error::Error for NumericError {}

/// The first column of `m` that holds NaN or infinity.
fn first_non_finite_column<T: Scalar, const R: usize, const C: usize>(
    m: &SMatrix<T, R, C>,
) -> Option<usize> {
    if crate::kernels::all_finite(m.as_slice()) {
        return None;
    }
    m.column_iter()
        .position(|c| c.iter().any(|v| !v.is_finite()))
}

/// Forward pass in training mode, loss and backward pass for one batch: clears `grads`,
/// fills it with the mean loss's gradient and returns that loss. `rng` drives dropout.
///
/// Returns a [`NumericError`] naming the sample, layer or tensor where NaN or infinity
/// appeared. The parameters are never modified, so the caller can skip the batch, lower
/// the learning rate or stop; batch normalization's running estimates (buffers) move in
/// the forward pass as in PyTorch, but never with non-finite statistics.
pub fn compute_gradients<N, T, L, const IN: usize, const OUT: usize, const B: usize>(
    net: &mut N,
    x: &SMatrix<T, IN, B>,
    target: &SMatrix<T, OUT, B>,
    loss: &L,
    tape: &mut N::Tape<B>,
    grads: &mut N,
    rng: &mut Rng,
) -> Result<T, NumericError>
where
    N: Network<T, IN, OUT>,
    T: Scalar,
    L: Loss,
{
    compute_gradients_inspect(net, x, target, loss, tape, grads, rng, |_| {})
}

/// As [`compute_gradients`], and calls `inspect` with the batch's outputs (to count
/// correct predictions without a second forward pass).
#[allow(clippy::too_many_arguments)] // the training step's inputs, each needed
pub fn compute_gradients_inspect<N, T, L, F, const IN: usize, const OUT: usize, const B: usize>(
    net: &mut N,
    x: &SMatrix<T, IN, B>,
    target: &SMatrix<T, OUT, B>,
    loss: &L,
    tape: &mut N::Tape<B>,
    grads: &mut N,
    rng: &mut Rng,
    inspect: F,
) -> Result<T, NumericError>
where
    N: Network<T, IN, OUT>,
    T: Scalar,
    L: Loss,
    F: FnOnce(&SMatrix<T, OUT, B>),
{
    gradients(
        Access::Owned(net),
        x,
        target,
        loss,
        tape,
        grads,
        rng,
        inspect,
        true,
    )
}

/// As [`compute_gradients_inspect`], through a shared reference: for a network whose
/// training pass changes nothing in it ([`Network::SHARED_TRAINING`]; every network
/// `network!` generates without batch normalization), so that several threads can
/// compute gradients of their own batches with one copy of the weights
/// (`network::parallel` does). Does not compile for other networks.
#[allow(clippy::too_many_arguments)] // the training step's inputs, each needed
pub fn compute_gradients_shared<N, T, L, F, const IN: usize, const OUT: usize, const B: usize>(
    net: &N,
    x: &SMatrix<T, IN, B>,
    target: &SMatrix<T, OUT, B>,
    loss: &L,
    tape: &mut N::Tape<B>,
    grads: &mut N,
    rng: &mut Rng,
    inspect: F,
) -> Result<T, NumericError>
where
    N: Network<T, IN, OUT>,
    T: Scalar,
    L: Loss,
    F: FnOnce(&SMatrix<T, OUT, B>),
{
    gradients(
        shared(net),
        x,
        target,
        loss,
        tape,
        grads,
        rng,
        inspect,
        true,
    )
}

/// [`compute_gradients_shared`] without its last pass, the test that the gradient is
/// finite: for a caller that sums the gradients of several parts of a batch and tests
/// the sum as it makes it (`network::parallel`), which finds the same NaN and infinities
/// (they survive a sum) in one pass instead of one per part. Not part of the API.
#[doc(hidden)]
#[allow(clippy::too_many_arguments)] // the training step's inputs, each needed
pub fn compute_part_gradients<N, T, L, F, const IN: usize, const OUT: usize, const B: usize>(
    net: &N,
    x: &SMatrix<T, IN, B>,
    target: &SMatrix<T, OUT, B>,
    loss: &L,
    tape: &mut N::Tape<B>,
    grads: &mut N,
    rng: &mut Rng,
    inspect: F,
) -> Result<T, NumericError>
where
    N: Network<T, IN, OUT>,
    T: Scalar,
    L: Loss,
    F: FnOnce(&SMatrix<T, OUT, B>),
{
    gradients(
        shared(net),
        x,
        target,
        loss,
        tape,
        grads,
        rng,
        inspect,
        false,
    )
}

/// A shared training pass, refused at compile time for a network whose training pass
/// changes it.
fn shared<N, T, const IN: usize, const OUT: usize>(net: &N) -> Access<'_, N>
where
    N: Network<T, IN, OUT>,
    T: Scalar,
{
    const {
        assert!(
            N::SHARED_TRAINING,
            "training changes this network (batch normalization's running statistics), so threads cannot share it: train it on one thread (`compute_gradients`, `Trainer::fit`)"
        )
    };
    Access::Shared(net)
}

/// How a training step reaches the network.
enum Access<'n, N> {
    Owned(&'n mut N),
    Shared(&'n N),
}

#[allow(clippy::too_many_arguments)] // the training step's inputs, each needed
fn gradients<N, T, L, F, const IN: usize, const OUT: usize, const B: usize>(
    net: Access<'_, N>,
    x: &SMatrix<T, IN, B>,
    target: &SMatrix<T, OUT, B>,
    loss: &L,
    tape: &mut N::Tape<B>,
    grads: &mut N,
    rng: &mut Rng,
    inspect: F,
    check_gradients: bool,
) -> Result<T, NumericError>
where
    N: Network<T, IN, OUT>,
    T: Scalar,
    L: Loss,
    F: FnOnce(&SMatrix<T, OUT, B>),
{
    if let Some(sample) = first_non_finite_column(x) {
        return Err(NumericError::NonFiniteInput { sample });
    }
    if let Some(sample) = first_non_finite_column(target) {
        return Err(NumericError::NonFiniteTarget { sample });
    }
    let mut d_out = SMatrix::<T, OUT, B>::zeros();
    let shared: &N;
    let value = {
        let output = match net {
            Access::Owned(owned) => {
                let output = owned.forward_train(x, tape, rng);
                shared = owned;
                output
            }
            Access::Shared(net) => {
                shared = net;
                net.forward_train_shared(x, tape, rng)
                    .expect("SHARED_TRAINING is true, so forward_train_shared gives Some")
            }
        };
        inspect(output);
        loss.loss_and_grad(output, target, &mut d_out)
    };
    if !value.is_finite() {
        let mut first = None;
        N::for_each_output(tape, |info, values| {
            if first.is_none() && values.iter().any(|v| !v.is_finite()) {
                first = Some(info.name);
            }
        });
        return Err(first.map_or(NumericError::NonFiniteLoss, |layer| {
            NumericError::NonFiniteForward { layer }
        }));
    }
    shared.backward_overwrite(x, tape, &d_out, grads);
    if !check_gradients {
        return Ok(value);
    }
    let mut bad = None;
    grads.for_each_param(|info, values| {
        if bad.is_none() && !crate::kernels::all_finite(values) {
            bad = Some(info.name);
        }
    });
    match bad {
        Some(param) => Err(NumericError::NonFiniteGradient { param }),
        None => Ok(value),
    }
}
