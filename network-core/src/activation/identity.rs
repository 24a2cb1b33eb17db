use nalgebra::SMatrix;

use super::Activation;
use crate::Scalar;

/// `f(x) = x`, `f'(x) = 1`. Writing no activation after a layer means the same.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Identity;

impl Activation for Identity {
    const NAME: &'static str = "Identity";

    #[inline(always)]
    fn forward<T: Scalar, const R: usize, const C: usize>(&self, _z: &mut SMatrix<T, R, C>) {}

    #[inline(always)]
    fn backward<T: Scalar, const R: usize, const C: usize>(
        &self,
        _y: &SMatrix<T, R, C>,
        _dy: &mut SMatrix<T, R, C>,
    ) {
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_matches_finite_differences() {
        super::super::testing::check_gradient(Identity, [-2.0, -0.5, 0.1, 0.7, 1.5, 3.0]);
    }
}
