use crate::{kernels, Params, Scalar};

/// Plain stochastic gradient descent: `p -= lr * g` (PyTorch's `SGD(lr)` without
/// momentum or weight decay).
///
/// [`Network::backward_sgd`](crate::Network::backward_sgd) applies the same update
/// during the backward pass, without a gradient buffer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sgd<T> {
    /// The learning rate.
    pub lr: T,
}

impl<T: Scalar> Sgd<T> {
    /// SGD with learning rate `lr`.
    pub fn new(lr: T) -> Self {
        Self { lr }
    }

    /// Applies one update from `grads` (which it leaves unchanged).
    pub fn step<P: Params<T>>(&self, params: &mut P, grads: &P) {
        let rate = -self.lr;
        params.zip_params_mut(grads, |_, p, g| kernels::axpy(rate, g, p));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dense;

    #[derive(Clone, Debug, PartialEq)]
    struct Two {
        a: Dense<f64, 1, 1>,
    }

    static INFO: [crate::ParamInfo; 2] = [
        crate::ParamInfo {
            name: "a.weight",
            layer: "a",
            shape: &[1, 1],
            offset: 0,
            len: 1,
        },
        crate::ParamInfo {
            name: "a.bias",
            layer: "a",
            shape: &[1],
            offset: 1,
            len: 1,
        },
    ];

    impl Params<f64> for Two {
        const PARAMS: usize = 2;
        const PARAM_INFO: &'static [crate::ParamInfo] = &INFO;
        fn zeros() -> Self {
            Self { a: Dense::zeros() }
        }
        fn for_each_param<F: FnMut(&crate::ParamInfo, &[f64])>(&self, mut f: F) {
            f(&INFO[0], self.a.weight.as_slice());
            f(&INFO[1], self.a.bias.as_slice());
        }
        fn for_each_param_mut<F: FnMut(&crate::ParamInfo, &mut [f64])>(&mut self, mut f: F) {
            f(&INFO[0], self.a.weight.as_mut_slice());
            f(&INFO[1], self.a.bias.as_mut_slice());
        }
        fn zip_params_mut<F: FnMut(&crate::ParamInfo, &mut [f64], &[f64])>(
            &mut self,
            o: &Self,
            mut f: F,
        ) {
            f(
                &INFO[0],
                self.a.weight.as_mut_slice(),
                o.a.weight.as_slice(),
            );
            f(&INFO[1], self.a.bias.as_mut_slice(), o.a.bias.as_slice());
        }
    }

    #[test]
    fn three_steps_follow_the_update_rule() {
        let mut p = Two::zeros();
        p.a.weight[0] = 1.0;
        p.a.bias[0] = -2.0;
        let mut g = Two::zeros();
        g.a.weight[0] = 0.5;
        g.a.bias[0] = -1.0;
        let sgd = Sgd::new(0.1);
        for _ in 0..3 {
            sgd.step(&mut p, &g);
        }
        // w = 1 - 3 * 0.1 * 0.5 = 0.85, b = -2 + 3 * 0.1 * 1 = -1.7
        approx::assert_relative_eq!(p.a.weight[0], 0.85, epsilon = 1e-12);
        approx::assert_relative_eq!(p.a.bias[0], -1.7, epsilon = 1e-12);
        assert!(p.is_finite());
        g.set_zero();
        assert_eq!(g, Two::zeros());
    }
}
