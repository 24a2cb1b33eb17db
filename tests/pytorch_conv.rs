//! Convolutional networks against PyTorch: state dicts PyTorch wrote
//! (`tests/fixtures/pytorch/conv*`, made by `examples/pytorch/torch_conv_twin.py export`)
//! load into the `network!` twins, which reproduce PyTorch's eval outputs, its training
//! loss and every gradient (parameters and input): within 1e-5 relative in f32 and 1e-10
//! in f64. The writer gives back PyTorch's tensors byte for byte, and the state dicts
//! written here load into PyTorch with `load_state_dict(strict=True)` (`torch_conv_twin.py
//! check`, on the files this test leaves in `target/pytorch-conv/`).

use network::prelude::*;
use network::weights::{from_safetensors, to_safetensors};
use network::Scalar;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

network! {
    /// `torch_conv_twin.py`'s `conv1d_twin`.
    #[derive(Clone, Debug, PartialEq)]
    struct Conv1dTwin {
        Input<2, 12>,
        a: Conv1d<4, 3>(padding = 1), Relu,
        bn: BatchNorm,
        b: Conv1d<6, 3>(stride = 2, dilation = 2, groups = 2, bias = false), Tanh,
        MaxPool1d<2>,
        AvgPool1d<2>(stride = 1),
        Flatten,
        fc: Dense<6, 3>,
    }
}

network! {
    /// `torch_conv_twin.py`'s `conv2d_twin`.
    #[derive(Clone, Debug, PartialEq)]
    struct Conv2dTwin {
        Input<3, 7, 6>,
        a: Conv2d<4, 3>(padding = "same"), Elu,
        MaxPool2d<2>(padding = (1, 0)),
        b: Conv2d<4, 2, 3>(groups = 4, stride = (2, 1), padding = (0, 1)),
        bn: BatchNorm, Relu,
        GlobalAvgPool,
        fc: Dense<4, 3>,
    }
}

const SAMPLES: usize = 5;

fn values(view: &TensorView) -> Vec<f64> {
    match view.dtype() {
        Dtype::F32 => view
            .data()
            .chunks_exact(4)
            .map(|b| f64::from(f32::from_le_bytes(b.try_into().unwrap())))
            .collect(),
        Dtype::F64 => view
            .data()
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
            .collect(),
        other => panic!("unexpected dtype {other:?}"),
    }
}

fn close(what: &str, ours: &[f64], theirs: &[f64], tolerance: f64) {
    assert_eq!(ours.len(), theirs.len(), "{what}: lengths");
    for (k, (a, b)) in ours.iter().zip(theirs).enumerate() {
        assert!(
            (a - b).abs() <= tolerance * (1.0 + b.abs()),
            "{what}[{k}]: {a} here, {b} in PyTorch"
        );
    }
}

/// Loads `model` into `N`, then checks eval outputs, loss and gradients against `io`,
/// and that the writer reproduces the state dict; returns the network.
fn against_pytorch<T, N, const IN: usize>(model: &[u8], io: &[u8], tolerance: f64) -> N
where
    T: Scalar,
    N: Network<T, IN, 3> + Clone,
{
    let mut net = N::zeros();
    from_safetensors(&mut net, model).unwrap();
    let io = SafeTensors::deserialize(io).unwrap();
    let get = |name: &str| values(&io.tensor(name).unwrap());
    let x = SMatrix::<T, IN, SAMPLES>::from_iterator(get("inputs").into_iter().map(T::of));
    let classes: Vec<usize> = get("targets").iter().map(|&c| c as usize).collect();
    let y = SMatrix::<T, 3, SAMPLES>::from_fn(|r, c| T::of(f64::from(u8::from(classes[c] == r))));

    // Inference with the running statistics.
    let out = net.forward(&x);
    let out: Vec<f64> = out.iter().map(|v| v.as_f64()).collect();
    // PyTorch's [n, 3] row-major is our column-major [3, n].
    close("eval outputs", &out, &get("eval"), tolerance);

    // One training-mode pass: batch statistics, mean cross-entropy, every gradient.
    let mut trained = net.clone();
    let mut tape = N::new_tape::<SAMPLES>();
    let output = *trained.forward_train(&x, &mut tape, &mut Rng::seed_from_u64(0));
    let mut d_out = SMatrix::<T, 3, SAMPLES>::zeros();
    let loss = SoftmaxCrossEntropy.loss_and_grad(&output, &y, &mut d_out);
    close("loss", &[loss.as_f64()], &get("loss"), tolerance);
    let mut grads = N::zeros();
    let mut dx = SMatrix::<T, IN, SAMPLES>::zeros();
    net.backward_with_input_grad(&x, &tape, &d_out, &mut grads, &mut dx);
    let dx: Vec<f64> = dx.iter().map(|v| v.as_f64()).collect();
    close("input gradient", &dx, &get("grad.input"), tolerance);
    // The gradients in PyTorch's names and layouts: written as if they were weights.
    let written = to_safetensors(&grads).unwrap();
    let written = SafeTensors::deserialize(&written).unwrap();
    for info in N::PARAM_INFO {
        let ours = values(&written.tensor(info.name).unwrap());
        close(
            info.name,
            &ours,
            &get(&format!("grad.{}", info.name)),
            tolerance,
        );
    }

    // The writer gives back PyTorch's state dict, byte for byte.
    let again = to_safetensors(&net).unwrap();
    let (ours, theirs) = (
        SafeTensors::deserialize(&again).unwrap(),
        SafeTensors::deserialize(model).unwrap(),
    );
    let (mut a, mut b) = (ours.names(), theirs.names());
    a.sort_unstable();
    b.sort_unstable();
    assert_eq!(a, b);
    for name in a {
        let (x, y) = (ours.tensor(name).unwrap(), theirs.tensor(name).unwrap());
        assert_eq!(
            (x.dtype(), x.shape(), x.data()),
            (y.dtype(), y.shape(), y.data()),
            "{name}"
        );
    }
    net
}

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("fixtures/pytorch/", $name))
    };
}

#[test]
fn conv1d_twin_matches_pytorch_in_f32_and_f64() {
    let net: Conv1dTwin<f32> = against_pytorch::<f32, _, 24>(
        fixture!("conv1d-f32.safetensors"),
        fixture!("conv1d-f32-io.safetensors"),
        1e-5,
    );
    // PyTorch counted three training batches before saving.
    assert_eq!(net.bn.num_batches_tracked, 3);
    let _: Conv1dTwin<f64> = against_pytorch::<f64, _, 24>(
        fixture!("conv1d-f64.safetensors"),
        fixture!("conv1d-f64-io.safetensors"),
        1e-10,
    );
    export_for_pytorch(
        &Conv1dTwin::<f32>::random(&mut Rng::seed_from_u64(4)),
        "conv1d",
    );
}

#[test]
fn conv2d_twin_matches_pytorch_in_f32_and_f64() {
    let _: Conv2dTwin<f32> = against_pytorch::<f32, _, 126>(
        fixture!("conv2d-f32.safetensors"),
        fixture!("conv2d-f32-io.safetensors"),
        1e-5,
    );
    let _: Conv2dTwin<f64> = against_pytorch::<f64, _, 126>(
        fixture!("conv2d-f64.safetensors"),
        fixture!("conv2d-f64-io.safetensors"),
        1e-10,
    );
    export_for_pytorch(
        &Conv2dTwin::<f32>::random(&mut Rng::seed_from_u64(5)),
        "conv2d",
    );
}

/// Writes a state dict made here, with inputs and this network's eval outputs, for
/// `torch_conv_twin.py check` (strict load into PyTorch, same outputs).
fn export_for_pytorch<N: Network<f32, IN, 3>, const IN: usize>(net: &N, name: &str) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("pytorch-conv");
    std::fs::create_dir_all(&dir).unwrap();
    network::weights::save_safetensors(net, dir.join(format!("{name}-from-rust.safetensors")))
        .unwrap();
    let mut rng = Rng::seed_from_u64(6);
    let x = SMatrix::<f32, IN, SAMPLES>::from_fn(|_, _| rng.uniform(-2.0, 2.0) as f32);
    let out = net.forward(&x);
    let bytes = |m: &[f32]| m.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>();
    let (xb, ob) = (bytes(x.as_slice()), bytes(out.as_slice()));
    let views = [
        (
            "inputs",
            TensorView::new(Dtype::F32, vec![SAMPLES, IN], &xb).unwrap(),
        ),
        (
            "outputs",
            TensorView::new(Dtype::F32, vec![SAMPLES, 3], &ob).unwrap(),
        ),
    ];
    std::fs::write(
        dir.join(format!("{name}-from-rust-io.safetensors")),
        safetensors::serialize(views, None).unwrap(),
    )
    .unwrap();
}
