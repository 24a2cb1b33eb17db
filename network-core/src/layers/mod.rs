//! Every layer's local math, side by side: its parameters (if any), its forward pass and
//! its vector-Jacobian product. `network!` composes these into a network; they are also
//! usable directly.
//!
//! Values between layers are one column per sample, flat in PyTorch's row-major order:
//! a `[C, L]` signal is `c * L + l`, a `[C, H, W]` image `(c * H + h) * W + w`.

pub mod conv;
pub mod dense;
pub mod dropout;
pub mod norm;
pub mod pool;
pub mod recurrent;
