//! Gradient clipping against exploding gradients, and L1/L2 penalties.

use crate::{ParamKind, Params, Scalar};

/// The global L2 norm of all gradients: `sqrt(sum g^2)`.
pub fn grad_norm<T: Scalar, P: Params<T>>(grads: &P) -> T {
    let mut sum = T::zero();
    grads.for_each_param(|_, values| {
        for &g in values {
            sum += g * g;
        }
    });
    sum.sqrt()
}

/// Clips every gradient element to `[-limit, limit]` (PyTorch's `clip_grad_value_`).
pub fn clip_grad_value<T: Scalar, P: Params<T>>(grads: &mut P, limit: T) {
    let limit = limit.abs();
    grads.for_each_param_mut(|_, values| {
        for g in values {
            if *g > limit {
                *g = limit;
            } else if *g < -limit {
                *g = -limit;
            }
        }
    });
}

/// Rescales all gradients together so that their global L2 norm is at most `max_norm`
/// (PyTorch's `clip_grad_norm_`, which scales by `max_norm / (norm + 1e-6)`). Returns
/// the norm before clipping, to log or plot.
pub fn clip_grad_norm<T: Scalar, P: Params<T>>(grads: &mut P, max_norm: T) -> T {
    let norm = grad_norm(grads);
    let scale = max_norm / (norm + T::of(1e-6));
    if scale < T::one() {
        grads.for_each_param_mut(|_, values| values.iter_mut().for_each(|g| *g *= scale));
    }
    norm
}

/// L1 and L2 penalties added to the loss: `l1 * sum |w| + l2 / 2 * sum w^2`, whose
/// gradient is `l1 * sign(w) + l2 * w` (so `l2` matches PyTorch's coupled
/// `weight_decay`). Biases and normalization parameters are excluded unless
/// `include_bias`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Penalty<T> {
    /// L1 (lasso) strength; default 0.
    pub l1: T,
    /// L2 (ridge) strength; default 0.
    pub l2: T,
    /// Whether biases are penalized too; default `false`.
    pub include_bias: bool,
}

impl<T: Scalar> Default for Penalty<T> {
    fn default() -> Self {
        Self {
            l1: T::zero(),
            l2: T::zero(),
            include_bias: false,
        }
    }
}

impl<T: Scalar> Penalty<T> {
    /// Adds the penalty's gradient to `grads` and returns the penalty's value, to add to
    /// the loss.
    pub fn apply<P: Params<T>>(&self, params: &P, grads: &mut P) -> T {
        let half = T::of(0.5);
        let mut value = T::zero();
        grads.zip_params_mut(params, |info, g, p| {
            if info.kind != ParamKind::Weight && !self.include_bias {
                return;
            }
            for (g, &w) in g.iter_mut().zip(p) {
                let sign = if w > T::zero() {
                    T::one()
                } else if w < T::zero() {
                    -T::one()
                } else {
                    T::zero()
                };
                value += self.l1 * w.abs() + half * self.l2 * w * w;
                *g += self.l1 * sign + self.l2 * w;
            }
        });
        value
    }

    /// Whether the penalty does anything.
    pub fn is_active(&self) -> bool {
        self.l1 != T::zero() || self.l2 != T::zero()
    }
}

/// Decoupled weight decay: `w *= 1 - factor` for every weight (and bias if
/// `include_bias`); `factor` is usually `lr * weight_decay`.
pub fn decay_weights<T: Scalar, P: Params<T>>(params: &mut P, factor: T, include_bias: bool) {
    let keep = T::one() - factor;
    params.for_each_param_mut(|info, values| {
        if info.kind == ParamKind::Weight || include_bias {
            values.iter_mut().for_each(|w| *w *= keep);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::testing::Toy;
    use approx::assert_relative_eq;

    #[test]
    fn clipping_by_value_and_by_norm() {
        let mut g = Toy::new([3.0, -4.0], 0.0);
        assert_eq!(grad_norm(&g), 5.0);
        let before = clip_grad_norm(&mut g, 1.0);
        assert_eq!(before, 5.0);
        assert_relative_eq!(grad_norm(&g), 1.0, epsilon = 1e-6);
        assert_relative_eq!(g.w[0] / g.w[1], -0.75, epsilon = 1e-12);
        let mut small = Toy::new([0.3, 0.4], 0.0);
        assert_eq!(clip_grad_norm(&mut small, 1.0), 0.5);
        assert_eq!(small, Toy::new([0.3, 0.4], 0.0));
        let mut g = Toy::new([3.0, -4.0], 0.5);
        clip_grad_value(&mut g, 1.0);
        assert_eq!(g, Toy::new([1.0, -1.0], 0.5));
    }

    #[test]
    fn penalties_add_value_and_gradient_and_skip_biases_by_default() {
        let params = Toy::new([2.0, -1.0], 3.0);
        let mut grads = Toy::zeros();
        let penalty = Penalty {
            l1: 0.1,
            l2: 0.5,
            include_bias: false,
        };
        let value = penalty.apply(&params, &mut grads);
        // 0.1 * (2 + 1) + 0.25 * (4 + 1)
        assert_relative_eq!(value, 1.55, epsilon = 1e-12);
        assert_eq!(grads, Toy::new([0.1 + 1.0, -0.1 - 0.5], 0.0));
        let mut grads = Toy::zeros();
        let with_bias = Penalty {
            include_bias: true,
            ..penalty
        };
        assert_relative_eq!(
            with_bias.apply(&params, &mut grads),
            1.55 + 0.3 + 2.25,
            epsilon = 1e-12
        );
        assert_relative_eq!(grads.b[0], 0.1 + 1.5, epsilon = 1e-12);
    }

    #[test]
    fn penalty_gradient_matches_finite_differences() {
        let penalty = Penalty {
            l1: 0.3,
            l2: 0.7,
            include_bias: true,
        };
        let params = Toy::new([0.8, -1.3], 0.4);
        let mut grads = Toy::zeros();
        penalty.apply(&params, &mut grads);
        let h = 1e-6;
        for k in 0..3 {
            let value = |delta: f64| {
                let mut p = params.clone();
                p.for_each_param_mut(|info, v| {
                    if (info.offset..info.offset + info.len).contains(&k) {
                        v[k - info.offset] += delta;
                    }
                });
                penalty.apply(&p, &mut Toy::zeros())
            };
            let numeric = (value(h) - value(-h)) / (2.0 * h);
            assert_relative_eq!(grads.all()[k], numeric, epsilon = 1e-9, max_relative = 1e-6);
        }
    }

    #[test]
    fn decoupled_decay_scales_weights_only_by_default() {
        let mut p = Toy::new([2.0, -1.0], 3.0);
        decay_weights(&mut p, 0.1, false);
        assert_eq!(p, Toy::new([1.8, -0.9], 3.0));
        decay_weights(&mut p, 0.5, true);
        assert_eq!(p, Toy::new([0.9, -0.45], 1.5));
    }
}
