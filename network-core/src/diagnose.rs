//! Diagnostics that name the layer and the step: vanishing and exploding gradients,
//! NaN or infinity and where it came from, dead ReLU units, loss plateaus and
//! overfitting. Each finding is a typed [`Diagnosis`] the program can act on, and prints
//! as one sentence. No allocation: findings are handed to a callback.

use core::fmt;

use crate::stats::{dead_units, layer_grad_norms};
use crate::{Network, NumericError, Params, Scalar};

/// When a finding is reported. `Default` gives the values documented on each field.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thresholds {
    /// A layer's gradients vanish when their norm is below this fraction of the last
    /// layer's; default 1e-3 (three orders of magnitude).
    pub vanishing_ratio: f64,
    /// A layer's gradients explode when their norm exceeds this; default 1e3.
    pub exploding_norm: f64,
    /// A ReLU layer is reported when at least this fraction of its units is dead on a
    /// batch; default 0.5.
    pub dead_fraction: f64,
    /// Epochs without progress that make a plateau; default 5.
    pub plateau_epochs: usize,
    /// Relative improvement of the training loss below which those epochs count as no
    /// progress; default 1e-3.
    pub plateau_tolerance: f64,
    /// Consecutive epochs of rising validation loss and falling training loss that
    /// make overfitting; default 3.
    pub overfitting_epochs: usize,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            vanishing_ratio: 1e-3,
            exploding_norm: 1e3,
            dead_fraction: 0.5,
            plateau_epochs: 5,
            plateau_tolerance: 1e-3,
            overfitting_epochs: 3,
        }
    }
}

/// A problem found in training.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Diagnosis {
    /// An early layer's gradient norm is orders of magnitude below the last layer's.
    VanishingGradients {
        /// Optimizer step (0-based).
        step: u64,
        /// The earliest layer below the threshold.
        layer: &'static str,
        /// Its gradient norm.
        norm: f64,
        /// The last layer.
        last_layer: &'static str,
        /// The last layer's gradient norm.
        last_norm: f64,
    },
    /// A layer's gradient norm exceeds the threshold.
    ExplodingGradients {
        /// Optimizer step (0-based).
        step: u64,
        /// The layer with the largest norm.
        layer: &'static str,
        /// Its gradient norm.
        norm: f64,
        /// The threshold.
        limit: f64,
    },
    /// NaN or infinity appeared; `error` says where (input, a layer's forward, a gradient).
    NonFinite {
        /// Optimizer step (0-based).
        step: u64,
        /// Where it appeared.
        error: NumericError,
    },
    /// Many units of a ReLU layer output zero for a whole batch.
    DeadUnits {
        /// Optimizer step (0-based).
        step: u64,
        /// The layer.
        layer: &'static str,
        /// Dead units.
        dead: usize,
        /// Units in the layer.
        units: usize,
    },
    /// The training loss stopped improving.
    LossPlateau {
        /// The epoch (1-based) at which it was noticed.
        epoch: usize,
        /// Epochs without progress.
        epochs: usize,
        /// Relative improvement over those epochs.
        change: f64,
    },
    /// Validation loss rises while training loss falls.
    Overfitting {
        /// The epoch (1-based) at which it was noticed.
        epoch: usize,
        /// The last epoch before validation loss started rising.
        since: usize,
        /// Training loss at `epoch`.
        train_loss: f64,
        /// Validation loss at `epoch`.
        validation_loss: f64,
    },
}

impl Diagnosis {
    /// Whether two findings are the same problem at the same place (to report each once).
    pub fn same_problem(&self, other: &Diagnosis) -> bool {
        use Diagnosis::*;
        match (self, other) {
            (VanishingGradients { layer: a, .. }, VanishingGradients { layer: b, .. })
            | (ExplodingGradients { layer: a, .. }, ExplodingGradients { layer: b, .. })
            | (DeadUnits { layer: a, .. }, DeadUnits { layer: b, .. }) => a == b,
            (NonFinite { .. }, NonFinite { .. })
            | (LossPlateau { .. }, LossPlateau { .. })
            | (Overfitting { .. }, Overfitting { .. }) => true,
            _ => false,
        }
    }
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Diagnosis::VanishingGradients {
                step,
                layer,
                norm,
                last_layer,
                last_norm,
            } => write!(
                f,
                "vanishing gradients at step {step}: layer `{layer}` has gradient norm {norm:.2e}, \
                 {:.1e} times that of the last layer `{last_layer}` ({last_norm:.2e})",
                norm / last_norm
            ),
            Diagnosis::ExplodingGradients { step, layer, norm, limit } => write!(
                f,
                "exploding gradients at step {step}: layer `{layer}` has gradient norm {norm:.2e}, above {limit:.0e}"
            ),
            Diagnosis::NonFinite { step, error } => write!(f, "NaN or infinity at step {step}: {error}"),
            Diagnosis::DeadUnits { step, layer, dead, units } => write!(
                f,
                "dead ReLU units at step {step}: {dead} of {units} units of layer `{layer}` output zero for the whole batch"
            ),
            Diagnosis::LossPlateau { epoch, epochs, change } => write!(
                f,
                "loss plateau at epoch {epoch}: the training loss improved by {:.2}% over the last {epochs} epochs",
                100.0 * change
            ),
            Diagnosis::Overfitting {
                epoch,
                since,
                train_loss,
                validation_loss,
            } => write!(
                f,
                "overfitting at epoch {epoch}: validation loss has risen since epoch {since} (now {validation_loss:.4}) \
                 while training loss kept falling (now {train_loss:.4})"
            ),
        }
    }
}

/// Checks one step's gradients for vanishing, exploding and non-finite values.
pub fn diagnose_gradients<T: Scalar, P: Params<T>, F: FnMut(Diagnosis)>(
    step: u64,
    grads: &P,
    thresholds: &Thresholds,
    mut f: F,
) {
    let mut bad = None;
    grads.for_each_param(|info, values| {
        if bad.is_none() && !crate::kernels::all_finite(values) {
            bad = Some(info.name);
        }
    });
    if let Some(param) = bad {
        f(Diagnosis::NonFinite {
            step,
            error: NumericError::NonFiniteGradient { param },
        });
        return;
    }
    let mut last = ("", 0.0);
    let mut largest = ("", 0.0);
    layer_grad_norms(grads, |layer, norm| {
        last = (layer, norm);
        if norm > largest.1 {
            largest = (layer, norm);
        }
    });
    if largest.1 > thresholds.exploding_norm {
        f(Diagnosis::ExplodingGradients {
            step,
            layer: largest.0,
            norm: largest.1,
            limit: thresholds.exploding_norm,
        });
    }
    if last.1 > 0.0 {
        let mut first = None;
        layer_grad_norms(grads, |layer, norm| {
            if first.is_none() && layer != last.0 && norm < thresholds.vanishing_ratio * last.1 {
                first = Some((layer, norm));
            }
        });
        if let Some((layer, norm)) = first {
            f(Diagnosis::VanishingGradients {
                step,
                layer,
                norm,
                last_layer: last.0,
                last_norm: last.1,
            });
        }
    }
}

/// Checks a batch's recorded activations for dead ReLU units.
pub fn diagnose_dead_units<T, N, F, const IN: usize, const OUT: usize, const B: usize>(
    step: u64,
    tape: &N::Tape<B>,
    thresholds: &Thresholds,
    mut f: F,
) where
    T: Scalar,
    N: Network<T, IN, OUT>,
    F: FnMut(Diagnosis),
{
    dead_units::<T, N, _, IN, OUT, B>(tape, |d| {
        if d.dead > 0 && d.dead as f64 >= thresholds.dead_fraction * d.units as f64 {
            f(Diagnosis::DeadUnits {
                step,
                layer: d.layer,
                dead: d.dead,
                units: d.units,
            });
        }
    });
}

/// Checks learning curves (one value per epoch, validation possibly empty) for a
/// plateau of the training loss and for overfitting.
pub fn diagnose_curves<F: FnMut(Diagnosis)>(
    train: &[f64],
    validation: &[f64],
    thresholds: &Thresholds,
    mut f: F,
) {
    let window = thresholds.plateau_epochs;
    if window > 0 && train.len() > window {
        let before = train[train.len() - 1 - window];
        let best = train[train.len() - window..]
            .iter()
            .cloned()
            .fold(f64::INFINITY, f64::min);
        let change = (before - best) / before.abs().max(f64::MIN_POSITIVE);
        if change < thresholds.plateau_tolerance {
            f(Diagnosis::LossPlateau {
                epoch: train.len(),
                epochs: window,
                change,
            });
        }
    }
    let k = thresholds.overfitting_epochs;
    let n = validation.len().min(train.len());
    if k > 0 && n > k {
        let (v, t) = (&validation[n - 1 - k..n], &train[n - 1 - k..n]);
        let rising = v.windows(2).all(|w| w[1] > w[0]);
        let falling = t.windows(2).all(|w| w[1] < w[0]);
        if rising && falling {
            f(Diagnosis::Overfitting {
                epoch: n,
                since: n - k,
                train_loss: train[n - 1],
                validation_loss: validation[n - 1],
            });
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::string::ToString;
    use std::vec::Vec;

    use super::*;
    use crate::optim::testing::Toy;

    fn collect(f: impl FnOnce(&mut dyn FnMut(Diagnosis))) -> Vec<Diagnosis> {
        let mut found = Vec::new();
        f(&mut |d| found.push(d));
        found
    }

    #[test]
    fn exploding_and_non_finite_gradients() {
        let th = Thresholds::default();
        let found = collect(|f| diagnose_gradients(7, &Toy::new([3e3, 4e3], 0.0), &th, f));
        assert_eq!(
            found,
            [Diagnosis::ExplodingGradients {
                step: 7,
                layer: "toy",
                norm: 5e3,
                limit: 1e3
            }]
        );
        assert_eq!(
            found[0].to_string(),
            "exploding gradients at step 7: layer `toy` has gradient norm 5.00e3, above 1e3"
        );
        let found = collect(|f| diagnose_gradients(2, &Toy::new([f64::NAN, 0.0], 0.0), &th, f));
        assert_eq!(
            found[0].to_string(),
            "NaN or infinity at step 2: the gradient of `toy.weight` holds NaN or infinity"
        );
        assert!(collect(|f| diagnose_gradients(0, &Toy::new([0.1, 0.2], 0.3), &th, f)).is_empty());
    }

    #[test]
    fn plateau_and_overfitting() {
        let th = Thresholds::default();
        let flat = [1.0, 0.5, 0.40, 0.4, 0.4, 0.4, 0.4, 0.4];
        let found = collect(|f| diagnose_curves(&flat, &[], &th, f));
        assert!(matches!(
            found[..],
            [Diagnosis::LossPlateau {
                epoch: 8,
                epochs: 5,
                ..
            }]
        ));
        let train = [1.0, 0.8, 0.6, 0.5, 0.4, 0.3];
        let validation = [1.1, 0.9, 0.8, 0.85, 0.9, 0.95];
        let found = collect(|f| diagnose_curves(&train, &validation, &th, f));
        assert_eq!(
            found[0].to_string(),
            "overfitting at epoch 6: validation loss has risen since epoch 3 (now 0.9500) while training loss kept falling (now 0.3000)"
        );
        assert!(
            collect(|f| diagnose_curves(&train, &[1.1, 0.9, 0.8, 0.7, 0.6, 0.5], &th, f))
                .is_empty()
        );
    }
}
