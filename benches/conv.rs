//! Convolutional networks, side by side in one run: the generated code against
//! hand-written direct loops of the same math, and against the same matrix products
//! through the matrixmultiply crate (products only, unfolding not counted), with one
//! core's FMA peak measured here.
//!
//! ```text
//! cargo bench --bench conv && python3 benches/ratios.py
//! ```
//!
//! Networks: the digits CNN of `examples/cnn.rs` without its batch norm and dropout
//! (`[1, 8, 8]`, 3x3 convolutions of 32 and 64 channels with "same" padding, ReLU, 2x2
//! max pooling, a dense layer of 256 to 10) at batch 32; and a 1-d stack (`[8, 128]`,
//! three convolutions of 16 channels and kernel 5, ReLU, global average pooling, a dense
//! layer to 4) at batch 16. A training step is forward, mean cross-entropy, backward
//! (no input gradient for the first layer) and an SGD update.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use network::loss::Loss;
use network::nalgebra::SMatrix;
use network::prelude::*;

#[cfg(target_arch = "x86_64")]
#[path = "common/peak.rs"]
mod peak;

network! {
    struct DigitsCnn {
        Input<1, 8, 8>,
        c1: Conv2d<32, 3>(padding = 1), Relu,
        MaxPool2d<2>,
        c2: Conv2d<64, 3>(padding = 1), Relu,
        MaxPool2d<2>,
        Flatten,
        fc: Dense<256, 10>,
    }
}

network! {
    struct Signal {
        Input<8, 128>,
        c1: Conv1d<16, 5>(padding = 2), Relu,
        c2: Conv1d<16, 5>(padding = 2), Relu,
        c3: Conv1d<16, 5>(padding = 2), Relu,
        GlobalAvgPool,
        fc: Dense<4>,
    }
}

/// Multiply-adds of the digits CNN's products per sample: forward, weight gradients, and
/// input gradients of every layer but the first.
pub const CNN_STEP_MACS: u64 = 32 * 9 * 64 * 2 + 64 * 288 * 16 * 3 + 256 * 10 * 3;
pub const CNN_FORWARD_MACS: u64 = 32 * 9 * 64 + 64 * 288 * 16 + 256 * 10;

/// One convolution's shape for the hand-written loops: stride 1, symmetric padding.
#[derive(Clone, Copy)]
struct Shape {
    c: usize,
    h: usize,
    w: usize,
    o: usize,
    kh: usize,
    kw: usize,
    ph: usize,
    pw: usize,
}

impl Shape {
    fn out(&self) -> (usize, usize) {
        (
            self.h + 2 * self.ph + 1 - self.kh,
            self.w + 2 * self.pw + 1 - self.kw,
        )
    }
}

/// Direct loops, written as a user would: every output, every tap, a bounds test.
fn conv_forward(s: Shape, x: &[f32], w: &[f32], b: &[f32], out: &mut [f32]) {
    let (ho, wo) = s.out();
    for o in 0..s.o {
        for oh in 0..ho {
            for ow in 0..wo {
                let mut acc = b[o];
                for c in 0..s.c {
                    for i in 0..s.kh {
                        for j in 0..s.kw {
                            let (ih, iw) = (
                                (oh + i) as isize - s.ph as isize,
                                (ow + j) as isize - s.pw as isize,
                            );
                            if ih >= 0 && iw >= 0 && (ih as usize) < s.h && (iw as usize) < s.w {
                                acc += w[((o * s.c + c) * s.kh + i) * s.kw + j]
                                    * x[(c * s.h + ih as usize) * s.w + iw as usize];
                            }
                        }
                    }
                }
                out[(o * ho + oh) * wo + ow] = acc;
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn conv_backward(
    s: Shape,
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    dw: &mut [f32],
    db: &mut [f32],
    mut dx: Option<&mut [f32]>,
) {
    let (ho, wo) = s.out();
    if let Some(dx) = dx.as_deref_mut() {
        dx.fill(0.0);
    }
    for o in 0..s.o {
        for oh in 0..ho {
            for ow in 0..wo {
                let g = dy[(o * ho + oh) * wo + ow];
                db[o] += g;
                for c in 0..s.c {
                    for i in 0..s.kh {
                        for j in 0..s.kw {
                            let (ih, iw) = (
                                (oh + i) as isize - s.ph as isize,
                                (ow + j) as isize - s.pw as isize,
                            );
                            if ih >= 0 && iw >= 0 && (ih as usize) < s.h && (iw as usize) < s.w {
                                let xi = (c * s.h + ih as usize) * s.w + iw as usize;
                                let wi = ((o * s.c + c) * s.kh + i) * s.kw + j;
                                dw[wi] += g * x[xi];
                                if let Some(dx) = dx.as_deref_mut() {
                                    dx[xi] += g * w[wi];
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn relu(v: &mut [f32]) {
    v.iter_mut().for_each(|x| *x = x.max(0.0));
}

fn relu_backward(y: &[f32], d: &mut [f32]) {
    for (d, &y) in d.iter_mut().zip(y) {
        if y <= 0.0 {
            *d = 0.0;
        }
    }
}

/// 2x2 max pooling of `c` planes `h x w`, remembering the winner's index.
fn pool_forward(c: usize, h: usize, w: usize, x: &[f32], out: &mut [f32], arg: &mut [usize]) {
    let (ho, wo) = (h / 2, w / 2);
    for ch in 0..c {
        for oh in 0..ho {
            for ow in 0..wo {
                let mut best = (f32::NEG_INFINITY, 0);
                for i in 0..2 {
                    for j in 0..2 {
                        let k = (ch * h + 2 * oh + i) * w + 2 * ow + j;
                        if x[k] > best.0 {
                            best = (x[k], k);
                        }
                    }
                }
                let o = (ch * ho + oh) * wo + ow;
                out[o] = best.0;
                arg[o] = best.1;
            }
        }
    }
}

fn dense_forward(i: usize, o: usize, x: &[f32], w: &[f32], b: &[f32], out: &mut [f32]) {
    for r in 0..o {
        let mut acc = b[r];
        for k in 0..i {
            acc += w[r * i + k] * x[k];
        }
        out[r] = acc;
    }
}

fn softmax_grad(z: &[f32], class: usize, scale: f32, d: &mut [f32]) {
    let m = z.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let sum: f32 = z.iter().map(|v| (v - m).exp()).sum();
    for (k, (d, &v)) in d.iter_mut().zip(z).enumerate() {
        *d = ((v - m).exp() / sum - f32::from(u8::from(k == class))) * scale;
    }
}

/// The digits CNN by hand: parameters in PyTorch's layouts, buffers for one sample.
struct HandCnn {
    w1: Vec<f32>,
    b1: Vec<f32>,
    w2: Vec<f32>,
    b2: Vec<f32>,
    w3: Vec<f32>,
    b3: Vec<f32>,
}

const S1: Shape = Shape {
    c: 1,
    h: 8,
    w: 8,
    o: 32,
    kh: 3,
    kw: 3,
    ph: 1,
    pw: 1,
};
const S2: Shape = Shape {
    c: 32,
    h: 4,
    w: 4,
    o: 64,
    kh: 3,
    kw: 3,
    ph: 1,
    pw: 1,
};

impl HandCnn {
    /// One SGD step on a batch (`x` sample-major), gradients summed then applied.
    fn step(&mut self, x: &[f32], classes: &[usize], lr: f32) {
        let n = classes.len();
        let (mut dw1, mut db1) = (vec![0.0; self.w1.len()], vec![0.0; 32]);
        let (mut dw2, mut db2) = (vec![0.0; self.w2.len()], vec![0.0; 64]);
        let (mut dw3, mut db3) = (vec![0.0; self.w3.len()], vec![0.0; 10]);
        let (mut a1, mut p1, mut i1) = (vec![0.0; 2048], vec![0.0; 512], vec![0; 512]);
        let (mut a2, mut p2, mut i2) = (vec![0.0; 1024], vec![0.0; 256], vec![0; 256]);
        let (mut z, mut dz) = (vec![0.0; 10], vec![0.0; 10]);
        let (mut dp2, mut da2, mut dp1, mut da1) = (
            vec![0.0; 256],
            vec![0.0; 1024],
            vec![0.0; 512],
            vec![0.0; 2048],
        );
        for (s, &class) in classes.iter().enumerate() {
            let xs = &x[s * 64..(s + 1) * 64];
            conv_forward(S1, xs, &self.w1, &self.b1, &mut a1);
            relu(&mut a1);
            pool_forward(32, 8, 8, &a1, &mut p1, &mut i1);
            conv_forward(S2, &p1, &self.w2, &self.b2, &mut a2);
            relu(&mut a2);
            pool_forward(64, 4, 4, &a2, &mut p2, &mut i2);
            dense_forward(256, 10, &p2, &self.w3, &self.b3, &mut z);
            softmax_grad(&z, class, 1.0 / n as f32, &mut dz);
            // Backward.
            dp2.fill(0.0);
            for r in 0..10 {
                db3[r] += dz[r];
                for k in 0..256 {
                    dw3[r * 256 + k] += dz[r] * p2[k];
                    dp2[k] += dz[r] * self.w3[r * 256 + k];
                }
            }
            da2.fill(0.0);
            for (k, &i) in i2.iter().enumerate() {
                da2[i] += dp2[k];
            }
            relu_backward(&a2, &mut da2);
            conv_backward(S2, &p1, &self.w2, &da2, &mut dw2, &mut db2, Some(&mut dp1));
            da1.fill(0.0);
            for (k, &i) in i1.iter().enumerate() {
                da1[i] += dp1[k];
            }
            relu_backward(&a1, &mut da1);
            conv_backward(S1, xs, &self.w1, &da1, &mut dw1, &mut db1, None);
        }
        for (p, g) in [
            (&mut self.w1, &dw1),
            (&mut self.b1, &db1),
            (&mut self.w2, &dw2),
            (&mut self.b2, &db2),
            (&mut self.w3, &dw3),
            (&mut self.b3, &db3),
        ] {
            p.iter_mut().zip(g).for_each(|(p, g)| *p -= lr * g);
        }
    }
}

/// The digits CNN's products through matrixmultiply on unfolded inputs (`cols` already
/// built): forward and weight gradients of both convolutions and the dense layer, the
/// input gradients of the second convolution and the dense layer. Column-major.
#[allow(clippy::too_many_arguments)]
fn matrixmultiply_products(
    col1: &[f32],
    col2: &[f32],
    w1: &[f32],
    w2: &[f32],
    w3: &[f32],
    out1: &mut [f32],
    out2: &mut [f32],
    p2: &[f32],
    z: &mut [f32],
    dw: &mut [f32],
    dcol: &mut [f32],
) {
    // (m, k, n, a, rsa, csa, b, rsb, csb, beta, c): C[m x n] = A[m x k] B[k x n].
    let sgemm = |m, k, n, a: *const f32, rsa, csa, b: *const f32, rsb, csb, beta, c: *mut f32| unsafe {
        matrixmultiply::sgemm(
            m, k, n, 1.0, a, rsa, csa, b, rsb, csb, beta, c, 1, m as isize,
        );
    };
    let (p1, p2n) = (64 * 32, 16 * 32);
    // Forward: [32 x 9] x [9 x 2048], [64 x 288] x [288 x 512], [10 x 256] x [256 x 32].
    sgemm(
        32,
        9,
        p1,
        w1.as_ptr(),
        9,
        1,
        col1.as_ptr(),
        1,
        9,
        0.0,
        out1.as_mut_ptr(),
    );
    sgemm(
        64,
        288,
        p2n,
        w2.as_ptr(),
        288,
        1,
        col2.as_ptr(),
        1,
        288,
        0.0,
        out2.as_mut_ptr(),
    );
    sgemm(
        10,
        256,
        32,
        w3.as_ptr(),
        256,
        1,
        p2.as_ptr(),
        1,
        256,
        0.0,
        z.as_mut_ptr(),
    );
    // Weight gradients: dW = dY col^T (dY stands in with the forward outputs).
    sgemm(
        10,
        32,
        256,
        z.as_ptr(),
        1,
        10,
        p2.as_ptr(),
        256,
        1,
        1.0,
        dw.as_mut_ptr(),
    );
    sgemm(
        64,
        p2n,
        288,
        out2.as_ptr(),
        1,
        64,
        col2.as_ptr(),
        288,
        1,
        1.0,
        dw.as_mut_ptr(),
    );
    sgemm(
        32,
        p1,
        9,
        out1.as_ptr(),
        1,
        32,
        col1.as_ptr(),
        9,
        1,
        1.0,
        dw.as_mut_ptr(),
    );
    // Input gradients: dcol = W^T dY for the second convolution, dP2 = W3^T dZ.
    sgemm(
        288,
        64,
        p2n,
        w2.as_ptr(),
        1,
        288,
        out2.as_ptr(),
        1,
        64,
        0.0,
        dcol.as_mut_ptr(),
    );
    sgemm(
        256,
        10,
        32,
        w3.as_ptr(),
        1,
        256,
        z.as_ptr(),
        1,
        10,
        0.0,
        dcol.as_mut_ptr(),
    );
}

fn conv(c: &mut Criterion) {
    let mut rng = Rng::seed_from_u64(1);
    let mut group = c.benchmark_group("conv_digits_cnn_b32");
    #[cfg(target_arch = "x86_64")]
    {
        const ITERATIONS: u64 = 10_000;
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            group.bench_function("fma_peak_avx2_1920000_flops", |b| {
                b.iter(|| unsafe { peak::avx2(black_box(ITERATIONS)) })
            });
        }
        if std::is_x86_feature_detected!("avx512f") {
            group.bench_function("fma_peak_avx512_3840000_flops", |b| {
                b.iter(|| unsafe { peak::avx512(black_box(ITERATIONS)) })
            });
        }
    }
    let mut net = DigitsCnn::<f32>::random(&mut rng);
    let mut grads = DigitsCnn::<f32>::zeros();
    let mut tape = Box::new(DigitsCnn::<f32>::new_tape::<32>());
    let x = Box::new(SMatrix::<f32, 64, 32>::from_fn(|_, _| {
        rng.uniform(-1.0, 1.0) as f32
    }));
    let classes: Vec<usize> = (0..32).map(|k| k % 10).collect();
    let y = SMatrix::<f32, 10, 32>::from_fn(|r, col| if classes[col] == r { 1.0 } else { 0.0 });
    group.bench_function("generated_forward", |b| {
        b.iter(|| net.forward(black_box(&x)))
    });
    group.bench_function("generated_step", |b| {
        b.iter(|| {
            let mut step_rng = Rng::seed_from_u64(0);
            compute_gradients(
                &mut net,
                &x,
                &y,
                &SoftmaxCrossEntropy,
                &mut tape,
                &mut grads,
                &mut step_rng,
            )
            .unwrap();
            Sgd::new(1e-4).step(&mut net, &grads);
        })
    });
    group.bench_function("generated_fused_step", |b| {
        b.iter(|| {
            let out = *net.forward_train(&x, &mut tape, &mut Rng::seed_from_u64(0));
            let mut d = SMatrix::<f32, 10, 32>::zeros();
            SoftmaxCrossEntropy.loss_and_grad(&out, &y, &mut d);
            net.backward_sgd(&x, &tape, &d, 1e-4);
        })
    });
    let mut hand = HandCnn {
        w1: net.c1.weight.as_slice().to_vec(),
        b1: net.c1.bias.as_slice().to_vec(),
        w2: net.c2.weight.as_slice().to_vec(),
        b2: net.c2.bias.as_slice().to_vec(),
        w3: net.fc.weight.transpose().as_slice().to_vec(),
        b3: net.fc.bias.as_slice().to_vec(),
    };
    group.bench_function("handwritten_direct_step", |b| {
        b.iter(|| hand.step(black_box(x.as_slice()), &classes, 1e-4))
    });
    let (col1, col2) = (vec![0.5f32; 9 * 2048], vec![0.5f32; 288 * 512]);
    let (mut out1, mut out2) = (vec![0.0f32; 32 * 2048], vec![0.0f32; 64 * 512]);
    let (p2, mut z) = (vec![0.5f32; 256 * 32], vec![0.0f32; 10 * 32]);
    let (mut dw, mut dcol) = (vec![0.0f32; 64 * 288], vec![0.0f32; 288 * 512]);
    let (w1, w2, w3) = (hand.w1.clone(), hand.w2.clone(), hand.w3.clone());
    group.bench_function("matrixmultiply_products", |b| {
        b.iter(|| {
            matrixmultiply_products(
                black_box(&col1),
                &col2,
                &w1,
                &w2,
                &w3,
                &mut out1,
                &mut out2,
                &p2,
                &mut z,
                &mut dw,
                &mut dcol,
            )
        })
    });
    group.finish();

    // The 1-d stack at batch 16, against the same math in direct loops.
    let mut group = c.benchmark_group("conv_signal_b16");
    let mut net = Signal::<f32>::random(&mut rng);
    let mut grads = Signal::<f32>::zeros();
    let mut tape = Box::new(Signal::<f32>::new_tape::<16>());
    let x = Box::new(SMatrix::<f32, 1024, 16>::from_fn(|_, _| {
        rng.uniform(-1.0, 1.0) as f32
    }));
    let y = SMatrix::<f32, 4, 16>::from_fn(|r, col| if col % 4 == r { 1.0 } else { 0.0 });
    group.bench_function("generated_forward", |b| {
        b.iter(|| net.forward(black_box(&x)))
    });
    group.bench_function("generated_step", |b| {
        b.iter(|| {
            compute_gradients(
                &mut net,
                &x,
                &y,
                &SoftmaxCrossEntropy,
                &mut tape,
                &mut grads,
                &mut Rng::seed_from_u64(0),
            )
            .unwrap();
            Sgd::new(1e-4).step(&mut net, &grads);
        })
    });
    let shapes = [
        Shape {
            c: 8,
            h: 1,
            w: 128,
            o: 16,
            kh: 1,
            kw: 5,
            ph: 0,
            pw: 2,
        },
        Shape {
            c: 16,
            h: 1,
            w: 128,
            o: 16,
            kh: 1,
            kw: 5,
            ph: 0,
            pw: 2,
        },
        Shape {
            c: 16,
            h: 1,
            w: 128,
            o: 16,
            kh: 1,
            kw: 5,
            ph: 0,
            pw: 2,
        },
    ];
    let weights: Vec<Vec<f32>> = [
        net.c1.weight.as_slice(),
        net.c2.weight.as_slice(),
        net.c3.weight.as_slice(),
    ]
    .iter()
    .map(|w| w.to_vec())
    .collect();
    let bias = vec![0.0f32; 16];
    let mut acts = [vec![0.0f32; 2048], vec![0.0f32; 2048], vec![0.0f32; 2048]];
    group.bench_function("handwritten_direct_forward", |b| {
        b.iter(|| {
            let mut pooled = [0.0f32; 16];
            for s in 0..16 {
                let xs = &x.as_slice()[s * 1024..(s + 1) * 1024];
                conv_forward(shapes[0], xs, &weights[0], &bias, &mut acts[0]);
                relu(&mut acts[0]);
                let (a, rest) = acts.split_at_mut(1);
                conv_forward(shapes[1], &a[0], &weights[1], &bias, &mut rest[0]);
                relu(&mut rest[0]);
                let (a, rest) = acts.split_at_mut(2);
                conv_forward(shapes[2], &a[1], &weights[2], &bias, &mut rest[0]);
                relu(&mut rest[0]);
                for (c, p) in pooled.iter_mut().enumerate() {
                    *p = acts[2][c * 128..(c + 1) * 128].iter().sum::<f32>() / 128.0;
                }
                black_box(&pooled);
            }
        })
    });
    group.finish();
}

criterion_group!(benches, conv);
criterion_main!(benches);
