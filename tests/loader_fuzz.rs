//! Both weight loaders against damaged input: seeded random truncations, bit flips, byte
//! overwrites and splices of valid files, many thousands of each. No input may panic, and
//! a rejected input must leave the network unchanged. (Coverage-guided fuzzing of the same
//! loaders: `fuzz/`, run with `cargo +nightly fuzz run <target>`.)

use network::prelude::*;
use network::raw;
use network::weights::{from_safetensors, to_safetensors};

network! {
    #[derive(Clone, Debug, PartialEq)]
    struct Net {
        a: Dense<3, 5>, Relu,
        b: Dense<5, 2>,
    }
}

/// A damaged copy of `valid`.
fn mutate(valid: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut bytes = valid.to_vec();
    match rng.below(5) {
        0 => bytes.truncate(rng.below(valid.len())),
        1 => {
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(bytes.len());
                bytes[i] ^= 1 << rng.below(8);
            }
        }
        2 => {
            let i = rng.below(bytes.len());
            bytes[i] = rng.next_u64() as u8;
        }
        3 => {
            let at = rng.below(bytes.len());
            let tail: Vec<u8> = (0..rng.below(64)).map(|_| rng.next_u64() as u8).collect();
            bytes.truncate(at);
            bytes.extend(tail);
        }
        _ => {
            // Overwrite a little-endian u64 (a header length, an offset, a count) with a
            // value that is large, zero or just off by one.
            let i = rng.below(bytes.len().saturating_sub(8).max(1));
            let v = [u64::MAX, 0, (valid.len() as u64) + 1, 1 << 40][rng.below(4)];
            let end = (i + 8).min(bytes.len());
            bytes[i..end].copy_from_slice(&v.to_le_bytes()[..end - i]);
        }
    }
    bytes
}

#[test]
fn damaged_raw_weights_never_panic_and_change_nothing() {
    let net = Net::<f32>::random(&mut Rng::seed_from_u64(1));
    let mut valid = vec![0u8; raw::raw_len::<f32, Net<f32>>()];
    raw::to_bytes(&net, &mut valid).unwrap();
    let mut rng = Rng::seed_from_u64(2);
    let mut target = Net::<f32>::zeros();
    let mut rejected = 0;
    for _ in 0..20_000 {
        let bytes = mutate(&valid, &mut rng);
        match raw::load_bytes(&mut target, &bytes) {
            Ok(()) => target = Net::zeros(),
            Err(_) => {
                rejected += 1;
                assert_eq!(target, Net::zeros(), "a rejected input changed the network");
            }
        }
    }
    assert!(
        rejected > 19_000,
        "only {rejected} of 20000 damaged inputs were rejected"
    );
}

#[test]
fn damaged_safetensors_never_panic_and_change_nothing() {
    let net = Net::<f32>::random(&mut Rng::seed_from_u64(1));
    let valid = to_safetensors(&net).unwrap();
    let mut rng = Rng::seed_from_u64(3);
    let mut target = Net::<f32>::zeros();
    for _ in 0..20_000 {
        let bytes = mutate(&valid, &mut rng);
        if from_safetensors(&mut target, &bytes).is_err() {
            assert_eq!(target, Net::zeros(), "a rejected input changed the network");
        } else {
            target = Net::zeros();
        }
    }
}
