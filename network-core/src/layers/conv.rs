//! Convolutions over channels x length (`Conv1d`) and channels x height x width
//! (`Conv2d`), with PyTorch's semantics: stride, zero padding (asymmetric allowed, for
//! `"same"` with an even kernel and for causal convolutions), dilation, groups (depthwise
//! included) and an optional bias.
//!
//! One implementation serves both: a `Conv1d` over `[C, L]` is a `Conv2d` over
//! `[C, 1, L]` with a `1 x K` kernel, and its weight `[out, in/groups, K]` has the same
//! row-major order as `[out, in/groups, 1, K]`. The geometry is a value
//! ([`ConvGeometry`]) known at compile time; the loops run over output positions, so the
//! code does not grow with the image.
//!
//! The loops are direct: for each output channel, input channel and kernel tap, a
//! multiply-add over an output row whose valid range is computed once (no test per
//! element, no padded copy). The sums have a fixed order, so results are the same bits on
//! every target.

use nalgebra::{SMatrix, SVector};

use crate::{Init, Rng, Scalar, Zeroable};

/// The shape arithmetic of a convolution: input `[in_channels, height, width]`, output
/// `[out_channels, out_height(), out_width()]`. A 1-d convolution has `height = 1`,
/// `kernel.0 = 1`, `stride.0 = 1`, `dilation.0 = 1` and no vertical padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Input channels.
    pub in_channels: usize,
    /// Input height (1 for a 1-d convolution).
    pub height: usize,
    /// Input width (the length of a 1-d signal).
    pub width: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Kernel `(height, width)`.
    pub kernel: (usize, usize),
    /// Stride `(vertical, horizontal)`.
    pub stride: (usize, usize),
    /// Zero padding `(top, bottom)`.
    pub pad_h: (usize, usize),
    /// Zero padding `(left, right)`.
    pub pad_w: (usize, usize),
    /// Dilation `(vertical, horizontal)`.
    pub dilation: (usize, usize),
    /// Groups: `in_channels` and `out_channels` are both multiples of it; each output
    /// channel sees `in_channels / groups` inputs. `groups == in_channels` is depthwise.
    pub groups: usize,
}

/// `floor((n + pad - dilation * (k - 1) - 1) / stride) + 1`, or 0 when the kernel does
/// not fit the padded input (or the stride is 0).
pub const fn out_len(n: usize, pad: usize, k: usize, stride: usize, dilation: usize) -> usize {
    let span = dilation * (k - 1) + 1;
    if stride == 0 || k == 0 || n + pad < span {
        0
    } else {
        (n + pad - span) / stride + 1
    }
}

impl ConvGeometry {
    /// A 1-d convolution over `[in_channels, length]`, padded `(left, right)`.
    #[allow(clippy::too_many_arguments)] // PyTorch's arguments
    pub const fn one_d(
        in_channels: usize,
        length: usize,
        out_channels: usize,
        kernel: usize,
        stride: usize,
        padding: (usize, usize),
        dilation: usize,
        groups: usize,
    ) -> Self {
        Self {
            in_channels,
            height: 1,
            width: length,
            out_channels,
            kernel: (1, kernel),
            stride: (1, stride),
            pad_h: (0, 0),
            pad_w: padding,
            dilation: (1, dilation),
            groups,
        }
    }

    /// Output height.
    pub const fn out_height(&self) -> usize {
        out_len(
            self.height,
            self.pad_h.0 + self.pad_h.1,
            self.kernel.0,
            self.stride.0,
            self.dilation.0,
        )
    }

    /// Output width (the output length of a 1-d convolution).
    pub const fn out_width(&self) -> usize {
        out_len(
            self.width,
            self.pad_w.0 + self.pad_w.1,
            self.kernel.1,
            self.stride.1,
            self.dilation.1,
        )
    }

    /// Input values per sample: `in_channels * height * width`.
    pub const fn inputs(&self) -> usize {
        self.in_channels * self.height * self.width
    }

    /// Output values per sample.
    pub const fn outputs(&self) -> usize {
        self.out_channels * self.out_height() * self.out_width()
    }

    /// Weights per output channel: `in_channels / groups * kernel.0 * kernel.1`.
    pub const fn filter_len(&self) -> usize {
        match self.in_channels.checked_div(self.groups) {
            Some(per_group) => per_group * self.kernel.0 * self.kernel.1,
            None => 0,
        }
    }

    /// Why the geometry cannot work, or `None`: the rules `network!` enforces at compile
    /// time (with its own arithmetic and messages), for code that uses the layer directly.
    pub const fn problem(&self) -> Option<&'static str> {
        if self.in_channels == 0 || self.out_channels == 0 || self.height == 0 || self.width == 0 {
            Some("a convolution needs at least one channel and one position")
        } else if self.kernel.0 == 0 || self.kernel.1 == 0 {
            Some("the kernel size must be at least 1")
        } else if self.stride.0 == 0 || self.stride.1 == 0 {
            Some("the stride must be at least 1")
        } else if self.dilation.0 == 0 || self.dilation.1 == 0 {
            Some("the dilation must be at least 1")
        } else if self.groups == 0
            || !self.in_channels.is_multiple_of(self.groups)
            || !self.out_channels.is_multiple_of(self.groups)
        {
            Some("the input and output channels must both be divisible by the groups")
        } else if self.out_height() == 0 || self.out_width() == 0 {
            Some("the kernel (with its dilation) is larger than the padded input")
        } else {
            None
        }
    }

    /// The output positions `o` (`0..outs`) whose input `o * stride + tap - pad` lies in
    /// `0..n`, for kernel tap offset `tap = k * dilation`.
    #[inline(always)]
    fn valid(n: usize, outs: usize, stride: usize, tap: usize, pad: usize) -> (usize, usize) {
        // o * stride + tap >= pad  and  o * stride + tap - pad <= n - 1
        let lo = if pad > tap {
            (pad - tap).div_ceil(stride)
        } else {
            0
        };
        let hi = if n + pad > tap {
            ((n + pad - tap - 1) / stride + 1).min(outs)
        } else {
            0
        };
        // A tap that sees only padding (`lo` may pass the last output): an empty range.
        let lo = lo.min(outs);
        (lo, hi.max(lo))
    }
}

/// A convolution's parameters: `O` output channels, each a filter of `K` weights
/// (`in_channels / groups * kernel`, PyTorch's row-major order within the filter), and
/// `NB` biases (`O`, or 0 without a bias).
///
/// `weight` is stored as `[K, O]` column-major, one column per output channel, which is
/// PyTorch's `[out, in/groups, kh, kw]` in row-major order: the flat slice is what a
/// state dict holds.
#[derive(Clone, Debug, PartialEq)]
#[repr(C)]
pub struct Conv<T: Scalar, const O: usize, const K: usize, const NB: usize> {
    /// The filters: column `o` is output channel `o`'s `[in/groups, kh, kw]`.
    pub weight: SMatrix<T, K, O>,
    /// The biases, `[O]` (or none).
    pub bias: SVector<T, NB>,
}

crate::zeroable::zeroable_struct!(
    [T: Scalar + Zeroable, const O: usize, const K: usize, const NB: usize]
    Conv<T, O, K, NB> {
        weight, bias,
    }
);

/// The past inputs a causal 1-d convolution needs to run one time step at a time: the
/// last `(kernel - 1) * dilation + 1` input columns in a ring (`N` = input channels times
/// that span), and how many steps it has seen (taps before the first step are the
/// zero padding, skipped as the sequence pass skips them).
#[derive(Clone, Debug, PartialEq)]
pub struct ConvHistory<T: Scalar, const N: usize> {
    /// The ring of input columns, column-major.
    pub values: SVector<T, N>,
    /// The ring slot the next column goes to.
    pub next: usize,
    /// Steps seen since the start (or the last reset).
    pub seen: usize,
}

impl<T: Scalar, const N: usize> ConvHistory<T, N> {
    /// An empty history: the start of a sequence.
    pub fn new() -> Self {
        Self {
            values: SVector::zeros(),
            next: 0,
            seen: 0,
        }
    }
}

impl<T: Scalar, const N: usize> Default for ConvHistory<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Scalar, const O: usize, const K: usize, const NB: usize> Conv<T, O, K, NB> {
    /// One time step of a causal 1-d convolution at stride 1 (`g.pad_w` is
    /// `((kernel - 1) * dilation, 0)`): pushes the input column `x` (`[C]`) into
    /// `history` and returns the output column (`[O]`). Sums in the order of the
    /// sequence pass's direct loops (bias, then channel by channel, tap by tap), so a
    /// sequence stepped through gives its bits with the portable kernels.
    pub fn step_causal<const C: usize, const N: usize>(
        &self,
        g: &ConvGeometry,
        x: &SVector<T, C>,
        history: &mut ConvHistory<T, N>,
    ) -> SVector<T, O> {
        let (k, d) = (g.kernel.1, g.dilation.1);
        let span = (k - 1) * d + 1;
        debug_assert!(N == C * span && g.in_channels == C && g.out_channels == O);
        let slot = history.next;
        history.values.as_mut_slice()[slot * C..(slot + 1) * C].copy_from_slice(x.as_slice());
        history.next = (slot + 1) % span;
        history.seen += 1;
        let values = history.values.as_slice();
        let filter_len = g.filter_len();
        let per_group_out = O / g.groups.max(1);
        let cg = C / g.groups.max(1);
        let w = self.weight.as_slice();
        let mut out = SVector::<T, O>::zeros();
        for (o, y) in out.iter_mut().enumerate() {
            let first = (o / per_group_out.max(1)) * cg;
            let mut acc = if NB == O { self.bias[o] } else { T::zero() };
            let filter = &w[o * filter_len..(o + 1) * filter_len];
            for c in 0..cg {
                for tap in 0..k {
                    // Tap `tap` reads the input `(k - 1 - tap) * d` steps back.
                    let back = (k - 1 - tap) * d;
                    if back >= history.seen {
                        continue;
                    }
                    let s = (slot + span - back) % span;
                    acc += filter[c * k + tap] * values[s * C + first + c];
                }
            }
            *y = acc;
        }
        out
    }

    /// Trainable scalars: `O * K + NB`.
    pub const PARAMS: usize = O * K + NB;

    /// All zeros.
    pub fn zeros() -> Self {
        Self {
            weight: SMatrix::zeros(),
            bias: SVector::zeros(),
        }
    }

    /// PyTorch's default initialization (`kaiming_uniform_(a = sqrt(5))`, which is
    /// uniform in `±1/sqrt(fan_in)`, for weights and biases alike) or He/Xavier for the
    /// weights with zero biases. `fan_in` is `K`, `fan_out` is `O * K / (in/groups)`.
    pub fn initialize(&mut self, init: Init, fan_out: usize, rng: &mut Rng) {
        init.fill(self.weight.as_mut_slice(), K, fan_out, rng);
        self.bias.fill(T::zero());
    }

    /// Plain SGD from a gradient: `p -= lr g`.
    pub fn sgd_apply(&mut self, grad: &Self, lr: T) {
        crate::kernels::axpy(-lr, grad.weight.as_slice(), self.weight.as_mut_slice());
        crate::kernels::axpy(-lr, grad.bias.as_slice(), self.bias.as_mut_slice());
    }

    /// Forward pass for a batch: `out = conv(x) + bias`.
    ///
    /// With the `simd` feature, `f32` and a CPU with AVX2 + FMA or AVX-512, an ungrouped
    /// convolution is a matrix product: a few samples at a time are unfolded into a
    /// stack buffer (im2col, [`UNFOLD`] values at most) and multiplied with the filters
    /// by `simd::gemm`. Everything else runs the direct loops.
    pub fn forward<const I: usize, const N: usize, const B: usize>(
        &self,
        g: &ConvGeometry,
        x: &SMatrix<T, I, B>,
        out: &mut SMatrix<T, N, B>,
    ) {
        #[cfg(feature = "simd")]
        if gemm::forward(self, g, x.as_slice(), out.as_mut_slice(), B) {
            return;
        }
        for (xc, oc) in x
            .as_slice()
            .chunks_exact(I.max(1))
            .zip(out.as_mut_slice().chunks_exact_mut(N.max(1)))
        {
            self.forward_sample(g, xc, oc);
        }
    }

    fn forward_sample(&self, g: &ConvGeometry, x: &[T], out: &mut [T]) {
        let bias = (NB == O).then(|| self.bias.as_slice());
        T::conv_forward(g, self.weight.as_slice(), bias, x, out);
    }

    /// Accumulates the parameter gradients of a batch into `grad` (`dW += dy * x`,
    /// `db += sum dy`) and, when asked, writes the input gradient `dx` (overwritten).
    pub fn backward<const I: usize, const N: usize, const B: usize>(
        &self,
        g: &ConvGeometry,
        x: &SMatrix<T, I, B>,
        dy: &SMatrix<T, N, B>,
        grad: &mut Self,
        dx: Option<&mut SMatrix<T, I, B>>,
    ) {
        let mut dx = dx;
        #[cfg(feature = "simd")]
        if gemm::backward(
            self,
            g,
            x.as_slice(),
            dy.as_slice(),
            grad,
            dx.as_deref_mut().map(|d| d.as_mut_slice()),
            B,
        ) {
            return;
        }
        for (b, (xc, dyc)) in x
            .as_slice()
            .chunks_exact(I.max(1))
            .zip(dy.as_slice().chunks_exact(N.max(1)))
            .enumerate()
        {
            let dxc = dx
                .as_deref_mut()
                .map(|d| &mut d.as_mut_slice()[b * I..(b + 1) * I]);
            self.backward_sample(g, xc, dyc, grad, dxc);
        }
    }

    fn backward_sample(
        &self,
        g: &ConvGeometry,
        x: &[T],
        dy: &[T],
        grad: &mut Self,
        dx: Option<&mut [T]>,
    ) {
        let bias = (NB == O).then(|| grad.bias.as_mut_slice());
        T::conv_backward(
            g,
            self.weight.as_slice(),
            x,
            dy,
            grad.weight.as_mut_slice(),
            bias,
            dx,
        );
    }
}

/// The direct loops of one sample's forward pass (`bias` of `out_channels` values, or
/// none). Reached through [`Scalar::conv_forward`], so that they are compiled, optimized,
/// in this crate for `f32` and `f64` rather than in every crate that uses a network.
pub(crate) fn direct_forward<T: Scalar>(
    g: &ConvGeometry,
    w: &[T],
    bias: Option<&[T]>,
    x: &[T],
    out: &mut [T],
) {
    let (ho, wo) = (g.out_height(), g.out_width());
    let plane = ho * wo;
    let (o_count, k_len) = (g.out_channels, g.filter_len());
    let per_group_out = o_count / g.groups.max(1);
    let cg = g.in_channels / g.groups.max(1);
    for (o, out_o) in out.chunks_exact_mut(plane.max(1)).take(o_count).enumerate() {
        let first = (o / per_group_out.max(1)) * cg;
        out_o.fill(bias.map_or(T::zero(), |b| b[o]));
        let filter = &w[o * k_len..(o + 1) * k_len];
        for c in 0..cg {
            let xc = &x[(first + c) * g.height * g.width..][..g.height * g.width];
            for kh in 0..g.kernel.0 {
                let tap_h = kh * g.dilation.0;
                let (h_lo, h_hi) = ConvGeometry::valid(g.height, ho, g.stride.0, tap_h, g.pad_h.0);
                for kw in 0..g.kernel.1 {
                    let wv = filter[(c * g.kernel.0 + kh) * g.kernel.1 + kw];
                    let tap_w = kw * g.dilation.1;
                    let (w_lo, w_hi) =
                        ConvGeometry::valid(g.width, wo, g.stride.1, tap_w, g.pad_w.0);
                    if w_lo == w_hi {
                        // This tap sees only padding.
                        continue;
                    }
                    for oh in h_lo..h_hi {
                        let ih = oh * g.stride.0 + tap_h - g.pad_h.0;
                        let row = &xc[ih * g.width..][..g.width];
                        let orow = &mut out_o[oh * wo..][..wo];
                        if g.stride.1 == 1 {
                            let start = w_lo + tap_w - g.pad_w.0;
                            for (o_v, &x_v) in orow[w_lo..w_hi]
                                .iter_mut()
                                .zip(&row[start..start + (w_hi - w_lo)])
                            {
                                *o_v += wv * x_v;
                            }
                        } else {
                            for (ow, o_v) in orow.iter_mut().enumerate().take(w_hi).skip(w_lo) {
                                let iw = ow * g.stride.1 + tap_w - g.pad_w.0;
                                *o_v += wv * row[iw];
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The direct loops of one sample's backward pass: adds to the weight gradient `gw` and
/// the bias gradient `gb` (when the layer has a bias), and writes `dx` when asked.
pub(crate) fn direct_backward<T: Scalar>(
    g: &ConvGeometry,
    w: &[T],
    x: &[T],
    dy: &[T],
    gw: &mut [T],
    mut gb: Option<&mut [T]>,
    mut dx: Option<&mut [T]>,
) {
    let (ho, wo) = (g.out_height(), g.out_width());
    let plane = ho * wo;
    let (o_count, k_len) = (g.out_channels, g.filter_len());
    let per_group_out = o_count / g.groups.max(1);
    let cg = g.in_channels / g.groups.max(1);
    if let Some(d) = dx.as_deref_mut() {
        d.fill(T::zero());
    }
    for (o, dy_o) in dy.chunks_exact(plane.max(1)).take(o_count).enumerate() {
        let first = (o / per_group_out.max(1)) * cg;
        if let Some(gb) = gb.as_deref_mut() {
            let mut sum = T::zero();
            for &v in dy_o {
                sum += v;
            }
            gb[o] += sum;
        }
        for c in 0..cg {
            let base = (first + c) * g.height * g.width;
            for kh in 0..g.kernel.0 {
                let tap_h = kh * g.dilation.0;
                let (h_lo, h_hi) = ConvGeometry::valid(g.height, ho, g.stride.0, tap_h, g.pad_h.0);
                for kw in 0..g.kernel.1 {
                    let k = (c * g.kernel.0 + kh) * g.kernel.1 + kw;
                    let wv = w[o * k_len + k];
                    let tap_w = kw * g.dilation.1;
                    let (w_lo, w_hi) =
                        ConvGeometry::valid(g.width, wo, g.stride.1, tap_w, g.pad_w.0);
                    if w_lo == w_hi {
                        // This tap sees only padding.
                        continue;
                    }
                    let mut dw = T::zero();
                    for oh in h_lo..h_hi {
                        let ih = oh * g.stride.0 + tap_h - g.pad_h.0;
                        let row = base + ih * g.width;
                        let dyrow = &dy_o[oh * wo..][w_lo..w_hi];
                        if g.stride.1 == 1 {
                            // Contiguous on both sides: plain dot and axpy loops.
                            let start = row + w_lo + tap_w - g.pad_w.0;
                            let xrow = &x[start..start + dyrow.len()];
                            for (&dy_v, &x_v) in dyrow.iter().zip(xrow) {
                                dw += dy_v * x_v;
                            }
                            if let Some(d) = dx.as_deref_mut() {
                                let drow = &mut d[start..start + dyrow.len()];
                                for (d_v, &dy_v) in drow.iter_mut().zip(dyrow) {
                                    *d_v += wv * dy_v;
                                }
                            }
                        } else {
                            for (k, &dy_v) in dyrow.iter().enumerate() {
                                let iw = (w_lo + k) * g.stride.1 + tap_w - g.pad_w.0;
                                dw += dy_v * x[row + iw];
                                if let Some(d) = dx.as_deref_mut() {
                                    d[row + iw] += wv * dy_v;
                                }
                            }
                        }
                    }
                    gw[o * k_len + k] += dw;
                }
            }
        }
    }
}

/// The most values the matrix-product path unfolds at once: its buffer of unfolded
/// patches holds this many `f32` (64 KiB).
pub const UNFOLD: usize = 16 * 1024;

/// The most outputs (or output gradients) the matrix-product path gathers at once: its
/// second buffer holds this many `f32` (64 KiB).
pub const GATHER: usize = 16 * 1024;

/// The largest weight gradient (`out_channels * filter_len` values) the matrix-product
/// path makes transposed in a buffer of its own (128 KiB of `f32`); larger ones are
/// made in place from transposed patches.
pub const GRADIENT: usize = 32 * 1024;

/// The filter taps a chunk of samples should be unfolded for at once: fewer samples
/// per chunk, longer products (the product's output is read and written once per block).
#[cfg(feature = "simd")]
const TAPS: usize = 128;

/// Convolutions as matrix products (`simd` feature): a chunk of samples is multiplied
/// with the filters a block of filter taps at a time, the block unfolded (im2col) into a
/// stack buffer, by `simd::gemm`, which declines (and the direct loops run) unless the
/// scalar is `f32` and the CPU has the instructions. The chunk is as many samples as
/// [`GATHER`] holds outputs for, and few enough that a block covers up to [`TAPS`] taps
/// (measured on the digits CNN: 128 taps, 3 blocks of 96 for its second layer, beat
/// 64 taps or all 288 at once).
#[cfg(feature = "simd")]
mod gemm {
    use super::{Conv, ConvGeometry, GATHER, GRADIENT, TAPS, UNFOLD};
    use crate::Scalar;

    /// Samples per chunk: their outputs fit [`GATHER`], [`TAPS`] taps of them (or the
    /// whole filter if shorter) fit [`UNFOLD`] when more than one sample does, and one
    /// tap of them always does; 0 when one sample does not fit (then the direct loops run).
    fn chunk(g: &ConvGeometry, o: usize) -> usize {
        let positions = (g.out_height() * g.out_width()).max(1);
        let taps = g.filter_len().clamp(1, TAPS);
        (GATHER / (o * positions).max(1))
            .min((UNFOLD / (positions * taps)).max(1))
            .min(UNFOLD / positions)
    }

    /// Filter taps per block: equal blocks, as many as [`UNFOLD`] holds for `m` positions.
    fn block(m: usize, k: usize) -> usize {
        let most = (UNFOLD / m).clamp(1, k);
        k.div_ceil(k.div_ceil(most))
    }

    /// Calls `f(k, c, kh, kw)` for the filter taps `k0..k0 + kn`.
    fn taps(g: &ConvGeometry, k0: usize, kn: usize, mut f: impl FnMut(usize, usize, usize, usize)) {
        let area = g.kernel.0 * g.kernel.1;
        for k in k0..k0 + kn {
            let (c, tap) = (k / area, k % area);
            f(k - k0, c, tap / g.kernel.1, tap % g.kernel.1);
        }
    }

    /// Calls `f(col_row, x_row, ows, tap_w)` for every stretch of the im2col layout
    /// `col[p + j * m]` (output position `p` of the chunk, sample-major; tap `k0 + j`)
    /// that sees the input: output row `oh` of sample `s` for tap `j` starts at
    /// `col_row` and reads input row `x_row` (an offset into the chunk's samples), output
    /// columns `ows` at input columns `ow * stride + tap_w - pad`. Padding is skipped.
    fn stretches(
        g: &ConvGeometry,
        samples: usize,
        k0: usize,
        kn: usize,
        mut f: impl FnMut(usize, usize, core::ops::Range<usize>, usize),
    ) {
        let (ho, wo) = (g.out_height(), g.out_width());
        let positions = ho * wo;
        let m = samples * positions;
        let plane = g.height * g.width;
        taps(g, k0, kn, |j, c, kh, kw| {
            let (tap_h, tap_w) = (kh * g.dilation.0, kw * g.dilation.1);
            let (h_lo, h_hi) = ConvGeometry::valid(g.height, ho, g.stride.0, tap_h, g.pad_h.0);
            let (w_lo, w_hi) = ConvGeometry::valid(g.width, wo, g.stride.1, tap_w, g.pad_w.0);
            if w_lo == w_hi {
                // This tap sees only padding.
                return;
            }
            for s in 0..samples {
                for oh in h_lo..h_hi {
                    let ih = oh * g.stride.0 + tap_h - g.pad_h.0;
                    let col_row = j * m + s * positions + oh * wo;
                    let x_row = (s * g.in_channels + c) * plane + ih * g.width;
                    f(col_row, x_row, w_lo..w_hi, tap_w);
                }
            }
        });
    }

    /// Whether each tap's window over a sample's plane is one contiguous stretch of the
    /// input: stride 1 both ways and an output as wide as the input (a "same" padding),
    /// so that output row `oh + 1` starts `width` values after row `oh` on both sides.
    fn planar(g: &ConvGeometry) -> bool {
        g.stride == (1, 1) && g.out_width() == g.width
    }

    /// `start` as an index when `start..start + len` lies in `0..total`.
    #[inline(always)]
    fn within(start: isize, len: usize, total: usize) -> Option<usize> {
        usize::try_from(start)
            .ok()
            .filter(|&start| start + len <= total)
    }

    /// The most `kernel area x output positions` for which [`masked`] keeps a mask of
    /// valid positions per kernel tap on the stack (4 KiB).
    const MASKS: usize = 4096;

    /// For a [`planar`] geometry whose masks fit [`MASKS`]: for each kernel tap
    /// `(kh, kw)`, from `(kh * kernel.1 + kw) * positions`, whether each output position
    /// sees the input through it (rather than the padding). Made once per layer call.
    fn masks(g: &ConvGeometry) -> Option<[bool; MASKS]> {
        let (ho, wo) = (g.out_height(), g.out_width());
        let positions = ho * wo;
        if !planar(g) || positions == 0 || g.kernel.0 * g.kernel.1 * positions > MASKS {
            return None;
        }
        let mut masks = [false; MASKS];
        let mut taps = masks.chunks_exact_mut(positions);
        for kh in 0..g.kernel.0 {
            let rows = ConvGeometry::valid(g.height, ho, 1, kh * g.dilation.0, g.pad_h.0);
            for kw in 0..g.kernel.1 {
                let cols = ConvGeometry::valid(g.width, wo, 1, kw * g.dilation.1, g.pad_w.0);
                let mask = taps.next()?;
                for oh in rows.0..rows.1 {
                    mask[oh * wo + cols.0..oh * wo + cols.1].fill(true);
                }
            }
        }
        Some(masks)
    }

    /// With the [`masks`] of a [`planar`] geometry: calls `f(col_plane, x_plane, mask)`
    /// for every tap `k0 + j` and sample `s` of the chunk. Output position `q` of the
    /// tap (`col[col_plane + q]`) sees input `x[x_plane + q]` where `mask[q]` holds and
    /// the padding elsewhere; `x_plane` may lie before the input's start or its plane
    /// run past the end (the padding of the first or last plane).
    fn masked(
        g: &ConvGeometry,
        masks: &[bool; MASKS],
        samples: usize,
        k0: usize,
        kn: usize,
        mut f: impl FnMut(usize, isize, &[bool]),
    ) {
        let positions = g.out_height() * g.out_width();
        let m = samples * positions;
        let plane = g.height * g.width;
        taps(g, k0, kn, |j, c, kh, kw| {
            let mask = &masks[(kh * g.kernel.1 + kw) * positions..][..positions];
            // Output position `q` reads input position `q + delta` (rows, then columns).
            let dh = (kh * g.dilation.0) as isize - g.pad_h.0 as isize;
            let dw = (kw * g.dilation.1) as isize - g.pad_w.0 as isize;
            let delta = dh * g.width as isize + dw;
            for s in 0..samples {
                let x_plane = ((s * g.in_channels + c) * plane) as isize + delta;
                f(j * m + s * positions, x_plane, mask);
            }
        });
    }

    /// `col[p + j * m]`: the input value each output position sees through tap `k0 + j`,
    /// or 0 in the padding.
    fn unfold<T: Scalar>(
        g: &ConvGeometry,
        masks: Option<&[bool; MASKS]>,
        x: &[T],
        samples: usize,
        k0: usize,
        kn: usize,
        col: &mut [T],
    ) {
        let positions = g.out_height() * g.out_width();
        // Every position written: a select per value, no row-by-row copies.
        if let Some(masks) = masks {
            masked(g, masks, samples, k0, kn, |at, from, mask| {
                let out = &mut col[at..at + positions];
                match within(from, positions, x.len()) {
                    Some(from) => {
                        for ((o, &v), &keep) in out.iter_mut().zip(&x[from..]).zip(mask) {
                            *o = if keep { v } else { T::zero() };
                        }
                    }
                    None => {
                        for (q, (o, &keep)) in out.iter_mut().zip(mask).enumerate() {
                            *o = if keep {
                                x[(from + q as isize) as usize]
                            } else {
                                T::zero()
                            };
                        }
                    }
                }
            });
            return;
        }
        let m = samples * positions;
        // Without padding every position of every tap is written below.
        if g.pad_h != (0, 0) || g.pad_w != (0, 0) {
            col[..m * kn].fill(T::zero());
        }
        let (stride, pad) = (g.stride.1, g.pad_w.0);
        stretches(g, samples, k0, kn, |col_row, x_row, ows, tap_w| {
            let (dst, src) = (&mut col[col_row..], &x[x_row..][..g.width]);
            if stride == 1 {
                let from = ows.start + tap_w - pad;
                copy_short(&mut dst[ows.clone()], &src[from..from + ows.len()]);
            } else {
                for ow in ows {
                    dst[ow] = src[ow * stride + tap_w - pad];
                }
            }
        });
    }

    /// `dst.copy_from_slice(src)` for the short rows of small images: pieces of 8, 4, 2
    /// and 1 values, each a copy of constant length that compiles to a few moves, where
    /// a `memcpy` call per row of 8 values cost more than the copy.
    #[inline(always)]
    fn copy_short<T: Copy>(dst: &mut [T], src: &[T]) {
        let n = dst.len().min(src.len());
        let mut i = 0;
        while i + 8 <= n {
            dst[i..i + 8].copy_from_slice(&src[i..i + 8]);
            i += 8;
        }
        for width in [4, 2, 1] {
            if i + width <= n {
                dst[i..i + width].copy_from_slice(&src[i..i + width]);
                i += width;
            }
        }
    }

    /// Adds `dcol[p + j * m]` (taps `k0..k0 + kn`, the layout [`unfold`] writes) back
    /// into the input gradient.
    ///
    /// With a [`planar`] geometry each tap's plane is added in one pass: the positions
    /// that see the padding add 0 to values of other rows (or leave them, at the
    /// input's edges), which changes nothing but the sign of a zero.
    fn fold<T: Scalar>(
        g: &ConvGeometry,
        masks: Option<&[bool; MASKS]>,
        dcol: &[T],
        samples: usize,
        k0: usize,
        kn: usize,
        dx: &mut [T],
    ) {
        let positions = g.out_height() * g.out_width();
        let len = dx.len();
        if let Some(masks) = masks {
            masked(g, masks, samples, k0, kn, |at, to, mask| {
                let src = &dcol[at..at + positions];
                match within(to, positions, len) {
                    Some(to) => {
                        for ((d, &v), &keep) in dx[to..].iter_mut().zip(src).zip(mask) {
                            *d += if keep { v } else { T::zero() };
                        }
                    }
                    None => {
                        for (q, (&v, &keep)) in src.iter().zip(mask).enumerate() {
                            if keep {
                                dx[(to + q as isize) as usize] += v;
                            }
                        }
                    }
                }
            });
            return;
        }
        let (stride, pad) = (g.stride.1, g.pad_w.0);
        stretches(g, samples, k0, kn, |col_row, x_row, ows, tap_w| {
            let (src, dst) = (&dcol[col_row..], &mut dx[x_row..][..g.width]);
            if stride == 1 {
                let from = ows.start + tap_w - pad;
                for (x, &v) in dst[from..from + ows.len()].iter_mut().zip(&src[ows]) {
                    *x += v;
                }
            } else {
                for ow in ows {
                    dst[ow * stride + tap_w - pad] += src[ow];
                }
            }
        });
    }

    pub(super) fn forward<T: Scalar, const O: usize, const K: usize, const NB: usize>(
        conv: &Conv<T, O, K, NB>,
        g: &ConvGeometry,
        x: &[T],
        out: &mut [T],
        batch: usize,
    ) -> bool {
        if g.groups != 1 || T::BYTES != 4 || !crate::simd::gemm_runs() {
            return false;
        }
        let per = chunk(g, O);
        if per == 0 {
            return false;
        }
        forward_chunks(conv, g, x, out, batch, per)
    }

    /// [`forward`] once it is known to apply: the stack buffers live in this frame only
    /// (an `f64` network, or a CPU without the products, never calls it, so never
    /// reserves them).
    #[inline(never)]
    fn forward_chunks<T: Scalar, const O: usize, const K: usize, const NB: usize>(
        conv: &Conv<T, O, K, NB>,
        g: &ConvGeometry,
        x: &[T],
        out: &mut [T],
        batch: usize,
        per: usize,
    ) -> bool {
        let positions = g.out_height() * g.out_width();
        let (inputs, outputs) = (g.inputs(), O * positions);
        let masks = masks(g);
        let mut col = [T::zero(); UNFOLD];
        let mut prod = [T::zero(); GATHER];
        let w = conv.weight.as_slice();
        let mut first = 0;
        while first < batch {
            let samples = per.min(batch - first);
            let m = samples * positions;
            let block = block(m, K);
            // prod[p + o * m] = sum_k col[p + k * m] w[k + o * K], a block of taps at a time
            // (the first block writes `prod`, the others add to it).
            let prod = &mut prod[..m * O];
            let mut k0 = 0;
            while k0 < K {
                let kn = block.min(K - k0);
                unfold(
                    g,
                    masks.as_ref(),
                    &x[first * inputs..],
                    samples,
                    k0,
                    kn,
                    &mut col,
                );
                let gemm = if k0 == 0 {
                    crate::simd::gemm_overwrite
                } else {
                    crate::simd::gemm
                };
                // Declines before anything was written (by type and CPU, never midway).
                if !gemm(
                    m,
                    O,
                    kn,
                    T::one(),
                    &col[..m * kn],
                    (1, m),
                    &w[k0..],
                    (1, K),
                    prod,
                    m,
                ) {
                    return false;
                }
                k0 += kn;
            }
            for s in 0..samples {
                let o_s = &mut out[(first + s) * outputs..][..outputs];
                for o in 0..O {
                    let b = if NB == O { conv.bias[o] } else { T::zero() };
                    let src = &prod[o * m + s * positions..][..positions];
                    for (d, &v) in o_s[o * positions..][..positions].iter_mut().zip(src) {
                        *d = v + b;
                    }
                }
            }
            first += samples;
        }
        true
    }

    #[allow(clippy::too_many_arguments)] // a layer's backward pass
    pub(super) fn backward<T: Scalar, const O: usize, const K: usize, const NB: usize>(
        conv: &Conv<T, O, K, NB>,
        g: &ConvGeometry,
        x: &[T],
        dy: &[T],
        grad: &mut Conv<T, O, K, NB>,
        dx: Option<&mut [T]>,
        batch: usize,
    ) -> bool {
        if g.groups != 1 || T::BYTES != 4 || !crate::simd::gemm_runs() {
            return false;
        }
        let per = chunk(g, O);
        if per == 0 {
            return false;
        }
        backward_chunks(conv, g, x, dy, grad, dx, batch, per)
    }

    /// [`backward`] once it is known to apply (see [`forward_chunks`]).
    ///
    /// The weight gradient is made transposed, `dWt[o + k * O]`, in a buffer of its own
    /// when it fits [`GRADIENT`]: its product then reads the output gradient gathered
    /// channel-fastest (`dyt`, one pass over it per chunk) and the unfolded patches as
    /// they are, where `dW[k + o * K]` directly would need the patches transposed (a
    /// scalar copy of every unfolded value). It is added into `grad` once, at the end.
    #[inline(never)]
    #[allow(clippy::too_many_arguments)] // a layer's backward pass
    fn backward_chunks<T: Scalar, const O: usize, const K: usize, const NB: usize>(
        conv: &Conv<T, O, K, NB>,
        g: &ConvGeometry,
        x: &[T],
        dy: &[T],
        grad: &mut Conv<T, O, K, NB>,
        mut dx: Option<&mut [T]>,
        batch: usize,
        per: usize,
    ) -> bool {
        let positions = g.out_height() * g.out_width();
        let (inputs, outputs) = (g.inputs(), O * positions);
        let masks = masks(g);
        let mut col = [T::zero(); UNFOLD];
        let mut dys = [T::zero(); GATHER];
        let transposed = O * K <= GRADIENT;
        let mut dyt = [T::zero(); GATHER];
        let mut dwt = [T::zero(); GRADIENT];
        let w = conv.weight.as_slice();
        let mut first = 0;
        while first < batch {
            let samples = per.min(batch - first);
            let m = samples * positions;
            let block = block(m, K);
            let dy = &dy[first * outputs..(first + samples) * outputs];
            // dys[p + o * m]: the chunk's output gradient, sample-major per channel (what
            // the input gradient's product reads, and the weight gradient's when it is
            // not transposed).
            if dx.is_some() || !transposed {
                for (s, d_s) in dy.chunks_exact(outputs).enumerate() {
                    for (o, src) in d_s.chunks_exact(positions).enumerate() {
                        dys[o * m + s * positions..][..positions].copy_from_slice(src);
                    }
                }
            }
            let dys = &dys[..m * O];
            // dyt[o + p * O]: the same, channel-fastest, written in order.
            if transposed {
                for (d_s, t_s) in dy.chunks_exact(outputs).zip(dyt.chunks_exact_mut(outputs)) {
                    for (q, t) in t_s.chunks_exact_mut(O).enumerate() {
                        for (o, v) in t.iter_mut().enumerate() {
                            *v = d_s[o * positions + q];
                        }
                    }
                }
            }
            if let Some(dx) = dx.as_deref_mut() {
                dx[first * inputs..(first + samples) * inputs].fill(T::zero());
            }
            let mut k0 = 0;
            while k0 < K {
                let kn = block.min(K - k0);
                unfold(
                    g,
                    masks.as_ref(),
                    &x[first * inputs..],
                    samples,
                    k0,
                    kn,
                    &mut col,
                );
                let patches = &col[..m * kn];
                // The first product declines before anything changed (by type and CPU).
                let done = if transposed {
                    // dWt[o + (k0 + j) * O] (+)= sum_p dyt[o + p * O] col[p + j * m]; the
                    // first chunk writes it.
                    let gemm = if first == 0 {
                        crate::simd::gemm_overwrite
                    } else {
                        crate::simd::gemm
                    };
                    let dwt = &mut dwt[k0 * O..][..kn * O];
                    gemm(
                        O,
                        kn,
                        m,
                        T::one(),
                        &dyt[..m * O],
                        (1, O),
                        patches,
                        (1, m),
                        dwt,
                        O,
                    )
                } else {
                    // dW[k0 + j + o * K] += sum_p col[p + j * m] dys[p + o * m].
                    let dw = &mut grad.weight.as_mut_slice()[k0..];
                    crate::simd::gemm(kn, O, m, T::one(), patches, (m, 1), dys, (1, m), dw, K)
                };
                if !done {
                    return false;
                }
                if let Some(dx) = dx.as_deref_mut() {
                    // dcol[p + j * m] = sum_o dys[p + o * m] w[k0 + j + o * K], folded back.
                    let dcol = &mut col[..m * kn];
                    if !crate::simd::gemm_overwrite(
                        m,
                        kn,
                        O,
                        T::one(),
                        dys,
                        (1, m),
                        &w[k0..],
                        (K, 1),
                        dcol,
                        m,
                    ) {
                        return false;
                    }
                    fold(
                        g,
                        masks.as_ref(),
                        dcol,
                        samples,
                        k0,
                        kn,
                        &mut dx[first * inputs..],
                    );
                }
                k0 += kn;
            }
            if NB == O && transposed {
                // Position after position, a vector of channels at a time: each channel's
                // sum in the same order as below, without a chain of dependent additions.
                let mut sums = [T::zero(); O];
                for t in dyt[..m * O].chunks_exact(O) {
                    for (sum, &v) in sums.iter_mut().zip(t) {
                        *sum += v;
                    }
                }
                for (b, sum) in grad.bias.as_mut_slice().iter_mut().zip(sums) {
                    *b += sum;
                }
            } else if NB == O {
                // Sample after sample, position after position.
                for o in 0..O {
                    let mut sum = T::zero();
                    for d_s in dy.chunks_exact(outputs) {
                        for &v in &d_s[o * positions..][..positions] {
                            sum += v;
                        }
                    }
                    grad.bias[o] += sum;
                }
            }
            first += samples;
        }
        if transposed {
            for (o, dw) in grad.weight.as_mut_slice().chunks_exact_mut(K).enumerate() {
                for (k, d) in dw.iter_mut().enumerate() {
                    *d += dwt[o + k * O];
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    /// A seeded matrix with values in `[-1, 1)`.
    fn random<const R: usize, const C: usize>(seed: u64) -> SMatrix<f64, R, C> {
        let mut rng = Rng::seed_from_u64(seed);
        SMatrix::from_fn(|_, _| rng.uniform(-1.0, 1.0))
    }

    #[test]
    fn output_lengths_are_pytorchs() {
        // torch.nn.Conv1d(1, 1, 3)(torch.zeros(1, 1, 10)).shape[-1] == 8, and so on.
        assert_eq!(out_len(10, 0, 3, 1, 1), 8);
        assert_eq!(out_len(10, 2, 3, 2, 1), 5);
        assert_eq!(out_len(10, 0, 3, 1, 4), 2);
        assert_eq!(out_len(7, 4, 4, 3, 2), 2);
        assert_eq!(out_len(2, 0, 3, 1, 1), 0);
        let g = ConvGeometry::one_d(4, 9, 6, 3, 2, (1, 1), 1, 2);
        assert_eq!((g.out_width(), g.filter_len(), g.problem()), (5, 6, None));
        let bad = ConvGeometry { groups: 3, ..g };
        assert!(bad.problem().unwrap().contains("divisible"));
    }

    #[test]
    fn by_hand_one_dimensional_with_padding_stride_and_dilation() {
        // One channel, [1, 2, 3, 4, 5], kernel [1, 0, -1], dilation 2, padding 2,
        // stride 2: taps at i - 2, i, i + 2 of the padded signal; outputs at i = 0, 2, 4.
        let g = ConvGeometry::one_d(1, 5, 1, 3, 2, (2, 2), 2, 1);
        assert_eq!(g.out_width(), 3);
        let conv = Conv::<f64, 1, 3, 1> {
            weight: SMatrix::from_column_slice(&[1.0, 0.0, -1.0]),
            bias: SVector::from_element(0.5),
        };
        let x = SMatrix::<f64, 5, 1>::from_column_slice(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        let mut out = SMatrix::<f64, 3, 1>::zeros();
        conv.forward(&g, &x, &mut out);
        // i = 0: 0 - 3; i = 2: 1 - 5; i = 4: 3 - 0 (padding); plus the bias.
        assert_eq!(out.as_slice(), &[-2.5, -3.5, 3.5]);
    }

    /// Checks weight, bias and input gradients against central differences of
    /// `sum(out * probe)`, in f64.
    fn check<const O: usize, const K: usize, const NB: usize, const I: usize, const N: usize>(
        g: ConvGeometry,
    ) {
        assert_eq!(
            (g.problem(), g.inputs(), g.outputs(), g.filter_len()),
            (None, I, N, K)
        );
        let mut conv = Conv::<f64, O, K, NB>::zeros();
        conv.weight = random(1);
        conv.bias = random(2);
        let x = random::<I, 3>(3);
        let probe = random::<N, 3>(4);
        let loss = |c: &Conv<f64, O, K, NB>, x: &SMatrix<f64, I, 3>| {
            let mut out = SMatrix::<f64, N, 3>::zeros();
            c.forward(&g, x, &mut out);
            out.component_mul(&probe).sum()
        };
        let mut grad = Conv::<f64, O, K, NB>::zeros();
        let mut dx = SMatrix::<f64, I, 3>::from_element(7.0);
        conv.backward(&g, &x, &probe, &mut grad, Some(&mut dx));
        let h = 1e-6;
        for k in 0..O * K {
            let (mut plus, mut minus) = (conv.clone(), conv.clone());
            plus.weight[k] += h;
            minus.weight[k] -= h;
            let numeric = (loss(&plus, &x) - loss(&minus, &x)) / (2.0 * h);
            assert_relative_eq!(grad.weight[k], numeric, epsilon = 1e-8);
        }
        for k in 0..NB {
            let (mut plus, mut minus) = (conv.clone(), conv.clone());
            plus.bias[k] += h;
            minus.bias[k] -= h;
            let numeric = (loss(&plus, &x) - loss(&minus, &x)) / (2.0 * h);
            assert_relative_eq!(grad.bias[k], numeric, epsilon = 1e-8);
        }
        for k in 0..I * 3 {
            let (mut plus, mut minus) = (x, x);
            plus[k] += h;
            minus[k] -= h;
            let numeric = (loss(&conv, &plus) - loss(&conv, &minus)) / (2.0 * h);
            assert_relative_eq!(dx[k], numeric, epsilon = 1e-8);
        }
    }

    /// The matrix-product path (f32, `simd`, a CPU that has it) against the direct
    /// loops: forward, weight, bias and input gradients, for batches that span several
    /// chunks and a partial last one.
    #[cfg(feature = "simd")]
    fn compare<const O: usize, const K: usize, const I: usize, const N: usize>(g: ConvGeometry) {
        const B: usize = 37;
        let mut conv = Conv::<f32, O, K, O>::zeros();
        conv.weight = random::<K, O>(1).map(|v| v as f32);
        conv.bias = random::<O, 1>(2).map(|v| v as f32);
        let x = random::<I, B>(3).map(|v| v as f32);
        let dy = random::<N, B>(4).map(|v| v as f32);
        let mut fast = SMatrix::<f32, N, B>::zeros();
        conv.forward(&g, &x, &mut fast);
        let (mut grad_fast, mut dx_fast) = (Conv::zeros(), SMatrix::<f32, I, B>::zeros());
        conv.backward(&g, &x, &dy, &mut grad_fast, Some(&mut dx_fast));
        // The direct loops, sample by sample.
        let mut slow = SMatrix::<f32, N, B>::zeros();
        let (mut grad_slow, mut dx_slow) = (Conv::zeros(), SMatrix::<f32, I, B>::zeros());
        for b in 0..B {
            conv.forward_sample(
                &g,
                x.column(b).as_slice(),
                &mut slow.as_mut_slice()[b * N..][..N],
            );
            conv.backward_sample(
                &g,
                x.column(b).as_slice(),
                dy.column(b).as_slice(),
                &mut grad_slow,
                Some(&mut dx_slow.as_mut_slice()[b * I..][..I]),
            );
        }
        let close = |a: &[f32], b: &[f32]| {
            for (x, y) in a.iter().zip(b) {
                assert_relative_eq!(x, y, epsilon = 1e-4, max_relative = 1e-4);
            }
        };
        close(fast.as_slice(), slow.as_slice());
        close(grad_fast.weight.as_slice(), grad_slow.weight.as_slice());
        close(grad_fast.bias.as_slice(), grad_slow.bias.as_slice());
        close(dx_fast.as_slice(), dx_slow.as_slice());
        // Gradients accumulate: a second pass adds as much again.
        conv.backward(&g, &x, &dy, &mut grad_fast, None);
        close(
            grad_fast.weight.as_slice(),
            (grad_slow.weight * 2.0).as_slice(),
        );
        close(grad_fast.bias.as_slice(), (grad_slow.bias * 2.0).as_slice());
    }

    #[cfg(feature = "simd")]
    #[test]
    fn matrix_products_match_the_direct_loops() {
        // Big matrices on the stack in a debug build: a thread with room for them.
        extern crate std;
        std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn(every_shape)
            .unwrap()
            .join()
            .unwrap();
    }

    /// An ungrouped 2-d geometry at stride 1: `in_channels x side x side`, a square
    /// kernel, the same padding on every side, the same dilation both ways.
    #[cfg(feature = "simd")]
    fn square(c: usize, side: usize, o: usize, k: usize, pad: usize, d: usize) -> ConvGeometry {
        ConvGeometry {
            in_channels: c,
            height: side,
            width: side,
            out_channels: o,
            kernel: (k, k),
            stride: (1, 1),
            pad_h: (pad, pad),
            pad_w: (pad, pad),
            dilation: (d, d),
            groups: 1,
        }
    }

    #[cfg(feature = "simd")]
    fn every_shape() {
        // The digits CNN's two layers, a strided dilated 1-d one, an asymmetric 2-d one.
        compare::<16, 9, 64, 1024>(square(1, 8, 16, 3, 1, 1));
        compare::<32, 144, 256, 512>(square(16, 4, 32, 3, 1, 1));
        compare::<5, 12, 60, 45>(ConvGeometry::one_d(3, 20, 5, 4, 2, (3, 0), 2, 1));
        // Planar (stride 1, outputs as wide as the inputs): causal and dilated; one tap
        // that sees only padding; 2-d dilated.
        compare::<5, 12, 60, 100>(ConvGeometry::one_d(3, 20, 5, 4, 1, (6, 0), 2, 1));
        compare::<3, 10, 4, 6>(ConvGeometry::one_d(2, 2, 3, 5, 1, (4, 0), 1, 1));
        compare::<4, 18, 72, 144>(square(2, 6, 4, 3, 2, 2));
        // A weight gradient too large for its transposed buffer (64 * 576 > GRADIENT).
        compare::<64, 576, 1024, 1024>(square(64, 4, 64, 3, 1, 1));
        // Without padding (the unfolded buffer is then not cleared first).
        compare::<5, 12, 60, 35>(ConvGeometry::one_d(3, 20, 5, 4, 2, (0, 0), 2, 1));
        compare::<3, 12, 60, 48>(ConvGeometry {
            in_channels: 2,
            height: 5,
            width: 6,
            out_channels: 3,
            kernel: (2, 3),
            stride: (1, 1),
            pad_h: (0, 0),
            pad_w: (0, 0),
            dilation: (1, 1),
            groups: 1,
        });
        compare::<3, 12, 60, 36>(ConvGeometry {
            in_channels: 2,
            height: 5,
            width: 6,
            out_channels: 3,
            kernel: (2, 3),
            stride: (2, 1),
            pad_h: (0, 1),
            pad_w: (2, 0),
            dilation: (1, 2),
            groups: 1,
        });
    }

    #[test]
    fn gradients_match_finite_differences() {
        // Plain, padded "same" (an even kernel: one more on the right, as PyTorch),
        // strided, causal and dilated (all padding on the left), grouped without bias,
        // depthwise; 1-d and 2-d.
        check::<3, 6, 3, 14, 15>(ConvGeometry::one_d(2, 7, 3, 3, 1, (0, 0), 1, 1));
        check::<2, 8, 2, 18, 18>(ConvGeometry::one_d(2, 9, 2, 4, 1, (1, 2), 1, 1));
        check::<4, 6, 4, 18, 20>(ConvGeometry::one_d(2, 9, 4, 3, 2, (1, 1), 1, 1));
        check::<2, 3, 2, 10, 20>(ConvGeometry::one_d(1, 10, 2, 3, 1, (6, 0), 3, 1));
        check::<4, 6, 0, 16, 16>(ConvGeometry::one_d(4, 4, 4, 3, 1, (1, 1), 1, 2));
        check::<3, 3, 3, 15, 15>(ConvGeometry::one_d(3, 5, 3, 3, 1, (1, 1), 1, 3));
        // Causal over a sequence shorter than the kernel: the first tap sees only padding.
        check::<3, 10, 3, 4, 6>(ConvGeometry::one_d(2, 2, 3, 5, 1, (4, 0), 1, 1));
        let g = ConvGeometry {
            in_channels: 2,
            height: 5,
            width: 4,
            out_channels: 4,
            kernel: (3, 2),
            stride: (2, 1),
            pad_h: (1, 1),
            pad_w: (0, 1),
            dilation: (1, 2),
            groups: 2,
        };
        assert_eq!((g.out_height(), g.out_width()), (3, 3));
        check::<4, 6, 4, 40, 36>(g);
    }
}
