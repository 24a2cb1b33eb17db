use super::{decay_for, visit_buffers, visit_buffers_mut, Elementwise, Optimizer};
use crate::{Params, Scalar, Zeroable};

/// AdaGrad, as PyTorch's `Adagrad(lr, lr_decay, weight_decay,
/// initial_accumulator_value, eps)`:
///
/// ```text
/// clr = lr / (1 + (t - 1) * lr_decay)
/// g   = g + weight_decay * p
/// s   = s + g^2
/// p   = p - clr * g / (sqrt(s) + eps)
/// ```
///
/// Defaults: `lr_decay = 0`, `weight_decay = 0`, initial accumulator 0, `eps = 1e-10`.
/// State: one parameter-shaped buffer.
#[derive(Clone, Debug, PartialEq)]
pub struct AdaGrad<T, P> {
    /// The learning rate.
    pub lr: T,
    /// Learning-rate decay per step; default 0.
    pub lr_decay: T,
    /// L2 penalty coupled into the gradient; default 0.
    pub weight_decay: T,
    /// Added to the denominator; default 1e-10.
    pub eps: T,
    /// Whether weight decay applies to biases too; default `false`.
    pub decay_bias: bool,
    sum: P,
    steps: u64,
}

crate::zeroable::zeroable_struct!(
    [T: Scalar + Zeroable, P: Zeroable]
    AdaGrad<T, P> {
        lr, lr_decay, weight_decay, eps, decay_bias, sum, steps,
    }
);

impl<T: Scalar, P: Params<T>> AdaGrad<T, P> {
    /// Bytes of optimizer state: one parameter-shaped buffer.
    pub const STATE_BYTES: usize = core::mem::size_of::<P>();

    /// AdaGrad with learning rate `lr` and PyTorch's other defaults.
    pub fn new(lr: T) -> Self {
        Self {
            lr,
            lr_decay: T::zero(),
            weight_decay: T::zero(),
            eps: T::of(1e-10),
            decay_bias: false,
            sum: P::zeros(),
            steps: 0,
        }
    }

    /// Starts every squared-gradient accumulator at `value` (PyTorch's
    /// `initial_accumulator_value`).
    pub fn initial_accumulator_value(mut self, value: T) -> Self {
        self.sum.for_each_param_mut(|_, s| s.fill(value));
        self
    }
}

impl<T: Scalar, P: Params<T>> Optimizer<T, P> for AdaGrad<T, P> {
    const NAME: &'static str = "AdaGrad";

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
        visit_buffers(&[&self.sum], f);
    }

    fn for_each_state_mut<F: FnMut(&mut [T])>(&mut self, f: F) {
        visit_buffers_mut(&mut [&mut self.sum], f);
    }
}

impl<T: Scalar, P: Params<T>> Elementwise<T, P> for AdaGrad<T, P> {
    /// The decayed learning rate, the weight decay, whether biases decay, and `eps`.
    type Values = (T, T, bool, T);

    fn step_values(&self) -> Self::Values {
        let clr = self.lr / (T::one() + T::of(self.steps as f64) * self.lr_decay);
        (clr, self.weight_decay, self.decay_bias, self.eps)
    }

    fn states_mut(&mut self) -> [Option<&mut P>; 3] {
        [Some(&mut self.sum), None, None]
    }

    #[inline]
    fn update(
        &(clr, weight_decay, decay_bias, eps): &Self::Values,
        index: usize,
        params: &mut [T],
        grads: &[T],
        [sum, _, _]: [&mut [T]; 3],
    ) {
        let decay = decay_for::<T, P>(index, weight_decay, decay_bias);
        for ((p, &g), s) in params.iter_mut().zip(grads).zip(sum) {
            let g = g + decay * *p;
            *s += g * g;
            *p -= clr * g / (s.sqrt() + eps);
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
        let mut adagrad = AdaGrad::new(0.1).initial_accumulator_value(0.1);
        adagrad.lr_decay = 0.01;
        assert_close(
            run(adagrad),
            [0.9213328952643519, -1.9819867939100058, 0.44108250491322226],
        );
    }
}
