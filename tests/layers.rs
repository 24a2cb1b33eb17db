//! Layers beyond Dense: batch norm, layer norm, dropout, residual blocks, checkpointing,
//! ELU/GELU/Softplus, through whole networks: finite differences, training versus
//! inference mode, bit-identical checkpointed gradients, tape sizes, hand-worked values.

mod common;

use common::{check_network, flatten, matrix, one_hot_columns};
use network::prelude::*;

network! {
    /// Batch norm inside and after residual blocks, every new activation.
    #[derive(Clone, Debug, PartialEq)]
    struct Normed {
        input: Dense<3, 6>, Gelu,
        bn: BatchNorm,
        block: Residual {
            a: Dense<6>, Elu,
            inner: Residual {
                b: Dense<6>, Softplus,
                ln: LayerNorm,
            },
        },
        bn2: BatchNorm<6>, Tanh,
        logits: Dense<2>,
    }
}

network! {
    /// The same network with its block checkpointed.
    #[derive(Clone, Debug, PartialEq)]
    struct NormedCheckpointed {
        input: Dense<3, 6>, Gelu,
        bn: BatchNorm,
        #[checkpoint]
        block: Residual {
            a: Dense<6>, Elu,
            inner: Residual {
                b: Dense<6>, Softplus,
                ln: LayerNorm,
            },
        },
        bn2: BatchNorm<6>, Tanh,
        logits: Dense<2>,
    }
}

network! {
    /// Dropout in and out of a checkpointed block.
    #[derive(Clone, Debug, PartialEq)]
    struct Dropping {
        input: Dense<4, 8>, Relu,
        Dropout(0.3),
        #[checkpoint]
        block: Residual {
            a: Dense<8>, LeakyRelu,
            Dropout(0.5),
            #[checkpoint]
            b: Dense<8>, Gelu,
        },
        logits: Dense<3>,
    }
}

network! {
    /// `Dropping` without checkpoints.
    #[derive(Clone, Debug, PartialEq)]
    struct DroppingPlain {
        input: Dense<4, 8>, Relu,
        Dropout(0.3),
        block: Residual {
            a: Dense<8>, LeakyRelu,
            Dropout(0.5),
            b: Dense<8>, Gelu,
        },
        logits: Dense<3>,
    }
}

/// Copies parameters and buffers between two networks of the same layout.
fn transplant<A: Params<f64>, B: Params<f64>>(from: &A, to: &mut B) {
    let values = flatten(from);
    to.for_each_param_mut(|info, v| {
        v.copy_from_slice(&values[info.offset..info.offset + info.len])
    });
    let mut buffers = Vec::new();
    from.for_each_buffer(|_, v| buffers.extend_from_slice(v));
    to.for_each_buffer_mut(|info, v| {
        v.copy_from_slice(&buffers[info.offset..info.offset + info.len])
    });
}

fn normed(seed: u64) -> Normed<f64> {
    let mut rng = Rng::seed_from_u64(seed);
    let mut net = Normed::<f64>::random(&mut rng);
    // Scales and shifts away from 1 and 0 so their gradients matter.
    net.for_each_param_mut(|info, values| {
        if info.kind == network::ParamKind::Norm || info.kind == network::ParamKind::Bias {
            values.iter_mut().for_each(|v| *v = rng.uniform(0.5, 1.5));
        }
    });
    net
}

#[test]
fn batch_norm_layer_norm_residual_and_new_activations_pass_finite_differences() {
    let net = normed(1);
    let mut rng = Rng::seed_from_u64(2);
    check_network(
        &net,
        &matrix::<3, 4>(&mut rng, 2.0),
        &one_hot_columns::<2, 4>([0, 1, 1, 0]),
        SoftmaxCrossEntropy,
    );
    check_network(
        &net,
        &matrix::<3, 7>(&mut rng, 2.0),
        &matrix::<2, 7>(&mut rng, 1.0),
        Mse,
    );
}

#[test]
fn dropout_passes_finite_differences_with_fixed_masks_single_sample_and_batch() {
    let net = DroppingPlain::<f64>::random(&mut Rng::seed_from_u64(3));
    let mut rng = Rng::seed_from_u64(4);
    check_network(
        &net,
        &matrix::<4, 1>(&mut rng, 2.0),
        &one_hot_columns::<3, 1>([2]),
        SoftmaxCrossEntropy,
    );
    check_network(
        &net,
        &matrix::<4, 5>(&mut rng, 2.0),
        &one_hot_columns::<3, 5>([0, 1, 2, 0, 1]),
        SoftmaxCrossEntropy,
    );
    let checkpointed = {
        let mut c = Dropping::<f64>::zeros();
        transplant(&net, &mut c);
        c
    };
    check_network(
        &checkpointed,
        &matrix::<4, 3>(&mut rng, 2.0),
        &one_hot_columns::<3, 3>([2, 2, 0]),
        BceWithLogits,
    );
}

#[test]
fn checkpointing_gives_bit_identical_gradients_and_updates() {
    let plain = normed(5);
    let mut checkpointed = NormedCheckpointed::<f64>::zeros();
    transplant(&plain, &mut checkpointed);
    let mut rng = Rng::seed_from_u64(6);
    let x = matrix::<3, 5>(&mut rng, 2.0);
    let d_out = matrix::<2, 5>(&mut rng, 1.0);

    let (mut a, mut b) = (plain.clone(), checkpointed.clone());
    let (mut tape_a, mut tape_b) = (
        Normed::<f64>::new_tape::<5>(),
        NormedCheckpointed::<f64>::new_tape::<5>(),
    );
    let out_a = *a.forward_train(&x, &mut tape_a, &mut Rng::seed_from_u64(0));
    let out_b = *b.forward_train(&x, &mut tape_b, &mut Rng::seed_from_u64(0));
    assert_eq!(out_a, out_b);
    let (mut grads_a, mut grads_b) = (Normed::zeros(), NormedCheckpointed::zeros());
    let (mut dx_a, mut dx_b) = (SMatrix::zeros(), SMatrix::zeros());
    a.backward_with_input_grad(&x, &tape_a, &d_out, &mut grads_a, &mut dx_a);
    b.backward_with_input_grad(&x, &tape_b, &d_out, &mut grads_b, &mut dx_b);
    assert_eq!(
        flatten(&grads_a),
        flatten(&grads_b),
        "checkpointed gradients differ"
    );
    assert_eq!(dx_a, dx_b);
    a.backward_sgd(&x, &tape_a, &d_out, 0.1);
    b.backward_sgd(&x, &tape_b, &d_out, 0.1);
    assert_eq!(
        flatten(&a),
        flatten(&b),
        "checkpointed fused updates differ"
    );

    // With dropout, the recomputation replays the same masks.
    let plain = DroppingPlain::<f64>::random(&mut Rng::seed_from_u64(7));
    let mut checkpointed = Dropping::<f64>::zeros();
    transplant(&plain, &mut checkpointed);
    let x = matrix::<4, 6>(&mut rng, 2.0);
    let d_out = matrix::<3, 6>(&mut rng, 1.0);
    let (mut a, mut b) = (plain.clone(), checkpointed.clone());
    let (mut tape_a, mut tape_b) = (
        DroppingPlain::<f64>::new_tape::<6>(),
        Dropping::<f64>::new_tape::<6>(),
    );
    a.forward_train(&x, &mut tape_a, &mut Rng::seed_from_u64(8));
    b.forward_train(&x, &mut tape_b, &mut Rng::seed_from_u64(8));
    let (mut grads_a, mut grads_b) = (DroppingPlain::zeros(), Dropping::zeros());
    a.backward(&x, &tape_a, &d_out, &mut grads_a);
    b.backward(&x, &tape_b, &d_out, &mut grads_b);
    assert_eq!(flatten(&grads_a), flatten(&grads_b));
}

#[test]
fn checkpointing_shrinks_the_tape_by_the_block_inside() {
    const B: usize = 5;
    let f64s = std::mem::size_of::<f64>();
    // Without the checkpoint the tape holds the block's inside: `a`, `b`, `ln` outputs
    // (6 x B each), `ln`'s normalized input (6 x B) and inverse deviations (1 x B), and
    // the inner block's output (6 x B).
    let inside = (6 * B * 3 + 6 * B + B + 6 * B) * f64s;
    let full = std::mem::size_of::<NormedTape<f64, B>>();
    let lean = std::mem::size_of::<NormedCheckpointedTape<f64, B>>();
    assert_eq!(full - lean, inside);
    assert_eq!(Normed::<f64>::tape_bytes(B), full);
    assert_eq!(NormedCheckpointed::<f64>::tape_bytes(B), lean);
    assert_eq!(<Normed<f64> as Network<f64, 3, 2>>::tape_bytes(B), full);

    // Dropout: masks are bits (one u32 per 32 units and sample), and the checkpointed
    // block keeps a 32-byte RNG state instead of its inside.
    // Plain: the outputs of `input`, `dropout1`, `block`, `a`, `dropout2` and `b`, `b`'s
    // GELU input (8 x B each), `logits` (3 x B), and two masks of one word per sample.
    let words = B * 4;
    let plain_tape = (8 * B * 7 + 3 * B) * 4 + 2 * words;
    assert_eq!(std::mem::size_of::<DroppingPlainTape<f32, B>>(), plain_tape);
    // Checkpointed: `a`, `dropout2` and its mask, `b` and its GELU input are recomputed.
    let dropped_inside = (8 * B * 4) * 4 + words;
    assert_eq!(
        std::mem::size_of::<DroppingTape<f32, B>>(),
        (plain_tape - dropped_inside + 32).div_ceil(8) * 8
    );
    assert_eq!(
        Dropping::<f32>::tape_bytes(B),
        std::mem::size_of::<DroppingTape<f32, B>>()
    );
}

#[test]
fn inference_mode_uses_running_statistics_and_no_dropout() {
    let mut net = normed(9);
    let x = matrix::<3, 4>(&mut Rng::seed_from_u64(10), 2.0);
    let mut tape = Normed::<f64>::new_tape::<4>();
    let before = net.clone();
    assert_eq!(before.bn.running_var, SVector::<f64, 6>::from_element(1.0));
    let training = *net.forward_train(&x, &mut tape, &mut Rng::seed_from_u64(0));
    // Training mode moved the running estimates and nothing else.
    assert_ne!(net.bn.running_mean, before.bn.running_mean);
    assert_eq!(flatten(&net), flatten(&before));
    // Inference uses them: a different output, and it does not move them.
    let inference = net.forward(&x);
    assert_ne!(training, inference);
    let after_inference = net.clone();
    let _ = net.forward(&x);
    assert_eq!(net, after_inference);
    // Each column is inferred independently of the batch.
    let single = net.forward(&x.column(2).into_owned());
    approx::assert_relative_eq!(single, inference.column(2).into_owned(), epsilon = 1e-14);

    let dropping = DroppingPlain::<f64>::random(&mut Rng::seed_from_u64(11));
    let x = matrix::<4, 6>(&mut Rng::seed_from_u64(12), 1.0);
    assert_eq!(
        dropping.forward(&x),
        dropping.forward(&x),
        "inference is deterministic"
    );
    let mut trained = dropping.clone();
    let mut tape = DroppingPlain::<f64>::new_tape::<6>();
    let a = *trained.forward_train(&x, &mut tape, &mut Rng::seed_from_u64(1));
    let b = *trained.forward_train(&x, &mut tape, &mut Rng::seed_from_u64(2));
    assert_ne!(a, b, "different seeds give different masks");
    assert_eq!(tape.__mask_dropout1.ncols(), 6);
}

#[test]
fn hand_worked_residual_and_dropout() {
    network! {
        struct Tiny {
            block: Residual { double: Dense<2, 2> },
            Dropout(0.5),
        }
    }
    let mut net = Tiny::<f64>::zeros();
    net.double.weight = SMatrix::<f64, 2, 2>::identity() * 2.0;
    net.double.bias = SVector::<f64, 2>::new(0.5, -0.5);
    let x = SVector::<f64, 2>::new(1.0, 3.0);
    // Inference: x + (2x + b) = (3.5, 8.5); dropout is the identity.
    assert_eq!(net.forward(&x), SVector::<f64, 2>::new(3.5, 8.5));
    // Training: each value kept (times 1 / (1 - 0.5) = 2) or zeroed, by the mask's bits.
    let mut tape = Tiny::<f64>::new_tape::<1>();
    let y = *net.forward_train(&x, &mut tape, &mut Rng::seed_from_u64(3));
    let mask = tape.__mask_dropout1[(0, 0)];
    for (i, expected) in [3.5, 8.5].iter().enumerate() {
        let kept = mask >> i & 1 == 1;
        assert_eq!(y[i], if kept { 2.0 * expected } else { 0.0 });
    }
    // Backward: the gradient reaches x through the skip and through 2x where kept.
    let mut grads = Tiny::zeros();
    let mut dx = SVector::<f64, 2>::zeros();
    net.backward_with_input_grad(
        &x,
        &tape,
        &SVector::<f64, 2>::new(1.0, 1.0),
        &mut grads,
        &mut dx,
    );
    for i in 0..2 {
        let kept = mask >> i & 1 == 1;
        assert_eq!(dx[i], if kept { 2.0 * 3.0 } else { 0.0 });
    }
}

#[test]
fn buffers_are_part_of_the_network_and_its_summary() {
    assert_eq!(Normed::<f32>::BUFFERS, 2 * 6 + 2 * 6);
    // Values, and each batch norm's `num_batches_tracked` counter (a u64).
    assert_eq!(<Normed<f32> as Params<f32>>::COUNTERS, ["bn", "bn2"]);
    assert_eq!(
        std::mem::size_of::<Normed<f32>>(),
        (Normed::<f32>::PARAMS + Normed::<f32>::BUFFERS) * 4 + 2 * 8
    );
    let names: Vec<&str> = <Normed<f32> as Params<f32>>::BUFFER_INFO
        .iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(
        names,
        [
            "bn.running_mean",
            "bn.running_var",
            "bn2.running_mean",
            "bn2.running_var"
        ]
    );
    let kinds: Vec<&str> = <Normed<f32> as Network<f32, 3, 2>>::LAYERS
        .iter()
        .map(|l| l.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "Dense",
            "BatchNorm",
            "Residual",
            "Dense",
            "Residual",
            "Dense",
            "LayerNorm",
            "BatchNorm",
            "Dense"
        ]
    );
    const {
        assert!(<Normed<f32> as Network<f32, 3, 2>>::BATCH_DEPENDENT);
        assert!(<Dropping<f32> as Network<f32, 4, 3>>::STOCHASTIC);
        assert!(!<Normed<f32> as Network<f32, 3, 2>>::STOCHASTIC);
    }
    let summary = Normed::<f32>::summary(8, 0).to_string();
    assert!(summary.contains("BatchNorm(6->6)"), "{summary}");
}

#[test]
fn buffers_round_trip_through_raw_weights_safetensors_and_checkpoints() {
    let mut net = normed(13);
    let mut tape = Normed::<f64>::new_tape::<4>();
    net.forward_train(
        &matrix::<3, 4>(&mut Rng::seed_from_u64(14), 2.0),
        &mut tape,
        &mut Rng::seed_from_u64(0),
    );
    assert_ne!(net.bn.running_var, SVector::<f64, 6>::from_element(1.0));

    let mut raw = vec![0u8; network::raw::raw_len::<f64, Normed<f64>>()];
    network::raw::to_bytes(&net, &mut raw).unwrap();
    let mut back = Normed::<f64>::zeros();
    network::raw::load_bytes(&mut back, &raw).unwrap();
    // The raw format (for inference on devices) carries every value but no counter.
    assert_eq!(net.bn.num_batches_tracked, 1);
    assert_eq!(back.bn.num_batches_tracked, 0);
    back.bn.num_batches_tracked = 1;
    back.bn2.num_batches_tracked = 1;
    assert_eq!(back, net);

    let file = network::weights::to_safetensors(&net).unwrap();
    let names = safetensors::SafeTensors::deserialize(&file)
        .unwrap()
        .names()
        .iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>();
    for name in [
        "bn.weight",
        "bn.running_mean",
        "bn.running_var",
        "bn.num_batches_tracked",
        "ln.weight",
    ] {
        assert!(
            names.iter().any(|n| n == name),
            "{name} missing from {names:?}"
        );
    }
    // Safetensors carries the counters too (PyTorch's `num_batches_tracked`, I64).
    let mut back = Normed::<f64>::zeros();
    network::weights::from_safetensors(&mut back, &file).unwrap();
    assert_eq!(back, net);
    // And so do checkpoints: a forward pass in training mode counts one more batch.
    let mut trainer = Trainer::new(
        net.clone(),
        Sgd::new(0.1),
        Constant(0.1),
        Mse,
        TrainConfig {
            quiet: true,
            ..TrainConfig::default()
        },
    );
    let bytes = trainer.checkpoint_bytes();
    trainer.load_checkpoint_bytes(&bytes).unwrap();
    assert_eq!(trainer.net().bn2.num_batches_tracked, 1);
    net.forward_train(
        &matrix::<3, 4>(&mut Rng::seed_from_u64(15), 2.0),
        &mut tape,
        &mut Rng::seed_from_u64(0),
    );
    assert_eq!(
        (net.bn.num_batches_tracked, net.bn2.num_batches_tracked),
        (2, 2)
    );
}

network! {
    /// Batch norm and dropout on Iris, for the trainer.
    #[derive(Clone, Debug, PartialEq)]
    struct IrisNormed {
        hidden: Dense<4, 12>, Relu,
        bn: BatchNorm,
        Dropout(0.2),
        logits: Dense<3>,
    }
}

#[test]
fn the_trainer_resumes_bit_identically_with_batch_norm_and_dropout() {
    use network::data::Dataset;
    let mut data =
        Dataset::from_csv_path(concat!(env!("CARGO_MANIFEST_DIR"), "/data/iris.csv")).unwrap();
    let (train, test) = data.stratified_split(0.2, &mut Rng::seed_from_u64(3));
    data.standardize(&train).unwrap();
    let trainer = |epochs| {
        let config = TrainConfig {
            epochs,
            seed: 4,
            quiet: true,
            ..TrainConfig::default()
        };
        let net = IrisNormed::<f32>::random(&mut Rng::seed_from_u64(5));
        Trainer::new(
            net,
            Adam::new(AdamConfig::adam(0.01)),
            Constant(0.01),
            SoftmaxCrossEntropy,
            config,
        )
    };
    // 120 samples in batches of 16: the last batch of each epoch is completed from the
    // start of the epoch, so that batch statistics are over 16 samples.
    let mut straight = trainer(6);
    straight.fit::<16>(&data, &train, Some(&test)).unwrap();
    assert_eq!(straight.history().step_losses.len(), 6 * 8);
    let (_, accuracy) = straight.evaluate::<16>(&data, &test).unwrap();
    assert!(accuracy > 0.8, "accuracy {accuracy}");

    let path = std::env::temp_dir().join(format!("network-layers-{}.ckpt", std::process::id()));
    let mut first = trainer(3);
    first.fit::<16>(&data, &train, Some(&test)).unwrap();
    first.save_checkpoint(&path).unwrap();
    let mut resumed = trainer(6);
    resumed.load_checkpoint(&path).unwrap();
    resumed.fit::<16>(&data, &train, Some(&test)).unwrap();
    assert_eq!(
        resumed.net(),
        straight.net(),
        "weights or running statistics differ"
    );
    assert_eq!(resumed.history(), straight.history());
    std::fs::remove_file(&path).unwrap();
}

network! {
    #[derive(Clone, Debug, PartialEq)]
    struct SingleLayers {
        g: Dense<3, 5>, Gelu,
        bn: BatchNorm,
        ln: LayerNorm, Elu,
        out: Dense<2>,
    }
}

network! {
    #[derive(Clone, Debug, PartialEq)]
    struct SingleLayersCheckpointed {
        #[checkpoint]
        g: Dense<3, 5>, Gelu,
        #[checkpoint]
        bn: BatchNorm,
        #[checkpoint]
        ln: LayerNorm, Elu,
        out: Dense<2>,
    }
}

#[test]
fn checkpointed_single_layers_recompute_their_statistics_and_gelu_inputs() {
    let plain = SingleLayers::<f64>::random(&mut Rng::seed_from_u64(20));
    let mut checkpointed = SingleLayersCheckpointed::<f64>::zeros();
    transplant(&plain, &mut checkpointed);
    let mut rng = Rng::seed_from_u64(21);
    let x = matrix::<3, 4>(&mut rng, 2.0);
    let d_out = matrix::<2, 4>(&mut rng, 1.0);
    let (mut a, mut b) = (plain.clone(), checkpointed.clone());
    let (mut tape_a, mut tape_b) = (
        SingleLayers::<f64>::new_tape::<4>(),
        SingleLayersCheckpointed::<f64>::new_tape::<4>(),
    );
    a.forward_train(&x, &mut tape_a, &mut Rng::seed_from_u64(0));
    b.forward_train(&x, &mut tape_b, &mut Rng::seed_from_u64(0));
    let (mut grads_a, mut grads_b) = (SingleLayers::zeros(), SingleLayersCheckpointed::zeros());
    a.backward(&x, &tape_a, &d_out, &mut grads_a);
    b.backward(&x, &tape_b, &d_out, &mut grads_b);
    assert_eq!(flatten(&grads_a), flatten(&grads_b));
    // Kept: the three outputs; recomputed: g's GELU input, both normalizations'
    // normalized inputs and deviations (5 per feature for bn, 1 per sample for ln).
    let f64s = 8;
    let recomputed = (5 * 4 + 5 * 4 + 5 + 5 * 4 + 4) * f64s;
    assert_eq!(
        std::mem::size_of::<SingleLayersTape<f64, 4>>()
            - std::mem::size_of::<SingleLayersCheckpointedTape<f64, 4>>(),
        recomputed
    );
    check_network(
        &checkpointed,
        &x,
        &one_hot_columns::<2, 4>([1, 0, 0, 1]),
        SoftmaxCrossEntropy,
    );
}

network! {
    struct AlwaysZero { bn: BatchNorm<2>, logits: Dense<3> }
}

#[test]
fn a_completed_last_batch_counts_only_its_own_samples_toward_accuracy() {
    // Ten samples, half of class 0, a network that always answers 0 and does not learn:
    // the epoch's accuracy must be exactly 0.5, although the last batch of 8 is completed
    // with 6 samples from the start of the epoch.
    let mut text = String::from("a,b,label\n");
    for i in 0..10 {
        text.push_str(&format!("{i},{},{}\n", 10 - i, i % 2));
    }
    let data = network::data::Dataset::from_csv_str(&text).unwrap();
    let mut net = AlwaysZero::<f64>::random(&mut Rng::seed_from_u64(1));
    net.logits.weight.fill(0.0);
    net.logits.bias = SVector::<f64, 3>::new(1.0, 0.0, 0.0);
    let config = TrainConfig {
        epochs: 3,
        quiet: true,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(
        net,
        Sgd::new(0.0),
        Constant(0.0),
        SoftmaxCrossEntropy,
        config,
    );
    let indices: Vec<usize> = (0..10).collect();
    for record in &trainer.fit::<8>(&data, &indices, None).unwrap().epochs {
        assert_eq!(record.train_accuracy, Some(0.5), "epoch {}", record.epoch);
    }
}

#[test]
fn nested_pytorch_names_and_converting_loads() {
    use network::weights::{
        from_safetensors, from_safetensors_as, to_safetensors, to_safetensors_as, Layout,
        WeightsError,
    };
    let net = normed(21);
    // Nested names: a layer inside `Residual` blocks is `<block>.<layer>`, as in a
    // PyTorch module that holds each block as a submodule.
    let nested = to_safetensors_as(&net, None, Layout::NESTED).unwrap();
    let file = safetensors::SafeTensors::deserialize(&nested).unwrap();
    let mut names: Vec<String> = file.names().iter().map(|n| n.to_string()).collect();
    names.sort();
    for name in [
        "block.a.weight",
        "block.inner.b.bias",
        "block.inner.ln.weight",
        "bn.num_batches_tracked",
        "input.weight",
    ] {
        assert!(
            names.iter().any(|n| n == name),
            "{name} missing from {names:?}"
        );
    }
    assert!(!names.iter().any(|n| n == "a.weight"), "{names:?}");
    let mut back = Normed::<f64>::zeros();
    from_safetensors_as(&mut back, &nested, Layout::NESTED).unwrap();
    assert_eq!(back, net);
    // A nested file read with flat names: the first missing tensor, nothing changed.
    let mut flat = Normed::<f64>::zeros();
    assert!(matches!(
        from_safetensors(&mut flat, &nested),
        Err(WeightsError::Missing { tensor: "a.weight" })
    ));
    assert_eq!(flat, Normed::<f64>::zeros());

    // F64 into an f32 network: refused unless asked, then every value rounded.
    let wide = to_safetensors(&net).unwrap();
    let mut narrow = Normed::<f32>::zeros();
    assert!(matches!(
        from_safetensors(&mut narrow, &wide),
        Err(WeightsError::Dtype {
            tensor: "input.weight",
            expected: "f32",
            ..
        })
    ));
    from_safetensors_as(&mut narrow, &wide, Layout::CONVERTING).unwrap();
    assert_eq!(narrow.input.weight, net.input.weight.map(|v| v as f32));
    assert_eq!(narrow.bn.running_var, net.bn.running_var.map(|v| v as f32));
    // ... and back: f32 into f64 is exact.
    let mut again = Normed::<f64>::zeros();
    from_safetensors_as(
        &mut again,
        &to_safetensors(&narrow).unwrap(),
        Layout::CONVERTING,
    )
    .unwrap();
    assert_eq!(again.logits.bias, narrow.logits.bias.map(f64::from));
    // A value beyond f32: NonFinite, naming the tensor, nothing changed.
    let mut huge = net.clone();
    huge.logits.bias[0] = 1e300;
    let mut target = Normed::<f32>::zeros();
    assert!(matches!(
        from_safetensors_as(
            &mut target,
            &to_safetensors(&huge).unwrap(),
            Layout::CONVERTING
        ),
        Err(WeightsError::NonFinite {
            tensor: "logits.bias"
        })
    ));
    assert_eq!(target, Normed::<f32>::zeros());
}
