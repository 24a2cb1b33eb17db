//! A raw little-endian weight format for `no_std`: written with [`to_bytes`], loaded
//! with [`load_bytes`] into an existing network without allocation, for example from
//! `include_bytes!` data in flash.
//!
//! Layout (all integers little-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 4 | magic `NETW` |
//! | 2 | format version (1) |
//! | 1 | scalar type: 1 = f32, 2 = f64 |
//! | 1 | reserved, 0 |
//! | 4 | value count: parameters then buffers |
//! | 4 | tensor count `n` |
//! | 8 n | per tensor, parameters in the visitor's order then buffers (batch norm's running statistics): rows `u32`, columns `u32` (a vector is `[n, 1]`, a convolution's weight `[out, in/groups * kernel]`) |
//! | s * count | the values, tensor by tensor, each in nalgebra's column-major order |
//! | 4 | FNV-1a 32 checksum of everything before it |
//!
//! Loading checks everything (size, magic, version, scalar type, counts, every shape, the
//! checksum, that every value is finite) before it writes anything, so a rejected file
//! leaves the network as it was, without a second copy of the network in RAM.

use core::fmt;

use nalgebra::SMatrix;

use crate::{ParamInfo, Params, Scalar};

const MAGIC: &[u8; 4] = b"NETW";
const VERSION: u16 = 1;
const HEADER: usize = 16;

/// Why raw weights could not be written or loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RawError {
    /// The buffer is shorter than the format needs.
    TooShort {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        found: usize,
    },
    /// The data is not raw weights.
    BadMagic,
    /// An unknown format version.
    UnsupportedVersion(u16),
    /// Written for another scalar type.
    Scalar {
        /// This network's scalar code (1 = f32, 2 = f64).
        expected: u8,
        /// The file's.
        found: u8,
    },
    /// A different number of values (parameters and buffers).
    Count {
        /// This network's value count.
        expected: u32,
        /// The file's.
        found: u32,
    },
    /// The same number of values in a different number of tensors (another network of
    /// the same size).
    TensorCount {
        /// This network's tensor count.
        expected: u32,
        /// The file's.
        found: u32,
    },
    /// The reserved header byte is not 0 (written by a newer format, or damaged).
    Reserved(u8),
    /// A tensor has another shape.
    Shape {
        /// The tensor.
        tensor: &'static str,
        /// This network's `[rows, columns]`.
        expected: [u32; 2],
        /// The file's.
        found: [u32; 2],
    },
    /// The data does not match its checksum.
    Checksum,
    /// A tensor holds NaN or infinity.
    NonFinite {
        /// The tensor.
        tensor: &'static str,
    },
    /// Bytes are left over after the checksum.
    TrailingBytes,
}

impl fmt::Display for RawError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RawError::TooShort { needed, found } => {
                write!(f, "raw weights need {needed} bytes but {found} were given")
            }
            RawError::BadMagic => write!(f, "not raw network weights (bad magic bytes)"),
            RawError::UnsupportedVersion(v) => write!(f, "unsupported raw weights version {v}"),
            RawError::Scalar { expected, found } => {
                write!(
                    f,
                    "raw weights hold scalar type {found} but this network uses {expected}"
                )
            }
            RawError::Count { expected, found } => {
                write!(
                    f,
                    "raw weights hold {found} values but this network has {expected} (parameters and buffers)"
                )
            }
            RawError::TensorCount { expected, found } => {
                write!(
                    f,
                    "raw weights hold {found} tensors but this network has {expected}"
                )
            }
            RawError::Reserved(byte) => {
                write!(
                    f,
                    "raw weights have {byte} in the reserved header byte, expected 0"
                )
            }
            RawError::Shape {
                tensor,
                expected,
                found,
            } => write!(
                f,
                "tensor `{tensor}` has shape {}x{} in the raw weights but {}x{} in this network",
                found[0], found[1], expected[0], expected[1]
            ),
            RawError::Checksum => write!(f, "raw weights are corrupted (checksum mismatch)"),
            RawError::NonFinite { tensor } => write!(f, "tensor `{tensor}` holds NaN or infinity"),
            RawError::TrailingBytes => write!(f, "raw weights have unexpected trailing bytes"),
        }
    }
}

impl core::error::Error for RawError {}

fn fnv1a32(bytes: &[u8]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for &b in bytes {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

fn scalar_code<T: Scalar>() -> u8 {
    if T::BYTES == 4 {
        1
    } else {
        2
    }
}

/// `[rows, columns]` of a tensor: `[out, in]` for a weight, `[out, 1]` for a bias, and
/// `[out, in/groups * kernel]` for a convolution's `[out, in/groups, k..]`.
fn shape(info: &ParamInfo) -> [u32; 2] {
    let rows = info.shape.first().copied().unwrap_or(1) as u32;
    let columns = info.shape.iter().skip(1).product::<usize>() as u32;
    [rows, columns]
}

/// Bytes of the raw weights (parameters and buffers) of `P` with scalar `T`.
pub const fn raw_len<T: Scalar, P: Params<T>>() -> usize {
    HEADER
        + 8 * (P::PARAM_INFO.len() + P::BUFFER_INFO.len())
        + T::BYTES * (P::PARAMS + P::BUFFERS)
        + 4
}

/// Every tensor in file order: parameters, then buffers, with the offset of its first
/// value among all values.
fn tensors<T: Scalar, P: Params<T>>() -> impl Iterator<Item = (&'static ParamInfo, usize)> {
    P::PARAM_INFO
        .iter()
        .map(|i| (i, i.offset))
        .chain(P::BUFFER_INFO.iter().map(|i| (i, P::PARAMS + i.offset)))
}

/// Writes the raw weights of `params` into the start of `out`; returns the bytes written.
pub fn to_bytes<T: Scalar, P: Params<T>>(params: &P, out: &mut [u8]) -> Result<usize, RawError> {
    let needed = raw_len::<T, P>();
    if out.len() < needed {
        return Err(RawError::TooShort {
            needed,
            found: out.len(),
        });
    }
    out[..4].copy_from_slice(MAGIC);
    out[4..6].copy_from_slice(&VERSION.to_le_bytes());
    out[6] = scalar_code::<T>();
    out[7] = 0;
    out[8..12].copy_from_slice(&((P::PARAMS + P::BUFFERS) as u32).to_le_bytes());
    out[12..16]
        .copy_from_slice(&((P::PARAM_INFO.len() + P::BUFFER_INFO.len()) as u32).to_le_bytes());
    let mut at = HEADER;
    for (info, _) in tensors::<T, P>() {
        let [rows, columns] = shape(info);
        out[at..at + 4].copy_from_slice(&rows.to_le_bytes());
        out[at + 4..at + 8].copy_from_slice(&columns.to_le_bytes());
        at += 8;
    }
    let mut write = |values: &[T]| {
        for v in values {
            v.write_le(&mut out[at..at + T::BYTES]);
            at += T::BYTES;
        }
    };
    params.for_each_param(|_, values| write(values));
    params.for_each_buffer(|_, values| write(values));
    let checksum = fnv1a32(&out[..at]);
    out[at..at + 4].copy_from_slice(&checksum.to_le_bytes());
    Ok(at + 4)
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Loads raw weights into `params`. Everything is checked before anything is written:
/// on error `params` is unchanged.
pub fn load_bytes<T: Scalar, P: Params<T>>(params: &mut P, bytes: &[u8]) -> Result<(), RawError> {
    if bytes.len() < HEADER {
        return Err(if bytes.len() >= 4 && &bytes[..4] != MAGIC {
            RawError::BadMagic
        } else {
            RawError::TooShort {
                needed: raw_len::<T, P>(),
                found: bytes.len(),
            }
        });
    }
    if &bytes[..4] != MAGIC {
        return Err(RawError::BadMagic);
    }
    let version = u16::from_le_bytes([bytes[4], bytes[5]]);
    if version != VERSION {
        return Err(RawError::UnsupportedVersion(version));
    }
    if bytes[6] != scalar_code::<T>() {
        return Err(RawError::Scalar {
            expected: scalar_code::<T>(),
            found: bytes[6],
        });
    }
    if bytes[7] != 0 {
        return Err(RawError::Reserved(bytes[7]));
    }
    let count = u32_at(bytes, 8);
    let expected = (P::PARAMS + P::BUFFERS) as u32;
    if count != expected {
        return Err(RawError::Count {
            expected,
            found: count,
        });
    }
    let tensors_found = u32_at(bytes, 12);
    let tensors_expected = (P::PARAM_INFO.len() + P::BUFFER_INFO.len()) as u32;
    if tensors_found != tensors_expected {
        return Err(RawError::TensorCount {
            expected: tensors_expected,
            found: tensors_found,
        });
    }
    let needed = raw_len::<T, P>();
    if bytes.len() < needed {
        return Err(RawError::TooShort {
            needed,
            found: bytes.len(),
        });
    }
    if u32_at(bytes, needed - 4) != fnv1a32(&bytes[..needed - 4]) {
        return Err(RawError::Checksum);
    }
    if bytes.len() > needed {
        return Err(RawError::TrailingBytes);
    }
    let mut at = HEADER;
    for (info, _) in tensors::<T, P>() {
        let found = [u32_at(bytes, at), u32_at(bytes, at + 4)];
        if found != shape(info) {
            return Err(RawError::Shape {
                tensor: info.name,
                expected: shape(info),
                found,
            });
        }
        at += 8;
    }
    let data = at;
    for (info, offset) in tensors::<T, P>() {
        let start = data + offset * T::BYTES;
        let tensor = &bytes[start..start + info.len * T::BYTES];
        if tensor
            .chunks_exact(T::BYTES)
            .any(|b| !T::read_le(b).is_finite())
        {
            return Err(RawError::NonFinite { tensor: info.name });
        }
    }
    let read = |offset: usize, values: &mut [T]| {
        let start = data + offset * T::BYTES;
        for (v, b) in values.iter_mut().zip(bytes[start..].chunks_exact(T::BYTES)) {
            *v = T::read_le(b);
        }
    };
    params.for_each_param_mut(|info, values| read(info.offset, values));
    params.for_each_buffer_mut(|info, values| read(P::PARAMS + info.offset, values));
    Ok(())
}

/// A matrix of `R x C` `f32` values read at compile time from little-endian raw weights
/// at byte `at`, column by column (the raw format's order). For `network!`'s
/// `#[weights("...")]`, which has checked the file when it expanded.
#[doc(hidden)]
pub const fn matrix_f32<const R: usize, const C: usize>(
    bytes: &[u8],
    at: usize,
) -> SMatrix<f32, R, C> {
    let mut columns = [[0.0f32; R]; C];
    // Past the end only when a size given as a constant disagrees with the file, which
    // its own assertion reports: zeros then, not a second error.
    if at + 4 * R * C > bytes.len() {
        return SMatrix::from_array_storage(nalgebra::ArrayStorage(columns));
    }
    let mut c = 0;
    while c < C {
        let mut r = 0;
        while r < R {
            let i = at + 4 * (c * R + r);
            columns[c][r] = f32::from_bits(u32::from_le_bytes([
                bytes[i],
                bytes[i + 1],
                bytes[i + 2],
                bytes[i + 3],
            ]));
            r += 1;
        }
        c += 1;
    }
    SMatrix::from_array_storage(nalgebra::ArrayStorage(columns))
}

/// [`matrix_f32`] for `f64` values.
#[doc(hidden)]
pub const fn matrix_f64<const R: usize, const C: usize>(
    bytes: &[u8],
    at: usize,
) -> SMatrix<f64, R, C> {
    let mut columns = [[0.0f64; R]; C];
    // Past the end only when a size given as a constant disagrees with the file, which
    // its own assertion reports: zeros then, not a second error.
    if at + 8 * R * C > bytes.len() {
        return SMatrix::from_array_storage(nalgebra::ArrayStorage(columns));
    }
    let mut c = 0;
    while c < C {
        let mut r = 0;
        while r < R {
            let i = at + 8 * (c * R + r);
            columns[c][r] = f64::from_bits(u64::from_le_bytes([
                bytes[i],
                bytes[i + 1],
                bytes[i + 2],
                bytes[i + 3],
                bytes[i + 4],
                bytes[i + 5],
                bytes[i + 6],
                bytes[i + 7],
            ]));
            r += 1;
        }
        c += 1;
    }
    SMatrix::from_array_storage(nalgebra::ArrayStorage(columns))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::testing::Toy;

    fn written() -> ([u8; 64], usize) {
        let mut out = [0u8; 64];
        let n = to_bytes(&Toy::new([1.5, -2.0], 0.25), &mut out).unwrap();
        (out, n)
    }

    #[test]
    fn round_trip_and_layout() {
        let (out, n) = written();
        assert_eq!(n, raw_len::<f64, Toy>());
        assert_eq!(n, 16 + 2 * 8 + 3 * 8 + 4);
        assert_eq!(&out[..4], b"NETW");
        let mut back = Toy::zeros();
        load_bytes(&mut back, &out[..n]).unwrap();
        assert_eq!(back, Toy::new([1.5, -2.0], 0.25));
    }

    #[test]
    fn every_damage_is_a_typed_error_and_changes_nothing() {
        let (out, n) = written();
        let original = Toy::new([7.0, 7.0], 7.0);
        for len in 0..n {
            let mut p = original.clone();
            assert!(
                load_bytes(&mut p, &out[..len]).is_err(),
                "length {len} accepted"
            );
            assert_eq!(p, original);
        }
        for i in 0..n {
            let mut damaged = out;
            damaged[i] ^= 0x04;
            let mut p = original.clone();
            assert!(
                load_bytes(&mut p, &damaged[..n]).is_err(),
                "flipped byte {i} accepted"
            );
            assert_eq!(p, original);
        }
        let mut p = original.clone();
        assert_eq!(
            load_bytes(&mut p, &out[..n + 1]),
            Err(RawError::TrailingBytes)
        );
        let mut small = [0u8; 8];
        assert!(matches!(
            to_bytes(&original, &mut small),
            Err(RawError::TooShort {
                needed: 60,
                found: 8
            })
        ));
    }

    #[test]
    fn wrong_shapes_and_non_finite_values_name_the_tensor() {
        let (mut out, n) = written();
        // Claim the weight is 1x2 and fix the checksum: a shape error names it.
        out[16..20].copy_from_slice(&1u32.to_le_bytes());
        out[20..24].copy_from_slice(&2u32.to_le_bytes());
        let c = fnv1a32(&out[..n - 4]);
        out[n - 4..n].copy_from_slice(&c.to_le_bytes());
        let mut p = Toy::zeros();
        assert_eq!(
            load_bytes(&mut p, &out[..n]),
            Err(RawError::Shape {
                tensor: "toy.weight",
                expected: [2, 1],
                found: [1, 2]
            })
        );
        // The same three values claimed as one tensor: the counts that differ are named.
        let (mut out, n) = written();
        out[12..16].copy_from_slice(&1u32.to_le_bytes());
        let c = fnv1a32(&out[..n - 4]);
        out[n - 4..n].copy_from_slice(&c.to_le_bytes());
        let error = load_bytes(&mut p, &out[..n]).unwrap_err();
        assert_eq!(
            error,
            RawError::TensorCount {
                expected: 2,
                found: 1
            }
        );
        assert_eq!(
            std::format!("{error}"),
            "raw weights hold 1 tensors but this network has 2"
        );
        // A reserved byte that is not 0.
        let (mut out, n) = written();
        out[7] = 1;
        assert_eq!(load_bytes(&mut p, &out[..n]), Err(RawError::Reserved(1)));
        let mut nan = [0u8; 64];
        let n = to_bytes(&Toy::new([1.0, 2.0], f64::NAN), &mut nan).unwrap();
        assert_eq!(
            load_bytes(&mut p, &nan[..n]),
            Err(RawError::NonFinite { tensor: "toy.bias" })
        );
    }
}
