//! int8 convolutions and pooling, the same arithmetic as [`super::DenseInt8`]: per
//! output channel symmetric weights, `i32` biases, the fixed-point requantization, a
//! fused ReLU clamp. Pooling keeps its input's quantization: the maximum of quantized
//! values is the quantized maximum (the map is monotone), and an average of quantized
//! values is rounded back to the same scale.

use nalgebra::{SMatrix, SVector};

use super::{dot_shifted, requantize, ActivationQuant, QuantizedMultiplier};
use crate::layers::conv::ConvGeometry;
use crate::layers::pool::PoolGeometry;

/// An int8 convolution (`Conv1d`/`Conv2d`, any stride, padding, dilation and groups):
/// `O` output channels, `K = in_channels / groups * kernel` weights each, in the float
/// layer's order (`[in/groups, kh, kw]`, PyTorch's).
#[derive(Clone, Debug, PartialEq)]
pub struct ConvInt8<const O: usize, const K: usize> {
    /// Column `o` is output channel `o`'s filter.
    pub weight: SMatrix<i8, K, O>,
    /// Biases in accumulator units (0 for a convolution without bias).
    pub bias: SVector<i32, O>,
    /// Per output channel: `input.scale * weight_scale / output.scale`.
    pub multipliers: [QuantizedMultiplier; O],
    /// The input's quantization.
    pub input: ActivationQuant,
    /// The output's quantization.
    pub output: ActivationQuant,
    /// ReLU fused into the clamp.
    pub relu: bool,
}

impl<const O: usize, const K: usize> ConvInt8<O, K> {
    /// Quantizes a float [`Conv`](crate::layers::conv::Conv) (with or without biases)
    /// with the batch norm that follows it, if any, folded in (its running statistics,
    /// as in inference): what `Net::quantize` does for each convolution.
    pub fn from_conv<T: crate::Scalar, const NB: usize>(
        layer: &crate::layers::conv::Conv<T, O, K, NB>,
        norm: Option<&crate::BatchNorm<T, O>>,
        input: ActivationQuant,
        output: ActivationQuant,
        relu: bool,
    ) -> Self {
        let fold = |o: usize| norm.map_or((1.0, 0.0), |b| b.folded(o));
        Self::from_fn(
            |o, k| layer.weight[(k, o)].as_f64() * fold(o).0,
            |o| layer.bias.get(o).map_or(0.0, |b| b.as_f64()) * fold(o).0 + fold(o).1,
            input,
            output,
            relu,
        )
    }

    /// Quantizes the real filters `weight(o, k)` and biases `bias(o)` (a batch norm
    /// after the convolution already folded in, if any).
    pub fn from_fn(
        weight: impl Fn(usize, usize) -> f64,
        bias: impl Fn(usize) -> f64,
        input: ActivationQuant,
        output: ActivationQuant,
        relu: bool,
    ) -> Self {
        let mut q = Self {
            weight: SMatrix::zeros(),
            bias: SVector::zeros(),
            multipliers: [QuantizedMultiplier::default(); O],
            input,
            output,
            relu,
        };
        super::quantize_channels(
            &weight,
            &bias,
            (input, output),
            q.weight.as_mut_slice(),
            q.bias.as_mut_slice(),
            &mut q.multipliers,
        );
        q
    }

    /// The convolution of one quantized sample with geometry `g` (`I` and `N` its input
    /// and output sizes): per output position and group, the window is gathered once
    /// (padding as the input's zero point, which stands for 0.0), then each output
    /// channel of the group is one int8 dot product.
    pub fn forward<const I: usize, const N: usize>(
        &self,
        g: &ConvGeometry,
        x: &SVector<i8, I>,
    ) -> SVector<i8, N> {
        let mut y = SVector::<i8, N>::zeros();
        #[cfg(all(feature = "simd", target_arch = "x86_64"))]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            unsafe { conv_avx2(self, g, x.as_slice(), y.as_mut_slice()) };
            return y;
        }
        conv_with(dot_shifted, self, g, x.as_slice(), y.as_mut_slice());
        y
    }
}

/// [`ConvInt8::forward`] with the dot product `dot`.
#[inline(always)]
fn conv_with<const O: usize, const K: usize>(
    dot: impl Fn(&[i8], &[i8], i16) -> i32,
    layer: &ConvInt8<O, K>,
    g: &ConvGeometry,
    x: &[i8],
    y: &mut [i8],
) {
    let (ho, wo) = (g.out_height(), g.out_width());
    let plane = ho * wo;
    let groups = g.groups.max(1);
    let (cg, per_group) = (g.in_channels / groups, O / groups);
    let zero = layer.input.zero_point.clamp(-128, 127);
    let low = if layer.relu {
        layer.output.zero_point.clamp(-128, 127) as i8
    } else {
        -128
    };
    let mut window = [0i8; K];
    for group in 0..groups {
        for oh in 0..ho {
            for ow in 0..wo {
                let mut slot = 0;
                for c in group * cg..(group + 1) * cg {
                    let xc = &x[c * g.height * g.width..][..g.height * g.width];
                    for kh in 0..g.kernel.0 {
                        let ih = (oh * g.stride.0 + kh * g.dilation.0).wrapping_sub(g.pad_h.0);
                        for kw in 0..g.kernel.1 {
                            let iw = (ow * g.stride.1 + kw * g.dilation.1).wrapping_sub(g.pad_w.0);
                            window[slot] = if ih < g.height && iw < g.width {
                                xc[ih * g.width + iw]
                            } else {
                                zero as i8
                            };
                            slot += 1;
                        }
                    }
                }
                for o in group * per_group..(group + 1) * per_group {
                    let filter = &layer.weight.as_slice()[o * K..(o + 1) * K];
                    let acc = dot(filter, &window[..slot], zero as i16).wrapping_add(layer.bias[o]);
                    y[o * plane + oh * wo + ow] = requantize(
                        acc,
                        layer.multipliers[o],
                        layer.output.zero_point,
                        (low, 127),
                    );
                }
            }
        }
    }
}

/// [`conv_with`] with the AVX2 dot product: the same integers.
#[cfg(all(feature = "simd", target_arch = "x86_64"))]
#[target_feature(enable = "avx2")]
fn conv_avx2<const O: usize, const K: usize>(
    layer: &ConvInt8<O, K>,
    g: &ConvGeometry,
    x: &[i8],
    y: &mut [i8],
) {
    let dot = |w: &[i8], x: &[i8], zero: i16| super::dot_shifted_avx2(w, x, zero);
    conv_with(dot, layer, g, x, y);
}

/// Max pooling of one quantized sample (any window, stride and padding; padding never
/// wins, as PyTorch pads with -inf): the output keeps the input's quantization.
pub fn max_pool_i8(g: &PoolGeometry, x: &[i8], y: &mut [i8]) {
    let (plane_in, plane_out) = (g.height * g.width, g.out_height() * g.out_width());
    for c in 0..g.channels {
        let xp = &x[c * plane_in..][..plane_in];
        let yp = &mut y[c * plane_out..][..plane_out];
        g.windows(|o, rows, columns, _, _| {
            let mut best = i8::MIN;
            for ih in rows {
                for &v in &xp[ih * g.width..][columns.clone()] {
                    best = best.max(v);
                }
            }
            yp[o] = best;
        });
    }
}

/// `round(sum / count)`, ties away from zero, in integers.
#[inline]
fn rounded_division(sum: i32, count: i32) -> i32 {
    let half = count / 2;
    if sum >= 0 {
        (sum + half) / count
    } else {
        -((-sum + half) / count)
    }
}

/// Average pooling of one quantized sample with zero point `zero`, dividing by the whole
/// window (padding counts as 0.0, PyTorch's default), rounded to the input's scale.
pub fn avg_pool_i8(g: &PoolGeometry, zero: i32, x: &[i8], y: &mut [i8]) {
    let (plane_in, plane_out) = (g.height * g.width, g.out_height() * g.out_width());
    let count = (g.kernel.0 * g.kernel.1).max(1) as i32;
    for c in 0..g.channels {
        let xp = &x[c * plane_in..][..plane_in];
        let yp = &mut y[c * plane_out..][..plane_out];
        g.windows(|o, rows, columns, _, _| {
            let mut sum = 0i32;
            for ih in rows {
                for &v in &xp[ih * g.width..][columns.clone()] {
                    sum += i32::from(v) - zero;
                }
            }
            yp[o] = (rounded_division(sum, count) + zero).clamp(-128, 127) as i8;
        });
    }
}

/// Global average pooling of one quantized sample `[C, positions]` to `[C]`, rounded to
/// the input's scale.
pub fn global_avg_i8(zero: i32, x: &[i8], y: &mut [i8]) {
    let positions = x.len() / y.len().max(1);
    for (yc, xc) in y.iter_mut().zip(x.chunks_exact(positions.max(1))) {
        let sum = xc.iter().map(|&v| i32::from(v) - zero).sum::<i32>();
        *yc = (rounded_division(sum, positions.max(1) as i32) + zero).clamp(-128, 127) as i8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rng;

    /// The convolution in reals, plainly.
    fn real_conv(g: &ConvGeometry, w: &[f64], b: &[f64], x: &[f64]) -> std::vec::Vec<f64> {
        let (ho, wo) = (g.out_height(), g.out_width());
        let cg = g.in_channels / g.groups;
        let per_group = g.out_channels / g.groups;
        let k = g.filter_len();
        let mut y = std::vec![0.0; g.out_channels * ho * wo];
        for o in 0..g.out_channels {
            for oh in 0..ho {
                for ow in 0..wo {
                    let mut s = b[o];
                    for c in 0..cg {
                        for kh in 0..g.kernel.0 {
                            for kw in 0..g.kernel.1 {
                                let ih = (oh * g.stride.0 + kh * g.dilation.0) as isize
                                    - g.pad_h.0 as isize;
                                let iw = (ow * g.stride.1 + kw * g.dilation.1) as isize
                                    - g.pad_w.0 as isize;
                                if ih < 0
                                    || iw < 0
                                    || ih >= g.height as isize
                                    || iw >= g.width as isize
                                {
                                    continue;
                                }
                                let ic = (o / per_group) * cg + c;
                                s += w[o * k + (c * g.kernel.0 + kh) * g.kernel.1 + kw]
                                    * x[(ic * g.height + ih as usize) * g.width + iw as usize];
                            }
                        }
                    }
                    y[(o * ho + oh) * wo + ow] = s;
                }
            }
        }
        y
    }

    #[test]
    fn the_int8_convolution_matches_real_arithmetic() {
        // Strided, padded, dilated and grouped: within two output steps of the reals.
        let g = ConvGeometry {
            in_channels: 4,
            height: 7,
            width: 6,
            out_channels: 6,
            kernel: (3, 2),
            stride: (2, 1),
            pad_h: (1, 1),
            pad_w: (0, 1),
            dilation: (1, 2),
            groups: 2,
        };
        assert_eq!(g.filter_len(), 12);
        let mut rng = Rng::seed_from_u64(5);
        let w: std::vec::Vec<f64> = (0..6 * 12).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let b: std::vec::Vec<f64> = (0..6).map(|_| rng.uniform(-0.5, 0.5)).collect();
        let xr: std::vec::Vec<f64> = (0..4 * 42).map(|_| rng.uniform(-1.0, 2.0)).collect();
        let exact = real_conv(&g, &w, &b, &xr);
        let (input, output) = (
            ActivationQuant::from_range(-1.0, 2.0),
            ActivationQuant::from_range(-6.0, 6.0),
        );
        let layer =
            ConvInt8::<6, 12>::from_fn(|o, k| w[o * 12 + k], |o| b[o], input, output, false);
        let x = SVector::<i8, 168>::from_fn(|i, _| input.quantize(xr[i]));
        const N: usize = 6 * 4 * 5;
        assert_eq!(g.outputs(), N);
        let y = layer.forward::<168, N>(&g, &x);
        for (k, (&q, &e)) in y.iter().zip(&exact).enumerate() {
            let error = (output.dequantize(q) - e).abs();
            assert!(error < 2.0 * output.scale, "output {k}: {error}");
        }
        // The portable dot product gives the same integers.
        let mut portable = [0i8; N];
        conv_with(dot_shifted, &layer, &g, x.as_slice(), &mut portable);
        assert_eq!(y.as_slice(), &portable);
        // A fused ReLU clamps at the zero point.
        let relu = ConvInt8::<6, 12>::from_fn(|o, k| w[o * 12 + k], |o| b[o], input, output, true);
        let yr = relu.forward::<168, N>(&g, &x);
        for (&a, &b) in yr.iter().zip(y.iter()) {
            assert_eq!(a, b.max(output.zero_point as i8));
        }
    }

    #[test]
    fn int8_pooling_matches_real_pooling() {
        let g = PoolGeometry {
            channels: 2,
            height: 5,
            width: 5,
            kernel: (3, 3),
            stride: (2, 2),
            padding: (1, 1),
        };
        let q = ActivationQuant::from_range(-1.0, 3.0);
        let mut rng = Rng::seed_from_u64(6);
        let x: [i8; 50] = core::array::from_fn(|_| rng.below(256) as i32 as i8);
        let (mut max, mut avg) = ([0i8; 18], [0i8; 18]);
        max_pool_i8(&g, &x, &mut max);
        avg_pool_i8(&g, q.zero_point, &x, &mut avg);
        for c in 0..2 {
            for oh in 0..3 {
                for ow in 0..3 {
                    let (mut best, mut sum) = (f64::NEG_INFINITY, 0.0);
                    for kh in 0..3 {
                        for kw in 0..3 {
                            let (ih, iw) = ((oh * 2 + kh) as isize - 1, (ow * 2 + kw) as isize - 1);
                            if (0..5).contains(&ih) && (0..5).contains(&iw) {
                                let v = q.dequantize(x[c * 25 + ih as usize * 5 + iw as usize]);
                                best = best.max(v);
                                sum += v;
                            }
                        }
                    }
                    let o = c * 9 + oh * 3 + ow;
                    assert_eq!(q.dequantize(max[o]), best);
                    assert!((q.dequantize(avg[o]) - sum / 9.0).abs() <= q.scale / 2.0 + 1e-12);
                }
            }
        }
        let mut global = [0i8; 2];
        global_avg_i8(q.zero_point, &x, &mut global);
        for c in 0..2 {
            let mean = x[c * 25..(c + 1) * 25]
                .iter()
                .map(|&v| q.dequantize(v))
                .sum::<f64>()
                / 25.0;
            assert!((q.dequantize(global[c]) - mean).abs() <= q.scale / 2.0 + 1e-12);
        }
        assert_eq!((rounded_division(5, 2), rounded_division(-5, 2)), (3, -3));
        assert_eq!((rounded_division(4, 3), rounded_division(-4, 3)), (1, -1));
    }
}
