//! The 4-16-16-3 one-sample SGD step, generated (with a gradient buffer and fused) and
//! hand-written (nalgebra, as a careful user would write it, and compiled for AVX2 and
//! AVX-512), shared by `train_step` and `interleaved`.

use network::loss::Loss;
use network::nalgebra::{SMatrix, SVector};
use network::prelude::*;

network! {
    pub struct Tiny {
        hidden: Dense<4, 16>, Relu,
        deeper: Dense<16, 16>, Relu,
        logits: Dense<16, 3>,
    }
}

/// The learning rate of every step.
pub const LR: f32 = 0.01;

/// The generated path: training forward, fused loss gradient, backward, SGD update.
pub fn generated_step<N, const IN: usize, const OUT: usize, const B: usize>(
    net: &mut N,
    grads: &mut N,
    tape: &mut N::Tape<B>,
    x: &SMatrix<f32, IN, B>,
    y: &SMatrix<f32, OUT, B>,
) -> f32
where
    N: Network<f32, IN, OUT>,
{
    let mut d_out = SMatrix::<f32, OUT, B>::zeros();
    let loss = SoftmaxCrossEntropy.loss_and_grad(
        net.forward_train(x, tape, &mut Rng::seed_from_u64(0)),
        y,
        &mut d_out,
    );
    net.backward_overwrite(x, tape, &d_out, grads);
    Sgd::new(LR).step(net, grads);
    loss
}

/// The generated fused path: backward applies SGD directly, no gradient buffer.
pub fn generated_fused_step<N, const IN: usize, const OUT: usize, const B: usize>(
    net: &mut N,
    tape: &mut N::Tape<B>,
    x: &SMatrix<f32, IN, B>,
    y: &SMatrix<f32, OUT, B>,
) -> f32
where
    N: Network<f32, IN, OUT>,
{
    let mut d_out = SMatrix::<f32, OUT, B>::zeros();
    let loss = SoftmaxCrossEntropy.loss_and_grad(
        net.forward_train(x, tape, &mut Rng::seed_from_u64(0)),
        y,
        &mut d_out,
    );
    net.backward_sgd(x, tape, &d_out, LR);
    loss
}

/// Hand-written nalgebra 4-16-16-3, one sample, the way a careful user would write it.
pub struct HandTiny {
    w1: SMatrix<f32, 16, 4>,
    b1: SVector<f32, 16>,
    w2: SMatrix<f32, 16, 16>,
    b2: SVector<f32, 16>,
    w3: SMatrix<f32, 3, 16>,
    b3: SVector<f32, 3>,
}

impl HandTiny {
    pub fn from(net: &Tiny<f32>) -> Self {
        HandTiny {
            w1: net.hidden.weight,
            b1: net.hidden.bias,
            w2: net.deeper.weight,
            b2: net.deeper.bias,
            w3: net.logits.weight,
            b3: net.logits.bias,
        }
    }

    pub fn step(&mut self, x: &SVector<f32, 4>, y: &SVector<f32, 3>) -> f32 {
        let a1 = (self.w1 * x + self.b1).map(|v| v.max(0.0));
        let a2 = (self.w2 * a1 + self.b2).map(|v| v.max(0.0));
        let z3 = self.w3 * a2 + self.b3;
        let max = z3.max();
        let e = z3.map(|v| (v - max).exp());
        let sum = e.sum();
        let p = e / sum;
        let loss = (max + sum.ln()) - z3.dot(y);
        let d3 = p - y;
        let d2 =
            (self.w3.transpose() * d3).component_mul(&a2.map(|v| if v > 0.0 { 1.0 } else { 0.0 }));
        let d1 =
            (self.w2.transpose() * d2).component_mul(&a1.map(|v| if v > 0.0 { 1.0 } else { 0.0 }));
        self.w3 -= LR * d3 * a2.transpose();
        self.b3 -= LR * d3;
        self.w2 -= LR * d2 * a1.transpose();
        self.b2 -= LR * d2;
        self.w1 -= LR * d1 * x.transpose();
        self.b1 -= LR * d1;
        loss
    }
}

impl HandTiny {
    /// The same step written in place, as a user tuning nalgebra would: products into
    /// preallocated vectors (`gemv`, `gemv_tr`), rank-one updates of the weights (`ger`),
    /// no temporaries.
    #[inline(always)]
    pub fn step_in_place(&mut self, x: &SVector<f32, 4>, y: &SVector<f32, 3>) -> f32 {
        let relu = |v: &mut f32| *v = v.max(0.0);
        let mut a1 = self.b1;
        a1.gemv(1.0, &self.w1, x, 1.0);
        a1.apply(relu);
        let mut a2 = self.b2;
        a2.gemv(1.0, &self.w2, &a1, 1.0);
        a2.apply(relu);
        let mut z3 = self.b3;
        z3.gemv(1.0, &self.w3, &a2, 1.0);
        let max = z3.max();
        let mut sum = 0.0;
        let mut d3 = z3;
        d3.apply(|v| {
            *v = (*v - max).exp();
            sum += *v;
        });
        let loss = (max + sum.ln()) - z3.dot(y);
        d3.apply(|v| *v /= sum);
        d3 -= y;
        let mut d2 = SVector::<f32, 16>::zeros();
        d2.gemv_tr(1.0, &self.w3, &d3, 0.0);
        d2.zip_apply(&a2, |d, a| {
            if a <= 0.0 {
                *d = 0.0
            }
        });
        let mut d1 = SVector::<f32, 16>::zeros();
        d1.gemv_tr(1.0, &self.w2, &d2, 0.0);
        d1.zip_apply(&a1, |d, a| {
            if a <= 0.0 {
                *d = 0.0
            }
        });
        self.w3.ger(-LR, &d3, &a2, 1.0);
        self.b3.axpy(-LR, &d3, 1.0);
        self.w2.ger(-LR, &d2, &a1, 1.0);
        self.b2.axpy(-LR, &d2, 1.0);
        self.w1.ger(-LR, &d1, x, 1.0);
        self.b1.axpy(-LR, &d1, 1.0);
        loss
    }
}

/// [`HandTiny::step_in_place`] compiled for AVX2 + FMA: what `-C target-cpu=native`
/// gives a hand-written program on this machine (the caller checks the CPU).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub fn hand_tiny_avx2(hand: &mut HandTiny, x: &SVector<f32, 4>, y: &SVector<f32, 3>) -> f32 {
    hand.step_in_place(x, y)
}

/// [`HandTiny::step_in_place`] compiled for AVX-512.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
pub fn hand_tiny_avx512(hand: &mut HandTiny, x: &SVector<f32, 4>, y: &SVector<f32, 3>) -> f32 {
    hand.step_in_place(x, y)
}
