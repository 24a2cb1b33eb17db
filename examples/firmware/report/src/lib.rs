//! The report the firmware prints over semihosting. The host runs the very same code
//! natively; the two outputs must be identical, bit for bit, which holds because the core
//! computes `exp`, `tanh` and friends with `libm` everywhere and fixes the order of every
//! sum. Floats are printed as their bit patterns, and lines starting with `#` are
//! device-only measurements, not compared.
#![no_std]

use core::fmt::{self, Write};

use network::nalgebra::ArrayStorage;
use network::prelude::*;

#[allow(missing_docs)]
pub mod nets;
pub use nets::{
    DigitsNet, DigitsNetInt8, SignalNet, StreamNet, StreamNetStream, TinyCnn, TinymindNet, XorNet,
    SAMPLE_BYTES,
};

/// The digits classifier, trained on the host (`cargo run --release --example
/// export_firmware` at the repository root): its weights were decoded from
/// `data/digits-weights.bin` when the crate compiled, and this `static` keeps them in
/// flash (`.rodata`). Inference borrows them; nothing is copied into RAM.
pub static DIGITS: DigitsNet<f32> = DigitsNet::WEIGHTS;

/// The digits classifier quantized to int8 on the host (calibrated on 200 training
/// digits, `cargo run --release --example export_firmware`), decoded from the raw int8
/// format by the compiler (`from_raw` is a `const fn`; bad data would be a compile
/// error) and kept in flash like [`DIGITS`].
pub static DIGITS_INT8: DigitsNetInt8 =
    match DigitsNetInt8::from_raw(include_bytes!("../data/digits-int8.bin")) {
        Ok(net) => net,
        Err(_) => panic!("data/digits-int8.bin is not a quantized DigitsNet"),
    };

/// A few test digits: per sample 64 standardized f32 pixels then a u32 label, little-endian.
const SAMPLE_DATA: &[u8] = include_bytes!("../data/digits-samples.bin");

/// How many test digits there are.
pub const COUNT: usize = SAMPLE_DATA.len() / SAMPLE_BYTES;

/// The test digits decoded at compile time, kept in flash: inference borrows each one
/// instead of copying its 256 bytes onto the stack.
pub static DIGIT_SAMPLES: [(SVector<f32, 64>, u32); COUNT] = decode_samples();

const fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

const fn decode_samples() -> [(SVector<f32, 64>, u32); COUNT] {
    let mut samples = [(SVector::from_array_storage(ArrayStorage([[0.0; 64]; 1])), 0); COUNT];
    let mut i = 0;
    while i < COUNT {
        let at = i * SAMPLE_BYTES;
        let mut pixels = [0.0f32; 64];
        let mut r = 0;
        while r < 64 {
            pixels[r] = f32::from_bits(u32_at(SAMPLE_DATA, at + 4 * r));
            r += 1;
        }
        samples[i] = (
            SVector::from_array_storage(ArrayStorage([pixels])),
            u32_at(SAMPLE_DATA, at + 256),
        );
        i += 1;
    }
    samples
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
    report_measured(out, &mut NoProbe)
}

/// Measures the stack a part of the report uses: the device paints the free stack in
/// `start` and finds the deepest overwritten word in `stop`, which prints a `#` line
/// (device-only, not compared with the host).
pub trait Probe {
    /// Before the part.
    fn start(&mut self);
    /// After it: report the stack it used, under `what`.
    fn stop(&mut self, out: &mut dyn Write, what: &str) -> fmt::Result;
}

/// No measurement (the host).
pub struct NoProbe;

impl Probe for NoProbe {
    fn start(&mut self) {}
    fn stop(&mut self, _: &mut dyn Write, _: &str) -> fmt::Result {
        Ok(())
    }
}

/// [`report`], with the stack of the tinymind comparison measured by `probe`.
pub fn report_measured(out: &mut impl Write, probe: &mut impl Probe) -> fmt::Result {
    writeln!(out, "network firmware report 2")?;
    footprint(out)?;
    inference(out)?;
    #[cfg(feature = "train")]
    training(out)?;
    #[cfg(feature = "train")]
    convolution_training(out)?;
    #[cfg(feature = "train")]
    streaming(out)?;
    #[cfg(feature = "train")]
    int8(out)?;
    #[cfg(feature = "train")]
    int8_cnn(out)?;
    #[cfg(feature = "train")]
    tinymind(out, probe)?;
    #[cfg(not(feature = "train"))]
    let _ = probe;
    writeln!(out, "end")
}

/// (With `train`: the inference-only firmware stays the digits classifier alone.)
///
/// tinymind's example network (2-5-1 in f64, sigmoids) inferring one sample, then taking
/// fused SGD steps, each measured alone: the basis of the README's comparison with
/// tinymind's published figures (which exclude the stack).
#[cfg(feature = "train")]
#[inline(never)]
fn tinymind(out: &mut impl Write, probe: &mut impl Probe) -> fmt::Result {
    let x = SMatrix::<f64, 2, 1>::new(1.0, 0.0);
    let y = SMatrix::<f64, 1, 1>::new(1.0);
    let mut net = TinymindNet::<f64>::random(&mut Rng::seed_from_u64(3));
    probe.start();
    let before = tinymind_infer(&net, &x);
    probe.stop(out, "tinymind 2-5-1 f64 inference")?;
    probe.start();
    tinymind_train(&mut net, &x, &y);
    probe.stop(out, "tinymind 2-5-1 f64 training step")?;
    let after = tinymind_infer(&net, &x);
    writeln!(
        out,
        "tinymind 2-5-1: output {} before and {} after 10 steps toward 1",
        Bits64(before),
        Bits64(after)
    )
}

#[cfg(feature = "train")]
#[inline(never)]
fn tinymind_infer(net: &TinymindNet<f64>, x: &SMatrix<f64, 2, 1>) -> f64 {
    net.forward(x)[0]
}

/// Ten fused SGD steps on one sample, with the tape on the stack.
#[cfg(feature = "train")]
#[inline(never)]
fn tinymind_train(net: &mut TinymindNet<f64>, x: &SMatrix<f64, 2, 1>, y: &SMatrix<f64, 1, 1>) {
    let mut tape = TinymindNet::<f64>::new_tape::<1>();
    let mut d_out = SMatrix::<f64, 1, 1>::zeros();
    for _ in 0..10 {
        Mse.loss_and_grad(net.forward_train_deterministic(x, &mut tape), y, &mut d_out);
        net.backward_sgd(x, &tape, &d_out, 0.5);
    }
}

/// Four two-channel signals of 16 samples: class 1 has a bump in the second half of its
/// first channel, class 0 in the first half; the second channel is a ramp.
#[cfg(feature = "train")]
fn signals() -> (SMatrix<f32, 32, 4>, SMatrix<f32, 2, 4>) {
    let x = SMatrix::<f32, 32, 4>::from_fn(|r, s| {
        let (channel, t) = (r / 16, (r % 16) as f32);
        let centre = if s % 2 == 1 { 11.0 } else { 4.0 } + (s / 2) as f32 * 0.5;
        if channel == 0 {
            let d = (t - centre) * 0.5;
            1.0 / (1.0 + d * d)
        } else {
            t / 16.0 - 0.5
        }
    });
    let y = SMatrix::<f32, 2, 4>::from_fn(|r, s| f32::from(u8::from(r == s % 2)));
    (x, y)
}

/// Trains the convolutional network on the device (fused backward + SGD) and prints its
/// losses and every trained parameter as bits, like the XOR training.
#[cfg(feature = "train")]
#[inline(never)]
fn convolution_training(out: &mut impl Write) -> fmt::Result {
    let (x, y) = signals();
    let mut net = SignalNet::<f32>::random(&mut Rng::seed_from_u64(11));
    let mut tape = SignalNet::<f32>::new_tape::<4>();
    let mut d_out = SMatrix::<f32, 2, 4>::zeros();
    let (mut first, mut last) = (0.0, 0.0);
    for step in 0..=150 {
        let loss = SoftmaxCrossEntropy.loss_and_grad(
            net.forward_train_deterministic(&x, &mut tape),
            &y,
            &mut d_out,
        );
        net.backward_sgd(&x, &tape, &d_out, 0.5);
        if step == 0 {
            first = loss;
        }
        last = loss;
        if step % 50 == 0 {
            writeln!(out, "conv step {step}: loss {} ({})", Bits(loss), loss)?;
        }
    }
    trained(out, &net)?;
    let logits = net.forward(&x);
    let correct = logits
        .column_iter()
        .zip(y.column_iter())
        .filter(|(l, t)| argmax(l.as_slice()) == argmax(t.as_slice()))
        .count();
    writeln!(
        out,
        "convolution training: loss fell from {first} to {last}; {correct} of 4 correct"
    )?;
    if last < first && correct == 4 {
        Ok(())
    } else {
        Err(fmt::Error)
    }
}

/// Streams 16 samples one at a time through a GRU (`StreamNet::step`, state in a
/// `StreamNetStream`) and checks that each output has the bits the whole-sequence pass
/// gives, printing them for the comparison with the host.
#[cfg(feature = "train")]
#[inline(never)]
fn streaming(out: &mut impl Write) -> fmt::Result {
    let net = StreamNet::<f32>::random(&mut Rng::seed_from_u64(21));
    let x = SMatrix::<f32, 16, 1>::from_fn(|t, _| ((t * 7) % 11) as f32 / 5.5 - 1.0);
    let whole = net.forward(&x);
    let mut state = StreamNetStream::new();
    let mut same = true;
    for t in 0..16 {
        let y = net.step(&mut state, &SVector::<f32, 1>::new(x[t]));
        same &= y[0].to_bits() == whole[t].to_bits();
        if t % 4 == 3 {
            writeln!(out, "stream step {t}: {}", Bits(y[0]))?;
        }
    }
    writeln!(
        out,
        "streaming GRU-4: {} parameters, state {} bytes; every step equals the sequence pass: {same}",
        StreamNet::<f32>::PARAMS,
        core::mem::size_of::<StreamNetStream<f32>>()
    )?;
    if same {
        Ok(())
    } else {
        Err(fmt::Error)
    }
}

/// Quantizes the digits classifier to int8 on the device (calibrated on the embedded
/// digits) and classifies them with integers alone, printing every integer output: the
/// host computes the same integers.
#[cfg(feature = "train")]
#[inline(never)]
fn int8(out: &mut impl Write) -> fmt::Result {
    let calibration: [SVector<f32, 64>; COUNT] = core::array::from_fn(|k| DIGIT_SAMPLES[k].0);
    let quantized = DIGITS.quantize(&calibration);
    let mut agree = 0;
    for (x, _) in DIGIT_SAMPLES.iter() {
        let q = SVector::<i8, 64>::from_fn(|r, _| quantized.input.quantize(f64::from(x[r])));
        let y = quantized.forward_q(&q);
        for v in y.iter() {
            write!(out, "{:02x}", *v as u8)?;
        }
        writeln!(out)?;
        agree += usize::from(quantized.predict(x) == argmax(DIGITS.forward(x).as_slice()));
    }
    writeln!(
        out,
        "int8 digits net: {agree} of {COUNT} predictions equal the f32 network's"
    )?;
    // The network quantized on the host, in flash.
    let mut flash_agree = 0;
    for (x, _) in DIGIT_SAMPLES.iter() {
        let y = DIGITS_INT8.forward_q(&quantize_input(x));
        for v in y.iter() {
            write!(out, "{:02x}", *v as u8)?;
        }
        writeln!(out)?;
        flash_agree += usize::from(DIGITS_INT8.predict(x) == argmax(DIGITS.forward(x).as_slice()));
    }
    writeln!(
        out,
        "int8 digits net in flash: {flash_agree} of {COUNT} predictions equal the f32 network's"
    )?;
    if agree == COUNT && flash_agree == COUNT {
        Ok(())
    } else {
        Err(fmt::Error)
    }
}

/// A digit quantized with the flash int8 network's input parameters.
fn quantize_input(x: &SVector<f32, 64>) -> SVector<i8, 64> {
    let quantizer = DIGITS_INT8.input.quantizer();
    SVector::from_fn(|r, _| quantizer.quantize(x[r]))
}

/// Counts instructions for [`instructions`]: the device reads SysTick under QEMU's
/// `-icount`.
pub trait Counter {
    /// Instructions executed so far.
    fn now(&mut self) -> u64;
}

/// Instructions and stack per inference of the digits classifier, f32 against int8,
/// both in flash, averaged over the embedded digits (device only: `#` lines).
pub fn instructions(
    out: &mut impl Write,
    probe: &mut impl Probe,
    counter: &mut impl Counter,
) -> fmt::Result {
    use core::hint::black_box;
    let inputs: [SVector<i8, 64>; COUNT] =
        core::array::from_fn(|k| quantize_input(&DIGIT_SAMPLES[k].0));
    let empty = {
        let start = counter.now();
        counter.now() - start
    };
    let time = |counter: &mut dyn Counter, run: &mut dyn FnMut(usize)| {
        let start = counter.now();
        for k in 0..COUNT {
            run(k);
        }
        (counter.now() - start - empty) / COUNT as u64
    };
    let mut f32_class = [0usize; COUNT];
    let float = time(counter, &mut |k| {
        f32_class[k] = argmax(
            black_box(&DIGITS)
                .forward(black_box(&DIGIT_SAMPLES[k].0))
                .as_slice(),
        );
    });
    let mut int8_class = [0usize; COUNT];
    let int8 = time(counter, &mut |k| {
        let y = black_box(&DIGITS_INT8).forward_q(black_box(&inputs[k]));
        int8_class[k] = argmax(y.map(f32::from).as_slice());
    });
    let quantizing = time(counter, &mut |k| {
        black_box(quantize_input(black_box(&DIGIT_SAMPLES[k].0)));
    });
    writeln!(out, "# instructions per inference, f32: {float}")?;
    writeln!(out, "# instructions per inference, int8: {int8}")?;
    writeln!(out, "# instructions to quantize the input: {quantizing}")?;
    use core::mem::size_of_val;
    writeln!(
        out,
        "# weight matrices in flash, f32: {} bytes, int8: {} bytes",
        size_of_val(&DIGITS.hidden.weight) + size_of_val(&DIGITS.logits.weight),
        size_of_val(&DIGITS_INT8.hidden.weight) + size_of_val(&DIGITS_INT8.logits.weight)
    )?;
    writeln!(
        out,
        "# whole network in flash, f32: {} bytes, int8: {} bytes",
        core::mem::size_of::<DigitsNet<f32>>(),
        core::mem::size_of::<DigitsNetInt8>()
    )?;
    probe.start();
    black_box(DIGITS.forward(black_box(&DIGIT_SAMPLES[0].0)));
    probe.stop(out, "one f32 inference")?;
    probe.start();
    black_box(DIGITS_INT8.forward_q(black_box(&inputs[0])));
    probe.stop(out, "one int8 inference")?;
    if f32_class == int8_class {
        Ok(())
    } else {
        writeln!(out, "# the int8 classes differ from the f32 ones")?;
        Err(fmt::Error)
    }
}

/// Convolutions in int8: a small CNN with random weights, quantized on the device
/// (calibrated on the embedded digits), every integer output printed.
#[cfg(feature = "train")]
#[inline(never)]
fn int8_cnn(out: &mut impl Write) -> fmt::Result {
    let calibration: [SVector<f32, 64>; COUNT] = core::array::from_fn(|k| DIGIT_SAMPLES[k].0);
    let cnn = TinyCnn::<f32>::random(&mut Rng::seed_from_u64(11));
    let cnn_int8 = cnn.quantize(&calibration);
    let mut cnn_agree = 0;
    for (x, _) in DIGIT_SAMPLES.iter() {
        let quantizer = cnn_int8.input.quantizer();
        let y = cnn_int8.forward_q(&SVector::from_fn(|r, _| quantizer.quantize(x[r])));
        for v in y.iter() {
            write!(out, "{:02x}", *v as u8)?;
        }
        writeln!(out)?;
        cnn_agree += usize::from(cnn_int8.predict(x) == argmax(cnn.forward(x).as_slice()));
    }
    writeln!(
        out,
        "int8 CNN: {cnn_agree} of {COUNT} predictions equal the f32 network's"
    )?;
    Ok(())
}

/// Writes an `f64` as its bit pattern.
#[cfg(feature = "train")]
struct Bits64(f64);

#[cfg(feature = "train")]
impl fmt::Display for Bits64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0.to_bits())
    }
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

/// Classifies the embedded digits with the network in flash.
fn inference(out: &mut impl Write) -> fmt::Result {
    let net = &DIGITS;
    let count = COUNT;
    let mut correct = 0;
    for (i, (x, label)) in DIGIT_SAMPLES.iter().enumerate() {
        let label = *label as usize;
        let logits = net.forward(x);
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

/// Every trained parameter at full precision, so that a difference in any update shows.
#[cfg(feature = "train")]
fn trained<P: Params<f32>>(out: &mut impl Write, net: &P) -> fmt::Result {
    let mut written = Ok(());
    net.for_each_param(|info, values| {
        if written.is_ok() {
            written = (|| {
                write!(out, "trained {}:", info.name)?;
                for &v in values {
                    write!(out, " {}", Bits(v))?;
                }
                writeln!(out)
            })();
        }
    });
    written
}

/// Trains the XOR network on the device with the fused backward + SGD step.
#[cfg(feature = "train")]
fn training(out: &mut impl Write) -> fmt::Result {
    let x = SMatrix::<f32, 2, 4>::from_column_slice(&[0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0]);
    let y = SMatrix::<f32, 1, 4>::from_column_slice(&[0.0, 1.0, 1.0, 0.0]);
    let mut net = XorNet::<f32>::random(&mut Rng::seed_from_u64(7));
    let mut tape = XorNet::<f32>::new_tape::<4>();
    let mut d_out = SMatrix::<f32, 1, 4>::zeros();
    let mut first = 0.0;
    let mut last = 0.0;
    for step in 0..=400 {
        // No dropout: the training forward pass needs no random numbers.
        let loss = BceWithLogits.loss_and_grad(
            net.forward_train_deterministic(&x, &mut tape),
            &y,
            &mut d_out,
        );
        // `perturb`: a deliberately wrong device build (it skips the last update) that
        // the host comparison must catch; CI checks that it does.
        if !(cfg!(feature = "perturb") && step == 400) {
            net.backward_sgd(&x, &tape, &d_out, 0.5);
        }
        if step == 0 {
            first = loss;
        }
        last = loss;
        if step % 50 == 0 {
            // `{}` of f32 is core's exact shortest representation: the same text on every target.
            writeln!(out, "train step {step}: loss {} ({})", Bits(loss), loss)?;
        }
    }
    // Every trained parameter at full precision, so that a difference in any update,
    // the last one included, shows.
    trained(out, &net)?;
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
