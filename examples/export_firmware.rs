//! Trains the firmware's digits classifier on the host and writes what the firmware
//! embeds with `include_bytes!`: the weights in `network::raw` format, the network
//! quantized to int8 (calibrated on the first 200 training digits) in the format of
//! `network::quant::raw`, and a few standardized test digits.
//!
//! ```text
//! cargo run --release --example export_firmware
//! ```

use std::error::Error;

use network::data::Dataset;
use network::nalgebra::SVector;
use network::prelude::*;

#[path = "firmware/report/src/nets.rs"]
#[allow(dead_code)]
mod nets;

use nets::{DigitsNet, DigitsNetInt8, SAMPLE_BYTES};

/// Test digits embedded in the firmware.
const SAMPLES: usize = 8;

/// Training digits the int8 network is calibrated on.
const CALIBRATION: usize = 200;

fn main() -> Result<(), Box<dyn Error>> {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut data = Dataset::from_csv_path(format!("{root}/data/digits.csv"))?;
    let mut rng = Rng::seed_from_u64(10);
    let (train, test) = data.stratified_split(0.2, &mut rng);
    data.standardize(&train)?;

    let net = DigitsNet::<f32>::random(&mut rng);
    let config = TrainConfig {
        epochs: 30,
        seed: 10,
        quiet: true,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(
        net,
        Adam::new(AdamConfig::adam(2e-3)),
        Constant(2e-3),
        SoftmaxCrossEntropy,
        config,
    );
    trainer.fit::<32>(&data, &train, None)?;
    let (_, accuracy) = trainer.evaluate::<32>(&data, &test)?;
    let net = trainer.net();
    let sample =
        |i: usize| SVector::<f32, 64>::from_iterator(data.sample(i).iter().map(|&v| v as f32));
    let calibration: Vec<_> = train[..CALIBRATION].iter().map(|&i| sample(i)).collect();
    let quantized = net.quantize(&calibration);
    let int8_correct = test
        .iter()
        .filter(|&&i| quantized.predict(&sample(i)) == data.labels()[i])
        .count();
    println!(
        "host test accuracy on {} digits: f32 {:.1}%, int8 {:.1}% (calibrated on {CALIBRATION} training digits)",
        test.len(),
        100.0 * accuracy,
        100.0 * int8_correct as f64 / test.len() as f64
    );
    let mut int8 = vec![0u8; DigitsNetInt8::RAW_LEN];
    quantized.to_raw(&mut int8)?;

    let mut weights = vec![0u8; network::raw::raw_len::<f32, DigitsNet<f32>>()];
    network::raw::to_bytes(trainer.net(), &mut weights)?;
    let mut samples = Vec::with_capacity(SAMPLES * SAMPLE_BYTES);
    for &i in &test[..SAMPLES] {
        for &v in data.sample(i) {
            samples.extend_from_slice(&(v as f32).to_le_bytes());
        }
        samples.extend_from_slice(&(data.labels()[i] as u32).to_le_bytes());
    }
    let dir = format!("{root}/examples/firmware/report/data");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(format!("{dir}/digits-weights.bin"), &weights)?;
    std::fs::write(format!("{dir}/digits-int8.bin"), &int8)?;
    std::fs::write(format!("{dir}/digits-samples.bin"), &samples)?;
    println!(
        "wrote {} bytes of weights, {} bytes of the int8 network and {SAMPLES} digits to {dir}",
        weights.len(),
        int8.len()
    );
    Ok(())
}
