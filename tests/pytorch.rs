//! Proof against PyTorch: a state dict PyTorch wrote (`tests/fixtures/pytorch/`, made by
//! `examples/pytorch/torch_twin.py export`) loads into the `network!` twin and reproduces
//! PyTorch's outputs; the writer produces the same tensors PyTorch does; every malformed
//! file is a typed error that names the tensor and changes nothing.

use std::collections::HashMap;

use network::prelude::*;
use network::weights::{from_safetensors, to_safetensors, WeightsError};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

network! {
    /// The twin of `torch_twin.py`'s `nn.Sequential`.
    #[derive(Clone, Debug, PartialEq)]
    struct Twin {
        hidden: Dense<4, 16>, Relu,
        deeper: Dense<16, 16>, Tanh,
        logits: Dense<16, 3>,
    }
}

const MODEL: &[u8] = include_bytes!("fixtures/pytorch/model.safetensors");
const IO: &[u8] = include_bytes!("fixtures/pytorch/io.safetensors");

fn f32s(view: &TensorView) -> Vec<f32> {
    view.data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

fn pytorch_twin() -> Twin<f32> {
    let mut net = Twin::<f32>::zeros();
    from_safetensors(&mut net, MODEL).unwrap();
    net
}

#[test]
fn pytorch_weights_reproduce_pytorch_outputs_within_1e_5() {
    let net = pytorch_twin();
    let io = SafeTensors::deserialize(IO).unwrap();
    let (inputs, outputs) = (io.tensor("inputs").unwrap(), io.tensor("outputs").unwrap());
    assert_eq!(
        (inputs.shape(), outputs.shape()),
        (&[5, 4][..], &[5, 3][..])
    );
    let (inputs, expected) = (f32s(&inputs), f32s(&outputs));
    let mut largest = 0.0f32;
    for (x, want) in inputs.chunks_exact(4).zip(expected.chunks_exact(3)) {
        let y = net.forward(&SVector::<f32, 4>::from_column_slice(x));
        for (a, b) in y.iter().zip(want) {
            largest = largest.max((a - b).abs());
        }
    }
    assert!(largest <= 1e-5, "largest difference from PyTorch {largest}");
}

#[test]
fn the_writer_produces_the_tensors_pytorch_wrote() {
    let written = to_safetensors(&pytorch_twin()).unwrap();
    let (ours, theirs) = (
        SafeTensors::deserialize(&written).unwrap(),
        SafeTensors::deserialize(MODEL).unwrap(),
    );
    let mut names = ours.names();
    names.sort_unstable();
    let mut their_names = theirs.names();
    their_names.sort_unstable();
    assert_eq!(names, their_names);
    for name in names {
        let (a, b) = (ours.tensor(name).unwrap(), theirs.tensor(name).unwrap());
        assert_eq!((a.dtype(), a.shape()), (b.dtype(), b.shape()), "{name}");
        assert_eq!(a.data(), b.data(), "{name}: different bytes");
    }
}

#[test]
fn round_trip_in_double_precision() {
    let net = Twin::<f64>::random(&mut Rng::seed_from_u64(3));
    let bytes = to_safetensors(&net).unwrap();
    assert_eq!(
        SafeTensors::deserialize(&bytes)
            .unwrap()
            .tensor("hidden.weight")
            .unwrap()
            .dtype(),
        Dtype::F64
    );
    let mut back = Twin::<f64>::zeros();
    from_safetensors(&mut back, &bytes).unwrap();
    assert_eq!(back, net);
}

/// A file with the given tensors, each `(name, dtype, shape, values as f64)`.
fn file(tensors: &[(&str, Dtype, Vec<usize>, Vec<f64>)]) -> Vec<u8> {
    let data: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, dtype, _, values)| match dtype {
            Dtype::F64 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            _ => values
                .iter()
                .flat_map(|v| (*v as f32).to_le_bytes())
                .collect(),
        })
        .collect();
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .zip(&data)
        .map(|((name, dtype, shape, _), bytes)| {
            (
                name.to_string(),
                TensorView::new(*dtype, shape.clone(), bytes).unwrap(),
            )
        })
        .collect();
    safetensors::serialize(views, None::<HashMap<String, String>>).unwrap()
}

/// The PyTorch file's tensors, editable.
fn tensors() -> Vec<(String, Dtype, Vec<usize>, Vec<f64>)> {
    let model = SafeTensors::deserialize(MODEL).unwrap();
    let mut all: Vec<_> = model
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let values = f32s(&view).into_iter().map(f64::from).collect();
            (name, view.dtype(), view.shape().to_vec(), values)
        })
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

fn load(
    edit: impl FnOnce(&mut Vec<(String, Dtype, Vec<usize>, Vec<f64>)>),
) -> Result<(), WeightsError> {
    let mut all = tensors();
    edit(&mut all);
    let borrowed: Vec<(&str, Dtype, Vec<usize>, Vec<f64>)> = all
        .iter()
        .map(|(n, d, s, v)| (n.as_str(), *d, s.clone(), v.clone()))
        .collect();
    let bytes = file(&borrowed);
    let mut net = Twin::<f32>::random(&mut Rng::seed_from_u64(1));
    let before = net.clone();
    let result = from_safetensors(&mut net, &bytes);
    if result.is_err() {
        assert_eq!(net, before, "a rejected file changed the network");
    }
    result
}

#[test]
fn malformed_files_are_typed_errors_naming_the_tensor() {
    assert!(load(|_| {}).is_ok());
    let error = load(|all| all.retain(|t| t.0 != "deeper.bias")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "tensor `deeper.bias` is missing from the file"
    );
    let error =
        load(|all| all.push(("extra.weight".into(), Dtype::F32, vec![1], vec![0.0]))).unwrap_err();
    assert_eq!(
        error.to_string(),
        "the file has tensor `extra.weight`, which this network does not have"
    );
    let error = load(|all| {
        let t = all.iter_mut().find(|t| t.0 == "logits.weight").unwrap();
        t.2 = vec![16, 3];
    })
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "tensor `logits.weight` has shape [16, 3] in the file but [3, 16] in this network"
    );
    let error = load(|all| all.iter_mut().for_each(|t| t.1 = Dtype::F64)).unwrap_err();
    assert!(
        matches!(
            error,
            WeightsError::Dtype {
                expected: "f32",
                ..
            }
        ),
        "{error}"
    );
    let error = load(|all| all.iter_mut().find(|t| t.0 == "hidden.bias").unwrap().3[2] = f64::NAN)
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "tensor `hidden.bias` holds NaN or infinity"
    );

    let mut net = Twin::<f32>::zeros();
    for len in [0, 7, 8, 100, MODEL.len() - 1] {
        assert!(
            matches!(
                from_safetensors(&mut net, &MODEL[..len]),
                Err(WeightsError::Format(_))
            ),
            "truncated to {len} bytes"
        );
    }
    assert_eq!(net, Twin::zeros());
}

network! {
    /// The twin of `torch_twin.py`'s batch-norm `nn.Sequential`.
    #[derive(Clone, Debug, PartialEq)]
    struct NormTwin {
        hidden: Dense<4, 16>, Relu,
        bn: BatchNorm,
        logits: Dense<16, 3>,
    }
}

#[test]
fn pytorch_batch_norm_statistics_load_and_reproduce_eval_outputs() {
    let mut net = NormTwin::<f32>::zeros();
    from_safetensors(
        &mut net,
        include_bytes!("fixtures/pytorch/model-bn.safetensors"),
    )
    .unwrap();
    assert!(
        net.bn.running_var.iter().all(|v| *v != 1.0),
        "running statistics were not loaded"
    );
    let io = include_bytes!("fixtures/pytorch/io-bn.safetensors");
    let io = SafeTensors::deserialize(io).unwrap();
    let (inputs, expected) = (
        f32s(&io.tensor("inputs").unwrap()),
        f32s(&io.tensor("outputs").unwrap()),
    );
    for (x, want) in inputs.chunks_exact(4).zip(expected.chunks_exact(3)) {
        let y = net.forward(&SVector::<f32, 4>::from_column_slice(x));
        for (a, b) in y.iter().zip(want) {
            assert!((a - b).abs() <= 1e-5, "{a} vs PyTorch's {b}");
        }
    }
}
