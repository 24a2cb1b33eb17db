//! Learning-rate schedules: pure functions of the step number, so a schedule's position
//! is one integer (saved in checkpoints) and the current rate can be plotted.
//!
//! `step` counts optimizer steps from 0 (the trainer advances it once per batch).

/// A learning rate as a function of the step number.
pub trait Schedule {
    /// The learning rate for step `step` (0-based).
    fn lr(&self, step: u64) -> f64;

    /// The rate the schedule is built around: the rate it starts from, or for a
    /// [`Warmup`] the rate it warms up to. The trainer refuses an optimizer whose own
    /// rate differs from it, so the rate cannot be given twice with two values. By
    /// default `lr(0)`.
    fn base_lr(&self) -> f64 {
        self.lr(0)
    }
}

/// A constant rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Constant(pub f64);

impl Schedule for Constant {
    fn lr(&self, _: u64) -> f64 {
        self.0
    }
}

/// `lr * gamma^floor(step / step_size)` (PyTorch's `StepLR`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepDecay {
    /// Initial rate.
    pub lr: f64,
    /// Steps between decays (at least 1).
    pub step_size: u64,
    /// Factor applied at each decay, e.g. 0.1.
    pub gamma: f64,
}

impl Schedule for StepDecay {
    fn lr(&self, step: u64) -> f64 {
        self.lr * libm::pow(self.gamma, (step / self.step_size.max(1)) as f64)
    }
}

/// `lr * gamma^step` (PyTorch's `ExponentialLR`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExponentialDecay {
    /// Initial rate.
    pub lr: f64,
    /// Factor per step, e.g. 0.999.
    pub gamma: f64,
}

impl Schedule for ExponentialDecay {
    fn lr(&self, step: u64) -> f64 {
        self.lr * libm::pow(self.gamma, step as f64)
    }
}

/// Cosine annealing from `lr` to `min_lr` over `steps` steps, then `min_lr`
/// (PyTorch's `CosineAnnealingLR` over one half period):
/// `min_lr + (lr - min_lr) (1 + cos(pi t / steps)) / 2`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CosineAnnealing {
    /// Initial rate.
    pub lr: f64,
    /// Final rate.
    pub min_lr: f64,
    /// Length of the annealing.
    pub steps: u64,
}

impl Schedule for CosineAnnealing {
    fn lr(&self, step: u64) -> f64 {
        if step >= self.steps {
            return self.min_lr;
        }
        let progress = step as f64 / self.steps.max(1) as f64;
        self.min_lr
            + (self.lr - self.min_lr) * (1.0 + libm::cos(core::f64::consts::PI * progress)) / 2.0
    }
}

/// Linear warm-up into another schedule: over the first `steps` steps the rate rises
/// linearly from `start_factor * after.lr(0)` to `after.lr(0)`; then `after` runs from
/// its own step 0 (PyTorch's `LinearLR` chained with `SequentialLR`).
///
/// ```
/// use network_core::schedule::{CosineAnnealing, Schedule, Warmup};
/// let s = Warmup { steps: 10, start_factor: 0.0, after: CosineAnnealing { lr: 0.1, min_lr: 0.0, steps: 90 } };
/// assert_eq!(s.lr(0), 0.0);
/// assert_eq!(s.lr(5), 0.05);
/// assert_eq!(s.lr(10), 0.1);
/// assert_eq!(s.lr(100), 0.0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Warmup<S> {
    /// Length of the warm-up.
    pub steps: u64,
    /// Fraction of the target rate at step 0, in `[0, 1]`.
    pub start_factor: f64,
    /// The schedule that follows.
    pub after: S,
}

impl<S: Schedule> Schedule for Warmup<S> {
    fn lr(&self, step: u64) -> f64 {
        if step < self.steps {
            let progress = step as f64 / self.steps as f64;
            self.after.lr(0) * (self.start_factor + (1.0 - self.start_factor) * progress)
        } else {
            self.after.lr(step - self.steps)
        }
    }

    fn base_lr(&self) -> f64 {
        self.after.base_lr()
    }
}

/// `first` for `switch_at` steps, then `second` from its own step 0 (PyTorch's
/// `SequentialLR` with one milestone). Nest to chain more.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Then<A, B> {
    /// The first schedule.
    pub first: A,
    /// Step at which `second` takes over.
    pub switch_at: u64,
    /// The second schedule.
    pub second: B,
}

impl<A: Schedule, B: Schedule> Schedule for Then<A, B> {
    fn lr(&self, step: u64) -> f64 {
        if step < self.switch_at {
            self.first.lr(step)
        } else {
            self.second.lr(step - self.switch_at)
        }
    }

    fn base_lr(&self) -> f64 {
        self.first.base_lr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    #[test]
    fn values_by_hand() {
        assert_eq!(Constant(0.3).lr(1000), 0.3);
        let step = StepDecay {
            lr: 1.0,
            step_size: 10,
            gamma: 0.5,
        };
        assert_eq!(
            [step.lr(0), step.lr(9), step.lr(10), step.lr(25)],
            [1.0, 1.0, 0.5, 0.25]
        );
        let exp = ExponentialDecay {
            lr: 2.0,
            gamma: 0.5,
        };
        assert_eq!([exp.lr(0), exp.lr(3)], [2.0, 0.25]);
        let cos = CosineAnnealing {
            lr: 1.0,
            min_lr: 0.2,
            steps: 100,
        };
        assert_relative_eq!(cos.lr(0), 1.0);
        assert_relative_eq!(cos.lr(50), 0.6, epsilon = 1e-12);
        assert_relative_eq!(cos.lr(100), 0.2);
        assert_relative_eq!(cos.lr(500), 0.2);
    }

    #[test]
    fn warmup_then_cosine_and_sequential_chains() {
        let s = Warmup {
            steps: 4,
            start_factor: 0.25,
            after: CosineAnnealing {
                lr: 1.0,
                min_lr: 0.0,
                steps: 10,
            },
        };
        assert_eq!([s.lr(0), s.lr(2), s.lr(4)], [0.25, 0.625, 1.0]);
        assert_relative_eq!(s.lr(9), 0.5, epsilon = 1e-12);
        let t = Then {
            first: Constant(0.1),
            switch_at: 3,
            second: ExponentialDecay {
                lr: 0.05,
                gamma: 0.5,
            },
        };
        assert_eq!([t.lr(2), t.lr(3), t.lr(4)], [0.1, 0.05, 0.025]);
        // The rate each is built around: the warm-up's target, the first schedule's.
        assert_eq!([s.base_lr(), t.base_lr()], [1.0, 0.1]);
        assert_eq!(
            StepDecay {
                lr: 0.3,
                step_size: 1,
                gamma: 0.1
            }
            .base_lr(),
            0.3
        );
    }
}
