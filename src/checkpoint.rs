//! A small binary container for checkpoints: magic, version, payload, checksum; written
//! atomically so that a failed save never destroys the previous file.
//!
//! Layout (all integers little-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 8 | magic `NETCKPT\0` |
//! | 4 | format version (2) |
//! | 4 | bytes per scalar (4 for f32, 8 for f64) |
//! | n | payload, written and read in the same order by [`Trainer`](crate::train::Trainer) |
//! | 8 | FNV-1a 64 checksum of everything before it |
//!
//! The trainer's payload starts with the network's tensor table (every parameter and
//! buffer by name and shape) and the optimizer's name, so that a checkpoint loads only
//! into the network and optimizer that wrote it: a 4-11-3 network's 91 values never load
//! into a 4-8-4-3 network's 91, nor Adam's state into RmsProp's. Every other field is
//! range-checked on loading (counts against each other, flags, finite metrics).
//!
//! The checksum catches truncation and corruption (a flipped bit, a partial copy), not
//! tampering; the range checks make an edited file with a valid checksum an error, never
//! a panic or an overflow later.

use std::fmt;
use std::io::Write;
use std::path::Path;
use std::string::{String, ToString};
use std::vec::Vec;

use crate::{ParamInfo, Scalar};

const MAGIC: &[u8; 8] = b"NETCKPT\0";
const VERSION: u32 = 3;

/// A tensor as a checkpoint records it: name and shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorDesc {
    /// PyTorch-style name, `hidden.weight`.
    pub name: String,
    /// Shape, `[16, 4]`.
    pub shape: Vec<usize>,
}

impl fmt::Display for TensorDesc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` {:?}", self.name, self.shape)
    }
}

impl From<&ParamInfo> for TensorDesc {
    fn from(info: &ParamInfo) -> Self {
        TensorDesc {
            name: info.name.to_string(),
            shape: info.shape.to_vec(),
        }
    }
}

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
    /// The checkpoint was saved from a network with other tensors: tensor `index` (in
    /// the order parameters, then buffers) differs in name or shape, or exists on one
    /// side only.
    Tensor {
        /// Position in the tensor table.
        index: usize,
        /// This network's tensor there, if it has one.
        expected: Option<TensorDesc>,
        /// The checkpoint's, if it has one.
        found: Option<TensorDesc>,
    },
    /// The checkpoint holds the state of another optimizer.
    Optimizer {
        /// This trainer's optimizer.
        expected: &'static str,
        /// The checkpoint's.
        found: String,
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
            CheckpointError::Tensor {
                index,
                expected,
                found,
            } => match (expected, found) {
                (Some(e), Some(f_)) => write!(
                    f,
                    "the checkpoint's tensor {index} is {f_} but this network's is {e}: it was saved from another network"
                ),
                (Some(e), None) => write!(
                    f,
                    "the checkpoint has no tensor {index} but this network has {e}: it was saved from another network"
                ),
                (None, Some(f_)) => write!(
                    f,
                    "the checkpoint has tensor {f_}, which this network does not have: it was saved from another network"
                ),
                (None, None) => write!(f, "the checkpoint's tensor table is invalid"),
            },
            CheckpointError::Optimizer { expected, found } => write!(
                f,
                "the checkpoint holds the state of optimizer `{found}` but this trainer uses `{expected}`"
            ),
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

    /// Appends a length-prefixed UTF-8 string.
    pub fn string(&mut self, value: &str) {
        self.u64(value.len() as u64);
        self.bytes.extend_from_slice(value.as_bytes());
    }

    /// Appends a tensor table: the count, then each tensor's name and shape.
    pub fn tensors<'i>(&mut self, tensors: impl Iterator<Item = &'i ParamInfo> + Clone) {
        self.u64(tensors.clone().count() as u64);
        for info in tensors {
            self.string(info.name);
            self.u64(info.shape.len() as u64);
            for &d in info.shape {
                self.u64(d as u64);
            }
        }
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

    /// Reads a length-prefixed UTF-8 string.
    pub fn string(&mut self, section: &'static str) -> Result<String, CheckpointError> {
        let len = usize::try_from(self.u64()?).map_err(|_| CheckpointError::Truncated)?;
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes)
            .map(str::to_string)
            .map_err(|_| CheckpointError::Invalid { section })
    }

    /// Reads a tensor table and checks that it is exactly `expected`, in order.
    pub fn expect_tensors<'i>(
        &mut self,
        expected: impl IntoIterator<Item = &'i ParamInfo>,
    ) -> Result<(), CheckpointError> {
        let count = self.u64()?;
        let mut expected = expected.into_iter();
        let mut index = 0usize;
        loop {
            let found = if (index as u64) < count {
                let name = self.string("tensor table")?;
                let rank = self.u64()?;
                // A rank no tensor has; also bounds the loop below.
                if rank > 8 {
                    return Err(CheckpointError::Invalid {
                        section: "tensor table",
                    });
                }
                let mut shape = Vec::new();
                for _ in 0..rank {
                    shape.push(usize::try_from(self.u64()?).map_err(|_| {
                        CheckpointError::Invalid {
                            section: "tensor table",
                        }
                    })?);
                }
                Some(TensorDesc { name, shape })
            } else {
                None
            };
            let wanted = expected.next().map(TensorDesc::from);
            if found.is_none() && wanted.is_none() {
                return Ok(());
            }
            if found != wanted {
                return Err(CheckpointError::Tensor {
                    index,
                    expected: wanted,
                    found,
                });
            }
            index += 1;
        }
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

/// Writes `bytes` to `path` atomically: to a temporary file of its own in the same
/// directory, flushed to disk, then renamed over `path` (and the directory flushed, on
/// Unix). If anything fails, `path` keeps its previous content.
///
/// Concurrent saves to one path, from threads or processes, never share a temporary
/// file (its name holds the process id and a per-process counter), so each one either
/// fails with an error or replaces `path` whole: a reader sees the previous file or one
/// of the new ones, never a mix, and the last rename wins. A temporary file left by a
/// process that was killed mid-save (`.<name>.<pid>.<n>.tmp`) is removed by the next
/// successful save to the same path once its process is gone (on Linux) or it is an hour
/// old (elsewhere).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    atomic_write(path, bytes).map_err(|source| CheckpointError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// [`write_atomically`] with the plain I/O error (the safetensors writer uses it too).
pub(crate) fn atomic_write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SAVES: AtomicU64 = AtomicU64::new(0);

    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file path"))?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let prefix = temporary_prefix(name);
    let mut temporary = prefix.clone();
    temporary.push(std::format!(
        "{}.{}.tmp",
        std::process::id(),
        SAVES.fetch_add(1, Ordering::Relaxed)
    ));
    let temporary = dir.join(temporary);
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temporary, path)?;
        // The rename itself reaches the disk when the directory is flushed.
        #[cfg(unix)]
        std::fs::File::open(dir)?.sync_all()?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    } else {
        remove_stale_temporaries(dir, &prefix);
    }
    result
}

/// `.<name>.`: the start of every temporary file name of saves to `name`.
fn temporary_prefix(name: &std::ffi::OsStr) -> std::ffi::OsString {
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(name);
    prefix.push(".");
    prefix
}

/// Removes temporary files of earlier saves to the same path whose process is gone
/// (Linux: no `/proc/<pid>`) or that are over an hour old. Best effort: errors are
/// ignored, a save in progress elsewhere is never touched.
fn remove_stale_temporaries(dir: &Path, prefix: &std::ffi::OsStr) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let prefix = prefix.to_string_lossy();
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let file_name = file_name.to_string_lossy();
        let Some(rest) = file_name
            .strip_prefix(&*prefix)
            .and_then(|rest| rest.strip_suffix(".tmp"))
        else {
            continue;
        };
        let Some((pid, counter)) = rest.split_once('.') else {
            continue;
        };
        let (Ok(pid), Ok(_)) = (pid.parse::<u32>(), counter.parse::<u64>()) else {
            continue;
        };
        let gone = cfg!(target_os = "linux")
            && pid != std::process::id()
            && !Path::new("/proc").join(pid.to_string()).exists();
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age.as_secs() > 3600);
        if gone || old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
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

    /// No save left a temporary file behind in `dir`.
    fn assert_no_temporaries(dir: &Path) {
        let leftovers: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn a_failed_save_keeps_the_previous_file() {
        let dir = std::env::temp_dir().join(std::format!("network-ckpt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("model.ckpt");
        write_atomically(&path, b"first").unwrap();
        // A directory where the file should go makes the rename fail.
        let blocked = dir.join("blocked");
        std::fs::create_dir_all(blocked.join("inside")).unwrap();
        assert!(matches!(
            write_atomically(&blocked, b"second"),
            Err(CheckpointError::Io { .. })
        ));
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        // The failed save's temporary file is gone.
        assert_no_temporaries(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn concurrent_saves_to_one_path_all_succeed_and_readers_see_whole_files() {
        let dir =
            std::env::temp_dir().join(std::format!("network-ckpt-race-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("model.ckpt");
        // Four writers of distinct, checksummed contents of different lengths, and a
        // reader; with one shared temporary name about 40% of saves failed.
        let content = |writer: u64, round: u64| {
            let mut w = Writer::new::<f32>();
            w.u64(writer);
            w.scalars(&std::vec![round as f32; (writer * 300 + round) as usize]);
            w.finish()
        };
        write_atomically(&path, &content(0, 0)).unwrap();
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            let reader = scope.spawn(|| {
                let mut reads = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let bytes = std::fs::read(&path).unwrap();
                    Reader::open::<f32>(&bytes).expect("a reader saw a torn file");
                    reads += 1;
                }
                reads
            });
            let writers: Vec<_> = (1..=4)
                .map(|writer| {
                    let path = &path;
                    scope.spawn(move || {
                        for round in 0..50 {
                            write_atomically(path, &content(writer, round)).unwrap();
                        }
                    })
                })
                .collect();
            for w in writers {
                w.join().unwrap();
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            assert!(reader.join().unwrap() > 0);
        });
        assert_no_temporaries(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn stale_temporaries_of_dead_processes_are_removed_by_the_next_save() {
        let dir =
            std::env::temp_dir().join(std::format!("network-ckpt-stale-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("model.ckpt");
        // Left by a process killed mid-save: pid 4000000000 does not exist. Another
        // file's temporary and an unrelated file stay.
        let stale = dir.join(".model.ckpt.4000000000.0.tmp");
        let other = dir.join(".other.ckpt.4000000000.0.tmp");
        let unrelated = dir.join("notes.tmp");
        for file in [&stale, &other, &unrelated] {
            std::fs::write(file, b"partial").unwrap();
        }
        write_atomically(&path, b"saved").unwrap();
        if cfg!(target_os = "linux") {
            assert!(!stale.exists());
        }
        assert!(other.exists() && unrelated.exists());
        assert_eq!(std::fs::read(&path).unwrap(), b"saved");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
