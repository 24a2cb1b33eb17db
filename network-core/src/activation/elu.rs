use nalgebra::SMatrix;

use super::{map_in_place, scale_by_derivative, Activation};
use crate::Scalar;

/// ELU: `f(x) = x` for `x > 0`, `alpha (e^x - 1)` otherwise (PyTorch's `ELU(alpha=1.0)`).
///
/// Smooth, with negative outputs that push mean activations toward zero. Its derivative
/// comes from the output: 1 where `y > 0`, else `y + alpha`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Elu {
    /// Saturation value for negative inputs; default 1.
    pub alpha: f64,
}

impl Default for Elu {
    fn default() -> Self {
        Self { alpha: 1.0 }
    }
}

impl Elu {
    /// The function.
    #[inline(always)]
    pub fn f<T: Scalar>(alpha: T, x: T) -> T {
        if x > T::zero() {
            x
        } else {
            alpha * x.exp_m1()
        }
    }

    /// The derivative from the output `y = f(x)`.
    #[inline(always)]
    pub fn df<T: Scalar>(alpha: T, y: T) -> T {
        if y > T::zero() {
            T::one()
        } else {
            y + alpha
        }
    }
}

impl Activation for Elu {
    const NAME: &'static str = "Elu";

    #[inline(always)]
    fn forward<T: Scalar, const R: usize, const C: usize>(&self, z: &mut SMatrix<T, R, C>) {
        let alpha = T::of(self.alpha);
        map_in_place(z, |x| Self::f(alpha, x));
    }

    #[inline(always)]
    fn backward<T: Scalar, const R: usize, const C: usize>(
        &self,
        y: &SMatrix<T, R, C>,
        dy: &mut SMatrix<T, R, C>,
    ) {
        let alpha = T::of(self.alpha);
        scale_by_derivative(y, dy, |y| Self::df(alpha, y));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_by_hand() {
        assert_eq!(Elu::f(1.0, 2.0), 2.0);
        assert_eq!(Elu::f(1.0, 0.0), 0.0);
        approx::assert_relative_eq!(
            Elu::f(2.0, -1.0),
            2.0 * (core::f64::consts::E.recip() - 1.0)
        );
        assert_eq!(Elu::df(1.0, -0.25), 0.75);
    }

    #[test]
    fn gradient_matches_finite_differences() {
        super::super::testing::check_gradient(
            Elu { alpha: 0.7 },
            [-2.0, -0.5, 0.1, 0.7, 1.5, -3.0],
        );
    }
}
