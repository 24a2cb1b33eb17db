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

/// `sum v^2` in `f64`, with eight accumulators so that it vectorizes (one accumulator
/// makes the sum wait on each addition: a gradient norm of 100k values took ten times
/// longer). NaN or infinity in `values` makes the result NaN or infinite.
pub fn sum_squares<T: Scalar>(values: &[T]) -> f64 {
    let mut acc = [0.0f64; 8];
    let chunks = values.chunks_exact(8);
    let mut tail = 0.0;
    for v in chunks.remainder() {
        let v = v.as_f64();
        tail += v * v;
    }
    for c in chunks {
        for k in 0..8 {
            let v = c[k].as_f64();
            acc[k] += v * v;
        }
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// Whether every value is finite (no NaN, no infinity). `v * 0` is `±0` for a finite `v`
/// and NaN for NaN or an infinity, so sums of them stay exactly zero while every value is
/// finite: eight sums over blocks of 256 values, one multiply and one add per value
/// that vectorize, checked between blocks.
pub fn all_finite<T: Scalar>(values: &[T]) -> bool {
    let mut blocks = values.chunks_exact(256);
    let finite = blocks.all(|block| {
        let mut sums = [T::zero(); 8];
        for group in block.chunks_exact(8) {
            for (sum, &v) in sums.iter_mut().zip(group) {
                *sum += v * T::zero();
            }
        }
        sums.iter().all(|s| *s == T::zero())
    });
    finite && blocks.remainder().iter().all(|v| v.is_finite())
}

/// `y[k] += alpha * x[k]` over the shorter of the two slices.
#[inline(always)]
pub fn axpy<T: Scalar>(alpha: T, x: &[T], y: &mut [T]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y += alpha * x;
    }
}

/// `tanh(x)` for `f32` without branches or calls, so that LLVM vectorizes a loop of them
/// (libm's `tanhf` is a call with branches, one element at a time). Below 0.625 in
/// magnitude an odd polynomial (Cephes' `tanhf` coefficients), above it
/// `1 - 2 / (exp(2|x|) + 1)` with the sign of `x`. At most 2 ulp from the exact value
/// (1.27 measured over every 97th `f32` in `[-12, 12]`; libm's `tanhf` is within 1),
/// `NaN` stays `NaN`, and plain `f32` arithmetic gives the same bits on every target.
#[inline(always)]
#[allow(clippy::excessive_precision)] // Cephes' coefficients as published
pub fn tanh_f32(x: f32) -> f32 {
    const SIGN: u32 = 0x8000_0000;
    let a = f32::from_bits(x.to_bits() & !SIGN);
    let z = a * a;
    let small =
        ((((-5.704_988_7e-3 * z + 2.063_908_9e-2) * z - 5.373_971_6e-2) * z + 1.333_144_2e-1) * z
            - 3.333_328_2e-1)
            * z
            * a
            + a;
    // Past 9.02 the result rounds to 1; clamping keeps exp finite. Not `min`: it would
    // turn NaN into a number.
    let clamped = if a > 10.0 { 10.0 } else { a };
    let large = 1.0 - 2.0 / (exp_f32(2.0 * clamped) + 1.0);
    let magnitude = if a < 0.625 { small } else { large };
    // tanh is odd: the sign of x (which also keeps -0).
    f32::from_bits(magnitude.to_bits() | (x.to_bits() & SIGN))
}

/// The logistic sigmoid `1 / (1 + exp(-x))` for `f32` without branches or calls, so that
/// a layer's activations vectorize: `1 / (1 + e)` for `x >= 0` and `e / (1 + e)` below,
/// with `e = exp(-|x|)` (no overflow). Below -87 the exact value is under the smallest
/// normal `f32` (1.2e-38) and the result is 0. At most 2.5 ulp from the exact value
/// elsewhere (tested over every 97th `f32` in `[-87, 20]`: 2.32 worst, as for the same
/// formula with libm's `expf`), `NaN` stays `NaN`, the same bits on every target.
#[inline(always)]
pub fn sigmoid_f32(x: f32) -> f32 {
    let a = f32::from_bits(x.to_bits() & 0x7fff_ffff);
    // Not `min`: it would turn NaN into a number.
    let clamped = if a > 87.0 { 87.0 } else { a };
    let e = exp_f32(-clamped);
    let above = 1.0 / (1.0 + e);
    let below = if a > 87.0 { 0.0 } else { e / (1.0 + e) };
    // -0 counts as 0 (sigmoid 0.5); NaN compares false and takes `below`, still NaN.
    if x >= 0.0 {
        above
    } else {
        below
    }
}

/// `exp(x)` for `x <= 0` without branches or calls, as softmax needs it (every logit
/// minus the largest): 0 below -87 (where the exact value is under the smallest normal
/// `f32`, 1.2e-38, and `-inf` included), exactly 1 at 0, `NaN` stays `NaN`, and within
/// 1 ulp elsewhere (0.96 measured over every 97th `f32` in `[-87, 0]`, as libm's
/// `expf`). One SGD step of the 4-16-16-3 network spent a sixth of its time in libm's
/// `expf`.
/// Plain `f32` arithmetic: the same bits on every target. Positive `x` is outside its
/// contract (the result is then `exp(x)` up to 88 and garbage above).
#[inline(always)]
pub fn exp_nonpositive_f32(x: f32) -> f32 {
    // Not `max`: it would turn NaN into a number.
    let clamped = if x < -87.0 { -87.0 } else { x };
    let e = exp_f32(clamped);
    if x < -87.0 {
        0.0
    } else {
        e
    }
}

/// `exp(x)` for `x` in `[-87, 88]` without branches (Cephes' `expf`): `x = n ln 2 + r`
/// with `n` rounded to nearest (a magic-number addition, exact in IEEE arithmetic),
/// a degree-7 polynomial in `r`, and `2^n` built in the exponent bits.
#[inline(always)]
#[allow(clippy::excessive_precision)] // Cephes' coefficients as published
fn exp_f32(x: f32) -> f32 {
    // 1.5 * 2^23: adding it rounds to an integer kept in the low mantissa bits.
    const MAGIC: f32 = 12_582_912.0;
    let shifted = x * core::f32::consts::LOG2_E + MAGIC;
    let n = shifted - MAGIC;
    let k = shifted.to_bits().wrapping_sub(MAGIC.to_bits());
    // ln 2 in two parts, the first exact in a few bits, so that `n * C1` is exact.
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    // The polynomial in Estrin's form: pairs of coefficients first, in parallel, then
    // combined with r^2 and r^4, six operations deep where Horner's form is ten. In a
    // softmax the gradient waits on the exponential.
    let r2 = r * r;
    let low = 1.666_666_5e-1 * r + 5.000_000_1e-1;
    let mid = 8.333_452e-3 * r + 4.166_579_6e-2;
    let high = 1.987_569_1e-4 * r + 1.398_199_9e-3;
    let p = ((low + mid * r2) + high * (r2 * r2)) * r2 + r + 1.0;
    p * f32::from_bits(k.wrapping_add(127) << 23)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units in the last place between an `f32` and the exact value.
    fn ulps(got: f32, exact: f64) -> f64 {
        let rounded = exact as f32;
        let ulp = f64::from(f32::from_bits(rounded.abs().to_bits() + 1) - rounded.abs());
        (f64::from(got) - exact).abs() / ulp
    }

    /// The largest error of `f` against `exact`, in ulp, over every 97th f32 from `low`
    /// (negative) up to -0 and from 0 up to `high`, with the input where it occurs.
    fn worst_ulps(
        f: impl Fn(f32) -> f32,
        exact: impl Fn(f32) -> f64,
        low: f32,
        high: f32,
    ) -> (f64, f32) {
        let negative = (0x8000_0000..=low.to_bits()).rev().step_by(97);
        let positive = (0..=high.to_bits()).step_by(97);
        negative
            .chain(positive)
            .map(f32::from_bits)
            .map(|x| (ulps(f(x), exact(x)), x))
            .fold(
                (0.0, 0.0),
                |worst, next| if next.0 > worst.0 { next } else { worst },
            )
    }

    #[test]
    fn tanh_is_within_two_ulp_everywhere() {
        let worst = worst_ulps(tanh_f32, |x| libm::tanh(f64::from(x)), -12.0, 12.0);
        assert!(worst.0 <= 2.0, "{} ulp at {}", worst.0, worst.1);
        // The ends and the special values.
        assert_eq!(tanh_f32(0.0).to_bits(), 0.0f32.to_bits());
        assert_eq!(tanh_f32(-0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!(tanh_f32(1e30), 1.0);
        assert_eq!(tanh_f32(f32::NEG_INFINITY), -1.0);
        assert!(tanh_f32(f32::NAN).is_nan());
        assert_eq!(tanh_f32(1e-30), 1e-30);
    }

    #[test]
    fn sigmoid_is_within_two_and_a_half_ulp_down_to_the_smallest_normal() {
        let exact = |x: f32| 1.0 / (1.0 + libm::exp(-f64::from(x)));
        let worst = worst_ulps(sigmoid_f32, exact, -87.0, 20.0);
        assert!(worst.0 <= 2.5, "{} ulp at {}", worst.0, worst.1);
        assert_eq!(sigmoid_f32(0.0), 0.5);
        assert_eq!(sigmoid_f32(-0.0), 0.5);
        assert_eq!(sigmoid_f32(1e4), 1.0);
        assert_eq!(sigmoid_f32(-1e4), 0.0);
        assert_eq!(sigmoid_f32(f32::INFINITY), 1.0);
        assert_eq!(sigmoid_f32(f32::NEG_INFINITY), 0.0);
        assert!(sigmoid_f32(f32::NAN).is_nan());
        // Past -87 the exact value is below 1.2e-38.
        assert!(exact(-87.5) < 1.2e-38 && sigmoid_f32(-87.5) == 0.0);
    }

    #[test]
    fn softmax_exp_is_within_one_ulp_down_to_the_smallest_normal() {
        let exact = |x: f32| libm::exp(f64::from(x));
        let worst = worst_ulps(exp_nonpositive_f32, exact, -87.0, 0.0);
        assert!(worst.0 <= 1.0, "{} ulp at {}", worst.0, worst.1);
        assert_eq!(exp_nonpositive_f32(0.0), 1.0);
        assert_eq!(exp_nonpositive_f32(-0.0), 1.0);
        assert_eq!(exp_nonpositive_f32(-87.5), 0.0);
        assert_eq!(exp_nonpositive_f32(f32::NEG_INFINITY), 0.0);
        assert!(exp_nonpositive_f32(f32::NAN).is_nan());
    }

    #[test]
    fn sum_squares_and_all_finite_see_every_element() {
        let values: [f32; 600] = core::array::from_fn(|i| (i as f32 * 0.37).sin() * 3.0);
        // The largest finite values must not overflow the finiteness test.
        let mut extremes = [f32::MAX; 600];
        extremes[1] = -f32::MAX;
        extremes[300] = f32::MIN_POSITIVE;
        assert!(all_finite(&extremes));
        for n in [0usize, 1, 7, 8, 9, 63, 64, 65, 150, 255, 256, 257, 513, 600] {
            let naive: f64 = values[..n]
                .iter()
                .map(|v| f64::from(*v) * f64::from(*v))
                .sum();
            approx::assert_relative_eq!(sum_squares(&values[..n]), naive, max_relative = 1e-12);
            assert!(all_finite(&values[..n]));
            for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                for at in [0, n / 2, n.saturating_sub(1)]
                    .into_iter()
                    .filter(|&at| at < n)
                {
                    let mut v = values;
                    v[at] = bad;
                    assert!(!all_finite(&v[..n]), "{bad} at {at} of {n}");
                    assert!(!sum_squares(&v[..n]).is_finite(), "{bad} at {at} of {n}");
                }
            }
        }
    }

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
