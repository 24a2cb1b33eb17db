//! Streaming one sample at a time through a GRU-8 and a dense layer (the effect model of
//! `examples/effect_model.rs`), side by side in one run: the generated `step` (criterion)
//! against RTNeural's compile-time `ModelT` of the same layers and weights (its headers
//! and Eigen from `RTNEURAL_DIR`, default `../shared/vendor/rtneural`; built here with
//! `g++ -O3`, once for the default target and once with `-march=native`, timed by the
//! C++ program over the same 48,000 samples, median of 21 rounds). Both stream the same
//! signal first and the outputs are compared, so the two run the same math.
//!
//! ```text
//! cargo bench --bench rtneural
//! ```
//!
//! Without g++ or the headers the RTNeural half is skipped with a message.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;

use criterion::Criterion;
use network::prelude::*;

network! {
    /// The effect model's shape: one sample in, one out, per step.
    struct Effect {
        Input<64, 1>,
        rnn: Gru<8>,
        out: Dense<1>,
    }
}

const SAMPLES: usize = 48_000;

fn signal() -> Vec<f32> {
    let mut rng = Rng::seed_from_u64(5);
    (0..SAMPLES)
        .map(|n| {
            let t = n as f64 / 48_000.0;
            (0.6 * (2.0 * std::f64::consts::PI * (110.0 + 2000.0 * t) * t).sin()
                + rng.uniform(-0.05, 0.05)) as f32
        })
        .collect()
}

fn floats(path: &Path, values: &[f32]) {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

/// The weights in PyTorch's row-major layouts, in the order `gru.cpp` reads them.
fn weights(net: &Effect<f32>) -> Vec<f32> {
    let mut out = Vec::new();
    let rows = |m: &dyn Fn(usize, usize) -> f32, r: usize, c: usize, out: &mut Vec<f32>| {
        for i in 0..r {
            for j in 0..c {
                out.push(m(i, j));
            }
        }
    };
    rows(&|i, j| net.rnn.weight_ih_l0[(i, j)], 24, 1, &mut out);
    rows(&|i, j| net.rnn.weight_hh_l0[(i, j)], 24, 8, &mut out);
    out.extend_from_slice(net.rnn.bias_ih_l0.as_slice());
    out.extend_from_slice(net.rnn.bias_hh_l0.as_slice());
    rows(&|i, j| net.out.weight[(i, j)], 1, 8, &mut out);
    out.extend_from_slice(net.out.bias.as_slice());
    out
}

/// Builds and runs `gru.cpp`; returns its nanoseconds per sample and outputs.
fn rtneural(dir: &Path, rtneural: &Path, native: bool) -> Result<(f64, Vec<f32>), String> {
    let exe = dir.join(if native { "gru-native" } else { "gru" });
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/rtneural/gru.cpp");
    let mut build = Command::new("g++");
    build.args([
        "-O3",
        "-std=c++17",
        "-DRTNEURAL_USE_EIGEN=1",
        "-DRTNEURAL_NAMESPACE=RTNeural",
        "-DRTNEURAL_DEFAULT_ALIGNMENT=16",
    ]);
    if native {
        build.arg("-march=native");
    }
    build
        .arg(format!("-I{}", rtneural.display()))
        .arg(format!("-I{}", rtneural.join("modules/Eigen").display()))
        .arg(&source)
        .arg("-o")
        .arg(&exe);
    let status = build.status().map_err(|e| format!("g++: {e}"))?;
    if !status.success() {
        return Err("g++ failed".into());
    }
    let output = Command::new(&exe)
        .arg(dir.join("weights.f32"))
        .arg(dir.join("input.f32"))
        .arg(dir.join("output.f32"))
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&output.stdout);
    let ns: f64 = text
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("unexpected output {text:?}"))?;
    let bytes = std::fs::read(dir.join("output.f32")).map_err(|e| e.to_string())?;
    let outputs = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    Ok((ns, outputs))
}

/// Criterion's median for one benchmark of this run, in nanoseconds.
fn median(group: &str, name: &str) -> Option<f64> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/criterion")
        .join(group)
        .join(name)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let at = text.find("\"median\"")?;
    let rest = &text[at..];
    let at = rest.find("\"point_estimate\":")? + "\"point_estimate\":".len();
    rest[at..].split([',', '}']).next()?.trim().parse().ok()
}

fn main() {
    let net = Effect::<f32>::random(&mut Rng::seed_from_u64(1));
    let input = signal();
    let ours: Vec<f32> = {
        let mut state = EffectStream::new();
        input
            .iter()
            .map(|&x| net.step(&mut state, &SVector::<f32, 1>::new(x))[0])
            .collect()
    };

    let mut criterion = Criterion::default().configure_from_args();
    {
        let mut group = criterion.benchmark_group("rtneural_gru8");
        let mut state = EffectStream::new();
        let mut n = 0;
        group.bench_function("generated_step", |b| {
            b.iter(|| {
                n = (n + 1) % SAMPLES;
                net.step(&mut state, black_box(&SVector::<f32, 1>::new(input[n])))
            })
        });
        group.finish();
    }
    criterion.final_summary();

    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/rtneural");
    std::fs::create_dir_all(&dir).unwrap();
    floats(&dir.join("weights.f32"), &weights(&net));
    floats(&dir.join("input.f32"), &input);
    let headers = std::env::var_os("RTNEURAL_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/vendor/rtneural"),
        PathBuf::from,
    );
    let ours_ns = median("rtneural_gru8", "generated_step");
    println!("\n| GRU-8 + dense, one sample | ns per sample | generated / this |");
    println!("|---|---|---|");
    if let Some(ns) = ours_ns {
        println!("| generated `step` (criterion median) | {ns:.1} | 1.00x |");
    }
    if !headers.join("RTNeural/RTNeural.h").is_file() {
        println!(
            "RTNeural not found at {} (set RTNEURAL_DIR): skipped",
            headers.display()
        );
        return;
    }
    for native in [false, true] {
        match rtneural(&dir, &headers, native) {
            Ok((ns, theirs)) => {
                let worst = ours
                    .iter()
                    .zip(&theirs)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0f32, f32::max);
                assert!(
                    worst < 1e-4,
                    "RTNeural's outputs differ from ours by {worst}"
                );
                let label = if native {
                    "RTNeural `ModelT`, g++ -O3 -march=native"
                } else {
                    "RTNeural `ModelT`, g++ -O3"
                };
                let ratio = ours_ns.map_or(String::new(), |o| format!("{:.2}x", o / ns));
                println!("| {label} (largest output difference {worst:.1e}) | {ns:.1} | {ratio} |");
            }
            Err(e) => println!("RTNeural build or run failed: {e}"),
        }
    }
}
