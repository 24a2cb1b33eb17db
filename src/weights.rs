//! Weights in and out as [safetensors](https://huggingface.co/docs/safetensors), with
//! PyTorch's names and layouts: `<layer>.weight` is `[out, in]` row-major and
//! `<layer>.bias` is `[out]`, in the network's scalar type (`F32` or `F64`). A file
//! written here loads into the equivalent PyTorch `nn.Sequential` (with the same module
//! names, see `examples/pytorch/`) with `load_state_dict`, and a PyTorch state dict saved
//! with `safetensors.torch.save_file` loads here.
//!
//! Loading never half-loads: every tensor is found, checked (dtype, shape, finite values)
//! and converted before the network changes, and any missing or unexpected tensor is an
//! error that names it.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::Path;
use std::string::{String, ToString};
use std::vec::Vec;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::data::Standardizer;
use crate::{ParamInfo, Params, Scalar};

/// Why weights could not be written or read.
#[derive(Debug)]
pub enum WeightsError {
    /// The file could not be read or written.
    Io {
        /// The path involved.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The bytes are not a valid safetensors file (truncated, bad header, ...).
    Format(String),
    /// A tensor of the network is not in the file.
    Missing {
        /// Its name.
        tensor: &'static str,
    },
    /// The file has a tensor the network does not.
    Unexpected {
        /// Its name.
        tensor: String,
    },
    /// A tensor has another shape.
    Shape {
        /// Its name.
        tensor: &'static str,
        /// The network's shape.
        expected: Vec<usize>,
        /// The file's.
        found: Vec<usize>,
    },
    /// A tensor has another element type.
    Dtype {
        /// Its name.
        tensor: &'static str,
        /// The network's scalar type.
        expected: &'static str,
        /// The file's.
        found: String,
    },
    /// A tensor holds NaN or infinity.
    NonFinite {
        /// Its name.
        tensor: &'static str,
    },
}

impl fmt::Display for WeightsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WeightsError::Io { path, source } => write!(f, "`{path}`: {source}"),
            WeightsError::Format(message) => write!(f, "not a valid safetensors file: {message}"),
            WeightsError::Missing { tensor } => write!(f, "tensor `{tensor}` is missing from the file"),
            WeightsError::Unexpected { tensor } => {
                write!(f, "the file has tensor `{tensor}`, which this network does not have")
            }
            WeightsError::Shape {
                tensor,
                expected,
                found,
            } => write!(f, "tensor `{tensor}` has shape {found:?} in the file but {expected:?} in this network"),
            WeightsError::Dtype {
                tensor,
                expected,
                found,
            } => write!(f, "tensor `{tensor}` is {found} in the file but this network uses {expected}"),
            WeightsError::NonFinite { tensor } => write!(f, "tensor `{tensor}` holds NaN or infinity"),
        }
    }
}

impl std::error::Error for WeightsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WeightsError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn dtype<T: Scalar>() -> Dtype {
    if T::BYTES == 4 {
        Dtype::F32
    } else {
        Dtype::F64
    }
}

/// Index in nalgebra's column-major storage of row-major element `k` of a tensor.
fn column_major_index(info: &ParamInfo, k: usize) -> usize {
    match *info.shape {
        [rows, columns] => (k % columns) * rows + k / columns,
        _ => k,
    }
}

/// Every tensor written and read: parameters, then buffers (batch norm's running
/// statistics), with a flag telling buffers apart.
fn all_tensors<T: Scalar, P: Params<T>>() -> impl Iterator<Item = (usize, &'static ParamInfo, bool)>
{
    P::PARAM_INFO
        .iter()
        .enumerate()
        .map(|(k, i)| (k, i, false))
        .chain(P::BUFFER_INFO.iter().enumerate().map(|(k, i)| (k, i, true)))
}

/// The layers with buffers: PyTorch's batch norm also saves `<layer>.num_batches_tracked`.
fn layers_with_buffers<T: Scalar, P: Params<T>>() -> BTreeSet<&'static str> {
    P::BUFFER_INFO.iter().map(|i| i.layer).collect()
}

/// The network's parameters and buffers as safetensors bytes, with PyTorch's names and
/// layouts. Each batch norm layer also gets PyTorch's `num_batches_tracked` (an `I64`
/// scalar, 0: the count only matters to PyTorch's cumulative averaging, unused here).
pub fn to_safetensors<T: Scalar, P: Params<T>>(params: &P) -> Result<Vec<u8>, WeightsError> {
    to_safetensors_with(params, None)
}

/// The metadata key under which a [`Standardizer`] travels with the weights.
pub const STANDARDIZER_KEY: &str = "network.standardizer";

/// [`to_safetensors`], with the standardizer the network's inputs were scaled by stored
/// in the file's metadata (exactly: every `f64` as its shortest round-trip decimal), so
/// that a fresh process can predict from raw inputs ([`from_safetensors_with`]).
pub fn to_safetensors_with<T: Scalar, P: Params<T>>(
    params: &P,
    standardizer: Option<&Standardizer>,
) -> Result<Vec<u8>, WeightsError> {
    let mut buffers: Vec<Vec<T>> = Vec::new();
    params.for_each_buffer(|_, values| buffers.push(values.to_vec()));
    let data: Vec<Vec<u8>> = all_tensors::<T, P>()
        .map(|(k, info, is_buffer)| {
            let values = if is_buffer {
                &buffers[k][..]
            } else {
                params.tensor(k)
            };
            let mut bytes = std::vec![0u8; values.len() * T::BYTES];
            for (j, out) in bytes.chunks_exact_mut(T::BYTES).enumerate() {
                values[column_major_index(info, j)].write_le(out);
            }
            bytes
        })
        .collect();
    let counters: Vec<String> = layers_with_buffers::<T, P>()
        .into_iter()
        .map(|layer| std::format!("{layer}.num_batches_tracked"))
        .collect();
    let zero = 0i64.to_le_bytes();
    let mut views = all_tensors::<T, P>()
        .zip(&data)
        .map(|((_, info, _), bytes)| {
            TensorView::new(dtype::<T>(), info.shape.to_vec(), bytes)
                .map(|view| (info.name.to_string(), view))
                .map_err(|e| WeightsError::Format(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    for name in counters {
        let view = TensorView::new(Dtype::I64, Vec::new(), &zero)
            .map_err(|e| WeightsError::Format(e.to_string()))?;
        views.push((name, view));
    }
    let mut metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    if let Some(s) = standardizer {
        metadata.insert(STANDARDIZER_KEY.to_string(), s.to_text());
    }
    safetensors::serialize(views, Some(metadata)).map_err(|e| WeightsError::Format(e.to_string()))
}

/// Loads safetensors bytes (parameters and buffers) into `params`. Nothing changes
/// unless every tensor is right.
pub fn from_safetensors<T: Scalar, P: Params<T>>(
    params: &mut P,
    bytes: &[u8],
) -> Result<(), WeightsError> {
    from_safetensors_with(params, bytes).map(|_| ())
}

/// [`from_safetensors`], also returning the standardizer stored with the weights by
/// [`to_safetensors_with`], if any. Nothing changes unless everything is right, the
/// standardizer included.
pub fn from_safetensors_with<T: Scalar, P: Params<T>>(
    params: &mut P,
    bytes: &[u8],
) -> Result<Option<Standardizer>, WeightsError> {
    let (_, header) =
        SafeTensors::read_metadata(bytes).map_err(|e| WeightsError::Format(e.to_string()))?;
    let standardizer = match header
        .metadata()
        .as_ref()
        .and_then(|m| m.get(STANDARDIZER_KEY))
    {
        Some(text) => Some(Standardizer::from_text(text).ok_or_else(|| {
            WeightsError::Format(std::format!(
                "the `{STANDARDIZER_KEY}` metadata is malformed"
            ))
        })?),
        None => None,
    };
    let file = SafeTensors::deserialize(bytes).map_err(|e| WeightsError::Format(e.to_string()))?;
    let mut loaded: Vec<(usize, bool, Vec<T>)> =
        Vec::with_capacity(P::PARAM_INFO.len() + P::BUFFER_INFO.len());
    for (k, info, is_buffer) in all_tensors::<T, P>() {
        let view = file
            .tensor(info.name)
            .map_err(|_| WeightsError::Missing { tensor: info.name })?;
        if view.dtype() != dtype::<T>() {
            return Err(WeightsError::Dtype {
                tensor: info.name,
                expected: T::NAME,
                found: std::format!("{:?}", view.dtype()),
            });
        }
        if view.shape() != info.shape {
            return Err(WeightsError::Shape {
                tensor: info.name,
                expected: info.shape.to_vec(),
                found: view.shape().to_vec(),
            });
        }
        let mut values = std::vec![T::zero(); info.len];
        for (j, chunk) in view.data().chunks_exact(T::BYTES).enumerate() {
            let v = T::read_le(chunk);
            if !v.is_finite() {
                return Err(WeightsError::NonFinite { tensor: info.name });
            }
            values[column_major_index(info, j)] = v;
        }
        loaded.push((k, is_buffer, values));
    }
    let mut known: BTreeSet<String> = all_tensors::<T, P>()
        .map(|(_, i, _)| i.name.to_string())
        .collect();
    known.extend(
        layers_with_buffers::<T, P>()
            .into_iter()
            .map(|layer| std::format!("{layer}.num_batches_tracked")),
    );
    if let Some(extra) = file.names().into_iter().find(|n| !known.contains(*n)) {
        return Err(WeightsError::Unexpected {
            tensor: extra.to_string(),
        });
    }
    let (buffers, tensors): (Vec<_>, Vec<_>) =
        loaded.into_iter().partition(|(_, is_buffer, _)| *is_buffer);
    for (k, _, values) in &tensors {
        params.tensor_mut(*k).copy_from_slice(values);
    }
    let mut buffers = buffers.iter();
    params.for_each_buffer_mut(|_, dst| {
        if let Some((_, _, values)) = buffers.next() {
            dst.copy_from_slice(values);
        }
    });
    Ok(standardizer)
}

/// Writes the network's parameters to a safetensors file, atomically: through a
/// temporary file of its own that is flushed and renamed over `path`, exactly as
/// checkpoints are written (see [`crate::checkpoint::write_atomically`] for the
/// guarantees with concurrent saves). A failed or killed save leaves the previous file.
pub fn save_safetensors<T: Scalar, P: Params<T>>(
    params: &P,
    path: impl AsRef<Path>,
) -> Result<(), WeightsError> {
    save_safetensors_with(params, None, path)
}

/// [`save_safetensors`] with the input standardizer in the file's metadata (see
/// [`to_safetensors_with`]): the model and its preprocessing in one file.
pub fn save_safetensors_with<T: Scalar, P: Params<T>>(
    params: &P,
    standardizer: Option<&Standardizer>,
    path: impl AsRef<Path>,
) -> Result<(), WeightsError> {
    let path = path.as_ref();
    let bytes = to_safetensors_with(params, standardizer)?;
    crate::checkpoint::atomic_write(path, &bytes).map_err(|source| WeightsError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Loads a safetensors file into `params` (see [`from_safetensors`]).
pub fn load_safetensors<T: Scalar, P: Params<T>>(
    params: &mut P,
    path: impl AsRef<Path>,
) -> Result<(), WeightsError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| WeightsError::Io {
        path: path.display().to_string(),
        source,
    })?;
    from_safetensors(params, &bytes)
}

/// Loads a safetensors file into `params` and returns the standardizer stored with it,
/// if any (see [`from_safetensors_with`]).
pub fn load_safetensors_with<T: Scalar, P: Params<T>>(
    params: &mut P,
    path: impl AsRef<Path>,
) -> Result<Option<Standardizer>, WeightsError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| WeightsError::Io {
        path: path.display().to_string(),
        source,
    })?;
    from_safetensors_with(params, &bytes)
}
