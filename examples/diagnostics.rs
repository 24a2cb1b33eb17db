//! Seeing inside training: the diagnostics catch vanishing gradients in a deep sigmoid
//! network with naive initialization, find the same depth with ReLU and He healthy,
//! catch exploding gradients at a reckless learning rate and show clipping fixing them;
//! then write learning curves, gradient-flow charts and CSV histories.
//!
//! ```text
//! cargo run --release --example diagnostics [-- output-directory]   # default target/diagnostics
//! ```

use std::error::Error;
use std::path::{Path, PathBuf};

use network::data::Dataset;
use network::plot;
use network::prelude::*;

network! {
    /// Eight sigmoid layers: the textbook case of vanishing gradients.
    #[derive(Clone)]
    pub struct DeepSigmoid {
        l1: Dense<64, 32>, Sigmoid,
        l2: Dense<32>, Sigmoid,
        l3: Dense<32>, Sigmoid,
        l4: Dense<32>, Sigmoid,
        l5: Dense<32>, Sigmoid,
        l6: Dense<32>, Sigmoid,
        l7: Dense<32>, Sigmoid,
        out: Dense<10>,
    }
}

network! {
    /// The same depth with ReLU (He-initialized by default).
    #[derive(Clone)]
    pub struct DeepRelu {
        l1: Dense<64, 32>, Relu,
        l2: Dense<32>, Relu,
        l3: Dense<32>, Relu,
        l4: Dense<32>, Relu,
        l5: Dense<32>, Relu,
        l6: Dense<32>, Relu,
        l7: Dense<32>, Relu,
        out: Dense<10>,
    }
}

/// Train, validation and test indices of the standardized digits.
pub struct Digits {
    pub data: Dataset,
    pub train: Vec<usize>,
    pub validation: Vec<usize>,
}

pub fn digits() -> Result<Digits, Box<dyn Error>> {
    let mut data = Dataset::from_csv_path(concat!(env!("CARGO_MANIFEST_DIR"), "/data/digits.csv"))?;
    let (train, validation) = data.stratified_split(0.2, &mut Rng::seed_from_u64(5));
    data.standardize(&train)?;
    Ok(Digits {
        data,
        train,
        validation,
    })
}

/// Weights drawn from U(-0.05, 0.05) whatever the layer's size: the naive choice.
pub fn naive<P: Params<f32>>(net: &mut P, seed: u64) {
    let mut rng = Rng::seed_from_u64(seed);
    net.for_each_param_mut(|info, values| {
        if info.kind == network::ParamKind::Weight {
            values
                .iter_mut()
                .for_each(|w| *w = rng.uniform(-0.05, 0.05) as f32);
        }
    });
}

pub fn config(epochs: usize, quiet: bool) -> TrainConfig {
    TrainConfig {
        epochs,
        seed: 3,
        quiet,
        ..TrainConfig::default()
    }
}

fn report(title: &str, history: &network::train::History) {
    println!("\n== {title}");
    if history.diagnoses.is_empty() {
        println!("no problems found");
    }
    for d in &history.diagnoses {
        println!("diagnosis: {d}");
    }
    if let Some(last) = history.epochs.last() {
        println!(
            "after {} epochs: training loss {:.4}, validation accuracy {:.1}%",
            last.epoch,
            last.train_loss,
            100.0 * last.validation_accuracy.unwrap_or(0.0)
        );
    }
}

fn write(
    dir: &Path,
    name: &str,
    history: &network::train::History,
    curves: bool,
) -> Result<(), Box<dyn Error>> {
    history.write_csv(dir.join(name))?;
    plot::gradient_flow(history, dir.join(format!("{name}-gradient-flow.svg")))?;
    if curves {
        plot::learning_curves(history, dir.join(format!("{name}-learning-curves.svg")))?;
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::args().nth(1).map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target/diagnostics")),
        PathBuf::from,
    );
    std::fs::create_dir_all(&dir)?;
    let Digits {
        data,
        train,
        validation,
    } = digits()?;

    // 1. Deep sigmoid, naive initialization: the early layers barely learn.
    let mut sigmoid = DeepSigmoid::<f32>::zeros();
    naive(&mut sigmoid, 1);
    let mut trainer = Trainer::new(
        sigmoid,
        Sgd::new(0.1),
        Constant(0.1),
        SoftmaxCrossEntropy,
        config(10, true),
    );
    trainer.fit::<32>(&data, &train, Some(&validation))?;
    report("deep sigmoid, naive init, SGD 0.1", trainer.history());
    write(&dir, "sigmoid", trainer.history(), false)?;

    // 2. Same depth, ReLU and He initialization: healthy.
    let relu = DeepRelu::<f32>::random(&mut Rng::seed_from_u64(1));
    println!("\n{}", DeepRelu::<f32>::summary(32, 0));
    let mut trainer = Trainer::new(
        relu.clone(),
        Sgd::new(0.1),
        Constant(0.1),
        SoftmaxCrossEntropy,
        config(10, true),
    );
    trainer.fit::<32>(&data, &train, Some(&validation))?;
    report("deep ReLU, He init, SGD 0.1", trainer.history());
    write(&dir, "relu", trainer.history(), true)?;

    // 3. A reckless learning rate: gradients explode and the ReLU units die. (At a rate
    // of 1, which of the two happens first turns on the last bits of the softmax.)
    let mut trainer = Trainer::new(
        relu.clone(),
        Sgd::new(2.0),
        Constant(2.0),
        SoftmaxCrossEntropy,
        config(10, true),
    );
    match trainer.fit::<32>(&data, &train, Some(&validation)) {
        Ok(_) => println!("\n(training at lr 2.0 ran to the end)"),
        Err(e) => println!("\ntraining at lr 2.0 stopped: {e}"),
    }
    report("deep ReLU, SGD 2.0", trainer.history());

    // 4. The same learning rate with gradients clipped to norm 0.5.
    let clipped = TrainConfig {
        clip_norm: Some(0.5),
        ..config(10, true)
    };
    let mut trainer = Trainer::new(
        relu,
        Sgd::new(2.0),
        Constant(2.0),
        SoftmaxCrossEntropy,
        clipped,
    );
    trainer.fit::<32>(&data, &train, Some(&validation))?;
    report(
        "deep ReLU, SGD 2.0, gradients clipped to norm 0.5",
        trainer.history(),
    );
    write(&dir, "clipped", trainer.history(), true)?;

    println!("\ncharts and CSV histories written to {}", dir.display());
    Ok(())
}
