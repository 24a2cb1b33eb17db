use nalgebra::SMatrix;

use super::{map_in_place, scale_by_derivative, Activation};
use crate::Scalar;

/// Leaky ReLU: `f(x) = x` for `x >= 0`, `alpha * x` otherwise.
///
/// Keeps a small gradient `alpha` for negative inputs so units cannot die. `alpha`
/// defaults to 0.01 (PyTorch's `negative_slope`) and must not be negative: the
/// derivative is read from the sign of the output.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LeakyRelu {
    /// Slope for negative inputs.
    pub alpha: f64,
}

impl Default for LeakyRelu {
    fn default() -> Self {
        Self { alpha: 0.01 }
    }
}

impl LeakyRelu {
    /// A leaky ReLU with the given negative slope.
    ///
    /// # Panics
    /// If `alpha` is negative or NaN (in a `const` context this is a compile error,
    /// which is how `network!` uses it).
    pub const fn new(alpha: f64) -> Self {
        assert!(alpha >= 0.0, "LeakyRelu's alpha must not be negative");
        Self { alpha }
    }

    /// The function.
    #[inline(always)]
    pub fn f<T: Scalar>(alpha: T, x: T) -> T {
        if x < T::zero() {
            alpha * x
        } else {
            x
        }
    }

    /// The derivative from the output `y = f(x)`: 1 where `y > 0`, else `alpha`.
    #[inline(always)]
    pub fn df<T: Scalar>(alpha: T, y: T) -> T {
        if y > T::zero() {
            T::one()
        } else {
            alpha
        }
    }
}

impl Activation for LeakyRelu {
    const NAME: &'static str = "LeakyRelu";
    const RELU_FAMILY: bool = true;

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
        assert_eq!(LeakyRelu::f(0.5, -3.0), -1.5);
        assert_eq!(LeakyRelu::f(0.1, 2.0), 2.0);
        assert_eq!(LeakyRelu::df(0.5, -1.5), 0.5);
        assert_eq!(LeakyRelu::default().alpha, 0.01);
    }

    #[test]
    fn gradient_matches_finite_differences() {
        super::super::testing::check_gradient(
            LeakyRelu::new(0.2),
            [-2.0, -0.5, 0.1, 0.7, 1.5, -3.0],
        );
    }
}
