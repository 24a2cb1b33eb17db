//! Single-sample inference of wide layers, side by side in one run: 784-128-10 and
//! 256-256-256-10 (ReLU), the generated `forward` against hand-written Rust of the same
//! math, and against reading the weights once (the memory traffic the layer cannot
//! avoid, read with AVX2).
//!
//! Hand-written baselines, each built three times: with this build's flags (as a crate
//! using ours would be), and inside functions compiled with `target_feature(enable =
//! "avx2,fma")` and with `"avx512f,avx2,fma"` (where the CPU has them), what
//! `-C target-cpu=native` gives a loop on such a machine:
//! - plain loops, weights stored by input (`w[i][o]`) so that the inner loop runs over
//!   contiguous outputs and vectorizes (the fastest simple form);
//! - nalgebra, `w * x + b` on `SMatrix`/`SVector`.
//!
//! ```text
//! cargo bench --bench inference && python3 benches/ratios.py
//! ```

// Plain index loops are the baseline being measured.
#![allow(clippy::needless_range_loop)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use network::nalgebra::{SMatrix, SVector};
use network::prelude::*;

#[path = "common/wide.rs"]
mod wide;
use wide::{Deep, Wide};

/// A dense layer in plain loops, weights by input.
struct Plain<const I: usize, const O: usize> {
    w: Box<[[f32; O]; I]>,
    b: [f32; O],
}

impl<const I: usize, const O: usize> Plain<I, O> {
    /// From the generated layer's `[O, I]` weights.
    fn from(w: &SMatrix<f32, O, I>, b: &SVector<f32, O>) -> Self {
        let mut by_input = Box::new([[0.0; O]; I]);
        for i in 0..I {
            for o in 0..O {
                by_input[i][o] = w[(o, i)];
            }
        }
        Self {
            w: by_input,
            b: core::array::from_fn(|o| b[o]),
        }
    }

    #[inline(always)]
    fn forward(&self, x: &[f32; I], relu: bool) -> [f32; O] {
        let mut y = self.b;
        for i in 0..I {
            let xi = x[i];
            for o in 0..O {
                y[o] += self.w[i][o] * xi;
            }
        }
        if relu {
            for v in &mut y {
                *v = v.max(0.0);
            }
        }
        y
    }
}

/// A dense layer with nalgebra.
struct Nalgebra<const I: usize, const O: usize> {
    w: Box<SMatrix<f32, O, I>>,
    b: SVector<f32, O>,
}

impl<const I: usize, const O: usize> Nalgebra<I, O> {
    #[inline(always)]
    fn forward(&self, x: &SVector<f32, I>, relu: bool) -> SVector<f32, O> {
        // By reference: `*self.w * x` would copy the whole matrix first.
        let w: &SMatrix<f32, O, I> = &self.w;
        let y = w * x + self.b;
        if relu {
            y.map(|v| v.max(0.0))
        } else {
            y
        }
    }
}

#[inline(always)]
fn plain_wide(l: &(Plain<784, 128>, Plain<128, 10>), x: &[f32; 784]) -> [f32; 10] {
    l.1.forward(&l.0.forward(x, true), false)
}

#[target_feature(enable = "avx2,fma")]
fn plain_wide_avx2(l: &(Plain<784, 128>, Plain<128, 10>), x: &[f32; 784]) -> [f32; 10] {
    plain_wide(l, x)
}

#[inline(always)]
fn nalgebra_wide(
    l: &(Nalgebra<784, 128>, Nalgebra<128, 10>),
    x: &SVector<f32, 784>,
) -> SVector<f32, 10> {
    l.1.forward(&l.0.forward(x, true), false)
}

#[target_feature(enable = "avx2,fma")]
fn nalgebra_wide_avx2(
    l: &(Nalgebra<784, 128>, Nalgebra<128, 10>),
    x: &SVector<f32, 784>,
) -> SVector<f32, 10> {
    nalgebra_wide(l, x)
}

#[target_feature(enable = "avx512f,avx2,fma")]
fn plain_wide_avx512(l: &(Plain<784, 128>, Plain<128, 10>), x: &[f32; 784]) -> [f32; 10] {
    plain_wide(l, x)
}

#[target_feature(enable = "avx512f,avx2,fma")]
fn nalgebra_wide_avx512(
    l: &(Nalgebra<784, 128>, Nalgebra<128, 10>),
    x: &SVector<f32, 784>,
) -> SVector<f32, 10> {
    nalgebra_wide(l, x)
}

type PlainDeep = (
    Plain<256, 256>,
    Plain<256, 256>,
    Plain<256, 256>,
    Plain<256, 10>,
);
type NalgebraDeep = (
    Nalgebra<256, 256>,
    Nalgebra<256, 256>,
    Nalgebra<256, 256>,
    Nalgebra<256, 10>,
);

#[inline(always)]
fn plain_deep(l: &PlainDeep, x: &[f32; 256]) -> [f32; 10] {
    let h = l.2.forward(&l.1.forward(&l.0.forward(x, true), true), true);
    l.3.forward(&h, false)
}

#[target_feature(enable = "avx2,fma")]
fn plain_deep_avx2(l: &PlainDeep, x: &[f32; 256]) -> [f32; 10] {
    plain_deep(l, x)
}

#[inline(always)]
fn nalgebra_deep(l: &NalgebraDeep, x: &SVector<f32, 256>) -> SVector<f32, 10> {
    let h = l.2.forward(&l.1.forward(&l.0.forward(x, true), true), true);
    l.3.forward(&h, false)
}

#[target_feature(enable = "avx2,fma")]
fn nalgebra_deep_avx2(l: &NalgebraDeep, x: &SVector<f32, 256>) -> SVector<f32, 10> {
    nalgebra_deep(l, x)
}

#[target_feature(enable = "avx512f,avx2,fma")]
fn plain_deep_avx512(l: &PlainDeep, x: &[f32; 256]) -> [f32; 10] {
    plain_deep(l, x)
}

#[target_feature(enable = "avx512f,avx2,fma")]
fn nalgebra_deep_avx512(l: &NalgebraDeep, x: &SVector<f32, 256>) -> SVector<f32, 10> {
    nalgebra_deep(l, x)
}

/// Sums every weight once with AVX2 loads into eight independent vector sums (so that the
/// loads, not the additions' latency, set the pace): the layers' unavoidable traffic, at
/// the rate this core reads it.
#[target_feature(enable = "avx2,fma")]
fn read_all_avx2(weights: &[&[f32]]) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm256_setzero_ps(); 8];
    for w in weights {
        for chunk in w.chunks_exact(64) {
            for (k, a) in acc.iter_mut().enumerate() {
                // SAFETY: 8 floats at 8 k within a chunk of 64.
                let v = unsafe { _mm256_loadu_ps(chunk.as_ptr().add(8 * k)) };
                *a = _mm256_add_ps(*a, v);
            }
        }
    }
    let mut lanes = [0.0f32; 8];
    let sum = acc
        .iter()
        .fold(_mm256_setzero_ps(), |s, &a| _mm256_add_ps(s, a));
    // SAFETY: `lanes` holds 8 floats.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), sum) };
    lanes.iter().sum()
}

fn benches(c: &mut Criterion) {
    let avx2 = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
    let avx512 = avx2 && is_x86_feature_detected!("avx512f");
    let mut rng = Rng::seed_from_u64(1);

    let wide = network::boxed::random::<f32, Wide<f32>, 784, 10>(&mut rng);
    let x = SVector::<f32, 784>::from_fn(|_, _| rng.uniform(0.0, 1.0) as f32);
    let xa: [f32; 784] = core::array::from_fn(|i| x[i]);
    let plain = (
        Plain::from(&wide.hidden.weight, &wide.hidden.bias),
        Plain::from(&wide.logits.weight, &wide.logits.bias),
    );
    let nalgebra = (
        Nalgebra {
            w: Box::new(wide.hidden.weight),
            b: wide.hidden.bias,
        },
        Nalgebra {
            w: Box::new(wide.logits.weight),
            b: wide.logits.bias,
        },
    );
    let reference = wide.forward(&x);
    for (o, v) in plain_wide(&plain, &xa).iter().enumerate() {
        assert!((v - reference[o]).abs() < 1e-3, "plain loops disagree");
    }
    assert!((nalgebra_wide(&nalgebra, &x) - reference).amax() < 1e-3);
    let mut group = c.benchmark_group("inference_784-128-10");
    group.bench_function("generated", |b| b.iter(|| wide.forward(black_box(&x))));
    group.bench_function("plain_loops", |b| {
        b.iter(|| plain_wide(black_box(&plain), black_box(&xa)))
    });
    group.bench_function("nalgebra", |b| {
        b.iter(|| nalgebra_wide(black_box(&nalgebra), black_box(&x)))
    });
    let weights = [wide.hidden.weight.as_slice(), wide.logits.weight.as_slice()];
    if avx2 {
        // SAFETY (all three): the CPU has AVX2 and FMA, checked above.
        group.bench_function("plain_loops_avx2_fma", |b| {
            b.iter(|| unsafe { plain_wide_avx2(black_box(&plain), black_box(&xa)) })
        });
        group.bench_function("nalgebra_avx2_fma", |b| {
            b.iter(|| unsafe { nalgebra_wide_avx2(black_box(&nalgebra), black_box(&x)) })
        });
        group.bench_function("read_weights_avx2", |b| {
            b.iter(|| unsafe { read_all_avx2(black_box(&weights)) })
        });
    }
    if avx512 {
        // SAFETY (both): the CPU has AVX-512F, AVX2 and FMA, checked above.
        group.bench_function("plain_loops_avx512", |b| {
            b.iter(|| unsafe { plain_wide_avx512(black_box(&plain), black_box(&xa)) })
        });
        group.bench_function("nalgebra_avx512", |b| {
            b.iter(|| unsafe { nalgebra_wide_avx512(black_box(&nalgebra), black_box(&x)) })
        });
    }
    group.finish();

    let deep = network::boxed::random::<f32, Deep<f32>, 256, 10>(&mut rng);
    let x = SVector::<f32, 256>::from_fn(|_, _| rng.uniform(0.0, 1.0) as f32);
    let xa: [f32; 256] = core::array::from_fn(|i| x[i]);
    let plain: PlainDeep = (
        Plain::from(&deep.a.weight, &deep.a.bias),
        Plain::from(&deep.b.weight, &deep.b.bias),
        Plain::from(&deep.c.weight, &deep.c.bias),
        Plain::from(&deep.logits.weight, &deep.logits.bias),
    );
    let nal = |w: &SMatrix<f32, 256, 256>, b: &SVector<f32, 256>| Nalgebra {
        w: Box::new(*w),
        b: *b,
    };
    let nalgebra: NalgebraDeep = (
        nal(&deep.a.weight, &deep.a.bias),
        nal(&deep.b.weight, &deep.b.bias),
        nal(&deep.c.weight, &deep.c.bias),
        Nalgebra {
            w: Box::new(deep.logits.weight),
            b: deep.logits.bias,
        },
    );
    let reference = deep.forward(&x);
    for (o, v) in plain_deep(&plain, &xa).iter().enumerate() {
        assert!((v - reference[o]).abs() < 1e-3, "plain loops disagree");
    }
    assert!((nalgebra_deep(&nalgebra, &x) - reference).amax() < 1e-3);
    let mut group = c.benchmark_group("inference_256-256-256-10");
    group.bench_function("generated", |b| b.iter(|| deep.forward(black_box(&x))));
    group.bench_function("plain_loops", |b| {
        b.iter(|| plain_deep(black_box(&plain), black_box(&xa)))
    });
    group.bench_function("nalgebra", |b| {
        b.iter(|| nalgebra_deep(black_box(&nalgebra), black_box(&x)))
    });
    let weights = [
        deep.a.weight.as_slice(),
        deep.b.weight.as_slice(),
        deep.c.weight.as_slice(),
        deep.logits.weight.as_slice(),
    ];
    if avx2 {
        // SAFETY (all three): the CPU has AVX2 and FMA, checked above.
        group.bench_function("plain_loops_avx2_fma", |b| {
            b.iter(|| unsafe { plain_deep_avx2(black_box(&plain), black_box(&xa)) })
        });
        group.bench_function("nalgebra_avx2_fma", |b| {
            b.iter(|| unsafe { nalgebra_deep_avx2(black_box(&nalgebra), black_box(&x)) })
        });
        group.bench_function("read_weights_avx2", |b| {
            b.iter(|| unsafe { read_all_avx2(black_box(&weights)) })
        });
    }
    if avx512 {
        // SAFETY (both): the CPU has AVX-512F, AVX2 and FMA, checked above.
        group.bench_function("plain_loops_avx512", |b| {
            b.iter(|| unsafe { plain_deep_avx512(black_box(&plain), black_box(&xa)) })
        });
        group.bench_function("nalgebra_avx512", |b| {
            b.iter(|| unsafe { nalgebra_deep_avx512(black_box(&nalgebra), black_box(&x)) })
        });
    }
    group.finish();
}

criterion_group!(inference, benches);
criterion_main!(inference);
