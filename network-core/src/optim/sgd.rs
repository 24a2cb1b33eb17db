use super::{decay_for, Elementwise, Optimizer};
use crate::{kernels, Params, Scalar, Zeroable};

/// Plain stochastic gradient descent: `p -= lr * (g + weight_decay * p)` (PyTorch's
/// `SGD(lr, weight_decay=...)` without momentum). It has no state.
///
/// [`Network::backward_sgd`](crate::Network::backward_sgd) applies the same update
/// (without weight decay) during the backward pass, without a gradient buffer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sgd<T> {
    /// The learning rate.
    pub lr: T,
    /// L2 penalty coupled into the gradient; default 0.
    pub weight_decay: T,
    /// Whether weight decay applies to biases too; default `false`.
    pub decay_bias: bool,
    steps: u64,
}

crate::zeroable::zeroable_struct!(
    [T: Scalar + Zeroable]
    Sgd<T> {
        lr, weight_decay, decay_bias, steps,
    }
);

impl<T: Scalar> Sgd<T> {
    /// SGD with learning rate `lr` and no weight decay.
    pub fn new(lr: T) -> Self {
        Self {
            lr,
            weight_decay: T::zero(),
            decay_bias: false,
            steps: 0,
        }
    }

    /// Sets the weight decay.
    pub fn weight_decay(mut self, weight_decay: T) -> Self {
        self.weight_decay = weight_decay;
        self
    }
}

impl<T: Scalar, P: Params<T>> Optimizer<T, P> for Sgd<T> {
    const NAME: &'static str = "Sgd";

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

    fn for_each_state<F: FnMut(&[T])>(&self, _: F) {}

    fn for_each_state_mut<F: FnMut(&mut [T])>(&mut self, _: F) {}
}

impl<T: Scalar, P: Params<T>> Elementwise<T, P> for Sgd<T> {
    /// `-lr`, the weight decay and whether biases decay.
    type Values = (T, T, bool);

    fn step_values(&self) -> Self::Values {
        (-self.lr, self.weight_decay, self.decay_bias)
    }

    fn states_mut(&mut self) -> [Option<&mut P>; 3] {
        [None, None, None]
    }

    #[inline]
    fn update(
        &(rate, weight_decay, decay_bias): &Self::Values,
        index: usize,
        params: &mut [T],
        grads: &[T],
        _: [&mut [T]; 3],
    ) {
        let decay = decay_for::<T, P>(index, weight_decay, decay_bias);
        if decay != T::zero() {
            for (p, &g) in params.iter_mut().zip(grads) {
                *p += rate * (g + decay * *p);
            }
        } else {
            kernels::axpy(rate, grads, params);
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
        assert_close(run(Sgd::new(0.1)), [0.96, -2.0, 0.4]);
        assert_close(
            run(Sgd::new(0.1).weight_decay(0.1)),
            [0.9315939999999999, -1.942388, 0.4],
        );
    }
}
