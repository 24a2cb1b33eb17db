//! Activation functions, each with its derivative beside it.
//!
//! Every activation here but GELU computes its derivative from its *output* `y = f(x)`,
//! so a training forward pass applies it in place and the tape keeps one buffer per
//! layer; GELU's derivative needs the input, which `network!` keeps for it.

use nalgebra::SMatrix;

use crate::Scalar;

mod elu;
mod gelu;
mod identity;
mod leaky_relu;
mod relu;
mod sigmoid;
mod softmax;
mod softplus;
mod tanh;

pub use elu::Elu;
pub use gelu::Gelu;
pub use identity::Identity;
pub use leaky_relu::LeakyRelu;
pub use relu::Relu;
pub use sigmoid::Sigmoid;
pub(crate) use softmax::softmax_into;
pub use softmax::{softmax, Softmax};
pub use softplus::Softplus;
pub use tanh::Tanh;

/// An activation applied to a layer's output, one column (sample) at a time.
pub trait Activation: Copy + core::fmt::Debug {
    /// The name used in declarations and summaries (`"Relu"`).
    const NAME: &'static str;

    /// True for the ReLU family, whose preceding layer is He-initialized by default.
    const RELU_FAMILY: bool = false;

    /// True when `backward` needs the activation's input rather than its output.
    const USES_INPUT: bool = false;

    /// Replaces `z` by `f(z)`.
    fn forward<T: Scalar, const R: usize, const C: usize>(&self, z: &mut SMatrix<T, R, C>);

    /// Vector-Jacobian product: given `y = f(z)` (or `z` itself when
    /// [`USES_INPUT`](Self::USES_INPUT)) and `dy = dL/dy`, replaces `dy` by `dL/dz`.
    fn backward<T: Scalar, const R: usize, const C: usize>(
        &self,
        y: &SMatrix<T, R, C>,
        dy: &mut SMatrix<T, R, C>,
    );
}

/// Applies an element-wise function in place.
#[inline(always)]
pub(crate) fn map_in_place<T: Scalar, const R: usize, const C: usize>(
    z: &mut SMatrix<T, R, C>,
    f: impl Fn(T) -> T,
) {
    for v in z.as_mut_slice() {
        *v = f(*v);
    }
}

/// Multiplies `dy` element-wise by the derivative `df(y)` expressed through the output.
#[inline(always)]
pub(crate) fn scale_by_derivative<T: Scalar, const R: usize, const C: usize>(
    y: &SMatrix<T, R, C>,
    dy: &mut SMatrix<T, R, C>,
    df: impl Fn(T) -> T,
) {
    for (d, &y) in dy.as_mut_slice().iter_mut().zip(y.as_slice()) {
        *d *= df(y);
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use super::Activation;
    use approx::assert_relative_eq;
    use nalgebra::SMatrix;

    /// Checks `backward` against central finite differences of `forward` in f64, with a
    /// random upstream gradient so that cross-element terms (softmax) are exercised.
    pub fn check_gradient<A: Activation>(act: A, inputs: [f64; 6]) {
        let z = SMatrix::<f64, 3, 2>::from_column_slice(&inputs);
        let upstream = SMatrix::<f64, 3, 2>::from_column_slice(&[0.3, -1.1, 0.7, 2.0, -0.4, 0.9]);
        let objective = |z: &SMatrix<f64, 3, 2>| {
            let mut y = *z;
            act.forward(&mut y);
            y.component_mul(&upstream).sum()
        };
        let mut y = z;
        act.forward(&mut y);
        let mut analytic = upstream;
        act.backward(&y, &mut analytic);
        let h = 1e-6;
        for k in 0..6 {
            let (mut plus, mut minus) = (z, z);
            plus[k] += h;
            minus[k] -= h;
            let numeric = (objective(&plus) - objective(&minus)) / (2.0 * h);
            assert_relative_eq!(analytic[k], numeric, epsilon = 1e-9, max_relative = 1e-6);
        }
    }
}
