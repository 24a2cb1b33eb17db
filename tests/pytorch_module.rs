//! The generated PyTorch modules (`Net::pytorch()`), both ways, from committed fixtures
//! (`tests/fixtures/pytorch/module/`, made by `examples/pytorch/module_roundtrip.py`):
//!
//! - the source of each twin is snapshot-tested (`<net>.py`; `UPDATE_EXPECT=1` rewrites
//!   it), and together the four twins use every layer kind and activation;
//! - PyTorch trained the generated module (batch norm, dropout, Adam) and saved its state
//!   dict: it loads here and gives PyTorch's eval outputs within 1e-5;
//! - Rust trained the network and saved its state dict (`<net>-rust.safetensors`,
//!   rewritten with `WRITE_PYTORCH_FIXTURES=1`): PyTorch loaded it into the generated
//!   module with `load_state_dict(strict=True)` and recorded its eval outputs, which the
//!   network reproduces here within 1e-5; the file is exactly what our writer produces.

use std::path::PathBuf;

use network::optim::{Adam, AdamConfig, Optimizer};
use network::prelude::*;
use network::weights::{from_safetensors, to_safetensors};
use safetensors::tensor::{Dtype, SafeTensors};

network! {
    /// Every vector layer and every activation but softmax.
    pub struct Tabular {
        hidden: Dense<4, 16>, Relu,
        bn: BatchNorm,
        Dropout(0.1),
        block: Residual {
            a: Dense<16>, Elu(0.5),
            ln: LayerNorm,
            b: Dense<16>, Gelu,
        },
        c: Dense<12>, LeakyRelu(0.1),
        d: Dense<12>, Softplus,
        e: Dense<8>, Tanh,
        f: Dense<8>, Sigmoid,
        logits: Dense<3>,
    }
}

network! {
    /// 2-d: padding, batch norm over channels, max pooling, "same" with an even kernel
    /// (one more on the right and bottom), a strided grouped convolution, padded
    /// average pooling, global average pooling, dropout.
    pub struct Image {
        Input<1, 8, 8>,
        c1: Conv2d<6, 3>(padding = 1), Relu,
        bn: BatchNorm,
        MaxPool2d<2>,
        c2: Conv2d<6, 2>(padding = "same"), Elu,
        dw: Conv2d<12, 3>(groups = 6, stride = 2, padding = 1),
        AvgPool2d<2>(stride = 1, padding = 1),
        GlobalAvgPool,
        Dropout(0.2),
        fc: Dense<10>,
    }
}

network! {
    /// 1-d: a causal dilated convolution, batch norm over channels, a grouped strided
    /// convolution without bias, padded max pooling, layer norm over a shaped value,
    /// average pooling, flatten, softmax.
    pub struct Signal {
        Input<2, 16>,
        causal: Conv1d<4, 3>(padding = "causal", dilation = 2), Tanh,
        bn: BatchNorm,
        g: Conv1d<4, 3>(groups = 2, bias = false, stride = 2),
        MaxPool1d<3>(stride = 2, padding = 1),
        ln: LayerNorm,
        AvgPool1d<2>,
        Flatten,
        out: Dense<3>, Softmax,
    }
}

network! {
    /// Sequences: a causal convolution, the signal transposed into a sequence, a GRU
    /// over every step, a dense layer on each step, an LSTM to the last one.
    pub struct Recurrent {
        Input<3, 6>,
        c: Conv1d<3, 2>(padding = "causal"),
        Transpose,
        gru: Gru<5>, Tanh,
        proj: Dense<4>,
        lstm: Lstm<4>(output = "last"),
        out: Dense<3>,
    }
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pytorch/module")
}

#[test]
fn generated_sources_match_their_snapshots() {
    expect_test::expect_file!["fixtures/pytorch/module/tabular.py"]
        .assert_eq(&Tabular::<f32>::pytorch().to_string());
    expect_test::expect_file!["fixtures/pytorch/module/image.py"]
        .assert_eq(&Image::<f32>::pytorch().to_string());
    expect_test::expect_file!["fixtures/pytorch/module/signal.py"]
        .assert_eq(&Signal::<f32>::pytorch().to_string());
    expect_test::expect_file!["fixtures/pytorch/module/recurrent.py"]
        .assert_eq(&Recurrent::<f32>::pytorch().to_string());
    expect_test::expect_file!["fixtures/pytorch/module/train.py"].assert_eq(
        &Tabular::<f32>::pytorch()
            .training_script("model")
            .to_string(),
    );
}

#[test]
fn the_twins_use_every_layer_kind_and_activation() {
    use network::arch::{ActivationOp as A, Op};
    let ops: Vec<Op> = [
        Tabular::<f32>::pytorch().ops,
        Image::<f32>::pytorch().ops,
        Signal::<f32>::pytorch().ops,
        Recurrent::<f32>::pytorch().ops,
    ]
    .concat();
    let kinds = |op: &Op| -> &'static str {
        match op {
            Op::Dense { .. } => "dense",
            Op::Conv { one_d: true, .. } => "conv1d",
            Op::Conv { one_d: false, .. } => "conv2d",
            Op::MaxPool { one_d: true, .. } => "maxpool1d",
            Op::MaxPool { one_d: false, .. } => "maxpool2d",
            Op::AvgPool { one_d: true, .. } => "avgpool1d",
            Op::AvgPool { one_d: false, .. } => "avgpool2d",
            Op::GlobalAvgPool { .. } => "global",
            Op::BatchNorm { spatial: 0, .. } => "bn0",
            Op::BatchNorm { spatial: 1, .. } => "bn1",
            Op::BatchNorm { .. } => "bn2",
            Op::LayerNorm { .. } => "ln",
            Op::Dropout { .. } => "dropout",
            Op::Flatten => "flatten",
            Op::Transpose => "transpose",
            Op::ResidualBegin { .. } | Op::ResidualEnd { .. } => "residual",
            Op::Activation(A::Relu) => "relu",
            Op::Activation(A::LeakyRelu(_)) => "leaky",
            Op::Activation(A::Elu(_)) => "elu",
            Op::Activation(A::Gelu) => "gelu",
            Op::Activation(A::Softplus) => "softplus",
            Op::Activation(A::Sigmoid) => "sigmoid",
            Op::Activation(A::Tanh) => "tanh",
            Op::Activation(A::Softmax) => "softmax",
            Op::Recurrent { lstm: false, .. } => "gru",
            Op::Recurrent { lstm: true, .. } => "lstm",
        }
    };
    let mut seen: Vec<&str> = ops.iter().map(kinds).collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 26, "{seen:?}");
    // Asymmetric ("same" with an even kernel) and causal padding both occur.
    assert!(ops
        .iter()
        .any(|op| matches!(op, Op::Conv { geometry, .. } if geometry.pad_h == (0, 1))));
    assert!(ops
        .iter()
        .any(|op| matches!(op, Op::Conv { geometry, .. } if geometry.pad_w == (4, 0))));
}

/// A tensor of an io file as `f32` values.
fn tensor(file: &SafeTensors, name: &str) -> Vec<f32> {
    let view = file.tensor(name).unwrap();
    assert_eq!(view.dtype(), Dtype::F32);
    view.data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

/// Loads `weights` into a fresh network and compares its inference outputs on the io
/// file's inputs with the outputs PyTorch recorded there.
fn reproduces<N, const IN: usize, const OUT: usize>(weights: &str, io_file: &str) -> N
where
    N: Network<f32, IN, OUT>,
{
    let bytes = std::fs::read(fixtures().join(weights)).unwrap();
    let mut net = N::zeros();
    from_safetensors(&mut net, &bytes).unwrap();
    let io_bytes = std::fs::read(fixtures().join(io_file)).unwrap();
    let io = SafeTensors::deserialize(&io_bytes).unwrap();
    let (inputs, outputs) = (tensor(&io, "inputs"), tensor(&io, "outputs"));
    assert_eq!(inputs.len() % IN, 0);
    let samples = inputs.len() / IN;
    assert!(samples >= 8, "{io_file}: {samples} samples");
    for (k, (x, theirs)) in inputs
        .chunks_exact(IN)
        .zip(outputs.chunks_exact(OUT))
        .enumerate()
    {
        let ours = net.forward(&SMatrix::<f32, IN, 1>::from_column_slice(x));
        for (a, b) in ours.iter().zip(theirs) {
            assert!(
                (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                "{weights}, sample {k}: {a} here, {b} in PyTorch"
            );
        }
    }
    net
}

#[test]
fn modules_trained_in_pytorch_load_here_with_the_same_predictions() {
    let _: Tabular<f32> = reproduces("tabular-torch.safetensors", "tabular-torch-io.safetensors");
    let _: Image<f32> = reproduces("image-torch.safetensors", "image-torch-io.safetensors");
    let _: Signal<f32> = reproduces("signal-torch.safetensors", "signal-torch-io.safetensors");
    let _: Recurrent<f32> = reproduces(
        "recurrent-torch.safetensors",
        "recurrent-torch-io.safetensors",
    );
}

/// A few Adam steps on random data, so that weights and batch norm statistics are far
/// from their initial values.
fn trained<N, const IN: usize, const OUT: usize>(seed: u64) -> N
where
    N: Network<f32, IN, OUT>,
{
    let mut rng = Rng::seed_from_u64(seed);
    let mut net = N::random(&mut rng);
    let mut adam = Adam::new(AdamConfig::adam(0.01));
    let mut tape = N::new_tape::<16>();
    let mut grads = N::zeros();
    for _ in 0..20 {
        let x = SMatrix::<f32, IN, 16>::from_fn(|_, _| rng.uniform(-2.0, 2.0) as f32);
        let y = SMatrix::<f32, OUT, 16>::from_fn(|r, c| f32::from(u8::from((r + c) % OUT == 0)));
        compute_gradients(&mut net, &x, &y, &Mse, &mut tape, &mut grads, &mut rng).unwrap();
        adam.step(&mut net, &grads);
    }
    net
}

fn written_here<N, const IN: usize, const OUT: usize>(net: &N, name: &str)
where
    N: Network<f32, IN, OUT>,
{
    let path = fixtures().join(format!("{name}-rust.safetensors"));
    let bytes = to_safetensors(net).unwrap();
    if std::env::var_os("WRITE_PYTORCH_FIXTURES").is_some() {
        std::fs::write(&path, &bytes).unwrap();
    }
    // The committed file is one our writer produces (for the network it loads into).
    let committed = std::fs::read(&path).unwrap();
    let mut loaded = N::zeros();
    from_safetensors(&mut loaded, &committed).unwrap();
    assert_eq!(to_safetensors(&loaded).unwrap(), committed, "{name}");
}

#[test]
fn networks_trained_here_load_into_pytorch_with_the_same_predictions() {
    written_here(&trained::<Tabular<f32>, 4, 3>(1), "tabular");
    written_here(&trained::<Image<f32>, 64, 10>(2), "image");
    written_here(&trained::<Signal<f32>, 32, 3>(3), "signal");
    written_here(&trained::<Recurrent<f32>, 18, 3>(4), "recurrent");
    // PyTorch's outputs for the committed files, after a strict load.
    let _: Tabular<f32> = reproduces(
        "tabular-rust.safetensors",
        "tabular-rust-torch-io.safetensors",
    );
    let _: Image<f32> = reproduces("image-rust.safetensors", "image-rust-torch-io.safetensors");
    let _: Signal<f32> = reproduces(
        "signal-rust.safetensors",
        "signal-rust-torch-io.safetensors",
    );
    let _: Recurrent<f32> = reproduces(
        "recurrent-rust.safetensors",
        "recurrent-rust-torch-io.safetensors",
    );
}

network! {
    /// Layer names that are Python keywords.
    struct Keywords {
        r#in: Dense<2, 4>, Relu,
        pass: Dense<4, 2>,
    }
}

#[test]
fn python_keywords_as_layer_names_stay_the_tensor_names() {
    let source = Keywords::<f32>::pytorch().to_string();
    for line in [
        "        setattr(self, \"in\", nn.Linear(2, 4))",
        "        setattr(self, \"pass\", nn.Linear(4, 2))",
        "        nn.init.kaiming_uniform_(getattr(self, \"in\").weight, nonlinearity=\"relu\")",
        "        h = getattr(self, \"pass\")(h)",
    ] {
        assert!(source.lines().any(|l| l == line), "{line}\n{source}");
    }
    assert!(!source.contains("self.in") && !source.contains("self.pass"));
}
