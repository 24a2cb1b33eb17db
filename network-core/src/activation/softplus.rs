use nalgebra::SMatrix;

use super::{map_in_place, scale_by_derivative, Activation};
use crate::Scalar;

/// Softplus: `f(x) = ln(1 + e^x)`, a smooth ReLU (PyTorch's `Softplus()` with `beta = 1`).
/// Like PyTorch it returns `x` itself above `x = 20` (its `threshold`); there it differs
/// from the exact `ln(1 + e^x) = x + ln(1 + e^-x)` by at most `e^-20`, about 2e-9.
///
/// Its derivative, the sigmoid of `x`, comes from the output: `1 - e^{-y}`. Above the
/// threshold that is `1 - e^{-x}`, within 2e-9 of 1, where PyTorch's gradient is exactly 1
/// (it switches to the identity's gradient): the two differ there by that much.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Softplus;

impl Softplus {
    /// The function, computed without overflow.
    #[inline(always)]
    pub fn f<T: Scalar>(x: T) -> T {
        if x > T::of(20.0) {
            x
        } else {
            x.exp().ln_1p()
        }
    }

    /// The derivative from the output: `1 - e^{-y}`.
    #[inline(always)]
    pub fn df<T: Scalar>(y: T) -> T {
        -(-y).exp_m1()
    }
}

impl Activation for Softplus {
    const NAME: &'static str = "Softplus";

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
        approx::assert_relative_eq!(Softplus::f(0.0), core::f64::consts::LN_2);
        assert_eq!(Softplus::f(50.0f32), 50.0);
        assert!(Softplus::f(-1e4f32).is_finite());
        // The sigmoid of 0 from the output ln 2.
        approx::assert_relative_eq!(Softplus::df(core::f64::consts::LN_2), 0.5, epsilon = 1e-15);
    }

    #[test]
    fn gradient_matches_finite_differences() {
        super::super::testing::check_gradient(Softplus, [-4.0, -0.5, 0.0, 0.7, 1.5, 6.0]);
    }
}
