use super::{decay_for, visit_buffers, visit_buffers_mut, Elementwise, Optimizer};
use crate::{Params, Scalar, Zeroable};

/// Hyper-parameters of [`RmsProp`], with PyTorch's defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RmsPropConfig<T> {
    /// Learning rate; default 0.01.
    pub lr: T,
    /// Smoothing constant of the squared-gradient average; default 0.99.
    pub alpha: T,
    /// Added to the denominator; default 1e-8.
    pub eps: T,
    /// L2 penalty coupled into the gradient; default 0.
    pub weight_decay: T,
    /// Momentum factor; default 0 (off).
    pub momentum: T,
    /// Normalize by the variance estimate `v - mean(g)^2` instead of `v`; default `false`.
    pub centered: bool,
    /// Whether weight decay applies to biases too; default `false`.
    pub decay_bias: bool,
}

impl<T: Scalar> Default for RmsPropConfig<T> {
    fn default() -> Self {
        Self {
            lr: T::of(0.01),
            alpha: T::of(0.99),
            eps: T::of(1e-8),
            weight_decay: T::zero(),
            momentum: T::zero(),
            centered: false,
            decay_bias: false,
        }
    }
}

/// RMSProp, as PyTorch's `RMSprop`:
///
/// ```text
/// g  = g + weight_decay * p
/// v  = alpha * v + (1 - alpha) * g^2
/// v~ = v - ga^2 with ga = alpha * ga + (1 - alpha) * g   if centered, else v~ = v
/// b  = momentum * b + g / (sqrt(v~) + eps);  p = p - lr * b   if momentum > 0
/// p  = p - lr * g / (sqrt(v~) + eps)                          otherwise
/// ```
///
/// State: three parameter-shaped buffers (squared average, gradient average, momentum),
/// [`STATE_BYTES`](Self::STATE_BYTES), whichever options are on.
#[derive(Clone, Debug, PartialEq)]
pub struct RmsProp<T, P> {
    /// Hyper-parameters.
    pub config: RmsPropConfig<T>,
    square_avg: P,
    grad_avg: P,
    buffer: P,
    steps: u64,
}

crate::zeroable::zeroable_struct!(
    [T: Scalar + Zeroable, P: Zeroable]
    RmsProp<T, P> {
        config, square_avg, grad_avg, buffer, steps,
    }
);
crate::zeroable::zeroable_struct!(
    [T: Scalar + Zeroable]
    RmsPropConfig<T> {
        lr, alpha, eps, weight_decay, momentum, centered, decay_bias,
    }
);

impl<T: Scalar, P: Params<T>> RmsProp<T, P> {
    /// Bytes of optimizer state: three parameter-shaped buffers.
    pub const STATE_BYTES: usize = 3 * core::mem::size_of::<P>();

    /// RMSProp with the given hyper-parameters.
    pub fn new(config: RmsPropConfig<T>) -> Self {
        Self {
            config,
            square_avg: P::zeros(),
            grad_avg: P::zeros(),
            buffer: P::zeros(),
            steps: 0,
        }
    }
}

impl<T: Scalar, P: Params<T>> Optimizer<T, P> for RmsProp<T, P> {
    const NAME: &'static str = "RmsProp";

    fn lr(&self) -> T {
        self.config.lr
    }

    fn set_lr(&mut self, lr: T) {
        self.config.lr = lr;
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
        visit_buffers(&[&self.square_avg, &self.grad_avg, &self.buffer], f);
    }

    fn for_each_state_mut<F: FnMut(&mut [T])>(&mut self, f: F) {
        visit_buffers_mut(
            &mut [&mut self.square_avg, &mut self.grad_avg, &mut self.buffer],
            f,
        );
    }
}

impl<T: Scalar, P: Params<T>> Elementwise<T, P> for RmsProp<T, P> {
    /// The configuration.
    type Values = RmsPropConfig<T>;

    fn step_values(&self) -> Self::Values {
        self.config
    }

    fn states_mut(&mut self) -> [Option<&mut P>; 3] {
        [
            Some(&mut self.square_avg),
            Some(&mut self.grad_avg),
            Some(&mut self.buffer),
        ]
    }

    #[inline]
    fn update(
        c: &Self::Values,
        index: usize,
        params: &mut [T],
        grads: &[T],
        [v, ga, b]: [&mut [T]; 3],
    ) {
        let rest = T::one() - c.alpha;
        let decay = decay_for::<T, P>(index, c.weight_decay, c.decay_bias);
        let (v, ga, b) = (
            &mut v[..params.len()],
            &mut ga[..params.len()],
            &mut b[..params.len()],
        );
        for (i, (p, &g)) in params.iter_mut().zip(grads).enumerate() {
            let g = g + decay * *p;
            v[i] = c.alpha * v[i] + rest * g * g;
            let mut variance = v[i];
            if c.centered {
                ga[i] = c.alpha * ga[i] + rest * g;
                variance -= ga[i] * ga[i];
            }
            let scaled = g / (variance.sqrt() + c.eps);
            if c.momentum > T::zero() {
                b[i] = c.momentum * b[i] + scaled;
                *p -= c.lr * b[i];
            } else {
                *p -= c.lr * scaled;
            }
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
        assert_close(
            run(RmsProp::new(RmsPropConfig::default())),
            [0.9052640832496293, -1.9818042423451927, 0.4404254511648187],
        );
        let config = RmsPropConfig {
            momentum: 0.5,
            centered: true,
            weight_decay: 0.1,
            ..RmsPropConfig::default()
        };
        assert_close(
            run(RmsProp::new(config)),
            [0.7826203768291163, -1.8713972094850113, 0.3946423453235058],
        );
    }
}
