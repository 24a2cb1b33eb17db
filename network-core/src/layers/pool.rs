//! Pooling over `[C, L]` and `[C, H, W]` values with PyTorch's semantics: max pooling
//! (`MaxPool1d/2d`, padding counts as minus infinity, the first maximum wins and NaN
//! propagates), average pooling (`AvgPool1d/2d` with `count_include_pad=True`, PyTorch's
//! default) and global average pooling (`AdaptiveAvgPool(1)`: one mean per channel).
//!
//! Max pooling records, for each output, which value of its window won: one byte per
//! output (windows hold at most [`MAX_WINDOW`] values), which is all its backward pass
//! needs. Like convolutions, a 1-d pooling is a 2-d one with height 1.

use nalgebra::SMatrix;

use crate::layers::conv::out_len;
use crate::Scalar;

/// The most values a max-pooling window may hold: its winner is stored in one byte.
pub const MAX_WINDOW: usize = 256;

/// The shape arithmetic of a pooling: input `[channels, height, width]`, output
/// `[channels, out_height(), out_width()]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolGeometry {
    /// Channels (unchanged).
    pub channels: usize,
    /// Input height (1 for 1-d pooling).
    pub height: usize,
    /// Input width (the length of a 1-d signal).
    pub width: usize,
    /// Window `(height, width)`.
    pub kernel: (usize, usize),
    /// Stride `(vertical, horizontal)`; PyTorch's default is the window.
    pub stride: (usize, usize),
    /// Padding on both sides `(vertical, horizontal)`, at most half the window.
    pub padding: (usize, usize),
}

impl PoolGeometry {
    /// A 1-d pooling over `[channels, length]`.
    pub const fn one_d(
        channels: usize,
        length: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> Self {
        Self {
            channels,
            height: 1,
            width: length,
            kernel: (1, kernel),
            stride: (1, stride),
            padding: (0, padding),
        }
    }

    /// Output height.
    pub const fn out_height(&self) -> usize {
        out_len(
            self.height,
            2 * self.padding.0,
            self.kernel.0,
            self.stride.0,
            1,
        )
    }

    /// Output width.
    pub const fn out_width(&self) -> usize {
        out_len(
            self.width,
            2 * self.padding.1,
            self.kernel.1,
            self.stride.1,
            1,
        )
    }

    /// Input values per sample.
    pub const fn inputs(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Output values per sample.
    pub const fn outputs(&self) -> usize {
        self.channels * self.out_height() * self.out_width()
    }

    /// Why the geometry cannot work, or `None`: the rules `network!` enforces at compile
    /// time (with its own arithmetic and messages), for code that uses pooling directly.
    pub const fn problem(&self) -> Option<&'static str> {
        if self.channels == 0 || self.height == 0 || self.width == 0 {
            Some("pooling needs at least one channel and one position")
        } else if self.kernel.0 == 0 || self.kernel.1 == 0 {
            Some("the window must be at least 1")
        } else if self.stride.0 == 0 || self.stride.1 == 0 {
            Some("the stride must be at least 1")
        } else if 2 * self.padding.0 > self.kernel.0 || 2 * self.padding.1 > self.kernel.1 {
            Some("the padding must be at most half the window (as in PyTorch)")
        } else if self.kernel.0 * self.kernel.1 > MAX_WINDOW {
            Some("a pooling window holds at most 256 values")
        } else if self.out_height() == 0 || self.out_width() == 0 {
            Some("the window is larger than the padded input")
        } else {
            None
        }
    }

    /// Calls `f(output index, rows, columns, top, left)` once per window of one channel
    /// plane: the window covers input `rows` x `columns` (already clamped to the input:
    /// padding is skipped, which never changes a result since a window is at most half
    /// padding), and its slot `(kh, kw)` holds input `(top + kh - padding.0, left + kw -
    /// padding.1)`.
    #[inline(always)]
    pub(crate) fn windows(
        &self,
        mut f: impl FnMut(usize, core::ops::Range<usize>, core::ops::Range<usize>, usize, usize),
    ) {
        let (ho, wo) = (self.out_height(), self.out_width());
        for oh in 0..ho {
            let top = oh * self.stride.0;
            let rows = top.max(self.padding.0) - self.padding.0
                ..(top + self.kernel.0).min(self.height + self.padding.0) - self.padding.0;
            for ow in 0..wo {
                let left = ow * self.stride.1;
                let columns = left.max(self.padding.1) - self.padding.1
                    ..(left + self.kernel.1).min(self.width + self.padding.1) - self.padding.1;
                f(oh * wo + ow, rows.clone(), columns, top, left);
            }
        }
    }

    /// The input index of window slot `slot` of the window at `(top, left)`.
    #[inline(always)]
    fn slot_input(&self, slot: usize, top: usize, left: usize) -> usize {
        let (kh, kw) = (slot / self.kernel.1, slot % self.kernel.1);
        (top + kh - self.padding.0) * self.width + left + kw - self.padding.1
    }
}

/// Max pooling of a batch; `winners`, when given, receives per output the winning slot
/// of its window (row-major within the window), which backward needs.
pub fn max_pool_forward<T: Scalar, const I: usize, const N: usize, const B: usize>(
    g: &PoolGeometry,
    x: &SMatrix<T, I, B>,
    out: &mut SMatrix<T, N, B>,
    winners: Option<&mut SMatrix<u8, N, B>>,
) {
    let mut winners = winners;
    for (b, (xc, oc)) in x
        .as_slice()
        .chunks_exact(I.max(1))
        .zip(out.as_mut_slice().chunks_exact_mut(N.max(1)))
        .enumerate()
    {
        let wc = winners
            .as_deref_mut()
            .map(|w| &mut w.as_mut_slice()[b * N..(b + 1) * N]);
        T::max_pool_sample(g, xc, oc, wc);
    }
}

/// The input gradient of max pooling: each output's gradient goes to its window's
/// winner (overwrites `dx`).
pub fn max_pool_backward<T: Scalar, const I: usize, const N: usize, const B: usize>(
    g: &PoolGeometry,
    dy: &SMatrix<T, N, B>,
    winners: &SMatrix<u8, N, B>,
    dx: &mut SMatrix<T, I, B>,
) {
    for ((dyc, dxc), wc) in dy
        .as_slice()
        .chunks_exact(N.max(1))
        .zip(dx.as_mut_slice().chunks_exact_mut(I.max(1)))
        .zip(winners.as_slice().chunks_exact(N.max(1)))
    {
        T::max_pool_back_sample(g, dyc, wc, dxc);
    }
}

/// Average pooling of a batch, dividing by the whole window (padding included).
pub fn avg_pool_forward<T: Scalar, const I: usize, const N: usize, const B: usize>(
    g: &PoolGeometry,
    x: &SMatrix<T, I, B>,
    out: &mut SMatrix<T, N, B>,
) {
    for (xc, oc) in x
        .as_slice()
        .chunks_exact(I.max(1))
        .zip(out.as_mut_slice().chunks_exact_mut(N.max(1)))
    {
        T::avg_pool_sample(g, xc, oc);
    }
}

/// The input gradient of average pooling (overwrites `dx`).
pub fn avg_pool_backward<T: Scalar, const I: usize, const N: usize, const B: usize>(
    g: &PoolGeometry,
    dy: &SMatrix<T, N, B>,
    dx: &mut SMatrix<T, I, B>,
) {
    for (dyc, dxc) in dy
        .as_slice()
        .chunks_exact(N.max(1))
        .zip(dx.as_mut_slice().chunks_exact_mut(I.max(1)))
    {
        T::avg_pool_back_sample(g, dyc, dxc);
    }
}

// The per-sample loops, reached through `Scalar` so that they are compiled, optimized,
// in this crate for `f32` and `f64`.

/// Max pooling of one sample.
pub(crate) fn max_sample<T: Scalar>(
    g: &PoolGeometry,
    x: &[T],
    out: &mut [T],
    winners: Option<&mut [u8]>,
) {
    if g.padding == (0, 0) {
        max_sample_unpadded(g, x, out, winners);
    } else {
        max_sample_windows(g, x, out, winners);
    }
}

/// Max pooling of one sample, window by window (any padding).
fn max_sample_windows<T: Scalar>(
    g: &PoolGeometry,
    x: &[T],
    out: &mut [T],
    mut winners: Option<&mut [u8]>,
) {
    let (plane_in, plane_out) = (g.height * g.width, g.out_height() * g.out_width());
    for c in 0..g.channels {
        let xp = &x[c * plane_in..][..plane_in];
        let op = &mut out[c * plane_out..][..plane_out];
        let mut wp = winners
            .as_deref_mut()
            .map(|w| &mut w[c * plane_out..][..plane_out]);
        g.windows(|o, rows, columns, top, left| {
            let (mut best, mut slot) = (T::of(f64::NEG_INFINITY), 0);
            for ih in rows {
                let row = &xp[ih * g.width..][..g.width];
                let kh = ih + g.padding.0 - top;
                for iw in columns.clone() {
                    let v = row[iw];
                    // PyTorch: `val > max || isnan(val)`: the first maximum wins, and a
                    // NaN wins and stays. Without short-circuits, so that the choice is a
                    // select, not a branch the data makes unpredictable.
                    #[allow(clippy::eq_op)] // `x != x`: NaN, for any scalar
                    let take = ((v > best) | (v != v)) & (best == best);
                    let here = kh * g.kernel.1 + iw + g.padding.1 - left;
                    best = if take { v } else { best };
                    slot = if take { here } else { slot };
                }
            }
            op[o] = best;
            if let Some(wp) = wp.as_deref_mut() {
                wp[o] = slot as u8;
            }
        });
    }
}

/// Max pooling without padding, the common case: every window lies inside the input, so
/// the loops run slot by slot over a whole output row (independent outputs, no clamping)
/// instead of window by window. Same choices as the general loop: the first maximum
/// wins, a NaN wins and stays.
fn max_sample_unpadded<T: Scalar>(
    g: &PoolGeometry,
    x: &[T],
    out: &mut [T],
    mut winners: Option<&mut [u8]>,
) {
    // A NaN anywhere takes the window loop, which gives it PyTorch's treatment; without
    // NaNs a comparison alone decides, which compiles to selects rather than branches
    // the data makes unpredictable.
    #[allow(clippy::eq_op)] // `v != v`: NaN, for any scalar
    if x.iter().fold(false, |nan, &v| nan | (v != v)) {
        return max_sample_windows(g, x, out, winners);
    }
    if g.kernel == (2, 2) && g.stride == (2, 2) {
        return max_sample_2x2(g, x, out, winners);
    }
    let (ho, wo) = (g.out_height(), g.out_width());
    let (plane_in, plane_out) = (g.height * g.width, ho * wo);
    let (kh_n, kw_n) = g.kernel;
    let (sh, sw) = g.stride;
    // The last window's columns, so that every row slice below is in bounds.
    let span = (wo - 1) * sw + kw_n;
    for c in 0..g.channels {
        let xp = &x[c * plane_in..][..plane_in];
        for oh in 0..ho {
            let orow = &mut out[c * plane_out + oh * wo..][..wo];
            let first = &xp[oh * sh * g.width..][..span];
            for (o, v) in orow.iter_mut().zip(first.iter().step_by(sw)) {
                *o = *v;
            }
            let mut wrow = winners
                .as_deref_mut()
                .map(|w| &mut w[c * plane_out + oh * wo..][..wo]);
            if let Some(w) = wrow.as_deref_mut() {
                w.fill(0);
            }
            for kh in 0..kh_n {
                let row = &xp[(oh * sh + kh) * g.width..][..span];
                for kw in 0..kw_n {
                    if kh == 0 && kw == 0 {
                        continue;
                    }
                    let here = (kh * kw_n + kw) as u8;
                    let taps = row[kw..].iter().step_by(sw);
                    match wrow.as_deref_mut() {
                        Some(w) => {
                            for ((best, slot), &v) in orow.iter_mut().zip(w.iter_mut()).zip(taps) {
                                let take = v > *best;
                                *best = if take { v } else { *best };
                                // A mask rather than a select: no branch on the data.
                                let mask = 0u8.wrapping_sub(u8::from(take));
                                *slot ^= (*slot ^ here) & mask;
                            }
                        }
                        None => {
                            for (best, &v) in orow.iter_mut().zip(taps) {
                                *best = if v > *best { v } else { *best };
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The most common pooling, 2x2 windows at stride 2 without NaNs: each pair of input
/// rows is read as pairs of columns, so the compiler sees four contiguous taps per
/// output and vectorizes across outputs. Same choices as the other loops (the first
/// maximum in row-major window order wins).
fn max_sample_2x2<T: Scalar>(g: &PoolGeometry, x: &[T], out: &mut [T], winners: Option<&mut [u8]>) {
    let (ho, wo) = (g.out_height(), g.out_width());
    let (plane_in, plane_out) = (g.height * g.width, ho * wo);
    let pick = |best: &mut T, slot: &mut u8, v: T, here: u8| {
        let take = v > *best;
        *best = if take { v } else { *best };
        *slot ^= (*slot ^ here) & 0u8.wrapping_sub(u8::from(take));
    };
    match winners {
        Some(winners) => {
            for c in 0..g.channels {
                let xp = &x[c * plane_in..][..plane_in];
                let op = &mut out[c * plane_out..][..plane_out];
                let wp = &mut winners[c * plane_out..][..plane_out];
                for (oh, (orow, wrow)) in op
                    .chunks_exact_mut(wo)
                    .zip(wp.chunks_exact_mut(wo))
                    .enumerate()
                {
                    let top = &xp[2 * oh * g.width..][..2 * wo];
                    let bottom = &xp[(2 * oh + 1) * g.width..][..2 * wo];
                    for (((o, w), t), b) in orow
                        .iter_mut()
                        .zip(wrow.iter_mut())
                        .zip(top.chunks_exact(2))
                        .zip(bottom.chunks_exact(2))
                    {
                        let (mut best, mut slot) = (t[0], 0u8);
                        pick(&mut best, &mut slot, t[1], 1);
                        pick(&mut best, &mut slot, b[0], 2);
                        pick(&mut best, &mut slot, b[1], 3);
                        *o = best;
                        *w = slot;
                    }
                }
            }
        }
        None => {
            for c in 0..g.channels {
                let xp = &x[c * plane_in..][..plane_in];
                let op = &mut out[c * plane_out..][..plane_out];
                for (oh, orow) in op.chunks_exact_mut(wo).enumerate() {
                    let top = &xp[2 * oh * g.width..][..2 * wo];
                    let bottom = &xp[(2 * oh + 1) * g.width..][..2 * wo];
                    for ((o, t), b) in orow
                        .iter_mut()
                        .zip(top.chunks_exact(2))
                        .zip(bottom.chunks_exact(2))
                    {
                        let mut best = t[0];
                        for v in [t[1], b[0], b[1]] {
                            best = if v > best { v } else { best };
                        }
                        *o = best;
                    }
                }
            }
        }
    }
}

/// Max pooling's input gradient for one sample (overwrites `dx`).
pub(crate) fn max_back_sample<T: Scalar>(g: &PoolGeometry, dy: &[T], winners: &[u8], dx: &mut [T]) {
    if g.padding == (0, 0) {
        max_back_unpadded(g, dy, winners, dx);
    } else {
        max_back_windows(g, dy, winners, dx);
    }
}

/// [`max_back_sample`] without padding: a slot's input is a fixed offset from its
/// window's corner (a table, instead of a division per window).
fn max_back_unpadded<T: Scalar>(g: &PoolGeometry, dy: &[T], winners: &[u8], dx: &mut [T]) {
    let (plane_in, plane_out) = (g.height * g.width, g.out_height() * g.out_width());
    dx.fill(T::zero());
    {
        let mut offsets = [0usize; MAX_WINDOW];
        for (slot, offset) in offsets[..g.kernel.0 * g.kernel.1].iter_mut().enumerate() {
            *offset = slot / g.kernel.1 * g.width + slot % g.kernel.1;
        }
        let wo = g.out_width();
        for c in 0..g.channels {
            let dyp = &dy[c * plane_out..][..plane_out];
            let dxp = &mut dx[c * plane_in..][..plane_in];
            let wp = &winners[c * plane_out..][..plane_out];
            for (oh, (drow, wrow)) in dyp.chunks_exact(wo).zip(wp.chunks_exact(wo)).enumerate() {
                let top = oh * g.stride.0 * g.width;
                for (ow, (&d, &slot)) in drow.iter().zip(wrow).enumerate() {
                    dxp[top + ow * g.stride.1 + offsets[usize::from(slot)]] += d;
                }
            }
        }
    }
}

/// [`max_back_sample`] window by window (any padding).
fn max_back_windows<T: Scalar>(g: &PoolGeometry, dy: &[T], winners: &[u8], dx: &mut [T]) {
    let (plane_in, plane_out) = (g.height * g.width, g.out_height() * g.out_width());
    dx.fill(T::zero());
    for c in 0..g.channels {
        let dyp = &dy[c * plane_out..][..plane_out];
        let dxp = &mut dx[c * plane_in..][..plane_in];
        let wp = &winners[c * plane_out..][..plane_out];
        // Each output's gradient goes straight to its recorded winner.
        g.windows(|o, _, _, top, left| {
            dxp[g.slot_input(usize::from(wp[o]), top, left)] += dyp[o];
        });
    }
}

/// Average pooling of one sample.
pub(crate) fn avg_sample<T: Scalar>(g: &PoolGeometry, x: &[T], out: &mut [T]) {
    let (plane_in, plane_out) = (g.height * g.width, g.out_height() * g.out_width());
    let scale = T::one() / T::of((g.kernel.0 * g.kernel.1) as f64);
    for c in 0..g.channels {
        let xp = &x[c * plane_in..][..plane_in];
        let op = &mut out[c * plane_out..][..plane_out];
        g.windows(|o, rows, columns, _, _| {
            let mut sum = T::zero();
            for ih in rows {
                for &v in &xp[ih * g.width..][columns.clone()] {
                    sum += v;
                }
            }
            op[o] = sum * scale;
        });
    }
}

/// Average pooling's input gradient for one sample (overwrites `dx`).
pub(crate) fn avg_back_sample<T: Scalar>(g: &PoolGeometry, dy: &[T], dx: &mut [T]) {
    let (plane_in, plane_out) = (g.height * g.width, g.out_height() * g.out_width());
    let scale = T::one() / T::of((g.kernel.0 * g.kernel.1) as f64);
    dx.fill(T::zero());
    for c in 0..g.channels {
        let dyp = &dy[c * plane_out..][..plane_out];
        let dxp = &mut dx[c * plane_in..][..plane_in];
        g.windows(|o, rows, columns, _, _| {
            let d = dyp[o] * scale;
            for ih in rows {
                for v in &mut dxp[ih * g.width..][columns.clone()] {
                    *v += d;
                }
            }
        });
    }
}

/// Global average pooling: `[C, positions]` to `[C]`, the mean of each channel.
pub fn global_avg_forward<T: Scalar, const I: usize, const C: usize, const B: usize>(
    x: &SMatrix<T, I, B>,
    out: &mut SMatrix<T, C, B>,
) {
    let positions = I / C.max(1);
    let scale = T::one() / T::of(positions.max(1) as f64);
    for (xc, oc) in x
        .as_slice()
        .chunks_exact(I.max(1))
        .zip(out.as_mut_slice().chunks_exact_mut(C.max(1)))
    {
        for (o, plane) in oc.iter_mut().zip(xc.chunks_exact(positions.max(1))) {
            let mut sum = T::zero();
            for &v in plane {
                sum += v;
            }
            *o = sum * scale;
        }
    }
}

/// The input gradient of global average pooling (overwrites `dx`).
pub fn global_avg_backward<T: Scalar, const I: usize, const C: usize, const B: usize>(
    dy: &SMatrix<T, C, B>,
    dx: &mut SMatrix<T, I, B>,
) {
    let positions = I / C.max(1);
    let scale = T::one() / T::of(positions.max(1) as f64);
    for (dyc, dxc) in dy
        .as_slice()
        .chunks_exact(C.max(1))
        .zip(dx.as_mut_slice().chunks_exact_mut(I.max(1)))
    {
        for (&d, plane) in dyc.iter().zip(dxc.chunks_exact_mut(positions.max(1))) {
            plane.fill(d * scale);
        }
    }
}

/// Swaps the two dimensions of each sample: `[rows, I / rows]` to `[I / rows, rows]`
/// (PyTorch's `x.transpose(1, 2)`): a signal `[C, L]` becomes the sequence `[L, C]` a
/// recurrent layer reads, and back. Its backward pass is the same function with the
/// output's rows.
pub fn transpose<T: Scalar, const I: usize, const B: usize>(
    rows: usize,
    x: &SMatrix<T, I, B>,
    out: &mut SMatrix<T, I, B>,
) {
    let cols = I / rows.max(1);
    for (xs, os) in x
        .as_slice()
        .chunks_exact(I.max(1))
        .zip(out.as_mut_slice().chunks_exact_mut(I.max(1)))
    {
        for (i, row) in xs.chunks_exact(cols.max(1)).enumerate() {
            for (j, &v) in row.iter().enumerate() {
                os[j * rows + i] = v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    #[test]
    fn max_pool_by_hand_with_padding_and_ties() {
        // One channel [3, 1, 4, 1, 5, 9, 2], window 3, stride 2, padding 1:
        // windows (pad, 3, 1), (1, 4, 1), (1, 5, 9), (9, 2, pad).
        let g = PoolGeometry::one_d(1, 7, 3, 2, 1);
        assert_eq!((g.out_width(), g.problem()), (4, None));
        let x = SMatrix::<f64, 7, 1>::from_column_slice(&[3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0]);
        let mut out = SMatrix::<f64, 4, 1>::zeros();
        let mut winners = SMatrix::<u8, 4, 1>::zeros();
        max_pool_forward(&g, &x, &mut out, Some(&mut winners));
        assert_eq!(out.as_slice(), &[3.0, 4.0, 9.0, 9.0]);
        assert_eq!(winners.as_slice(), &[1, 1, 2, 0]);
        let dy = SMatrix::<f64, 4, 1>::from_column_slice(&[1.0, 10.0, 100.0, 1000.0]);
        let mut dx = SMatrix::<f64, 7, 1>::from_element(5.0);
        max_pool_backward(&g, &dy, &winners, &mut dx);
        // The 9 won twice: its gradient is the sum.
        assert_eq!(dx.as_slice(), &[1.0, 0.0, 10.0, 0.0, 0.0, 1100.0, 0.0]);
        // Ties: the first wins (slot 1 of the first window); NaN wins and propagates.
        let x = SMatrix::<f64, 7, 1>::from_column_slice(&[2.0, 2.0, 2.0, f64::NAN, 1.0, 1.0, 1.0]);
        max_pool_forward(&g, &x, &mut out, Some(&mut winners));
        assert_eq!((out[0], &winners.as_slice()[..2]), (2.0, &[1, 2][..]));
        assert!(out[1].is_nan() && out[2].is_nan());
    }

    fn bits(values: &[f32]) -> [u32; 84] {
        let mut out = [0; 84];
        for (o, v) in out.iter_mut().zip(values) {
            *o = v.to_bits();
        }
        out
    }

    #[test]
    fn unpadded_loops_choose_like_the_window_loops() {
        // Overlapping, exact and gapped windows, 1-d and 2-d, over values with many ties,
        // infinities and NaNs: the same outputs, winners and input gradients.
        // Without NaNs too: a NaN anywhere sends a sample to the window loop.
        let mut rng = crate::Rng::seed_from_u64(7);
        let with_nan = [0.5, 0.5, -1.0, 2.0, f32::NAN, f32::NEG_INFINITY, 0.0, -0.0];
        let without = [0.5, 0.5, -1.0, 2.0, 3.0, f32::NEG_INFINITY, 0.0, -0.0];
        for ((kernel, stride), pool) in [
            ((2, 2), (2, 2)),
            ((2, 2), (1, 2)),
            ((3, 2), (1, 2)),
            ((2, 3), (3, 1)),
            ((1, 4), (1, 3)),
        ]
        .into_iter()
        .flat_map(|geometry| [(geometry, with_nan), (geometry, without)])
        {
            let g = PoolGeometry {
                channels: 2,
                height: 6,
                width: 7,
                kernel,
                stride,
                padding: (0, 0),
            };
            assert_eq!(g.problem(), None);
            let x: [f32; 84] = core::array::from_fn(|_| pool[rng.below(pool.len())]);
            let n = g.outputs();
            let (mut fast, mut slow) = ([0.0f32; 84], [0.0f32; 84]);
            let (mut wf, mut ws) = ([0u8; 84], [0u8; 84]);
            max_sample_unpadded(&g, &x, &mut fast[..n], Some(&mut wf[..n]));
            max_sample_windows(&g, &x, &mut slow[..n], Some(&mut ws[..n]));
            assert_eq!(wf[..n], ws[..n]);
            assert_eq!(bits(&fast[..n]), bits(&slow[..n]));
            let mut inference = [0.0f32; 84];
            max_sample_unpadded(&g, &x, &mut inference[..n], None);
            assert_eq!(bits(&inference[..n]), bits(&slow[..n]));
            let dy: [f32; 84] = core::array::from_fn(|i| i as f32 + 1.0);
            let (mut df, mut ds) = ([9.0f32; 84], [9.0f32; 84]);
            max_back_unpadded(&g, &dy[..n], &wf[..n], &mut df);
            max_back_windows(&g, &dy[..n], &ws[..n], &mut ds);
            assert_eq!(df, ds);
        }
    }

    /// Central differences of `sum(out * probe)` against the backward pass, in f64.
    fn check_grad<const I: usize, const N: usize>(
        forward: impl Fn(&SMatrix<f64, I, 2>) -> SMatrix<f64, N, 2>,
        dx: SMatrix<f64, I, 2>,
        x: SMatrix<f64, I, 2>,
        probe: SMatrix<f64, N, 2>,
    ) {
        let h = 1e-6;
        for k in 0..I * 2 {
            let (mut plus, mut minus) = (x, x);
            plus[k] += h;
            minus[k] -= h;
            let numeric = (forward(&plus).component_mul(&probe).sum()
                - forward(&minus).component_mul(&probe).sum())
                / (2.0 * h);
            assert_relative_eq!(dx[k], numeric, epsilon = 1e-8, max_relative = 1e-6);
        }
    }

    fn distinct<const R: usize, const C: usize>(seed: u64) -> SMatrix<f64, R, C> {
        // Values far apart, so that a finite difference never changes a winner.
        let mut rng = crate::Rng::seed_from_u64(seed);
        let mut values: [usize; 64] = core::array::from_fn(|i| i);
        rng.shuffle(&mut values);
        SMatrix::from_fn(|r, c| values[(r + c * R) % 64] as f64 * 0.1 - 3.0)
    }

    #[test]
    fn gradients_match_finite_differences() {
        // 2-d: 2 channels of 5 x 4, window (3, 2), stride (2, 1), padding (1, 1).
        let g = PoolGeometry {
            channels: 2,
            height: 5,
            width: 4,
            kernel: (3, 2),
            stride: (2, 1),
            padding: (1, 1),
        };
        assert_eq!((g.out_height(), g.out_width(), g.problem()), (3, 5, None));
        let x = distinct::<40, 2>(1);
        let probe = distinct::<30, 2>(2);
        let max = |x: &SMatrix<f64, 40, 2>| {
            let mut out = SMatrix::<f64, 30, 2>::zeros();
            max_pool_forward(&g, x, &mut out, None);
            out
        };
        let mut winners = SMatrix::<u8, 30, 2>::zeros();
        max_pool_forward(
            &g,
            &x,
            &mut SMatrix::<f64, 30, 2>::zeros(),
            Some(&mut winners),
        );
        let mut dx = SMatrix::<f64, 40, 2>::zeros();
        max_pool_backward(&g, &probe, &winners, &mut dx);
        check_grad(max, dx, x, probe);

        let avg = |x: &SMatrix<f64, 40, 2>| {
            let mut out = SMatrix::<f64, 30, 2>::zeros();
            avg_pool_forward(&g, x, &mut out);
            out
        };
        avg_pool_backward(&g, &probe, &mut dx);
        check_grad(avg, dx, x, probe);

        // Global average: [4 channels, 6 positions] to [4].
        let x = distinct::<24, 2>(3);
        let probe = distinct::<4, 2>(4);
        let global = |x: &SMatrix<f64, 24, 2>| {
            let mut out = SMatrix::<f64, 4, 2>::zeros();
            global_avg_forward(x, &mut out);
            out
        };
        let mut dx = SMatrix::<f64, 24, 2>::zeros();
        global_avg_backward(&probe, &mut dx);
        check_grad(global, dx, x, probe);
        assert_relative_eq!(global(&x)[0], x.as_slice()[..6].iter().sum::<f64>() / 6.0);
    }
}
