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
fn softmax_column<T: Scalar>(column: &mut [T]) -> T {
    let max = largest(column);
    let mut sum = T::zero();
    for v in column.iter_mut() {
        *v = (*v - max).branchless_exp_nonpositive();
        sum += *v;
    }
    normalize(max, sum, column)
}

/// Writes the softmax of the column `z` into `p` (of the same length); returns the
/// column's log-sum-exp. The same bits as [`softmax_column`] on a copy of `z`, without
/// the copy: the loss reads the logits the forward pass has just stored one by one, and
/// a wider load of them (a copy's) waits for those stores to complete.
#[inline]
pub(crate) fn softmax_into<T: Scalar>(z: &[T], p: &mut [T]) -> T {
    debug_assert_eq!(z.len(), p.len());
    let max = largest(z);
    let mut sum = T::zero();
    for (p, &z) in p.iter_mut().zip(z) {
        *p = (z - max).branchless_exp_nonpositive();
        sum += *p;
    }
    normalize(max, sum, p)
}

/// The largest value of a column (the first of a column of NaNs; 0 for none).
#[inline(always)]
fn largest<T: Scalar>(column: &[T]) -> T {
    let mut max = column.first().copied().unwrap_or_else(T::zero);
    for &v in column {
        if v > max {
            max = v;
        }
    }
    max
}

/// Divides the column's exponentials by their `sum`; returns the log-sum-exp.
#[inline(always)]
fn normalize<T: Scalar>(max: T, sum: T, column: &mut [T]) -> T {
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
    fn softmax_into_gives_the_bits_of_softmax_column_on_a_copy() {
        let mut rng = crate::Rng::seed_from_u64(3);
        for len in [1, 2, 3, 10, 17] {
            let z: [f32; 17] = core::array::from_fn(|_| rng.uniform(-30.0, 30.0) as f32);
            let (z, mut copy, mut p) = (&z[..len], z, [0.0f32; 17]);
            let lse = softmax_column(&mut copy[..len]);
            assert_eq!(softmax_into(z, &mut p[..len]).to_bits(), lse.to_bits());
            assert_eq!(p[..len], copy[..len]);
        }
    }

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
