//! What `network!` generates: sizes, constants, names, initialization, batching.

use network::prelude::*;
use network::{LayerInfo, ParamInfo};

network! {
    /// The iris classifier of the README.
    #[derive(Clone, Debug, PartialEq)]
    pub struct Iris {
        hidden: Dense<4, 16>, Relu,
        deeper: Dense<16, 16>, Relu,
        logits: Dense<16, 3>,
    }
}

network! {
    #[derive(Clone, Debug, PartialEq)]
    pub(crate) struct Overrides {
        #[init(xavier)]
        a: Dense<2, 8>, Relu,
        /// A documented layer.
        #[init(he)]
        b: Dense<8, 4>, Tanh,
        c: Dense<4, 1>, LeakyRelu(0.2),
        d: Dense<1, 1>, Sigmoid,
    }
}

#[test]
fn struct_holds_parameters_only() {
    assert_eq!(Iris::<f32>::PARAMS, 4 * 16 + 16 + 16 * 16 + 16 + 16 * 3 + 3);
    assert_eq!(std::mem::size_of::<Iris<f32>>(), Iris::<f32>::PARAMS * 4);
    assert_eq!(Iris::<f32>::BUFFERS, 0);
    assert_eq!(std::mem::size_of::<Iris<f64>>(), Iris::<f64>::PARAMS * 8);
    assert_eq!(Iris::<f32>::PARAM_BYTES, std::mem::size_of::<Iris<f32>>());
    assert_eq!((Iris::<f32>::INPUTS, Iris::<f32>::OUTPUTS), (4, 3));
    assert_eq!(<Iris<f32> as Params<f32>>::PARAMS, Iris::<f32>::PARAMS);
}

#[test]
fn tape_holds_each_layer_output_once() {
    assert_eq!(Iris::<f32>::tape_bytes(8), (16 + 16 + 3) * 8 * 4);
    assert_eq!(
        std::mem::size_of::<IrisTape<f32, 8>>(),
        Iris::<f32>::tape_bytes(8)
    );
}

#[test]
fn parameters_have_pytorch_names_shapes_and_consecutive_offsets() {
    let info: &[ParamInfo] = <Iris<f32> as Params<f32>>::PARAM_INFO;
    let names: Vec<&str> = info.iter().map(|p| p.name).collect();
    assert_eq!(
        names,
        [
            "hidden.weight",
            "hidden.bias",
            "deeper.weight",
            "deeper.bias",
            "logits.weight",
            "logits.bias"
        ]
    );
    assert_eq!(info[0].shape, &[16, 4]);
    assert_eq!(info[5].shape, &[3]);
    let mut offset = 0;
    for p in info {
        assert_eq!(p.offset, offset);
        assert_eq!(p.len, p.shape.iter().product::<usize>());
        offset += p.len;
    }
    assert_eq!(offset, Iris::<f32>::PARAMS);
    // The visitor hands out slices of exactly those lengths, in that order.
    let net = Iris::<f32>::zeros();
    let mut seen = Vec::new();
    net.for_each_param(|p, values| seen.push((p.name, values.len())));
    assert_eq!(
        seen,
        info.iter().map(|p| (p.name, p.len)).collect::<Vec<_>>()
    );
}

#[test]
fn layers_describe_the_declaration_and_initialization_follows_activations() {
    let layers: &[LayerInfo] = <Iris<f32> as Network<f32, 4, 3>>::LAYERS;
    assert_eq!(layers.len(), 3);
    assert_eq!(
        (
            layers[0].name,
            layers[0].inputs,
            layers[0].outputs,
            layers[0].params
        ),
        ("hidden", 4, 16, 80)
    );
    assert_eq!(
        layers.iter().map(|l| l.activation).collect::<Vec<_>>(),
        ["Relu", "Relu", "Identity"]
    );
    assert_eq!(
        layers.iter().map(|l| l.init).collect::<Vec<_>>(),
        [Init::He, Init::He, Init::Xavier]
    );

    let layers: &[LayerInfo] = <Overrides<f32> as Network<f32, 2, 1>>::LAYERS;
    assert_eq!(
        layers.iter().map(|l| l.init).collect::<Vec<_>>(),
        [Init::Xavier, Init::He, Init::He, Init::Xavier]
    );
    assert_eq!(layers[2].activation, "LeakyRelu");
}

#[test]
fn random_is_seeded_and_uses_each_layers_bound() {
    let a = Iris::<f32>::random(&mut Rng::seed_from_u64(3));
    let b = Iris::<f32>::random(&mut Rng::seed_from_u64(3));
    let c = Iris::<f32>::random(&mut Rng::seed_from_u64(4));
    assert_eq!(a, b);
    assert_ne!(a, c);
    let he = Init::He.bound(4, 16) as f32;
    let xavier = Init::Xavier.bound(16, 3) as f32;
    assert!(a.hidden.weight.iter().all(|w| w.abs() <= he));
    assert!(
        a.hidden.weight.iter().any(|w| w.abs() > xavier),
        "hidden layer is not He-initialized"
    );
    assert!(a.logits.weight.iter().all(|w| w.abs() <= xavier));
    assert!(a.hidden.bias.iter().all(|b| *b == 0.0));
}

#[test]
fn batch_forward_equals_per_sample_forward_and_training_forward() {
    let net = Iris::<f64>::random(&mut Rng::seed_from_u64(8));
    let x = SMatrix::<f64, 4, 5>::from_fn(|r, c| (r as f64 - 1.5) * (c as f64 + 0.5));
    let batch = net.forward(&x);
    for c in 0..5 {
        let single: SVector<f64, 3> = net.forward(&x.column(c).into_owned());
        assert_eq!(batch.column(c), single);
    }
    let mut tape = Iris::<f64>::new_tape::<5>();
    let mut trained = net.clone();
    assert_eq!(
        *trained.forward_train(&x, &mut tape, &mut Rng::seed_from_u64(0)),
        batch
    );
    assert_eq!(
        trained, net,
        "training mode changed a network without buffers"
    );
    // Without dropout the training forward pass needs no Rng, and records the same tape.
    let mut same = Iris::<f64>::new_tape::<5>();
    assert_eq!(*trained.forward_train_deterministic(&x, &mut same), batch);
    assert_eq!(same, tape);
    // The tape keeps activated outputs: the hidden layers went through Relu.
    assert!(tape.hidden.iter().all(|v| *v >= 0.0));
    assert_eq!(tape.logits, batch);
}

#[test]
fn training_reduces_the_loss_and_refuses_non_finite_input() {
    let mut net = Overrides::<f64>::random(&mut Rng::seed_from_u64(1));
    let x = SMatrix::<f64, 2, 4>::new(0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0);
    let y = SMatrix::<f64, 1, 4>::new(0.1, 0.9, 0.9, 0.1);
    let mut tape = Overrides::<f64>::new_tape::<4>();
    let mut grads = Overrides::zeros();
    let mut rng = Rng::seed_from_u64(0);
    let first = compute_gradients(&mut net, &x, &y, &Mse, &mut tape, &mut grads, &mut rng).unwrap();
    for _ in 0..50 {
        compute_gradients(&mut net, &x, &y, &Mse, &mut tape, &mut grads, &mut rng).unwrap();
        Sgd::new(0.5).step(&mut net, &grads);
    }
    let last = compute_gradients(&mut net, &x, &y, &Mse, &mut tape, &mut grads, &mut rng).unwrap();
    assert!(last < first, "loss went from {first} to {last}");

    let before = net.clone();
    let mut bad = x;
    bad[(1, 2)] = f64::NAN;
    assert_eq!(
        compute_gradients(&mut net, &bad, &y, &Mse, &mut tape, &mut grads, &mut rng),
        Err(network::NumericError::NonFiniteInput { sample: 2 })
    );
    let mut huge = Overrides::<f64>::zeros();
    // The infinity is reported where it first appears: the output of layer `c`.
    huge.c.bias[0] = f64::INFINITY;
    assert_eq!(
        compute_gradients(&mut huge, &x, &y, &Mse, &mut tape, &mut grads, &mut rng),
        Err(network::NumericError::NonFiniteForward { layer: "c" })
    );
    assert_eq!(net, before);
}

#[test]
fn single_precision_and_double_precision_agree() {
    let net64 = Iris::<f64>::random(&mut Rng::seed_from_u64(2));
    let mut net32 = Iris::<f32>::zeros();
    net32.zip_params_mut(&Iris::<f32>::zeros(), |info, dst, _| {
        net64.for_each_param(|other, src| {
            if other.name == info.name {
                dst.iter_mut().zip(src).for_each(|(d, s)| *d = *s as f32);
            }
        })
    });
    let x = SVector::<f64, 4>::new(0.5, -1.0, 2.0, 0.1);
    let y64 = net64.forward(&x);
    let y32 = net32.forward(&x.cast::<f32>());
    approx::assert_relative_eq!(y64.cast::<f32>(), y32, max_relative = 1e-5);
}

#[test]
fn fused_backward_sgd_matches_backward_then_sgd_step() {
    let mut rng = Rng::seed_from_u64(21);
    let start = Iris::<f64>::random(&mut rng);
    let x = SMatrix::<f64, 4, 3>::from_fn(|_, _| rng.uniform(-2.0, 2.0));
    let y = SMatrix::<f64, 3, 3>::from_fn(|r, c| if r == c { 1.0 } else { 0.0 });
    let mut tape = Iris::<f64>::new_tape::<3>();

    let mut separate = start.clone();
    let mut grads = Iris::zeros();
    compute_gradients(
        &mut separate,
        &x,
        &y,
        &SoftmaxCrossEntropy,
        &mut tape,
        &mut grads,
        &mut rng,
    )
    .unwrap();
    Sgd::new(0.1).step(&mut separate, &grads);

    let mut fused = start.clone();
    let mut d_out = SMatrix::<f64, 3, 3>::zeros();
    SoftmaxCrossEntropy.loss_and_grad(fused.forward_train(&x, &mut tape, &mut rng), &y, &mut d_out);
    fused.backward_sgd(&x, &tape, &d_out, 0.1);

    assert_ne!(fused, start);
    let (a, b) = (common_flatten(&separate), common_flatten(&fused));
    for (a, b) in a.iter().zip(&b) {
        approx::assert_relative_eq!(a, b, epsilon = 1e-14, max_relative = 1e-12);
    }
}

fn common_flatten(net: &Iris<f64>) -> Vec<f64> {
    let mut flat = Vec::new();
    net.for_each_param(|_, values| flat.extend_from_slice(values));
    flat
}
