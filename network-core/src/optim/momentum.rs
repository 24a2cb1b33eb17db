use super::{decay_for, visit_buffers, visit_buffers_mut, Elementwise, Optimizer};
use crate::{Params, Scalar, Zeroable};

/// SGD with momentum, optional dampening and Nesterov momentum, as PyTorch's
/// `SGD(lr, momentum, dampening, weight_decay, nesterov)`:
///
/// ```text
/// g = g + weight_decay * p
/// b = g                                   at the first step
/// b = momentum * b + (1 - dampening) * g  afterwards
/// g = g + momentum * b  if nesterov,  else g = b
/// p = p - lr * g
/// ```
///
/// Defaults: `dampening = 0`, `nesterov = false`, `weight_decay = 0`. State: one
/// parameter-shaped buffer, [`STATE_BYTES`](Self::STATE_BYTES).
#[derive(Clone, Debug, PartialEq)]
pub struct Momentum<T, P> {
    /// The learning rate.
    pub lr: T,
    /// Momentum factor, typically 0.9.
    pub momentum: T,
    /// Dampening of the new gradient in the buffer; default 0.
    pub dampening: T,
    /// Nesterov momentum; default `false` (PyTorch requires zero dampening for it).
    pub nesterov: bool,
    /// L2 penalty coupled into the gradient; default 0.
    pub weight_decay: T,
    /// Whether weight decay applies to biases too; default `false`.
    pub decay_bias: bool,
    buffer: P,
    steps: u64,
}

crate::zeroable::zeroable_struct!(
    [T: Scalar + Zeroable, P: Zeroable]
    Momentum<T, P> {
        lr, momentum, dampening, nesterov, weight_decay, decay_bias, buffer, steps,
    }
);

impl<T: Scalar, P: Params<T>> Momentum<T, P> {
    /// Bytes of optimizer state: one parameter-shaped buffer.
    pub const STATE_BYTES: usize = core::mem::size_of::<P>();

    /// Momentum SGD with the given learning rate and momentum factor.
    pub fn new(lr: T, momentum: T) -> Self {
        Self {
            lr,
            momentum,
            dampening: T::zero(),
            nesterov: false,
            weight_decay: T::zero(),
            decay_bias: false,
            buffer: P::zeros(),
            steps: 0,
        }
    }

    /// Nesterov momentum with the given learning rate and momentum factor.
    pub fn nesterov(lr: T, momentum: T) -> Self {
        Self {
            nesterov: true,
            ..Self::new(lr, momentum)
        }
    }
}

impl<T: Scalar, P: Params<T>> Optimizer<T, P> for Momentum<T, P> {
    const NAME: &'static str = "Momentum";

    fn lr(&self) -> T {
        self.lr
    }

    fn set_lr(&mut self, lr: T) {
        self.lr = lr;
    }

    fn step(&mut self, params: &mut P, grads: &P) {
        super::step_elementwise(self, params, grads);
    }

    fn steps(&self) -> u64 {
        self.steps
    }

    fn set_steps(&mut self, steps: u64) {
        self.steps = steps;
    }

    fn for_each_state<F: FnMut(&[T])>(&self, f: F) {
        visit_buffers(&[&self.buffer], f);
    }

    fn for_each_state_mut<F: FnMut(&mut [T])>(&mut self, f: F) {
        visit_buffers_mut(&mut [&mut self.buffer], f);
    }
}

impl<T: Scalar, P: Params<T>> Elementwise<T, P> for Momentum<T, P> {
    /// The learning rate, momentum, `1 - dampening`, Nesterov or not, the weight decay,
    /// whether biases decay, and whether this is the first step.
    type Values = (T, T, T, bool, T, bool, bool);

    fn step_values(&self) -> Self::Values {
        (
            self.lr,
            self.momentum,
            T::one() - self.dampening,
            self.nesterov,
            self.weight_decay,
            self.decay_bias,
            self.steps == 0,
        )
    }

    fn states_mut(&mut self) -> [Option<&mut P>; 3] {
        [Some(&mut self.buffer), None, None]
    }

    #[inline]
    fn update(
        &(lr, momentum, keep, nesterov, weight_decay, decay_bias, first): &Self::Values,
        index: usize,
        params: &mut [T],
        grads: &[T],
        [buffer, _, _]: [&mut [T]; 3],
    ) {
        let decay = decay_for::<T, P>(index, weight_decay, decay_bias);
        for ((p, &g), b) in params.iter_mut().zip(grads).zip(buffer) {
            let g = g + decay * *p;
            *b = if first { g } else { momentum * *b + keep * g };
            let direction = if nesterov { g + momentum * *b } else { *b };
            *p -= lr * direction;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_close, run};
    use super::*;

    #[test]
    fn three_steps_match_the_published_rule() {
        // Expected values: network-core/src/optim/reference.py
        let mut damped = Momentum::new(0.1, 0.9);
        damped.dampening = 0.1;
        damped.weight_decay = 0.01;
        assert_close(
            run(damped),
            [0.8440794886899999, -1.8248941773799998, 0.16949999999999998],
        );
        assert_close(
            run(Momentum::nesterov(0.1, 0.9)),
            [0.82275, -1.8623, 0.12369999999999998],
        );
    }
}
