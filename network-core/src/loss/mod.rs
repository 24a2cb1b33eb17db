//! Loss functions. Each returns the mean loss over the batch and, in `loss_and_grad`,
//! writes `dL/d(output)` so that `backward` can start from it.

use nalgebra::SMatrix;

use crate::Scalar;

mod bce_with_logits;
mod mse;
mod softmax_cross_entropy;

pub use bce_with_logits::BceWithLogits;
pub use mse::Mse;
pub use softmax_cross_entropy::{one_hot, SoftmaxCrossEntropy};

/// A class index outside `0..classes`, in a target given as class indices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClassError {
    /// The sample (column) whose class is out of range.
    pub sample: usize,
    /// Its class.
    pub class: usize,
    /// The number of classes (the network's outputs).
    pub classes: usize,
}

impl core::fmt::Display for ClassError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "sample {} names class {} but there are {} classes (0 to {})",
            self.sample,
            self.class,
            self.classes,
            self.classes.saturating_sub(1)
        )
    }
}

impl core::error::Error for ClassError {}

/// A loss between a network's output and a target of the same shape (columns are
/// samples), averaged as PyTorch's `reduction="mean"` does.
pub trait Loss: Copy + core::fmt::Debug {
    /// The loss's name for summaries and histories.
    const NAME: &'static str;

    /// Whether the loss applies its own activation and so takes logits: a network
    /// ending in `Softmax` or `Sigmoid` would apply it twice (the trainer refuses that).
    /// Default `false`.
    const TAKES_LOGITS: bool = false;

    /// The mean loss over the batch.
    fn loss<T: Scalar, const R: usize, const B: usize>(
        &self,
        output: &SMatrix<T, R, B>,
        target: &SMatrix<T, R, B>,
    ) -> T;

    /// The mean loss, and its gradient with respect to `output` written into `grad`.
    fn loss_and_grad<T: Scalar, const R: usize, const B: usize>(
        &self,
        output: &SMatrix<T, R, B>,
        target: &SMatrix<T, R, B>,
        grad: &mut SMatrix<T, R, B>,
    ) -> T;
}

/// `1 / n` in `T`.
#[inline(always)]
fn inverse_count<T: Scalar>(n: usize) -> T {
    T::one() / T::of(n.max(1) as f64)
}

#[cfg(test)]
pub(crate) mod testing {
    use super::Loss;
    use approx::assert_relative_eq;
    use nalgebra::SMatrix;

    /// Checks `loss_and_grad` against central finite differences of `loss` in f64, and
    /// that both entry points agree on the value.
    pub fn check_gradient<L: Loss>(loss: L, output: [f64; 6], target: [f64; 6]) {
        let z = SMatrix::<f64, 3, 2>::from_column_slice(&output);
        let t = SMatrix::<f64, 3, 2>::from_column_slice(&target);
        let mut grad = SMatrix::zeros();
        let value = loss.loss_and_grad(&z, &t, &mut grad);
        assert_eq!(value, loss.loss(&z, &t));
        let h = 1e-6;
        for k in 0..6 {
            let (mut plus, mut minus) = (z, z);
            plus[k] += h;
            minus[k] -= h;
            let numeric = (loss.loss(&plus, &t) - loss.loss(&minus, &t)) / (2.0 * h);
            assert_relative_eq!(grad[k], numeric, epsilon = 1e-9, max_relative = 1e-6);
        }
    }
}
