//! One core's FMA peak: independent FMA chains that keep every FMA unit busy, shared by
//! the benchmarks that report a fraction of the peak.

use core::arch::x86_64::*;

/// Twelve independent AVX2 FMA chains: 12 x 8 x 2 FLOPs per iteration.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn avx2(iterations: u64) -> f32 {
    let mut acc = [_mm256_set1_ps(1.0); 12];
    let (a, b) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
    for _ in 0..iterations {
        for x in acc.iter_mut() {
            *x = _mm256_fmadd_ps(*x, a, b);
        }
    }
    let mut out = [0.0f32; 8];
    let mut sum = _mm256_setzero_ps();
    for x in acc {
        sum = _mm256_add_ps(sum, x);
    }
    unsafe { _mm256_storeu_ps(out.as_mut_ptr(), sum) };
    out.iter().sum()
}

/// Twelve independent AVX-512 FMA chains: 12 x 16 x 2 FLOPs per iteration.
#[target_feature(enable = "avx512f")]
pub unsafe fn avx512(iterations: u64) -> f32 {
    let mut acc = [_mm512_set1_ps(1.0); 12];
    let (a, b) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
    for _ in 0..iterations {
        for x in acc.iter_mut() {
            *x = _mm512_fmadd_ps(*x, a, b);
        }
    }
    let mut sum = _mm512_setzero_ps();
    for x in acc {
        sum = _mm512_add_ps(sum, x);
    }
    _mm512_reduce_add_ps(sum)
}
