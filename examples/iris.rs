//! Trains a declared network on Fisher's Iris data: the README's main job.
//!
//! ```text
//! cargo run --release --example iris [-- path/to/iris.csv]
//! ```
//!
//! Seeded shuffle and stratified 80/20 split, standardization fitted on the training
//! split, mini-batch SGD on softmax cross-entropy, loss printed per epoch, test accuracy
//! at the end. A malformed CSV is reported with its line, not a panic.

use std::error::Error;
use std::time::Instant;

use network::data::Dataset;
use network::prelude::*;

network! {
    /// Classifies iris flowers from four measurements.
    #[derive(Clone, Debug)]
    pub struct Iris {
        hidden: Dense<4, 16>, Relu,
        deeper: Dense<16, 16>, Relu,
        logits: Dense<16, 3>,
    }
}

/// Samples per mini-batch.
const BATCH: usize = 8;
const EPOCHS: usize = 60;
const LEARNING_RATE: f32 = 0.05;
const SEED: u64 = 7;

/// The data set shipped in the repository.
pub const IRIS_CSV: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/iris.csv");

/// What a training run produced.
pub struct Report {
    pub net: Iris<f32>,
    /// Mean training loss of each epoch.
    pub losses: Vec<f32>,
    /// Fraction of the test split classified correctly.
    pub test_accuracy: f64,
    pub test_samples: usize,
}

/// Trains on the CSV at `path`; prints progress when `verbose`.
pub fn train(path: &str, verbose: bool) -> Result<Report, Box<dyn Error>> {
    let mut data = Dataset::from_csv_path(path)?;
    data.check_shape::<4, 3>()?;
    let mut rng = Rng::seed_from_u64(SEED);
    let (mut train, test) = data.stratified_split(0.2, &mut rng);
    data.standardize(&train)?;

    let mut net = Iris::<f32>::random(&mut rng);
    let mut grads = Iris::<f32>::zeros();
    let mut partial = Iris::<f32>::zeros();
    let mut tape = Iris::<f32>::new_tape::<BATCH>();
    let mut single_tape = Iris::<f32>::new_tape::<1>();
    let mut sgd = Sgd::new(LEARNING_RATE);
    let mut losses = Vec::with_capacity(EPOCHS);

    for epoch in 1..=EPOCHS {
        rng.shuffle(&mut train);
        let mut total = 0.0;
        for chunk in train.chunks(BATCH) {
            let loss = if chunk.len() == BATCH {
                let (x, y) = data.batch::<f32, 4, 3, BATCH>(chunk)?;
                compute_gradients(
                    &mut net,
                    &x,
                    &y,
                    &SoftmaxCrossEntropy,
                    &mut tape,
                    &mut grads,
                    &mut rng,
                )?
            } else {
                // The last, partial batch: the mean gradient over its samples, one at a
                // time, so that no sample is dropped.
                grads.set_zero();
                let mut loss = 0.0;
                let weight = 1.0 / chunk.len() as f32;
                for &i in chunk {
                    let (x, y) = data.batch::<f32, 4, 3, 1>(&[i])?;
                    loss += weight
                        * compute_gradients(
                            &mut net,
                            &x,
                            &y,
                            &SoftmaxCrossEntropy,
                            &mut single_tape,
                            &mut partial,
                            &mut rng,
                        )?;
                    grads.zip_params_mut(&partial, |_, g, p| network::kernels::axpy(weight, p, g));
                }
                loss
            };
            sgd.step(&mut net, &grads);
            total += loss * chunk.len() as f32;
        }
        let mean = total / train.len() as f32;
        losses.push(mean);
        if verbose {
            println!("epoch {epoch:3}  loss {mean:.4}");
        }
    }

    let correct = test
        .iter()
        .map(|&i| {
            let (x, _) = data.batch::<f32, 4, 3, 1>(&[i])?;
            Ok(usize::from(
                argmax(net.forward(&x).as_slice()) == data.labels()[i],
            ))
        })
        .sum::<Result<usize, network::data::ShapeError>>()?;
    Ok(Report {
        net,
        losses,
        test_accuracy: correct as f64 / test.len() as f64,
        test_samples: test.len(),
    })
}

#[allow(dead_code)] // the integration test includes this file for `train`
fn main() -> std::process::ExitCode {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| IRIS_CSV.to_string());
    let start = Instant::now();
    let report = match train(&path, true) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("error: {path}: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!(
        "test accuracy {:.1}% ({:.0} of {} samples), {} parameters, trained in {:.0?}",
        100.0 * report.test_accuracy,
        report.test_accuracy * report.test_samples as f64,
        report.test_samples,
        Iris::<f32>::PARAMS,
        start.elapsed()
    );
    std::process::ExitCode::SUCCESS
}
