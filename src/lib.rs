//! Neural networks declared in Rust source and expanded at compile time into statically
//! sized [nalgebra](https://nalgebra.org) code: fixed-size weights (`SMatrix`) and biases
//! (`SVector`), straight-line forward code, and a backward pass derived with the chain
//! rule by the macro. No tape interpreter, no `dyn`, no heap; shape mismatches are
//! compile errors that point at the offending layer; the runtime is `no_std`.
//!
//! ```
//! use network::prelude::*;
//!
//! network! {
//!     /// Classifies iris flowers from four measurements.
//!     #[derive(Clone, Debug)]
//!     pub struct Iris {
//!         hidden: Dense<4, 16>, Relu,
//!         deeper: Dense<16, 16>, Relu,
//!         logits: Dense<16, 3>,
//!     }
//! }
//!
//! # fn main() -> Result<(), network::NumericError> {
//! let mut rng = Rng::seed_from_u64(42);
//! let mut net = Iris::<f32>::random(&mut rng); // He before Relu, Xavier otherwise
//! let x = SVector::<f32, 4>::new(5.1, 3.5, 1.4, 0.2);
//! let probabilities = softmax(&net.forward(&x));
//! assert!((probabilities.sum() - 1.0).abs() < 1e-6);
//!
//! // One SGD step on a batch of two samples (columns).
//! let batch = SMatrix::<f32, 4, 2>::from_columns(&[x, x * 0.5]);
//! let targets = SMatrix::<f32, 3, 2>::from_columns(&[one_hot(0).unwrap(), one_hot(2).unwrap()]);
//! let mut tape = Iris::<f32>::new_tape::<2>();
//! let mut grads = Iris::<f32>::zeros();
//! let loss = compute_gradients(&mut net, &batch, &targets, &SoftmaxCrossEntropy, &mut tape, &mut grads, &mut rng)?;
//! Sgd::new(0.1).step(&mut net, &grads);
//! assert!(loss > 0.0);
//! assert_eq!(core::mem::size_of::<Iris<f32>>(), Iris::<f32>::PARAMS * 4);
//! # Ok(())
//! # }
//! ```
//!
//! # The declaration
//!
//! ```text
//! network! {
//!     /// docs, #[derive(..)] and other attributes pass through; #[cfg(..)] applies to
//!     /// everything generated; #[weights("file.bin")] adds NAME::WEIGHTS, the network
//!     /// decoded at compile time from a `raw` weights file (keep it in a `static`: flash)
//!     VISIBILITY struct NAME {
//!         ELEMENT, ELEMENT, ...
//!     }
//! }
//! ELEMENT := NODE | ACTIVATION
//! NODE    := ATTRS name: Dense<INPUTS, OUTPUTS> | ATTRS name: Dense<OUTPUTS>
//!          | ATTRS name: BatchNorm | ATTRS name: BatchNorm<SIZE>
//!          | ATTRS name: LayerNorm | ATTRS name: LayerNorm<SIZE>
//!          | Dropout(p) | name: Dropout(p) | Dropout<SIZE>(p)   p in [0, 1)
//!          | ATTRS name: Residual { ELEMENT, ... }          at most 32 deep
//! ATTRS   := doc comments, #[init(he)], #[init(xavier)], #[checkpoint] (each once)
//! SIZE    := an integer literal | a `const` item of type usize | { a const expression }
//!            (1 to 2^24; a dense layer has at most 2^28 weights)
//! ACTIVATION := Identity | Relu | LeakyRelu | LeakyRelu(slope) | Elu | Elu(alpha)
//!             | Gelu | Softplus | Sigmoid | Tanh | Softmax
//! ```
//!
//! - Every layer has a name; it names the struct's field, and its tensors are called
//!   `name.weight` (shape `[out, in]`) and `name.bias` as in PyTorch. Raw identifiers
//!   work (`r#type` has tensors `type.weight`, `type.bias`); names starting with `__` are
//!   reserved for the generated code, which can capture no name of yours.
//! - An activation applies to the layer before it; at most one per layer. No activation
//!   means the identity. `LeakyRelu` defaults to a slope of 0.01.
//! - The first layer states its input size; later ones may (and then it is checked) or
//!   may leave it to be inferred. A mismatch is a compile error on the written size:
//!   "layer `deeper` takes 8 inputs but `hidden` produces 16". Sizes given as `const`
//!   items are checked by a const assertion spanned on the same tokens.
//! - `random` initializes a layer followed by `Relu` or `LeakyRelu` with He-uniform
//!   weights and every other layer with Xavier-uniform; `#[init(..)]` overrides it.
//!   Biases start at zero.
//! - The scalar is the struct's type parameter, `f32` by default: `Iris<f64>` computes
//!   in double precision.
//!
//! # What is generated
//!
//! For `struct Iris`:
//! - `struct Iris<T: Scalar = f32>` with one [`Dense`] field per layer, `#[repr(C)]`,
//!   parameters only: `size_of::<Iris<f32>>() == Iris::<f32>::PARAMS * 4`. A value of
//!   this type also holds gradients.
//! - Constants `Iris::INPUTS`, `OUTPUTS`, `PARAMS`, `BUFFERS`, `PARAM_BYTES` and
//!   `Iris::tape_bytes(batch)`.
//! - `struct IrisTape<T, const B: usize>`: each layer's output after its activation for
//!   a batch of `B`, the only activations backward needs.
//! - `impl Params<T>` (the parameter visitor: name, shape, flat slice) and
//!   `impl Network<T, 4, 3>`: `zeros`, `random`, `forward` (inference, any batch size),
//!   `forward_train` (fills the tape), `backward` (adds parameter gradients; the first
//!   layer's input gradient is not computed) and `backward_with_input_grad`.
//!
//! Batches are matrices whose columns are samples: `SMatrix<T, IN, B>`; a single sample
//! is `SVector<T, IN>`, which is the same type with `B = 1`.
//!
//! # Losses
//!
//! [`loss::Mse`], [`loss::SoftmaxCrossEntropy`] (on logits, fused with softmax) and
//! [`loss::BceWithLogits`] (on logits, fused with the sigmoid). The fused losses give
//! `p - y` directly and stay finite for logits of ±1e4. End a classifier with logits (no
//! activation) and apply [`softmax`](activation::softmax) at inference.
//!
//! # Features
//!
//! - `std` (default): the [`data`] module (CSV or in-memory data, splits,
//!   standardization), [`train`] (the `Trainer`), [`metrics`], [`checkpoint`],
//!   [`weights`] (safetensors) and [`boxed`]. Without it the crate is `#![no_std]` and
//!   builds for `thumbv7em-none-eabihf`, `thumbv7m-none-eabi` and `thumbv6m-none-eabi`.
//! - `simd` (default, needs `std`): AVX-512 or AVX2 + FMA products detected at run time;
//!   results differ from the portable kernels in the last bits (turn it off for
//!   bit-identical results across targets).
//! - `plots` (default, needs `std`): the `plot` module, learning curves and gradient flow
//!   as SVG.
#![no_std]
#![warn(missing_docs)]

#[cfg(feature = "std")]
extern crate std;

// Lets the macro's `::network::...` paths resolve inside this crate's own tests.
extern crate self as network;

#[cfg(feature = "std")]
pub mod boxed;
#[cfg(feature = "std")]
pub mod checkpoint;
#[cfg(feature = "std")]
pub mod data;
#[cfg(feature = "std")]
pub mod metrics;
#[cfg(feature = "std")]
pub mod parallel;
#[cfg(feature = "plots")]
pub mod plot;
#[cfg(feature = "std")]
pub mod train;
#[cfg(feature = "std")]
pub mod weights;

pub use network_core::{
    activation, arch, argmax, compute_gradients, compute_gradients_inspect,
    compute_gradients_shared, diagnose, kernels, layers, loss, nalgebra, optim, pytorch, quant,
    raw, regularize, schedule, stats, summary, Dense, Gru, Init, LayerInfo, Lstm, LstmState,
    Network, NumericError, ParamInfo, ParamKind, Params, Rng, Scalar, Zeroable,
};
pub use network_macros::network;

/// A one-hot column: 1 at `class`, 0 elsewhere; `None` if `class >= R`.
///
/// ```
/// let y = network::one_hot::<f32, 3>(1).unwrap();
/// assert_eq!(y.as_slice(), &[0.0, 1.0, 0.0]);
/// assert!(network::one_hot::<f32, 3>(3).is_none());
/// ```
pub fn one_hot<T: Scalar, const R: usize>(class: usize) -> Option<nalgebra::SVector<T, R>> {
    (class < R).then(|| {
        let mut y = nalgebra::SVector::<T, R>::zeros();
        y[class] = T::one();
        y
    })
}

/// Everything a training program usually needs.
pub mod prelude {
    // The macro only: `crate::network` would also name `extern crate self as network`.
    pub use crate::activation::{
        softmax, Elu, Gelu, Identity, LeakyRelu, Relu, Sigmoid, Softmax, Softplus, Tanh,
    };
    pub use crate::loss::{BceWithLogits, Loss, Mse, SoftmaxCrossEntropy};
    pub use crate::nalgebra::{SMatrix, SVector};
    pub use crate::optim::{
        AdaGrad, Adam, AdamConfig, Momentum, Optimizer, RmsProp, RmsPropConfig, Sgd,
    };
    pub use crate::regularize::{clip_grad_norm, clip_grad_value, Penalty};
    pub use crate::schedule::{
        Constant, CosineAnnealing, ExponentialDecay, Schedule, StepDecay, Then, Warmup,
    };
    #[cfg(feature = "std")]
    pub use crate::train::{TrainConfig, Trainer};
    pub use crate::{
        argmax, compute_gradients, one_hot, Dense, Init, Network, Params, Rng, Scalar,
    };
    pub use network_macros::network;
}

/// Paths the generated code names. Not public API.
#[doc(hidden)]
pub mod __private {
    pub use network_core::activation::{
        Activation, Elu, Gelu, Identity, LeakyRelu, Relu, Sigmoid, Softmax, Softplus, Tanh,
    };
    pub use network_core::arch::{ActivationOp, Op};
    pub use network_core::layers::conv::out_len as conv_out_len;
    pub use network_core::layers::pool::{
        avg_pool_backward, avg_pool_forward, global_avg_backward, global_avg_forward,
        max_pool_backward, max_pool_forward, transpose,
    };
    pub use network_core::layers::recurrent::{GRU_CACHE, LSTM_CACHE};
    pub use network_core::nalgebra::{ArrayStorage, SMatrix};
    pub use network_core::pytorch::Module as PyTorchModule;
    pub use network_core::quant::raw::{
        dense_bytes as quant_dense_bytes, QuantRawError, QuantReader, QuantWriter,
        CHECKSUM_BYTES as QUANT_CHECKSUM_BYTES, HEADER_BYTES as QUANT_HEADER_BYTES,
    };
    pub use network_core::quant::{
        avg_pool_i8, global_avg_i8, max_pool_i8, ActivationQuant, ConvInt8, DenseInt8,
        Range as QuantRange,
    };
    pub use network_core::raw::{matrix_f32 as raw_matrix_f32, matrix_f64 as raw_matrix_f64};
    pub use network_core::summary::Summary;
    pub use network_core::{
        assert_zeroable, mask_words, residual_add, residual_copy, residual_sum, BatchNorm, Conv,
        ConvGeometry, ConvHistory, Dense, DenseSteps, Dropout, Gru, Init, LayerInfo, LayerNorm,
        Lstm, LstmState, Network, ParamInfo, ParamKind, Params, PoolGeometry, Rng, Scalar,
        Zeroable,
    };
}
