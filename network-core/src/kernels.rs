//! Small slice kernels the layers are built from: contiguous inner loops with several
//! independent accumulators, so that LLVM vectorizes them on any target. Portable,
//! no `unsafe`, no allocation; the operation order is fixed, so results are the same bits
//! on every target.

use crate::Scalar;

/// `sum_k a[k] * b[k]` over the shorter of the two slices, with eight accumulators.
#[inline(always)]
pub fn dot<T: Scalar>(a: &[T], b: &[T]) -> T {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    if n < 8 {
        // Short vectors (the last layer of a small network): one accumulator, no
        // reduction of eight partial sums.
        let mut sum = T::zero();
        for (x, y) in a.iter().zip(b) {
            sum += *x * *y;
        }
        return sum;
    }
    let mut acc = [T::zero(); 8];
    let chunks_a = a.chunks_exact(8);
    let chunks_b = b.chunks_exact(8);
    let mut tail = T::zero();
    for (x, y) in chunks_a.remainder().iter().zip(chunks_b.remainder()) {
        tail += *x * *y;
    }
    for (x, y) in chunks_a.zip(chunks_b) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// `y[k] += alpha * x[k]` over the shorter of the two slices.
#[inline(always)]
pub fn axpy<T: Scalar>(alpha: T, x: &[T], y: &mut [T]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y += alpha * x;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_and_axpy_match_naive_loops_for_odd_lengths() {
        for n in [0usize, 1, 3, 7, 8, 17, 33, 129] {
            let a: [f64; 129] = core::array::from_fn(|i| (i as f64 * 0.37).sin());
            let b: [f64; 129] = core::array::from_fn(|i| (i as f64 * 0.11).cos());
            let naive: f64 = a[..n].iter().zip(&b[..n]).map(|(x, y)| x * y).sum();
            approx::assert_relative_eq!(dot(&a[..n], &b[..n]), naive, epsilon = 1e-12);
            let mut y = b;
            axpy(2.0, &a[..n], &mut y[..n]);
            for k in 0..n {
                assert_eq!(y[k], b[k] + 2.0 * a[k]);
            }
        }
    }
}
