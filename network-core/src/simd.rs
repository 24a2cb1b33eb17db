//! Matrix products for batches on x86-64 with AVX2 and FMA, chosen at run time (feature
//! `simd`, which needs `std` for CPU detection). Everything else, and every other target,
//! uses the portable kernels; so does any product this module declines.
//!
//! FMA rounds once where the portable kernels round twice, so results differ from the
//! portable path (and a batch from its samples run one at a time) in the last bits: turn `simd` off for bit-identical results across
//! targets (the firmware comparison does, by building without `std`).

use core::any::TypeId;

use crate::Scalar;

/// `C[m x n] += A[m x k] B[k x n]` where `A` is column-major (`a[i + p * lda]`), `B` is
/// read at `b[p * bsk + j * bsn]` and `C` is column-major (`c[i + j * ldc]`), with `B`'s
/// values scaled by `alpha`. Returns `false` (and does nothing) unless `T` is `f32` and
/// the CPU has AVX2 and FMA.
#[allow(clippy::too_many_arguments)] // a GEMM's shape and strides
pub fn gemm<T: Scalar>(
    m: usize,
    n: usize,
    k: usize,
    alpha: T,
    a: &[T],
    lda: usize,
    b: &[T],
    bsk: usize,
    bsn: usize,
    c: &mut [T],
    ldc: usize,
) -> bool {
    if TypeId::of::<T>() != TypeId::of::<f32>() || m == 0 || n == 0 || k == 0 {
        return false;
    }
    // Bounds, checked once: every index the kernel touches is inside the slices.
    let last_a = (m - 1) + (k - 1) * lda;
    let last_b = (k - 1) * bsk + (n - 1) * bsn;
    let last_c = (m - 1) + (n - 1) * ldc;
    if last_a >= a.len() || last_b >= b.len() || last_c >= c.len() {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: T is f32 (checked above), so the slices are slices of f32; the
            // bounds were checked above; the CPU supports the enabled features.
            unsafe {
                x86::gemm(
                    m,
                    n,
                    k,
                    alpha.as_f64() as f32,
                    a.as_ptr() as *const f32,
                    lda,
                    b.as_ptr() as *const f32,
                    bsk,
                    bsn,
                    c.as_mut_ptr() as *mut f32,
                    ldc,
                );
            }
            return true;
        }
    }
    let _ = (alpha, lda, bsk, bsn, ldc);
    false
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use core::arch::x86_64::*;

    const MR: usize = 16;
    const NR: usize = 6;

    /// See [`super::gemm`]. Tiles of 16 x 6 kept in twelve registers; edges by scalar FMA.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn gemm(
        m: usize,
        n: usize,
        k: usize,
        alpha: f32,
        a: *const f32,
        lda: usize,
        b: *const f32,
        bsk: usize,
        bsn: usize,
        c: *mut f32,
        ldc: usize,
    ) {
        let (m_full, n_full) = (m - m % MR, n - n % NR);
        let mut i = 0;
        while i < m_full {
            let mut j = 0;
            while j < n_full {
                unsafe {
                    tile::<NR>(
                        k,
                        alpha,
                        a.add(i),
                        lda,
                        b.add(j * bsn),
                        bsk,
                        bsn,
                        c.add(i + j * ldc),
                        ldc,
                    )
                };
                j += NR;
            }
            // The last columns, one at a time, still 16 rows wide.
            while j < n {
                unsafe {
                    tile::<1>(
                        k,
                        alpha,
                        a.add(i),
                        lda,
                        b.add(j * bsn),
                        bsk,
                        bsn,
                        c.add(i + j * ldc),
                        ldc,
                    )
                };
                j += 1;
            }
            i += MR;
        }
        // The last rows (fewer than 16) of every column, by scalar FMA.
        for jj in 0..n {
            for ii in m_full..m {
                let mut acc = unsafe { *c.add(ii + jj * ldc) };
                for p in 0..k {
                    let bv = alpha * unsafe { *b.add(p * bsk + jj * bsn) };
                    acc = unsafe { *a.add(ii + p * lda) }.mul_add(bv, acc);
                }
                unsafe { *c.add(ii + jj * ldc) = acc };
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn tile<const N: usize>(
        k: usize,
        alpha: f32,
        a: *const f32,
        lda: usize,
        b: *const f32,
        bsk: usize,
        bsn: usize,
        c: *mut f32,
        ldc: usize,
    ) {
        unsafe {
            let mut acc = [[_mm256_setzero_ps(); 2]; N];
            for (j, column) in acc.iter_mut().enumerate() {
                column[0] = _mm256_loadu_ps(c.add(j * ldc));
                column[1] = _mm256_loadu_ps(c.add(j * ldc + 8));
            }
            let scale = _mm256_set1_ps(alpha);
            for p in 0..k {
                let a0 = _mm256_loadu_ps(a.add(p * lda));
                let a1 = _mm256_loadu_ps(a.add(p * lda + 8));
                let row = b.add(p * bsk);
                for (j, column) in acc.iter_mut().enumerate() {
                    let bj = _mm256_mul_ps(_mm256_broadcast_ss(&*row.add(j * bsn)), scale);
                    column[0] = _mm256_fmadd_ps(a0, bj, column[0]);
                    column[1] = _mm256_fmadd_ps(a1, bj, column[1]);
                }
            }
            for (j, column) in acc.iter().enumerate() {
                _mm256_storeu_ps(c.add(j * ldc), column[0]);
                _mm256_storeu_ps(c.add(j * ldc + 8), column[1]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use super::*;

    /// The product by plain loops in f64.
    #[allow(clippy::too_many_arguments)] // the GEMM's shape and strides
    fn reference(
        m: usize,
        n: usize,
        k: usize,
        alpha: f32,
        a: &[f32],
        lda: usize,
        b: &[f32],
        bsk: usize,
        bsn: usize,
        c: &mut [f32],
        ldc: usize,
    ) {
        for j in 0..n {
            for i in 0..m {
                let mut acc = f64::from(c[i + j * ldc]);
                for p in 0..k {
                    acc += f64::from(a[i + p * lda]) * f64::from(alpha * b[p * bsk + j * bsn]);
                }
                c[i + j * ldc] = acc as f32;
            }
        }
    }

    #[test]
    fn matches_a_naive_product_for_odd_sizes_or_declines() {
        let mut rng = crate::Rng::seed_from_u64(1);
        let mut handled = 0;
        for (m, n, k) in [
            (1, 1, 1),
            (3, 7, 17),
            (17, 33, 3),
            (33, 17, 129),
            (129, 7, 33),
            (16, 6, 8),
            (32, 12, 1),
        ] {
            for transposed_b in [false, true] {
                let (bsk, bsn) = if transposed_b { (n, 1) } else { (1, k) };
                let a: Vec<f32> = (0..m * k).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
                let b: Vec<f32> = (0..k * n).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
                let c0: Vec<f32> = (0..m * n).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
                let (mut c, mut expected) = (c0.clone(), c0.clone());
                if !gemm(m, n, k, 0.5f32, &a, m, &b, bsk, bsn, &mut c, m) {
                    assert_eq!(c, c0, "a declined product wrote");
                    continue;
                }
                handled += 1;
                reference(m, n, k, 0.5, &a, m, &b, bsk, bsn, &mut expected, m);
                for (x, y) in c.iter().zip(&expected) {
                    assert!(
                        (x - y).abs() <= 1e-5 * (1.0 + y.abs()) * (k as f32).sqrt(),
                        "{m}x{n}x{k}: {x} vs {y}"
                    );
                }
            }
        }
        // This machine's CI has AVX2 and FMA: the kernel must have run, not declined.
        assert!(
            !std::is_x86_feature_detected!("avx2") || handled > 0,
            "the AVX2 kernel never ran"
        );
        // Never for f64, nor out of bounds.
        let mut c = [0.0f64; 4];
        assert!(!gemm(
            2, 2, 2, 1.0f64, &[1.0; 4], 2, &[1.0; 4], 1, 2, &mut c, 2
        ));
        let mut c = [0.0f32; 3];
        assert!(!gemm(
            2, 2, 2, 1.0f32, &[1.0; 4], 2, &[1.0; 4], 1, 2, &mut c, 2
        ));
    }
}
