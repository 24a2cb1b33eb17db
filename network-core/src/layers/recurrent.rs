//! Recurrent layers with PyTorch's semantics, parameter names and layouts (`batch_first`
//! sequences `[T, F]`, one layer, an initial state of zeros): [`Gru`] (gates r, z, n) and
//! [`Lstm`] (gates i, f, g, o).
//!
//! Each layer has one cell function that advances the state by one time step; the
//! sequence forward pass, backpropagation through time and the streaming
//! [`Gru::step`] / [`Lstm::step`] all go through it, so feeding a sequence step by step
//! gives the same bits as the whole-sequence pass. A sequence is a loop over its steps,
//! never unrolled: code size does not grow with `T`.
//!
//! Weights are stored like [`Dense`](crate::Dense)'s: `weight_ih_l0` is `[G, F]` and
//! `weight_hh_l0` is `[G, H]` with `G = 3H` (GRU) or `4H` (LSTM) rows in PyTorch's gate
//! order, so `weight_ih_l0` and friends map one to one.

use nalgebra::{SMatrix, SVector};

use crate::activation::{Sigmoid, Tanh};
use crate::{Rng, Scalar, Zeroable};

/// PyTorch's initialization of recurrent layers: every weight and bias from
/// `U(-1/sqrt(H), 1/sqrt(H))`.
fn uniform_fill<T: Scalar>(values: &mut [T], hidden: usize, rng: &mut Rng) {
    let bound = 1.0 / libm::sqrt(hidden.max(1) as f64);
    for v in values {
        *v = T::of(rng.uniform(-bound, bound));
    }
}

/// The loss gradient of step `t`'s output `k`: from every step's (`[steps, H]`), or only
/// the last step's when the layer outputs its last state (`[H]`).
#[inline(always)]
fn step_gradient<T: Scalar>(
    dout: &[T],
    last: bool,
    steps: usize,
    t: usize,
    k: usize,
    h: usize,
) -> T {
    if !last {
        dout[t * h + k]
    } else if t + 1 == steps {
        dout[k]
    } else {
        T::zero()
    }
}

/// The batch-level passes `network!` calls, the same for both layers: columns are
/// samples, a sample's input is `[steps, F]`, its output `[steps, H]` (every step) or
/// `[H]` (the last step: when `N != steps * H`), and its tape cache holds every step's
/// cell values and then every step's output.
macro_rules! batch_passes {
    ($layer:ident, $cache:ident, $state:expr) => {
        impl<T: Scalar, const F: usize, const H: usize, const G: usize> $layer<T, F, H, G> {
            /// Every parameter zero.
            pub fn zeros() -> Self {
                let () = Self::SHAPE;
                Self {
                    weight_ih_l0: SMatrix::zeros(),
                    weight_hh_l0: SMatrix::zeros(),
                    bias_ih_l0: SVector::zeros(),
                    bias_hh_l0: SVector::zeros(),
                }
            }

            /// PyTorch's initialization: everything from `U(-1/sqrt(H), 1/sqrt(H))`.
            pub fn initialize(&mut self, rng: &mut Rng) {
                uniform_fill(self.weight_ih_l0.as_mut_slice(), H, rng);
                uniform_fill(self.weight_hh_l0.as_mut_slice(), H, rng);
                uniform_fill(self.bias_ih_l0.as_mut_slice(), H, rng);
                uniform_fill(self.bias_hh_l0.as_mut_slice(), H, rng);
            }

            /// The whole sequence of one sample from the zero state: `x` is `[steps, F]`,
            /// `out` `[steps, H]` (every step's output), `cache` the cell values of every
            /// step for training.
            pub fn forward_sequence(&self, x: &[T], out: &mut [T], mut cache: Option<&mut [T]>) {
                let mut state = $state;
                for (t, (xt, ot)) in x.chunks_exact(F).zip(out.chunks_exact_mut(H)).enumerate() {
                    let c = cache
                        .as_deref_mut()
                        .map(|c| &mut c[t * $cache * H..(t + 1) * $cache * H]);
                    self.cell(xt, &mut state, c);
                    ot.copy_from_slice(Self::hidden(&state));
                }
            }

            /// Tape values per sample for `steps` time steps.
            pub const fn cache_len(steps: usize) -> usize {
                steps * ($cache + 1) * H
            }

            /// Inference for a batch (nothing kept).
            pub fn forward<const I: usize, const N: usize, const B: usize>(
                &self,
                x: &SMatrix<T, I, B>,
                out: &mut SMatrix<T, N, B>,
            ) {
                let steps = I / F;
                for (xs, os) in x
                    .as_slice()
                    .chunks_exact(I)
                    .zip(out.as_mut_slice().chunks_exact_mut(N))
                {
                    let mut state = $state;
                    for (t, xt) in xs.chunks_exact(F).enumerate() {
                        self.cell(xt, &mut state, None);
                        if N == steps * H {
                            os[t * H..(t + 1) * H].copy_from_slice(Self::hidden(&state));
                        }
                    }
                    if N != steps * H {
                        os.copy_from_slice(Self::hidden(&state));
                    }
                }
            }

            /// The training forward pass for a batch: outputs and the tape's cache.
            pub fn forward_train<const I: usize, const N: usize, const C: usize, const B: usize>(
                &self,
                x: &SMatrix<T, I, B>,
                out: &mut SMatrix<T, N, B>,
                cache: &mut SMatrix<T, C, B>,
            ) {
                let steps = I / F;
                let cells = steps * $cache * H;
                for ((xs, os), cs) in x
                    .as_slice()
                    .chunks_exact(I)
                    .zip(out.as_mut_slice().chunks_exact_mut(N))
                    .zip(cache.as_mut_slice().chunks_exact_mut(C))
                {
                    let (cell_values, outputs) = cs.split_at_mut(cells);
                    self.forward_sequence(xs, outputs, Some(cell_values));
                    os.copy_from_slice(&outputs[outputs.len() - N..]);
                }
            }

            /// Backpropagation through time for a batch: parameter gradients added into
            /// `grad`, the input gradient written into `dx` when given.
            pub fn backward<const I: usize, const N: usize, const C: usize, const B: usize>(
                &self,
                x: &SMatrix<T, I, B>,
                cache: &SMatrix<T, C, B>,
                dout: &SMatrix<T, N, B>,
                grad: &mut Self,
                dx: Option<&mut SMatrix<T, I, B>>,
            ) {
                let steps = I / F;
                let cells = steps * $cache * H;
                let mut dx = dx;
                for (b, ((xs, cs), ds)) in x
                    .as_slice()
                    .chunks_exact(I)
                    .zip(cache.as_slice().chunks_exact(C))
                    .zip(dout.as_slice().chunks_exact(N))
                    .enumerate()
                {
                    let (cell_values, outputs) = cs.split_at(cells);
                    let dxs = dx
                        .as_deref_mut()
                        .map(|d| &mut d.as_mut_slice()[b * I..(b + 1) * I]);
                    self.backward_sequence(xs, outputs, cell_values, ds, grad, dxs);
                }
            }

            /// Plain SGD from a gradient: `p -= lr g`.
            pub fn sgd_apply(&mut self, grad: &Self, lr: T) {
                crate::kernels::axpy(
                    -lr,
                    grad.weight_ih_l0.as_slice(),
                    self.weight_ih_l0.as_mut_slice(),
                );
                crate::kernels::axpy(
                    -lr,
                    grad.weight_hh_l0.as_slice(),
                    self.weight_hh_l0.as_mut_slice(),
                );
                crate::kernels::axpy(
                    -lr,
                    grad.bias_ih_l0.as_slice(),
                    self.bias_ih_l0.as_mut_slice(),
                );
                crate::kernels::axpy(
                    -lr,
                    grad.bias_hh_l0.as_slice(),
                    self.bias_hh_l0.as_mut_slice(),
                );
            }
        }
    };
}

batch_passes!(Gru, GRU_CACHE, SVector::<T, H>::zeros());
batch_passes!(Lstm, LSTM_CACHE, LstmState::<T, H>::zeros());

/// A gated recurrent unit (PyTorch's `nn.GRU`, one layer, `batch_first`):
///
/// ```text
/// r = σ(W_ir x + b_ir + W_hr h + b_hr)
/// z = σ(W_iz x + b_iz + W_hz h + b_hz)
/// n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
/// h' = (1 - z) ⊙ n + z ⊙ h
/// ```
///
/// `G` must be `3 * H` (the macro writes it; a const assertion checks it).
#[derive(Clone, Debug, PartialEq)]
pub struct Gru<T: Scalar, const F: usize, const H: usize, const G: usize> {
    /// `weight_ih_l0`: `[3H, F]`, rows r, z, n.
    pub weight_ih_l0: SMatrix<T, G, F>,
    /// `weight_hh_l0`: `[3H, H]`.
    pub weight_hh_l0: SMatrix<T, G, H>,
    /// `bias_ih_l0`: `[3H]`.
    pub bias_ih_l0: SVector<T, G>,
    /// `bias_hh_l0`: `[3H]`.
    pub bias_hh_l0: SVector<T, G>,
}

crate::zeroable::zeroable_struct!(
    [T: Scalar + Zeroable, const F: usize, const H: usize, const G: usize]
    Gru<T, F, H, G> {
        weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0,
    }
);

/// Values a GRU step keeps for backward: `r`, `z`, `n` and `W_hn h + b_hn`.
pub const GRU_CACHE: usize = 4;

impl<T: Scalar, const F: usize, const H: usize, const G: usize> Gru<T, F, H, G> {
    const SHAPE: () = assert!(
        G == 3 * H && H > 0 && F > 0,
        "a GRU has 3 * hidden gate rows"
    );

    #[inline(always)]
    fn hidden(state: &SVector<T, H>) -> &[T] {
        state.as_slice()
    }

    /// One time step: `h` becomes the new state; `cache` (`4H` values), when given,
    /// receives what backward needs.
    ///
    /// With the `simd` feature on an x86-64 CPU with AVX2 the same code runs compiled
    /// for 8-lane vectors (selected at run time): the same operations in the same order
    /// per unit, so the same bits as the portable build.
    #[inline]
    pub fn cell(&self, x: &[T], h: &mut SVector<T, H>, cache: Option<&mut [T]>) {
        #[cfg(all(feature = "simd", target_arch = "x86_64"))]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above: the one condition for
            // calling a function compiled with `target_feature(enable = "avx2")`.
            return unsafe { self.cell_avx2(x, h, cache) };
        }
        self.cell_portable(x, h, cache)
    }

    #[cfg(all(feature = "simd", target_arch = "x86_64"))]
    #[target_feature(enable = "avx2")]
    fn cell_avx2(&self, x: &[T], h: &mut SVector<T, H>, cache: Option<&mut [T]>) {
        self.cell_portable(x, h, cache)
    }

    #[inline(always)]
    fn cell_portable(&self, x: &[T], h: &mut SVector<T, H>, cache: Option<&mut [T]>) {
        let () = Self::SHAPE;
        let x = SVector::<T, F>::from_column_slice(&x[..F]);
        let gi = self.weight_ih_l0 * x + self.bias_ih_l0;
        let gh = self.weight_hh_l0 * *h + self.bias_hh_l0;
        // Each gate over all units in its own loop (contiguous, branch-free: the
        // compiler vectorizes them), with the same arithmetic per unit as one loop.
        let mut gates = gi + gh;
        let (rz, rest) = gates.as_mut_slice().split_at_mut(2 * H);
        for v in rz.iter_mut() {
            *v = Sigmoid::f(*v);
        }
        let (r, z) = rz.split_at(H);
        let (gin, ghn) = (&gi.as_slice()[2 * H..], &gh.as_slice()[2 * H..]);
        let n = &mut rest[..H];
        for (((n, &gin), &ghn), &r) in n.iter_mut().zip(gin).zip(ghn).zip(r) {
            *n = Tanh::f(gin + r * ghn);
        }
        for ((h, &n), &z) in h.iter_mut().zip(n.iter()).zip(z) {
            *h = (T::one() - z) * n + z * *h;
        }
        if let Some(c) = cache {
            c[..2 * H].copy_from_slice(rz);
            c[2 * H..3 * H].copy_from_slice(n);
            c[3 * H..4 * H].copy_from_slice(ghn);
        }
    }

    /// Streaming inference: one time step from `state` (start from
    /// `SVector::zeros()`, the whole-sequence pass's initial state); returns the output,
    /// which is also the new state. Bit-identical to [`forward_sequence`](Self::forward_sequence).
    pub fn step(&self, x: &SVector<T, F>, state: &mut SVector<T, H>) -> SVector<T, H> {
        self.cell(x.as_slice(), state, None);
        *state
    }

    /// Backpropagation through time for one sample: from the sequence `x`, the states
    /// `out` and `cache` the forward pass wrote, and `dout` (`[steps, H]`, the loss
    /// gradient of every step's output; zeros where a step's output is not used), adds
    /// the parameter gradients into `grad` and, when given, writes `dx` (`[steps, F]`).
    pub fn backward_sequence(
        &self,
        x: &[T],
        out: &[T],
        cache: &[T],
        dout: &[T],
        grad: &mut Self,
        mut dx: Option<&mut [T]>,
    ) {
        let steps = x.len() / F;
        let last = dout.len() != steps * H;
        let mut carry = SVector::<T, H>::zeros();
        for t in (0..steps).rev() {
            let c = &cache[t * GRU_CACHE * H..(t + 1) * GRU_CACHE * H];
            let previous = if t == 0 {
                SVector::<T, H>::zeros()
            } else {
                SVector::<T, H>::from_column_slice(&out[(t - 1) * H..t * H])
            };
            let mut dgi = SVector::<T, G>::zeros();
            let mut dgh = SVector::<T, G>::zeros();
            let mut direct = SVector::<T, H>::zeros();
            for k in 0..H {
                let (r, z, n, ghn) = (c[k], c[H + k], c[2 * H + k], c[3 * H + k]);
                let dh = step_gradient(dout, last, steps, t, k, H) + carry[k];
                let dn = dh * (T::one() - z);
                let dz = dh * (previous[k] - n);
                direct[k] = dh * z;
                let dan = dn * (T::one() - n * n);
                let dr = dan * ghn;
                let dar = dr * r * (T::one() - r);
                let daz = dz * z * (T::one() - z);
                dgi[k] = dar;
                dgi[H + k] = daz;
                dgi[2 * H + k] = dan;
                dgh[k] = dar;
                dgh[H + k] = daz;
                dgh[2 * H + k] = dan * r;
            }
            let xt = SVector::<T, F>::from_column_slice(&x[t * F..(t + 1) * F]);
            grad.weight_ih_l0.ger(T::one(), &dgi, &xt, T::one());
            grad.weight_hh_l0.ger(T::one(), &dgh, &previous, T::one());
            grad.bias_ih_l0 += dgi;
            grad.bias_hh_l0 += dgh;
            if let Some(dx) = dx.as_deref_mut() {
                let d = self.weight_ih_l0.tr_mul(&dgi);
                dx[t * F..(t + 1) * F].copy_from_slice(d.as_slice());
            }
            carry = self.weight_hh_l0.tr_mul(&dgh) + direct;
        }
    }
}

/// A long short-term memory layer (PyTorch's `nn.LSTM`, one layer, `batch_first`):
///
/// ```text
/// i = σ(W_ii x + b_ii + W_hi h + b_hi)    f = σ(W_if x + b_if + W_hf h + b_hf)
/// g = tanh(W_ig x + b_ig + W_hg h + b_hg) o = σ(W_io x + b_io + W_ho h + b_ho)
/// c' = f ⊙ c + i ⊙ g                      h' = o ⊙ tanh(c')
/// ```
///
/// `G` must be `4 * H`.
#[derive(Clone, Debug, PartialEq)]
pub struct Lstm<T: Scalar, const F: usize, const H: usize, const G: usize> {
    /// `weight_ih_l0`: `[4H, F]`, rows i, f, g, o.
    pub weight_ih_l0: SMatrix<T, G, F>,
    /// `weight_hh_l0`: `[4H, H]`.
    pub weight_hh_l0: SMatrix<T, G, H>,
    /// `bias_ih_l0`: `[4H]`.
    pub bias_ih_l0: SVector<T, G>,
    /// `bias_hh_l0`: `[4H]`.
    pub bias_hh_l0: SVector<T, G>,
}

crate::zeroable::zeroable_struct!(
    [T: Scalar + Zeroable, const F: usize, const H: usize, const G: usize]
    Lstm<T, F, H, G> {
        weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0,
    }
);

/// Values an LSTM step keeps for backward: `i`, `f`, `g`, `o`, the cell state `c` and
/// `tanh(c)`.
pub const LSTM_CACHE: usize = 6;

/// An LSTM's streaming state: hidden `h` and cell `c`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LstmState<T: Scalar, const H: usize> {
    /// The hidden state (the layer's output).
    pub h: SVector<T, H>,
    /// The cell state.
    pub c: SVector<T, H>,
}

impl<T: Scalar, const H: usize> LstmState<T, H> {
    /// Zeros: the state a sequence starts from.
    pub fn zeros() -> Self {
        Self {
            h: SVector::zeros(),
            c: SVector::zeros(),
        }
    }
}

impl<T: Scalar, const F: usize, const H: usize, const G: usize> Lstm<T, F, H, G> {
    const SHAPE: () = assert!(
        G == 4 * H && H > 0 && F > 0,
        "an LSTM has 4 * hidden gate rows"
    );

    #[inline(always)]
    fn hidden(state: &LstmState<T, H>) -> &[T] {
        state.h.as_slice()
    }

    /// One time step: `state` advances; `cache` (`6H` values), when given, receives what
    /// backward needs. Vectorized for AVX2 when available, as [`Gru::cell`].
    #[inline]
    pub fn cell(&self, x: &[T], state: &mut LstmState<T, H>, cache: Option<&mut [T]>) {
        #[cfg(all(feature = "simd", target_arch = "x86_64"))]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { self.cell_avx2(x, state, cache) };
        }
        self.cell_portable(x, state, cache)
    }

    #[cfg(all(feature = "simd", target_arch = "x86_64"))]
    #[target_feature(enable = "avx2")]
    fn cell_avx2(&self, x: &[T], state: &mut LstmState<T, H>, cache: Option<&mut [T]>) {
        self.cell_portable(x, state, cache)
    }

    #[inline(always)]
    fn cell_portable(&self, x: &[T], state: &mut LstmState<T, H>, cache: Option<&mut [T]>) {
        let () = Self::SHAPE;
        let x = SVector::<T, F>::from_column_slice(&x[..F]);
        let gates =
            self.weight_ih_l0 * x + self.bias_ih_l0 + self.weight_hh_l0 * state.h + self.bias_hh_l0;
        let mut cache = cache;
        for k in 0..H {
            let i = Sigmoid::f(gates[k]);
            let f = Sigmoid::f(gates[H + k]);
            let g = Tanh::f(gates[2 * H + k]);
            let o = Sigmoid::f(gates[3 * H + k]);
            let c = f * state.c[k] + i * g;
            let tc = Tanh::f(c);
            state.c[k] = c;
            state.h[k] = o * tc;
            if let Some(cache) = cache.as_deref_mut() {
                for (slot, v) in [i, f, g, o, c, tc].into_iter().enumerate() {
                    cache[slot * H + k] = v;
                }
            }
        }
    }

    /// Streaming inference: one time step; returns the output `h`. Bit-identical to
    /// [`forward_sequence`](Self::forward_sequence) from [`LstmState::zeros`].
    pub fn step(&self, x: &SVector<T, F>, state: &mut LstmState<T, H>) -> SVector<T, H> {
        self.cell(x.as_slice(), state, None);
        state.h
    }

    /// Backpropagation through time for one sample (see [`Gru::backward_sequence`]).
    pub fn backward_sequence(
        &self,
        x: &[T],
        out: &[T],
        cache: &[T],
        dout: &[T],
        grad: &mut Self,
        mut dx: Option<&mut [T]>,
    ) {
        let steps = x.len() / F;
        let last = dout.len() != steps * H;
        let (mut dh_carry, mut dc_carry) = (SVector::<T, H>::zeros(), SVector::<T, H>::zeros());
        for t in (0..steps).rev() {
            let c = &cache[t * LSTM_CACHE * H..(t + 1) * LSTM_CACHE * H];
            let previous = if t == 0 {
                SVector::<T, H>::zeros()
            } else {
                SVector::<T, H>::from_column_slice(&out[(t - 1) * H..t * H])
            };
            let mut dgates = SVector::<T, G>::zeros();
            for k in 0..H {
                let (i, f, g, o, _, tc) = (
                    c[k],
                    c[H + k],
                    c[2 * H + k],
                    c[3 * H + k],
                    c[4 * H + k],
                    c[5 * H + k],
                );
                let c_prev = if t == 0 {
                    T::zero()
                } else {
                    cache[(t - 1) * LSTM_CACHE * H + 4 * H + k]
                };
                let dh = step_gradient(dout, last, steps, t, k, H) + dh_carry[k];
                let d_o = dh * tc;
                let dc = dc_carry[k] + dh * o * (T::one() - tc * tc);
                let di = dc * g;
                let dg = dc * i;
                let df = dc * c_prev;
                dc_carry[k] = dc * f;
                dgates[k] = di * i * (T::one() - i);
                dgates[H + k] = df * f * (T::one() - f);
                dgates[2 * H + k] = dg * (T::one() - g * g);
                dgates[3 * H + k] = d_o * o * (T::one() - o);
            }
            let xt = SVector::<T, F>::from_column_slice(&x[t * F..(t + 1) * F]);
            grad.weight_ih_l0.ger(T::one(), &dgates, &xt, T::one());
            grad.weight_hh_l0
                .ger(T::one(), &dgates, &previous, T::one());
            grad.bias_ih_l0 += dgates;
            grad.bias_hh_l0 += dgates;
            if let Some(dx) = dx.as_deref_mut() {
                let d = self.weight_ih_l0.tr_mul(&dgates);
                dx[t * F..(t + 1) * F].copy_from_slice(d.as_slice());
            }
            dh_carry = self.weight_hh_l0.tr_mul(&dgates);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    const F: usize = 3;
    const H: usize = 2;
    const STEPS: usize = 4;

    fn random<const R: usize, const C: usize>(rng: &mut Rng) -> SMatrix<f64, R, C> {
        SMatrix::from_fn(|_, _| rng.uniform(-1.0, 1.0))
    }

    type Forward<P> = fn(&P, &[f64], &mut [f64], Option<&mut [f64]>);
    type Backward<P> = fn(&P, &[f64], &[f64], &[f64], &[f64], &mut P, Option<&mut [f64]>);

    /// `sum(out * probe)` of a sequence, and every gradient by central differences
    /// against backpropagation through time.
    fn check<P: Clone>(
        params: &P,
        tensors: fn(&mut P) -> [&mut [f64]; 4],
        forward: Forward<P>,
        backward: Backward<P>,
        zeros: fn() -> P,
        cache_len: usize,
    ) {
        let mut rng = Rng::seed_from_u64(9);
        let x: [f64; STEPS * F] = core::array::from_fn(|_| rng.uniform(-1.5, 1.5));
        let probe: [f64; STEPS * H] = core::array::from_fn(|_| rng.uniform(-1.0, 1.0));
        let objective = |p: &P, x: &[f64]| {
            let mut out = [0.0; STEPS * H];
            forward(p, x, &mut out, None);
            out.iter().zip(&probe).map(|(a, b)| a * b).sum::<f64>()
        };
        let mut out = [0.0; STEPS * H];
        let mut cache = [0.0; STEPS * 6 * H];
        forward(
            params,
            &x,
            &mut out,
            Some(&mut cache[..STEPS * cache_len * H]),
        );
        let mut grad = zeros();
        let mut dx = [0.0; STEPS * F];
        backward(params, &x, &out, &cache, &probe, &mut grad, Some(&mut dx));
        let step = 1e-6;
        // Parameters.
        let mut grad_copy = grad.clone();
        let analytic = tensors(&mut grad_copy).map(|t| t.to_vec());
        for (k, analytic) in analytic.iter().enumerate() {
            for (j, &value) in analytic.iter().enumerate() {
                let (mut plus, mut minus) = (params.clone(), params.clone());
                tensors(&mut plus)[k][j] += step;
                tensors(&mut minus)[k][j] -= step;
                let numeric = (objective(&plus, &x) - objective(&minus, &x)) / (2.0 * step);
                assert_relative_eq!(value, numeric, epsilon = 1e-8, max_relative = 1e-6);
            }
        }
        // Input.
        for j in 0..x.len() {
            let (mut plus, mut minus) = (x, x);
            plus[j] += step;
            minus[j] -= step;
            let numeric = (objective(params, &plus) - objective(params, &minus)) / (2.0 * step);
            assert_relative_eq!(dx[j], numeric, epsilon = 1e-8, max_relative = 1e-6);
        }
    }

    #[test]
    fn gru_gradients_match_finite_differences() {
        let mut rng = Rng::seed_from_u64(1);
        let gru = Gru::<f64, F, H, 6> {
            weight_ih_l0: random(&mut rng),
            weight_hh_l0: random(&mut rng),
            bias_ih_l0: random(&mut rng),
            bias_hh_l0: random(&mut rng),
        };
        check(
            &gru,
            |g| {
                [
                    g.weight_ih_l0.as_mut_slice(),
                    g.weight_hh_l0.as_mut_slice(),
                    g.bias_ih_l0.as_mut_slice(),
                    g.bias_hh_l0.as_mut_slice(),
                ]
            },
            |g, x, out, cache| g.forward_sequence(x, out, cache),
            |g, x, out, cache, dout, grad, dx| g.backward_sequence(x, out, cache, dout, grad, dx),
            Gru::zeros,
            GRU_CACHE,
        );
    }

    #[test]
    fn lstm_gradients_match_finite_differences() {
        let mut rng = Rng::seed_from_u64(2);
        let lstm = Lstm::<f64, F, H, 8> {
            weight_ih_l0: random(&mut rng),
            weight_hh_l0: random(&mut rng),
            bias_ih_l0: random(&mut rng),
            bias_hh_l0: random(&mut rng),
        };
        check(
            &lstm,
            |l| {
                [
                    l.weight_ih_l0.as_mut_slice(),
                    l.weight_hh_l0.as_mut_slice(),
                    l.bias_ih_l0.as_mut_slice(),
                    l.bias_hh_l0.as_mut_slice(),
                ]
            },
            |l, x, out, cache| l.forward_sequence(x, out, cache),
            |l, x, out, cache, dout, grad, dx| l.backward_sequence(x, out, cache, dout, grad, dx),
            Lstm::zeros,
            LSTM_CACHE,
        );
    }

    /// Training passes of a batch: outputs, parameter gradients, input gradient.
    type Train<P> = fn(
        &P,
        &SMatrix<f64, 12, 2>,
        &SMatrix<f64, H, 2>,
    ) -> (SMatrix<f64, H, 2>, P, SMatrix<f64, 12, 2>);

    /// The batch passes with the last step's output only, against central differences:
    /// input and every parameter (`sum(out * probe)` over two samples).
    fn check_last_output<P: Clone>(
        params: &P,
        tensors: fn(&mut P) -> [&mut [f64]; 4],
        forward: fn(&P, &SMatrix<f64, 12, 2>) -> SMatrix<f64, H, 2>,
        train: Train<P>,
    ) {
        let mut rng = Rng::seed_from_u64(4);
        let x = random::<12, 2>(&mut rng);
        let probe = random::<H, 2>(&mut rng);
        let objective = |p: &P, x: &SMatrix<f64, 12, 2>| forward(p, x).component_mul(&probe).sum();
        let (out, mut grad, dx) = train(params, &x, &probe);
        assert_eq!(out, forward(params, &x));
        let step = 1e-6;
        for k in 0..4 {
            let analytic = tensors(&mut grad)[k].to_vec();
            for (j, &value) in analytic.iter().enumerate() {
                let (mut plus, mut minus) = (params.clone(), params.clone());
                tensors(&mut plus)[k][j] += step;
                tensors(&mut minus)[k][j] -= step;
                let numeric = (objective(&plus, &x) - objective(&minus, &x)) / (2.0 * step);
                assert_relative_eq!(value, numeric, epsilon = 1e-8, max_relative = 1e-6);
            }
        }
        for j in 0..24 {
            let (mut plus, mut minus) = (x, x);
            plus[j] += step;
            minus[j] -= step;
            let numeric = (objective(params, &plus) - objective(params, &minus)) / (2.0 * step);
            assert_relative_eq!(dx[j], numeric, epsilon = 1e-8, max_relative = 1e-6);
        }
    }

    #[test]
    fn batch_passes_with_the_last_output_match_finite_differences() {
        let mut rng = Rng::seed_from_u64(5);
        let mut gru = Gru::<f64, F, H, 6>::zeros();
        gru.initialize(&mut rng);
        check_last_output(
            &gru,
            |g| {
                [
                    g.weight_ih_l0.as_mut_slice(),
                    g.weight_hh_l0.as_mut_slice(),
                    g.bias_ih_l0.as_mut_slice(),
                    g.bias_hh_l0.as_mut_slice(),
                ]
            },
            |g, x| {
                let mut out = SMatrix::zeros();
                g.forward(x, &mut out);
                out
            },
            |g, x, dout| {
                let (mut out, mut cache) =
                    (SMatrix::zeros(), SMatrix::<f64, { 4 * 5 * H }, 2>::zeros());
                g.forward_train(x, &mut out, &mut cache);
                let (mut grad, mut dx) = (Gru::zeros(), SMatrix::zeros());
                g.backward(x, &cache, dout, &mut grad, Some(&mut dx));
                (out, grad, dx)
            },
        );
        let mut lstm = Lstm::<f64, F, H, 8>::zeros();
        lstm.initialize(&mut rng);
        check_last_output(
            &lstm,
            |l| {
                [
                    l.weight_ih_l0.as_mut_slice(),
                    l.weight_hh_l0.as_mut_slice(),
                    l.bias_ih_l0.as_mut_slice(),
                    l.bias_hh_l0.as_mut_slice(),
                ]
            },
            |l, x| {
                let mut out = SMatrix::zeros();
                l.forward(x, &mut out);
                out
            },
            |l, x, dout| {
                let (mut out, mut cache) =
                    (SMatrix::zeros(), SMatrix::<f64, { 4 * 7 * H }, 2>::zeros());
                l.forward_train(x, &mut out, &mut cache);
                let (mut grad, mut dx) = (Lstm::zeros(), SMatrix::zeros());
                l.backward(x, &cache, dout, &mut grad, Some(&mut dx));
                (out, grad, dx)
            },
        );
    }

    #[test]
    fn the_vectorized_cells_give_the_portable_bits() {
        // Weights drawn here rather than by `initialize`, whose `sqrt` Miri cannot run.
        let mut rng = Rng::seed_from_u64(6);
        let mut draw = |values: &mut [f32]| {
            for v in values {
                *v = rng.uniform(-0.25, 0.25) as f32;
            }
        };
        let mut gru = Gru::<f32, 5, 16, 48>::zeros();
        draw(gru.weight_ih_l0.as_mut_slice());
        draw(gru.weight_hh_l0.as_mut_slice());
        draw(gru.bias_ih_l0.as_mut_slice());
        draw(gru.bias_hh_l0.as_mut_slice());
        let mut lstm = Lstm::<f32, 5, 16, 64>::zeros();
        draw(lstm.weight_ih_l0.as_mut_slice());
        draw(lstm.weight_hh_l0.as_mut_slice());
        draw(lstm.bias_ih_l0.as_mut_slice());
        draw(lstm.bias_hh_l0.as_mut_slice());
        let mut rng = Rng::seed_from_u64(7);
        let (mut h1, mut h2) = (SVector::<f32, 16>::zeros(), SVector::<f32, 16>::zeros());
        let (mut s1, mut s2) = (LstmState::zeros(), LstmState::zeros());
        let (mut c1, mut c2) = ([0.0f32; 6 * 16], [0.0f32; 6 * 16]);
        for _ in 0..20 {
            let x: [f32; 5] = core::array::from_fn(|_| rng.uniform(-3.0, 3.0) as f32);
            gru.cell(&x, &mut h1, Some(&mut c1[..64]));
            gru.cell_portable(&x, &mut h2, Some(&mut c2[..64]));
            assert_eq!(h1.map(f32::to_bits), h2.map(f32::to_bits));
            assert_eq!(c1.map(f32::to_bits), c2.map(f32::to_bits));
            lstm.cell(&x, &mut s1, Some(&mut c1));
            lstm.cell_portable(&x, &mut s2, Some(&mut c2));
            assert_eq!(s1.h.map(f32::to_bits), s2.h.map(f32::to_bits));
            assert_eq!(s1.c.map(f32::to_bits), s2.c.map(f32::to_bits));
            assert_eq!(c1.map(f32::to_bits), c2.map(f32::to_bits));
        }
    }

    #[test]
    fn streaming_gives_the_sequence_bits() {
        let mut rng = Rng::seed_from_u64(3);
        let mut gru = Gru::<f32, F, H, 6>::zeros();
        gru.initialize(&mut rng);
        let mut lstm = Lstm::<f32, F, H, 8>::zeros();
        lstm.initialize(&mut rng);
        let x: [f32; STEPS * F] = core::array::from_fn(|_| rng.uniform(-2.0, 2.0) as f32);
        let (mut whole_gru, mut whole_lstm) = ([0.0f32; STEPS * H], [0.0f32; STEPS * H]);
        gru.forward_sequence(&x, &mut whole_gru, None);
        lstm.forward_sequence(&x, &mut whole_lstm, None);
        let (mut h, mut state) = (SVector::<f32, H>::zeros(), LstmState::zeros());
        for t in 0..STEPS {
            let xt = SVector::<f32, F>::from_column_slice(&x[t * F..(t + 1) * F]);
            let a = gru.step(&xt, &mut h);
            let b = lstm.step(&xt, &mut state);
            for k in 0..H {
                assert_eq!(a[k].to_bits(), whole_gru[t * H + k].to_bits());
                assert_eq!(b[k].to_bits(), whole_lstm[t * H + k].to_bits());
            }
        }
    }
}
