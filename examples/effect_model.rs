//! An audio effect learned by a GRU and run sample by sample, as a real-time plug-in
//! would: the effect is a one-pole low-pass filter (cut-off 2 kHz at 48 kHz) followed by
//! `tanh` drive (gain 4), a nonlinear system with memory. A `Gru<8>` with a per-step
//! dense layer learns it from 2 s of generated audio (sines of random frequency and
//! level with noise) in windows of 64 samples, trained with Adam and gradient clipping;
//! then it streams 1 s of held-out audio one sample at a time through `step`, and the
//! example reports the error-to-signal ratio (ESR, the usual metric of amp and effect
//! models: `sum (y - y')^2 / sum y^2`) and the real-time factor at 48 kHz.
//!
//! ```text
//! cargo run --release --example effect_model
//! ```

use std::time::Instant;

use network::optim::{Adam, AdamConfig, Optimizer};
use network::prelude::*;
use network::regularize::clip_grad_norm;

/// Samples per training window.
pub const WINDOW: usize = 64;
const BATCH: usize = 16;
/// The sample rate.
pub const RATE: f64 = 48_000.0;

network! {
    /// One sample in, one sample out, per step of a window.
    #[derive(Clone, Debug)]
    pub struct Effect {
        Input<WINDOW, 1>,
        rnn: Gru<8>,
        out: Dense<1>,
    }
}

/// The effect: a one-pole low-pass at 2 kHz, then `tanh(4 x)`.
pub fn effect(input: &[f64]) -> Vec<f64> {
    let a = (-2.0 * std::f64::consts::PI * 2_000.0 / RATE).exp();
    let mut state = 0.0;
    input
        .iter()
        .map(|&x| {
            state = a * state + (1.0 - a) * x;
            (4.0 * state).tanh()
        })
        .collect()
}

/// Test audio: a sine whose frequency (50 Hz to 5 kHz) and level (0.05 to 0.8) change
/// every 10 ms, plus a little noise.
pub fn signal(seconds: f64, rng: &mut Rng) -> Vec<f64> {
    let n = (seconds * RATE) as usize;
    let (mut phase, mut frequency, mut level) = (0.0, 440.0, 0.5);
    (0..n)
        .map(|k| {
            if k % 480 == 0 {
                frequency = 50.0 * (100f64).powf(rng.next_f64());
                level = rng.uniform(0.05, 0.8);
            }
            phase += 2.0 * std::f64::consts::PI * frequency / RATE;
            level * phase.sin() + rng.uniform(-0.01, 0.01)
        })
        .collect()
}

/// What a run produced.
pub struct Report {
    pub net: Effect<f32>,
    /// Error-to-signal ratio on the held-out audio, streamed.
    pub esr: f64,
    /// The same before training.
    pub esr_untrained: f64,
    /// Held-out samples.
    pub samples: usize,
    /// Seconds of audio per second of computation (streaming, one sample at a time).
    pub realtime_factor: f64,
}

/// Streams `input` through the network from a new state: one `step` per sample.
pub fn stream(net: &Effect<f32>, input: &[f64]) -> Vec<f64> {
    let mut state = EffectStream::new();
    input
        .iter()
        .map(|&x| f64::from(net.step(&mut state, &SVector::<f32, 1>::new(x as f32))[0]))
        .collect()
}

/// `sum (y - y')^2 / sum y^2`.
pub fn esr(target: &[f64], output: &[f64]) -> f64 {
    let error: f64 = target
        .iter()
        .zip(output)
        .map(|(y, o)| (y - o) * (y - o))
        .sum();
    error / target.iter().map(|y| y * y).sum::<f64>()
}

/// Trains for `steps` Adam steps and evaluates on 1 s of held-out audio.
pub fn train(steps: usize, quiet: bool) -> Report {
    let mut rng = Rng::seed_from_u64(3);
    let input = signal(2.0, &mut rng);
    let target = effect(&input);
    let held_in = signal(1.0, &mut rng);
    let held_out = effect(&held_in);

    let mut net = Effect::<f32>::random(&mut Rng::seed_from_u64(1));
    let esr_untrained = esr(&held_out, &stream(&net, &held_in));
    let mut adam = Adam::new(AdamConfig::adam(5e-3f32));
    let mut tape = Effect::<f32>::new_tape::<BATCH>();
    let mut grads = Effect::<f32>::zeros();
    for step in 0..steps {
        let starts: [usize; BATCH] = core::array::from_fn(|_| rng.below(input.len() - WINDOW));
        let x = SMatrix::<f32, WINDOW, BATCH>::from_fn(|t, b| input[starts[b] + t] as f32);
        let y = SMatrix::<f32, WINDOW, BATCH>::from_fn(|t, b| target[starts[b] + t] as f32);
        let loss = compute_gradients(&mut net, &x, &y, &Mse, &mut tape, &mut grads, &mut rng)
            .expect("finite loss");
        clip_grad_norm(&mut grads, 1.0);
        adam.step(&mut net, &grads);
        if !quiet && (step + 1) % (steps / 10).max(1) == 0 {
            println!("step {:5}  window loss {loss:.6}", step + 1);
        }
    }

    let start = Instant::now();
    let output = stream(&net, &held_in);
    let seconds = start.elapsed().as_secs_f64();
    Report {
        esr: esr(&held_out, &output),
        esr_untrained,
        samples: held_in.len(),
        realtime_factor: held_in.len() as f64 / RATE / seconds,
        net,
    }
}

#[allow(dead_code)] // the integration test includes this file for `train`
fn main() {
    let start = Instant::now();
    let report = train(3_000, false);
    println!(
        "held-out ESR {:.3}% (untrained {:.1}%) over {} samples streamed one at a time; {} parameters; trained in {:.1?}",
        100.0 * report.esr,
        100.0 * report.esr_untrained,
        report.samples,
        Effect::<f32>::PARAMS,
        start.elapsed()
    );
    println!(
        "streaming: {:.0}x real time at 48 kHz ({:.0} ns per sample)",
        report.realtime_factor,
        1e9 / (report.realtime_factor * RATE)
    );
}
