//! Normalization layers: batch normalization (over the batch, per feature) and layer
//! normalization (over the features, per sample).

use nalgebra::{SMatrix, SVector};

use crate::{Scalar, Zeroable};

/// Batch normalization over the batch, per feature, with PyTorch's semantics
/// (`BatchNorm1d(N)`, momentum 0.1, eps 1e-5):
///
/// - in training, `y = weight * (x - mean) / sqrt(var + eps) + bias` with the batch's
///   mean and *biased* variance, and the running estimates move by
///   `running = (1 - momentum) running + momentum * batch` using the *unbiased* variance;
/// - at inference, the running estimates replace the batch's.
///
/// `weight` and `bias` are trained parameters (`<layer>.weight`, `<layer>.bias`);
/// `running_mean` and `running_var` are buffers, not trained. A batch of one sample has no
/// variance: its running estimates are left as they were.
#[derive(Clone, Debug, PartialEq)]
#[repr(C)]
pub struct BatchNorm<T: Scalar, const N: usize> {
    /// Scale `[N]` (PyTorch's `weight`, γ).
    pub weight: SVector<T, N>,
    /// Shift `[N]` (PyTorch's `bias`, β).
    pub bias: SVector<T, N>,
    /// Running mean `[N]` (buffer).
    pub running_mean: SVector<T, N>,
    /// Running variance `[N]` (buffer).
    pub running_var: SVector<T, N>,
    /// Training batches whose statistics moved the running estimates (PyTorch's
    /// `num_batches_tracked`, saved with the weights).
    pub num_batches_tracked: u64,
}

crate::zeroable::zeroable_struct!(
    [T: Scalar + Zeroable, const N: usize]
    BatchNorm<T, N> {
        weight, bias, running_mean, running_var, num_batches_tracked,
    }
);

/// PyTorch's default momentum of the running estimates.
pub const BATCH_NORM_MOMENTUM: f64 = 0.1;
/// PyTorch's default epsilon added to the variance.
pub const NORM_EPS: f64 = 1e-5;

impl<T: Scalar, const N: usize> BatchNorm<T, N> {
    /// Trainable scalars: `2 N`.
    pub const PARAMS: usize = 2 * N;
    /// Buffer scalars: `2 N`.
    pub const BUFFERS: usize = 2 * N;

    /// All zeros (the start of a gradient).
    pub fn zeros() -> Self {
        Self {
            weight: SVector::zeros(),
            bias: SVector::zeros(),
            running_mean: SVector::zeros(),
            running_var: SVector::zeros(),
            num_batches_tracked: 0,
        }
    }

    /// PyTorch's initial state: weight 1, bias 0, running mean 0, running variance 1.
    pub fn initialize(&mut self) {
        self.weight.fill(T::one());
        self.bias.fill(T::zero());
        self.running_mean.fill(T::zero());
        self.running_var.fill(T::one());
        self.num_batches_tracked = 0;
    }

    /// Training forward pass on a batch: writes the output, the normalized input `xhat`
    /// and `1 / sqrt(var + eps)` per feature; returns the batch mean and biased variance
    /// for [`update_running`](Self::update_running).
    pub fn normalize_batch<const B: usize>(
        &self,
        x: &SMatrix<T, N, B>,
        out: &mut SMatrix<T, N, B>,
        xhat: &mut SMatrix<T, N, B>,
        inv_std: &mut SVector<T, N>,
    ) -> (SVector<T, N>, SVector<T, N>) {
        self.normalize_channels(x, out, xhat, inv_std)
    }

    /// [`normalize_batch`](Self::normalize_batch) of shaped values (PyTorch's
    /// `BatchNorm1d` on `[C, L]`, `BatchNorm2d` on `[C, H, W]`): `N` channels of
    /// `I / N` positions each, one mean and variance per channel over the batch and the
    /// positions. With `I = N` it is the plain feature-wise batch norm.
    pub fn normalize_channels<const I: usize, const B: usize>(
        &self,
        x: &SMatrix<T, I, B>,
        out: &mut SMatrix<T, I, B>,
        xhat: &mut SMatrix<T, I, B>,
        inv_std: &mut SVector<T, N>,
    ) -> (SVector<T, N>, SVector<T, N>) {
        let positions = I / N.max(1);
        let count = T::of((B * positions).max(1) as f64);
        let eps = T::of(NORM_EPS);
        let mut mean = SVector::<T, N>::zeros();
        let mut var = SVector::<T, N>::zeros();
        for r in 0..N {
            let rows = r * positions..(r + 1) * positions;
            let mut sum = T::zero();
            for b in 0..B {
                for i in rows.clone() {
                    sum += x[(i, b)];
                }
            }
            let m = sum / count;
            let mut squares = T::zero();
            for b in 0..B {
                for i in rows.clone() {
                    let d = x[(i, b)] - m;
                    squares += d * d;
                }
            }
            let v = squares / count;
            let inv = T::one() / (v + eps).sqrt();
            for b in 0..B {
                for i in rows.clone() {
                    let h = (x[(i, b)] - m) * inv;
                    xhat[(i, b)] = h;
                    out[(i, b)] = self.weight[r] * h + self.bias[r];
                }
            }
            mean[r] = m;
            var[r] = v;
            inv_std[r] = inv;
        }
        (mean, var)
    }

    /// Moves the running estimates toward a batch's statistics (unbiased variance) and
    /// counts the batch. Non-finite statistics, or a batch of one, leave them unchanged.
    pub fn update_running<const B: usize>(&mut self, mean: &SVector<T, N>, var: &SVector<T, N>) {
        self.update_running_over(B, mean, var);
    }

    /// [`update_running`](Self::update_running) from statistics over `count` values per
    /// channel (the batch times the positions, for shaped values).
    pub fn update_running_over(&mut self, count: usize, mean: &SVector<T, N>, var: &SVector<T, N>) {
        if count < 2 || mean.iter().chain(var.iter()).any(|v| !v.is_finite()) {
            return;
        }
        let momentum = T::of(BATCH_NORM_MOMENTUM);
        let keep = T::one() - momentum;
        let unbias = T::of(count as f64 / (count - 1) as f64);
        self.num_batches_tracked = self.num_batches_tracked.saturating_add(1);
        for r in 0..N {
            self.running_mean[r] = keep * self.running_mean[r] + momentum * mean[r];
            self.running_var[r] = keep * self.running_var[r] + momentum * var[r] * unbias;
        }
    }

    /// Inference: normalizes with the running estimates.
    pub fn forward_inference<const B: usize>(
        &self,
        x: &SMatrix<T, N, B>,
        out: &mut SMatrix<T, N, B>,
    ) {
        self.forward_inference_channels(x, out)
    }

    /// [`forward_inference`](Self::forward_inference) of shaped values: `N` channels of
    /// `I / N` positions each.
    pub fn forward_inference_channels<const I: usize, const B: usize>(
        &self,
        x: &SMatrix<T, I, B>,
        out: &mut SMatrix<T, I, B>,
    ) {
        let positions = I / N.max(1);
        let eps = T::of(NORM_EPS);
        for r in 0..N {
            let scale = self.weight[r] / (self.running_var[r] + eps).sqrt();
            let shift = self.bias[r] - self.running_mean[r] * scale;
            for b in 0..B {
                for i in r * positions..(r + 1) * positions {
                    out[(i, b)] = x[(i, b)] * scale + shift;
                }
            }
        }
    }

    /// Inference of feature (or channel) `r` as an affine map `x * scale + shift`, in
    /// `f64`: what folding the batch norm into the layer before it multiplies that
    /// layer's weights and bias by, and adds (int8 quantization).
    pub fn folded(&self, r: usize) -> (f64, f64) {
        let scale = self.weight[r].as_f64() / libm::sqrt(self.running_var[r].as_f64() + NORM_EPS);
        (
            scale,
            self.bias[r].as_f64() - self.running_mean[r].as_f64() * scale,
        )
    }

    /// Plain SGD on the scale and shift from a gradient (`p -= lr g`); buffers untouched.
    pub fn sgd_apply(&mut self, grad: &Self, lr: T) {
        self.weight.axpy(-lr, &grad.weight, T::one());
        self.bias.axpy(-lr, &grad.bias, T::one());
    }

    /// Backward pass through the batch statistics: adds `dL/dweight` and `dL/dbias` to
    /// `grad` and writes `dL/dx`:
    /// `dx = weight * inv_std / B * (B dy - sum(dy) - xhat sum(dy xhat))`.
    pub fn backward<const B: usize>(
        &self,
        xhat: &SMatrix<T, N, B>,
        inv_std: &SVector<T, N>,
        dy: &SMatrix<T, N, B>,
        grad: &mut Self,
        dx: &mut SMatrix<T, N, B>,
    ) {
        self.backward_channels(xhat, inv_std, dy, grad, dx)
    }

    /// [`backward`](Self::backward) of shaped values: `N` channels of `I / N` positions,
    /// the sums running over the batch and the positions.
    pub fn backward_channels<const I: usize, const B: usize>(
        &self,
        xhat: &SMatrix<T, I, B>,
        inv_std: &SVector<T, N>,
        dy: &SMatrix<T, I, B>,
        grad: &mut Self,
        dx: &mut SMatrix<T, I, B>,
    ) {
        let positions = I / N.max(1);
        let count = T::of((B * positions).max(1) as f64);
        for r in 0..N {
            let rows = r * positions..(r + 1) * positions;
            let (mut sum_dy, mut sum_dy_xhat) = (T::zero(), T::zero());
            for b in 0..B {
                for i in rows.clone() {
                    sum_dy += dy[(i, b)];
                    sum_dy_xhat += dy[(i, b)] * xhat[(i, b)];
                }
            }
            grad.weight[r] += sum_dy_xhat;
            grad.bias[r] += sum_dy;
            let factor = self.weight[r] * inv_std[r] / count;
            for b in 0..B {
                for i in rows.clone() {
                    dx[(i, b)] =
                        factor * (count * dy[(i, b)] - sum_dy - xhat[(i, b)] * sum_dy_xhat);
                }
            }
        }
    }
}

/// Layer normalization over the `N` features of each sample, with a learned scale and
/// shift per feature (PyTorch's `LayerNorm(N)`, eps 1e-5). The same in training and
/// inference; no buffers.
#[derive(Clone, Debug, PartialEq)]
#[repr(C)]
pub struct LayerNorm<T: Scalar, const N: usize> {
    /// Scale `[N]` (γ).
    pub weight: SVector<T, N>,
    /// Shift `[N]` (β).
    pub bias: SVector<T, N>,
}

crate::zeroable::zeroable_struct!(
    [T: Scalar + Zeroable, const N: usize]
    LayerNorm<T, N> {
        weight, bias,
    }
);

impl<T: Scalar, const N: usize> LayerNorm<T, N> {
    /// Trainable scalars: `2 N`.
    pub const PARAMS: usize = 2 * N;

    /// All zeros (the start of a gradient).
    pub fn zeros() -> Self {
        Self {
            weight: SVector::zeros(),
            bias: SVector::zeros(),
        }
    }

    /// PyTorch's initial state: weight 1, bias 0.
    pub fn initialize(&mut self) {
        self.weight.fill(T::one());
        self.bias.fill(T::zero());
    }

    /// Plain SGD on the scale and shift from a gradient (`p -= lr g`).
    pub fn sgd_apply(&mut self, grad: &Self, lr: T) {
        self.weight.axpy(-lr, &grad.weight, T::one());
        self.bias.axpy(-lr, &grad.bias, T::one());
    }

    /// Inference: the same normalization as [`forward`](Self::forward), without the
    /// values backward needs.
    pub fn forward_inference<const B: usize>(
        &self,
        x: &SMatrix<T, N, B>,
        out: &mut SMatrix<T, N, B>,
    ) {
        for b in 0..B {
            let (mean, inv) = Self::column_statistics(x, b);
            for r in 0..N {
                out[(r, b)] = self.weight[r] * ((x[(r, b)] - mean) * inv) + self.bias[r];
            }
        }
    }

    /// Mean and `1 / sqrt(var + eps)` of sample `b`'s features.
    fn column_statistics<const B: usize>(x: &SMatrix<T, N, B>, b: usize) -> (T, T) {
        let count = T::of(N.max(1) as f64);
        let column = x.column(b);
        let mean = column.sum() / count;
        let mut squares = T::zero();
        for &v in column.iter() {
            squares += (v - mean) * (v - mean);
        }
        (mean, T::one() / (squares / count + T::of(NORM_EPS)).sqrt())
    }

    /// Forward pass; also writes `xhat` and `1 / sqrt(var + eps)` per sample for
    /// backward.
    pub fn forward<const B: usize>(
        &self,
        x: &SMatrix<T, N, B>,
        out: &mut SMatrix<T, N, B>,
        xhat: &mut SMatrix<T, N, B>,
        inv_std: &mut SMatrix<T, 1, B>,
    ) {
        for b in 0..B {
            let (mean, inv) = Self::column_statistics(x, b);
            for r in 0..N {
                let h = (x[(r, b)] - mean) * inv;
                xhat[(r, b)] = h;
                out[(r, b)] = self.weight[r] * h + self.bias[r];
            }
            inv_std[b] = inv;
        }
    }

    /// Backward pass: adds `dL/dweight` and `dL/dbias` to `grad` and writes `dL/dx`:
    /// per sample, with `g = weight * dy`,
    /// `dx = inv_std / N * (N g - sum(g) - xhat sum(g xhat))`.
    pub fn backward<const B: usize>(
        &self,
        xhat: &SMatrix<T, N, B>,
        inv_std: &SMatrix<T, 1, B>,
        dy: &SMatrix<T, N, B>,
        grad: &mut Self,
        dx: &mut SMatrix<T, N, B>,
    ) {
        let count = T::of(N.max(1) as f64);
        for b in 0..B {
            let (mut sum_g, mut sum_g_xhat) = (T::zero(), T::zero());
            for r in 0..N {
                let g = self.weight[r] * dy[(r, b)];
                sum_g += g;
                sum_g_xhat += g * xhat[(r, b)];
                grad.weight[r] += dy[(r, b)] * xhat[(r, b)];
                grad.bias[r] += dy[(r, b)];
            }
            let factor = inv_std[b] / count;
            for r in 0..N {
                let g = self.weight[r] * dy[(r, b)];
                dx[(r, b)] = factor * (count * g - sum_g - xhat[(r, b)] * sum_g_xhat);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;
    use nalgebra::{Matrix1x2, Vector1};

    #[test]
    fn batch_norm_by_hand() {
        // One feature, two samples x = (1, 3): mean 2, biased variance 1, unbiased 2.
        let mut bn = BatchNorm::<f64, 1>::zeros();
        bn.initialize();
        bn.weight[0] = 2.0;
        bn.bias[0] = 0.5;
        let x = Matrix1x2::new(1.0, 3.0);
        let (mut out, mut xhat, mut inv) =
            (Matrix1x2::zeros(), Matrix1x2::zeros(), Vector1::zeros());
        let (mean, var) = bn.normalize_batch(&x, &mut out, &mut xhat, &mut inv);
        assert_eq!((mean[0], var[0]), (2.0, 1.0));
        let s = 1.0 / (1.0f64 + 1e-5).sqrt();
        assert_relative_eq!(xhat, Matrix1x2::new(-s, s), epsilon = 1e-15);
        assert_relative_eq!(
            out,
            Matrix1x2::new(0.5 - 2.0 * s, 0.5 + 2.0 * s),
            epsilon = 1e-15
        );
        bn.update_running::<2>(&mean, &var);
        // 0.9 * 0 + 0.1 * 2 and 0.9 * 1 + 0.1 * 2 (unbiased variance 2).
        assert_relative_eq!(bn.running_mean[0], 0.2, epsilon = 1e-15);
        assert_relative_eq!(bn.running_var[0], 1.1, epsilon = 1e-15);
        let mut inference = Matrix1x2::zeros();
        bn.forward_inference(&x, &mut inference);
        let scale = 2.0 / (1.1f64 + 1e-5).sqrt();
        assert_relative_eq!(
            inference,
            Matrix1x2::new(0.5 + 0.8 * scale, 0.5 + 2.8 * scale),
            epsilon = 1e-12
        );
    }

    /// Central differences of `sum(upstream * f(x))` for f = a normalization's forward.
    fn check<const N: usize, const B: usize>(
        forward: impl Fn(&SMatrix<f64, N, B>) -> SMatrix<f64, N, B>,
        x: SMatrix<f64, N, B>,
        upstream: SMatrix<f64, N, B>,
        analytic: SMatrix<f64, N, B>,
    ) {
        let h = 1e-6;
        for k in 0..N * B {
            let (mut plus, mut minus) = (x, x);
            plus[k] += h;
            minus[k] -= h;
            let numeric = (forward(&plus).component_mul(&upstream).sum()
                - forward(&minus).component_mul(&upstream).sum())
                / (2.0 * h);
            assert_relative_eq!(analytic[k], numeric, epsilon = 1e-8, max_relative = 1e-6);
        }
    }

    #[test]
    fn batch_norm_gradient_through_the_batch_statistics() {
        let mut bn = BatchNorm::<f64, 3>::zeros();
        bn.initialize();
        bn.weight = SVector::<f64, 3>::new(1.5, -0.5, 0.8);
        bn.bias = SVector::<f64, 3>::new(0.1, 0.2, -0.3);
        let x = SMatrix::<f64, 3, 4>::from_fn(|r, c| ((r * 4 + c) as f64 * 0.7).sin() * 2.0);
        let upstream = SMatrix::<f64, 3, 4>::from_fn(|r, c| ((r + 2 * c) as f64 * 1.3).cos());
        let forward = |x: &SMatrix<f64, 3, 4>| {
            let (mut out, mut xhat, mut inv) =
                (SMatrix::zeros(), SMatrix::zeros(), SVector::zeros());
            bn.normalize_batch(x, &mut out, &mut xhat, &mut inv);
            out
        };
        let (mut out, mut xhat, mut inv) = (SMatrix::zeros(), SMatrix::zeros(), SVector::zeros());
        bn.normalize_batch(&x, &mut out, &mut xhat, &mut inv);
        let mut grad = BatchNorm::zeros();
        let mut dx = SMatrix::zeros();
        bn.backward(&xhat, &inv, &upstream, &mut grad, &mut dx);
        check(forward, x, upstream, dx);
        // dL/dweight = sum(upstream * xhat), dL/dbias = sum(upstream), per feature.
        assert_relative_eq!(
            grad.weight,
            upstream.component_mul(&xhat).column_sum(),
            epsilon = 1e-12
        );
        assert_relative_eq!(grad.bias, upstream.column_sum(), epsilon = 1e-12);
    }

    #[test]
    fn batch_norm_over_channels_gradient_and_statistics() {
        // BatchNorm2d-style: 3 channels of 4 positions, batch of 2: statistics per
        // channel over 8 values.
        let mut bn = BatchNorm::<f64, 3>::zeros();
        bn.initialize();
        bn.weight = SVector::<f64, 3>::new(1.5, -0.5, 0.8);
        bn.bias = SVector::<f64, 3>::new(0.1, 0.2, -0.3);
        let x = SMatrix::<f64, 12, 2>::from_fn(|r, c| ((r * 2 + c) as f64 * 0.7).sin() * 2.0);
        let upstream = SMatrix::<f64, 12, 2>::from_fn(|r, c| ((r + 5 * c) as f64 * 1.3).cos());
        let forward = |x: &SMatrix<f64, 12, 2>| {
            let (mut out, mut xhat, mut inv) = (
                SMatrix::zeros(),
                SMatrix::zeros(),
                SVector::<f64, 3>::zeros(),
            );
            bn.normalize_channels(x, &mut out, &mut xhat, &mut inv);
            out
        };
        let (mut out, mut xhat, mut inv) = (SMatrix::zeros(), SMatrix::zeros(), SVector::zeros());
        let (mean, var) = bn.normalize_channels(&x, &mut out, &mut xhat, &mut inv);
        let channel1: [f64; 8] = core::array::from_fn(|k| x[(4 + k % 4, k / 4)]);
        let m = channel1.iter().sum::<f64>() / 8.0;
        assert_relative_eq!(mean[1], m, epsilon = 1e-15);
        let v = channel1.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / 8.0;
        assert_relative_eq!(var[1], v, epsilon = 1e-15);
        let mut grad = BatchNorm::zeros();
        let mut dx = SMatrix::zeros();
        bn.backward_channels(&xhat, &inv, &upstream, &mut grad, &mut dx);
        check(forward, x, upstream, dx);
        // Running estimates: unbiased over the 8 values of a channel.
        bn.update_running_over(8, &mean, &var);
        assert_relative_eq!(
            bn.running_var[1],
            0.9 + 0.1 * v * 8.0 / 7.0,
            epsilon = 1e-15
        );
        // Inference with the running estimates, channel by channel.
        let mut inference = SMatrix::<f64, 12, 2>::zeros();
        bn.forward_inference_channels(&x, &mut inference);
        let scale = bn.weight[2] / (bn.running_var[2] + 1e-5).sqrt();
        let expected = (x[(9, 1)] - bn.running_mean[2]) * scale + bn.bias[2];
        assert_relative_eq!(inference[(9, 1)], expected, epsilon = 1e-12);
    }

    #[test]
    fn layer_norm_gradient() {
        let mut ln = LayerNorm::<f64, 4>::zeros();
        ln.initialize();
        ln.weight = SVector::<f64, 4>::new(1.5, -0.5, 0.8, 1.0);
        ln.bias = SVector::<f64, 4>::new(0.1, 0.2, -0.3, 0.0);
        let x = SMatrix::<f64, 4, 3>::from_fn(|r, c| ((r * 3 + c) as f64 * 0.9).sin() * 2.0);
        let upstream = SMatrix::<f64, 4, 3>::from_fn(|r, c| ((r + 2 * c) as f64 * 1.1).cos());
        let forward = |x: &SMatrix<f64, 4, 3>| {
            let (mut out, mut xhat, mut inv) =
                (SMatrix::zeros(), SMatrix::zeros(), SMatrix::zeros());
            ln.forward(x, &mut out, &mut xhat, &mut inv);
            out
        };
        let (mut out, mut xhat, mut inv) = (SMatrix::zeros(), SMatrix::zeros(), SMatrix::zeros());
        ln.forward(&x, &mut out, &mut xhat, &mut inv);
        let mut grad = LayerNorm::zeros();
        let mut dx = SMatrix::zeros();
        ln.backward(&xhat, &inv, &upstream, &mut grad, &mut dx);
        check(forward, x, upstream, dx);
        // Each sample's output has mean `bias` mean-weighted: with weight 1 the normalized
        // values have zero mean and unit variance.
        let mut plain = LayerNorm::<f64, 4>::zeros();
        plain.initialize();
        plain.forward(&x, &mut out, &mut xhat, &mut inv);
        assert_relative_eq!(out.column(0).sum(), 0.0, epsilon = 1e-12);
        assert_relative_eq!(out.column(0).norm_squared() / 4.0, 1.0, epsilon = 1e-4);
    }
}
