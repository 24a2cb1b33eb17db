//! The 4-16-16-3 one-sample SGD step, generated (fused `backward_sgd`, and
//! `backward_overwrite` into a gradient buffer + `Sgd::step`) against hand-written Rust of
//! the same math (plain loops; nalgebra; nalgebra in place, with default flags and compiled
//! for AVX2 + FMA and for AVX-512), measured interleaved: every round times a block of
//! steps of each form in turn (rotating which goes first), and each ratio is taken within
//! the round. On a shared machine whose speed drifts by 10% between criterion's
//! back-to-back measurements, the median of those per-round ratios is what stays put.
//!
//! ```text
//! cargo bench --bench interleaved
//! ```
//!
//! Without `--bench` (as `cargo test --benches` runs it) it makes a few rounds only.

use std::hint::black_box;
use std::time::Instant;

use network::nalgebra::SVector;
use network::prelude::*;

#[path = "common/plain.rs"]
#[allow(dead_code)] // `PlainMlp::forward` is measured by `tiny` only
mod plain;
#[path = "common/tiny.rs"]
mod tiny_step;
use plain::{PlainLayer, PlainMlp};
use tiny_step::{generated_fused_step, generated_step, HandTiny, Tiny};

/// Steps per timed block (about 0.3 ms: well above the timer's resolution, well below
/// the time scale of the machine's drift).
const BLOCK: usize = 2000;

/// The generated forms come first in the list of forms, the hand-written ones after.
const OURS: usize = 2;

type Step<'a> = Box<dyn FnMut() -> f32 + 'a>;

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn main() {
    let rounds = if std::env::args().any(|a| a == "--bench") {
        2000
    } else {
        3
    };
    let mut rng = Rng::seed_from_u64(1);
    let start = Tiny::<f32>::random(&mut rng);
    let x = SVector::<f32, 4>::from_fn(|_, _| rng.uniform(-1.0, 1.0) as f32);
    let mut y = SVector::<f32, 3>::zeros();
    y[rng.below(3)] = 1.0;

    let copy = || {
        let mut net = Tiny::<f32>::zeros();
        net.zip_params_mut(&start, |_, d, s| d.copy_from_slice(s));
        net
    };
    let (mut fused, mut buffered, mut grads) = (copy(), copy(), Tiny::<f32>::zeros());
    let mut tape = Tiny::<f32>::new_tape::<1>();
    let mut tape_buffered = Tiny::<f32>::new_tape::<1>();
    let mut plain = PlainMlp(
        PlainLayer::from(&start.hidden),
        PlainLayer::from(&start.deeper),
        PlainLayer::from(&start.logits),
    );
    let (xa, ya): ([f32; 4], [f32; 3]) = (x.into(), y.into());
    let (mut hand, mut hand_in_place) = (HandTiny::from(&start), HandTiny::from(&start));
    let mut variants: Vec<(&str, Step)> = vec![
        (
            "generated fused (`backward_sgd`)",
            Box::new(|| generated_fused_step(&mut fused, &mut tape, black_box(&x), black_box(&y))),
        ),
        (
            "generated (`backward_overwrite` + `Sgd::step`)",
            Box::new(|| {
                generated_step(
                    &mut buffered,
                    &mut grads,
                    &mut tape_buffered,
                    black_box(&x),
                    black_box(&y),
                )
            }),
        ),
        (
            "plain loops",
            Box::new(|| plain.step(black_box(&xa), black_box(&ya))),
        ),
        (
            "nalgebra",
            Box::new(|| hand.step(black_box(&x), black_box(&y))),
        ),
        (
            "nalgebra in place",
            Box::new(|| hand_in_place.step_in_place(black_box(&x), black_box(&y))),
        ),
    ];
    #[cfg(target_arch = "x86_64")]
    {
        use tiny_step::{hand_tiny_avx2, hand_tiny_avx512};
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            let mut hand = HandTiny::from(&start);
            variants.push((
                "nalgebra in place, AVX2 + FMA function",
                // SAFETY: the CPU has AVX2 and FMA (checked above).
                Box::new(move || unsafe {
                    hand_tiny_avx2(&mut hand, black_box(&x), black_box(&y))
                }),
            ));
        }
        if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("fma") {
            let mut hand = HandTiny::from(&start);
            variants.push((
                "nalgebra in place, AVX-512 function",
                // SAFETY: the CPU has AVX-512F, AVX2 and FMA (checked above).
                Box::new(move || unsafe {
                    hand_tiny_avx512(&mut hand, black_box(&x), black_box(&y))
                }),
            ));
        }
    }

    // Same math: the first step of every form, from the same weights, gives the same loss.
    let first: Vec<f32> = variants.iter_mut().map(|(_, step)| step()).collect();
    for ((name, _), loss) in variants.iter().zip(&first) {
        assert!(
            (loss - first[0]).abs() < 1e-5,
            "{name}: loss {loss} against the generated step's {}",
            first[0]
        );
    }

    // Nanoseconds per step, by round and variant.
    let count = variants.len();
    let mut times = vec![vec![0.0f64; count]; rounds];
    for (round, row) in times.iter_mut().enumerate() {
        for k in 0..count {
            let v = (round + k) % count;
            let step = &mut variants[v].1;
            let start = Instant::now();
            for _ in 0..BLOCK {
                black_box(step());
            }
            row[v] = start.elapsed().as_nanos() as f64 / BLOCK as f64;
        }
    }

    println!(
        "4-16-16-3 one-sample SGD step, {rounds} interleaved rounds of {BLOCK} steps per form"
    );
    println!();
    println!("| form | median time |");
    println!("|---|---|");
    for (v, (name, _)) in variants.iter().enumerate() {
        let mut own: Vec<f64> = times.iter().map(|row| row[v]).collect();
        own.sort_by(f64::total_cmp);
        println!("| {name} | {:.1} ns |", quantile(&own, 0.5));
    }
    println!();
    println!("Generated / hand-written: the median of the per-round ratios (25%-75% of rounds).");
    println!();
    let header: Vec<&str> = variants[OURS..].iter().map(|(name, _)| *name).collect();
    println!("| generated / | {} |", header.join(" | "));
    println!("|---|{}", "---|".repeat(header.len()));
    for (g, (name, _)) in variants[..OURS].iter().enumerate() {
        let cells: Vec<String> = (OURS..count)
            .map(|h| {
                let mut ratios: Vec<f64> = times.iter().map(|row| row[g] / row[h]).collect();
                ratios.sort_by(f64::total_cmp);
                format!(
                    "{:.3}x ({:.3}-{:.3})",
                    quantile(&ratios, 0.5),
                    quantile(&ratios, 0.25),
                    quantile(&ratios, 0.75)
                )
            })
            .collect();
        println!("| {name} | {} |", cells.join(" | "));
    }
}
