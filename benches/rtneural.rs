//! Streaming one sample at a time through a GRU-8 and a dense layer (the effect model of
//! `examples/effect_model.rs`), side by side in one run: the generated `step` (criterion)
//! against RTNeural's compile-time `ModelT` of the same layers and weights (its headers
//! and Eigen from `RTNEURAL_DIR`, default `../shared/vendor/rtneural`; built here with
//! `g++ -O3`, once for the default target and once with `-march=native`, timed by the
//! C++ program over the same 48,000 samples, median of 21 rounds). Both stream the same
//! signal first and the outputs are compared, so the two run the same math. The same for
//! an LSTM of 8 and of 20 units in the GRU's place (`lstm.cpp`).
//!
//! Then one-sample inference of the wide networks of `benches/inference.rs`
//! (784-128-10 and 256-256-256-10, ReLU): the generated `forward` (criterion) against
//! RTNeural's `DenseT` and `ReLuActivationT` layers of the same weights (`dense.cpp`, the
//! same two builds, median of 21 rounds of 20,000 passes), both cycling through the same
//! 16 input samples, whose outputs are compared first.
//!
//! ```text
//! cargo bench --bench rtneural
//! ```
//!
//! Without g++ or the headers the RTNeural side is skipped with a message.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;

use criterion::Criterion;
use network::prelude::*;

#[path = "common/wide.rs"]
mod wide;
use wide::{Deep, Wide};

network! {
    /// The effect model's shape: one sample in, one out, per step.
    struct Effect {
        Input<64, 1>,
        rnn: Gru<8>,
        out: Dense<1>,
    }
}

network! {
    /// The same shape with an LSTM of 8 units.
    struct Lstm8 {
        Input<64, 1>,
        rnn: Lstm<8>,
        out: Dense<1>,
    }
}

network! {
    /// The same shape with an LSTM of 20 units (the size of common guitar-amplifier
    /// models).
    struct Lstm20 {
        Input<64, 1>,
        rnn: Lstm<20>,
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

/// A matrix's values row by row (PyTorch's layout).
fn rows<const R: usize, const C: usize>(m: &SMatrix<f32, R, C>, out: &mut Vec<f32>) {
    for i in 0..R {
        out.extend((0..C).map(|j| m[(i, j)]));
    }
}

/// A recurrent layer's weights and the dense layer after it, in PyTorch's layouts, in the
/// order `gru.cpp` and `lstm.cpp` read them: `weight_ih`, `weight_hh`, `bias_ih`,
/// `bias_hh`, the dense weight and bias.
fn recurrent_weights<const G: usize, const F: usize, const H: usize>(
    (w_ih, w_hh): (&SMatrix<f32, G, F>, &SMatrix<f32, G, H>),
    (b_ih, b_hh): (&SVector<f32, G>, &SVector<f32, G>),
    (out_w, out_b): (&SMatrix<f32, 1, H>, &SVector<f32, 1>),
) -> Vec<f32> {
    let mut values = Vec::new();
    rows(w_ih, &mut values);
    rows(w_hh, &mut values);
    values.extend_from_slice(b_ih.as_slice());
    values.extend_from_slice(b_hh.as_slice());
    rows(out_w, &mut values);
    values.extend_from_slice(out_b.as_slice());
    values
}

/// A recurrent network's weights (`rnn` then `out`) as `gru.cpp` and `lstm.cpp` read them.
macro_rules! recurrent_weights_of {
    ($net:expr) => {
        recurrent_weights(
            (&$net.rnn.weight_ih_l0, &$net.rnn.weight_hh_l0),
            (&$net.rnn.bias_ih_l0, &$net.rnn.bias_hh_l0),
            (&$net.out.weight, &$net.out.bias),
        )
    };
}

/// The g++ flags of RTNeural's default (`native` false) and native builds.
fn flags(native: bool) -> &'static str {
    if native {
        "g++ -O3 -march=native"
    } else {
        "g++ -O3"
    }
}

/// Builds `benches/rtneural/{name}.cpp` against RTNeural's headers (with `-march=native`
/// when `native`); returns the executable.
fn build(dir: &Path, rtneural: &Path, name: &str, native: bool) -> Result<PathBuf, String> {
    let exe = dir.join(if native {
        format!("{name}-native")
    } else {
        name.to_string()
    });
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("benches/rtneural/{name}.cpp"));
    let mut build = Command::new("g++");
    build.args([
        "-O3",
        "-std=c++17",
        "-DRTNEURAL_USE_EIGEN=1",
        "-DRTNEURAL_NAMESPACE=RTNeural",
        "-DRTNEURAL_DEFAULT_ALIGNMENT=16",
        // Fixed-size matrices up to 784 x 129 floats (Eigen refuses above 128 KB).
        "-DEIGEN_STACK_ALLOCATION_LIMIT=1048576",
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
        return Err(format!("g++ failed on {name}.cpp"));
    }
    Ok(exe)
}

/// Runs an executable built by [`build`]; returns the numbers it printed first on each
/// line (nanoseconds per sample).
fn run(exe: &Path, args: &[PathBuf]) -> Result<Vec<f64>, String> {
    let output = Command::new(exe)
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!("{} failed: {text}", exe.display()));
    }
    text.lines()
        .map(|line| {
            line.split_whitespace()
                .next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("unexpected output {text:?}"))
        })
        .collect()
}

/// The floats of a file [`floats`] wrote.
fn read_floats(path: &Path) -> Result<Vec<f32>, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect())
}

/// The largest difference between two runs' outputs, relative to 1 or the value.
fn worst(ours: &[f32], theirs: &[f32]) -> f32 {
    assert_eq!(
        ours.len(),
        theirs.len(),
        "RTNeural wrote a different number of outputs"
    );
    ours.iter()
        .zip(theirs)
        .map(|(a, b)| (a - b).abs() / a.abs().max(1.0))
        .fold(0.0f32, f32::max)
}

/// A dense layer's weights as PyTorch and `dense.cpp` lay them out: `[out, in]` row by
/// row, then the bias.
fn dense_rows<const I: usize, const O: usize>(layer: &Dense<f32, I, O>, out: &mut Vec<f32>) {
    rows(&layer.weight, out);
    out.extend_from_slice(layer.bias.as_slice());
}

/// Samples for the dense networks: `N` inputs of `I` values in `[0, 1)`.
fn samples<const I: usize>(rng: &mut Rng) -> Vec<SVector<f32, I>> {
    (0..DENSE_SAMPLES)
        .map(|_| SVector::from_fn(|_, _| rng.uniform(0.0, 1.0) as f32))
        .collect()
}

/// Input samples the dense networks cycle through (as `dense.cpp` does).
const DENSE_SAMPLES: usize = 16;

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
    let lstm8 = Lstm8::<f32>::random(&mut Rng::seed_from_u64(3));
    let lstm20 = Lstm20::<f32>::random(&mut Rng::seed_from_u64(4));
    let lstm8_out: Vec<f32> = {
        let mut state = Lstm8Stream::new();
        input
            .iter()
            .map(|&x| lstm8.step(&mut state, &SVector::<f32, 1>::new(x))[0])
            .collect()
    };
    let lstm20_out: Vec<f32> = {
        let mut state = Lstm20Stream::new();
        input
            .iter()
            .map(|&x| lstm20.step(&mut state, &SVector::<f32, 1>::new(x))[0])
            .collect()
    };
    let mut rng = Rng::seed_from_u64(2);
    let wide = network::boxed::random::<f32, Wide<f32>, 784, 10>(&mut rng);
    let wide_x = samples::<784>(&mut rng);
    let deep = network::boxed::random::<f32, Deep<f32>, 256, 10>(&mut rng);
    let deep_x = samples::<256>(&mut rng);

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
        let mut group = criterion.benchmark_group("rtneural_lstm");
        let mut state = Lstm8Stream::new();
        let mut n = 0;
        group.bench_function("generated_step_8", |b| {
            b.iter(|| {
                n = (n + 1) % SAMPLES;
                lstm8.step(&mut state, black_box(&SVector::<f32, 1>::new(input[n])))
            })
        });
        let mut state = Lstm20Stream::new();
        group.bench_function("generated_step_20", |b| {
            b.iter(|| {
                n = (n + 1) % SAMPLES;
                lstm20.step(&mut state, black_box(&SVector::<f32, 1>::new(input[n])))
            })
        });
        group.finish();
        let mut group = criterion.benchmark_group("rtneural_dense");
        let mut n = 0;
        group.bench_function("generated_784-128-10", |b| {
            b.iter(|| {
                n = (n + 1) % DENSE_SAMPLES;
                wide.forward(black_box(&wide_x[n]))
            })
        });
        group.bench_function("generated_256-256-256-10", |b| {
            b.iter(|| {
                n = (n + 1) % DENSE_SAMPLES;
                deep.forward(black_box(&deep_x[n]))
            })
        });
        group.finish();
    }
    criterion.final_summary();

    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/rtneural");
    std::fs::create_dir_all(&dir).unwrap();
    floats(&dir.join("weights.f32"), &recurrent_weights_of!(net));
    floats(
        &dir.join("lstm8.weights.f32"),
        &recurrent_weights_of!(lstm8),
    );
    floats(
        &dir.join("lstm20.weights.f32"),
        &recurrent_weights_of!(lstm20),
    );
    floats(&dir.join("input.f32"), &input);
    let mut rows = Vec::new();
    dense_rows(&wide.hidden, &mut rows);
    dense_rows(&wide.logits, &mut rows);
    floats(&dir.join("wide.weights.f32"), &rows);
    rows.clear();
    for layer in [&deep.a, &deep.b, &deep.c] {
        dense_rows(layer, &mut rows);
    }
    dense_rows(&deep.logits, &mut rows);
    floats(&dir.join("deep.weights.f32"), &rows);
    let wide_in: Vec<f32> = wide_x.iter().flat_map(|x| x.iter().copied()).collect();
    let deep_in: Vec<f32> = deep_x.iter().flat_map(|x| x.iter().copied()).collect();
    floats(&dir.join("wide.input.f32"), &wide_in);
    floats(&dir.join("deep.input.f32"), &deep_in);
    let wide_out: Vec<f32> = wide_x
        .iter()
        .flat_map(|x| <[f32; 10]>::from(wide.forward(x)))
        .collect();
    let deep_out: Vec<f32> = deep_x
        .iter()
        .flat_map(|x| <[f32; 10]>::from(deep.forward(x)))
        .collect();

    let headers = std::env::var_os("RTNEURAL_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/vendor/rtneural"),
        PathBuf::from,
    );
    if !headers.join("RTNeural/RTNeural.h").is_file() {
        println!(
            "RTNeural not found at {} (set RTNEURAL_DIR): skipped",
            headers.display()
        );
        return;
    }

    let ours_ns = median("rtneural_gru8", "generated_step");
    println!("\n| GRU-8 + dense, one sample | ns per sample | generated / this |");
    println!("|---|---|---|");
    if let Some(ns) = ours_ns {
        println!("| generated `step` (criterion median) | {ns:.1} | 1.00x |");
    }
    for native in [false, true] {
        let result = build(&dir, &headers, "gru", native).and_then(|exe| {
            let ns = run(
                &exe,
                &["weights.f32", "input.f32", "output.f32"].map(|f| dir.join(f)),
            )?;
            Ok((ns[0], read_floats(&dir.join("output.f32"))?))
        });
        match result {
            Ok((ns, theirs)) => {
                let worst = worst(&ours, &theirs);
                assert!(
                    worst < 1e-4,
                    "RTNeural's outputs differ from ours by {worst}"
                );
                let ratio = ours_ns.map_or(String::new(), |o| format!("{:.2}x", o / ns));
                let label = flags(native);
                println!(
                    "| RTNeural `ModelT`, {label} (largest output difference {worst:.1e}) | {ns:.1} | {ratio} |"
                );
            }
            Err(e) => println!("RTNeural build or run failed: {e}"),
        }
    }

    TwoNetworks {
        program: "lstm",
        args: vec![dir.join("input.f32"), dir.join("lstm8"), dir.join("lstm20")],
        rows: ["LSTM-8", "LSTM-20"],
        outputs: [
            (dir.join("lstm8.output.f32"), &lstm8_out),
            (dir.join("lstm20.output.f32"), &lstm20_out),
        ],
        ours_ns: [8, 20].map(|h| median("rtneural_lstm", &format!("generated_step_{h}"))),
        unit: ("", 1.0, 1),
        header: "| LSTM + dense, one sample, ns per sample | generated `step` (criterion median) | RTNeural `ModelT`, g++ -O3 | generated / this | RTNeural `ModelT`, g++ -O3 -march=native | generated / this |",
    }
    .compare(&dir, &headers);
    let names = ["784-128-10", "256-256-256-10"];
    TwoNetworks {
        program: "dense",
        args: vec![dir.join("wide"), dir.join("deep")],
        rows: names,
        outputs: [
            (dir.join("wide.output.f32"), &wide_out),
            (dir.join("deep.output.f32"), &deep_out),
        ],
        ours_ns: names.map(|name| median("rtneural_dense", &format!("generated_{name}"))),
        unit: (" us", 1e3, 2),
        header: "| one sample | generated `forward` (criterion median) | RTNeural, g++ -O3 | generated / this | RTNeural, g++ -O3 -march=native | generated / this |",
    }
    .compare(&dir, &headers);
}

/// Two networks that one C++ program (`benches/rtneural/{program}.cpp`) runs, in RTNeural's
/// two builds, against ours.
struct TwoNetworks<'a> {
    program: &'a str,
    args: Vec<PathBuf>,
    /// The table's row names.
    rows: [&'a str; 2],
    /// Where the program writes each network's outputs, and ours.
    outputs: [(PathBuf, &'a [f32]); 2],
    /// Our criterion medians, in nanoseconds.
    ours_ns: [Option<f64>; 2],
    /// The unit of the times shown: its suffix, nanoseconds per unit, decimals.
    unit: (&'a str, f64, usize),
    header: &'a str,
}

impl TwoNetworks<'_> {
    /// Builds and runs the program in both builds, checks each network's outputs against
    /// ours (within 1e-4 relative), prints the table.
    fn compare(&self, dir: &Path, headers: &Path) {
        let (suffix, per_unit, decimals) = self.unit;
        let time = |ns: f64| format!("{:.*}{suffix}", decimals, ns / per_unit);
        let mut theirs: [Vec<String>; 2] = Default::default();
        for native in [false, true] {
            let label = flags(native);
            let result = build(dir, headers, self.program, native).and_then(|exe| {
                let ns = run(&exe, &self.args)?;
                let mut differences = [0.0; 2];
                for (d, (path, ours)) in differences.iter_mut().zip(&self.outputs) {
                    *d = worst(ours, &read_floats(path)?);
                }
                Ok((ns, differences))
            });
            match result {
                Ok((ns, differences)) => {
                    for k in 0..2 {
                        assert!(
                            differences[k] < 1e-4,
                            "RTNeural's {} outputs differ from ours by {}",
                            self.rows[k],
                            differences[k]
                        );
                        let ratio =
                            self.ours_ns[k].map_or(String::new(), |o| format!("{:.2}x", o / ns[k]));
                        theirs[k].push(format!("{} | {ratio}", time(ns[k])));
                    }
                    println!(
                        "RTNeural, {label}, {}.cpp: largest output differences {:.1e}, {:.1e}",
                        self.program, differences[0], differences[1]
                    );
                }
                Err(e) => println!("RTNeural build or run failed: {e}"),
            }
        }
        println!("\n{}", self.header);
        println!("|---|---|---|---|---|---|");
        for ((row, ours), theirs) in self.rows.iter().zip(self.ours_ns).zip(&theirs) {
            let ours = ours.map_or(String::from("-"), time);
            println!("| {row} | {ours} | {} |", theirs.join(" | "));
        }
    }
}
