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

/// How tensors are named in a file and which element types a load accepts.
/// `Layout::default()` is what [`to_safetensors`] and [`from_safetensors`] use: flat
/// names, the network's own scalar type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    /// Name the layers inside a `Residual` block as PyTorch names the submodules of a
    /// module: `block.a.weight` (see [`ParamInfo::nested`]) instead of `a.weight`. For
    /// a PyTorch model that nests each block as a module of the block's name.
    pub nested: bool,
    /// Loading: accept `F64` tensors into an `f32` network and `F32` into an `f64` one,
    /// converting every value (rounding to nearest); a value that does not fit (1e300
    /// into `f32`) is [`WeightsError::NonFinite`]. Off by default: a file of the other
    /// type is refused with [`WeightsError::Dtype`].
    pub convert: bool,
}

impl Layout {
    /// PyTorch's nested module names, no conversion.
    pub const NESTED: Layout = Layout {
        nested: true,
        convert: false,
    };
    /// Flat names, converting between `F32` and `F64` on load.
    pub const CONVERTING: Layout = Layout {
        nested: false,
        convert: true,
    };

    /// The name of a tensor in this layout.
    fn name(self, info: &ParamInfo) -> &'static str {
        if self.nested {
            info.nested
        } else {
            info.name
        }
    }
}

/// PyTorch's batch counters, `<layer>.num_batches_tracked`, in [`Params::COUNTERS`]
/// order: named after the layer's running mean, so nested like it.
fn counter_names<T: Scalar, P: Params<T>>(layout: Layout) -> Vec<String> {
    P::COUNTERS
        .iter()
        .map(|layer| {
            let mean = P::BUFFER_INFO.iter().find(|i| i.layer == *layer);
            let path = mean
                .and_then(|i| layout.name(i).strip_suffix(".running_mean"))
                .unwrap_or(layer);
            std::format!("{path}.num_batches_tracked")
        })
        .collect()
}

/// The network's parameters and buffers as safetensors bytes, with PyTorch's names and
/// layouts. Each batch norm layer also gets PyTorch's `num_batches_tracked` (an `I64`
/// scalar): the training batches that moved its running estimates.
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
    to_safetensors_as(params, standardizer, Layout::default())
}

/// [`to_safetensors_with`], naming the tensors as `layout` says (for example
/// [`Layout::NESTED`]: PyTorch's names for layers inside `Residual` blocks).
pub fn to_safetensors_as<T: Scalar, P: Params<T>>(
    params: &P,
    standardizer: Option<&Standardizer>,
    layout: Layout,
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
    let mut counts: Vec<[u8; 8]> = Vec::new();
    // PyTorch's counter is an `i64`; ours saturates far below its end in practice.
    params.for_each_counter(|_, n| counts.push(i64::try_from(n).unwrap_or(i64::MAX).to_le_bytes()));
    let mut views = all_tensors::<T, P>()
        .zip(&data)
        .map(|((_, info, _), bytes)| {
            TensorView::new(dtype::<T>(), info.shape.to_vec(), bytes)
                .map(|view| (layout.name(info).to_string(), view))
                .map_err(|e| WeightsError::Format(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    for (name, count) in counter_names::<T, P>(layout).into_iter().zip(&counts) {
        let view = TensorView::new(Dtype::I64, Vec::new(), count)
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
    from_safetensors_as(params, bytes, Layout::default())
}

/// [`from_safetensors_with`], reading the names `layout` says and, with
/// [`Layout::convert`], converting tensors of the other float type.
pub fn from_safetensors_as<T: Scalar, P: Params<T>>(
    params: &mut P,
    bytes: &[u8],
    layout: Layout,
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
        let name = layout.name(info);
        let view = file
            .tensor(name)
            .map_err(|_| WeightsError::Missing { tensor: name })?;
        let other = if T::BYTES == 4 {
            Dtype::F64
        } else {
            Dtype::F32
        };
        let width = match view.dtype() {
            d if d == dtype::<T>() => T::BYTES,
            d if d == other && layout.convert => 12 - T::BYTES,
            d => {
                return Err(WeightsError::Dtype {
                    tensor: name,
                    expected: T::NAME,
                    found: std::format!("{d:?}"),
                })
            }
        };
        if view.shape() != info.shape {
            return Err(WeightsError::Shape {
                tensor: name,
                expected: info.shape.to_vec(),
                found: view.shape().to_vec(),
            });
        }
        let mut values = std::vec![T::zero(); info.len];
        for (j, chunk) in view.data().chunks_exact(width).enumerate() {
            // Exact for the network's own type; rounding to nearest across types.
            let v = if width == 8 {
                T::of(f64::from_le_bytes(chunk.try_into().unwrap_or([0; 8])))
            } else {
                T::of(f64::from(f32::from_le_bytes(
                    chunk.try_into().unwrap_or([0; 4]),
                )))
            };
            if !v.is_finite() {
                return Err(WeightsError::NonFinite { tensor: name });
            }
            values[column_major_index(info, j)] = v;
        }
        loaded.push((k, is_buffer, values));
    }
    // Batch counters: an `I64` scalar, not negative; a file without one (written by
    // hand) counts 0.
    let mut counts = Vec::with_capacity(P::COUNTERS.len());
    for name in counter_names::<T, P>(layout) {
        let count = match file.tensor(&name) {
            Err(_) => 0,
            Ok(view) => {
                if view.dtype() != Dtype::I64 || !view.shape().is_empty() {
                    return Err(WeightsError::Format(std::format!(
                        "`{name}` must be an I64 scalar, found {:?} {:?}",
                        view.dtype(),
                        view.shape()
                    )));
                }
                let bytes: [u8; 8] = view.data().try_into().map_err(|_| {
                    WeightsError::Format(std::format!("`{name}` holds no 8-byte value"))
                })?;
                u64::try_from(i64::from_le_bytes(bytes))
                    .map_err(|_| WeightsError::Format(std::format!("`{name}` is negative")))?
            }
        };
        counts.push(count);
    }
    let mut known: BTreeSet<String> = all_tensors::<T, P>()
        .map(|(_, i, _)| layout.name(i).to_string())
        .collect();
    known.extend(counter_names::<T, P>(layout));
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
    let mut counts = counts.into_iter();
    params.for_each_counter_mut(|_, n| *n = counts.next().unwrap_or(0));
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
    save_safetensors_as(params, standardizer, Layout::default(), path)
}

/// [`save_safetensors_with`] with the tensor names of `layout` (see [`to_safetensors_as`]).
pub fn save_safetensors_as<T: Scalar, P: Params<T>>(
    params: &P,
    standardizer: Option<&Standardizer>,
    layout: Layout,
    path: impl AsRef<Path>,
) -> Result<(), WeightsError> {
    let path = path.as_ref();
    let bytes = to_safetensors_as(params, standardizer, layout)?;
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
    let bytes = read(path.as_ref())?;
    from_safetensors(params, &bytes)
}

/// Loads a safetensors file into `params` and returns the standardizer stored with it,
/// if any (see [`from_safetensors_with`]).
pub fn load_safetensors_with<T: Scalar, P: Params<T>>(
    params: &mut P,
    path: impl AsRef<Path>,
) -> Result<Option<Standardizer>, WeightsError> {
    let bytes = read(path.as_ref())?;
    from_safetensors_with(params, &bytes)
}

/// [`load_safetensors_with`] with the names and conversions of `layout` (see
/// [`from_safetensors_as`]).
pub fn load_safetensors_as<T: Scalar, P: Params<T>>(
    params: &mut P,
    path: impl AsRef<Path>,
    layout: Layout,
) -> Result<Option<Standardizer>, WeightsError> {
    let bytes = read(path.as_ref())?;
    from_safetensors_as(params, &bytes, layout)
}

/// The bytes of a file, or [`WeightsError::Io`] naming it.
fn read(path: &Path) -> Result<Vec<u8>, WeightsError> {
    std::fs::read(path).map_err(|source| WeightsError::Io {
        path: path.display().to_string(),
        source,
    })
}
