//! Integer arithmetic for int8 inference, the scheme of TensorFlow Lite Micro and
//! gemmlowp: a real value `r` is stored as `q` with `r = scale * (q - zero_point)`;
//! a product's `i32` accumulator is brought back to the next layer's int8 scale by a
//! fixed-point multiplier and a shift ([`QuantizedMultiplier`]), so every result is an
//! exact integer, the same on every target.
//!
//! Weights are symmetric per output channel (zero point 0, int8 in `[-127, 127]`),
//! biases `i32` at the scale `input_scale * weight_scale`, activations per tensor with a
//! zero point. This module holds the primitives, each tested against a reference
//! computed in `i64`/`i128` and `f64`. [`raw`] is the format of a quantized network.

mod conv;
pub mod raw;

pub use conv::{avg_pool_i8, global_avg_i8, max_pool_i8, ConvInt8};

/// A real multiplier `M` as `multiplier * 2^(shift - 31)` with `multiplier` in
/// `[2^30, 2^31)` (TFLite's `QuantizeMultiplier`); `shift` may be negative (a right
/// shift, the usual case: `M < 1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct QuantizedMultiplier {
    /// The Q31 mantissa.
    pub multiplier: i32,
    /// The power of two.
    pub shift: i32,
}

impl QuantizedMultiplier {
    /// The nearest representation of `m` (`0` for `m <= 0` or not finite; values below
    /// `2^-31` become zero, values from `2^31` saturate).
    pub fn from_f64(m: f64) -> Self {
        if m.is_nan() || m <= 0.0 || !m.is_finite() {
            return Self::default();
        }
        // m = q * 2^e, q in [0.5, 1).
        let (q, mut e) = frexp(m);
        let mut mantissa = libm::round(q * (1u64 << 31) as f64) as i64;
        if mantissa == 1i64 << 31 {
            mantissa /= 2;
            e += 1;
        }
        if e < -31 {
            return Self::default();
        }
        if e > 30 {
            return Self {
                multiplier: i32::MAX,
                shift: 30,
            };
        }
        Self {
            multiplier: mantissa as i32,
            shift: e,
        }
    }

    /// The real value represented.
    pub fn to_f64(self) -> f64 {
        self.multiplier as f64 * libm::pow(2.0, (self.shift - 31) as f64)
    }

    /// `x * M` rounded, in fixed point (TFLite's `MultiplyByQuantizedMultiplier`): a
    /// left shift for `shift > 0`, a rounding doubling high multiply, then a rounding
    /// right shift for `shift < 0`. The two roundings can together land one away from
    /// the nearest integer, exactly as in TFLite, and the same on every target.
    #[inline]
    pub fn apply(self, x: i32) -> i32 {
        let left = self.shift.max(0);
        let right = (-self.shift).max(0);
        let shifted = x.saturating_mul(1i32 << left.min(30));
        rounding_divide_by_pot(
            saturating_rounding_doubling_high_mul(shifted, self.multiplier),
            right,
        )
    }
}

/// `m * 2^e` with `m` in `[0.5, 1)` for a positive finite `x`.
fn frexp(x: f64) -> (f64, i32) {
    let bits = x.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32;
    if exponent == 0 {
        // Subnormal: scale up first.
        let (m, e) = frexp(x * libm::pow(2.0, 64.0));
        return (m, e - 64);
    }
    let mantissa = f64::from_bits((bits & !(0x7ffu64 << 52)) | (1022u64 << 52));
    (mantissa, exponent - 1022)
}

/// gemmlowp's `SaturatingRoundingDoublingHighMul`: `round(a * b / 2^31)`, ties away
/// from zero, saturating the one overflow (`i32::MIN * i32::MIN`).
#[inline]
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = a as i64 * b as i64;
    let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// gemmlowp's `RoundingDivideByPOT`: `x / 2^exponent` rounded to nearest, ties away
/// from zero (`exponent` in `0..=31`).
#[inline]
pub fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    let exponent = exponent.clamp(0, 31);
    let mask = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    (x >> exponent) + i32::from(remainder > threshold)
}

/// A per-tensor affine quantization of activations: `r = scale * (q - zero_point)`,
/// `q` in `[-128, 127]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ActivationQuant {
    /// The real value of one step.
    pub scale: f64,
    /// The integer that stands for 0.0.
    pub zero_point: i32,
}

impl ActivationQuant {
    /// The parameters that cover `[min, max]` (widened to include 0, so that 0.0 is
    /// exact, as padding and ReLU need), with 256 levels.
    pub fn from_range(min: f64, max: f64) -> Self {
        let (min, max) = (min.min(0.0), max.max(0.0));
        let scale = if max > min { (max - min) / 255.0 } else { 1.0 };
        let zero_point = libm::round(-128.0 - min / scale).clamp(-128.0, 127.0) as i32;
        Self { scale, zero_point }
    }

    /// `q` for a real `r`, rounded and saturated.
    #[inline]
    pub fn quantize(&self, r: f64) -> i8 {
        (libm::round(r / self.scale) + self.zero_point as f64).clamp(-128.0, 127.0) as i8
    }

    /// The real value of `q`.
    #[inline]
    pub fn dequantize(&self, q: i8) -> f64 {
        self.scale * (q as i32 - self.zero_point) as f64
    }

    /// A quantizer of `f32` values in `f32` arithmetic (a multiply by the reciprocal of
    /// the scale instead of an `f64` division: 4x fewer instructions on a Cortex-M0 or a
    /// single-precision FPU). It can differ from [`Self::quantize`] by one step when a
    /// value falls within rounding error of a half step.
    pub fn quantizer(&self) -> Quantizer {
        Quantizer {
            reciprocal: (1.0 / self.scale) as f32,
            zero_point: self.zero_point as f32,
        }
    }
}

/// Quantizes `f32` values: `round(r / scale) + zero_point`, saturated, computed as
/// `round(r * (1 / scale))` in `f32` (from [`ActivationQuant::quantizer`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quantizer {
    /// `1 / scale`.
    pub reciprocal: f32,
    /// The zero point.
    pub zero_point: f32,
}

impl Quantizer {
    /// `q` for a real `r`, rounded (half away from zero) and saturated (NaN gives 0,
    /// as an `as` conversion does).
    #[inline]
    pub fn quantize(&self, r: f32) -> i8 {
        (libm::roundf(r * self.reciprocal) + self.zero_point).clamp(-128.0, 127.0) as i8
    }
}

/// Symmetric per-channel weights: each row of `weights` (an output channel's inputs)
/// gets `scale = max |w| / 127`, and `q = round(w / scale)` in `[-127, 127]`. Writes
/// the integers and returns nothing; `scales` receives each channel's scale.
pub fn quantize_rows(weights: &[f64], inputs: usize, out: &mut [i8], scales: &mut [f64]) {
    for ((row, q), scale) in weights
        .chunks_exact(inputs.max(1))
        .zip(out.chunks_exact_mut(inputs.max(1)))
        .zip(scales.iter_mut())
    {
        *scale = quantize_channel(|k| row[k], q);
    }
}

/// One channel of [`quantize_rows`]: `q[k]` from the real weights `w(k)`; returns the
/// channel's scale.
#[inline]
fn quantize_channel(w: impl Fn(usize) -> f64, q: &mut [i8]) -> f64 {
    let largest = (0..q.len()).fold(0.0f64, |m, k| m.max(w(k).abs()));
    let scale = if largest > 0.0 { largest / 127.0 } else { 1.0 };
    for (k, q) in q.iter_mut().enumerate() {
        *q = libm::round(w(k) / scale).clamp(-127.0, 127.0) as i8;
    }
    scale
}

/// `sum w[i] * (x[i] - zero)`, exact in wrapping `i32` arithmetic, so every form below
/// gives the same integers: in blocks of 16 with `i16` products summed in `i32`
/// (`|w (x - zero)| <= 127 * 255`), which the compiler turns into packed multiply-adds
/// (`pmaddwd` on x86); with `SMLAD` on the Cortex-M4/M7; a plain loop on the other Arm
/// cores (no registers to spare for 16 lanes on a Cortex-M0).
#[inline]
#[cfg(not(target_arch = "arm"))]
fn dot_shifted(w: &[i8], x: &[i8], zero: i16) -> i32 {
    let mut acc = [0i32; 16];
    let (wc, xc) = (w.chunks_exact(16), x.chunks_exact(16));
    let (wr, xr) = (wc.remainder(), xc.remainder());
    for (wb, xb) in wc.zip(xc) {
        let (wb, xb): (&[i8; 16], &[i8; 16]) = (
            wb.try_into().unwrap_or(&[0; 16]),
            xb.try_into().unwrap_or(&[0; 16]),
        );
        for ((a, &w), &v) in acc.iter_mut().zip(wb).zip(xb) {
            *a = a.wrapping_add(i32::from(w as i16 * (v as i16 - zero)));
        }
    }
    let sum = acc.iter().fold(0i32, |a, &b| a.wrapping_add(b));
    dot_shifted_plain(wr, xr, zero, sum)
}

/// [`dot_shifted`] one product at a time, added to `sum`.
#[inline]
fn dot_shifted_plain(w: &[i8], x: &[i8], zero: i16, mut sum: i32) -> i32 {
    for (&w, &v) in w.iter().zip(x) {
        sum = sum.wrapping_add(i32::from(w) * i32::from(v as i16 - zero));
    }
    sum
}

#[inline]
#[cfg(all(target_arch = "arm", not(network_arm_dsp)))]
fn dot_shifted(w: &[i8], x: &[i8], zero: i16) -> i32 {
    dot_shifted_plain(w, x, zero, 0)
}

/// [`dot_shifted`] four products at a time with the DSP extension: `SXTB16` widens bytes
/// 0 and 2 (and, rotated, 1 and 3) to two `i16` lanes, `SSUB16` subtracts the zero point
/// from both, and `SMLAD` adds both lanes' products to the accumulator (modulo 2^32, like
/// `wrapping_add`), CMSIS-NN's pattern.
#[inline]
#[cfg(all(target_arch = "arm", network_arm_dsp))]
fn dot_shifted(w: &[i8], x: &[i8], zero: i16) -> i32 {
    let packed_zero = (zero as u16 as u32) * 0x0001_0001;
    let mut sum = 0i32;
    let (wc, xc) = (w.chunks_exact(4), x.chunks_exact(4));
    let (wr, xr) = (wc.remainder(), xc.remainder());
    for (wb, xb) in wc.zip(xc) {
        let word = |b: &[i8]| u32::from_le_bytes([b[0] as u8, b[1] as u8, b[2] as u8, b[3] as u8]);
        let (wv, xv) = (word(wb), word(xb));
        // SAFETY: register-only DSP instructions, present on every `thumbv7em` core
        // (`network_arm_dsp` is set for those targets alone, by build.rs).
        unsafe {
            core::arch::asm!(
                "sxtb16 {a}, {w}",
                "sxtb16 {b}, {x}",
                "ssub16 {b}, {b}, {z}",
                "smlad {acc}, {a}, {b}, {acc}",
                "sxtb16 {a}, {w}, ror #8",
                "sxtb16 {b}, {x}, ror #8",
                "ssub16 {b}, {b}, {z}",
                "smlad {acc}, {a}, {b}, {acc}",
                w = in(reg) wv,
                x = in(reg) xv,
                z = in(reg) packed_zero,
                acc = inout(reg) sum,
                a = out(reg) _,
                b = out(reg) _,
                options(pure, nomem, nostack),
            );
        }
    }
    dot_shifted_plain(wr, xr, zero, sum)
}

/// One int8 dense layer for one sample: `y = requantize(bias + W (x - x_zero))`, then the
/// output zero point and the clamp `[low, high]` (a fused ReLU is `low = y_zero`).
/// `weights` is `[O, I]` row-major.
#[allow(clippy::too_many_arguments)] // the quantized layer's parameters
#[inline(always)]
pub fn dense_i8(
    weights: &[i8],
    bias: &[i32],
    multipliers: &[QuantizedMultiplier],
    x: &[i8],
    x_zero: i32,
    y_zero: i32,
    (low, high): (i8, i8),
    y: &mut [i8],
) {
    dense_i8_with(
        dot_shifted,
        weights,
        bias,
        multipliers,
        x,
        (x_zero, y_zero),
        (low, high),
        y,
    );
}

/// [`dense_i8`] with the dot product `dot`.
#[allow(clippy::too_many_arguments)] // the quantized layer's parameters
#[inline(always)]
fn dense_i8_with(
    dot: impl Fn(&[i8], &[i8], i16) -> i32,
    weights: &[i8],
    bias: &[i32],
    multipliers: &[QuantizedMultiplier],
    x: &[i8],
    (x_zero, y_zero): (i32, i32),
    (low, high): (i8, i8),
    y: &mut [i8],
) {
    let inputs = x.len();
    for (((row, &b), &m), y) in weights
        .chunks_exact(inputs.max(1))
        .zip(bias)
        .zip(multipliers)
        .zip(y.iter_mut())
    {
        // `x - x_zero` fits 9 bits and `w` 8: every product fits `i16` and pairs of
        // them sum in `i32`, the shape of x86's `pmaddwd` and Arm's `SMLAD`.
        let acc = dot(row, x, x_zero as i16).wrapping_add(b);
        *y = requantize(acc, m, y_zero, (low, high));
    }
}

/// An accumulator brought to the output's scale: `M acc + y_zero`, clamped.
#[inline(always)]
fn requantize(acc: i32, m: QuantizedMultiplier, y_zero: i32, (low, high): (i8, i8)) -> i8 {
    m.apply(acc)
        .saturating_add(y_zero)
        .clamp(low as i32, high as i32) as i8
}

/// Quantizes real per-channel weights `weight(o, k)` (`o < multipliers.len()`,
/// `k < weights.len() / multipliers.len()`) and biases `bias(o)` for the given input and
/// output quantization: symmetric int8 per channel (as [`quantize_rows`]) into
/// `weights` (channel `o`'s `k` together), biases at the accumulator's scale, and the
/// multipliers to the output's scale.
fn quantize_channels(
    weight: &dyn Fn(usize, usize) -> f64,
    bias: &dyn Fn(usize) -> f64,
    (input, output): (ActivationQuant, ActivationQuant),
    weights: &mut [i8],
    biases: &mut [i32],
    multipliers: &mut [QuantizedMultiplier],
) {
    let k_len = weights.len() / multipliers.len().max(1);
    for (o, ((q, b), m)) in weights
        .chunks_exact_mut(k_len.max(1))
        .zip(biases.iter_mut())
        .zip(multipliers.iter_mut())
        .enumerate()
    {
        let scale = quantize_channel(|k| weight(o, k), q);
        let accumulator_scale = input.scale * scale;
        *b =
            libm::round(bias(o) / accumulator_scale).clamp(i32::MIN as f64, i32::MAX as f64) as i32;
        *m = QuantizedMultiplier::from_f64(accumulator_scale / output.scale);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rng;

    /// The same steps in `i128`, written out plainly.
    fn reference_apply(x: i32, m: QuantizedMultiplier) -> i32 {
        let left = m.shift.max(0);
        let right = (-m.shift).max(0);
        let shifted =
            (x as i128 * (1i128 << left.min(30))).clamp(i32::MIN as i128, i32::MAX as i128);
        let ab = shifted * m.multiplier as i128;
        let high = if shifted == i32::MIN as i128 && m.multiplier == i32::MIN {
            i32::MAX as i128
        } else {
            // Round half away from zero of ab / 2^31.
            let d = 1i128 << 31;
            if ab >= 0 {
                (ab + d / 2) / d
            } else {
                -((-ab + d / 2 - 1) / d)
            }
        };
        if right == 0 {
            return high as i32;
        }
        let d = 1i128 << right;
        let q = high.div_euclid(d);
        let r = high.rem_euclid(d);
        // Nearest, ties away from zero.
        let up = if high >= 0 { 2 * r >= d } else { 2 * r > d };
        (q + i128::from(up)) as i32
    }

    #[test]
    fn multipliers_represent_their_reals() {
        let mut rng = Rng::seed_from_u64(1);
        for _ in 0..2000 {
            let m = libm::pow(10.0, rng.uniform(-8.0, 3.0));
            let q = QuantizedMultiplier::from_f64(m);
            assert!((1 << 30..=i32::MAX).contains(&q.multiplier), "{m}: {q:?}");
            assert!(((q.to_f64() - m) / m).abs() < 1e-9, "{m}: {}", q.to_f64());
        }
        assert_eq!(
            QuantizedMultiplier::from_f64(0.5),
            QuantizedMultiplier {
                multiplier: 1 << 30,
                shift: 0
            }
        );
        assert_eq!(
            QuantizedMultiplier::from_f64(1.0),
            QuantizedMultiplier {
                multiplier: 1 << 30,
                shift: 1
            }
        );
        assert_eq!(
            QuantizedMultiplier::from_f64(0.0),
            QuantizedMultiplier::default()
        );
        assert_eq!(
            QuantizedMultiplier::from_f64(f64::NAN),
            QuantizedMultiplier::default()
        );
        assert_eq!(
            QuantizedMultiplier::from_f64(-1.0),
            QuantizedMultiplier::default()
        );
    }

    #[test]
    fn requantization_matches_the_reference_rounding_and_saturation() {
        let mut rng = Rng::seed_from_u64(2);
        let edges = [
            0,
            1,
            -1,
            2,
            -2,
            3,
            -3,
            i32::MAX,
            i32::MIN,
            i32::MIN + 1,
            1 << 30,
            -(1 << 30),
        ];
        for _ in 0..20_000 {
            let m = QuantizedMultiplier::from_f64(libm::pow(10.0, rng.uniform(-7.0, 2.5)));
            let x = if rng.below(4) == 0 {
                edges[rng.below(edges.len())]
            } else {
                (rng.next_u64() as i64 >> rng.below(40)) as i32
            };
            assert_eq!(m.apply(x), reference_apply(x, m), "x {x}, {m:?}");
            // Within one step of the real product: the two roundings (high multiply, then
            // shift) can together miss the nearest integer by one, as in TFLite.
            let exact = x as f64 * m.to_f64();
            if exact.abs() < 1e9 && m.shift <= 0 {
                assert!(
                    (m.apply(x) as f64 - exact).abs() < 1.0 + 1e-6 * exact.abs().max(1.0),
                    "x {x}, {m:?}"
                );
            }
        }
        // The one overflow of the doubling multiply saturates.
        assert_eq!(
            saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN),
            i32::MAX
        );
        // Ties go away from zero, both ways.
        assert_eq!(rounding_divide_by_pot(5, 1), 3);
        assert_eq!(rounding_divide_by_pot(-5, 1), -3);
        assert_eq!(rounding_divide_by_pot(-4, 1), -2);
        assert_eq!(rounding_divide_by_pot(7, 2), 2);
        assert_eq!(rounding_divide_by_pot(-7, 2), -2);
        assert_eq!(rounding_divide_by_pot(i32::MIN, 31), -1);
    }

    #[test]
    fn activations_and_weights_round_trip_within_half_a_step() {
        let q = ActivationQuant::from_range(-1.5, 3.0);
        assert_eq!(q.quantize(0.0) as i32, q.zero_point);
        for k in 0..=100 {
            let r = -1.5 + 4.5 * k as f64 / 100.0;
            assert!((q.dequantize(q.quantize(r)) - r).abs() <= q.scale / 2.0 + 1e-12);
        }
        assert_eq!(q.quantize(1e9), 127);
        assert_eq!(q.quantize(-1e9), -128);
        // The f32 quantizer agrees but within rounding error of a half step.
        let fast = q.quantizer();
        for k in 0..=10_000 {
            let r = -2.0 + 5.5 * k as f64 / 10_000.0;
            let steps = r / q.scale;
            if (steps - libm::floor(steps) - 0.5).abs() > 1e-4 {
                assert_eq!(fast.quantize(r as f32), q.quantize(r as f32 as f64), "{r}");
            }
        }
        assert_eq!((fast.quantize(1e9), fast.quantize(-1e9)), (127, -128));
        assert_eq!(fast.quantize(f32::NAN), 0);
        // A ReLU output's range starts at 0: zero point -128.
        assert_eq!(ActivationQuant::from_range(0.0, 6.0).zero_point, -128);
        let w = [0.5, -0.25, 0.1, 0.0, 0.0, 0.0];
        let (mut q, mut scales) = ([0i8; 6], [0.0; 2]);
        quantize_rows(&w, 3, &mut q, &mut scales);
        assert_eq!(q, [127, -64, 25, 0, 0, 0]);
        assert_eq!(scales, [0.5 / 127.0, 1.0]);
    }

    #[test]
    fn the_vectorized_int8_layer_gives_the_portable_integers() {
        let mut rng = Rng::seed_from_u64(4);
        let weight = nalgebra::SMatrix::<f64, 7, 37>::from_fn(|_, _| rng.uniform(-1.0, 1.0));
        let bias = nalgebra::SVector::<f64, 7>::from_fn(|_, _| rng.uniform(-1.0, 1.0));
        let (input, output) = (
            ActivationQuant::from_range(-3.0, 2.0),
            ActivationQuant::from_range(0.0, 9.0),
        );
        let layer = DenseInt8::<37, 7>::from_float(&weight, &bias, input, output, true);
        for _ in 0..50 {
            let x = nalgebra::SVector::<i8, 37>::from_fn(|_, _| rng.below(256) as i32 as i8);
            let mut portable = [0i8; 7];
            dense_i8(
                layer.weight.as_slice(),
                layer.bias.as_slice(),
                &layer.multipliers,
                x.as_slice(),
                input.zero_point,
                output.zero_point,
                (output.zero_point as i8, 127),
                &mut portable,
            );
            assert_eq!(layer.forward(&x).as_slice(), &portable);
        }
    }

    #[test]
    fn the_int8_dense_layer_matches_real_arithmetic() {
        // y = W x + b in reals, against the int8 layer, within one output step.
        let mut rng = Rng::seed_from_u64(3);
        let (inputs, outputs) = (16, 5);
        let w: [f64; 80] = core::array::from_fn(|_| rng.uniform(-1.0, 1.0));
        let b: [f64; 5] = core::array::from_fn(|_| rng.uniform(-0.5, 0.5));
        let xr: [f64; 16] = core::array::from_fn(|_| rng.uniform(-2.0, 2.0));
        let xq_params = ActivationQuant::from_range(-2.0, 2.0);
        let yq_params = ActivationQuant::from_range(-8.0, 8.0);
        let (mut wq, mut ws) = ([0i8; 80], [0.0; 5]);
        quantize_rows(&w, inputs, &mut wq, &mut ws);
        let bias: [i32; 5] =
            core::array::from_fn(|o| libm::round(b[o] / (xq_params.scale * ws[o])) as i32);
        let multipliers: [QuantizedMultiplier; 5] = core::array::from_fn(|o| {
            QuantizedMultiplier::from_f64(xq_params.scale * ws[o] / yq_params.scale)
        });
        let xq: [i8; 16] = core::array::from_fn(|i| xq_params.quantize(xr[i]));
        let mut yq = [0i8; 5];
        dense_i8(
            &wq,
            &bias,
            &multipliers,
            &xq,
            xq_params.zero_point,
            yq_params.zero_point,
            (-128, 127),
            &mut yq,
        );
        for o in 0..outputs {
            let exact: f64 = b[o] + (0..inputs).map(|i| w[o * inputs + i] * xr[i]).sum::<f64>();
            let error = (yq_params.dequantize(yq[o]) - exact).abs();
            assert!(error < 2.0 * yq_params.scale, "output {o}: {error}");
        }
    }
}

/// An int8 dense layer: per-channel symmetric weights (`[O, I]`, row `o` contiguous),
/// `i32` biases at `input.scale * weight_scale[o]`, the fixed-point multipliers to the
/// output's scale, and a fused ReLU when the float layer had one.
#[derive(Clone, Debug, PartialEq)]
pub struct DenseInt8<const I: usize, const O: usize> {
    /// Column `o` is output channel `o`'s weights.
    pub weight: nalgebra::SMatrix<i8, I, O>,
    /// Biases in accumulator units.
    pub bias: nalgebra::SVector<i32, O>,
    /// Per output channel: `input.scale * weight_scale / output.scale`.
    pub multipliers: [QuantizedMultiplier; O],
    /// The input's quantization (the previous layer's output).
    pub input: ActivationQuant,
    /// The output's quantization.
    pub output: ActivationQuant,
    /// ReLU fused into the clamp.
    pub relu: bool,
}

impl<const I: usize, const O: usize> DenseInt8<I, O> {
    /// Quantizes a float dense layer: `weight` is `[O, I]` (the float layer's
    /// `W`, any scalar), `input` and `output` the calibrated ranges' parameters.
    pub fn from_float<T: crate::Scalar>(
        weight: &nalgebra::SMatrix<T, O, I>,
        bias: &nalgebra::SVector<T, O>,
        input: ActivationQuant,
        output: ActivationQuant,
        relu: bool,
    ) -> Self {
        Self::from_fn(
            |o, i| weight[(o, i)].as_f64(),
            |o| bias[o].as_f64(),
            input,
            output,
            relu,
        )
    }

    /// Quantizes a float [`Dense`](crate::Dense) layer with the batch norm that follows
    /// it, if any, folded in (its running statistics, as in inference): what
    /// `Net::quantize` does for each dense layer. Without `norm`, the same as
    /// [`from_float`](Self::from_float).
    pub fn from_dense<T: crate::Scalar>(
        layer: &crate::Dense<T, I, O>,
        norm: Option<&crate::BatchNorm<T, O>>,
        input: ActivationQuant,
        output: ActivationQuant,
        relu: bool,
    ) -> Self {
        let fold = |o: usize| norm.map_or((1.0, 0.0), |b| b.folded(o));
        Self::from_fn(
            |o, i| layer.weight[(o, i)].as_f64() * fold(o).0,
            |o| layer.bias[o].as_f64() * fold(o).0 + fold(o).1,
            input,
            output,
            relu,
        )
    }

    /// Quantizes the real weights `weight(o, i)` and biases `bias(o)` (a batch norm
    /// after the layer already folded in, if any).
    pub fn from_fn(
        weight: impl Fn(usize, usize) -> f64,
        bias: impl Fn(usize) -> f64,
        input: ActivationQuant,
        output: ActivationQuant,
        relu: bool,
    ) -> Self {
        let mut q = Self {
            weight: nalgebra::SMatrix::zeros(),
            bias: nalgebra::SVector::zeros(),
            multipliers: [QuantizedMultiplier::default(); O],
            input,
            output,
            relu,
        };
        quantize_channels(
            &weight,
            &bias,
            (input, output),
            q.weight.as_mut_slice(),
            q.bias.as_mut_slice(),
            &mut q.multipliers,
        );
        q
    }

    /// The layer on one quantized sample.
    pub fn forward(&self, x: &nalgebra::SVector<i8, I>) -> nalgebra::SVector<i8, O> {
        let mut y = nalgebra::SVector::<i8, O>::zeros();
        let low = if self.relu {
            self.output.zero_point.clamp(-128, 127) as i8
        } else {
            -128
        };
        let args = (
            self.weight.as_slice(),
            self.bias.as_slice(),
            &self.multipliers[..],
            x.as_slice(),
            (self.input.zero_point, self.output.zero_point),
            (low, 127),
        );
        #[cfg(all(feature = "simd", target_arch = "x86_64"))]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above: the one condition for
            // calling a function compiled with `target_feature(enable = "avx2")`.
            unsafe { dense_i8_avx2(args, y.as_mut_slice()) };
            return y;
        }
        let (w, b, m, xs, (xz, yz), clamp) = args;
        dense_i8(w, b, m, xs, xz, yz, clamp, y.as_mut_slice());
        y
    }
}

/// The arguments of [`dense_i8`] but the output.
#[cfg(all(feature = "simd", target_arch = "x86_64"))]
type DenseArgs<'a> = (
    &'a [i8],
    &'a [i32],
    &'a [QuantizedMultiplier],
    &'a [i8],
    (i32, i32),
    (i8, i8),
);

/// [`dense_i8`] with [`dot_shifted_avx2`]: the same integers.
#[cfg(all(feature = "simd", target_arch = "x86_64"))]
#[target_feature(enable = "avx2")]
fn dense_i8_avx2((w, b, m, x, zeros, clamp): DenseArgs<'_>, y: &mut [i8]) {
    // A closure inherits this function's target features: calling the AVX2 kernel is safe.
    let dot = |w: &[i8], x: &[i8], zero: i16| dot_shifted_avx2(w, x, zero);
    dense_i8_with(dot, w, b, m, x, zeros, clamp, y);
}

/// [`dot_shifted`] with AVX2, 16 products per step: both operands widened to `i16`
/// (`vpmovsxbw`), the zero point subtracted (`vpsubw`, exact: `x - zero` fits 9 bits),
/// pairs multiplied and added into `i32` lanes (`vpmaddwd`, exact: `|w (x - zero)|
/// <= 127 * 255`), the lanes summed modulo 2^32 like `wrapping_add`: the same integers
/// as the portable loop.
#[cfg(all(feature = "simd", target_arch = "x86_64"))]
#[target_feature(enable = "avx2")]
fn dot_shifted_avx2(w: &[i8], x: &[i8], zero: i16) -> i32 {
    use core::arch::x86_64::*;
    let n = w.len().min(x.len());
    let (wb, xb) = (&w[..n], &x[..n]);
    let zeros = _mm256_set1_epi16(zero);
    let mut acc = _mm256_setzero_si256();
    let (wc, xc) = (wb.chunks_exact(16), xb.chunks_exact(16));
    let (wr, xr) = (wc.remainder(), xc.remainder());
    for (wk, xk) in wc.zip(xc) {
        // SAFETY: each chunk holds exactly 16 bytes, the width of an unaligned 128-bit load.
        let (wv, xv) = unsafe {
            (
                _mm_loadu_si128(wk.as_ptr().cast()),
                _mm_loadu_si128(xk.as_ptr().cast()),
            )
        };
        let products = _mm256_madd_epi16(
            _mm256_cvtepi8_epi16(wv),
            _mm256_sub_epi16(_mm256_cvtepi8_epi16(xv), zeros),
        );
        acc = _mm256_add_epi32(acc, products);
    }
    let mut lanes = [0i32; 8];
    // SAFETY: `lanes` is 32 bytes, the width of an unaligned 256-bit store.
    unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), acc) };
    let sum = lanes.iter().fold(0i32, |a, &b| a.wrapping_add(b));
    dot_shifted_plain(wr, xr, zero, sum)
}

/// The running `[min, max]` of values seen, for calibration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    /// The smallest value seen.
    pub min: f64,
    /// The largest value seen.
    pub max: f64,
}

impl Default for Range {
    fn default() -> Self {
        Self {
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

impl Range {
    /// Widens the range to cover `values`.
    pub fn observe<T: crate::Scalar>(&mut self, values: &[T]) {
        for v in values {
            let v = v.as_f64();
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
    }

    /// The activation parameters for this range (`[0, 1]` when nothing was seen).
    pub fn quant(&self) -> ActivationQuant {
        if self.min > self.max {
            ActivationQuant::from_range(0.0, 1.0)
        } else {
            ActivationQuant::from_range(self.min, self.max)
        }
    }
}
