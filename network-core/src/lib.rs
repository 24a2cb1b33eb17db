//! The `no_std` runtime of [`network`](https://docs.rs/network): the local math of each
//! layer (forward and vector-Jacobian product), activations, losses, optimizers,
//! initializers, a seeded PRNG and the [`Network`] trait that generated networks
//! implement.
//!
//! Everything here is plain Rust over nalgebra's fixed-size matrices: no allocation, no
//! atomics (it builds for `thumbv6m-none-eabi`), and transcendental functions from
//! `libm` on every target so that results are the same bits everywhere. Most users reach
//! it through the `network` facade and its `network!` macro.
#![no_std]
#![warn(missing_docs)]

#[cfg(feature = "std")]
extern crate std;

pub mod activation;
pub mod arch;
pub mod diagnose;
mod init;
pub mod kernels;
pub mod layers;
pub mod loss;
mod network;
pub mod optim;
pub mod pytorch;
pub mod quant;
pub mod raw;
pub mod regularize;
mod rng;
mod scalar;
pub mod schedule;
#[cfg(feature = "simd")]
pub mod simd;
pub mod stats;
pub mod summary;
mod train;
mod zeroable;

pub use init::Init;
pub use layers::conv::{Conv, ConvGeometry, ConvHistory};
pub use layers::dense::{Dense, DenseSteps};
pub use layers::dropout::{mask_words, Dropout};
pub use layers::norm::{BatchNorm, LayerNorm, BATCH_NORM_MOMENTUM, NORM_EPS};
pub use layers::pool::PoolGeometry;
pub use layers::recurrent::{Gru, Lstm, LstmState};
pub use nalgebra;
pub use network::{LayerInfo, Network, ParamInfo, ParamKind, Params};
pub use rng::Rng;
pub use scalar::Scalar;
#[doc(hidden)]
pub use train::compute_part_gradients;
pub use train::{
    compute_gradients, compute_gradients_inspect, compute_gradients_shared, NumericError,
};
#[doc(hidden)]
pub use zeroable::assert_zeroable;
pub use zeroable::Zeroable;

/// A residual block's output: `out = skip + body`. The sizes are equal in any network
/// `network!` accepts; they are separate parameters so that a mismatch of named constants
/// is reported once, by the declaration's spanned assertion, not again as type errors.
#[inline]
pub fn residual_sum<T: Scalar, const I: usize, const M: usize, const B: usize>(
    skip: &nalgebra::SMatrix<T, I, B>,
    body: &nalgebra::SMatrix<T, M, B>,
    out: &mut nalgebra::SMatrix<T, I, B>,
) {
    out.as_mut_slice().copy_from_slice(skip.as_slice());
    kernels::axpy(T::one(), body.as_slice(), out.as_mut_slice());
}

/// Copies a gradient between two matrices of equal (but separately named) sizes; see
/// [`residual_sum`].
#[inline]
pub fn residual_copy<T: Scalar, const I: usize, const M: usize, const B: usize>(
    from: &nalgebra::SMatrix<T, I, B>,
    to: &mut nalgebra::SMatrix<T, M, B>,
) {
    let n = to.len().min(from.len());
    to.as_mut_slice()[..n].copy_from_slice(&from.as_slice()[..n]);
}

/// `out += from`, for matrices of equal (but separately named) sizes; see
/// [`residual_sum`].
#[inline]
pub fn residual_add<T: Scalar, const I: usize, const M: usize, const B: usize>(
    from: &nalgebra::SMatrix<T, I, B>,
    out: &mut nalgebra::SMatrix<T, M, B>,
) {
    kernels::axpy(T::one(), from.as_slice(), out.as_mut_slice());
}

/// Index of the largest value of a slice (the first one on ties); 0 for an empty slice.
/// NaN never wins.
///
/// ```
/// assert_eq!(network_core::argmax(&[0.1f32, 0.7, 0.2]), 1);
/// ```
pub fn argmax<T: Scalar>(values: &[T]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        let best_is_nan = values[best].partial_cmp(&values[best]).is_none();
        if *v > values[best] || best_is_nan {
            best = i;
        }
    }
    best
}
