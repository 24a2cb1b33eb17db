//! The scalar type a network computes in.

use core::fmt::{Debug, Display};

/// A floating-point scalar a network can compute in: `f32` (the default) or `f64` (used
/// to check gradients by finite differences).
///
/// Transcendental functions come from nalgebra's [`RealField`](nalgebra::RealField),
/// which this crate builds with `libm-force`: `exp`, `tanh` and friends are computed by
/// the `libm` crate on every target, so a host and a microcontroller produce the same
/// bits for the same operations. (The f32 [`Tanh`](crate::activation::Tanh) and
/// [`Sigmoid`](crate::activation::Sigmoid) activations use
/// [`branchless_tanh`](Self::branchless_tanh) and
/// [`branchless_sigmoid`](Self::branchless_sigmoid): plain arithmetic, equally portable.)
pub trait Scalar: nalgebra::RealField + Copy + Default + Debug + Display + 'static {
    /// One sample of a convolution's forward pass, the direct loops (hidden: a layer
    /// kernel, compiled optimized in `network-core` for each scalar type instead of in
    /// every crate that instantiates a network).
    #[doc(hidden)]
    fn conv_forward(
        g: &crate::ConvGeometry,
        w: &[Self],
        bias: Option<&[Self]>,
        x: &[Self],
        out: &mut [Self],
    );

    /// One sample of a convolution's backward pass, the direct loops (hidden).
    #[doc(hidden)]
    #[allow(clippy::too_many_arguments)] // a layer's backward pass
    fn conv_backward(
        g: &crate::ConvGeometry,
        w: &[Self],
        x: &[Self],
        dy: &[Self],
        gw: &mut [Self],
        gb: Option<&mut [Self]>,
        dx: Option<&mut [Self]>,
    );

    /// One sample of max pooling (hidden).
    #[doc(hidden)]
    fn max_pool_sample(
        g: &crate::PoolGeometry,
        x: &[Self],
        out: &mut [Self],
        winners: Option<&mut [u8]>,
    );

    /// One sample of max pooling's input gradient (hidden).
    #[doc(hidden)]
    fn max_pool_back_sample(g: &crate::PoolGeometry, dy: &[Self], winners: &[u8], dx: &mut [Self]);

    /// One sample of average pooling (hidden).
    #[doc(hidden)]
    fn avg_pool_sample(g: &crate::PoolGeometry, x: &[Self], out: &mut [Self]);

    /// One sample of average pooling's input gradient (hidden).
    #[doc(hidden)]
    fn avg_pool_back_sample(g: &crate::PoolGeometry, dy: &[Self], dx: &mut [Self]);

    /// The type's name as written in Rust (`"f32"`).
    const NAME: &'static str;

    /// Bytes of one value.
    const BYTES: usize;

    /// Writes the value's little-endian bytes into the first [`BYTES`](Self::BYTES) bytes
    /// of `out`.
    ///
    /// # Panics
    /// If `out` is shorter than `BYTES`.
    fn write_le(self, out: &mut [u8]);

    /// Reads a value from the first [`BYTES`](Self::BYTES) little-endian bytes of `bytes`.
    ///
    /// # Panics
    /// If `bytes` is shorter than `BYTES`.
    fn read_le(bytes: &[u8]) -> Self;

    /// Converts from `f64`, rounding to nearest (named `of` because `from_f64` is taken by
    /// `num_traits::FromPrimitive`, which nalgebra requires).
    fn of(value: f64) -> Self;

    /// Converts to `f64` (exact for `f32` and `f64`).
    fn as_f64(self) -> f64;

    /// The error function, from `libm` on every target (GELU needs it; nalgebra's
    /// `RealField` has none).
    fn erf(self) -> Self;

    /// `tanh` as the [`Tanh`](crate::activation::Tanh) activation computes it: for `f32`
    /// [`kernels::tanh_f32`](crate::kernels::tanh_f32), branch-free so that a layer's
    /// activations vectorize; otherwise `libm`'s.
    #[inline(always)]
    fn branchless_tanh(self) -> Self {
        self.tanh()
    }

    /// `exp(self)` for `self <= 0`, as softmax computes it (every logit minus the
    /// largest): for `f32` [`kernels::exp_nonpositive_f32`](crate::kernels::exp_nonpositive_f32),
    /// branch-free; otherwise `libm`'s `exp`.
    #[inline(always)]
    fn branchless_exp_nonpositive(self) -> Self {
        self.exp()
    }

    /// The logistic sigmoid as the [`Sigmoid`](crate::activation::Sigmoid) activation
    /// computes it: for `f32` [`kernels::sigmoid_f32`](crate::kernels::sigmoid_f32),
    /// branch-free; otherwise `1 / (1 + e^-x)`, or `e^x / (1 + e^x)` for negative `x`,
    /// with `libm`'s `exp`.
    #[inline(always)]
    fn branchless_sigmoid(self) -> Self {
        if self >= Self::zero() {
            Self::one() / (Self::one() + (-self).exp())
        } else {
            let e = self.exp();
            e / (Self::one() + e)
        }
    }
}

/// The hidden per-sample kernels of the shaped layers, one copy per scalar type compiled
/// in this crate (see [`Scalar::conv_forward`]).
macro_rules! layer_kernels {
    () => {
        fn conv_forward(
            g: &crate::ConvGeometry,
            w: &[Self],
            bias: Option<&[Self]>,
            x: &[Self],
            out: &mut [Self],
        ) {
            crate::layers::conv::direct_forward(g, w, bias, x, out)
        }

        fn conv_backward(
            g: &crate::ConvGeometry,
            w: &[Self],
            x: &[Self],
            dy: &[Self],
            gw: &mut [Self],
            gb: Option<&mut [Self]>,
            dx: Option<&mut [Self]>,
        ) {
            crate::layers::conv::direct_backward(g, w, x, dy, gw, gb, dx)
        }

        fn max_pool_sample(
            g: &crate::PoolGeometry,
            x: &[Self],
            out: &mut [Self],
            winners: Option<&mut [u8]>,
        ) {
            crate::layers::pool::max_sample(g, x, out, winners)
        }

        fn max_pool_back_sample(
            g: &crate::PoolGeometry,
            dy: &[Self],
            winners: &[u8],
            dx: &mut [Self],
        ) {
            crate::layers::pool::max_back_sample(g, dy, winners, dx)
        }

        fn avg_pool_sample(g: &crate::PoolGeometry, x: &[Self], out: &mut [Self]) {
            crate::layers::pool::avg_sample(g, x, out)
        }

        fn avg_pool_back_sample(g: &crate::PoolGeometry, dy: &[Self], dx: &mut [Self]) {
            crate::layers::pool::avg_back_sample(g, dy, dx)
        }
    };
}

impl Scalar for f32 {
    layer_kernels!();

    const NAME: &'static str = "f32";
    const BYTES: usize = 4;

    fn write_le(self, out: &mut [u8]) {
        out[..4].copy_from_slice(&self.to_le_bytes());
    }

    fn read_le(bytes: &[u8]) -> Self {
        let mut raw = [0u8; 4];
        raw.copy_from_slice(&bytes[..4]);
        f32::from_le_bytes(raw)
    }

    #[inline(always)]
    fn of(value: f64) -> Self {
        value as f32
    }

    #[inline(always)]
    fn as_f64(self) -> f64 {
        f64::from(self)
    }

    fn erf(self) -> Self {
        libm::erff(self)
    }

    #[inline(always)]
    fn branchless_tanh(self) -> Self {
        crate::kernels::tanh_f32(self)
    }

    #[inline(always)]
    fn branchless_sigmoid(self) -> Self {
        crate::kernels::sigmoid_f32(self)
    }

    #[inline(always)]
    fn branchless_exp_nonpositive(self) -> Self {
        crate::kernels::exp_nonpositive_f32(self)
    }
}

impl Scalar for f64 {
    layer_kernels!();

    const NAME: &'static str = "f64";
    const BYTES: usize = 8;

    fn write_le(self, out: &mut [u8]) {
        out[..8].copy_from_slice(&self.to_le_bytes());
    }

    fn read_le(bytes: &[u8]) -> Self {
        let mut raw = [0u8; 8];
        raw.copy_from_slice(&bytes[..8]);
        f64::from_le_bytes(raw)
    }

    #[inline(always)]
    fn of(value: f64) -> Self {
        value
    }

    #[inline(always)]
    fn as_f64(self) -> f64 {
        self
    }

    fn erf(self) -> Self {
        libm::erf(self)
    }
}
