//! Inverted dropout with a compact mask.

use nalgebra::SMatrix;

use crate::{Rng, Scalar};

/// Inverted dropout: in training each value is zeroed with probability `p` and the
/// survivors are scaled by `1 / (1 - p)`, so inference is the identity. The mask is kept
/// as bits (`W = ceil(N / 32)` words per sample), not floats.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dropout {
    /// Probability of dropping a value, in `[0, 1)`.
    pub p: f64,
}

/// Mask words for `n` values: `ceil(n / 32)`.
pub const fn mask_words(n: usize) -> usize {
    n.div_ceil(32)
}

impl Dropout {
    fn scale<T: Scalar>(&self) -> T {
        if self.p >= 1.0 {
            T::zero()
        } else {
            T::of(1.0 / (1.0 - self.p))
        }
    }

    /// Draws a mask from `rng` (one draw per value, column by column), records it and
    /// applies it to `values` in place.
    pub fn forward<T: Scalar, const N: usize, const W: usize, const B: usize>(
        &self,
        values: &mut SMatrix<T, N, B>,
        mask: &mut SMatrix<u32, W, B>,
        rng: &mut Rng,
    ) {
        let scale = self.scale::<T>();
        mask.fill(0);
        for b in 0..B {
            for r in 0..N {
                let keep = rng.next_f64() >= self.p;
                if keep {
                    mask[(r / 32, b)] |= 1 << (r % 32);
                    values[(r, b)] *= scale;
                } else {
                    values[(r, b)] = T::zero();
                }
            }
        }
    }

    /// Applies the recorded mask to a gradient in place.
    pub fn backward<T: Scalar, const N: usize, const W: usize, const B: usize>(
        &self,
        mask: &SMatrix<u32, W, B>,
        d: &mut SMatrix<T, N, B>,
    ) {
        let scale = self.scale::<T>();
        for b in 0..B {
            for r in 0..N {
                let kept = mask[(r / 32, b)] >> (r % 32) & 1 == 1;
                d[(r, b)] = if kept { d[(r, b)] * scale } else { T::zero() };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_is_bits_seeded_and_scales_survivors() {
        assert_eq!((mask_words(1), mask_words(32), mask_words(33)), (1, 1, 2));
        let d = Dropout { p: 0.25 };
        let mut values = SMatrix::<f64, 40, 50>::from_element(1.0);
        let mut mask = SMatrix::<u32, 2, 50>::zeros();
        d.forward(&mut values, &mut mask, &mut Rng::seed_from_u64(1));
        let kept = values.iter().filter(|v| **v != 0.0).count();
        assert!((1400..1600).contains(&kept), "kept {kept} of 2000");
        assert!(values.iter().all(|v| *v == 0.0 || *v == 1.0 / 0.75));
        let ones: u32 = mask.iter().map(|w| w.count_ones()).sum();
        assert_eq!(ones as usize, kept);
        // The same seed gives the same mask.
        let mut again = SMatrix::<u32, 2, 50>::zeros();
        d.forward(
            &mut SMatrix::<f64, 40, 50>::from_element(1.0),
            &mut again,
            &mut Rng::seed_from_u64(1),
        );
        assert_eq!(mask, again);
        // Backward lets the gradient through exactly where values survived.
        let mut g = SMatrix::<f64, 40, 50>::from_element(2.0);
        d.backward(&mask, &mut g);
        assert_eq!(g, values * 2.0);
    }
}
