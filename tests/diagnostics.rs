//! Diagnostics, statistics, histories, charts and the model summary, on real training.

#[path = "../examples/diagnostics.rs"]
#[allow(dead_code)]
mod example;

use example::{config, digits, naive, DeepRelu, DeepSigmoid};
use network::diagnose::{diagnose_dead_units, Diagnosis, Thresholds};
use network::prelude::*;
use network::stats::{dead_units, layer_stats, zero_counts};
use network::NumericError;

#[test]
fn vanishing_gradients_are_caught_in_a_deep_sigmoid_network_and_not_with_relu_and_he() {
    let d = digits().unwrap();
    let mut sigmoid = DeepSigmoid::<f32>::zeros();
    naive(&mut sigmoid, 1);
    let mut trainer = Trainer::new(
        sigmoid,
        Sgd::new(0.1),
        Constant(0.1),
        SoftmaxCrossEntropy,
        config(1, true),
    );
    trainer.fit::<32>(&d.data, &d.train, None).unwrap();
    let found = &trainer.history().diagnoses;
    assert!(
        matches!(
            found[0],
            Diagnosis::VanishingGradients {
                step: 0,
                layer: "l1",
                last_layer: "out",
                ..
            }
        ),
        "{found:?}"
    );
    assert!(found[0]
        .to_string()
        .starts_with("vanishing gradients at step 0: layer `l1` has gradient norm"));

    let relu = DeepRelu::<f32>::random(&mut Rng::seed_from_u64(1));
    let mut trainer = Trainer::new(
        relu,
        Sgd::new(0.1),
        Constant(0.1),
        SoftmaxCrossEntropy,
        config(2, true),
    );
    trainer
        .fit::<32>(&d.data, &d.train, Some(&d.validation))
        .unwrap();
    assert_eq!(trainer.history().diagnoses, []);
}

#[test]
fn exploding_gradients_are_caught_and_clipping_prevents_them() {
    // A rate of 2 blows this deep ReLU network up in every build; at 1 whether it
    // explodes or its units die first turned on the last bits of the softmax. Clipping
    // the global norm to 0.5 at the same rate trains it.
    let d = digits().unwrap();
    let relu = DeepRelu::<f32>::random(&mut Rng::seed_from_u64(1));
    let mut reckless = Trainer::new(
        relu.clone(),
        Sgd::new(2.0),
        Constant(2.0),
        SoftmaxCrossEntropy,
        config(8, true),
    );
    let _ = reckless.fit::<32>(&d.data, &d.train, None);
    assert!(
        reckless.history().diagnoses.iter().any(|d| matches!(
            d,
            Diagnosis::ExplodingGradients { .. } | Diagnosis::NonFinite { .. }
        )),
        "{:?}",
        reckless.history().diagnoses
    );
    let clipped = TrainConfig {
        clip_norm: Some(0.5),
        ..config(8, true)
    };
    let mut careful = Trainer::new(
        relu,
        Sgd::new(2.0),
        Constant(2.0),
        SoftmaxCrossEntropy,
        clipped,
    );
    careful
        .fit::<32>(&d.data, &d.train, Some(&d.validation))
        .unwrap();
    assert!(!careful.history().diagnoses.iter().any(|d| matches!(
        d,
        Diagnosis::ExplodingGradients { .. } | Diagnosis::NonFinite { .. }
    )));
    assert!(
        careful
            .history()
            .epochs
            .last()
            .unwrap()
            .validation_accuracy
            .unwrap()
            > 0.9,
        "{:?}",
        careful.history().epochs.last()
    );
}

#[test]
fn non_finite_values_are_traced_to_their_origin() {
    network! {
        struct Small { a: Dense<2, 3>, Relu, b: Dense<3, 2> }
    }
    let mut net = Small::<f64>::random(&mut Rng::seed_from_u64(1));
    let mut tape = Small::<f64>::new_tape::<2>();
    let mut grads = Small::zeros();
    let y = SMatrix::<f64, 2, 2>::identity();
    let mut x = SMatrix::<f64, 2, 2>::from_element(0.5);
    x[(0, 1)] = f64::NAN;
    assert_eq!(
        compute_gradients(
            &mut net,
            &x,
            &y,
            &SoftmaxCrossEntropy,
            &mut tape,
            &mut grads,
            &mut Rng::seed_from_u64(0)
        ),
        Err(NumericError::NonFiniteInput { sample: 1 })
    );
    let mut broken = Small::<f64>::random(&mut Rng::seed_from_u64(1));
    broken.a.weight[(1, 0)] = f64::INFINITY;
    let x = SMatrix::<f64, 2, 2>::from_element(0.5);
    assert_eq!(
        compute_gradients(
            &mut broken,
            &x,
            &y,
            &SoftmaxCrossEntropy,
            &mut tape,
            &mut grads,
            &mut Rng::seed_from_u64(0)
        ),
        Err(NumericError::NonFiniteForward { layer: "a" })
    );
}

#[test]
fn dead_relu_units_are_counted_per_layer_and_per_unit() {
    network! {
        struct Small { a: Dense<2, 4>, Relu, b: Dense<4, 2> }
    }
    let mut net = Small::<f32>::random(&mut Rng::seed_from_u64(2));
    // Units 1 and 3 can never fire on non-negative inputs.
    for unit in [1, 3] {
        net.a.weight[(unit, 0)] = -1.0;
        net.a.weight[(unit, 1)] = -1.0;
        net.a.bias[unit] = -1.0;
    }
    let x = SMatrix::<f32, 2, 3>::new(0.0, 1.0, 2.0, 1.0, 0.5, 3.0);
    let mut tape = Small::<f32>::new_tape::<3>();
    net.forward_train(&x, &mut tape, &mut Rng::seed_from_u64(0));
    let mut seen = Vec::new();
    dead_units::<f32, Small<f32>, _, 2, 2, 3>(&tape, |d| seen.push(*d));
    assert_eq!(seen.len(), 1);
    assert_eq!((seen[0].layer, seen[0].dead, seen[0].units), ("a", 2, 4));
    let mut counts = [0; 4];
    zero_counts(tape.a.as_slice(), 4, &mut counts);
    assert_eq!((counts[1], counts[3]), (3, 3));
    let mut found = Vec::new();
    diagnose_dead_units::<f32, Small<f32>, _, 2, 2, 3>(9, &tape, &Thresholds::default(), |d| {
        found.push(d)
    });
    assert_eq!(
        found[0].to_string(),
        "dead ReLU units at step 9: 2 of 4 units of layer `a` output zero for the whole batch"
    );
}

#[test]
fn overfitting_is_caught_on_a_tiny_training_set() {
    let d = digits().unwrap();
    let tiny: Vec<usize> = d.train[..40].to_vec();
    let relu = DeepRelu::<f32>::random(&mut Rng::seed_from_u64(4));
    let mut trainer = Trainer::new(
        relu,
        Adam::new(AdamConfig::adam(3e-3)),
        Constant(3e-3),
        SoftmaxCrossEntropy,
        config(60, true),
    );
    trainer
        .fit::<8>(&d.data, &tiny, Some(&d.validation))
        .unwrap();
    let overfit = trainer
        .history()
        .diagnoses
        .iter()
        .find(|d| matches!(d, Diagnosis::Overfitting { .. }))
        .unwrap_or_else(|| panic!("{:?}", trainer.history().diagnoses));
    assert!(overfit.to_string().starts_with("overfitting at epoch"));
}

#[test]
fn layer_statistics_history_csv_charts_and_summary() {
    let d = digits().unwrap();
    let relu = DeepRelu::<f32>::random(&mut Rng::seed_from_u64(1));
    let mut trainer = Trainer::new(
        relu,
        Sgd::new(0.1),
        Constant(0.1),
        SoftmaxCrossEntropy,
        config(3, true),
    );
    trainer
        .fit::<32>(&d.data, &d.train, Some(&d.validation))
        .unwrap();
    let history = trainer.history();

    let mut layers = Vec::new();
    layer_stats(trainer.net(), trainer.net(), |s| layers.push(s.layer));
    assert_eq!(layers, ["l1", "l2", "l3", "l4", "l5", "l6", "l7", "out"]);

    let csv = history.epochs_csv();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4);
    assert!(lines[0].starts_with("epoch,train_loss,train_accuracy,validation_loss,validation_accuracy,lr,grad_norm,l1_grad_norm"));
    assert_eq!(lines[1].split(',').count(), 7 + 8);
    assert_eq!(
        history.steps_csv().lines().count(),
        1 + history.step_losses.len()
    );

    let dir = std::env::temp_dir().join(format!("network-plots-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    network::plot::learning_curves(history, dir.join("curves.svg")).unwrap();
    network::plot::gradient_flow(history, dir.join("flow.svg")).unwrap();
    let curves = std::fs::read_to_string(dir.join("curves.svg")).unwrap();
    for label in [
        "training loss",
        "validation loss",
        "training accuracy",
        "validation accuracy",
        "epoch",
    ] {
        assert!(curves.contains(label), "learning curves lack `{label}`");
    }
    // One polyline per series (4) plus the legend samples.
    assert!(curves.matches("<polyline").count() >= 4);
    let flow = std::fs::read_to_string(dir.join("flow.svg")).unwrap();
    for layer in &history.layers {
        assert!(flow.contains(&format!("{layer} gradient norm")));
    }
    assert!(
        flow.contains("e-1") || flow.contains("e0"),
        "the y axis is not labelled in powers of ten"
    );
    std::fs::remove_dir_all(&dir).unwrap();

    let summary = DeepRelu::<f32>::summary(32, 0).to_string();
    assert!(summary
        .contains("l1               Dense(64->32)+Relu           [32, 32]       2080       8320"));
    assert!(summary.contains(&format!("parameters:      {:>10}", DeepRelu::<f32>::PARAMS)));
    assert!(summary.contains(&format!(
        "tape (batch 32): {:>10} bytes",
        DeepRelu::<f32>::tape_bytes(32)
    )));
    let adam = DeepRelu::<f32>::summary(32, Adam::<f32, DeepRelu<f32>>::STATE_BYTES);
    assert_eq!(
        adam.training_bytes(),
        2 * DeepRelu::<f32>::PARAM_BYTES
            + DeepRelu::<f32>::tape_bytes(32)
            + 3 * DeepRelu::<f32>::PARAM_BYTES
    );
}
