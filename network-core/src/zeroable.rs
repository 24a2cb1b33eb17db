//! Values that may be created as all-zero bytes, so that a large network or optimizer
//! can be allocated on the heap (or placed in a `static`) directly, never built on the
//! stack first.

use nalgebra::SMatrix;

use crate::optim::{AdaGrad, Adam, Momentum, RmsProp, Sgd};
use crate::{BatchNorm, Dense, LayerNorm, Scalar};

/// A type whose all-zero bit pattern is a valid value: `0.0` for every float, `0` for
/// every integer, `false` for every `bool`.
///
/// # Safety
///
/// Implement it only for types made of such fields (floats, integers, `bool`, arrays and
/// structs of those): no references, pointers, `NonZero*`, `char` or enums. `network!`
/// implements it for the networks it generates, whose fields are matrices of the scalar.
pub unsafe trait Zeroable: Sized {}

// SAFETY: all-zero bytes are 0.0.
unsafe impl Zeroable for f32 {}
// SAFETY: all-zero bytes are 0.0.
unsafe impl Zeroable for f64 {}
// SAFETY: an array of `ArrayStorage`, itself an array of T.
unsafe impl<T: Scalar + Zeroable, const R: usize, const C: usize> Zeroable for SMatrix<T, R, C> {}
// SAFETY: two matrices of T.
unsafe impl<T: Scalar + Zeroable, const I: usize, const O: usize> Zeroable for Dense<T, I, O> {}
// SAFETY: four vectors of T.
unsafe impl<T: Scalar + Zeroable, const N: usize> Zeroable for BatchNorm<T, N> {}
// SAFETY: two vectors of T.
unsafe impl<T: Scalar + Zeroable, const N: usize> Zeroable for LayerNorm<T, N> {}
// SAFETY: floats, a bool and a u64.
unsafe impl<T: Scalar + Zeroable> Zeroable for Sgd<T> {}
// SAFETY: floats, bools, a u64 and parameter-shaped values that are Zeroable.
unsafe impl<T: Scalar + Zeroable, P: Zeroable> Zeroable for Momentum<T, P> {}
// SAFETY: as above.
unsafe impl<T: Scalar + Zeroable, P: Zeroable> Zeroable for AdaGrad<T, P> {}
// SAFETY: as above.
unsafe impl<T: Scalar + Zeroable, P: Zeroable> Zeroable for RmsProp<T, P> {}
// SAFETY: as above.
unsafe impl<T: Scalar + Zeroable, P: Zeroable> Zeroable for Adam<T, P> {}
