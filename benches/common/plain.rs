//! Hand-written plain-loop layers and the 4-16-16-3 MLP built from them, shared by
//! `tiny` and `interleaved`.

// Plain index loops are the baseline being measured.
#![allow(clippy::needless_range_loop)]

use network::prelude::*;

/// The learning rate of every step.
pub const LR: f32 = 0.01;

/// Plain loops over fixed-size arrays, weights stored by input (`w[i][o]`) so that the
/// inner loops run over contiguous outputs and LLVM vectorizes them: the fastest simple
/// hand-written MLP we know how to write.
#[derive(Clone)]
pub struct PlainLayer<const I: usize, const O: usize> {
    w: [[f32; O]; I],
    b: [f32; O],
}

impl<const I: usize, const O: usize> PlainLayer<I, O> {
    pub fn from(d: &Dense<f32, I, O>) -> Self {
        PlainLayer {
            w: core::array::from_fn(|i| core::array::from_fn(|o| d.weight[(o, i)])),
            b: core::array::from_fn(|o| d.bias[o]),
        }
    }

    #[inline(always)]
    pub fn forward(&self, x: &[f32; I]) -> [f32; O] {
        let mut out = self.b;
        for i in 0..I {
            for o in 0..O {
                out[o] += self.w[i][o] * x[i];
            }
        }
        out
    }

    /// dx = W^T d (before the update), then W -= lr d x^T, b -= lr d.
    #[inline(always)]
    pub fn backward_sgd(&mut self, x: &[f32; I], d: &[f32; O]) -> [f32; I] {
        let mut dx = [0.0; I];
        for i in 0..I {
            let mut s = 0.0;
            for o in 0..O {
                s += self.w[i][o] * d[o];
            }
            dx[i] = s;
        }
        for i in 0..I {
            for o in 0..O {
                self.w[i][o] -= LR * d[o] * x[i];
            }
        }
        for o in 0..O {
            self.b[o] -= LR * d[o];
        }
        dx
    }
}

pub struct PlainMlp(
    pub PlainLayer<4, 16>,
    pub PlainLayer<16, 16>,
    pub PlainLayer<16, 3>,
);

impl PlainMlp {
    pub fn forward(&self, x: &[f32; 4]) -> [f32; 3] {
        let h1 = self.0.forward(x).map(|v| v.max(0.0));
        let h2 = self.1.forward(&h1).map(|v| v.max(0.0));
        self.2.forward(&h2)
    }

    pub fn step(&mut self, x: &[f32; 4], y: &[f32; 3]) -> f32 {
        let h1 = self.0.forward(x).map(|v| v.max(0.0));
        let h2 = self.1.forward(&h1).map(|v| v.max(0.0));
        let z = self.2.forward(&h2);
        let max = z.iter().cloned().fold(f32::MIN, f32::max);
        let e = z.map(|v| libm::expf(v - max));
        let sum: f32 = e.iter().sum();
        let loss = max + libm::logf(sum) - (0..3).map(|k| y[k] * z[k]).sum::<f32>();
        let d3: [f32; 3] = core::array::from_fn(|k| e[k] / sum - y[k]);
        let mut d2 = self.2.backward_sgd(&h2, &d3);
        (0..16).for_each(|k| d2[k] *= if h2[k] > 0.0 { 1.0 } else { 0.0 });
        let mut d1 = self.1.backward_sgd(&h1, &d2);
        (0..16).for_each(|k| d1[k] *= if h1[k] > 0.0 { 1.0 } else { 0.0 });
        self.0.backward_sgd(x, &d1);
        loss
    }
}
