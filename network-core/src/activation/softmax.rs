use nalgebra::SMatrix;

use super::Activation;
use crate::Scalar;

/// Softmax over each column: `y_k = e^{z_k} / sum_j e^{z_j}`, computed after subtracting
/// the column's maximum so that no logit overflows.
///
/// Its vector-Jacobian product is `dz = y * (dy - <y, dy>)`. To train a classifier, end
/// the network with logits (no activation) and use
/// [`SoftmaxCrossEntropy`](crate::loss::SoftmaxCrossEntropy), which fuses the two;
/// apply [`softmax`] to the logits at inference.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Softmax;

/// Returns the softmax of every column of `z`.
///
/// ```
/// use network_core::{activation::softmax, nalgebra::Vector2};
/// let p = softmax(&Vector2::new(0.0f64, 0.0));
/// assert_eq!(p, Vector2::new(0.5, 0.5));
/// ```
pub fn softmax<T: Scalar, const R: usize, const C: usize>(
    z: &SMatrix<T, R, C>,
) -> SMatrix<T, R, C> {
    let mut y = *z;
    Softmax.forward(&mut y);
    y
}

/// Replaces one column by its softmax; returns the column's log-sum-exp.
#[inline]
pub(crate) fn softmax_column<T: Scalar>(column: &mut [T]) -> T {
    let mut max = column.first().copied().unwrap_or_else(T::zero);
    for &v in column.iter() {
        if v > max {
            max = v;
        }
    }
    let mut sum = T::zero();
    for v in column.iter_mut() {
        *v = (*v - max).branchless_exp_nonpositive();
        sum += *v;
    }
    let inv = T::one() / sum;
    for v in column.iter_mut() {
        *v *= inv;
    }
    max + sum.ln()
}

impl Activation for Softmax {
    const NAME: &'static str = "Softmax";

    fn forward<T: Scalar, const R: usize, const C: usize>(&self, z: &mut SMatrix<T, R, C>) {
        for column in z.as_mut_slice().chunks_exact_mut(R.max(1)) {
            softmax_column(column);
        }
    }

    fn backward<T: Scalar, const R: usize, const C: usize>(
        &self,
        y: &SMatrix<T, R, C>,
        dy: &mut SMatrix<T, R, C>,
    ) {
        let rows = R.max(1);
        for (yc, dc) in y
            .as_slice()
            .chunks_exact(rows)
            .zip(dy.as_mut_slice().chunks_exact_mut(rows))
        {
            let mut dot = T::zero();
            for (&y, &d) in yc.iter().zip(dc.iter()) {
                dot += y * d;
            }
            for (&y, d) in yc.iter().zip(dc.iter_mut()) {
                *d = y * (*d - dot);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::{Vector2, Vector3};

    #[test]
    fn values_by_hand_and_extremes() {
        // e^0 / (e^0 + e^ln3) = 1/4.
        let p = softmax(&Vector2::new(0.0f64, 3.0f64.ln()));
        approx::assert_relative_eq!(p, Vector2::new(0.25, 0.75), max_relative = 1e-15);
        let p = softmax(&Vector3::new(1e4f32, -1e4, 0.0));
        assert_eq!(p, Vector3::new(1.0, 0.0, 0.0));
    }

    #[test]
    fn gradient_matches_finite_differences() {
        super::super::testing::check_gradient(Softmax, [-2.0, -0.5, 0.1, 0.7, 1.5, 3.0]);
    }
}
