//! Writes the PyTorch twin of a declared network and a training script for it: the
//! hand-off to PyTorch for GPUs and `torchrun`, and the way back.
//!
//! ```text
//! cargo run --example pytorch_module -- out/        # writes out/model.py, out/train.py
//! pip install torch safetensors numpy
//! python out/train.py data/digits.csv --standardize --epochs 30 --out out/model.safetensors
//! torchrun --nproc-per-node 2 out/train.py data/digits.csv --standardize --epochs 30 --out out/model.safetensors
//! cargo run --example pytorch_module -- out/ --evaluate out/model.safetensors data/digits.csv
//! ```
//!
//! The state dict of `out/model.safetensors` carries the Rust tensor names and, with
//! `--standardize`, the input scaling in its metadata: `--evaluate` reads both with
//! `network::weights::load_safetensors_with` into `Digits<f32>` and reports its accuracy
//! on the CSV file, which is PyTorch's (the script prints it).

use std::path::PathBuf;

use network::data::Dataset;
use network::prelude::*;

network! {
    /// The digits CNN of `examples/cnn.rs`: 8x8 images, two convolutions.
    pub struct Digits {
        Input<1, 8, 8>,
        c1: Conv2d<16, 3>(padding = 1), Relu,
        bn1: BatchNorm,
        MaxPool2d<2>,
        c2: Conv2d<32, 3>(padding = "same"), Relu,
        MaxPool2d<2>,
        Flatten,
        Dropout(0.25),
        fc: Dense<128, 10>,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [_, flag, weights, csv] = args.as_slice() {
        if flag == "--evaluate" {
            return evaluate(weights, csv);
        }
    }
    let dir = PathBuf::from(
        args.first()
            .cloned()
            .unwrap_or_else(|| "pytorch-out".into()),
    );
    std::fs::create_dir_all(&dir)?;
    let module = Digits::<f32>::pytorch();
    std::fs::write(dir.join("model.py"), module.to_string())?;
    std::fs::write(
        dir.join("train.py"),
        module.training_script("model").to_string(),
    )?;
    println!(
        "wrote {} (class Digits, {} parameters) and {}",
        dir.join("model.py").display(),
        Digits::<f32>::PARAMS,
        dir.join("train.py").display()
    );
    Ok(())
}

/// Loads a state dict PyTorch wrote (with its input scaling, if any) and reports the
/// accuracy on a CSV file of the same form as the training script's.
fn evaluate(weights: &str, csv: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mut net = Digits::<f32>::zeros();
    let scaler = network::weights::load_safetensors_with(&mut net, weights)?;
    let mut data = Dataset::from_csv_path(csv)?;
    if let Some(scaler) = &scaler {
        data.apply_standardizer(scaler)?;
    }
    let correct = (0..data.len())
        .filter(|&i| {
            let x = SVector::<f32, 64>::from_iterator(data.sample(i).iter().map(|&v| v as f32));
            net.predict(&x)[0] == data.labels()[i]
        })
        .count();
    println!(
        "{weights} in Rust ({}): accuracy {:.4} on {} samples of {csv}",
        if scaler.is_some() {
            "with the scaling stored in the file"
        } else {
            "unscaled inputs"
        },
        correct as f64 / data.len() as f64,
        data.len()
    );
    Ok(())
}
