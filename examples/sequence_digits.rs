//! The 8x8 digits read row by row, as a sequence of 8 steps of 8 pixels, by a GRU: the
//! last step's state of 64 units feeds a linear classifier. AdamW with gradient clipping
//! (recurrent layers are where gradients explode), mini-batches of 32, a warm-up and
//! cosine schedule for 40 epochs, on the same test split as `examples/digits.rs` (whose
//! MLP reaches 96.7%).
//!
//! ```text
//! cargo run --release --example sequence_digits
//! ```

use std::error::Error;
use std::time::Instant;

use network::data::Dataset;
use network::prelude::*;

network! {
    /// Classifies 8x8 digits read as 8 steps of 8 pixels.
    #[derive(Clone, Debug)]
    pub struct DigitsGru {
        Input<8, 8>,
        rnn: Gru<64>(output = "last"),
        logits: Dense<10>,
    }
}

const BATCH: usize = 32;
const EPOCHS: usize = 40;
const SEED: u64 = 2;
/// Seed of the initial weights.
const INIT: u64 = 1;

/// The data set shipped in the repository.
pub const DIGITS_CSV: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/digits.csv");

/// The trainer this example builds.
pub type GruTrainer = Trainer<
    f32,
    DigitsGru<f32>,
    Adam<f32, DigitsGru<f32>>,
    Warmup<CosineAnnealing>,
    SoftmaxCrossEntropy,
    64,
    10,
>;

/// What a run produced.
pub struct Report {
    pub trainer: GruTrainer,
    pub test_accuracy: f64,
    pub test_samples: usize,
}

/// Loads the digits, holds out the same 20% test split as `examples/digits.rs`,
/// standardizes every pixel on the rest and trains on all of it.
pub fn train(quiet: bool) -> Result<Report, Box<dyn Error>> {
    let mut data = Dataset::from_csv_path(DIGITS_CSV)?;
    let mut rng = Rng::seed_from_u64(SEED);
    let (train, test) = data.stratified_split(0.2, &mut rng);
    data.standardize(&train)?;

    let net = DigitsGru::<f32>::random(&mut Rng::seed_from_u64(INIT));
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
        clip_norm: Some(1.0),
        ..TrainConfig::default()
    };
    let optimizer = Adam::new(AdamConfig {
        weight_decay: 0.01,
        ..AdamConfig::adamw(lr as f32)
    });
    let mut trainer = Trainer::try_new(net, optimizer, schedule, SoftmaxCrossEntropy, config)?;
    trainer.fit::<BATCH>(&data, &train, None)?;
    let (_, test_accuracy) = trainer.evaluate::<BATCH>(&data, &test)?;
    Ok(Report {
        trainer,
        test_accuracy,
        test_samples: test.len(),
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
                DigitsGru::<f32>::PARAMS,
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
