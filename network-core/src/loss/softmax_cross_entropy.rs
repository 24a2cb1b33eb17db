use nalgebra::SMatrix;

use super::{inverse_count, Loss};
use crate::activation::softmax_column;
use crate::Scalar;

/// Softmax followed by cross-entropy, fused, on logits: per sample
/// `L = -sum_k t_k log softmax(z)_k = sum_k t_k (logsumexp(z) - z_k)`, averaged over the
/// batch (PyTorch's `CrossEntropyLoss()` with probability targets).
///
/// The gradient is `softmax(z) - t` per sample (for targets that sum to one), computed
/// with a max-shifted log-sum-exp: logits of ±1e4 give finite values, never NaN. Targets
/// are one-hot columns or probability distributions.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SoftmaxCrossEntropy;

impl Loss for SoftmaxCrossEntropy {
    const NAME: &'static str = "softmax_cross_entropy";
    const TAKES_LOGITS: bool = true;

    fn loss<T: Scalar, const R: usize, const B: usize>(
        &self,
        output: &SMatrix<T, R, B>,
        target: &SMatrix<T, R, B>,
    ) -> T {
        let mut scratch = SMatrix::<T, R, B>::zeros();
        self.loss_and_grad(output, target, &mut scratch)
    }

    fn loss_and_grad<T: Scalar, const R: usize, const B: usize>(
        &self,
        output: &SMatrix<T, R, B>,
        target: &SMatrix<T, R, B>,
        grad: &mut SMatrix<T, R, B>,
    ) -> T {
        let rows = R.max(1);
        let scale = inverse_count::<T>(B);
        grad.as_mut_slice().copy_from_slice(output.as_slice());
        let mut total = T::zero();
        for ((zc, tc), gc) in output
            .as_slice()
            .chunks_exact(rows)
            .zip(target.as_slice().chunks_exact(rows))
            .zip(grad.as_mut_slice().chunks_exact_mut(rows))
        {
            let lse = softmax_column(gc);
            let mut target_mass = T::zero();
            for (&z, &t) in zc.iter().zip(tc) {
                total += t * (lse - z);
                target_mass += t;
            }
            for (&t, p) in tc.iter().zip(gc.iter_mut()) {
                *p = (*p * target_mass - t) * scale;
            }
        }
        total * scale
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::{Vector2, Vector3};

    #[test]
    fn value_by_hand() {
        // Equal logits over two classes: loss = ln 2, gradient (0.5 - 1, 0.5 - 0).
        let mut g = Vector2::zeros();
        let l = SoftmaxCrossEntropy.loss_and_grad(
            &Vector2::new(3.0, 3.0),
            &Vector2::new(1.0, 0.0),
            &mut g,
        );
        approx::assert_relative_eq!(l, core::f64::consts::LN_2, max_relative = 1e-15);
        assert_eq!(g, Vector2::new(-0.5, 0.5));
    }

    #[test]
    fn stable_for_huge_logits() {
        // The target class is the last one: loss = logsumexp(z) - z_2.
        for (z, expected) in [
            (Vector3::new(1e4f32, -1e4, 0.0), 1e4),
            (Vector3::new(-1e4, 1e4, -1e4), 2e4),
        ] {
            let mut g = Vector3::zeros();
            let l = SoftmaxCrossEntropy.loss_and_grad(&z, &Vector3::new(0.0, 0.0, 1.0), &mut g);
            assert!(l.is_finite() && g.iter().all(|v| v.is_finite()), "{l} {g}");
            approx::assert_relative_eq!(l, expected);
        }
    }

    #[test]
    fn gradient_matches_finite_differences() {
        super::super::testing::check_gradient(
            SoftmaxCrossEntropy,
            [0.1, -2.0, 3.0, 0.5, 0.0, -1.0],
            [0.0, 1.0, 0.0, 0.2, 0.3, 0.5],
        );
    }
}
