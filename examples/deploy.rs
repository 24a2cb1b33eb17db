//! From a CSV file to a deployed model, in two processes: this one trains and saves the
//! model with its preprocessing, a second one (this program run again with `predict`)
//! loads both and predicts from raw CSV rows; the two must agree exactly.
//!
//! ```text
//! cargo run --release --example deploy
//! ```
//!
//! CSV → stratified split (and a validation set out of the training split) → a
//! standardizer fitted on the training split → training with early stopping →
//! per-class metrics on the test split → `model.safetensors` holding the weights and the
//! standardizer → `deploy predict model.safetensors iris.csv` in a fresh process.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::Command;

use network::data::Dataset;
use network::metrics::classification_report;
use network::prelude::*;
use network::weights::{load_safetensors_with, save_safetensors_with};

network! {
    /// Classifies iris flowers from four raw measurements (after the standardizer).
    pub struct Iris {
        hidden: Dense<4, 16>, Relu,
        logits: Dense<16, 3>,
    }
}

const IRIS_CSV: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/iris.csv");

/// Predicted class of every raw row of `csv`, one line each: what the second process
/// prints and the first compares with its own.
fn predict_raw(
    net: &Iris<f32>,
    scaler: &network::data::Standardizer,
    csv: &Path,
) -> Result<String, Box<dyn Error>> {
    let mut data = Dataset::from_csv_path(csv)?;
    data.apply_standardizer(scaler)?;
    let mut lines = String::new();
    for i in 0..data.len() {
        let (x, _) = data.batch::<f32, 4, 3, 1>(&[i])?;
        let p = net.predict_proba(&x);
        let [class] = net.predict(&x);
        lines.push_str(&format!(
            "{class} {:08x} {:08x} {:08x}\n",
            p[0].to_bits(),
            p[1].to_bits(),
            p[2].to_bits()
        ));
    }
    Ok(lines)
}

/// The second process: load the model and its standardizer, predict raw rows.
fn predict(model: &Path, csv: &Path) -> Result<(), Box<dyn Error>> {
    let mut net = Iris::<f32>::zeros();
    let scaler =
        load_safetensors_with(&mut net, model)?.ok_or("the model file holds no standardizer")?;
    print!("{}", predict_raw(&net, &scaler, csv)?);
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("predict") {
        return predict(Path::new(&args[2]), Path::new(&args[3]));
    }

    let mut data = Dataset::from_csv_path(IRIS_CSV)?;
    let mut rng = Rng::seed_from_u64(11);
    let (train, test) = data.stratified_split(0.2, &mut rng);
    let (train, validation) = data.stratified_split_of(&train, 0.2, &mut rng);
    // Fitted on the training split only, then applied to every sample.
    let scaler = data.standardize(&train)?;

    let net = Iris::<f32>::random(&mut Rng::seed_from_u64(12));
    let config = TrainConfig {
        epochs: 200,
        patience: Some(20),
        quiet: true,
        ..TrainConfig::default()
    };
    let adam = Adam::new(AdamConfig::adam(0.01));
    let mut trainer = Trainer::try_new(net, adam, Constant(0.01), SoftmaxCrossEntropy, config)?;
    trainer.fit::<16>(&data, &train, Some(&validation))?;
    let history = trainer.history();
    println!(
        "trained {} epochs (best {:?}), {} training, {} validation, {} test samples",
        history.epochs.len(),
        history.best_epoch,
        train.len(),
        validation.len(),
        test.len()
    );
    let report = classification_report(trainer.net(), &data, &test)?;
    println!("{report}");

    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/deploy");
    std::fs::create_dir_all(&dir)?;
    let model = dir.join("model.safetensors");
    save_safetensors_with(trainer.net(), Some(&scaler), &model)?;

    // A fresh process loads the file and predicts from the raw CSV rows.
    let output = Command::new(std::env::current_exe()?)
        .arg("predict")
        .arg(&model)
        .arg(IRIS_CSV)
        .output()?;
    if !output.status.success() {
        return Err(format!(
            "the predicting process failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    let theirs = String::from_utf8(output.stdout)?;
    let ours = predict_raw(trainer.net(), &scaler, Path::new(IRIS_CSV))?;
    if theirs != ours {
        return Err("the second process predicted differently".into());
    }
    println!(
        "a second process loaded {} and predicted all {} raw rows identically",
        model.display(),
        ours.lines().count()
    );
    Ok(())
}
