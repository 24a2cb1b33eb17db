//! A residual network on the digits, with and without batch normalization and dropout:
//! same depth, same initialization seed, same batches, same optimizer.
//!
//! ```text
//! cargo run --release --example residual
//! ```

use std::error::Error;
use std::time::Instant;

use network::data::Dataset;
use network::optim::Optimizer;
use network::prelude::*;

network! {
    /// Two residual blocks with batch norm and dropout; the second is checkpointed.
    #[derive(Clone)]
    pub struct Regularized {
        input: Dense<64, 64>, Relu,
        block1: Residual {
            a1: Dense<64>, Relu,
            bn1: BatchNorm,
            Dropout(0.2),
            b1: Dense<64>,
            bn1b: BatchNorm,
        }, Relu,
        #[checkpoint]
        block2: Residual {
            a2: Dense<64>, Relu,
            bn2: BatchNorm,
            Dropout(0.2),
            b2: Dense<64>,
            bn2b: BatchNorm,
        }, Relu,
        logits: Dense<10>,
    }
}

network! {
    /// The same residual network without batch norm and dropout.
    #[derive(Clone)]
    pub struct Bare {
        input: Dense<64, 64>, Relu,
        block1: Residual {
            a1: Dense<64>, Relu,
            b1: Dense<64>,
        }, Relu,
        block2: Residual {
            a2: Dense<64>, Relu,
            b2: Dense<64>,
        }, Relu,
        logits: Dense<10>,
    }
}

const EPOCHS: usize = 30;

/// Trains `net` and returns (final training loss, test accuracy, seconds).
fn run<N, O>(
    net: N,
    optimizer: O,
    data: &Dataset,
    train: &[usize],
    test: &[usize],
) -> Result<(f64, f64, f64), Box<dyn Error>>
where
    N: Network<f32, 64, 10> + network::Zeroable,
    O: Optimizer<f32, N>,
{
    let config = TrainConfig {
        epochs: EPOCHS,
        seed: 3,
        quiet: true,
        ..TrainConfig::default()
    };
    let start = Instant::now();
    let mut trainer = Trainer::new(net, optimizer, Constant(1e-3), SoftmaxCrossEntropy, config);
    trainer.fit::<32>(data, train, None)?;
    let seconds = start.elapsed().as_secs_f64();
    let loss = trainer
        .history()
        .epochs
        .last()
        .map_or(f64::NAN, |r| r.train_loss);
    let (_, accuracy) = trainer.evaluate::<32>(data, test)?;
    Ok((loss, accuracy, seconds))
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut data = Dataset::from_csv_path(concat!(env!("CARGO_MANIFEST_DIR"), "/data/digits.csv"))?;
    let (train, test) = data.stratified_split(0.2, &mut Rng::seed_from_u64(1));
    data.standardize(&train)?;

    let regularized = Regularized::<f32>::random(&mut Rng::seed_from_u64(2));
    let bare = Bare::<f32>::random(&mut Rng::seed_from_u64(2));
    let with = run(
        regularized,
        Adam::new(AdamConfig::adam(1e-3)),
        &data,
        &train,
        &test,
    )?;
    let without = run(
        bare,
        Adam::new(AdamConfig::adam(1e-3)),
        &data,
        &train,
        &test,
    )?;

    println!("Digits, residual 64-64x2x2-10, Adam 1e-3, batch 32, {EPOCHS} epochs, same seeds:\n");
    println!("| network | parameters | final training loss | test accuracy | time |");
    println!("|---|---|---|---|---|");
    for (name, params, (loss, accuracy, seconds)) in [
        (
            "with batch norm and dropout 0.2",
            Regularized::<f32>::PARAMS,
            with,
        ),
        ("without", Bare::<f32>::PARAMS, without),
    ] {
        println!(
            "| {name} | {params} | {loss:.4} | {:.1}% | {seconds:.2} s |",
            100.0 * accuracy
        );
    }
    Ok(())
}
