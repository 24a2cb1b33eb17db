//! Weight initialization schemes.

use crate::{Rng, Scalar};

/// How a layer's weights are drawn. Biases always start at zero.
///
/// `network!` picks [`Init::He`] for a layer followed by a ReLU-family activation and
/// [`Init::Xavier`] otherwise; `#[init(he)]` or `#[init(xavier)]` on a layer overrides it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    /// He (Kaiming) uniform: `U(-b, b)` with `b = sqrt(6 / fan_in)`, which keeps the
    /// variance of activations constant through ReLU layers (He et al., 2015; PyTorch's
    /// `kaiming_uniform_` with `nonlinearity="relu"`).
    He,
    /// Xavier (Glorot) uniform: `U(-b, b)` with `b = sqrt(6 / (fan_in + fan_out))`,
    /// suited to tanh, sigmoid and linear layers (Glorot & Bengio, 2010; PyTorch's
    /// `xavier_uniform_`).
    Xavier,
}

impl Init {
    /// The half-width `b` of the uniform distribution for a layer with these fan sizes.
    pub fn bound(self, fan_in: usize, fan_out: usize) -> f64 {
        let fan_in = fan_in.max(1) as f64;
        let fan_out = fan_out.max(1) as f64;
        match self {
            Init::He => libm::sqrt(6.0 / fan_in),
            Init::Xavier => libm::sqrt(6.0 / (fan_in + fan_out)),
        }
    }

    /// Fills `weights` with draws from this scheme.
    pub fn fill<T: Scalar>(self, weights: &mut [T], fan_in: usize, fan_out: usize, rng: &mut Rng) {
        let bound = self.bound(fan_in, fan_out);
        for w in weights {
            *w = T::of(rng.uniform(-bound, bound));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_follow_the_published_formulas() {
        assert_eq!(Init::He.bound(6, 100), 1.0);
        assert_eq!(Init::Xavier.bound(2, 4), 1.0);
    }

    #[test]
    fn variance_matches_the_scheme() {
        // The variance of U(-b, b) is b^2 / 3: 2 / fan_in for He.
        let mut rng = Rng::seed_from_u64(0);
        let mut w = [0.0f64; 20_000];
        Init::He.fill(&mut w, 50, 10, &mut rng);
        let var = w.iter().map(|x| x * x).sum::<f64>() / w.len() as f64;
        assert!((var - 2.0 / 50.0).abs() < 0.002, "variance {var}");
        assert!(w.iter().all(|x| x.abs() <= Init::He.bound(50, 10)));
    }
}
