use nalgebra::SMatrix;

use super::{inverse_count, Loss};
use crate::activation::Sigmoid;
use crate::Scalar;

/// Sigmoid followed by binary cross-entropy, fused, on logits: per element
/// `L = max(z, 0) - z t + ln(1 + e^{-|z|})`, averaged over all elements (PyTorch's
/// `BCEWithLogitsLoss()`).
///
/// The gradient is `(sigmoid(z) - t) / n`; both are finite for logits of ±1e4.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BceWithLogits;

impl BceWithLogits {
    #[inline(always)]
    fn element<T: Scalar>(z: T, t: T) -> T {
        let relu = if z > T::zero() { z } else { T::zero() };
        relu - z * t + (-z.abs()).exp().ln_1p()
    }
}

impl Loss for BceWithLogits {
    const NAME: &'static str = "bce_with_logits";
    const TAKES_LOGITS: bool = true;

    fn loss<T: Scalar, const R: usize, const B: usize>(
        &self,
        output: &SMatrix<T, R, B>,
        target: &SMatrix<T, R, B>,
    ) -> T {
        let mut sum = T::zero();
        for (&z, &t) in output.as_slice().iter().zip(target.as_slice()) {
            sum += Self::element(z, t);
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
        let mut sum = T::zero();
        for ((&z, &t), g) in output
            .as_slice()
            .iter()
            .zip(target.as_slice())
            .zip(grad.as_mut_slice())
        {
            sum += Self::element(z, t);
            *g = (Sigmoid::f(z) - t) * scale;
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
        // z = 0: ln 2 whatever the target.
        let l = BceWithLogits.loss(&Vector2::new(0.0, 0.0), &Vector2::new(1.0, 0.0));
        approx::assert_relative_eq!(l, core::f64::consts::LN_2, max_relative = 1e-15);
    }

    #[test]
    fn stable_for_huge_logits() {
        let z = Vector2::new(1e4f32, -1e4);
        let mut g = Vector2::zeros();
        let l = BceWithLogits.loss_and_grad(&z, &Vector2::new(0.0, 0.0), &mut g);
        approx::assert_relative_eq!(l, 5e3);
        assert_eq!(g, Vector2::new(0.5, 0.0));
        let l = BceWithLogits.loss_and_grad(&z, &Vector2::new(1.0, 0.0), &mut g);
        assert_eq!(l, 0.0);
        assert!(g.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn gradient_matches_finite_differences() {
        super::super::testing::check_gradient(
            BceWithLogits,
            [0.1, -2.0, 3.0, 0.5, 0.0, -1.0],
            [0.0, 1.0, 1.0, 0.2, 0.3, 0.0],
        );
    }
}
