use nalgebra::SMatrix;

use super::{inverse_count, ClassError, Loss};
use crate::activation::softmax_into;
use crate::Scalar;

/// Softmax followed by cross-entropy, fused, on logits: per sample
/// `L = -sum_k t_k log softmax(z)_k = sum_k t_k (logsumexp(z) - z_k)`, averaged over the
/// batch (PyTorch's `CrossEntropyLoss()` with probability targets).
///
/// The gradient is `softmax(z) - t` per sample (for targets that sum to one), computed
/// with a max-shifted log-sum-exp: logits of ±1e4 give finite values, never NaN. Targets
/// are one-hot columns or probability distributions, or class indices through
/// [`loss_classes`](Self::loss_classes) and
/// [`loss_and_grad_classes`](Self::loss_and_grad_classes) (PyTorch's `CrossEntropyLoss`
/// with a `LongTensor` target).
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

    #[inline]
    fn loss_and_grad<T: Scalar, const R: usize, const B: usize>(
        &self,
        output: &SMatrix<T, R, B>,
        target: &SMatrix<T, R, B>,
        grad: &mut SMatrix<T, R, B>,
    ) -> T {
        let rows = R.max(1);
        let scale = inverse_count::<T>(B);
        let mut total = T::zero();
        for ((zc, tc), gc) in output
            .as_slice()
            .chunks_exact(rows)
            .zip(target.as_slice().chunks_exact(rows))
            .zip(grad.as_mut_slice().chunks_exact_mut(rows))
        {
            let lse = softmax_into(zc, gc);
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

impl SoftmaxCrossEntropy {
    /// The mean loss against one class index per sample: `logsumexp(z) - z_class`,
    /// the same value as with one-hot targets. A class outside `0..R` is an error.
    pub fn loss_classes<T: Scalar, const R: usize, const B: usize>(
        &self,
        output: &SMatrix<T, R, B>,
        classes: &[usize; B],
    ) -> Result<T, ClassError> {
        let mut scratch = SMatrix::<T, R, B>::zeros();
        self.loss_and_grad_classes(output, classes, &mut scratch)
    }

    /// [`loss_classes`](Self::loss_classes), and its gradient `softmax(z) - e_class`
    /// (over `B`) written into `grad`. Checks every class before writing anything.
    pub fn loss_and_grad_classes<T: Scalar, const R: usize, const B: usize>(
        &self,
        output: &SMatrix<T, R, B>,
        classes: &[usize; B],
        grad: &mut SMatrix<T, R, B>,
    ) -> Result<T, ClassError> {
        check_classes::<R>(classes)?;
        let rows = R.max(1);
        let scale = inverse_count::<T>(B);
        let mut total = T::zero();
        for ((zc, &class), gc) in output
            .as_slice()
            .chunks_exact(rows)
            .zip(classes)
            .zip(grad.as_mut_slice().chunks_exact_mut(rows))
        {
            let lse = softmax_into(zc, gc);
            total += lse - zc[class];
            gc[class] -= T::one();
            gc.iter_mut().for_each(|p| *p *= scale);
        }
        Ok(total * scale)
    }
}

/// Every class below `R`, or the first that is not.
fn check_classes<const R: usize>(classes: &[usize]) -> Result<(), ClassError> {
    match classes.iter().position(|&c| c >= R) {
        Some(sample) => Err(ClassError {
            sample,
            class: classes[sample],
            classes: R,
        }),
        None => Ok(()),
    }
}

/// One-hot target columns from class indices: column `j` is 1 at row `classes[j]`. A
/// class outside `0..R` is an error naming its sample.
pub fn one_hot<T: Scalar, const R: usize, const B: usize>(
    classes: &[usize; B],
) -> Result<SMatrix<T, R, B>, ClassError> {
    check_classes::<R>(classes)?;
    let mut m = SMatrix::<T, R, B>::zeros();
    for (j, &class) in classes.iter().enumerate() {
        m[(class, j)] = T::one();
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    extern crate std;
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
    fn class_indices_equal_one_hot_targets_and_out_of_range_is_an_error() {
        let z = nalgebra::SMatrix::<f64, 3, 2>::new(0.1, 0.5, -2.0, 0.0, 3.0, -1.0);
        let classes = [2, 0];
        let t = one_hot::<f64, 3, 2>(&classes).unwrap();
        assert_eq!(
            t,
            nalgebra::SMatrix::<f64, 3, 2>::new(0.0, 1.0, 0.0, 0.0, 1.0, 0.0)
        );
        let (mut g_hot, mut g_idx) = (nalgebra::SMatrix::zeros(), nalgebra::SMatrix::zeros());
        let hot = SoftmaxCrossEntropy.loss_and_grad(&z, &t, &mut g_hot);
        let idx = SoftmaxCrossEntropy
            .loss_and_grad_classes(&z, &classes, &mut g_idx)
            .unwrap();
        approx::assert_relative_eq!(hot, idx, max_relative = 1e-15);
        approx::assert_relative_eq!(g_hot, g_idx, max_relative = 1e-15);
        // Finite differences of the index form itself.
        let h = 1e-6;
        for k in 0..6 {
            let (mut plus, mut minus) = (z, z);
            plus[k] += h;
            minus[k] -= h;
            let loss = |m| SoftmaxCrossEntropy.loss_classes(&m, &classes).unwrap();
            let numeric = (loss(plus) - loss(minus)) / (2.0 * h);
            approx::assert_relative_eq!(g_idx[k], numeric, epsilon = 1e-9, max_relative = 1e-6);
        }
        let before = g_idx;
        let error = ClassError {
            sample: 1,
            class: 3,
            classes: 3,
        };
        assert_eq!(
            SoftmaxCrossEntropy.loss_and_grad_classes(&z, &[0, 3], &mut g_idx),
            Err(error)
        );
        assert_eq!(g_idx, before, "nothing written on error");
        assert_eq!(one_hot::<f32, 3, 2>(&[0, 3]), Err(error));
        assert_eq!(
            std::string::ToString::to_string(&error),
            "sample 1 names class 3 but there are 3 classes (0 to 2)"
        );
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
