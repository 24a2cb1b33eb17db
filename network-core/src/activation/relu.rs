use nalgebra::SMatrix;

use super::{map_in_place, scale_by_derivative, Activation};
use crate::Scalar;

/// Rectified linear unit: `f(x) = max(x, 0)`, `f'(x) = 1` for `x > 0`, else 0.
///
/// Its gradient does not shrink for positive inputs, the standard cure for vanishing
/// gradients in deep networks. NaN propagates (as in PyTorch) instead of being hidden.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Relu;

impl Relu {
    /// The function.
    #[inline(always)]
    pub fn f<T: Scalar>(x: T) -> T {
        if x < T::zero() {
            T::zero()
        } else {
            x
        }
    }

    /// The derivative, from the output `y = f(x)`: 1 where `y > 0`, else 0 (the
    /// subgradient 0 at `x = 0`, as in PyTorch).
    #[inline(always)]
    pub fn df<T: Scalar>(y: T) -> T {
        if y > T::zero() {
            T::one()
        } else {
            T::zero()
        }
    }
}

impl Activation for Relu {
    const NAME: &'static str = "Relu";
    const RELU_FAMILY: bool = true;

    #[inline(always)]
    fn forward<T: Scalar, const R: usize, const C: usize>(&self, z: &mut SMatrix<T, R, C>) {
        map_in_place(z, Self::f);
    }

    #[inline(always)]
    fn backward<T: Scalar, const R: usize, const C: usize>(
        &self,
        y: &SMatrix<T, R, C>,
        dy: &mut SMatrix<T, R, C>,
    ) {
        scale_by_derivative(y, dy, Self::df);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_by_hand() {
        assert_eq!(Relu::f(-3.0), 0.0);
        assert_eq!(Relu::f(2.5), 2.5);
        assert_eq!(Relu::df(2.5), 1.0);
        assert_eq!(Relu::df(0.0), 0.0);
        assert!(Relu::f(f64::NAN).is_nan());
    }

    #[test]
    fn gradient_matches_finite_differences() {
        // Away from the kink at 0, where the derivative is not defined.
        super::super::testing::check_gradient(Relu, [-2.0, -0.5, 0.1, 0.7, 1.5, -3.0]);
    }
}
