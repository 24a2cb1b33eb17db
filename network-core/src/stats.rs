//! Per-layer statistics of parameters, gradients, updates and activations, computed
//! without allocation: results are handed to a callback, one layer at a time.

use crate::{LayerInfo, Network, Params, Scalar};

/// Summary statistics of a set of values.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stats {
    /// Number of values.
    pub count: usize,
    /// L2 norm: `sqrt(sum v^2)`.
    pub l2_norm: f64,
    /// Largest absolute value.
    pub max_abs: f64,
    /// Mean absolute value.
    pub mean_abs: f64,
    /// Fraction of values that are exactly zero.
    pub zero_fraction: f64,
    /// Number of NaN or infinite values (excluded from the other statistics).
    pub non_finite: usize,
}

/// Running sums behind [`Stats`].
#[derive(Clone, Copy, Debug, Default)]
struct Accumulator {
    count: usize,
    sum_squares: f64,
    sum_abs: f64,
    max_abs: f64,
    zeros: usize,
    non_finite: usize,
}

impl Accumulator {
    fn add<T: Scalar>(&mut self, values: &[T]) {
        for v in values {
            let v = v.as_f64();
            self.count += 1;
            if !v.is_finite() {
                self.non_finite += 1;
                continue;
            }
            let a = v.abs();
            self.sum_squares += v * v;
            self.sum_abs += a;
            self.max_abs = self.max_abs.max(a);
            self.zeros += usize::from(v == 0.0);
        }
    }

    fn finish(&self) -> Stats {
        let n = self.count.max(1) as f64;
        Stats {
            count: self.count,
            l2_norm: libm::sqrt(self.sum_squares),
            max_abs: self.max_abs,
            mean_abs: self.sum_abs / n,
            zero_fraction: self.zeros as f64 / n,
            non_finite: self.non_finite,
        }
    }
}

impl Stats {
    /// Statistics of `values`.
    pub fn of<T: Scalar>(values: &[T]) -> Self {
        let mut a = Accumulator::default();
        a.add(values);
        a.finish()
    }
}

/// Statistics of one layer's parameters and gradients (weight and bias together).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerStats {
    /// The layer's name.
    pub layer: &'static str,
    /// Its parameters.
    pub params: Stats,
    /// Its gradients.
    pub grads: Stats,
}

/// Calls `f` with the statistics of every layer's parameters and gradients, in
/// declaration order.
pub fn layer_stats<T: Scalar, P: Params<T>, F: FnMut(&LayerStats)>(
    params: &P,
    grads: &P,
    mut f: F,
) {
    for_each_layer::<T, P, _>(|layer, range| {
        let (mut p, mut g) = (Accumulator::default(), Accumulator::default());
        for k in range {
            p.add(params.tensor(k));
            g.add(grads.tensor(k));
        }
        f(&LayerStats {
            layer,
            params: p.finish(),
            grads: g.finish(),
        });
    });
}

/// Calls `f` with every layer's name and its gradient's L2 norm.
pub fn layer_grad_norms<T: Scalar, P: Params<T>, F: FnMut(&'static str, f64)>(grads: &P, mut f: F) {
    for_each_layer::<T, P, _>(|layer, range| {
        let squares: f64 = range
            .clone()
            .map(|k| crate::kernels::sum_squares(grads.tensor(k)))
            .sum();
        if squares.is_finite() {
            f(layer, libm::sqrt(squares));
        } else {
            // NaN or infinity (or an overflow of the squares): the norm of the finite
            // values, as `layer_stats` reports it.
            let mut g = Accumulator::default();
            for k in range {
                g.add(grads.tensor(k));
            }
            f(layer, libm::sqrt(g.sum_squares));
        }
    });
}

/// Calls `f` with every layer's update-to-parameter ratio `||after - before|| / ||before||`
/// (about 1e-3 is healthy; much larger means the learning rate is too high, much smaller
/// that the layer barely learns).
pub fn update_ratios<T: Scalar, P: Params<T>, F: FnMut(&'static str, f64)>(
    before: &P,
    after: &P,
    mut f: F,
) {
    for_each_layer::<T, P, _>(|layer, range| {
        let (mut change, mut size) = (0.0, 0.0);
        for k in range {
            for (a, b) in after.tensor(k).iter().zip(before.tensor(k)) {
                let (a, b) = (a.as_f64(), b.as_f64());
                change += (a - b) * (a - b);
                size += b * b;
            }
        }
        let ratio = if size > 0.0 {
            libm::sqrt(change / size)
        } else {
            libm::sqrt(change)
        };
        f(layer, ratio);
    });
}

/// Calls `f(layer, tensor indices)` for each layer: the tensors of a layer are adjacent
/// in the visitor's order.
fn for_each_layer<T: Scalar, P: Params<T>, F: FnMut(&'static str, core::ops::Range<usize>)>(
    mut f: F,
) {
    let info = P::PARAM_INFO;
    let mut start = 0;
    while start < info.len() {
        let layer = info[start].layer;
        let mut end = start + 1;
        while end < info.len() && info[end].layer == layer {
            end += 1;
        }
        f(layer, start..end);
        start = end;
    }
}

/// Units of a ReLU layer that output exactly zero for every sample of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeadUnits {
    /// The layer's name.
    pub layer: &'static str,
    /// Units that were zero for every sample.
    pub dead: usize,
    /// Units in the layer.
    pub units: usize,
}

/// Calls `f` with the dead-unit count of every `Relu` layer, from a tape filled by
/// `forward_train` on a batch of `B`.
pub fn dead_units<T, N, F, const IN: usize, const OUT: usize, const B: usize>(
    tape: &N::Tape<B>,
    mut f: F,
) where
    T: Scalar,
    N: Network<T, IN, OUT>,
    F: FnMut(&DeadUnits),
{
    N::for_each_output(tape, |info: &LayerInfo, values: &[T]| {
        if info.activation != "Relu" || info.outputs == 0 {
            return;
        }
        let rows = info.outputs;
        let dead = (0..rows)
            .filter(|&unit| {
                values
                    .iter()
                    .skip(unit)
                    .step_by(rows)
                    .all(|v| *v == T::zero())
            })
            .count();
        f(&DeadUnits {
            layer: info.name,
            dead,
            units: rows,
        });
    });
}

/// For one layer's outputs (`rows` units, column-major, one column per sample), writes
/// into `counts[unit]` how many samples gave exactly zero.
pub fn zero_counts<T: Scalar>(values: &[T], rows: usize, counts: &mut [usize]) {
    counts.iter_mut().for_each(|c| *c = 0);
    if rows == 0 {
        return;
    }
    for column in values.chunks_exact(rows) {
        for (count, v) in counts.iter_mut().zip(column) {
            *count += usize::from(*v == T::zero());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::testing::Toy;

    #[test]
    fn stats_by_hand() {
        let s = Stats::of(&[3.0f64, -4.0, 0.0, 0.0, f64::NAN]);
        assert_eq!(s.count, 5);
        assert_eq!(s.l2_norm, 5.0);
        assert_eq!(s.max_abs, 4.0);
        assert_eq!(s.mean_abs, 7.0 / 5.0);
        assert_eq!(s.zero_fraction, 2.0 / 5.0);
        assert_eq!(s.non_finite, 1);
    }

    #[test]
    fn layer_statistics_group_weight_and_bias() {
        let params = Toy::new([3.0, 4.0], 0.0);
        let grads = Toy::new([0.0, 1.0], -2.0);
        let mut seen = None;
        layer_stats(&params, &grads, |s| seen = Some(*s));
        let s = seen.unwrap();
        assert_eq!(s.layer, "toy");
        assert_eq!(s.params.l2_norm, 5.0);
        assert_eq!(s.grads.max_abs, 2.0);
        assert_eq!(s.grads.zero_fraction, 1.0 / 3.0);
        let mut norm = 0.0;
        layer_grad_norms(&grads, |_, n| norm = n);
        assert_eq!(norm, 5.0f64.sqrt());
        // A NaN gradient: the norm of the finite values, as `layer_stats` gives it.
        layer_grad_norms(&Toy::new([f64::NAN, 1.0], -2.0), |_, n| norm = n);
        assert_eq!(norm, 5.0f64.sqrt());
        let after = Toy::new([3.0, 4.0], 0.05);
        let mut ratio = 0.0;
        update_ratios(&params, &after, |_, r| ratio = r);
        assert!((ratio - 0.01).abs() < 1e-12);
    }

    #[test]
    fn zero_counts_per_unit() {
        // Two units, three samples: unit 0 is zero twice, unit 1 always.
        let mut counts = [9; 2];
        zero_counts(&[0.0f32, 0.0, 1.0, 0.0, 0.0, 0.0], 2, &mut counts);
        assert_eq!(counts, [2, 3]);
    }
}
