//! The report the firmware prints over semihosting. The host runs the very same code
//! natively; the two outputs must be identical, bit for bit, which holds because the core
//! computes `exp`, `tanh` and friends with `libm` everywhere and fixes the order of every
//! sum. Floats are printed as their bit patterns, and lines starting with `#` are
//! device-only measurements, not compared.
#![no_std]

use core::fmt::{self, Write};

use network::prelude::*;
use network::raw;

#[allow(missing_docs)]
pub mod nets;
pub use nets::{DigitsNet, TinymindNet, XorNet, SAMPLE_BYTES};

/// The digits classifier's weights, trained on the host (`cargo run --release --example
/// export_firmware` at the repository root), in `network::raw` format.
pub static WEIGHTS: &[u8] = include_bytes!("../data/digits-weights.bin");

/// A few test digits: per sample 64 standardized f32 pixels then a u32 label, little-endian.
pub static SAMPLES: &[u8] = include_bytes!("../data/digits-samples.bin");

fn f32_at(bytes: &[u8], at: usize) -> f32 {
    f32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Writes one float as its bit pattern.
struct Bits(f32);

impl fmt::Display for Bits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0.to_bits())
    }
}

/// Prints the whole report. Returns `Err` if the output fails or a check fails (the
/// report says which).
pub fn report(out: &mut impl Write) -> fmt::Result {
    writeln!(out, "network firmware report 1")?;
    footprint(out)?;
    inference(out)?;
    #[cfg(feature = "train")]
    training(out)?;
    writeln!(out, "end")
}

/// Compile-time sizes, the same on every target.
fn footprint(out: &mut impl Write) -> fmt::Result {
    writeln!(
        out,
        "digits net: {} parameters, {} bytes; tape {} bytes per sample",
        DigitsNet::<f32>::PARAMS,
        DigitsNet::<f32>::PARAM_BYTES,
        DigitsNet::<f32>::tape_bytes(1)
    )?;
    writeln!(
        out,
        "xor net: {} parameters, {} bytes; tape {} bytes per sample; no gradient buffer with backward_sgd",
        XorNet::<f32>::PARAMS,
        XorNet::<f32>::PARAM_BYTES,
        XorNet::<f32>::tape_bytes(1)
    )?;
    writeln!(
        out,
        "tinymind 2-5-1 f64: {} bytes to infer, {} bytes to train (parameters + tape, fused SGD)",
        TinymindNet::<f64>::PARAM_BYTES,
        TinymindNet::<f64>::PARAM_BYTES + TinymindNet::<f64>::tape_bytes(1)
    )
}

/// Loads the embedded weights and classifies the embedded digits.
fn inference(out: &mut impl Write) -> fmt::Result {
    let mut net = DigitsNet::<f32>::zeros();
    if let Err(error) = raw::load_bytes(&mut net, WEIGHTS) {
        writeln!(out, "error: cannot load the weights: {error}")?;
        return Err(fmt::Error);
    }
    let count = SAMPLES.len() / SAMPLE_BYTES;
    let mut correct = 0;
    for i in 0..count {
        let at = i * SAMPLE_BYTES;
        let x = SVector::<f32, 64>::from_fn(|r, _| f32_at(SAMPLES, at + 4 * r));
        let label = u32::from_le_bytes([
            SAMPLES[at + 256],
            SAMPLES[at + 257],
            SAMPLES[at + 258],
            SAMPLES[at + 259],
        ]) as usize;
        let logits = net.forward(&x);
        let predicted = argmax(logits.as_slice());
        correct += usize::from(predicted == label);
        write!(out, "digit {i}: label {label} predicted {predicted} logits")?;
        for &v in logits.iter() {
            write!(out, " {}", Bits(v))?;
        }
        writeln!(out)?;
    }
    writeln!(out, "inference: {correct} of {count} correct")
}

/// Trains the XOR network on the device with the fused backward + SGD step.
#[cfg(feature = "train")]
fn training(out: &mut impl Write) -> fmt::Result {
    let x = SMatrix::<f32, 2, 4>::from_column_slice(&[0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0]);
    let y = SMatrix::<f32, 1, 4>::from_column_slice(&[0.0, 1.0, 1.0, 0.0]);
    let mut rng = Rng::seed_from_u64(7);
    let mut net = XorNet::<f32>::random(&mut rng);
    let mut tape = XorNet::<f32>::new_tape::<4>();
    let mut d_out = SMatrix::<f32, 1, 4>::zeros();
    let mut first = 0.0;
    let mut last = 0.0;
    for step in 0..=400 {
        let loss =
            BceWithLogits.loss_and_grad(net.forward_train(&x, &mut tape, &mut rng), &y, &mut d_out);
        net.backward_sgd(&x, &tape, &d_out, 0.5);
        if step == 0 {
            first = loss;
        }
        last = loss;
        if step % 50 == 0 {
            // `{}` of f32 is core's exact shortest representation: the same text on every target.
            writeln!(out, "train step {step}: loss {} ({})", Bits(loss), loss)?;
        }
    }
    let logits = net.forward(&x);
    write!(out, "xor after training:")?;
    let mut correct = 0;
    for (logit, target) in logits.iter().zip(y.iter()) {
        let predicted = u8::from(*logit > 0.0);
        correct += usize::from(f32::from(predicted) == *target);
        write!(out, " {predicted}")?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "training: loss fell from {first} to {last}; {correct} of 4 correct"
    )?;
    if last < first && correct == 4 {
        Ok(())
    } else {
        Err(fmt::Error)
    }
}
