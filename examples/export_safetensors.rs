//! Trains the PyTorch twin network on Iris here and writes it as safetensors, with a few
//! inputs and the outputs computed here, for `examples/pytorch/torch_twin.py check` to
//! load into PyTorch and compare.
//!
//! ```text
//! cargo run --release --example export_safetensors
//! python examples/pytorch/torch_twin.py check
//! ```

use std::collections::HashMap;
use std::error::Error;

use network::data::Dataset;
use network::prelude::*;
use safetensors::tensor::{Dtype, TensorView};

network! {
    /// The twin of `torch_twin.py`'s `nn.Sequential`.
    struct Twin {
        hidden: Dense<4, 16>, Relu,
        deeper: Dense<16, 16>, Tanh,
        logits: Dense<16, 3>,
    }
}

network! {
    /// The twin of `torch_twin.py`'s batch-norm `nn.Sequential`.
    struct NormTwin {
        hidden: Dense<4, 16>, Relu,
        bn: BatchNorm,
        logits: Dense<16, 3>,
    }
}

/// Writes `inputs` and `outputs` [n, 4] and [n, 3] as safetensors.
fn write_io(path: &str, inputs: &[u8], outputs: &[u8]) -> Result<(), Box<dyn Error>> {
    let n = inputs.len() / 16;
    let views = [
        ("inputs", TensorView::new(Dtype::F32, vec![n, 4], inputs)?),
        ("outputs", TensorView::new(Dtype::F32, vec![n, 3], outputs)?),
    ];
    std::fs::write(
        path,
        safetensors::serialize(views, None::<HashMap<String, String>>)?,
    )?;
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut data = Dataset::from_csv_path(format!("{root}/data/iris.csv"))?;
    let all: Vec<usize> = (0..data.len()).collect();
    data.standardize(&all)?;
    let config = TrainConfig {
        epochs: 20,
        quiet: true,
        ..TrainConfig::default()
    };
    let net = Twin::<f32>::random(&mut Rng::seed_from_u64(1));
    let mut trainer = Trainer::new(
        net,
        Adam::new(AdamConfig::adam(0.01)),
        Constant(0.01),
        SoftmaxCrossEntropy,
        config,
    );
    trainer.fit::<16>(&data, &all, None)?;

    let dir = format!("{root}/tests/fixtures/pytorch");
    network::weights::save_safetensors(trainer.net(), format!("{dir}/from-rust.safetensors"))?;
    let (mut inputs, mut outputs) = (Vec::new(), Vec::new());
    for i in (0..data.len()).step_by(30) {
        let x = SVector::<f32, 4>::from_iterator(data.sample(i).iter().map(|&v| v as f32));
        inputs.extend(x.iter().flat_map(|v| v.to_le_bytes()));
        outputs.extend(
            trainer
                .net()
                .forward(&x)
                .iter()
                .flat_map(|v| v.to_le_bytes()),
        );
    }
    write_io(
        &format!("{dir}/from-rust-io.safetensors"),
        &inputs,
        &outputs,
    )?;

    // With batch norm: its running statistics travel as buffers, with PyTorch's names.
    let config = TrainConfig {
        epochs: 20,
        quiet: true,
        ..TrainConfig::default()
    };
    let net = NormTwin::<f32>::random(&mut Rng::seed_from_u64(1));
    let mut trainer = Trainer::new(
        net,
        Adam::new(AdamConfig::adam(0.01)),
        Constant(0.01),
        SoftmaxCrossEntropy,
        config,
    );
    trainer.fit::<16>(&data, &all, None)?;
    network::weights::save_safetensors(trainer.net(), format!("{dir}/from-rust-bn.safetensors"))?;
    let mut outputs = Vec::new();
    for i in (0..data.len()).step_by(30) {
        let x = SVector::<f32, 4>::from_iterator(data.sample(i).iter().map(|&v| v as f32));
        outputs.extend(
            trainer
                .net()
                .forward(&x)
                .iter()
                .flat_map(|v| v.to_le_bytes()),
        );
    }
    write_io(
        &format!("{dir}/from-rust-bn-io.safetensors"),
        &inputs,
        &outputs,
    )?;
    println!(
        "wrote both trained networks and {} samples to {dir}",
        inputs.len() / 16
    );
    Ok(())
}
