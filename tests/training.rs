//! The trainer: resumable bit for bit, partial batches trained on, early stopping that
//! restores the best weights, typed errors before any step, and checkpoints that are
//! all-or-nothing.

use std::path::PathBuf;

use network::checkpoint::CheckpointError;
use network::data::{Dataset, ShapeError};
use network::prelude::*;
use network::train::TrainError;
use network::{NumericError, Zeroable};

network! {
    #[derive(Clone, Debug, PartialEq)]
    struct Iris {
        hidden: Dense<4, 12>, Relu,
        logits: Dense<12, 3>,
    }
}

const IRIS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/iris.csv");

fn iris() -> (Dataset, Vec<usize>, Vec<usize>) {
    let mut data = Dataset::from_csv_path(IRIS).unwrap();
    let (train, test) = data.stratified_split(0.2, &mut Rng::seed_from_u64(3));
    data.standardize(&train).unwrap();
    (data, train, test)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("network-training-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("run.ckpt")
}

fn quiet(epochs: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        seed: 11,
        quiet: true,
        ..TrainConfig::default()
    }
}

type AdamTrainer = Trainer<
    f32,
    Iris<f32>,
    Adam<f32, Iris<f32>>,
    Warmup<CosineAnnealing>,
    SoftmaxCrossEntropy,
    4,
    3,
>;

fn adam_trainer(seed: u64, epochs: usize) -> AdamTrainer {
    let net = Iris::<f32>::random(&mut Rng::seed_from_u64(seed));
    let schedule = Warmup {
        steps: 10,
        start_factor: 0.1,
        after: CosineAnnealing {
            lr: 0.01,
            min_lr: 0.001,
            steps: 60,
        },
    };
    Trainer::new(
        net,
        Adam::new(AdamConfig::adam(0.01)),
        schedule,
        SoftmaxCrossEntropy,
        quiet(epochs),
    )
}

#[test]
fn resuming_from_a_checkpoint_is_bit_identical_to_training_straight_through() {
    let (data, train, test) = iris();
    // 120 samples in batches of 16: the eighth batch of every epoch is partial.
    let mut straight = adam_trainer(1, 10);
    straight.fit::<16>(&data, &train, Some(&test)).unwrap();

    let path = scratch("resume");
    let mut first_half = adam_trainer(1, 5);
    first_half.fit::<16>(&data, &train, Some(&test)).unwrap();
    first_half.save_checkpoint(&path).unwrap();
    drop(first_half);

    // A fresh trainer with other weights stands in for a new process.
    let mut resumed = adam_trainer(999, 10);
    resumed.load_checkpoint(&path).unwrap();
    assert_eq!(resumed.epoch(), 5);
    resumed.fit::<16>(&data, &train, Some(&test)).unwrap();

    assert_eq!(resumed.net(), straight.net(), "weights differ");
    assert_eq!(resumed.history(), straight.history());
    assert_eq!(resumed.optimizer(), straight.optimizer());
    assert_eq!(resumed.step(), 10 * 8);
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[test]
fn truncated_or_corrupted_checkpoints_are_typed_errors_and_change_nothing() {
    let (data, train, _) = iris();
    let path = scratch("corrupt");
    let mut trainer = adam_trainer(1, 2);
    trainer.fit::<16>(&data, &train, None).unwrap();
    trainer.save_checkpoint(&path).unwrap();
    let good = std::fs::read(&path).unwrap();

    let mut other = adam_trainer(2, 2);
    let before = other.net().clone();
    std::fs::write(&path, &good[..good.len() / 2]).unwrap();
    assert!(matches!(
        other.load_checkpoint(&path),
        Err(CheckpointError::Checksum)
    ));
    let mut flipped = good.clone();
    flipped[100] ^= 1;
    std::fs::write(&path, &flipped).unwrap();
    assert!(matches!(
        other.load_checkpoint(&path),
        Err(CheckpointError::Checksum)
    ));
    std::fs::write(&path, b"not a checkpoint").unwrap();
    assert!(matches!(
        other.load_checkpoint(&path),
        Err(CheckpointError::BadMagic)
    ));
    assert!(matches!(
        other.load_checkpoint(path.with_extension("missing")),
        Err(CheckpointError::Io { .. })
    ));
    assert_eq!(other.net(), &before);
    assert_eq!(other.epoch(), 0);

    // A checkpoint of another optimizer is refused by name.
    std::fs::write(&path, &good).unwrap();
    let mut sgd = Trainer::new(
        before.clone(),
        Sgd::new(0.1),
        Constant(0.1),
        SoftmaxCrossEntropy,
        quiet(2),
    );
    assert!(matches!(
        sgd.load_checkpoint(&path),
        Err(CheckpointError::Optimizer {
            expected: "Sgd",
            ..
        })
    ));
    assert_eq!(sgd.net(), &before);
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[test]
fn the_last_partial_batch_is_trained_on() {
    // Six samples in batches of four: steps on 4 then 2 samples, whose gradient is the
    // mean over those two.
    let (data, _, _) = iris();
    let train = [0, 1, 50, 51, 100, 101];
    let start = Iris::<f64>::random(&mut Rng::seed_from_u64(4));
    let mut trainer = Trainer::new(
        start.clone(),
        Sgd::new(0.5),
        Constant(0.5),
        SoftmaxCrossEntropy,
        quiet(1),
    );
    trainer.fit::<4>(&data, &train, None).unwrap();
    assert_eq!(trainer.history().step_losses.len(), 2);

    let mut order = train.to_vec();
    Rng::seed_from_u64(11).shuffle(&mut order);
    let mut net = start;
    let mut grads = Iris::zeros();
    let (x, y) = data.batch::<f64, 4, 3, 4>(&order[..4]).unwrap();
    compute_gradients(
        &mut net,
        &x,
        &y,
        &SoftmaxCrossEntropy,
        &mut Iris::<f64>::new_tape::<4>(),
        &mut grads,
        &mut Rng::seed_from_u64(0),
    )
    .unwrap();
    Sgd::new(0.5).step(&mut net, &grads);
    let (x, y) = data.batch::<f64, 4, 3, 2>(&order[4..]).unwrap();
    compute_gradients(
        &mut net,
        &x,
        &y,
        &SoftmaxCrossEntropy,
        &mut Iris::<f64>::new_tape::<2>(),
        &mut grads,
        &mut Rng::seed_from_u64(0),
    )
    .unwrap();
    Sgd::new(0.5).step(&mut net, &grads);

    let mut expected = Vec::new();
    net.for_each_param(|_, v| expected.extend_from_slice(v));
    let mut actual = Vec::new();
    trainer
        .net()
        .for_each_param(|_, v| actual.extend_from_slice(v));
    assert_ne!(actual, {
        let mut v = Vec::new();
        Iris::<f64>::random(&mut Rng::seed_from_u64(4))
            .for_each_param(|_, p| v.extend_from_slice(p));
        v
    });
    for (a, e) in actual.iter().zip(&expected) {
        approx::assert_relative_eq!(a, e, epsilon = 1e-14, max_relative = 1e-12);
    }
}

#[test]
fn early_stopping_restores_the_best_weights() {
    let (data, train, test) = iris();
    let net = Iris::<f32>::random(&mut Rng::seed_from_u64(5));
    let config = TrainConfig {
        patience: Some(3),
        ..quiet(500)
    };
    let mut trainer = Trainer::new(
        net,
        Adam::new(AdamConfig::adam(0.05)),
        Constant(0.05),
        SoftmaxCrossEntropy,
        config,
    );
    let history = trainer
        .fit::<8>(&data, &train, Some(&test))
        .unwrap()
        .clone();
    assert!(
        history.stopped_early,
        "ran all {} epochs",
        history.epochs.len()
    );
    let best = history.best_epoch.unwrap();
    assert_eq!(history.epochs.len(), best + 3);
    let losses: Vec<f64> = history
        .epochs
        .iter()
        .map(|r| r.validation_loss.unwrap())
        .collect();
    let minimum = losses.iter().cloned().fold(f64::INFINITY, f64::min);
    assert_eq!(losses[best - 1], minimum);
    let (loss_now, _) = trainer.evaluate::<8>(&data, &test).unwrap();
    assert_eq!(loss_now, minimum, "the network is not the best epoch's");
}

#[test]
fn data_that_does_not_fit_is_an_error_before_any_step() {
    let narrow = Dataset::from_csv_str("a,b,c,label\n1,2,3,0\n4,5,6,1\n").unwrap();
    let mut trainer = adam_trainer(1, 3);
    let before = trainer.net().clone();
    assert_eq!(
        trainer.fit::<2>(&narrow, &[0, 1], None).unwrap_err(),
        TrainError::Shape(ShapeError::Features {
            expected: 4,
            found: 3
        })
    );
    let (data, _, _) = iris();
    assert_eq!(
        trainer.fit::<2>(&data, &[0, 1000], None).unwrap_err(),
        TrainError::Shape(ShapeError::Index {
            index: 1000,
            len: 150
        })
    );
    assert_eq!(
        trainer.fit::<2>(&data, &[], None).unwrap_err(),
        TrainError::EmptyTrainingSet
    );
    let mut patient = adam_trainer(1, 3);
    patient.config.patience = Some(2);
    assert_eq!(
        patient.fit::<2>(&data, &[0, 1], None).unwrap_err(),
        TrainError::PatienceWithoutValidation
    );
    assert_eq!(trainer.net(), &before);
    assert_eq!(trainer.step(), 0);
}

#[test]
fn divergence_is_reported_with_epoch_and_step_and_keeps_finite_weights() {
    let (data, train, _) = iris();
    let net = Iris::<f64>::random(&mut Rng::seed_from_u64(6));
    let mut trainer = Trainer::new(
        net,
        Sgd::new(1e200),
        Constant(1e200),
        SoftmaxCrossEntropy,
        quiet(3),
    );
    match trainer.fit::<8>(&data, &train, None).unwrap_err() {
        TrainError::Numeric { epoch, step, .. } => assert_eq!((epoch, step), (1, trainer.step())),
        other => panic!("unexpected {other}"),
    }
    assert!(trainer.net().is_finite());
}

#[test]
fn clipping_and_penalties_are_applied() {
    let (data, train, _) = iris();
    let net = Iris::<f32>::random(&mut Rng::seed_from_u64(7));
    let clipped = TrainConfig {
        clip_norm: Some(1e-3),
        ..quiet(1)
    };
    let mut a = Trainer::new(
        net.clone(),
        Sgd::new(1.0),
        Constant(1.0),
        SoftmaxCrossEntropy,
        clipped,
    );
    a.fit::<8>(&data, &train, None).unwrap();
    // With every step's gradient clipped to norm 1e-3 and lr 1, 15 steps move the
    // weights by at most 0.015 in L2 norm.
    let mut moved = 0.0f32;
    let mut after = Vec::new();
    a.net().for_each_param(|_, v| after.extend_from_slice(v));
    let mut i = 0;
    net.for_each_param(|_, v| {
        for w in v {
            moved += (w - after[i]).powi(2);
            i += 1;
        }
    });
    assert!(moved.sqrt() <= 0.015 + 1e-6, "moved {}", moved.sqrt());
    assert!(
        a.history().epochs[0].grad_norm > 1e-3,
        "the recorded norm is the one before clipping"
    );

    let penalized = TrainConfig {
        penalty: Penalty {
            l1: 0.0,
            l2: 1.0,
            include_bias: false,
        },
        ..quiet(1)
    };
    let mut b = Trainer::new(
        net.clone(),
        Sgd::new(0.01),
        Constant(0.01),
        SoftmaxCrossEntropy,
        penalized,
    );
    b.fit::<8>(&data, &train, None).unwrap();
    let mut c = Trainer::new(
        net,
        Sgd::new(0.01),
        Constant(0.01),
        SoftmaxCrossEntropy,
        quiet(1),
    );
    c.fit::<8>(&data, &train, None).unwrap();
    assert!(b.history().epochs[0].train_loss > c.history().epochs[0].train_loss + 0.1);
}

network! {
    /// 4-11-3: 91 values.
    #[derive(Clone, Debug, PartialEq)]
    struct Wide { a: Dense<4, 11>, Relu, b: Dense<11, 3> }
}

network! {
    /// 4-8-4-3: also 91 values.
    #[derive(Clone, Debug, PartialEq)]
    struct Deep { a: Dense<4, 8>, Relu, b: Dense<8, 4>, Relu, c: Dense<4, 3> }
}

/// Trains `net` for one epoch with `optimizer` and saves a checkpoint to `path`.
fn saved<N, O>(net: N, optimizer: O, path: &std::path::Path)
where
    N: Network<f32, 4, 3> + Zeroable,
    O: network::optim::Optimizer<f32, N>,
{
    let (data, train, _) = iris();
    let mut t = Trainer::new(
        net,
        optimizer,
        Constant(0.01),
        SoftmaxCrossEntropy,
        quiet(1),
    );
    t.fit::<16>(&data, &train, None).unwrap();
    t.save_checkpoint(path).unwrap();
}

#[test]
fn a_checkpoint_loads_only_into_the_network_and_optimizer_that_wrote_it() {
    let path = scratch("kinds");
    assert_eq!(Wide::<f32>::PARAMS, Deep::<f32>::PARAMS);
    let wide = Wide::<f32>::random(&mut Rng::seed_from_u64(1));
    let deep = Deep::<f32>::random(&mut Rng::seed_from_u64(2));

    // Same value count, another network: the first tensor that differs is named.
    saved(wide.clone(), Adam::new(AdamConfig::adam(0.01)), &path);
    let mut other = Trainer::new(
        deep.clone(),
        Adam::new(AdamConfig::adam(0.01)),
        Constant(0.01),
        SoftmaxCrossEntropy,
        quiet(1),
    );
    let error = other.load_checkpoint(&path).unwrap_err();
    assert!(
        matches!(&error, CheckpointError::Tensor { index: 0, .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "the checkpoint's tensor 0 is `a.weight` [11, 4] but this network's is `a.weight` [8, 4]: it was saved from another network"
    );
    assert_eq!(other.net(), &deep);

    // Same network and state size, another optimizer: Adam's three moments are not
    // RmsProp's three buffers; Momentum's buffer is not AdaGrad's sum.
    let mut rms = Trainer::new(
        wide.clone(),
        RmsProp::new(RmsPropConfig::default()),
        Constant(0.01),
        SoftmaxCrossEntropy,
        quiet(1),
    );
    let error = rms.load_checkpoint(&path).unwrap_err();
    assert_eq!(
        error.to_string(),
        "the checkpoint holds the state of optimizer `Adam` but this trainer uses `RmsProp`"
    );
    saved(wide.clone(), Momentum::new(0.01, 0.9), &path);
    let mut adagrad = Trainer::new(
        wide.clone(),
        AdaGrad::new(0.01),
        Constant(0.01),
        SoftmaxCrossEntropy,
        quiet(1),
    );
    assert!(matches!(
        adagrad.load_checkpoint(&path),
        Err(CheckpointError::Optimizer {
            expected: "AdaGrad",
            ..
        })
    ));
    assert_eq!((rms.net(), adagrad.net()), (&wide, &wide));
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

/// FNV-1a 64, as checkpoints end with: an edit that keeps the checksum valid.
fn reseal(bytes: &mut [u8]) {
    let n = bytes.len() - 8;
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in &bytes[..n] {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    bytes[n..].copy_from_slice(&hash.to_le_bytes());
}

#[test]
fn edited_checkpoints_with_a_valid_checksum_are_refused() {
    let (data, train, test) = iris();
    let path = scratch("edited");
    let mut trainer = adam_trainer(1, 2);
    trainer.config.patience = Some(5);
    trainer.fit::<16>(&data, &train, Some(&test)).unwrap();
    trainer.save_checkpoint(&path).unwrap();
    let good = std::fs::read(&path).unwrap();
    // The optimizer's name is followed by the config (18 words), then the counters:
    // epoch, step, two generators, bad epochs.
    let config = good.windows(4).position(|w| w == b"Adam").unwrap() + 4;
    let setting = |i: usize| config + 8 * i;
    let at = setting(18);
    let word = |i: usize| at + 8 * i;
    let end = good.len() - 8;
    let edits: Vec<(&str, usize, u64)> = vec![
        // The stored config: what `TrainConfig::validate` refuses, and flags beyond 0/1.
        ("config l1 penalty", setting(7), f64::NAN.to_bits()),
        ("config l2 penalty", setting(8), (-1.0f64).to_bits()),
        ("config include_bias", setting(9), 7),
        ("config quiet", setting(17), 2),
        // u64::MAX steps overflowed at the next step of training.
        ("step count", word(1), u64::MAX),
        ("step count", word(1), 3),
        ("epoch", word(0), u64::MAX),
        ("epoch", word(0), 7),
        ("generator", word(2), 0),
        ("bad epochs", word(10), 1 << 40),
        // The last two words: best epoch + 1, stopped early.
        ("best epoch", end - 16, 99),
        ("stopped early", end - 8, 2),
    ];
    for (what, offset, value) in edits {
        let mut bytes = good.clone();
        if what == "generator" {
            // A whole generator state of zeros.
            bytes[word(2)..word(6)].fill(0);
        } else {
            bytes[offset..offset + 8].copy_from_slice(&value.to_le_bytes());
        }
        reseal(&mut bytes);
        std::fs::write(&path, &bytes).unwrap();
        let mut fresh = adam_trainer(3, 4);
        let before = fresh.net().clone();
        let error = fresh.load_checkpoint(&path);
        assert!(
            matches!(error, Err(CheckpointError::Invalid { .. })),
            "{what} = {value}: {error:?}"
        );
        assert_eq!((fresh.net(), fresh.step()), (&before, 0));
    }
    // The unedited file still loads and training continues from it.
    std::fs::write(&path, &good).unwrap();
    let mut fresh = adam_trainer(3, 4);
    fresh.config.patience = Some(5);
    fresh.load_checkpoint(&path).unwrap();
    fresh.fit::<16>(&data, &train, Some(&test)).unwrap();
    assert_eq!(fresh.epoch(), 4);
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[test]
fn settings_that_would_do_something_else_are_refused_before_any_step() {
    let (data, train, test) = iris();
    let net = Iris::<f32>::random(&mut Rng::seed_from_u64(4));
    let setting = |config: TrainConfig| {
        let mut t = Trainer::new(
            net.clone(),
            Sgd::new(0.1),
            Constant(0.1),
            SoftmaxCrossEntropy,
            config,
        );
        let error = t.fit::<8>(&data, &train, Some(&test)).unwrap_err();
        assert_eq!((t.net(), t.step()), (&net, 0));
        error
    };
    for (config, name) in [
        (
            TrainConfig {
                clip_norm: Some(-1.0),
                ..quiet(1)
            },
            "clip_norm",
        ),
        (
            TrainConfig {
                clip_norm: Some(f64::NAN),
                ..quiet(1)
            },
            "clip_norm",
        ),
        (
            TrainConfig {
                clip_value: Some(f64::NAN),
                ..quiet(1)
            },
            "clip_value",
        ),
        (
            TrainConfig {
                clip_value: Some(f64::INFINITY),
                ..quiet(1)
            },
            "clip_value",
        ),
        (
            TrainConfig {
                penalty: Penalty {
                    l1: 0.0,
                    l2: f64::NAN,
                    include_bias: false,
                },
                ..quiet(1)
            },
            "penalty.l2",
        ),
        (
            TrainConfig {
                penalty: Penalty {
                    l1: -1.0,
                    l2: 0.0,
                    include_bias: false,
                },
                ..quiet(1)
            },
            "penalty.l1",
        ),
    ] {
        match setting(config) {
            TrainError::InvalidSetting { setting, .. } => assert_eq!(setting, name),
            other => panic!("{name}: {other:?}"),
        }
    }
    assert_eq!(
        setting(TrainConfig {
            clip_norm: Some(-1.0),
            ..quiet(1)
        })
        .to_string(),
        "`clip_norm` is -1 but must be finite and positive"
    );

    // Learning rates: NaN, infinite or negative, from the start or from a later step.
    for lr in [f64::NAN, f64::INFINITY, -0.1] {
        let mut t = Trainer::new(
            net.clone(),
            Sgd::new(0.1),
            Constant(lr),
            SoftmaxCrossEntropy,
            quiet(1),
        );
        assert!(matches!(
            t.fit::<8>(&data, &train, None),
            Err(TrainError::LearningRate { step: 0, .. })
        ));
        assert_eq!((t.net(), t.step()), (&net, 0));
    }
    // A rate that turns infinite at step 7, mid-epoch: refused at that step, after the
    // 7 good ones. And one that is finite in f64 but not in f32 (1e300): refused too.
    let schedule = Then {
        first: Constant(0.01),
        switch_at: 7,
        second: Constant(f64::INFINITY),
    };
    let mut t = Trainer::new(
        net.clone(),
        Sgd::new(0.01),
        schedule,
        SoftmaxCrossEntropy,
        quiet(1),
    );
    assert_eq!(
        t.fit::<8>(&data, &train, None).unwrap_err(),
        TrainError::LearningRate {
            step: 7,
            lr: f64::INFINITY
        }
    );
    assert_eq!(t.step(), 7);
    assert!(t.net().is_finite());
    let mut t = Trainer::new(
        net.clone(),
        Sgd::new(0.1),
        Constant(1e300),
        SoftmaxCrossEntropy,
        quiet(1),
    );
    assert!(matches!(
        t.fit::<8>(&data, &train, None),
        Err(TrainError::LearningRate { step: 0, .. })
    ));

    // The rate given twice with two values: refused before any step, at construction by
    // `try_new`; the same rate twice, or the rate given once, trains.
    let twice = TrainError::LearningRateTwice {
        optimizer: 0.1f32 as f64,
        schedule: 0.01,
    };
    let mut t = Trainer::new(
        net.clone(),
        Sgd::new(0.1),
        Constant(0.01),
        SoftmaxCrossEntropy,
        quiet(1),
    );
    assert_eq!(t.fit::<8>(&data, &train, None).unwrap_err(), twice);
    assert_eq!((t.net(), t.step()), (&net, 0));
    assert_eq!(
        twice.to_string(),
        "the optimizer's learning rate is 0.10000000149011612 but the schedule's is 0.01; the schedule sets the rate of every step, so give both the same rate (or use `Trainer::with_optimizer_rate`)"
    );
    let warm = Warmup {
        steps: 5,
        start_factor: 0.1,
        after: Constant(0.01),
    };
    let adam = || Adam::new(AdamConfig::adam(0.01f32));
    assert!(Trainer::try_new(net.clone(), adam(), warm, SoftmaxCrossEntropy, quiet(1)).is_ok());
    let mut once = Trainer::with_optimizer_rate(net.clone(), adam(), SoftmaxCrossEntropy, quiet(1));
    once.fit::<8>(&data, &train, None).unwrap();
    assert_eq!(once.history().step_lrs[0], 0.01f32 as f64);
    assert!(matches!(
        Trainer::try_new(
            net.clone(),
            adam(),
            Constant(1e-3),
            SoftmaxCrossEntropy,
            quiet(1)
        ),
        Err(TrainError::LearningRateTwice { .. })
    ));

    // An empty validation set, with or without early stopping. (A batch of 0 does not
    // compile: tests/ui/declaration/batch-of-zero.rs.)
    let mut t = Trainer::new(
        net.clone(),
        Sgd::new(0.1),
        Constant(0.1),
        SoftmaxCrossEntropy,
        quiet(1),
    );
    t.config.patience = Some(2);
    assert_eq!(
        t.fit::<8>(&data, &train, Some(&[])).unwrap_err(),
        TrainError::EmptyValidationSet
    );
    assert_eq!((t.net(), t.step()), (&net, 0));
}

#[test]
fn a_step_that_overflows_is_undone_keeping_the_last_good_weights() {
    let (data, train, _) = iris();
    let net = Iris::<f32>::random(&mut Rng::seed_from_u64(5));
    // Finite gradients, a finite rate and a finite penalty whose product overflows f32.
    let config = TrainConfig {
        penalty: Penalty {
            l1: 0.0,
            l2: 1e30,
            include_bias: false,
        },
        ..quiet(1)
    };
    let mut t = Trainer::new(
        net.clone(),
        Adam::new(AdamConfig::adam(1e-3)),
        Constant(1e-3),
        SoftmaxCrossEntropy,
        config,
    );
    match t.fit::<8>(&data, &train, None).unwrap_err() {
        TrainError::Numeric {
            epoch: 1,
            step: 0,
            source: NumericError::NonFiniteUpdate { param },
        } => assert_eq!(param, "hidden.weight"),
        other => panic!("{other:?}"),
    }
    // The step was undone: weights, optimizer state and its step count.
    assert_eq!(t.net(), &net);
    assert_eq!(t.optimizer(), &Adam::new(AdamConfig::adam(1e-3)));
    assert_eq!(t.step(), 0);
}

network! {
    /// One logit: binary classification with `BceWithLogits`.
    #[derive(Clone, Debug, PartialEq)]
    struct Binary { hidden: Dense<4, 8>, Relu, logit: Dense<8, 1> }
}

network! {
    /// Ends in `Softmax`: wrong with a loss that takes logits.
    #[derive(Clone, Debug, PartialEq)]
    struct Probabilities { hidden: Dense<4, 8>, Relu, out: Dense<8, 3>, Softmax }
}

/// Iris as setosa (1) against the rest (0).
fn setosa() -> Dataset {
    let text = std::fs::read_to_string(IRIS).unwrap();
    let mut lines = text.lines();
    let mut binary = format!("{}\n", lines.next().unwrap());
    for line in lines {
        let (features, label) = line.rsplit_once(',').unwrap();
        binary.push_str(&format!("{features},{}\n", u8::from(label == "0")));
    }
    Dataset::from_csv_str(&binary).unwrap()
}

#[test]
fn one_logit_classifies_two_classes_with_bce() {
    let mut data = setosa();
    let (train, test) = data.stratified_split(0.2, &mut Rng::seed_from_u64(3));
    data.standardize(&train).unwrap();
    let net = Binary::<f32>::random(&mut Rng::seed_from_u64(4));
    let mut t = Trainer::new(net, Sgd::new(0.1), Constant(0.1), BceWithLogits, quiet(20));
    t.fit::<8>(&data, &train, Some(&test)).unwrap();
    let last = t.history().epochs.last().unwrap();
    assert!(last.train_accuracy.unwrap() > 0.95, "{last:?}");
    assert_eq!(last.validation_accuracy, Some(1.0));
    // Three classes do not fit one output; the message says why.
    let (three, _, _) = iris();
    let error = t.fit::<8>(&three, &train, None).unwrap_err();
    assert_eq!(
        error.to_string(),
        "a network with one output classifies two classes, 0 and 1 (a logit for `BceWithLogits`), but a label names class 2"
    );
}

#[test]
fn a_softmax_before_a_loss_that_takes_logits_is_refused_before_training() {
    let net = Probabilities::<f32>::random(&mut Rng::seed_from_u64(5));
    let refused = Trainer::try_new(
        net.clone(),
        Sgd::new(0.1),
        Constant(0.1),
        SoftmaxCrossEntropy,
        quiet(1),
    );
    let error = refused
        .err()
        .expect("try_new accepted a softmax before the loss");
    assert_eq!(
        error,
        TrainError::ActivatedLogits {
            activation: "Softmax",
            loss: "SoftmaxCrossEntropy"
        }
    );
    assert_eq!(
        error.to_string(),
        "the network ends in `Softmax` but `SoftmaxCrossEntropy` takes logits and applies it itself; remove the `Softmax`"
    );
    // `new` then `fit`: the same error before any step.
    let (data, train, _) = iris();
    let mut t = Trainer::new(
        net.clone(),
        Sgd::new(0.1),
        Constant(0.1),
        SoftmaxCrossEntropy,
        quiet(1),
    );
    assert!(matches!(
        t.fit::<8>(&data, &train, None),
        Err(TrainError::ActivatedLogits { .. })
    ));
    assert_eq!((t.net(), t.step()), (&net, 0));
    // With a loss on probabilities (Mse) it is fine.
    assert!(Trainer::try_new(net, Sgd::new(0.1), Constant(0.1), Mse, quiet(1)).is_ok());
    // try_new also checks the settings and the first rate.
    let bad = TrainConfig {
        clip_norm: Some(-1.0),
        ..quiet(1)
    };
    let net = Iris::<f32>::random(&mut Rng::seed_from_u64(6));
    assert!(matches!(
        Trainer::try_new(
            net.clone(),
            Sgd::new(0.1),
            Constant(0.1),
            SoftmaxCrossEntropy,
            bad
        ),
        Err(TrainError::InvalidSetting {
            setting: "clip_norm",
            ..
        })
    ));
    assert!(matches!(
        Trainer::try_new(
            net,
            Sgd::new(0.1),
            Constant(-1.0),
            SoftmaxCrossEntropy,
            quiet(1)
        ),
        Err(TrainError::LearningRate { step: 0, .. })
    ));
}

#[test]
fn predictions_and_a_classification_report_of_a_trained_network() {
    use network::metrics::classification_report;
    let (data, train, test) = iris();
    let net = Iris::<f32>::random(&mut Rng::seed_from_u64(1));
    let adam = Adam::new(AdamConfig::adam(0.01));
    let mut t = Trainer::new(net, adam, Constant(0.01), SoftmaxCrossEntropy, quiet(100));
    t.fit::<16>(&data, &train, None).unwrap();
    let net = t.net();
    let report = classification_report(net, &data, &test).unwrap();
    assert_eq!((report.classes(), report.samples()), (3, 30));
    assert!(report.accuracy() >= 0.9, "{report}");
    // The report agrees with predict, sample by sample, and with evaluate's accuracy.
    let (_, accuracy) = t.evaluate::<8>(&data, &test).unwrap();
    assert!((report.accuracy() - accuracy).abs() < 1e-12);
    for c in 0..3 {
        assert_eq!(report.support(c), 10);
        assert!(report.f1(c) > 0.8, "class {c}: {report}");
    }
    // predict and predict_proba on a batch: the class is the most probable one and the
    // probabilities of a sample sum to 1.
    let (x, _) = data.batch::<f32, 4, 3, 4>(&test[..4]).unwrap();
    let classes = net.predict(&x);
    let p = net.predict_proba(&x);
    for (j, class) in classes.iter().enumerate() {
        let column = p.column(j);
        assert!((column.sum() - 1.0).abs() < 1e-5);
        assert_eq!(column.argmax().0, *class);
    }
    println!("{report}");
}

#[test]
fn the_standardizer_travels_with_the_weights_exactly() {
    use network::weights::{from_safetensors_with, to_safetensors, to_safetensors_with};
    let (mut data, train, _) = {
        let data = Dataset::from_csv_path(IRIS).unwrap();
        let (train, test) = data.stratified_split(0.2, &mut Rng::seed_from_u64(3));
        (data, train, test)
    };
    let scaler = data.standardize(&train).unwrap();
    let net = Iris::<f32>::random(&mut Rng::seed_from_u64(9));
    let bytes = to_safetensors_with(&net, Some(&scaler)).unwrap();
    let mut loaded = Iris::<f32>::zeros();
    let back = from_safetensors_with(&mut loaded, &bytes).unwrap().unwrap();
    assert_eq!(loaded, net);
    // Every f64 read back to the same bits.
    assert_eq!(back, scaler);
    // The same raw rows scaled by either give the same network inputs.
    let mut raw = Dataset::from_csv_path(IRIS).unwrap();
    raw.apply_standardizer(&back).unwrap();
    assert_eq!(raw.sample(17), data.sample(17));
    // Without one, none; a damaged one is a format error and changes nothing.
    assert_eq!(
        from_safetensors_with(&mut loaded, &to_safetensors(&net).unwrap()).unwrap(),
        None
    );
    // The header's JSON holds the text: break it in place, keeping the length.
    let at = bytes
        .windows(4)
        .position(|w| w == b"std=")
        .expect("the standardizer is in the header");
    let mut damaged = bytes.clone();
    damaged[at + 3] = b':';
    let mut untouched = Iris::<f32>::zeros();
    assert!(matches!(
        from_safetensors_with(&mut untouched, &damaged),
        Err(network::weights::WeightsError::Format(_))
    ));
    assert_eq!(untouched, Iris::<f32>::zeros());
    // Data of another width is refused.
    let mut narrow = Dataset::from_csv_str("a,b,label\n1,2,0\n").unwrap();
    assert_eq!(
        narrow.apply_standardizer(&scaler).unwrap_err(),
        ShapeError::Features {
            expected: 4,
            found: 2
        }
    );
}

network! {
    /// Petal width from the other three measurements: a regression with one output.
    #[derive(Clone, Debug, PartialEq)]
    struct PetalWidth {
        hidden: Dense<3, 16>, Tanh,
        width: Dense<16, 1>,
    }
}

/// Iris as a regression: sepal length, sepal width and petal length predict petal width.
fn petal_regression() -> Dataset {
    let iris = Dataset::from_csv_path(IRIS).unwrap();
    let rows = (0..iris.len()).map(|i| {
        let s = iris.sample(i);
        (s[..3].to_vec(), vec![s[3]])
    });
    let names = iris.feature_names()[..3].to_vec();
    Dataset::regression_from_rows(Some(names), rows).unwrap()
}

#[test]
fn regression_trains_with_mse_and_reports_mse_mae_and_r2() {
    let mut data = petal_regression();
    assert_eq!((data.len(), data.features(), data.outputs()), (150, 3, 1));
    let (train, validation) = data.stratified_split(0.2, &mut Rng::seed_from_u64(1));
    assert_eq!((train.len(), validation.len()), (120, 30));
    data.standardize(&train).unwrap();
    let net = PetalWidth::<f64>::random(&mut Rng::seed_from_u64(2));
    let adam = Adam::new(AdamConfig::adam(0.01));
    let mut trainer = Trainer::with_optimizer_rate(net, adam, Mse, quiet(60));
    let history = trainer.fit::<16>(&data, &train, Some(&validation)).unwrap();
    let (first, last) = (&history.epochs[0], history.epochs.last().unwrap());
    assert_eq!(
        (last.train_accuracy, last.validation_accuracy),
        (None, None)
    );
    let (train_metrics, metrics) = (
        last.train_regression.unwrap(),
        last.validation_regression.unwrap(),
    );
    assert!(first.train_regression.unwrap().mse > train_metrics.mse);
    // Petal width is nearly linear in petal length: R² above 0.9 on unseen samples.
    assert!(metrics.r2 > 0.9 && metrics.mae < 0.2, "{metrics}");
    // The validation loss is the MSE (the loss is `Mse`, one output).
    approx::assert_relative_eq!(
        last.validation_loss.unwrap(),
        metrics.mse,
        max_relative = 1e-12
    );
    // Evaluation and the report agree with the record; accuracy is refused.
    let (loss, again) = trainer
        .evaluate_regression::<7>(&data, &validation)
        .unwrap();
    approx::assert_relative_eq!(loss, metrics.mse, max_relative = 1e-12);
    approx::assert_relative_eq!(again.r2, metrics.r2, max_relative = 1e-12);
    let report = network::metrics::regression_report(trainer.net(), &data, &validation).unwrap();
    approx::assert_relative_eq!(report.mae, metrics.mae, max_relative = 1e-12);
    assert!(matches!(
        trainer.evaluate::<7>(&data, &validation),
        Err(TrainError::Shape(ShapeError::Task {
            data: "regression",
            ..
        }))
    ));
    let csv = trainer.history().epochs_csv();
    assert!(csv
        .lines()
        .next()
        .unwrap()
        .ends_with(",train_mae,train_r2,validation_mae,validation_r2"));
    // Targets that do not fit the network: refused before any step.
    let two =
        Dataset::regression_from_rows(None, (0..4).map(|i| ([i as f64; 3], [0.0, 1.0]))).unwrap();
    let mut fresh =
        Trainer::with_optimizer_rate(PetalWidth::<f64>::zeros(), Sgd::new(0.1), Mse, quiet(1));
    assert_eq!(
        fresh.fit::<2>(&two, &[0, 1], None).unwrap_err(),
        TrainError::Shape(ShapeError::Targets {
            expected: 1,
            found: 2
        })
    );
    // Regression checkpoints resume like classification ones.
    let bytes = trainer.checkpoint_bytes();
    let resumed: Trainer<_, PetalWidth<f64>, _, _, _, 3, 1> = Trainer::resume_bytes(
        &bytes,
        Adam::new(AdamConfig::adam(0.01)),
        Constant(0.01),
        Mse,
    )
    .unwrap();
    assert_eq!(resumed.history(), trainer.history());
    assert_eq!(resumed.config, trainer.config);
}

#[test]
fn regression_data_from_csv_and_rows_with_errors_that_name_the_place() {
    let data = Dataset::regression_from_csv_str("a,b,y0,y1\n1,2,3.5,-4\n5,6,7,8e-1\n", 2).unwrap();
    assert_eq!((data.len(), data.features(), data.outputs()), (2, 2, 2));
    assert_eq!(
        (data.sample(1), data.target(0)),
        (&[5.0, 6.0][..], &[3.5, -4.0][..])
    );
    assert_eq!(data.feature_names(), ["a", "b"]);
    let (x, y) = data.batch::<f32, 2, 2, 2>(&[1, 0]).unwrap();
    assert_eq!(
        (x[(0, 0)], y[(0, 0)], y[(1, 0)], y[(1, 1)]),
        (5.0, 7.0, 0.8, -4.0)
    );
    assert!(matches!(
        Dataset::regression_from_csv_str("a,y\n1,x\n", 1),
        Err(network::data::CsvError::NotANumber { line: 2, ref column, .. }) if column == "y"
    ));
    assert!(matches!(
        Dataset::regression_from_csv_str("a,y\n1,2\n", 2),
        Err(network::data::CsvError::TooFewColumns { found: 2 })
    ));
    use network::data::RowsError;
    let rows = vec![(vec![1.0], vec![1.0]), (vec![2.0], vec![f64::NAN])];
    assert_eq!(
        Dataset::regression_from_rows(None, rows),
        Err(RowsError::NotFiniteTarget { row: 1, target: 0 })
    );
    let rows = vec![(vec![1.0], vec![1.0]), (vec![2.0], vec![1.0, 2.0])];
    assert_eq!(
        Dataset::regression_from_rows(None, rows),
        Err(RowsError::Targets {
            row: 1,
            expected: 1,
            found: 2
        })
    );
    let none: Vec<(Vec<f64>, Vec<f64>)> = Vec::new();
    assert_eq!(
        Dataset::regression_from_rows(None, none),
        Err(RowsError::Empty)
    );
    // A classification report of regression data is a typed error.
    let net = PetalWidth::<f32>::zeros();
    let iris = petal_regression();
    assert!(matches!(
        network::metrics::classification_report(&net, &iris, &[0]),
        Err(ShapeError::Task { .. })
    ));
}

#[test]
fn resume_takes_network_config_and_state_from_the_checkpoint_alone() {
    let (data, train, test) = iris();
    // Straight through: 4 epochs. Resumed: 2, saved, resumed from the file alone, 2 more.
    let mut straight = adam_trainer(5, 4);
    straight.config.patience = Some(10);
    straight.fit::<16>(&data, &train, Some(&test)).unwrap();
    let mut first = adam_trainer(5, 2);
    first.config.patience = Some(10);
    first.fit::<16>(&data, &train, Some(&test)).unwrap();
    let path = scratch("resume-alone");
    first.save_checkpoint(&path).unwrap();
    // Only what is code is given again: the optimizer, the schedule and the loss.
    let (optimizer, schedule) = (
        Adam::new(AdamConfig::adam(0.01)),
        Warmup {
            steps: 10,
            start_factor: 0.1,
            after: CosineAnnealing {
                lr: 0.01,
                min_lr: 0.001,
                steps: 60,
            },
        },
    );
    let mut resumed: AdamTrainer =
        Trainer::resume(&path, optimizer, schedule, SoftmaxCrossEntropy).unwrap();
    assert_eq!(
        resumed.config, first.config,
        "the config comes from the file"
    );
    assert_eq!(resumed.net(), first.net());
    resumed.config.epochs = 4;
    resumed.fit::<16>(&data, &train, Some(&test)).unwrap();
    assert_eq!(resumed.net(), straight.net());
    assert_eq!(resumed.history(), straight.history());
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}
