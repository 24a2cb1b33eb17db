//! The effect-model example as a test: a GRU learns a low-pass filter with `tanh` drive
//! and, streamed one sample at a time over held-out audio, stays under 1% error-to-signal
//! ratio; streaming equals the whole-window forward pass.

#[path = "../examples/effect_model.rs"]
mod example;

use network::prelude::*;

#[test]
fn a_gru_learns_the_effect_under_one_percent_esr() {
    let report = example::train(3_000, true);
    assert_eq!(report.samples, 48_000);
    assert!(report.esr < 0.01, "held-out ESR {}", report.esr);
    assert!(
        report.esr_untrained > 0.5,
        "untrained ESR {}",
        report.esr_untrained
    );
    // Streaming a window from a new state is the window's forward pass, bit for bit.
    let mut rng = Rng::seed_from_u64(9);
    let input = example::signal(0.01, &mut rng);
    let window = SMatrix::<f32, { example::WINDOW }, 1>::from_fn(|t, _| input[t] as f32);
    let whole = report.net.forward(&window);
    let streamed = example::stream(&report.net, &input[..example::WINDOW]);
    for (a, b) in whole.iter().zip(&streamed) {
        assert_eq!(f64::from(*a), *b);
    }
}
