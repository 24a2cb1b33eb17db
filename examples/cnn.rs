//! The 8x8 digits read as `[1, 8, 8]` images by a small convolutional network: two 3x3
//! convolutions, each with batch norm over its channels, ReLU and 2x2 max pooling, then
//! dropout and a linear classifier; trained with AdamW, mini-batches of 32 and a
//! warm-up and cosine schedule for 30 epochs, tested on the same split as
//! `examples/digits.rs` (whose MLP reaches 96.7%); then quantizes it to int8 and tests
//! that too.
//!
//! ```text
//! cargo run --release --example cnn
//! ```

use std::error::Error;
use std::time::Instant;

use network::data::Dataset;
use network::prelude::*;

network! {
    /// Classifies 8x8 images of digits with convolutions.
    #[derive(Clone, Debug)]
    pub struct DigitsCnn {
        Input<1, 8, 8>,
        c1: Conv2d<32, 3>(padding = 1),
        bn1: BatchNorm, Relu,
        MaxPool2d<2>,
        c2: Conv2d<64, 3>(padding = 1),
        bn2: BatchNorm, Relu,
        MaxPool2d<2>,
        Flatten,
        Dropout(0.3),
        logits: Dense<256, 10>,
    }
}

const BATCH: usize = 32;
const EPOCHS: usize = 30;
const SEED: u64 = 2;
/// Seed of the initial weights.
const INIT: u64 = 1;

/// The data set shipped in the repository.
pub const DIGITS_CSV: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/digits.csv");

/// The trainer this example builds.
pub type CnnTrainer = Trainer<
    f32,
    DigitsCnn<f32>,
    Adam<f32, DigitsCnn<f32>>,
    Warmup<CosineAnnealing>,
    SoftmaxCrossEntropy,
    64,
    10,
>;

/// Training images the int8 network is calibrated on.
pub const CALIBRATION: usize = 200;

/// What a run produced.
pub struct Report {
    pub trainer: CnnTrainer,
    pub test_accuracy: f64,
    pub test_samples: usize,
    /// The network quantized to int8 (`DigitsCnn::quantize`, batch norms folded into
    /// the convolutions), calibrated on the first [`CALIBRATION`] training images.
    pub int8: DigitsCnnInt8,
    /// Its accuracy on the same test images.
    pub int8_accuracy: f64,
}

/// Loads the digits, holds out the same 20% test split as `examples/digits.rs`,
/// standardizes every pixel on the rest and trains on all of it (a fixed schedule, no
/// early stopping: a validation split of 180 images is too small to choose an epoch by).
pub fn train(quiet: bool) -> Result<Report, Box<dyn Error>> {
    let mut data = Dataset::from_csv_path(DIGITS_CSV)?;
    let mut rng = Rng::seed_from_u64(SEED);
    let (train, test) = data.stratified_split(0.2, &mut rng);
    data.standardize(&train)?;

    let net = DigitsCnn::<f32>::random(&mut Rng::seed_from_u64(INIT));
    let steps_per_epoch = train.len().div_ceil(BATCH) as u64;
    let lr = 3e-3;
    let schedule = Warmup {
        steps: steps_per_epoch,
        start_factor: 0.1,
        after: CosineAnnealing {
            lr,
            min_lr: 1e-4,
            steps: (EPOCHS as u64 - 1) * steps_per_epoch,
        },
    };
    let config = TrainConfig {
        epochs: EPOCHS,
        seed: SEED,
        quiet,
        ..TrainConfig::default()
    };
    let optimizer = Adam::new(AdamConfig {
        weight_decay: 0.05,
        ..AdamConfig::adamw(lr as f32)
    });
    let mut trainer = Trainer::try_new(net, optimizer, schedule, SoftmaxCrossEntropy, config)?;
    trainer.fit::<BATCH>(&data, &train, None)?;
    let (_, test_accuracy) = trainer.evaluate::<BATCH>(&data, &test)?;
    let sample = |i: usize| {
        network::nalgebra::SVector::<f32, 64>::from_iterator(
            data.sample(i).iter().map(|&v| v as f32),
        )
    };
    let calibration: Vec<_> = train[..CALIBRATION].iter().map(|&i| sample(i)).collect();
    let int8 = trainer.net().quantize(&calibration);
    let correct = test
        .iter()
        .filter(|&&i| int8.predict(&sample(i)) == data.labels()[i])
        .count();
    Ok(Report {
        trainer,
        test_accuracy,
        test_samples: test.len(),
        int8,
        int8_accuracy: correct as f64 / test.len() as f64,
    })
}

#[allow(dead_code)] // the integration test includes this file for `train`
fn main() -> std::process::ExitCode {
    let start = Instant::now();
    match train(false) {
        Ok(report) => {
            println!(
                "test accuracy {:.1}% on {} samples; {} parameters; {:.1?}",
                100.0 * report.test_accuracy,
                report.test_samples,
                DigitsCnn::<f32>::PARAMS,
                start.elapsed()
            );
            println!(
                "int8 (batch norms folded, calibrated on {CALIBRATION} training images): test accuracy {:.1}%; {} bytes of int8 network against {} bytes of f32 parameters",
                100.0 * report.int8_accuracy,
                DigitsCnnInt8::RAW_LEN,
                DigitsCnn::<f32>::PARAM_BYTES
            );
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
