//! Heap placement that never builds the value on the stack first: a 784-256-128-10
//! network is 940 KB, its gradient as much again and Adam's state three times that, more
//! than a thread's stack holds in a debug build. These allocate zeroed memory and
//! initialize it in place.
//!
//! ```
//! use network::prelude::*;
//!
//! network! {
//!     struct Big { a: Dense<784, 256>, Relu, b: Dense<256, 128>, Relu, c: Dense<128, 10> }
//! }
//!
//! let net: Box<Big<f32>> = network::boxed::random(&mut Rng::seed_from_u64(1));
//! let adam = network::boxed::zeroed_with(|a: &mut Adam<f32, Big<f32>>| a.config = AdamConfig::adam(1e-3));
//! let trainer = Trainer::from_boxed(net, adam, Constant(1e-3), SoftmaxCrossEntropy, TrainConfig::default());
//! # let _ = trainer;
//! ```
//!
//! For `no_std`, a `static` of a [`Zeroable`] type is placed by the linker in `.bss` and
//! needs no construction at all.

use std::boxed::Box;

use crate::{Network, Rng, Scalar, Zeroable};

/// A zeroed value on the heap (every parameter 0): a network, a gradient, an optimizer.
pub fn zeroed<Z: Zeroable>() -> Box<Z> {
    // SAFETY: `Zeroable` guarantees that all-zero bytes are a valid `Z`.
    unsafe { Box::<Z>::new_zeroed().assume_init() }
}

/// A zeroed value on the heap, then configured in place (for example an optimizer's
/// hyper-parameters).
pub fn zeroed_with<Z: Zeroable>(configure: impl FnOnce(&mut Z)) -> Box<Z> {
    let mut value = zeroed::<Z>();
    configure(&mut value);
    value
}

/// A randomly initialized network on the heap (see `Network::initialize`).
pub fn random<T, N, const IN: usize, const OUT: usize>(rng: &mut Rng) -> Box<N>
where
    T: Scalar,
    N: Network<T, IN, OUT> + Zeroable,
{
    let mut net = zeroed::<N>();
    net.initialize(rng);
    net
}
