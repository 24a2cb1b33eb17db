//! Handwritten digits (8x8 pixels) with AdamW, mini-batches of 32, a warm-up + cosine
//! schedule and early stopping, through the `Trainer`.
//!
//! ```text
//! cargo run --release --example digits
//! ```

use std::error::Error;
use std::time::Instant;

use network::data::Dataset;
use network::prelude::*;

network! {
    /// Classifies 8x8 images of digits.
    #[derive(Clone, Debug)]
    pub struct Digits {
        hidden: Dense<64, 128>, Relu,
        deeper: Dense<128, 64>, Relu,
        logits: Dense<64, 10>,
    }
}

const BATCH: usize = 32;
const EPOCHS: usize = 40;
const SEED: u64 = 2;

/// The data set shipped in the repository.
pub const DIGITS_CSV: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/digits.csv");

/// The trainer this example builds: the network, AdamW, warm-up + cosine, cross-entropy.
pub type DigitsTrainer = Trainer<
    f32,
    Digits<f32>,
    Adam<f32, Digits<f32>>,
    Warmup<CosineAnnealing>,
    SoftmaxCrossEntropy,
    64,
    10,
>;

/// What a run produced.
pub struct Report {
    pub trainer: DigitsTrainer,
    pub test_accuracy: f64,
    pub test_samples: usize,
    /// The standardized data and the splits (for `examples/quantize_digits.rs`).
    pub data: Dataset,
    pub train: Vec<usize>,
    pub test: Vec<usize>,
}

/// Loads the digits, splits 70/10/20 (train, validation for early stopping, test) with
/// stratification, standardizes on the training split, and trains.
pub fn train(quiet: bool) -> Result<Report, Box<dyn Error>> {
    let mut data = Dataset::from_csv_path(DIGITS_CSV)?;
    let mut rng = Rng::seed_from_u64(SEED);
    let (rest, test) = data.stratified_split(0.2, &mut rng);
    let (train, validation) = split_off(&data, &rest, 0.125, &mut rng);
    data.standardize(&train)?;

    let net = Digits::<f32>::random(&mut rng);
    let steps_per_epoch = train.len().div_ceil(BATCH) as u64;
    let schedule = Warmup {
        steps: steps_per_epoch,
        start_factor: 0.1,
        after: CosineAnnealing {
            lr: 2e-3,
            min_lr: 1e-4,
            steps: (EPOCHS as u64 - 1) * steps_per_epoch,
        },
    };
    let config = TrainConfig {
        epochs: EPOCHS,
        seed: SEED,
        patience: Some(8),
        quiet,
        ..TrainConfig::default()
    };
    // AdamW: Adam with decoupled weight decay, which keeps this small data set from
    // being memorized as fast.
    let optimizer = Adam::new(AdamConfig {
        weight_decay: 0.2,
        ..AdamConfig::adamw(2e-3)
    });
    let mut trainer = Trainer::new(net, optimizer, schedule, SoftmaxCrossEntropy, config);
    trainer.fit::<BATCH>(&data, &train, Some(&validation))?;
    let (_, test_accuracy) = trainer.evaluate::<BATCH>(&data, &test)?;
    Ok(Report {
        trainer,
        test_accuracy,
        test_samples: test.len(),
        data,
        train,
        test,
    })
}

/// Splits `indices` into (kept, held out) with `fraction` of each class held out.
fn split_off(
    data: &Dataset,
    indices: &[usize],
    fraction: f64,
    rng: &mut Rng,
) -> (Vec<usize>, Vec<usize>) {
    let (mut kept, mut held) = (Vec::new(), Vec::new());
    for class in 0..data.classes() {
        let members: Vec<usize> = indices
            .iter()
            .copied()
            .filter(|&i| data.labels()[i] == class)
            .collect();
        let n = (fraction * members.len() as f64).round() as usize;
        held.extend_from_slice(&members[..n]);
        kept.extend_from_slice(&members[n..]);
    }
    rng.shuffle(&mut kept);
    (kept, held)
}

#[allow(dead_code)] // the integration test includes this file for `train`
fn main() -> std::process::ExitCode {
    let start = Instant::now();
    match train(false) {
        Ok(report) => {
            let history = report.trainer.history();
            println!(
                "test accuracy {:.1}% on {} samples; best epoch {:?} of {}{}; {} parameters; {:.1?}",
                100.0 * report.test_accuracy,
                report.test_samples,
                history.best_epoch,
                history.epochs.len(),
                if history.stopped_early { " (stopped early)" } else { "" },
                Digits::<f32>::PARAMS,
                start.elapsed()
            );
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
