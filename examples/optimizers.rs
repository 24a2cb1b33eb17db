//! Compares the optimizers on the same network, data split, initialization and batch
//! order: final training loss and test accuracy after a fixed number of epochs, as a
//! markdown table (the README's table is this program's output).
//!
//! ```text
//! cargo run --release --example optimizers
//! ```

use std::error::Error;

use network::data::Dataset;
use network::optim::Optimizer;
use network::prelude::*;

network! {
    /// The digits classifier every optimizer trains.
    #[derive(Clone)]
    struct Digits {
        hidden: Dense<64, 64>, Relu,
        logits: Dense<64, 10>,
    }
}

const EPOCHS: usize = 10;
const BATCH: usize = 32;

/// Final training loss and test accuracy.
type Outcome = Result<(f64, f64), Box<dyn Error>>;

struct Setup {
    data: Dataset,
    train: Vec<usize>,
    test: Vec<usize>,
    start: Digits<f32>,
}

/// Trains a copy of the starting network with `optimizer` at a constant rate `lr`;
/// returns the last epoch's training loss and the test accuracy.
fn run<O: Optimizer<f32, Digits<f32>>>(
    setup: &Setup,
    optimizer: O,
    lr: f64,
) -> Result<(f64, f64), Box<dyn Error>> {
    let config = TrainConfig {
        epochs: EPOCHS,
        seed: 7,
        quiet: true,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(
        setup.start.clone(),
        optimizer,
        Constant(lr),
        SoftmaxCrossEntropy,
        config,
    );
    trainer.fit::<BATCH>(&setup.data, &setup.train, None)?;
    let loss = trainer
        .history()
        .epochs
        .last()
        .map_or(f64::NAN, |r| r.train_loss);
    let (_, accuracy) = trainer.evaluate::<BATCH>(&setup.data, &setup.test)?;
    Ok((loss, accuracy))
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut data = Dataset::from_csv_path(concat!(env!("CARGO_MANIFEST_DIR"), "/data/digits.csv"))?;
    let mut rng = Rng::seed_from_u64(1);
    let (train, test) = data.stratified_split(0.2, &mut rng);
    data.standardize(&train)?;
    let start = Digits::<f32>::random(&mut rng);
    let setup = Setup {
        data,
        train,
        test,
        start,
    };

    type D = Digits<f32>;
    let adam = |lr: f32| AdamConfig::adam(lr);
    let rows: Vec<(&str, f64, usize, Outcome)> = vec![
        ("SGD", 0.05, 0, run(&setup, Sgd::new(0.05), 0.05)),
        (
            "SGD + momentum 0.9",
            0.01,
            Momentum::<f32, D>::STATE_BYTES,
            run(&setup, Momentum::<f32, D>::new(0.01, 0.9), 0.01),
        ),
        (
            "SGD + Nesterov 0.9",
            0.01,
            Momentum::<f32, D>::STATE_BYTES,
            run(&setup, Momentum::<f32, D>::nesterov(0.01, 0.9), 0.01),
        ),
        (
            "AdaGrad",
            0.05,
            AdaGrad::<f32, D>::STATE_BYTES,
            run(&setup, AdaGrad::<f32, D>::new(0.05), 0.05),
        ),
        (
            "RMSProp",
            1e-3,
            RmsProp::<f32, D>::STATE_BYTES,
            run(
                &setup,
                RmsProp::<f32, D>::new(RmsPropConfig {
                    lr: 1e-3,
                    ..RmsPropConfig::default()
                }),
                1e-3,
            ),
        ),
        (
            "Adam",
            1e-3,
            Adam::<f32, D>::STATE_BYTES,
            run(&setup, Adam::<f32, D>::new(adam(1e-3)), 1e-3),
        ),
        (
            "Adam + AMSGrad",
            1e-3,
            Adam::<f32, D>::STATE_BYTES,
            run(
                &setup,
                Adam::<f32, D>::new(AdamConfig {
                    amsgrad: true,
                    ..adam(1e-3)
                }),
                1e-3,
            ),
        ),
        (
            "AdamW (decay 0.01)",
            1e-3,
            Adam::<f32, D>::STATE_BYTES,
            run(&setup, Adam::<f32, D>::new(AdamConfig::adamw(1e-3)), 1e-3),
        ),
    ];

    println!(
        "Digits, 64-64-10 ({} parameters, {} bytes), {EPOCHS} epochs, batch {BATCH}, same initialization and batch order:\n",
        D::PARAMS,
        D::PARAM_BYTES
    );
    println!("| optimizer | lr | state bytes | final training loss | test accuracy |");
    println!("|---|---|---|---|---|");
    for (name, lr, state, result) in rows {
        let (loss, accuracy) = result?;
        println!(
            "| {name} | {lr} | {state} | {loss:.4} | {:.1}% |",
            100.0 * accuracy
        );
    }
    Ok(())
}
