//! The contracts between generated networks and everything written once in the core.

use nalgebra::SMatrix;

use crate::{Rng, Scalar};

/// What a tensor is; regularizers and weight decay apply to weights only unless told
/// otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    /// A weight matrix.
    Weight,
    /// A bias vector.
    Bias,
    /// The scale or shift of a normalization layer (treated like a bias by decay).
    Norm,
    /// A non-trainable buffer (batch norm's running statistics).
    Buffer,
}

/// One trainable tensor of a network, as the parameter visitor reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParamInfo {
    /// PyTorch-style name: `"<layer>.weight"` or `"<layer>.bias"`.
    pub name: &'static str,
    /// The name in a PyTorch module that nests each `Residual` block as a submodule of
    /// that name: `"<block>.<layer>.weight"` inside a block, else the same as `name`.
    pub nested: &'static str,
    /// Weight or bias.
    pub kind: ParamKind,
    /// The layer the tensor belongs to.
    pub layer: &'static str,
    /// Shape in PyTorch's convention: `[out, in]` for a weight, `[out]` for a bias.
    /// The slice the visitor hands out is nalgebra's column-major storage of that shape.
    pub shape: &'static [usize],
    /// Position of the tensor's first scalar in the network's flat parameter order.
    pub offset: usize,
    /// Number of scalars.
    pub len: usize,
}

/// One declared layer and the activation that follows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerInfo {
    /// The layer's name as declared.
    pub name: &'static str,
    /// The layer's kind (`"Dense"`).
    pub kind: &'static str,
    /// Inputs per sample.
    pub inputs: usize,
    /// Outputs per sample.
    pub outputs: usize,
    /// Trainable scalars.
    pub params: usize,
    /// The activation applied to its output (`"Identity"` when none is declared).
    pub activation: &'static str,
    /// The initialization scheme its weights are drawn from by `random`.
    pub init: crate::Init,
}

/// A parameter set: the network itself, and any value shaped like it (its gradient).
///
/// Optimizers, gradient statistics, clipping and weight I/O are written once over this
/// visitor. The visitor goes through the tensors in declaration order, weight before
/// bias, and `ParamInfo::offset` numbers their scalars consecutively.
pub trait Params<T: Scalar>: Sized {
    /// Total trainable scalars.
    const PARAMS: usize;
    /// Every trainable tensor, in visiting order.
    const PARAM_INFO: &'static [ParamInfo];

    /// Non-trainable buffer scalars (batch norm's running statistics).
    const BUFFERS: usize = 0;
    /// Every buffer, in visiting order (offsets count from 0 among buffers).
    const BUFFER_INFO: &'static [ParamInfo] = &[];

    /// A value with every parameter zero (the starting point of a gradient).
    fn zeros() -> Self;

    /// Tensor number `index` (in [`PARAM_INFO`](Self::PARAM_INFO) order); empty if out
    /// of range. With [`tensor_mut`](Self::tensor_mut) this lets an optimizer walk
    /// parameters, gradients and its parameter-shaped state side by side.
    fn tensor(&self, index: usize) -> &[T];

    /// Tensor number `index`, mutably; empty if out of range.
    fn tensor_mut(&mut self, index: usize) -> &mut [T];

    /// Calls `f` with every tensor.
    fn for_each_param<F: FnMut(&ParamInfo, &[T])>(&self, f: F);

    /// Calls `f` with every tensor, mutably.
    fn for_each_param_mut<F: FnMut(&ParamInfo, &mut [T])>(&mut self, f: F);

    /// Calls `f` with every tensor of `self` (mutably) beside the same tensor of
    /// `other`: an optimizer updates parameters from gradients this way.
    fn zip_params_mut<F: FnMut(&ParamInfo, &mut [T], &[T])>(&mut self, other: &Self, f: F);

    /// Calls `f` with every buffer (not trained; saved with the weights).
    fn for_each_buffer<F: FnMut(&ParamInfo, &[T])>(&self, _f: F) {}

    /// Calls `f` with every buffer, mutably.
    fn for_each_buffer_mut<F: FnMut(&ParamInfo, &mut [T])>(&mut self, _f: F) {}

    /// The layers that count their training batches (batch norm's
    /// `num_batches_tracked`), in visiting order.
    const COUNTERS: &'static [&'static str] = &[];

    /// Calls `f` with every batch counter's layer and value.
    fn for_each_counter<F: FnMut(&'static str, u64)>(&self, _f: F) {}

    /// Calls `f` with every batch counter's layer, mutably.
    fn for_each_counter_mut<F: FnMut(&'static str, &mut u64)>(&mut self, _f: F) {}

    /// Sets every parameter to zero (clears a gradient between steps).
    fn set_zero(&mut self) {
        self.for_each_param_mut(|_, values| values.fill(T::zero()));
    }

    /// Whether every parameter is finite (no NaN, no infinity).
    fn is_finite(&self) -> bool {
        let mut finite = true;
        self.for_each_param(|_, values| finite &= crate::kernels::all_finite(values));
        finite
    }
}

/// A network mapping `IN` inputs to `OUT` outputs, generated by `network!`.
///
/// Batches are matrices whose `B` columns are samples; a single sample is `B = 1`
/// (`SVector<T, IN>` is `SMatrix<T, IN, 1>`). Gradients accumulate into a value of the
/// network's own type (see [`Params`]).
pub trait Network<T: Scalar, const IN: usize, const OUT: usize>: Params<T> {
    /// The activations a training forward pass records for a batch of `B`: each layer's
    /// output after its activation, and nothing else. It does not copy the input; pass
    /// the same input to `backward`.
    type Tape<const B: usize>;

    /// Whether outputs depend on the other samples of a batch in training (batch
    /// normalization): such a network must not be trained on batches of one.
    const BATCH_DEPENDENT: bool = false;

    /// Whether training draws random numbers (dropout).
    const STOCHASTIC: bool = false;

    /// Bytes of the tape for a batch of `batch` samples (`size_of::<Self::Tape<B>>()`
    /// for `B = batch`).
    fn tape_bytes(batch: usize) -> usize;

    /// One entry per declared layer.
    const LAYERS: &'static [LayerInfo];

    /// The struct's name as declared (`"Iris"`).
    const NAME: &'static str = "Network";

    /// The per-sample input shape: `[IN]`, or the declared `Input<C, L>` /
    /// `Input<C, H, W>`.
    const INPUT_SHAPE: &'static [usize] = &[IN];

    /// The forward pass as data, every size resolved: what [`crate::pytorch`] turns into
    /// an equivalent PyTorch module. Empty for networks not written by `network!`.
    const ARCHITECTURE: &'static [crate::arch::Op] = &[];

    /// Draws every weight from its layer's initialization scheme (He before ReLU-family
    /// activations, Xavier otherwise, unless the declaration overrides it) and zeroes the
    /// biases.
    fn initialize(&mut self, rng: &mut Rng);

    /// A randomly initialized network (see [`initialize`](Self::initialize)).
    fn random(rng: &mut Rng) -> Self {
        let mut net = Self::zeros();
        net.initialize(rng);
        net
    }

    /// A zeroed tape for batches of `B`.
    fn new_tape<const B: usize>() -> Self::Tape<B>;

    /// Calls `f` with each layer's recorded output (after its activation), in
    /// declaration order: nalgebra's column-major storage of a `[outputs, B]` matrix,
    /// one column per sample. Diagnostics read activations through it (dead units, the
    /// layer where NaN first appeared).
    fn for_each_output<const B: usize, F: FnMut(&LayerInfo, &[T])>(tape: &Self::Tape<B>, f: F);

    /// Inference: the outputs for a batch, recording nothing.
    fn forward<const B: usize>(&self, x: &SMatrix<T, IN, B>) -> SMatrix<T, OUT, B>;

    /// The predicted class of each sample (column): the largest output, or, with one
    /// output (a binary classifier's logit), 1 when it is positive.
    fn predict<const B: usize>(&self, x: &SMatrix<T, IN, B>) -> [usize; B] {
        let out = self.forward(x);
        core::array::from_fn(|j| {
            let column = &out.as_slice()[j * OUT..(j + 1) * OUT];
            match column {
                [logit] => usize::from(*logit > T::zero()),
                _ => crate::argmax(column),
            }
        })
    }

    /// Class probabilities of each sample: the softmax of the outputs, or, with one
    /// output, the sigmoid of the logit (the probability of class 1). A network that
    /// already ends in `Softmax` (or `Sigmoid`, with one output) gives its outputs as
    /// they are.
    fn predict_proba<const B: usize>(&self, x: &SMatrix<T, IN, B>) -> SMatrix<T, OUT, B> {
        let mut out = self.forward(x);
        let last = Self::LAYERS.last().map_or("Identity", |l| l.activation);
        match (OUT, last) {
            (_, "Softmax") | (1, "Sigmoid") => {}
            (1, _) => crate::activation::Activation::forward(&crate::activation::Sigmoid, &mut out),
            _ => out = crate::activation::softmax(&out),
        }
        out
    }

    /// Training forward pass: records activations on `tape` and returns the outputs
    /// (which live on the tape). Training mode is this method: batch normalization
    /// uses the batch's statistics and moves its running estimates (hence `&mut self`;
    /// parameters are not touched), and dropout draws its masks from `rng`.
    /// [`forward`](Self::forward) is inference mode; there is no flag to forget.
    fn forward_train<'t, const B: usize>(
        &mut self,
        x: &SMatrix<T, IN, B>,
        tape: &'t mut Self::Tape<B>,
        rng: &mut Rng,
    ) -> &'t SMatrix<T, OUT, B>;

    /// Whether [`forward_train_shared`](Self::forward_train_shared) is available: `true`
    /// for every network `network!` generates without batch normalization.
    const SHARED_TRAINING: bool = false;

    /// [`forward_train`](Self::forward_train) through a shared reference, for networks
    /// whose training pass changes nothing in them (no batch normalization): several
    /// threads can then train on one copy of the weights, each with its own tape
    /// (`network::parallel` does). `None` when the network cannot
    /// ([`SHARED_TRAINING`](Self::SHARED_TRAINING) is `false`, the default).
    fn forward_train_shared<'t, const B: usize>(
        &self,
        x: &SMatrix<T, IN, B>,
        tape: &'t mut Self::Tape<B>,
        rng: &mut Rng,
    ) -> Option<&'t SMatrix<T, OUT, B>> {
        let _ = (x, tape, rng);
        None
    }

    /// Backward pass: given the input and tape of the last `forward_train` and
    /// `d_out = dL/d(output)`, adds `dL/d(parameters)` to `grads`. The input gradient is
    /// not computed.
    fn backward<const B: usize>(
        &self,
        x: &SMatrix<T, IN, B>,
        tape: &Self::Tape<B>,
        d_out: &SMatrix<T, OUT, B>,
        grads: &mut Self,
    );

    /// As [`backward`](Self::backward), but writes `dL/d(parameters)` into `grads`
    /// instead of adding: what `grads` held is never read, so it needs no clearing
    /// before each step (one pass less over a gradient the size of the network, and
    /// the batch products store their results without loading the old ones). The bits
    /// are those of `backward` into zeroed gradients. The default clears and calls
    /// `backward`; `network!` generates a pass that writes each gradient directly.
    fn backward_overwrite<const B: usize>(
        &self,
        x: &SMatrix<T, IN, B>,
        tape: &Self::Tape<B>,
        d_out: &SMatrix<T, OUT, B>,
        grads: &mut Self,
    ) {
        grads.set_zero();
        self.backward(x, tape, d_out, grads);
    }

    /// As [`backward`](Self::backward), and also writes `dL/dx` into `d_x` (for a network
    /// that feeds on another one, or for saliency).
    fn backward_with_input_grad<const B: usize>(
        &self,
        x: &SMatrix<T, IN, B>,
        tape: &Self::Tape<B>,
        d_out: &SMatrix<T, OUT, B>,
        grads: &mut Self,
        d_x: &mut SMatrix<T, IN, B>,
    );

    /// Backward pass fused with a plain SGD update (`p -= lr * dL/dp`): the same result
    /// as `backward` into zeroed gradients followed by [`Sgd::step`](crate::optim::Sgd),
    /// without a gradient buffer. This is the lean path for on-device training: it saves
    /// `size_of::<Self>()` bytes of RAM and a pass over the weights. Each layer's input
    /// gradient is computed before its weights change.
    fn backward_sgd<const B: usize>(
        &mut self,
        x: &SMatrix<T, IN, B>,
        tape: &Self::Tape<B>,
        d_out: &SMatrix<T, OUT, B>,
        lr: T,
    );
}
