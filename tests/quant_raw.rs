//! The raw format of a quantized network: a round trip gives the same network and the same
//! integers, every kind of bad data is refused with its error, and `from_raw` runs in
//! constants (so a network in a `static` is decoded by the compiler and stays in flash).

use network::nalgebra::SVector;
use network::prelude::*;
use network::quant::raw::QuantRawError;

network! {
    struct Tiny {
        hidden: Dense<6, 5>, Relu,
        out: Dense<5, 3>,
    }
}

network! {
    struct Other {
        hidden: Dense<6, 4>, Relu,
        out: Dense<4, 3>,
    }
}

network! {
    /// Every shaped layer with an integer form: grouped, dilated and strided
    /// convolutions, a batch norm folded into the one before it, max, average and global
    /// average pooling, dropout and a final softmax.
    struct Signal {
        Input<2, 24>,
        c1: Conv1d<6, 3>(padding = 1, groups = 2), Relu,
        MaxPool1d<2>,
        c2: Conv1d<8, 3>(dilation = 2, stride = 1),
        bn: BatchNorm, Relu,
        AvgPool1d<3>(stride = 2, padding = 1),
        c3: Conv1d<4, 1>,
        GlobalAvgPool,
        Dropout(0.2),
        logits: Dense<4, 3>, Softmax,
    }
}

network! {
    struct Image {
        Input<1, 6, 6>,
        c: Conv2d<3, 3>(padding = "same"), Relu,
        AvgPool2d<2>,
        Flatten,
        out: Dense<27, 2>,
    }
}

fn quantized() -> TinyInt8 {
    let mut rng = Rng::seed_from_u64(7);
    let net = Tiny::<f32>::random(&mut rng);
    let calibration: Vec<SVector<f32, 6>> = (0..32)
        .map(|_| SVector::from_fn(|_, _| rng.uniform(-2.0, 2.0) as f32))
        .collect();
    net.quantize(&calibration)
}

/// Refused by the compiler's evaluation too: `from_raw` is a `const fn`.
const TOO_SHORT: Result<TinyInt8, QuantRawError> = TinyInt8::from_raw(&[0; 3]);

#[test]
fn a_round_trip_gives_the_same_network() {
    let q = quantized();
    let mut bytes = vec![0u8; TinyInt8::RAW_LEN];
    assert_eq!(q.to_raw(&mut bytes), Ok(TinyInt8::RAW_LEN));
    let back = TinyInt8::from_raw(&bytes).expect("reads back");
    assert_eq!(back, q);
    let x = SVector::<i8, 6>::from_fn(|r, _| (r as i32 * 40 - 100) as i8);
    assert_eq!(back.forward_q(&x), q.forward_q(&x));
    // Header 20, layers (36 + 30 + 60) and (36 + 15 + 36), checksum 4.
    assert_eq!(TinyInt8::RAW_LEN, 20 + 126 + 87 + 4);
}

#[test]
fn bad_data_is_refused_with_its_error() {
    let q = quantized();
    let mut bytes = vec![0u8; TinyInt8::RAW_LEN];
    q.to_raw(&mut bytes).unwrap();
    assert!(matches!(
        TOO_SHORT,
        Err(QuantRawError::TooShort { found: 3, .. })
    ));
    assert_eq!(
        q.to_raw(&mut [0u8; 10]),
        Err(QuantRawError::TooShort {
            needed: TinyInt8::RAW_LEN,
            found: 10
        })
    );
    assert!(matches!(
        TinyInt8::from_raw(&bytes[..bytes.len() - 1]),
        Err(QuantRawError::TooShort { .. })
    ));
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(
        TinyInt8::from_raw(&longer),
        Err(QuantRawError::TrailingBytes)
    );
    for (at, error) in [
        (0, QuantRawError::BadMagic),
        (4, QuantRawError::UnsupportedVersion(2)),
        (7, QuantRawError::Reserved),
        (60, QuantRawError::Checksum),
    ] {
        let mut bad = bytes.clone();
        bad[at] = bad[at].wrapping_add(1);
        assert_eq!(TinyInt8::from_raw(&bad), Err(error), "byte {at}");
    }
    let mut bad = bytes.clone();
    bad[6] = 3;
    assert_eq!(
        TinyInt8::from_raw(&bad),
        Err(QuantRawError::LayerCount {
            expected: 2,
            found: 3
        })
    );
    // Another network of the same depth: its first layer's shape is named.
    let other = Other::<f32>::random(&mut Rng::seed_from_u64(1)).quantize(&[SVector::zeros()]);
    let mut theirs = vec![0u8; OtherInt8::RAW_LEN];
    other.to_raw(&mut theirs).unwrap();
    assert!(matches!(
        TinyInt8::from_raw(&theirs),
        Err(QuantRawError::TooShort { .. })
    ));
    // Same length, different layers: resize to ours with a valid checksum.
    let mut forged = theirs.clone();
    forged.resize(TinyInt8::RAW_LEN, 0);
    let n = forged.len();
    let sum = fnv1a32(&forged[..n - 4]);
    forged[n - 4..].copy_from_slice(&sum.to_le_bytes());
    assert_eq!(
        TinyInt8::from_raw(&forged),
        Err(QuantRawError::Layer {
            layer: 0,
            expected: [1, 6, 5],
            found: [1, 6, 4]
        })
    );
    // A negative scale, with a valid checksum.
    let mut forged = bytes.clone();
    forged[15] |= 0x80;
    let sum = fnv1a32(&forged[..n - 4]);
    forged[n - 4..].copy_from_slice(&sum.to_le_bytes());
    assert_eq!(
        TinyInt8::from_raw(&forged),
        Err(QuantRawError::BadValue { layer: None })
    );
    assert!(QuantRawError::Checksum.to_string().contains("checksum"));
}

fn fnv1a32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// The float network's outputs against the int8 network's, dequantized, on inputs like
/// the calibration set: within a few output steps.
#[test]
fn quantized_shaped_networks_follow_the_float_ones() {
    let mut rng = Rng::seed_from_u64(3);
    let mut net = Signal::<f64>::random(&mut rng);
    // Batch norm statistics that are not the identity, so that folding matters.
    for c in 0..8 {
        net.bn.running_mean[c] = rng.uniform(-0.5, 0.5);
        net.bn.running_var[c] = rng.uniform(0.5, 2.0);
        net.bn.weight[c] = rng.uniform(0.5, 1.5);
        net.bn.bias[c] = rng.uniform(-0.2, 0.2);
    }
    let samples: Vec<SVector<f64, 48>> = (0..64)
        .map(|_| SVector::from_fn(|_, _| rng.uniform(-1.0, 1.0)))
        .collect();
    let q = net.quantize(&samples);
    let mut bytes = vec![0u8; SignalInt8::RAW_LEN];
    q.to_raw(&mut bytes).unwrap();
    assert_eq!(SignalInt8::from_raw(&bytes).as_ref(), Ok(&q));
    let logits_step = q.logits.output.scale;
    let mut agree = 0;
    for x in &samples {
        let exact = net.forward(x);
        let ours = q.forward(&x.map(|v| v as f32));
        // Softmax outputs: compare the probabilities within a few logit steps' effect.
        for (a, b) in exact.iter().zip(ours.iter()) {
            assert!((a - f64::from(*b)).abs() < 8.0 * logits_step, "{a} vs {b}");
        }
        agree += usize::from(q.predict(&x.map(|v| v as f32)) == net.predict(x)[0]);
    }
    assert!(agree >= 60, "{agree} of 64 classes agree");

    let net = Image::<f32>::random(&mut rng);
    let samples: Vec<SVector<f32, 36>> = (0..64)
        .map(|_| SVector::from_fn(|_, _| rng.uniform(0.0, 1.0) as f32))
        .collect();
    let q = net.quantize(&samples);
    for x in &samples {
        let (exact, ours) = (net.forward(x), q.forward(x));
        for (a, b) in exact.iter().zip(ours.iter()) {
            assert!(
                (a - b).abs() < 4.0 * q.out.output.scale as f32,
                "{a} vs {b}"
            );
        }
    }
}
