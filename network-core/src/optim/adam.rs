use super::{decay_for, visit_buffers, visit_buffers_mut, Elementwise, Optimizer};
use crate::{Params, Scalar, Zeroable};

/// Hyper-parameters of [`Adam`], with PyTorch's defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig<T> {
    /// Learning rate; default 1e-3.
    pub lr: T,
    /// Decay of the first moment; default 0.9.
    pub beta1: T,
    /// Decay of the second moment; default 0.999.
    pub beta2: T,
    /// Added to the denominator; default 1e-8.
    pub eps: T,
    /// Weight decay; default 0 for Adam, 0.01 for [`AdamConfig::adamw`].
    pub weight_decay: T,
    /// Decoupled weight decay (`p *= 1 - lr * weight_decay` before the Adam step,
    /// Loshchilov & Hutter's AdamW) instead of an L2 term in the gradient; default `false`.
    pub decoupled: bool,
    /// AMSGrad: normalize by the running maximum of the second moment; default `false`.
    pub amsgrad: bool,
    /// Whether weight decay applies to biases too; default `false`.
    pub decay_bias: bool,
}

impl<T: Scalar> Default for AdamConfig<T> {
    fn default() -> Self {
        Self {
            lr: T::of(1e-3),
            beta1: T::of(0.9),
            beta2: T::of(0.999),
            eps: T::of(1e-8),
            weight_decay: T::zero(),
            decoupled: false,
            amsgrad: false,
            decay_bias: false,
        }
    }
}

impl<T: Scalar> AdamConfig<T> {
    /// Adam with learning rate `lr` and the other defaults.
    pub fn adam(lr: T) -> Self {
        Self {
            lr,
            ..Self::default()
        }
    }

    /// AdamW: learning rate `lr`, decoupled weight decay 0.01 (PyTorch's `AdamW`
    /// defaults).
    pub fn adamw(lr: T) -> Self {
        Self {
            lr,
            weight_decay: T::of(0.01),
            decoupled: true,
            ..Self::default()
        }
    }
}

/// Adam, AdamW and AMSGrad, as PyTorch's `Adam` and `AdamW`:
///
/// ```text
/// p = p * (1 - lr * weight_decay)      if decoupled (AdamW)
/// g = g + weight_decay * p             otherwise
/// m = beta1 * m + (1 - beta1) * g
/// v = beta2 * v + (1 - beta2) * g^2
/// v_max = max(v_max, v)                if amsgrad, and v is replaced by v_max below
/// p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
/// ```
///
/// State: three parameter-shaped buffers (`m`, `v`, `v_max`),
/// [`STATE_BYTES`](Self::STATE_BYTES).
#[derive(Clone, Debug, PartialEq)]
pub struct Adam<T, P> {
    /// Hyper-parameters.
    pub config: AdamConfig<T>,
    m: P,
    v: P,
    v_max: P,
    steps: u64,
}

crate::zeroable::zeroable_struct!(
    [T: Scalar + Zeroable, P: Zeroable]
    Adam<T, P> {
        config, m, v, v_max, steps,
    }
);
crate::zeroable::zeroable_struct!(
    [T: Scalar + Zeroable]
    AdamConfig<T> {
        lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad, decay_bias,
    }
);

impl<T: Scalar, P: Params<T>> Adam<T, P> {
    /// Bytes of optimizer state: three parameter-shaped buffers.
    pub const STATE_BYTES: usize = 3 * core::mem::size_of::<P>();

    /// Adam with the given hyper-parameters.
    pub fn new(config: AdamConfig<T>) -> Self {
        Self {
            config,
            m: P::zeros(),
            v: P::zeros(),
            v_max: P::zeros(),
            steps: 0,
        }
    }
}

impl<T: Scalar, P: Params<T>> Optimizer<T, P> for Adam<T, P> {
    const NAME: &'static str = "Adam";

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
        visit_buffers(&[&self.m, &self.v, &self.v_max], f);
    }

    fn for_each_state_mut<F: FnMut(&mut [T])>(&mut self, f: F) {
        visit_buffers_mut(&mut [&mut self.m, &mut self.v, &mut self.v_max], f);
    }
}

impl<T: Scalar, P: Params<T>> Elementwise<T, P> for Adam<T, P> {
    /// The configuration, `lr / (1 - beta1^t)` and `sqrt(1 - beta2^t)`.
    type Values = (AdamConfig<T>, T, T);

    fn step_values(&self) -> Self::Values {
        let c = self.config;
        // The step number of the bias corrections, saturated at `i32::MAX` (`powi` takes
        // an `i32`; a wrapped, negative `t` would turn every weight into NaN at step
        // 2^31). By then `beta^t` is 0 for any `beta < 1`, as it is at every larger `t`.
        let t = i32::try_from(self.steps.saturating_add(1)).unwrap_or(i32::MAX);
        let correction1 = T::one() - c.beta1.powi(t);
        let correction2_sqrt = (T::one() - c.beta2.powi(t)).sqrt();
        (c, c.lr / correction1, correction2_sqrt)
    }

    fn states_mut(&mut self) -> [Option<&mut P>; 3] {
        [Some(&mut self.m), Some(&mut self.v), Some(&mut self.v_max)]
    }

    #[inline]
    fn update(
        &(c, step_size, correction2_sqrt): &Self::Values,
        index: usize,
        params: &mut [T],
        grads: &[T],
        [m, v, v_max]: [&mut [T]; 3],
    ) {
        let (rest1, rest2) = (T::one() - c.beta1, T::one() - c.beta2);
        let decay = decay_for::<T, P>(index, c.weight_decay, c.decay_bias);
        let shrink = T::one() - c.lr * decay;
        let (m, v, v_max) = (
            &mut m[..params.len()],
            &mut v[..params.len()],
            &mut v_max[..params.len()],
        );
        for (i, (p, &g)) in params.iter_mut().zip(grads).enumerate() {
            let g = if c.decoupled {
                *p *= shrink;
                g
            } else {
                g + decay * *p
            };
            m[i] = c.beta1 * m[i] + rest1 * g;
            v[i] = c.beta2 * v[i] + rest2 * g * g;
            let second = if c.amsgrad {
                if v[i] > v_max[i] {
                    v_max[i] = v[i];
                }
                v_max[i]
            } else {
                v[i]
            };
            *p -= step_size * m[i] / (second.sqrt() / correction2_sqrt + c.eps);
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
            run(Adam::new(AdamConfig::adam(0.1))),
            [0.7793923040411518, -1.8572810246525102, 0.3717589010479696],
        );
        let amsgrad = AdamConfig {
            weight_decay: 0.1,
            amsgrad: true,
            ..AdamConfig::adam(0.1)
        };
        assert_close(
            run(Adam::new(amsgrad)),
            [0.7610640429454931, -1.8172352764712394, 0.3717589010479696],
        );
        let adamw = AdamConfig {
            weight_decay: 0.1,
            ..AdamConfig::adamw(0.1)
        };
        assert_close(
            run(Adam::new(adamw)),
            [0.7526387941542629, -1.8003800507027052, 0.3717589010479696],
        );
    }

    #[test]
    fn a_step_count_past_i32_or_at_u64_max_stays_finite() {
        type Toy = super::super::testing::Toy;
        // Bias corrections at a huge step count are those of the limit: 1. A step then
        // is plain `lr * m / (sqrt(v) + eps)` of the first moments.
        for steps in [(1 << 31) - 1, 1 << 31, 1 << 40, u64::MAX - 1, u64::MAX] {
            let mut params = Toy::new([1.0, -2.0], 0.5);
            let grads = Toy::new([0.5, -1.0], 2.0);
            let mut adam = Adam::<f64, Toy>::new(AdamConfig::adam(0.1));
            adam.set_steps(steps);
            adam.step(&mut params, &grads);
            for (p, (start, g)) in params
                .all()
                .iter()
                .zip([1.0, -2.0, 0.5].iter().zip(grads.all()))
            {
                let m = 0.1 * g;
                let v = 0.001 * g * g;
                let expected = start - 0.1 * m / (v.sqrt() + 1e-8);
                assert!(
                    (p - expected).abs() < 1e-12,
                    "step {steps}: {p} vs {expected}"
                );
            }
            assert_eq!(adam.steps(), steps.saturating_add(1));
        }
    }

    #[test]
    fn state_size_is_three_parameter_sets() {
        type Toy = super::super::testing::Toy;
        assert_eq!(Adam::<f64, Toy>::STATE_BYTES, 3 * 3 * 8);
        let adam = Adam::<f64, Toy>::new(AdamConfig::default());
        let mut scalars = 0;
        adam.for_each_state(|s| scalars += s.len());
        assert_eq!(scalars, 9);
    }
}
