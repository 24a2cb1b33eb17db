//! A model summary like Keras' `summary()`, from the compile-time layer description: no
//! allocation, printable on a microcontroller through `core::fmt`.

use core::fmt;
use core::marker::PhantomData;

use crate::{LayerInfo, Network, Scalar};

/// The table `Display` prints for network `N` with a batch of `batch` samples and an
/// optimizer whose state takes `optimizer_bytes` (0 for SGD).
///
/// `network::summary` and the `network!` struct's `summary` method build it; it is
/// tested in the facade crate, where a network can be declared.
pub struct Summary<T, N, const IN: usize, const OUT: usize> {
    /// Samples per batch (the tape's size depends on it).
    pub batch: usize,
    /// Bytes of optimizer state.
    pub optimizer_bytes: usize,
    network: PhantomData<(T, N)>,
}

impl<T: Scalar, N: Network<T, IN, OUT>, const IN: usize, const OUT: usize> Summary<T, N, IN, OUT> {
    /// A summary for batches of `batch` with `optimizer_bytes` of optimizer state.
    pub fn new(batch: usize, optimizer_bytes: usize) -> Self {
        Self {
            batch,
            optimizer_bytes,
            network: PhantomData,
        }
    }

    /// Bytes of parameters.
    pub const PARAM_BYTES: usize = N::PARAMS * core::mem::size_of::<T>();

    /// Bytes of the training tape for this batch.
    pub fn tape_bytes(&self) -> usize {
        N::tape_bytes(self.batch)
    }

    /// Bytes of training memory: parameters, gradients, tape and optimizer state.
    pub fn training_bytes(&self) -> usize {
        2 * Self::PARAM_BYTES + self.tape_bytes() + self.optimizer_bytes
    }
}

impl<T: Scalar, N: Network<T, IN, OUT>, const IN: usize, const OUT: usize> fmt::Display
    for Summary<T, N, IN, OUT>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scalar = core::mem::size_of::<T>();
        writeln!(
            f,
            "{:<16} {:<22} {:>14} {:>10} {:>10}",
            "layer", "kind", "output shape", "params", "bytes"
        )?;
        writeln!(f, "{:-<76}", "")?;
        for LayerInfo {
            name,
            kind,
            inputs,
            outputs,
            params,
            activation,
            ..
        } in N::LAYERS
        {
            let shape = Shape(self.batch, *outputs);
            let params = *params;
            writeln!(
                f,
                "{:<16} {:<22} {:>14} {:>10} {:>10}",
                name,
                Kind(kind, *inputs, *outputs, activation),
                shape,
                params,
                params * scalar
            )?;
        }
        writeln!(f, "{:-<76}", "")?;
        writeln!(
            f,
            "parameters:      {:>10}  ({} bytes of {})",
            N::PARAMS,
            Self::PARAM_BYTES,
            T::NAME
        )?;
        writeln!(f, "gradients:       {:>10} bytes", Self::PARAM_BYTES)?;
        writeln!(
            f,
            "tape (batch {}): {:>10} bytes",
            self.batch,
            self.tape_bytes()
        )?;
        writeln!(f, "optimizer state: {:>10} bytes", self.optimizer_bytes)?;
        write!(f, "training total:  {:>10} bytes", self.training_bytes())
    }
}

/// `[B, n]`, padded as a whole.
struct Shape(usize, usize);

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buffer = Buffer::default();
        fmt::write(&mut buffer, format_args!("[{}, {}]", self.0, self.1))?;
        f.pad(buffer.as_str())
    }
}

/// `Dense(4->16)+Relu`, padded as a whole.
struct Kind<'a>(&'a str, usize, usize, &'a str);

impl fmt::Display for Kind<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buffer = Buffer::default();
        fmt::write(
            &mut buffer,
            format_args!("{}({}->{})", self.0, self.1, self.2),
        )?;
        if self.3 != "Identity" {
            fmt::write(&mut buffer, format_args!("+{}", self.3))?;
        }
        f.pad(buffer.as_str())
    }
}

/// A fixed-size text buffer, so that padding works without allocation.
struct Buffer {
    bytes: [u8; 64],
    len: usize,
}

impl Default for Buffer {
    fn default() -> Self {
        Self {
            bytes: [0; 64],
            len: 0,
        }
    }
}

impl Buffer {
    fn as_str(&self) -> &str {
        core::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}

impl fmt::Write for Buffer {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        if end > self.bytes.len() {
            return Err(fmt::Error);
        }
        self.bytes[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}
