//! Any bytes given to the checkpoint loader: an error that leaves the trainer untouched,
//! or a load after which training goes on without a panic or an overflow (an edited step
//! count of `u64::MAX` used to overflow at the next step).
#![no_main]

use libfuzzer_sys::fuzz_target;
use network::data::Dataset;
use network::prelude::*;

network! {
    #[derive(Clone, Debug, PartialEq)]
    struct Net { a: Dense<2, 3>, Relu, b: Dense<3, 2> }
}

/// The trainer the seed `corpus/checkpoint/valid` was saved from, after
/// `t.config.epochs = 2; t.fit::<2>(&data(), &[0, 1, 2], Some(&[3, 4]))`.
fn trainer() -> Trainer<f32, Net<f32>, Adam<f32, Net<f32>>, Constant, SoftmaxCrossEntropy, 2, 2> {
    let config = TrainConfig {
        quiet: true,
        patience: Some(3),
        ..TrainConfig::default()
    };
    Trainer::new(
        Net::random(&mut Rng::seed_from_u64(1)),
        Adam::new(AdamConfig::adam(0.01)),
        Constant(0.01),
        SoftmaxCrossEntropy,
        config,
    )
}

fn data() -> Dataset {
    Dataset::from_csv_str("x,y,label\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n0.5,0.5,1\n").unwrap()
}

/// FNV-1a 64, as a checkpoint ends with.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// Loads `bytes`: a rejection must leave the trainer untouched; an accepted file must
/// train on without a panic.
fn check(bytes: &[u8]) {
    let data = data();
    let mut t = trainer();
    let before = t.net().clone();
    match t.load_checkpoint_bytes(bytes) {
        Err(_) => {
            assert_eq!(t.net(), &before);
            assert_eq!((t.epoch(), t.step()), (0, 0));
        }
        Ok(()) => {
            // Whatever was loaded trains on, or stops with a typed error.
            t.config.epochs = t.epoch().saturating_add(1);
            let _ = t.fit::<2>(&data, &[0, 1, 2], Some(&[3, 4]));
        }
    }
}

fuzz_target!(|bytes: &[u8]| {
    check(bytes);
    // The same bytes with a valid checksum, as an edited file would have: this reaches
    // the range checks of every field instead of stopping at the checksum.
    if bytes.len() >= 24 {
        let mut sealed = bytes.to_vec();
        let n = sealed.len() - 8;
        let sum = fnv1a(&sealed[..n]);
        sealed[n..].copy_from_slice(&sum.to_le_bytes());
        check(&sealed);
    }
});
