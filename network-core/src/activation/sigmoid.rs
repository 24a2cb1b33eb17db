use nalgebra::SMatrix;

use super::{map_in_place, scale_by_derivative, Activation};
use crate::Scalar;

/// Logistic sigmoid: `f(x) = 1 / (1 + e^-x)`, `f'(x) = y (1 - y)`.
///
/// Computed without overflow for any input: `e^x / (1 + e^x)` for negative `x`. For
/// a binary classifier, end the network with logits and use
/// [`BceWithLogits`](crate::loss::BceWithLogits) instead, which is fused and stabler.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sigmoid;

impl Sigmoid {
    /// The function ([`Scalar::branchless_sigmoid`]: for `f32`, within 2.5 ulp and
    /// vectorizable).
    #[inline(always)]
    pub fn f<T: Scalar>(x: T) -> T {
        x.branchless_sigmoid()
    }

    /// The derivative from the output: `y (1 - y)`.
    #[inline(always)]
    pub fn df<T: Scalar>(y: T) -> T {
        y * (T::one() - y)
    }
}

impl Activation for Sigmoid {
    const NAME: &'static str = "Sigmoid";

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
    fn values_by_hand_and_extremes() {
        assert_eq!(Sigmoid::f(0.0), 0.5);
        assert_eq!(Sigmoid::df(0.5), 0.25);
        assert_eq!(Sigmoid::f(1e4f32), 1.0);
        assert_eq!(Sigmoid::f(-1e4f32), 0.0);
        assert!(Sigmoid::f(-1e4f64).is_finite());
    }

    #[test]
    fn gradient_matches_finite_differences() {
        super::super::testing::check_gradient(Sigmoid, [-4.0, -0.5, 0.0, 0.7, 1.5, 6.0]);
    }
}
