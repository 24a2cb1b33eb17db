//! The recurrent layers against PyTorch's `nn.GRU` and `nn.LSTM` (one layer,
//! `batch_first`): from the state dicts and data `examples/pytorch/torch_rnn_twin.py`
//! wrote (`tests/fixtures/pytorch/{gru,lstm}-{f32,f64}.safetensors`), every step's output
//! and the gradients of `sum(outputs * probe)` with respect to every parameter and the
//! input, by backpropagation through time: within 1e-5 relative in f32 and 1e-10 in f64.

use network::nalgebra::{SMatrix, SVector};
use network::{Gru, Lstm, Scalar};
use safetensors::tensor::{Dtype, SafeTensors};

const F: usize = 3;
const H: usize = 5;
const STEPS: usize = 6;
const BATCH: usize = 4;

fn values<T: Scalar>(file: &SafeTensors, name: &str) -> Vec<T> {
    let view = file.tensor(name).unwrap();
    match view.dtype() {
        Dtype::F32 => view
            .data()
            .chunks_exact(4)
            .map(|b| T::of(f64::from(f32::from_le_bytes(b.try_into().unwrap()))))
            .collect(),
        Dtype::F64 => view
            .data()
            .chunks_exact(8)
            .map(|b| T::of(f64::from_le_bytes(b.try_into().unwrap())))
            .collect(),
        other => panic!("{name}: unexpected dtype {other:?}"),
    }
}

/// A row-major `[R, C]` PyTorch tensor as nalgebra's matrix.
fn matrix<T: Scalar, const R: usize, const C: usize>(
    file: &SafeTensors,
    name: &str,
) -> SMatrix<T, R, C> {
    let v = values::<T>(file, name);
    assert_eq!(v.len(), R * C, "{name}");
    SMatrix::from_fn(|r, c| v[r * C + c])
}

/// The matrix back in PyTorch's row-major order.
fn row_major<T: Scalar, const R: usize, const C: usize>(m: &SMatrix<T, R, C>) -> Vec<T> {
    (0..R)
        .flat_map(|r| (0..C).map(move |c| m[(r, c)]))
        .collect()
}

fn close<T: Scalar>(what: &str, ours: &[T], theirs: &[T], tolerance: f64) {
    assert_eq!(ours.len(), theirs.len(), "{what}");
    for (k, (a, b)) in ours.iter().zip(theirs).enumerate() {
        let (a, b) = (a.as_f64(), b.as_f64());
        assert!(
            (a - b).abs() <= tolerance * (1.0 + b.abs()),
            "{what}[{k}]: {a} here, {b} in PyTorch"
        );
    }
}

/// Runs the fixture through `forward` / `backward` (per sample) and compares.
macro_rules! check {
    ($layer:ident, $gates:expr, $cache:expr, $scalar:ty, $file:expr, $tolerance:expr) => {{
        let bytes = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/pytorch/",
            $file
        ))
        .unwrap();
        let file = SafeTensors::deserialize(&bytes).unwrap();
        let layer = $layer::<$scalar, F, H, { $gates * H }> {
            weight_ih_l0: matrix(&file, "weight_ih_l0"),
            weight_hh_l0: matrix(&file, "weight_hh_l0"),
            bias_ih_l0: SVector::from_column_slice(&values::<$scalar>(&file, "bias_ih_l0")),
            bias_hh_l0: SVector::from_column_slice(&values::<$scalar>(&file, "bias_hh_l0")),
        };
        let (inputs, probe) = (
            values::<$scalar>(&file, "inputs"),
            values::<$scalar>(&file, "probe"),
        );
        let mut outputs = vec![<$scalar>::default(); BATCH * STEPS * H];
        let mut dx = vec![<$scalar>::default(); BATCH * STEPS * F];
        let mut grad = $layer::<$scalar, F, H, { $gates * H }>::zeros();
        for b in 0..BATCH {
            let x = &inputs[b * STEPS * F..(b + 1) * STEPS * F];
            let out = &mut outputs[b * STEPS * H..(b + 1) * STEPS * H];
            let mut cache = vec![<$scalar>::default(); STEPS * $cache * H];
            layer.forward_sequence(x, out, Some(&mut cache));
            let dout = &probe[b * STEPS * H..(b + 1) * STEPS * H];
            let dxb = &mut dx[b * STEPS * F..(b + 1) * STEPS * F];
            layer.backward_sequence(x, out, &cache, dout, &mut grad, Some(dxb));
        }
        close("outputs", &outputs, &values(&file, "outputs"), $tolerance);
        close(
            "grad.inputs",
            &dx,
            &values(&file, "grad.inputs"),
            $tolerance,
        );
        close(
            "grad.weight_ih_l0",
            &row_major(&grad.weight_ih_l0),
            &values(&file, "grad.weight_ih_l0"),
            $tolerance,
        );
        close(
            "grad.weight_hh_l0",
            &row_major(&grad.weight_hh_l0),
            &values(&file, "grad.weight_hh_l0"),
            $tolerance,
        );
        close(
            "grad.bias_ih_l0",
            grad.bias_ih_l0.as_slice(),
            &values(&file, "grad.bias_ih_l0"),
            $tolerance,
        );
        close(
            "grad.bias_hh_l0",
            grad.bias_hh_l0.as_slice(),
            &values(&file, "grad.bias_hh_l0"),
            $tolerance,
        );
    }};
}

#[test]
fn gru_matches_pytorch() {
    check!(
        Gru,
        3,
        network::layers::recurrent::GRU_CACHE,
        f32,
        "gru-f32.safetensors",
        1e-5
    );
    check!(
        Gru,
        3,
        network::layers::recurrent::GRU_CACHE,
        f64,
        "gru-f64.safetensors",
        1e-10
    );
}

#[test]
fn lstm_matches_pytorch() {
    check!(
        Lstm,
        4,
        network::layers::recurrent::LSTM_CACHE,
        f32,
        "lstm-f32.safetensors",
        1e-5
    );
    check!(
        Lstm,
        4,
        network::layers::recurrent::LSTM_CACHE,
        f64,
        "lstm-f64.safetensors",
        1e-10
    );
}
