use nalgebra::SMatrix;

use super::Activation;
use crate::Scalar;

/// GELU, exact: `f(x) = x Φ(x) = x (1 + erf(x / √2)) / 2` (PyTorch's `GELU()` default).
///
/// Its derivative `Φ(x) + x φ(x)` needs the input, not the output: the **one activation
/// here whose `backward` takes the pre-activation `x`** (`USES_INPUT`); `network!` keeps
/// that buffer on the tape for it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Gelu;

impl Gelu {
    /// The function.
    #[inline(always)]
    pub fn f<T: Scalar>(x: T) -> T {
        let half = T::of(0.5);
        half * x * (T::one() + (x * T::of(core::f64::consts::FRAC_1_SQRT_2)).erf())
    }

    /// The derivative from the input: `Φ(x) + x φ(x)`.
    #[inline(always)]
    pub fn df<T: Scalar>(x: T) -> T {
        let half = T::of(0.5);
        let cdf = half * (T::one() + (x * T::of(core::f64::consts::FRAC_1_SQRT_2)).erf());
        let pdf = T::of(0.398_942_280_401_432_7) * (-half * x * x).exp();
        cdf + x * pdf
    }
}

impl Activation for Gelu {
    const NAME: &'static str = "Gelu";
    const USES_INPUT: bool = true;

    #[inline(always)]
    fn forward<T: Scalar, const R: usize, const C: usize>(&self, z: &mut SMatrix<T, R, C>) {
        super::map_in_place(z, Self::f);
    }

    /// `x` is the pre-activation input (see the type's documentation).
    #[inline(always)]
    fn backward<T: Scalar, const R: usize, const C: usize>(
        &self,
        x: &SMatrix<T, R, C>,
        dy: &mut SMatrix<T, R, C>,
    ) {
        super::scale_by_derivative(x, dy, Self::df);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_by_hand() {
        assert_eq!(Gelu::f(0.0), 0.0);
        assert_eq!(Gelu::df(0.0), 0.5);
        // Φ(1) = 0.8413447460685429
        approx::assert_relative_eq!(Gelu::f(1.0), 0.841_344_746_068_542_9, epsilon = 1e-15);
    }

    #[test]
    fn gradient_matches_finite_differences() {
        // The check passes the output to `backward`; give GELU its input instead.
        let z = SMatrix::<f64, 3, 2>::from_column_slice(&[-2.0, -0.5, 0.1, 0.7, 1.5, 3.0]);
        let upstream = SMatrix::<f64, 3, 2>::from_column_slice(&[0.3, -1.1, 0.7, 2.0, -0.4, 0.9]);
        let mut analytic = upstream;
        Gelu.backward(&z, &mut analytic);
        let h = 1e-6;
        for k in 0..6 {
            let numeric = (Gelu::f(z[k] + h) - Gelu::f(z[k] - h)) / (2.0 * h) * upstream[k];
            approx::assert_relative_eq!(analytic[k], numeric, epsilon = 1e-9, max_relative = 1e-6);
        }
    }
}
