//! A small binary container for checkpoints: magic, version, payload, checksum; written
//! atomically so that a failed save never destroys the previous file.
//!
//! Layout (all integers little-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 8 | magic `NETCKPT\0` |
//! | 4 | format version (1) |
//! | 4 | bytes per scalar (4 for f32, 8 for f64) |
//! | n | payload, written and read in the same order by [`Trainer`](crate::train::Trainer) |
//! | 8 | FNV-1a 64 checksum of everything before it |
//!
//! The checksum catches truncation and corruption (a flipped bit, a partial copy), not
//! tampering.

use std::fmt;
use std::io::Write;
use std::path::Path;
use std::string::{String, ToString};
use std::vec::Vec;

use crate::Scalar;

const MAGIC: &[u8; 8] = b"NETCKPT\0";
const VERSION: u32 = 1;

/// Why a checkpoint could not be written or read.
#[derive(Debug)]
pub enum CheckpointError {
    /// The file could not be read, written or renamed.
    Io {
        /// The path involved.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not a checkpoint.
    BadMagic,
    /// The file was written by an unknown format version.
    UnsupportedVersion(u32),
    /// The file ends before its content does.
    Truncated,
    /// The content does not match its checksum.
    Checksum,
    /// The checkpoint was saved with another scalar type.
    Scalar {
        /// Bytes per scalar of this program.
        expected: u32,
        /// Bytes per scalar in the file.
        found: u32,
    },
    /// A section has a different size from this program's network or optimizer.
    Shape {
        /// The section (`"parameters"`, `"optimizer state"`, ...).
        section: &'static str,
        /// Scalars this program expects.
        expected: u64,
        /// Scalars in the file.
        found: u64,
    },
    /// A value in the file is NaN or infinite.
    NonFinite {
        /// The section holding it.
        section: &'static str,
    },
    /// A section holds a value this program cannot interpret.
    Invalid {
        /// The section.
        section: &'static str,
    },
    /// Bytes are left over after the last section.
    TrailingBytes,
}

impl fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckpointError::Io { path, source } => write!(f, "checkpoint `{path}`: {source}"),
            CheckpointError::BadMagic => write!(f, "not a network checkpoint (bad magic bytes)"),
            CheckpointError::UnsupportedVersion(v) => write!(f, "unsupported checkpoint version {v}"),
            CheckpointError::Truncated => write!(f, "the checkpoint is truncated"),
            CheckpointError::Checksum => write!(f, "the checkpoint is corrupted (checksum mismatch)"),
            CheckpointError::Scalar { expected, found } => write!(
                f,
                "the checkpoint holds {found}-byte scalars but this network uses {expected}-byte scalars"
            ),
            CheckpointError::Shape {
                section,
                expected,
                found,
            } => write!(f, "the checkpoint's {section} hold {found} values but {expected} were expected"),
            CheckpointError::NonFinite { section } => {
                write!(f, "the checkpoint's {section} hold NaN or infinity")
            }
            CheckpointError::Invalid { section } => write!(f, "the checkpoint's {section} hold an invalid value"),
            CheckpointError::TrailingBytes => write!(f, "the checkpoint has unexpected trailing bytes"),
        }
    }
}

impl std::error::Error for CheckpointError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CheckpointError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// FNV-1a, 64 bits.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// Builds a checkpoint in memory.
pub struct Writer {
    bytes: Vec<u8>,
}

impl Writer {
    /// Starts a checkpoint of scalars of type `T`.
    pub fn new<T: Scalar>() -> Self {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&VERSION.to_le_bytes());
        bytes.extend_from_slice(&(T::BYTES as u32).to_le_bytes());
        Writer { bytes }
    }

    /// Appends a `u64`.
    pub fn u64(&mut self, value: u64) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    /// Appends an `f64`.
    pub fn f64(&mut self, value: f64) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    /// Appends a length-prefixed run of scalars.
    pub fn scalars<T: Scalar>(&mut self, values: &[T]) {
        self.u64(values.len() as u64);
        self.raw_scalars(values);
    }

    /// Appends scalars without a length (the caller writes the count first).
    pub fn raw_scalars<T: Scalar>(&mut self, values: &[T]) {
        let start = self.bytes.len();
        self.bytes.resize(start + values.len() * T::BYTES, 0);
        for (v, out) in values
            .iter()
            .zip(self.bytes[start..].chunks_exact_mut(T::BYTES))
        {
            v.write_le(out);
        }
    }

    /// Appends the checksum and returns the finished bytes.
    pub fn finish(mut self) -> Vec<u8> {
        let checksum = fnv1a(&self.bytes);
        self.bytes.extend_from_slice(&checksum.to_le_bytes());
        self.bytes
    }
}

/// Reads a checkpoint's payload after checking magic, version, scalar size and checksum.
pub struct Reader<'a> {
    payload: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    /// Checks the container and returns a reader over its payload.
    pub fn open<T: Scalar>(bytes: &'a [u8]) -> Result<Self, CheckpointError> {
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(if bytes.len() < MAGIC.len() && MAGIC.starts_with(bytes) {
                CheckpointError::Truncated
            } else {
                CheckpointError::BadMagic
            });
        }
        if bytes.len() < 16 + 8 {
            return Err(CheckpointError::Truncated);
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        let (content, checksum) = bytes.split_at(bytes.len() - 8);
        if fnv1a(content) != u64::from_le_bytes(checksum.try_into().expect("8 bytes")) {
            // A known version with a bad checksum is damage; an unknown one may be newer.
            return Err(if version == VERSION {
                CheckpointError::Checksum
            } else {
                CheckpointError::UnsupportedVersion(version)
            });
        }
        if version != VERSION {
            return Err(CheckpointError::UnsupportedVersion(version));
        }
        let scalar = u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes"));
        if scalar != T::BYTES as u32 {
            return Err(CheckpointError::Scalar {
                expected: T::BYTES as u32,
                found: scalar,
            });
        }
        Ok(Reader {
            payload: &content[16..],
            position: 0,
        })
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], CheckpointError> {
        let end = self
            .position
            .checked_add(n)
            .ok_or(CheckpointError::Truncated)?;
        let bytes = self
            .payload
            .get(self.position..end)
            .ok_or(CheckpointError::Truncated)?;
        self.position = end;
        Ok(bytes)
    }

    /// Reads a `u64`.
    pub fn u64(&mut self) -> Result<u64, CheckpointError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    /// Reads an `f64`.
    pub fn f64(&mut self) -> Result<f64, CheckpointError> {
        Ok(f64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    /// Reads a length-prefixed run of exactly `expected` finite scalars.
    pub fn scalars<T: Scalar>(
        &mut self,
        section: &'static str,
        expected: usize,
    ) -> Result<Vec<T>, CheckpointError> {
        let found = self.u64()?;
        if found != expected as u64 {
            return Err(CheckpointError::Shape {
                section,
                expected: expected as u64,
                found,
            });
        }
        self.raw_scalars(section, expected)
    }

    /// Reads `count` finite scalars written without a length.
    pub fn raw_scalars<T: Scalar>(
        &mut self,
        section: &'static str,
        count: usize,
    ) -> Result<Vec<T>, CheckpointError> {
        let bytes = self.take(
            count
                .checked_mul(T::BYTES)
                .ok_or(CheckpointError::Truncated)?,
        )?;
        let values: Vec<T> = bytes.chunks_exact(T::BYTES).map(T::read_le).collect();
        if values.iter().any(|v| !v.is_finite()) {
            return Err(CheckpointError::NonFinite { section });
        }
        Ok(values)
    }

    /// Checks that the whole payload was read.
    pub fn finish(self) -> Result<(), CheckpointError> {
        if self.position == self.payload.len() {
            Ok(())
        } else {
            Err(CheckpointError::TrailingBytes)
        }
    }
}

/// Writes `bytes` to `path` atomically: to a temporary file in the same directory,
/// flushed to disk, then renamed over `path`. If anything fails, `path` keeps its
/// previous content.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let io = |source| CheckpointError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut temporary = std::ffi::OsString::from(path.as_os_str());
    temporary.push(".tmp");
    let temporary = std::path::PathBuf::from(temporary);
    let result = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result.map_err(io)
}

/// Reads a whole file.
pub fn read(path: &Path) -> Result<Vec<u8>, CheckpointError> {
    std::fs::read(path).map_err(|source| CheckpointError::Io {
        path: path.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut w = Writer::new::<f32>();
        w.u64(7);
        w.f64(0.5);
        w.scalars(&[1.0f32, -2.0, 3.5]);
        w.finish()
    }

    #[test]
    fn round_trip() {
        let bytes = sample();
        let mut r = Reader::open::<f32>(&bytes).unwrap();
        assert_eq!(r.u64().unwrap(), 7);
        assert_eq!(r.f64().unwrap(), 0.5);
        assert_eq!(r.scalars::<f32>("parameters", 3).unwrap(), [1.0, -2.0, 3.5]);
        r.finish().unwrap();
    }

    #[test]
    fn every_truncation_and_every_flipped_byte_is_a_typed_error() {
        let bytes = sample();
        for len in 0..bytes.len() {
            let error = Reader::open::<f32>(&bytes[..len]).err();
            assert!(
                matches!(
                    error,
                    Some(
                        CheckpointError::Truncated
                            | CheckpointError::Checksum
                            | CheckpointError::BadMagic
                    )
                ),
                "length {len}: {error:?}"
            );
        }
        for i in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[i] ^= 0x10;
            assert!(
                Reader::open::<f32>(&damaged).is_err(),
                "flipped byte {i} accepted"
            );
        }
    }

    #[test]
    fn wrong_scalar_shape_and_trailing_data_are_reported() {
        let bytes = sample();
        assert!(matches!(
            Reader::open::<f64>(&bytes),
            Err(CheckpointError::Scalar {
                expected: 8,
                found: 4
            })
        ));
        let mut r = Reader::open::<f32>(&bytes).unwrap();
        r.u64().unwrap();
        r.f64().unwrap();
        assert!(matches!(
            r.scalars::<f32>("parameters", 4),
            Err(CheckpointError::Shape {
                expected: 4,
                found: 3,
                ..
            })
        ));
        let r = Reader::open::<f32>(&bytes).unwrap();
        assert!(matches!(r.finish(), Err(CheckpointError::TrailingBytes)));
        let mut w = Writer::new::<f32>();
        w.scalars(&[f32::NAN]);
        let bytes = w.finish();
        let mut r = Reader::open::<f32>(&bytes).unwrap();
        assert!(matches!(
            r.scalars::<f32>("parameters", 1),
            Err(CheckpointError::NonFinite { .. })
        ));
    }

    #[test]
    fn a_failed_save_keeps_the_previous_file() {
        let dir = std::env::temp_dir().join(std::format!("network-ckpt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("model.ckpt");
        write_atomically(&path, b"first").unwrap();
        // A directory where the temporary file should go makes the save fail.
        std::fs::create_dir_all(dir.join("model.ckpt.tmp")).unwrap();
        assert!(matches!(
            write_atomically(&path, b"second"),
            Err(CheckpointError::Io { .. })
        ));
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
