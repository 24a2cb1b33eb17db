//! The raw format of a quantized network, for `no_std` and flash: written with
//! [`QuantWriter`] (the generated `NetInt8::to_raw`), read at compile time or at run time
//! with [`QuantReader`]'s `const fn`s (the generated `NetInt8::from_raw`), so that
//! `static NET: NetInt8 = match NetInt8::from_raw(include_bytes!("net.q8")) { .. }`
//! keeps the whole quantized network in flash (`.rodata`), checked by the compiler.
//!
//! Layout (all integers little-endian, reals as `f64` bit patterns):
//!
//! | bytes | field |
//! |---|---|
//! | 4 | magic `NETQ` |
//! | 2 | format version (1) |
//! | 1 | layer count `n` |
//! | 1 | reserved, 0 |
//! | 12 | the input's quantization: scale `f64`, zero point `i32` |
//! | per layer | kind `u8` (1 = dense, 2 = convolution), fused ReLU `u8` (0 or 1), 2 reserved bytes; inputs `I` `u32` (a convolution: its filter length `K`), outputs `O` `u32` (a convolution: its output channels); input and output quantization (12 bytes each); `O * I` weights `i8` (output channel `o`'s `I` weights together); `O` biases `i32`; `O` multipliers (`i32` mantissa, `i32` shift) |
//!
//! Pooling layers have no parameters and no record: the declaration fixes them.
//! | 4 | FNV-1a 32 checksum of everything before it |
//!
//! Reading checks the size, magic, version, layer count, every layer's kind and shape,
//! every scale (finite, positive), zero point (`-128..=127`), multiplier (`0` or in
//! `[2^30, 2^31)` with a shift in `-31..=30`) and the checksum.

use core::fmt;

use nalgebra::{ArrayStorage, SMatrix, SVector};

use super::{ActivationQuant, ConvInt8, DenseInt8, QuantizedMultiplier};

const MAGIC: &[u8; 4] = b"NETQ";
const VERSION: u16 = 1;
/// Magic, version, count, reserved and the input's quantization.
pub const HEADER_BYTES: usize = 8 + 12;
/// The checksum at the end.
pub const CHECKSUM_BYTES: usize = 4;

/// Why a quantized network could not be written or read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuantRawError {
    /// The buffer is shorter than the format needs.
    TooShort {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        found: usize,
    },
    /// Bytes are left after the last layer's checksum.
    TrailingBytes,
    /// The data is not a quantized network.
    BadMagic,
    /// An unknown format version.
    UnsupportedVersion(u16),
    /// A reserved byte is not 0.
    Reserved,
    /// Another number of layers.
    LayerCount {
        /// This network's.
        expected: u8,
        /// The data's.
        found: u8,
    },
    /// Layer `layer` (counted from 0) is of another kind or shape.
    Layer {
        /// The layer's position.
        layer: usize,
        /// This network's `[kind, inputs, outputs]`.
        expected: [u32; 3],
        /// The data's.
        found: [u32; 3],
    },
    /// A scale that is not finite and positive, a zero point outside `-128..=127`, a
    /// multiplier outside its range or a flag other than 0 or 1, in layer `layer`
    /// (`None`: the input).
    BadValue {
        /// The layer's position, if any.
        layer: Option<usize>,
    },
    /// The data does not match its checksum.
    Checksum,
}

impl fmt::Display for QuantRawError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort { needed, found } => write!(
                f,
                "a quantized network needs {needed} bytes but {found} were given"
            ),
            Self::TrailingBytes => write!(f, "unexpected bytes after the quantized network"),
            Self::BadMagic => write!(f, "not a quantized network (bad magic bytes)"),
            Self::UnsupportedVersion(v) => {
                write!(f, "unsupported quantized network version {v}")
            }
            Self::Reserved => write!(f, "a reserved byte of the quantized network is not 0"),
            Self::LayerCount { expected, found } => write!(
                f,
                "the data holds {found} quantized layers but this network has {expected}"
            ),
            Self::Layer {
                layer,
                expected,
                found,
            } => write!(
                f,
                "quantized layer {layer} is kind {} with {} inputs and {} outputs in the data but kind {} with {} inputs and {} outputs in this network",
                found[0], found[1], found[2], expected[0], expected[1], expected[2]
            ),
            Self::BadValue { layer: None } => {
                write!(f, "the input's quantization is out of range")
            }
            Self::BadValue { layer: Some(k) } => {
                write!(f, "quantized layer {k} holds a value out of range")
            }
            Self::Checksum => write!(f, "the quantized network is corrupted (checksum mismatch)"),
        }
    }
}

impl core::error::Error for QuantRawError {}

/// FNV-1a 32 of `bytes[..len]`, usable in constants.
const fn fnv1a32(bytes: &[u8], len: usize) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    let mut i = 0;
    while i < len {
        hash ^= bytes[i] as u32;
        hash = hash.wrapping_mul(0x0100_0193);
        i += 1;
    }
    hash
}

/// The bytes of a layer's record with `outputs` channels of `inputs` weights each (a
/// convolution: its output channels and filter length).
pub const fn dense_bytes(inputs: usize, outputs: usize) -> usize {
    4 + 8 + 24 + outputs * inputs + 12 * outputs
}

/// Reads a quantized network from bytes, front to back, in `const fn`s (the generated
/// `from_raw` calls them; usable in a `static`'s initializer).
#[derive(Clone, Copy, Debug)]
pub struct QuantReader<'a> {
    bytes: &'a [u8],
    at: usize,
    layer: usize,
}

/// `Err` out of a `const fn` (no `?` in constants).
macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Err(e),
        }
    };
}

impl<'a> QuantReader<'a> {
    /// Checks the header, the size (`len`, the generated network's `RAW_LEN`), the
    /// layer count and the checksum.
    pub const fn new(bytes: &'a [u8], len: usize, layers: u8) -> Result<Self, QuantRawError> {
        if bytes.len() < HEADER_BYTES + CHECKSUM_BYTES {
            return Err(QuantRawError::TooShort {
                needed: len,
                found: bytes.len(),
            });
        }
        if bytes[0] != MAGIC[0]
            || bytes[1] != MAGIC[1]
            || bytes[2] != MAGIC[2]
            || bytes[3] != MAGIC[3]
        {
            return Err(QuantRawError::BadMagic);
        }
        let version = u16::from_le_bytes([bytes[4], bytes[5]]);
        if version != VERSION {
            return Err(QuantRawError::UnsupportedVersion(version));
        }
        if bytes[6] != layers {
            return Err(QuantRawError::LayerCount {
                expected: layers,
                found: bytes[6],
            });
        }
        if bytes[7] != 0 {
            return Err(QuantRawError::Reserved);
        }
        if bytes.len() < len {
            return Err(QuantRawError::TooShort {
                needed: len,
                found: bytes.len(),
            });
        }
        if bytes.len() > len {
            return Err(QuantRawError::TrailingBytes);
        }
        let stored = u32::from_le_bytes([
            bytes[len - 4],
            bytes[len - 3],
            bytes[len - 2],
            bytes[len - 1],
        ]);
        if stored != fnv1a32(bytes, len - 4) {
            return Err(QuantRawError::Checksum);
        }
        Ok(Self {
            bytes,
            at: 8,
            layer: 0,
        })
    }

    const fn u32(&mut self) -> u32 {
        let b = self.bytes;
        let a = self.at;
        self.at += 4;
        u32::from_le_bytes([b[a], b[a + 1], b[a + 2], b[a + 3]])
    }

    const fn i32(&mut self) -> i32 {
        self.u32() as i32
    }

    const fn byte(&mut self) -> u8 {
        self.at += 1;
        self.bytes[self.at - 1]
    }

    /// A scale and a zero point, checked (`layer` for the error).
    const fn activation(&mut self, layer: Option<usize>) -> Result<ActivationQuant, QuantRawError> {
        let low = self.u32() as u64;
        let high = self.u32() as u64;
        let scale = f64::from_bits(low | high << 32);
        let zero_point = self.i32();
        if !(scale.is_finite() && scale > 0.0) || zero_point < -128 || zero_point > 127 {
            return Err(QuantRawError::BadValue { layer });
        }
        Ok(ActivationQuant { scale, zero_point })
    }

    /// The input's quantization (first, after the header).
    pub const fn input(&mut self) -> Result<ActivationQuant, QuantRawError> {
        self.activation(None)
    }

    /// The next layer, a dense one with `I` inputs and `O` outputs.
    pub const fn dense<const I: usize, const O: usize>(
        &mut self,
    ) -> Result<DenseInt8<I, O>, QuantRawError> {
        let (weight, bias, multipliers, input, output, relu) = tri!(self.record::<I, O>(1));
        Ok(DenseInt8 {
            weight,
            bias,
            multipliers,
            input,
            output,
            relu,
        })
    }

    /// The next layer, a convolution with `O` output channels of `K` weights each.
    pub const fn conv<const O: usize, const K: usize>(
        &mut self,
    ) -> Result<ConvInt8<O, K>, QuantRawError> {
        let (weight, bias, multipliers, input, output, relu) = tri!(self.record::<K, O>(2));
        Ok(ConvInt8 {
            weight,
            bias,
            multipliers,
            input,
            output,
            relu,
        })
    }

    /// A layer record of `kind` with `O` channels of `I` weights.
    #[allow(clippy::type_complexity)] // the record's fields, in order
    const fn record<const I: usize, const O: usize>(
        &mut self,
        expected_kind: u8,
    ) -> Result<
        (
            SMatrix<i8, I, O>,
            SVector<i32, O>,
            [QuantizedMultiplier; O],
            ActivationQuant,
            ActivationQuant,
            bool,
        ),
        QuantRawError,
    > {
        let layer = self.layer;
        self.layer += 1;
        let kind = self.byte();
        let relu = self.byte();
        let reserved = (self.byte(), self.byte());
        let (inputs, outputs) = (self.u32(), self.u32());
        if kind != expected_kind || inputs as usize != I || outputs as usize != O {
            return Err(QuantRawError::Layer {
                layer,
                expected: [expected_kind as u32, I as u32, O as u32],
                found: [kind as u32, inputs, outputs],
            });
        }
        if relu > 1 || reserved.0 != 0 || reserved.1 != 0 {
            return Err(QuantRawError::BadValue { layer: Some(layer) });
        }
        let input = tri!(self.activation(Some(layer)));
        let output = tri!(self.activation(Some(layer)));
        let mut weight = [[0i8; I]; O];
        let mut o = 0;
        while o < O {
            let mut i = 0;
            while i < I {
                weight[o][i] = self.byte() as i8;
                i += 1;
            }
            o += 1;
        }
        let mut bias = [0i32; O];
        let mut o = 0;
        while o < O {
            bias[o] = self.i32();
            o += 1;
        }
        let mut multipliers = [QuantizedMultiplier {
            multiplier: 0,
            shift: 0,
        }; O];
        let mut o = 0;
        while o < O {
            let (multiplier, shift) = (self.i32(), self.i32());
            let zero = multiplier == 0 && shift == 0;
            if !zero && (multiplier < 1 << 30 || shift < -31 || shift > 30) {
                return Err(QuantRawError::BadValue { layer: Some(layer) });
            }
            multipliers[o] = QuantizedMultiplier { multiplier, shift };
            o += 1;
        }
        Ok((
            SMatrix::from_array_storage(ArrayStorage(weight)),
            SVector::from_array_storage(ArrayStorage([bias])),
            multipliers,
            input,
            output,
            relu == 1,
        ))
    }
}

/// Writes a quantized network: the header, then each layer in order, then
/// [`QuantWriter::finish`] for the checksum.
#[derive(Debug)]
pub struct QuantWriter<'a> {
    out: &'a mut [u8],
    at: usize,
}

impl<'a> QuantWriter<'a> {
    /// Starts a network of `layers` layers and `len` bytes (the generated `RAW_LEN`)
    /// into `out`, with the input's quantization.
    pub fn new(
        out: &'a mut [u8],
        len: usize,
        layers: u8,
        input: ActivationQuant,
    ) -> Result<Self, QuantRawError> {
        if out.len() < len {
            return Err(QuantRawError::TooShort {
                needed: len,
                found: out.len(),
            });
        }
        let mut writer = Self { out, at: 0 };
        writer.put(MAGIC);
        writer.put(&VERSION.to_le_bytes());
        writer.put(&[layers, 0]);
        writer.activation(input);
        Ok(writer)
    }

    fn put(&mut self, bytes: &[u8]) {
        self.out[self.at..self.at + bytes.len()].copy_from_slice(bytes);
        self.at += bytes.len();
    }

    fn activation(&mut self, q: ActivationQuant) {
        self.put(&q.scale.to_bits().to_le_bytes());
        self.put(&q.zero_point.to_le_bytes());
    }

    /// Appends a dense layer.
    pub fn dense<const I: usize, const O: usize>(&mut self, layer: &DenseInt8<I, O>) {
        self.record(
            1,
            layer.weight.as_slice(),
            (I, O),
            (layer.bias.as_slice(), &layer.multipliers),
            (layer.input, layer.output, layer.relu),
        );
    }

    /// Appends a convolution.
    pub fn conv<const O: usize, const K: usize>(&mut self, layer: &ConvInt8<O, K>) {
        self.record(
            2,
            layer.weight.as_slice(),
            (K, O),
            (layer.bias.as_slice(), &layer.multipliers),
            (layer.input, layer.output, layer.relu),
        );
    }

    fn record(
        &mut self,
        kind: u8,
        weights: &[i8],
        (inputs, outputs): (usize, usize),
        (bias, multipliers): (&[i32], &[QuantizedMultiplier]),
        (input, output, relu): (ActivationQuant, ActivationQuant, bool),
    ) {
        self.put(&[kind, u8::from(relu), 0, 0]);
        self.put(&(inputs as u32).to_le_bytes());
        self.put(&(outputs as u32).to_le_bytes());
        self.activation(input);
        self.activation(output);
        for &w in weights {
            self.put(&[w as u8]);
        }
        for b in bias {
            self.put(&b.to_le_bytes());
        }
        for m in multipliers {
            self.put(&m.multiplier.to_le_bytes());
            self.put(&m.shift.to_le_bytes());
        }
    }

    /// Appends the checksum; returns the bytes written.
    pub fn finish(mut self) -> usize {
        let checksum = fnv1a32(self.out, self.at);
        self.put(&checksum.to_le_bytes());
        self.at
    }
}
