//! Post-training int8 quantization of the digits MLP (64-128-64-10, ReLU): trains it as
//! `examples/digits.rs` does, calibrates on 200 training images, and compares the int8
//! network's test accuracy and weight bytes with the float network's.
//!
//! ```text
//! cargo run --release --example quantize_digits
//! ```

#[path = "digits.rs"]
#[allow(dead_code)]
mod digits;

use network::nalgebra::SVector;

/// Images used for calibration.
pub const CALIBRATION: usize = 200;

/// What a run produced.
pub struct Report {
    pub float_accuracy: f64,
    pub int8_accuracy: f64,
    pub test_samples: usize,
    pub float_weight_bytes: usize,
    pub int8_weight_bytes: usize,
}

pub fn run() -> Report {
    let trained = digits::train(true).expect("training failed");
    let (net, data) = (trained.trainer.net(), &trained.data);
    let sample =
        |i: usize| SVector::<f32, 64>::from_iterator(data.sample(i).iter().map(|&v| v as f32));
    let calibration: Vec<SVector<f32, 64>> = trained.train[..CALIBRATION]
        .iter()
        .map(|&i| sample(i))
        .collect();
    let quantized = net.quantize(&calibration);
    let accuracy = |predict: &dyn Fn(&SVector<f32, 64>) -> usize| {
        let correct = trained
            .test
            .iter()
            .filter(|&&i| predict(&sample(i)) == data.labels()[i])
            .count();
        correct as f64 / trained.test.len() as f64
    };
    use network::Network;
    let float_accuracy = accuracy(&|x| net.predict(x)[0]);
    let int8_accuracy = accuracy(&|x| quantized.predict(x));
    // Weights and biases: f32 everywhere, or int8 weights and i32 biases.
    let params = digits::Digits::<f32>::PARAMS;
    let biases = 128 + 64 + 10;
    Report {
        float_accuracy,
        int8_accuracy,
        test_samples: trained.test.len(),
        float_weight_bytes: params * 4,
        int8_weight_bytes: (params - biases) + biases * 4,
    }
}

#[allow(dead_code)] // the integration test includes this file for `run`
fn main() {
    let report = run();
    println!(
        "digits MLP on {} test images: f32 {:.1}%, int8 {:.1}% (calibrated on {CALIBRATION} training images); weights and biases {} bytes in f32, {} bytes in int8 ({:.1}x smaller)",
        report.test_samples,
        100.0 * report.float_accuracy,
        100.0 * report.int8_accuracy,
        report.float_weight_bytes,
        report.int8_weight_bytes,
        report.float_weight_bytes as f64 / report.int8_weight_bytes as f64
    );
}
