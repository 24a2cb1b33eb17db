//! Optimizers, written once over the [`Params`](crate::Params) visitor.

mod sgd;

pub use sgd::Sgd;
