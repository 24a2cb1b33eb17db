//! A network's architecture as data: the steps of its forward pass in declaration order,
//! with every size and option resolved (named constants included). `network!` writes it
//! as [`Network::ARCHITECTURE`](crate::Network::ARCHITECTURE); code that reproduces a
//! declared network elsewhere reads it, such as [`crate::pytorch`], which writes the
//! equivalent `torch.nn.Module`.

use crate::{ConvGeometry, PoolGeometry};

/// An activation applied element-wise (`Softmax`: over each sample's values).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ActivationOp {
    /// `max(x, 0)`.
    Relu,
    /// `x` if `x >= 0` else `slope * x`.
    LeakyRelu(f64),
    /// `x` if `x > 0` else `alpha * (e^x - 1)`.
    Elu(f64),
    /// Exact GELU (erf).
    Gelu,
    /// `ln(1 + e^x)`.
    Softplus,
    /// The logistic function.
    Sigmoid,
    /// The hyperbolic tangent.
    Tanh,
    /// Softmax over all values of a sample.
    Softmax,
}

/// One step of the forward pass.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    /// `y = W x + b`, `W` is `[outputs, inputs]`; a shaped input is read flattened.
    Dense {
        /// The layer's name (its tensors are `name.weight`, `name.bias`).
        name: &'static str,
        /// Inputs per sample.
        inputs: usize,
        /// Outputs per sample (per step when `per_step`).
        outputs: usize,
        /// Applied to every step of a sequence (`inputs` and `outputs` are then per step).
        per_step: bool,
    },
    /// A convolution; `one_d` for `Conv1d` (the geometry's height is then 1).
    Conv {
        /// The layer's name.
        name: &'static str,
        /// Shapes, kernel, stride, padding, dilation and groups.
        geometry: ConvGeometry,
        /// `Conv1d` rather than `Conv2d`.
        one_d: bool,
        /// Whether the layer has a bias.
        bias: bool,
    },
    /// Max pooling.
    MaxPool {
        /// The layer's name (`pool1`, ... when unnamed).
        name: &'static str,
        /// Shapes, window, stride and padding.
        geometry: PoolGeometry,
        /// `MaxPool1d` rather than `MaxPool2d`.
        one_d: bool,
    },
    /// Average pooling, padding included in the count.
    AvgPool {
        /// The layer's name.
        name: &'static str,
        /// Shapes, window, stride and padding.
        geometry: PoolGeometry,
        /// `AvgPool1d` rather than `AvgPool2d`.
        one_d: bool,
    },
    /// The mean of each channel of a `[C, ...]` value: `[C]`.
    GlobalAvgPool {
        /// The layer's name.
        name: &'static str,
        /// Channels.
        channels: usize,
    },
    /// A GRU or LSTM over a sequence `[steps, features]`: `[steps, hidden]`, or the last
    /// step's `[hidden]`.
    Recurrent {
        /// The layer's name (tensors `name.weight_ih_l0`, ...).
        name: &'static str,
        /// `Lstm` rather than `Gru`.
        lstm: bool,
        /// Time steps.
        steps: usize,
        /// Features per step.
        features: usize,
        /// Hidden units.
        hidden: usize,
        /// Only the last step's output.
        last: bool,
    },
    /// Batch normalization per feature (`[F]`) or per channel (`[C, ...]`).
    BatchNorm {
        /// The layer's name.
        name: &'static str,
        /// Features or channels.
        channels: usize,
        /// Dimensions after the channels: 0 for a vector, 1 for `[C, L]`, 2 for `[C, H, W]`.
        spatial: usize,
    },
    /// Layer normalization over all values of a sample.
    LayerNorm {
        /// The layer's name.
        name: &'static str,
        /// Values per sample.
        features: usize,
    },
    /// Inverted dropout in training, identity at inference.
    Dropout {
        /// The layer's name (`dropout1`, ... when unnamed).
        name: &'static str,
        /// The probability of dropping a value.
        p: f64,
    },
    /// An activation of the value so far.
    Activation(ActivationOp),
    /// The value becomes a vector of all its values (no computation).
    Flatten,
    /// The two dimensions swap: `[a, b]` to `[b, a]`.
    Transpose,
    /// A residual block starts: its input is kept to be added to its body's output.
    ResidualBegin {
        /// The block's name.
        name: &'static str,
    },
    /// The residual block `name` ends: its body's output plus its input.
    ResidualEnd {
        /// The block's name.
        name: &'static str,
    },
}

/// The most dimensions a value has: `[C, H, W]`.
pub const MAX_DIMS: usize = 3;

/// A per-sample shape: `[F]`, `[C, L]` or `[C, H, W]` (the first `len` of `dims`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// The dimensions; unused ones are 1.
    pub dims: [usize; MAX_DIMS],
    /// How many dimensions there are (1 to 3).
    pub len: usize,
}

impl Shape {
    /// A shape from its dimensions (at most [`MAX_DIMS`]; extra ones are ignored).
    pub fn new(dims: &[usize]) -> Self {
        let mut shape = Shape {
            dims: [1; MAX_DIMS],
            len: dims.len().clamp(1, MAX_DIMS),
        };
        for (d, v) in shape.dims.iter_mut().zip(dims) {
            *d = *v;
        }
        shape
    }

    /// The dimensions.
    pub fn dims(&self) -> &[usize] {
        &self.dims[..self.len]
    }

    /// Values per sample.
    pub fn values(&self) -> usize {
        self.dims().iter().product()
    }

    /// The shape after `op` (a residual block's end keeps the shape its body produced,
    /// which the macro checked to be the block's input shape).
    pub fn after(self, op: &Op) -> Shape {
        let spatial = |channels: usize, h: usize, w: usize, one_d: bool| {
            if one_d {
                Shape::new(&[channels, w])
            } else {
                Shape::new(&[channels, h, w])
            }
        };
        match *op {
            Op::Dense {
                outputs,
                per_step: true,
                ..
            } => Shape::new(&[self.dims[0], outputs]),
            Op::Dense { outputs, .. } => Shape::new(&[outputs]),
            Op::Conv {
                geometry: g, one_d, ..
            } => spatial(g.out_channels, g.out_height(), g.out_width(), one_d),
            Op::MaxPool {
                geometry: g, one_d, ..
            }
            | Op::AvgPool {
                geometry: g, one_d, ..
            } => spatial(g.channels, g.out_height(), g.out_width(), one_d),
            Op::GlobalAvgPool { channels, .. } => Shape::new(&[channels]),
            Op::Recurrent {
                steps,
                hidden,
                last,
                ..
            } => {
                if last {
                    Shape::new(&[hidden])
                } else {
                    Shape::new(&[steps, hidden])
                }
            }
            Op::Flatten => Shape::new(&[self.values()]),
            Op::Transpose => Shape::new(&[self.dims[1], self.dims[0]]),
            _ => self,
        }
    }
}
