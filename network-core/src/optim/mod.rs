//! Optimizers, written once over the [`Params`] visitor, with PyTorch's
//! update rules and defaults. Their state (moments, accumulators) is held in values of
//! the network's own type, so its size is `size_of` of the optimizer: a compile-time
//! constant, with no allocation.
//!
//! Weight decay (`weight_decay`, coupled into the gradient as in PyTorch's `SGD`, `Adam`,
//! `RMSprop` and `Adagrad`, or decoupled as in `AdamW`) skips biases and normalization
//! scales and shifts unless `decay_bias` is set: decaying them pulls them toward zero for
//! no regularizing benefit.
//! (PyTorch decays every tensor unless you build parameter groups.)

mod adagrad;
mod adam;
mod momentum;
mod rmsprop;
mod sgd;

pub use adagrad::AdaGrad;
pub use adam::{Adam, AdamConfig};
pub use momentum::Momentum;
pub use rmsprop::{RmsProp, RmsPropConfig};
pub use sgd::Sgd;

use crate::{ParamKind, Params, Scalar};

/// An optimizer: updates parameters from their gradients.
pub trait Optimizer<T: Scalar, P: Params<T>> {
    /// The optimizer's name (`"Adam"`, `"Sgd"`, ...), stored in checkpoints so that one
    /// optimizer's state is never loaded into another whose state has the same size.
    const NAME: &'static str;

    /// The learning rate the next step uses.
    fn lr(&self) -> T;

    /// Changes the learning rate (a schedule calls this before each step).
    fn set_lr(&mut self, lr: T);

    /// Applies one update from `grads`.
    fn step(&mut self, params: &mut P, grads: &P);

    /// Steps taken so far (bias corrections depend on it).
    fn steps(&self) -> u64;

    /// Restores the step counter (when loading a checkpoint).
    fn set_steps(&mut self, steps: u64);

    /// Calls `f` with every state buffer's tensors, in a fixed order (for checkpoints).
    fn for_each_state<F: FnMut(&[T])>(&self, f: F);

    /// Calls `f` with every state buffer's tensors mutably, in the same order.
    fn for_each_state_mut<F: FnMut(&mut [T])>(&mut self, f: F);
}

/// An optimizer whose update of a value reads only that value, its gradient and its own
/// entries of the optimizer's state buffers: a step can be cut into ranges of values
/// updated in any order or on several threads at once, with the same results
/// (`network::parallel::DataParallel::step` does this). Every optimizer of this crate is
/// one, and its [`Optimizer::step`] is [`step_elementwise`]: the same code either way.
pub trait Elementwise<T: Scalar, P: Params<T>>: Optimizer<T, P> {
    /// What the updates of one step share: the learning rate, bias corrections.
    type Values: Copy + Send + Sync;

    /// The values the next step's updates share (computed once per step).
    fn step_values(&self) -> Self::Values;

    /// The state buffers, each shaped like the parameters (`None` past the last).
    fn states_mut(&mut self) -> [Option<&mut P>; 3];

    /// Updates `params`, values of tensor `index` (in [`Params::PARAM_INFO`] order), from
    /// `grads` and `states`: the same values of the gradient and of the state buffers
    /// (empty slices for buffers the optimizer does not have).
    fn update(
        values: &Self::Values,
        index: usize,
        params: &mut [T],
        grads: &[T],
        states: [&mut [T]; 3],
    );
}

/// One step of an [`Elementwise`] optimizer over every tensor, counted in its
/// [`steps`](Optimizer::steps).
pub fn step_elementwise<T, P, O>(optimizer: &mut O, params: &mut P, grads: &P)
where
    T: Scalar,
    P: Params<T>,
    O: Elementwise<T, P>,
{
    let values = optimizer.step_values();
    let [mut a, mut b, mut c] = optimizer.states_mut();
    for k in 0..P::PARAM_INFO.len() {
        let states: [&mut [T]; 3] = [
            a.as_deref_mut().map_or(&mut [], |s| s.tensor_mut(k)),
            b.as_deref_mut().map_or(&mut [], |s| s.tensor_mut(k)),
            c.as_deref_mut().map_or(&mut [], |s| s.tensor_mut(k)),
        ];
        O::update(&values, k, params.tensor_mut(k), grads.tensor(k), states);
    }
    let steps = optimizer.steps().saturating_add(1);
    optimizer.set_steps(steps);
}

/// The weight-decay factor for tensor `index`: `weight_decay`, or 0 for a bias unless
/// `decay_bias`.
#[inline]
fn decay_for<T: Scalar, P: Params<T>>(index: usize, weight_decay: T, decay_bias: bool) -> T {
    match P::PARAM_INFO.get(index).map(|i| i.kind) {
        Some(ParamKind::Bias | ParamKind::Norm) if !decay_bias => T::zero(),
        _ => weight_decay,
    }
}

/// Visits the tensors of each buffer in turn.
fn visit_buffers<T: Scalar, P: Params<T>, F: FnMut(&[T])>(buffers: &[&P], mut f: F) {
    for buffer in buffers {
        buffer.for_each_param(|_, values| f(values));
    }
}

/// Visits the tensors of each buffer in turn, mutably.
fn visit_buffers_mut<T: Scalar, P: Params<T>, F: FnMut(&mut [T])>(
    buffers: &mut [&mut P],
    mut f: F,
) {
    for buffer in buffers.iter_mut() {
        buffer.for_each_param_mut(|_, values| f(values));
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! A three-scalar parameter set: a weight `[2]` and a bias `[1]`.

    use crate::{ParamInfo, ParamKind, Params};

    #[derive(Clone, Debug, PartialEq)]
    pub struct Toy {
        pub w: [f64; 2],
        pub b: [f64; 1],
    }

    static INFO: [ParamInfo; 2] = [
        ParamInfo {
            name: "toy.weight",
            nested: "toy.weight",
            kind: ParamKind::Weight,
            layer: "toy",
            shape: &[2],
            offset: 0,
            len: 2,
        },
        ParamInfo {
            name: "toy.bias",
            nested: "toy.bias",
            kind: ParamKind::Bias,
            layer: "toy",
            shape: &[1],
            offset: 2,
            len: 1,
        },
    ];

    impl Toy {
        pub fn new(w: [f64; 2], b: f64) -> Self {
            Toy { w, b: [b] }
        }

        pub fn all(&self) -> [f64; 3] {
            [self.w[0], self.w[1], self.b[0]]
        }
    }

    impl Params<f64> for Toy {
        const PARAMS: usize = 3;
        const PARAM_INFO: &'static [ParamInfo] = &INFO;
        fn zeros() -> Self {
            Toy {
                w: [0.0; 2],
                b: [0.0],
            }
        }
        fn tensor(&self, index: usize) -> &[f64] {
            match index {
                0 => &self.w,
                1 => &self.b,
                _ => &[],
            }
        }
        fn tensor_mut(&mut self, index: usize) -> &mut [f64] {
            match index {
                0 => &mut self.w,
                1 => &mut self.b,
                _ => &mut [],
            }
        }
        fn for_each_param<F: FnMut(&ParamInfo, &[f64])>(&self, mut f: F) {
            f(&INFO[0], &self.w);
            f(&INFO[1], &self.b);
        }
        fn for_each_param_mut<F: FnMut(&ParamInfo, &mut [f64])>(&mut self, mut f: F) {
            f(&INFO[0], &mut self.w);
            f(&INFO[1], &mut self.b);
        }
        fn zip_params_mut<F: FnMut(&ParamInfo, &mut [f64], &[f64])>(
            &mut self,
            other: &Self,
            mut f: F,
        ) {
            f(&INFO[0], &mut self.w, &other.w);
            f(&INFO[1], &mut self.b, &other.b);
        }
    }

    /// The gradients of the reference runs: step t (1-based) uses `GRADS[t - 1]`.
    pub const GRADS: [[f64; 3]; 3] = [[0.5, -1.0, 2.0], [0.3, 0.2, -1.5], [-0.4, 0.8, 0.5]];

    /// The starting parameters of the reference runs.
    pub fn start() -> Toy {
        Toy::new([1.0, -2.0], 0.5)
    }

    /// Runs three steps of `optimizer` from `start()` with `GRADS`.
    pub fn run<O: super::Optimizer<f64, Toy>>(mut optimizer: O) -> [f64; 3] {
        let mut params = start();
        for g in GRADS {
            let grads = Toy::new([g[0], g[1]], g[2]);
            optimizer.step(&mut params, &grads);
        }
        assert_eq!(optimizer.steps(), 3);
        params.all()
    }

    /// Asserts agreement with the reference values to 1e-12.
    pub fn assert_close(actual: [f64; 3], expected: [f64; 3]) {
        for (a, e) in actual.iter().zip(&expected) {
            approx::assert_relative_eq!(a, e, epsilon = 1e-12, max_relative = 1e-12);
        }
    }
}
