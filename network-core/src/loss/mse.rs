use nalgebra::SMatrix;

use super::{inverse_count, Loss};
use crate::Scalar;

/// Mean squared error over all elements, `L = mean((y - t)^2)`, gradient
/// `2 (y - t) / n` (PyTorch's `MSELoss()`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Mse;

impl Loss for Mse {
    const NAME: &'static str = "mse";

    fn loss<T: Scalar, const R: usize, const B: usize>(
        &self,
        output: &SMatrix<T, R, B>,
        target: &SMatrix<T, R, B>,
    ) -> T {
        let mut sum = T::zero();
        for (&y, &t) in output.as_slice().iter().zip(target.as_slice()) {
            sum += (y - t) * (y - t);
        }
        sum * inverse_count::<T>(R * B)
    }

    fn loss_and_grad<T: Scalar, const R: usize, const B: usize>(
        &self,
        output: &SMatrix<T, R, B>,
        target: &SMatrix<T, R, B>,
        grad: &mut SMatrix<T, R, B>,
    ) -> T {
        let scale = inverse_count::<T>(R * B);
        let two = T::one() + T::one();
        let mut sum = T::zero();
        for ((&y, &t), g) in output
            .as_slice()
            .iter()
            .zip(target.as_slice())
            .zip(grad.as_mut_slice())
        {
            let diff = y - t;
            sum += diff * diff;
            *g = two * diff * scale;
        }
        sum * scale
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::Vector2;

    #[test]
    fn value_by_hand() {
        // ((1 - 0)^2 + (2 - 4)^2) / 2 = 2.5
        assert_eq!(
            Mse.loss(&Vector2::new(1.0, 2.0), &Vector2::new(0.0, 4.0)),
            2.5
        );
    }

    #[test]
    fn gradient_matches_finite_differences() {
        super::super::testing::check_gradient(
            Mse,
            [0.1, -2.0, 3.0, 0.5, 0.0, -1.0],
            [0.0, 1.0, 2.0, -0.5, 0.3, 0.0],
        );
    }
}
