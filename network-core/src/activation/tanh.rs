use nalgebra::SMatrix;

use super::{map_in_place, scale_by_derivative, Activation};
use crate::Scalar;

/// Hyperbolic tangent: `f(x) = tanh(x)`, `f'(x) = 1 - y^2`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tanh;

impl Tanh {
    /// The function ([`Scalar::branchless_tanh`]: for `f32`, within 2 ulp and
    /// vectorizable).
    #[inline(always)]
    pub fn f<T: Scalar>(x: T) -> T {
        x.branchless_tanh()
    }

    /// The derivative from the output: `1 - y^2`.
    #[inline(always)]
    pub fn df<T: Scalar>(y: T) -> T {
        T::one() - y * y
    }
}

impl Activation for Tanh {
    const NAME: &'static str = "Tanh";

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
        assert_eq!(Tanh::f(0.0), 0.0);
        assert_eq!(Tanh::df(0.0), 1.0);
        assert_eq!(Tanh::f(1e4f32), 1.0);
    }

    #[test]
    fn gradient_matches_finite_differences() {
        super::super::testing::check_gradient(Tanh, [-2.0, -0.5, 0.0, 0.7, 1.5, 3.0]);
    }
}
