//! A mini-batch trainer for classifiers over a [`Dataset`]: seeded shuffling, batches of a
//! compile-time size with the last partial batch trained on, a validation set, metrics
//! per epoch, a learning-rate schedule, clipping, penalties, early stopping that restores
//! the best weights, a progress bar, and resumable checkpoints.
//!
//! Every piece it uses (optimizers, schedules, clipping, penalties) is a `no_std` item of
//! the core that a training loop on a microcontroller can use directly; this module adds
//! what needs `std`: data sets, a terminal and files.

use core::fmt;
use core::marker::PhantomData;
use std::boxed::Box;
use std::path::Path;
use std::vec::Vec;

use indicatif::{ProgressBar, ProgressStyle};

use crate::checkpoint::{self, CheckpointError, Reader, Writer};
use crate::data::{Dataset, ShapeError};
use crate::diagnose::{
    diagnose_curves, diagnose_dead_units, diagnose_gradients, Diagnosis, Thresholds,
};
use crate::loss::Loss;
use crate::metrics::{RegressionMetrics, RegressionTally};
use crate::nalgebra::SMatrix;
use crate::optim::Optimizer;
use crate::parallel::DataParallel;
use crate::regularize::{clip_grad_norm, clip_grad_value, Penalty};
use crate::schedule::{Constant, Schedule};
use crate::stats::layer_grad_norms;
use crate::{
    argmax, compute_gradients_inspect, kernels, Network, NumericError, Params, Rng, Scalar,
    Zeroable,
};

/// How to train. `Default` gives 10 epochs, seed 0, no early stopping, no clipping, no
/// penalty, diagnostics with default thresholds, and a progress bar.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// Train until this many epochs have run in total (a resumed run continues to it).
    pub epochs: usize,
    /// Seed of the per-epoch shuffles.
    pub seed: u64,
    /// Stop when the validation loss has not improved for this many epochs, and restore
    /// the weights of the best epoch. Needs a validation set.
    pub patience: Option<usize>,
    /// Rescale gradients whose global L2 norm exceeds this.
    pub clip_norm: Option<f64>,
    /// Clamp every gradient element to `[-clip_value, clip_value]`.
    pub clip_value: Option<f64>,
    /// L1/L2 penalties added to the loss and its gradient.
    pub penalty: Penalty<f64>,
    /// Diagnose training (vanishing or exploding gradients, dead units, plateaus,
    /// overfitting) with these thresholds; `None` turns diagnostics off.
    pub diagnostics: Option<Thresholds>,
    /// No progress bar and no per-epoch lines.
    pub quiet: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 10,
            seed: 0,
            patience: None,
            clip_norm: None,
            clip_value: None,
            penalty: Penalty::default(),
            diagnostics: Some(Thresholds::default()),
            quiet: false,
        }
    }
}

impl TrainConfig {
    /// Checks every setting that could silently do something else than asked: a
    /// clipping threshold must be finite and positive (a negative norm would flip the
    /// gradient, a NaN one turn clipping off), penalties finite and not negative. The
    /// trainer checks this before any step of [`Trainer::fit`].
    pub fn validate(&self) -> Result<(), TrainError> {
        let check = |setting, value: f64, ok: bool, requirement| {
            if ok {
                Ok(())
            } else {
                Err(TrainError::InvalidSetting {
                    setting,
                    value,
                    requirement,
                })
            }
        };
        let positive = |v: f64| v.is_finite() && v > 0.0;
        let not_negative = |v: f64| v.is_finite() && v >= 0.0;
        if let Some(v) = self.clip_norm {
            check("clip_norm", v, positive(v), "finite and positive")?;
        }
        if let Some(v) = self.clip_value {
            check("clip_value", v, positive(v), "finite and positive")?;
        }
        let p = &self.penalty;
        check(
            "penalty.l1",
            p.l1,
            not_negative(p.l1),
            "finite and not negative",
        )?;
        check(
            "penalty.l2",
            p.l2,
            not_negative(p.l2),
            "finite and not negative",
        )?;
        Ok(())
    }
}

/// Metrics of one epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochRecord {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss over the epoch's samples, penalty included.
    pub train_loss: f64,
    /// Fraction of training samples classified correctly during the epoch (`None` for
    /// regression data).
    pub train_accuracy: Option<f64>,
    /// MSE, MAE and R² of the training samples during the epoch (regression data only).
    pub train_regression: Option<RegressionMetrics>,
    /// Mean validation loss after the epoch.
    pub validation_loss: Option<f64>,
    /// Validation accuracy after the epoch (classification with a validation set).
    pub validation_accuracy: Option<f64>,
    /// Validation MSE, MAE and R² after the epoch (regression with a validation set).
    pub validation_regression: Option<RegressionMetrics>,
    /// Learning rate of the epoch's last step.
    pub lr: f64,
    /// Mean global gradient norm (before clipping) over the epoch's steps.
    pub grad_norm: f64,
    /// Mean gradient norm (before clipping) of each layer over the epoch's steps, in
    /// the order of [`History::layers`].
    pub layer_grad_norms: Vec<f64>,
}

/// What training recorded.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// The network's layer names, in declaration order.
    pub layers: Vec<&'static str>,
    /// One record per epoch.
    pub epochs: Vec<EpochRecord>,
    /// The loss of every optimizer step.
    pub step_losses: Vec<f64>,
    /// The learning rate of every optimizer step.
    pub step_lrs: Vec<f64>,
    /// Problems found, each reported once (the first time it was seen).
    pub diagnoses: Vec<Diagnosis>,
    /// The epoch whose weights were kept by early stopping.
    pub best_epoch: Option<usize>,
    /// Whether early stopping ended training before `epochs`.
    pub stopped_early: bool,
}

impl History {
    /// The per-epoch records as CSV: epoch, losses, accuracies, learning rate, global
    /// gradient norm, then one gradient-norm column per layer (`<layer>_grad_norm`), and
    /// for regression `train_mae,train_r2,validation_mae,validation_r2` last. Missing
    /// values (validation, accuracies of regression) are empty cells.
    pub fn epochs_csv(&self) -> std::string::String {
        use std::fmt::Write;
        let mut csv = std::string::String::from(
            "epoch,train_loss,train_accuracy,validation_loss,validation_accuracy,lr,grad_norm",
        );
        for layer in &self.layers {
            let _ = write!(csv, ",{layer}_grad_norm");
        }
        let regression = self.epochs.iter().any(|r| r.train_regression.is_some());
        if regression {
            csv.push_str(",train_mae,train_r2,validation_mae,validation_r2");
        }
        csv.push('\n');
        let cell =
            |v: Option<f64>| v.map_or_else(std::string::String::new, |v| std::format!("{v}"));
        for r in &self.epochs {
            let _ = write!(
                csv,
                "{},{},{},{},{},{},{}",
                r.epoch,
                r.train_loss,
                cell(r.train_accuracy),
                cell(r.validation_loss),
                cell(r.validation_accuracy),
                r.lr,
                r.grad_norm
            );
            for n in &r.layer_grad_norms {
                let _ = write!(csv, ",{n}");
            }
            if regression {
                for m in [r.train_regression, r.validation_regression] {
                    let _ = write!(csv, ",{},{}", cell(m.map(|m| m.mae)), cell(m.map(|m| m.r2)));
                }
            }
            csv.push('\n');
        }
        csv
    }

    /// The per-step records as CSV: step, loss, learning rate.
    pub fn steps_csv(&self) -> std::string::String {
        use std::fmt::Write;
        let mut csv = std::string::String::from("step,loss,lr\n");
        for (step, (loss, lr)) in self.step_losses.iter().zip(&self.step_lrs).enumerate() {
            let _ = writeln!(csv, "{step},{loss},{lr}");
        }
        csv
    }

    /// Writes `epochs.csv` and `steps.csv` into `dir` (created if missing).
    pub fn write_csv(&self, dir: impl AsRef<Path>) -> std::io::Result<()> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("epochs.csv"), self.epochs_csv())?;
        std::fs::write(dir.join("steps.csv"), self.steps_csv())
    }
}

/// Why training stopped with an error. The network keeps the weights of the last good
/// step.
#[derive(Debug, Clone, PartialEq)]
pub enum TrainError {
    /// The data does not fit the network (checked before any step).
    Shape(ShapeError),
    /// The training set is empty.
    EmptyTrainingSet,
    /// Early stopping was asked for without a validation set.
    PatienceWithoutValidation,
    /// A validation set was given but holds no sample (its loss would read 0).
    EmptyValidationSet,
    /// A setting of [`TrainConfig`] that would silently do something else than asked (a
    /// negative clipping norm flips the gradient, a NaN one turns clipping off).
    InvalidSetting {
        /// The field, `"clip_norm"`.
        setting: &'static str,
        /// Its value.
        value: f64,
        /// What it must be.
        requirement: &'static str,
    },
    /// The network's last activation is `Softmax` or `Sigmoid` but the loss takes logits
    /// (`SoftmaxCrossEntropy`, `BceWithLogits`) and applies it itself: it would be
    /// applied twice and training would go silently wrong.
    ActivatedLogits {
        /// The last layer's activation.
        activation: &'static str,
        /// The loss.
        loss: &'static str,
    },
    /// The optimizer was built with one learning rate and the schedule with another. The
    /// schedule sets the rate of every step, so the optimizer's would be silently
    /// ignored: give both the same rate, or use [`Trainer::with_optimizer_rate`].
    LearningRateTwice {
        /// The optimizer's rate when the trainer was built.
        optimizer: f64,
        /// The schedule's [`base_lr`](crate::schedule::Schedule::base_lr).
        schedule: f64,
    },
    /// The schedule's learning rate is negative, NaN or infinite (in `f64` or in the
    /// network's scalar type) at this step, checked before the step changes anything.
    LearningRate {
        /// 0-based optimizer step.
        step: u64,
        /// The rate.
        lr: f64,
    },
    /// NaN or infinity appeared.
    Numeric {
        /// 1-based epoch.
        epoch: usize,
        /// 0-based optimizer step.
        step: u64,
        /// Where it appeared.
        source: NumericError,
    },
    /// The operating system refused a thread for [`Trainer::fit_parallel`].
    Threads(std::io::ErrorKind),
}

impl fmt::Display for TrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrainError::Shape(e) => write!(f, "{e}"),
            TrainError::EmptyTrainingSet => write!(f, "the training set is empty"),
            TrainError::PatienceWithoutValidation => {
                write!(f, "early stopping needs a validation set")
            }
            TrainError::EmptyValidationSet => write!(f, "the validation set is empty"),
            TrainError::InvalidSetting {
                setting,
                value,
                requirement,
            } => write!(f, "`{setting}` is {value} but must be {requirement}"),
            TrainError::ActivatedLogits { activation, loss } => write!(
                f,
                "the network ends in `{activation}` but `{loss}` takes logits and applies it itself; remove the `{activation}`"
            ),
            TrainError::LearningRateTwice { optimizer, schedule } => write!(
                f,
                "the optimizer's learning rate is {optimizer} but the schedule's is {schedule}; the schedule sets the rate of every step, so give both the same rate (or use `Trainer::with_optimizer_rate`)"
            ),
            TrainError::LearningRate { step, lr } => write!(
                f,
                "the learning rate at step {step} is {lr} but must be finite and not negative"
            ),
            TrainError::Numeric {
                epoch,
                step,
                source,
            } => write!(f, "epoch {epoch}, step {step}: {source}"),
            TrainError::Threads(kind) => {
                write!(f, "could not start the training threads: {kind}")
            }
        }
    }
}

impl std::error::Error for TrainError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TrainError::Shape(e) => Some(e),
            TrainError::Numeric { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<ShapeError> for TrainError {
    fn from(e: ShapeError) -> Self {
        TrainError::Shape(e)
    }
}

/// Whether a learning rate is one a step can use: finite and not negative, also once
/// converted to the scalar type (1e300 is finite in f64 but infinite in f32).
fn valid_lr<T: Scalar>(lr: f64) -> bool {
    lr.is_finite() && lr >= 0.0 && T::of(lr).is_finite()
}

/// Copies every parameter, buffer and batch counter of `src` into `dst`.
fn copy_params<T: Scalar, P: Params<T>>(dst: &mut P, src: &P) {
    let mut counts = Vec::with_capacity(P::COUNTERS.len());
    src.for_each_counter(|_, n| counts.push(n));
    let mut counts = counts.into_iter();
    dst.for_each_counter_mut(|_, n| *n = counts.next().unwrap_or(0));
    dst.zip_params_mut(src, |_, d, s| d.copy_from_slice(s));
    let mut buffers = Vec::with_capacity(P::BUFFERS);
    src.for_each_buffer(|_, values| buffers.extend_from_slice(values));
    dst.for_each_buffer_mut(|info, values| {
        values.copy_from_slice(&buffers[info.offset..info.offset + info.len])
    });
}

/// The names of the layers that have parameters, in declaration order.
fn param_layers<T: Scalar, P: Params<T>>() -> Vec<&'static str> {
    let mut layers: Vec<&'static str> = Vec::new();
    for info in P::PARAM_INFO {
        if layers.last() != Some(&info.layer) {
            layers.push(info.layer);
        }
    }
    layers
}

/// A value of type `P` with every parameter zero, allocated on the heap directly.
fn boxed_zeros<P: Zeroable>() -> Box<P> {
    crate::boxed::zeroed()
}

/// How the predictions of an epoch or an evaluation score: correct classes, or the sums
/// of the regression metrics.
#[derive(Clone, Debug)]
enum Score {
    Classes(usize),
    Values(RegressionTally),
}

impl Score {
    fn new(data: &Dataset) -> Self {
        if data.is_regression() {
            Score::Values(RegressionTally::new(data.outputs()))
        } else {
            Score::Classes(0)
        }
    }

    /// Scores the first `samples` columns of a batch.
    fn add<T: Scalar, const R: usize, const B: usize>(
        &mut self,
        output: &SMatrix<T, R, B>,
        target: &SMatrix<T, R, B>,
        samples: usize,
    ) {
        match self {
            Score::Classes(correct) => *correct += count_correct(output, target, samples),
            Score::Values(tally) => {
                for (o, t) in output.column_iter().zip(target.column_iter()).take(samples) {
                    let o: [f64; R] = core::array::from_fn(|k| o[k].as_f64());
                    let t: [f64; R] = core::array::from_fn(|k| t[k].as_f64());
                    tally.add(&o, &t);
                }
            }
        }
    }

    /// Accuracy over `samples` (classification).
    fn accuracy(&self, samples: usize) -> Option<f64> {
        match self {
            Score::Classes(correct) => Some(*correct as f64 / samples.max(1) as f64),
            Score::Values(_) => None,
        }
    }

    fn regression(&self) -> Option<RegressionMetrics> {
        match self {
            Score::Classes(_) => None,
            Score::Values(tally) => Some(tally.finish()),
        }
    }
}

/// Correct predictions among the first `samples` columns of a batch: the largest output
/// against the one-hot target, or with one output (a logit, binary classification) its
/// sign against the 0/1 target.
fn count_correct<T: Scalar, const R: usize, const B: usize>(
    output: &SMatrix<T, R, B>,
    target: &SMatrix<T, R, B>,
    samples: usize,
) -> usize {
    let class = |column: &[T]| match column {
        [single] => usize::from(*single > T::zero()),
        _ => argmax(column),
    };
    let target_class = |column: &[T]| match column {
        [single] => usize::from(single.as_f64() > 0.5),
        _ => argmax(column),
    };
    output
        .column_iter()
        .zip(target.column_iter())
        .take(samples)
        .filter(|(o, t)| class(o.as_slice()) == target_class(t.as_slice()))
        .count()
}

impl<T, N, O, L, const IN: usize, const OUT: usize> Trainer<T, N, O, Constant, L, IN, OUT>
where
    T: Scalar,
    N: Network<T, IN, OUT> + Zeroable,
    O: Optimizer<T, N>,
    L: Loss,
{
    /// A trainer whose learning rate is the optimizer's own, constant: the rate is
    /// stated once, in the optimizer.
    pub fn with_optimizer_rate(net: N, optimizer: O, loss: L, config: TrainConfig) -> Self {
        let lr = optimizer.lr().as_f64();
        Self::new(net, optimizer, Constant(lr), loss, config)
    }
}

/// Trains a network `N` (`IN` inputs, `OUT` classes) with optimizer `O`, schedule `S`
/// and loss `L`. Network, gradients and optimizer state live on the heap.
///
/// **The learning rate** of every step is the schedule's `lr(step)`: the trainer sets it
/// on the optimizer before each step. The optimizer's own rate must equal the schedule's
/// [`base_lr`](Schedule::base_lr) (the rate it starts from, or warms up to); a trainer
/// built with two different rates is refused with [`TrainError::LearningRateTwice`]
/// rather than silently ignoring one. [`Trainer::with_optimizer_rate`] takes the rate
/// from the optimizer alone.
///
/// ```no_run
/// use network::prelude::*;
/// use network::data::Dataset;
///
/// network! {
///     struct Digits { hidden: Dense<64, 64>, Relu, logits: Dense<64, 10> }
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let data = Dataset::from_csv_path("data/digits.csv")?;
/// let (train, test) = data.stratified_split(0.2, &mut Rng::seed_from_u64(0));
/// let net = Digits::<f32>::random(&mut Rng::seed_from_u64(1));
/// let optimizer = Adam::new(AdamConfig::adam(1e-3));
/// let config = TrainConfig { epochs: 20, ..TrainConfig::default() };
/// let mut trainer = Trainer::new(net, optimizer, Constant(1e-3), SoftmaxCrossEntropy, config);
/// trainer.fit::<32>(&data, &train, Some(&test))?;
/// trainer.save_checkpoint("digits.ckpt")?;
/// # Ok(())
/// # }
/// ```
pub struct Trainer<T, N, O, S, L, const IN: usize, const OUT: usize> {
    net: Box<N>,
    optimizer: Box<O>,
    schedule: S,
    loss: L,
    /// How to train; may be changed between calls to `fit` (for example `epochs`).
    pub config: TrainConfig,
    history: History,
    rng: Rng,
    dropout_rng: Rng,
    epoch: usize,
    step: u64,
    best: Option<(f64, Box<N>)>,
    bad_epochs: usize,
    grads: Box<N>,
    partial: Box<N>,
    /// The parameters and optimizer state before the current step, to undo a step that
    /// makes them non-finite.
    backup: Box<N>,
    backup_state: Vec<T>,
    /// The optimizer's own rate when the trainer was built, checked against the
    /// schedule's base rate.
    optimizer_lr: T,
    scalar: PhantomData<T>,
}

impl<T, N, O, S, L, const IN: usize, const OUT: usize> Trainer<T, N, O, S, L, IN, OUT>
where
    T: Scalar,
    N: Network<T, IN, OUT> + Zeroable,
    O: Optimizer<T, N>,
    S: Schedule,
    L: Loss,
{
    /// A trainer at epoch 0. Its settings are checked by [`fit`](Self::fit) before any
    /// step (they may change in between); [`try_new`](Self::try_new) checks them now.
    pub fn new(net: N, optimizer: O, schedule: S, loss: L, config: TrainConfig) -> Self {
        Self::from_boxed(Box::new(net), Box::new(optimizer), schedule, loss, config)
    }

    /// [`new`](Self::new), refusing at once what `fit` would refuse before its first
    /// step: invalid settings ([`TrainConfig::validate`]), a first learning rate that is
    /// negative or not finite, and a last activation the loss applies itself.
    pub fn try_new(
        net: N,
        optimizer: O,
        schedule: S,
        loss: L,
        config: TrainConfig,
    ) -> Result<Self, TrainError> {
        let trainer = Self::new(net, optimizer, schedule, loss, config);
        trainer.check_settings()?;
        Ok(trainer)
    }

    /// What `fit` refuses before any step, whatever the data.
    fn check_settings(&self) -> Result<(), TrainError> {
        self.config.validate()?;
        // `logits: Dense<16, 3>, Softmax` with `SoftmaxCrossEntropy`.
        let last = N::LAYERS.last().map_or("Identity", |l| l.activation);
        if L::TAKES_LOGITS && matches!(last, "Softmax" | "Sigmoid") {
            let loss = core::any::type_name::<L>();
            return Err(TrainError::ActivatedLogits {
                activation: last,
                loss: loss.rsplit("::").next().unwrap_or(loss),
            });
        }
        let lr = self.schedule.lr(self.step);
        if !valid_lr::<T>(lr) {
            return Err(TrainError::LearningRate {
                step: self.step,
                lr,
            });
        }
        let base = self.schedule.base_lr();
        if T::of(base) != self.optimizer_lr {
            return Err(TrainError::LearningRateTwice {
                optimizer: self.optimizer_lr.as_f64(),
                schedule: base,
            });
        }
        Ok(())
    }

    /// A trainer at epoch 0 from a network and optimizer already on the heap (see
    /// [`crate::boxed`]): nothing large is built on the stack.
    pub fn from_boxed(
        net: Box<N>,
        optimizer: Box<O>,
        schedule: S,
        loss: L,
        config: TrainConfig,
    ) -> Self {
        let rng = Rng::seed_from_u64(config.seed);
        // A separate stream for dropout masks, so shuffling does not depend on the network.
        let dropout_rng = Rng::seed_from_u64(config.seed ^ 0xD80F_0A75_D80F_0A75);
        let optimizer_lr = optimizer.lr();
        Self {
            net,
            optimizer,
            schedule,
            loss,
            config,
            history: History {
                layers: param_layers::<T, N>(),
                ..History::default()
            },
            rng,
            dropout_rng,
            epoch: 0,
            step: 0,
            best: None,
            bad_epochs: 0,
            grads: boxed_zeros(),
            partial: boxed_zeros(),
            backup: boxed_zeros(),
            backup_state: Vec::new(),
            optimizer_lr,
            scalar: PhantomData,
        }
    }

    /// The learning rate the optimizer was built with, which the schedule's
    /// [`base_lr`](Schedule::base_lr) must equal.
    pub fn optimizer_lr(&self) -> T {
        self.optimizer_lr
    }

    /// The network.
    pub fn net(&self) -> &N {
        &self.net
    }

    /// The optimizer.
    pub fn optimizer(&self) -> &O {
        &self.optimizer
    }

    /// What training recorded so far.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Epochs completed.
    pub fn epoch(&self) -> usize {
        self.epoch
    }

    /// Optimizer steps completed (the schedule's position).
    pub fn step(&self) -> u64 {
        self.step
    }

    /// The trained network.
    pub fn into_net(self) -> Box<N> {
        self.net
    }

    /// Trains with batches of `B` samples until `config.epochs` epochs have run, or
    /// early stopping ends it. Checks that the data fits the network before any step.
    pub fn fit<const B: usize>(
        &mut self,
        data: &Dataset,
        train: &[usize],
        validation: Option<&[usize]>,
    ) -> Result<&History, TrainError> {
        // `fit::<0>` does not compile: the tape it needs refuses a batch of 0.
        let mut one = OneThread::<T, N, IN, OUT, B> {
            tape: Box::new(N::new_tape::<B>()),
            x: Box::new(SMatrix::zeros()),
            y: Box::new(SMatrix::zeros()),
        };
        self.fit_with::<B, _>(data, train, validation, &mut one)
    }

    /// [`fit`](Self::fit) on `threads` threads (0: one per core): each batch of `B` is
    /// cut into parts of `P` samples (`B` a multiple of `P`) whose gradients are computed
    /// side by side and summed, by a [`DataParallel`] started for this call. The
    /// history, diagnostics, checkpoints and early stopping are those of `fit`; the
    /// results match a `fit` with the same seed up to the order of the gradients'
    /// additions, and are identical from run to run for a given thread count. The last,
    /// partial batch of an epoch is trained on one thread. The dead-unit diagnosis looks
    /// at the first part of a batch instead of the whole batch.
    ///
    /// Networks with batch normalization or dropout do not compile here (see
    /// [`crate::parallel`]).
    ///
    /// ```no_run
    /// use network::prelude::*;
    /// use network::data::Dataset;
    ///
    /// network! {
    ///     struct Digits { hidden: Dense<64, 128>, Relu, logits: Dense<128, 10> }
    /// }
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let data = Dataset::from_csv_path("data/digits.csv")?;
    /// let (train, test) = data.stratified_split(0.2, &mut Rng::seed_from_u64(0));
    /// let net = Digits::<f32>::random(&mut Rng::seed_from_u64(1));
    /// let mut trainer = Trainer::with_optimizer_rate(
    ///     net, Adam::new(AdamConfig::adam(1e-3)), SoftmaxCrossEntropy, TrainConfig::default());
    /// // Batches of 256 in two parts of 128, on every core.
    /// trainer.fit_parallel::<256, 128>(&data, &train, Some(&test), 0)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn fit_parallel<const B: usize, const P: usize>(
        &mut self,
        data: &Dataset,
        train: &[usize],
        validation: Option<&[usize]>,
        threads: usize,
    ) -> Result<&History, TrainError>
    where
        T: Send + Sync + 'static,
        N: Send + Sync + 'static,
        N::Tape<P>: Send,
        L: Send + 'static,
    {
        const {
            assert!(
                B.is_multiple_of(P) && B >= P,
                "fit_parallel::<B, P>: the batch must be a whole number of parts"
            )
        };
        let mut parallel = DataParallel::<T, N, L, IN, OUT, P>::new(self.loss, threads)
            .map_err(|e| TrainError::Threads(e.kind()))?;
        self.fit_with::<B, _>(data, train, validation, &mut parallel)
    }

    /// The training loop of `fit` and `fit_parallel`; `full` computes the gradient of a
    /// full batch.
    fn fit_with<const B: usize, G: FullBatch<T, N, L, IN, OUT, B>>(
        &mut self,
        data: &Dataset,
        train: &[usize],
        validation: Option<&[usize]>,
        full: &mut G,
    ) -> Result<&History, TrainError> {
        self.check_settings()?;
        data.check_shape::<IN, OUT>()?;
        for &index in train.iter().chain(validation.unwrap_or(&[])) {
            if index >= data.len() {
                return Err(ShapeError::Index {
                    index,
                    len: data.len(),
                }
                .into());
            }
        }
        if train.is_empty() {
            return Err(TrainError::EmptyTrainingSet);
        }
        if self.config.patience.is_some() && validation.is_none() {
            return Err(TrainError::PatienceWithoutValidation);
        }
        if validation.is_some_and(<[usize]>::is_empty) {
            return Err(TrainError::EmptyValidationSet);
        }
        let mut state_len = 0;
        self.optimizer.for_each_state(|s| state_len += s.len());
        self.backup_state.reserve_exact(state_len);
        let mut single = Box::new(N::new_tape::<1>());
        let batches = train.len().div_ceil(B);
        let bar = if self.config.quiet {
            ProgressBar::hidden()
        } else {
            ProgressBar::new(batches as u64)
        };
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/{len} batches, last epoch {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let mut order = Vec::with_capacity(train.len());

        while self.epoch < self.config.epochs && !self.history.stopped_early {
            let epoch = self.epoch + 1;
            bar.reset();
            bar.set_prefix(std::format!("epoch {epoch}/{}", self.config.epochs));
            order.clear();
            order.extend_from_slice(train);
            self.rng.shuffle(&mut order);
            self.history.step_losses.reserve(batches);
            let (mut loss_sum, mut norm_sum, mut lr) = (0.0, 0.0, 0.0);
            let mut score = Score::new(data);
            let mut layer_norms = std::vec![0.0; self.history.layers.len()];
            for (index, chunk) in order.chunks(B).enumerate() {
                let loss = match self.batch_gradients(
                    data,
                    chunk,
                    &order,
                    full,
                    &mut single,
                    &mut score,
                ) {
                    Ok(result) => result,
                    Err(source) => return Err(self.numeric_failure(&bar, epoch, source)),
                };
                if let Some(thresholds) = self.config.diagnostics {
                    let step = self.step;
                    let mut found = Vec::new();
                    diagnose_gradients(step, &*self.grads, &thresholds, |d| found.push(d));
                    if index == 0 && chunk.len() == B {
                        full.dead_units(step, &thresholds, &mut found);
                    }
                    for d in found {
                        self.report(&bar, d);
                    }
                }
                let mut squares = 0.0f64;
                let mut k = 0;
                layer_grad_norms(&*self.grads, |_, norm| {
                    layer_norms[k] += norm;
                    squares += norm * norm;
                    k += 1;
                });
                let mut loss = loss.as_f64();
                if self.config.penalty.is_active() {
                    let p = &self.config.penalty;
                    let penalty = Penalty {
                        l1: T::of(p.l1),
                        l2: T::of(p.l2),
                        include_bias: p.include_bias,
                    };
                    loss += penalty.apply(&*self.net, &mut self.grads).as_f64();
                }
                norm_sum += squares.sqrt();
                if let Some(max) = self.config.clip_norm {
                    clip_grad_norm(&mut *self.grads, T::of(max));
                }
                if let Some(limit) = self.config.clip_value {
                    clip_grad_value(&mut *self.grads, T::of(limit));
                }
                lr = self.schedule.lr(self.step);
                if !valid_lr::<T>(lr) {
                    return Err(TrainError::LearningRate {
                        step: self.step,
                        lr,
                    });
                }
                self.optimizer.set_lr(T::of(lr));
                if let Err(source) = self.checked_step() {
                    return Err(self.numeric_failure(&bar, epoch, source));
                }
                self.step += 1;
                self.history.step_losses.push(loss);
                self.history.step_lrs.push(lr);
                loss_sum += loss * chunk.len() as f64;
                bar.inc(1);
            }
            self.epoch = epoch;
            let mut record = EpochRecord {
                epoch,
                train_loss: loss_sum / train.len() as f64,
                train_accuracy: score.accuracy(train.len()),
                train_regression: score.regression(),
                validation_loss: None,
                validation_accuracy: None,
                validation_regression: None,
                lr,
                grad_norm: norm_sum / batches as f64,
                layer_grad_norms: layer_norms.iter().map(|n| n / batches as f64).collect(),
            };
            if let Some(validation) = validation {
                let (loss, score) = self.evaluate_batches::<B>(data, validation)?;
                record.validation_loss = Some(loss);
                record.validation_accuracy = score.accuracy(validation.len());
                record.validation_regression = score.regression();
                self.track_best(loss, epoch);
            }
            if !self.config.quiet {
                bar.suspend(|| std::println!("{}", describe(&record)));
                bar.set_message(std::format!("loss {:.4}", record.train_loss));
            }
            self.history.epochs.push(record);
            if let Some(thresholds) = self.config.diagnostics {
                let train_losses: Vec<f64> =
                    self.history.epochs.iter().map(|r| r.train_loss).collect();
                let validation_losses: Vec<f64> = self
                    .history
                    .epochs
                    .iter()
                    .filter_map(|r| r.validation_loss)
                    .collect();
                let mut found = Vec::new();
                diagnose_curves(&train_losses, &validation_losses, &thresholds, |d| {
                    found.push(d)
                });
                for d in found {
                    self.report(&bar, d);
                }
            }
        }
        bar.finish_and_clear();
        if let Some((_, best)) = &self.best {
            copy_params(&mut *self.net, best);
        }
        Ok(&self.history)
    }

    /// One optimizer step, undone (parameters and optimizer state restored) if it makes
    /// any of them NaN or infinite, so that an error always leaves the last good weights.
    /// Costs a copy of both per step: a pass over memory the step reads anyway.
    fn checked_step(&mut self) -> Result<(), NumericError> {
        self.backup
            .zip_params_mut(&self.net, |_, b, p| b.copy_from_slice(p));
        self.backup_state.clear();
        let backup_state = &mut self.backup_state;
        self.optimizer
            .for_each_state(|s| backup_state.extend_from_slice(s));
        self.optimizer.step(&mut self.net, &self.grads);

        let mut bad = None;
        self.net.for_each_param(|info, values| {
            if bad.is_none() && !kernels::all_finite(values) {
                bad = Some(info.name);
            }
        });
        let mut index = 0;
        self.optimizer.for_each_state(|s| {
            if bad.is_none() && !kernels::all_finite(s) {
                // State tensors follow the parameters' order, one parameter set per
                // buffer (Adam: m, v, v_max).
                bad = N::PARAM_INFO
                    .get(index % N::PARAM_INFO.len().max(1))
                    .map(|i| i.name);
            }
            index += 1;
        });
        let Some(param) = bad else {
            return Ok(());
        };
        self.net
            .zip_params_mut(&self.backup, |_, p, b| p.copy_from_slice(b));
        let mut saved = self.backup_state.iter();
        self.optimizer
            .for_each_state_mut(|s| s.iter_mut().zip(&mut saved).for_each(|(d, v)| *d = *v));
        let steps = self.optimizer.steps();
        self.optimizer.set_steps(steps.saturating_sub(1));
        Err(NumericError::NonFiniteUpdate { param })
    }

    /// NaN or infinity at the current step: recorded as a diagnosis, returned as the error
    /// that stops training.
    fn numeric_failure(
        &mut self,
        bar: &ProgressBar,
        epoch: usize,
        source: NumericError,
    ) -> TrainError {
        let step = self.step;
        self.report(
            bar,
            Diagnosis::NonFinite {
                step,
                error: source,
            },
        );
        TrainError::Numeric {
            epoch,
            step,
            source,
        }
    }

    /// Records a diagnosis the first time its problem is seen, and prints it.
    fn report(&mut self, bar: &ProgressBar, diagnosis: Diagnosis) {
        if self
            .history
            .diagnoses
            .iter()
            .any(|d| d.same_problem(&diagnosis))
        {
            return;
        }
        if !self.config.quiet {
            bar.suspend(|| std::println!("warning: {diagnosis}"));
        }
        self.history.diagnoses.push(diagnosis);
    }

    /// Early stopping: remember the best validation loss and its weights.
    fn track_best(&mut self, loss: f64, epoch: usize) {
        let Some(patience) = self.config.patience else {
            return;
        };
        let improved = self.best.as_ref().is_none_or(|(best, _)| loss < *best);
        if improved {
            let mut copy = self.best.take().map_or_else(boxed_zeros::<N>, |(_, b)| b);
            copy_params(&mut *copy, &self.net);
            self.best = Some((loss, copy));
            self.bad_epochs = 0;
            self.history.best_epoch = Some(epoch);
        } else {
            self.bad_epochs += 1;
            if self.bad_epochs >= patience {
                self.history.stopped_early = true;
            }
        }
    }

    /// Gradients of the mean loss over `chunk` into `self.grads`; returns the loss and
    /// scores the predictions into `score`. A chunk shorter than `B` (the last one of an
    /// epoch) is averaged sample by sample, so no sample is dropped.
    fn batch_gradients<const B: usize, G: FullBatch<T, N, L, IN, OUT, B>>(
        &mut self,
        data: &Dataset,
        chunk: &[usize],
        order: &[usize],
        full: &mut G,
        single: &mut N::Tape<1>,
        score: &mut Score,
    ) -> Result<T, NumericError> {
        if chunk.len() == B || N::BATCH_DEPENDENT {
            // A partial batch of a batch-dependent network (batch norm) is completed with
            // samples from the start of the epoch, so that its statistics are over `B`.
            let mut indices = [0usize; B];
            for (slot, &index) in indices
                .iter_mut()
                .zip(chunk.iter().chain(order.iter().cycle()))
            {
                *slot = index;
            }
            // Only the chunk's own samples count, not the ones completing the batch.
            return full.gradients(
                &mut *self.net,
                data,
                &indices,
                &self.loss,
                &mut *self.grads,
                &mut self.dropout_rng,
                score,
                chunk.len(),
            );
        }
        self.grads.set_zero();
        let weight = T::one() / T::of(chunk.len() as f64);
        let mut loss = T::zero();
        for &index in chunk {
            let (x, y) = data
                .batch::<T, IN, OUT, 1>(&[index])
                .expect("indices and shape checked by fit");
            loss += weight
                * compute_gradients_inspect(
                    &mut *self.net,
                    &x,
                    &y,
                    &self.loss,
                    single,
                    &mut *self.partial,
                    &mut self.dropout_rng,
                    |out| score.add(out, &y, 1),
                )?;
            self.grads
                .zip_params_mut(&self.partial, |_, g, p| kernels::axpy(weight, p, g));
        }
        Ok(loss)
    }

    /// Mean loss and accuracy of the current network on `indices` of a classification
    /// data set, in batches of `B` (for regression data see
    /// [`evaluate_regression`](Self::evaluate_regression)).
    pub fn evaluate<const B: usize>(
        &self,
        data: &Dataset,
        indices: &[usize],
    ) -> Result<(f64, f64), TrainError> {
        // `evaluate::<0>` does not compile.
        const { assert!(B > 0, "a batch holds at least one sample: `evaluate::<0>`") };
        let (loss, score) = self.evaluate_batches::<B>(data, indices)?;
        match score.accuracy(indices.len()) {
            Some(accuracy) => Ok((loss, accuracy)),
            None => Err(ShapeError::Task {
                data: "regression",
                asked: "an accuracy (use `evaluate_regression`)",
            }
            .into()),
        }
    }

    /// Mean loss and the regression metrics (MSE, MAE, R²) of the current network on
    /// `indices` of a regression data set, in batches of `B`.
    pub fn evaluate_regression<const B: usize>(
        &self,
        data: &Dataset,
        indices: &[usize],
    ) -> Result<(f64, RegressionMetrics), TrainError> {
        const { assert!(B > 0, "a batch holds at least one sample: `evaluate::<0>`") };
        let (loss, score) = self.evaluate_batches::<B>(data, indices)?;
        match score.regression() {
            Some(metrics) => Ok((loss, metrics)),
            None => Err(ShapeError::Task {
                data: "classification",
                asked: "regression metrics (use `evaluate`)",
            }
            .into()),
        }
    }

    /// [`evaluate`](Self::evaluate) without the check of `B`, which `fit` leaves to its
    /// tape (one error for `fit::<0>`, not one per function it calls).
    fn evaluate_batches<const B: usize>(
        &self,
        data: &Dataset,
        indices: &[usize],
    ) -> Result<(f64, Score), TrainError> {
        data.check_shape::<IN, OUT>()?;
        let mut loss = 0.0;
        let mut score = Score::new(data);
        for chunk in indices.chunks(B) {
            if chunk.len() == B {
                let (x, y) = data.batch::<T, IN, OUT, B>(chunk)?;
                let out = self.net.forward(&x);
                loss += self.loss.loss(&out, &y).as_f64() * B as f64;
                score.add(&out, &y, B);
            } else {
                for &index in chunk {
                    let (x, y) = data.batch::<T, IN, OUT, 1>(&[index])?;
                    let out = self.net.forward(&x);
                    loss += self.loss.loss(&out, &y).as_f64();
                    score.add(&out, &y, 1);
                }
            }
        }
        let n = indices.len().max(1) as f64;
        Ok((loss / n, score))
    }

    /// Saves everything needed to resume bit for bit: parameters and buffers, optimizer
    /// state and step count, schedule position, epoch, the shuffling and dropout RNGs,
    /// early-stopping state and the history. The previous file survives a failed save.
    pub fn save_checkpoint(&self, path: impl AsRef<Path>) -> Result<(), CheckpointError> {
        checkpoint::write_atomically(path.as_ref(), &self.checkpoint_bytes())
    }

    /// The checkpoint [`save_checkpoint`](Self::save_checkpoint) writes, in memory.
    pub fn checkpoint_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new::<T>();
        w.tensors(N::PARAM_INFO.iter().chain(N::BUFFER_INFO));
        w.string(O::NAME);
        write_config(&mut w, &self.config);
        w.u64(self.epoch as u64);
        w.u64(self.step);
        for word in self.rng.state().into_iter().chain(self.dropout_rng.state()) {
            w.u64(word);
        }
        w.u64(self.bad_epochs as u64);
        write_params(&mut w, &*self.net);
        w.u64(self.optimizer.steps());
        let mut state = Vec::new();
        self.optimizer
            .for_each_state(|s| state.extend_from_slice(s));
        w.scalars(&state);
        match &self.best {
            Some((loss, best)) => {
                w.u64(1);
                w.f64(*loss);
                write_params(&mut w, &**best);
            }
            None => w.u64(0),
        }
        let h = &self.history;
        w.u64(h.epochs.len() as u64);
        for r in &h.epochs {
            w.u64(r.epoch as u64);
            for v in [r.train_loss, r.lr, r.grad_norm] {
                w.f64(v);
            }
            for v in [r.train_accuracy, r.validation_loss, r.validation_accuracy] {
                w.u64(u64::from(v.is_some()));
                w.f64(v.unwrap_or(0.0));
            }
            for m in [r.train_regression, r.validation_regression] {
                w.u64(u64::from(m.is_some()));
                let m = m.map_or([0.0; 3], |m| [m.mse, m.mae, m.r2]);
                m.iter().for_each(|&v| w.f64(v));
            }
            w.u64(r.layer_grad_norms.len() as u64);
            for &v in &r.layer_grad_norms {
                w.f64(v);
            }
        }
        w.u64(h.step_losses.len() as u64);
        for (&loss, &lr) in h.step_losses.iter().zip(&h.step_lrs) {
            w.f64(loss);
            w.f64(lr);
        }
        w.u64(h.diagnoses.len() as u64);
        for d in &h.diagnoses {
            let (words, values) = encode_diagnosis::<T, N, IN, OUT>(d);
            words.iter().for_each(|&v| w.u64(v));
            values.iter().for_each(|&v| w.f64(v));
        }
        w.u64(h.best_epoch.map_or(0, |e| e as u64 + 1));
        w.u64(u64::from(h.stopped_early));
        w.finish()
    }

    /// Restores a checkpoint written by [`save_checkpoint`](Self::save_checkpoint) for
    /// the same network and optimizer types. Everything is read and checked before
    /// anything changes: on error the trainer is untouched.
    pub fn load_checkpoint(&mut self, path: impl AsRef<Path>) -> Result<(), CheckpointError> {
        self.load_checkpoint_bytes(&checkpoint::read(path.as_ref())?)
    }

    /// [`load_checkpoint`](Self::load_checkpoint) from bytes in memory: on error the
    /// trainer is untouched.
    /// The trainer keeps its own [`TrainConfig`] (so that, say, `epochs` can be raised
    /// before resuming); [`Trainer::resume`] takes the stored one.
    pub fn load_checkpoint_bytes(&mut self, bytes: &[u8]) -> Result<(), CheckpointError> {
        self.restore(bytes).map(|_| ())
    }

    /// Builds a trainer from a checkpoint alone, with the optimizer, schedule and loss
    /// given (their settings are code, not data): the network, the [`TrainConfig`], the
    /// optimizer's state and everything else come from the file, so `fit` continues the
    /// run where it stopped, bit for bit.
    ///
    /// ```no_run
    /// # use network::prelude::*;
    /// # network! { struct Iris { hidden: Dense<4, 16>, Relu, logits: Dense<16, 3> } }
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let data = network::data::Dataset::from_csv_path("data/iris.csv")?;
    /// # let train: Vec<usize> = (0..data.len()).collect();
    /// let optimizer = Adam::<f32, Iris<f32>>::new(AdamConfig::adam(0.01));
    /// let mut trainer = Trainer::resume("iris.ckpt", optimizer, Constant(0.01), SoftmaxCrossEntropy)?;
    /// trainer.fit::<16>(&data, &train, None)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn resume(
        path: impl AsRef<Path>,
        optimizer: O,
        schedule: S,
        loss: L,
    ) -> Result<Self, CheckpointError> {
        Self::resume_bytes(&checkpoint::read(path.as_ref())?, optimizer, schedule, loss)
    }

    /// [`resume`](Self::resume) from bytes in memory.
    pub fn resume_bytes(
        bytes: &[u8],
        optimizer: O,
        schedule: S,
        loss: L,
    ) -> Result<Self, CheckpointError> {
        let config = TrainConfig::default();
        let mut trainer =
            Self::from_boxed(boxed_zeros(), Box::new(optimizer), schedule, loss, config);
        trainer.config = trainer.restore(bytes)?;
        Ok(trainer)
    }

    /// Reads and checks a checkpoint, then restores everything but the config, which it
    /// returns.
    fn restore(&mut self, bytes: &[u8]) -> Result<TrainConfig, CheckpointError> {
        let mut r = Reader::open::<T>(bytes)?;
        r.expect_tensors(N::PARAM_INFO.iter().chain(N::BUFFER_INFO))?;
        let optimizer = r.string("optimizer")?;
        if optimizer != O::NAME {
            return Err(CheckpointError::Optimizer {
                expected: O::NAME,
                found: optimizer,
            });
        }
        let config = read_config(&mut r)?;
        let invalid = |section| CheckpointError::Invalid { section };
        let count = |value: u64, section| usize::try_from(value).map_err(|_| invalid(section));
        let epoch = count(r.u64()?, "epoch")?;
        let step = r.u64()?;
        let rng = [r.u64()?, r.u64()?, r.u64()?, r.u64()?];
        let dropout_rng = [r.u64()?, r.u64()?, r.u64()?, r.u64()?];
        // Never written: a generator's state is never all zero.
        if rng == [0; 4] || dropout_rng == [0; 4] {
            return Err(invalid("random generators"));
        }
        let bad_epochs = count(r.u64()?, "early stopping")?;
        let params: (Vec<T>, Vec<u64>) = (
            r.scalars("parameters", N::PARAMS + N::BUFFERS)?,
            read_counters::<T, N>(&mut r)?,
        );
        let optimizer_steps = r.u64()?;
        let mut state_len = 0;
        self.optimizer.for_each_state(|s| state_len += s.len());
        let state: Vec<T> = r.scalars("optimizer state", state_len)?;
        let best = match r.u64()? {
            0 => None,
            1 => {
                let loss = r.f64()?;
                if !loss.is_finite() {
                    return Err(CheckpointError::NonFinite {
                        section: "early stopping",
                    });
                }
                Some((
                    loss,
                    (
                        r.scalars::<T>("best parameters", N::PARAMS + N::BUFFERS)?,
                        read_counters::<T, N>(&mut r)?,
                    ),
                ))
            }
            _ => return Err(invalid("early stopping")),
        };
        let mut history = History {
            layers: param_layers::<T, N>(),
            ..History::default()
        };
        // Metrics: losses, norms and rates are finite and not negative; accuracies are
        // fractions.
        let metric = |value: f64| value.is_finite() && value >= 0.0;
        let fraction = |value: f64| (0.0..=1.0).contains(&value);
        for _ in 0..r.u64()? {
            let record = r.u64()?;
            // Records are numbered 1, 2, 3, ...
            if record != history.epochs.len() as u64 + 1 {
                return Err(invalid("history"));
            }
            let [train_loss, lr, grad_norm] = [r.f64()?, r.f64()?, r.f64()?];
            if !(metric(train_loss) && metric(lr) && metric(grad_norm)) {
                return Err(invalid("history"));
            }
            let mut optional =
                |valid: &dyn Fn(f64) -> bool| -> Result<Option<f64>, CheckpointError> {
                    let present = r.u64()?;
                    let value = r.f64()?;
                    match present {
                        0 => Ok(None),
                        1 if valid(value) => Ok(Some(value)),
                        _ => Err(invalid("history")),
                    }
                };
            let train_accuracy = optional(&fraction)?;
            let (validation_loss, validation_accuracy) = (optional(&metric)?, optional(&fraction)?);
            let mut regression = || -> Result<Option<RegressionMetrics>, CheckpointError> {
                let present = r.u64()?;
                let [mse, mae, r2] = [r.f64()?, r.f64()?, r.f64()?];
                match present {
                    0 => Ok(None),
                    // R² is at most 1 and may be any finite negative value.
                    1 if metric(mse) && metric(mae) && r2.is_finite() && r2 <= 1.0 => {
                        Ok(Some(RegressionMetrics { mse, mae, r2 }))
                    }
                    _ => Err(invalid("history")),
                }
            };
            let (train_regression, validation_regression) = (regression()?, regression()?);
            // A record is of one task: an accuracy or regression metrics, for training
            // and for validation exactly when there is a validation loss.
            if train_accuracy.is_some() == train_regression.is_some()
                || validation_loss.is_some()
                    != (validation_accuracy.is_some() || validation_regression.is_some())
                || (validation_accuracy.is_some() && train_accuracy.is_none())
                || (validation_regression.is_some() && train_regression.is_none())
            {
                return Err(invalid("history"));
            }
            let layers = r.u64()?;
            let expected = param_layers::<T, N>().len() as u64;
            if layers != expected {
                return Err(CheckpointError::Shape {
                    section: "layer gradient norms",
                    expected,
                    found: layers,
                });
            }
            let mut layer_grad_norms = Vec::with_capacity(layers as usize);
            for _ in 0..layers {
                let norm = r.f64()?;
                if !metric(norm) {
                    return Err(invalid("history"));
                }
                layer_grad_norms.push(norm);
            }
            history.epochs.push(EpochRecord {
                epoch: history.epochs.len() + 1,
                train_loss,
                train_accuracy,
                train_regression,
                validation_loss,
                validation_accuracy,
                validation_regression,
                lr,
                grad_norm,
                layer_grad_norms,
            });
        }
        for _ in 0..r.u64()? {
            let (loss, lr) = (r.f64()?, r.f64()?);
            if !(metric(loss) && metric(lr)) {
                return Err(invalid("history"));
            }
            history.step_losses.push(loss);
            history.step_lrs.push(lr);
        }
        for _ in 0..r.u64()? {
            let words = [r.u64()?, r.u64()?, r.u64()?, r.u64()?, r.u64()?];
            let values = [r.f64()?, r.f64()?];
            history
                .diagnoses
                .push(decode_diagnosis::<T, N, IN, OUT>(words, values).ok_or(
                    CheckpointError::Invalid {
                        section: "diagnoses",
                    },
                )?);
        }
        history.best_epoch = match r.u64()? {
            0 => None,
            e => Some(count(e - 1, "early stopping")?),
        };
        history.stopped_early = match r.u64()? {
            0 => false,
            1 => true,
            _ => return Err(invalid("early stopping")),
        };
        r.finish()?;
        // The counters agree with what they count: one record per epoch, one loss per
        // step, and early-stopping state within the epochs run. (A step count of
        // `u64::MAX` would otherwise overflow at the next step.)
        if epoch != history.epochs.len() || step != history.step_losses.len() as u64 {
            return Err(invalid("epoch and step counters"));
        }
        if bad_epochs > epoch
            || history.best_epoch.is_some_and(|e| e == 0 || e > epoch)
            || history.best_epoch.is_some() != best.is_some()
        {
            return Err(invalid("early stopping"));
        }

        // Everything is valid: commit.
        read_params(&mut *self.net, &params);
        let mut values = state.iter();
        self.optimizer
            .for_each_state_mut(|s| s.iter_mut().zip(&mut values).for_each(|(d, v)| *d = *v));
        self.optimizer.set_steps(optimizer_steps);
        self.best = best.map(|(loss, values)| {
            let mut net = boxed_zeros::<N>();
            read_params(&mut *net, &values);
            (loss, net)
        });
        self.epoch = epoch;
        self.step = step;
        self.rng = Rng::from_state(rng);
        self.dropout_rng = Rng::from_state(dropout_rng);
        self.bad_epochs = bad_epochs;
        self.history = history;
        Ok(config)
    }
}

/// How [`Trainer::fit_with`] computes the gradient of a full batch of `B` (the samples
/// `indices` of `data`, checked), scoring the predictions of its first `counted`
/// samples into `score`.
trait FullBatch<
    T: Scalar,
    N: Network<T, IN, OUT>,
    L,
    const IN: usize,
    const OUT: usize,
    const B: usize,
>
{
    #[allow(clippy::too_many_arguments)] // the training step's inputs, each needed
    fn gradients(
        &mut self,
        net: &mut N,
        data: &Dataset,
        indices: &[usize; B],
        loss: &L,
        grads: &mut N,
        rng: &mut Rng,
        score: &mut Score,
        counted: usize,
    ) -> Result<T, NumericError>;

    /// Dead-unit diagnoses from the activations of the last batch.
    fn dead_units(&self, step: u64, thresholds: &Thresholds, found: &mut Vec<Diagnosis>);
}

/// The whole batch on the calling thread, with its tape and a buffer for the batch.
struct OneThread<
    T: Scalar,
    N: Network<T, IN, OUT>,
    const IN: usize,
    const OUT: usize,
    const B: usize,
> {
    tape: Box<N::Tape<B>>,
    x: Box<SMatrix<T, IN, B>>,
    y: Box<SMatrix<T, OUT, B>>,
}

impl<T, N, L, const IN: usize, const OUT: usize, const B: usize> FullBatch<T, N, L, IN, OUT, B>
    for OneThread<T, N, IN, OUT, B>
where
    T: Scalar,
    N: Network<T, IN, OUT>,
    L: Loss,
{
    fn gradients(
        &mut self,
        net: &mut N,
        data: &Dataset,
        indices: &[usize; B],
        loss: &L,
        grads: &mut N,
        rng: &mut Rng,
        score: &mut Score,
        counted: usize,
    ) -> Result<T, NumericError> {
        data.batch_into(indices, &mut *self.x, &mut *self.y)
            .expect("indices and shape checked by fit");
        let y = &*self.y;
        compute_gradients_inspect(net, &self.x, y, loss, &mut self.tape, grads, rng, |out| {
            score.add(out, y, counted)
        })
    }

    fn dead_units(&self, step: u64, thresholds: &Thresholds, found: &mut Vec<Diagnosis>) {
        diagnose_dead_units::<T, N, _, IN, OUT, B>(step, &self.tape, thresholds, |d| found.push(d));
    }
}

/// The batch in parts of `S`, each gathered and computed on one of the pool's threads
/// (only full batches of networks without batch statistics or dropout come here, so
/// every sample counts).
impl<T, N, L, const IN: usize, const OUT: usize, const B: usize, const S: usize>
    FullBatch<T, N, L, IN, OUT, B> for DataParallel<T, N, L, IN, OUT, S>
where
    T: Scalar + Send + Sync + 'static,
    N: Network<T, IN, OUT> + Zeroable + Send + Sync + 'static,
    N::Tape<S>: Send,
    L: Loss + Send + 'static,
{
    fn gradients(
        &mut self,
        net: &mut N,
        data: &Dataset,
        indices: &[usize; B],
        _loss: &L,
        grads: &mut N,
        _rng: &mut Rng,
        score: &mut Score,
        counted: usize,
    ) -> Result<T, NumericError> {
        let fill = |part: usize, x: &mut SMatrix<T, IN, S>, y: &mut SMatrix<T, OUT, S>| {
            data.batch_into(&indices[part * S..(part + 1) * S], x, y)
                .expect("indices and shape checked by fit");
        };
        self.compute_gradients_filled(&*net, B / S, fill, grads, |first, out, y| {
            score.add(out, y, counted.saturating_sub(first));
        })
    }

    fn dead_units(&self, step: u64, thresholds: &Thresholds, found: &mut Vec<Diagnosis>) {
        diagnose_dead_units::<T, N, _, IN, OUT, S>(step, self.tape(), thresholds, |d| {
            found.push(d)
        });
    }
}

/// The [`TrainConfig`] in a checkpoint: every field, options as a flag and a value.
fn write_config(w: &mut Writer, c: &TrainConfig) {
    let option = |w: &mut Writer, v: Option<f64>| {
        w.u64(u64::from(v.is_some()));
        w.f64(v.unwrap_or(0.0));
    };
    w.u64(c.epochs as u64);
    w.u64(c.seed);
    w.u64(c.patience.map_or(0, |p| p as u64 + 1));
    option(w, c.clip_norm);
    option(w, c.clip_value);
    w.f64(c.penalty.l1);
    w.f64(c.penalty.l2);
    w.u64(u64::from(c.penalty.include_bias));
    w.u64(u64::from(c.diagnostics.is_some()));
    let t = c.diagnostics.unwrap_or_default();
    for v in [
        t.vanishing_ratio,
        t.exploding_norm,
        t.dead_fraction,
        t.plateau_tolerance,
    ] {
        w.f64(v);
    }
    w.u64(t.plateau_epochs as u64);
    w.u64(t.overfitting_epochs as u64);
    w.u64(u64::from(c.quiet));
}

/// Reads what [`write_config`] wrote, refusing what `TrainConfig::validate` refuses and
/// any flag other than 0 or 1.
fn read_config(r: &mut Reader<'_>) -> Result<TrainConfig, CheckpointError> {
    let invalid = || CheckpointError::Invalid { section: "config" };
    let flag = |v: u64| match v {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(invalid()),
    };
    let count = |v: u64| usize::try_from(v).map_err(|_| invalid());
    let epochs = count(r.u64()?)?;
    let seed = r.u64()?;
    let patience = match r.u64()? {
        0 => None,
        p => Some(count(p - 1)?),
    };
    let mut option = || -> Result<Option<f64>, CheckpointError> {
        let present = flag(r.u64()?)?;
        let value = r.f64()?;
        Ok(present.then_some(value))
    };
    let (clip_norm, clip_value) = (option()?, option()?);
    let penalty = Penalty {
        l1: r.f64()?,
        l2: r.f64()?,
        include_bias: flag(r.u64()?)?,
    };
    let diagnosing = flag(r.u64()?)?;
    let [vanishing_ratio, exploding_norm, dead_fraction, plateau_tolerance] =
        [r.f64()?, r.f64()?, r.f64()?, r.f64()?];
    let thresholds = Thresholds {
        vanishing_ratio,
        exploding_norm,
        dead_fraction,
        plateau_epochs: count(r.u64()?)?,
        plateau_tolerance,
        overfitting_epochs: count(r.u64()?)?,
    };
    let config = TrainConfig {
        epochs,
        seed,
        patience,
        clip_norm,
        clip_value,
        penalty,
        diagnostics: diagnosing.then_some(thresholds),
        quiet: flag(r.u64()?)?,
    };
    config.validate().map_err(|_| invalid())?;
    Ok(config)
}

/// One line describing an epoch.
fn describe(r: &EpochRecord) -> std::string::String {
    let mut line = std::format!("epoch {:3}  loss {:.4}", r.epoch, r.train_loss);
    if let Some(accuracy) = r.train_accuracy {
        line.push_str(&std::format!("  accuracy {:.1}%", 100.0 * accuracy));
    }
    if let Some(m) = r.train_regression {
        line.push_str(&std::format!("  mae {:.4}  r2 {:.4}", m.mae, m.r2));
    }
    if let Some(loss) = r.validation_loss {
        line.push_str(&std::format!("  validation loss {loss:.4}"));
    }
    if let Some(accuracy) = r.validation_accuracy {
        line.push_str(&std::format!("  accuracy {:.1}%", 100.0 * accuracy));
    }
    if let Some(m) = r.validation_regression {
        line.push_str(&std::format!("  mae {:.4}  r2 {:.4}", m.mae, m.r2));
    }
    line.push_str(&std::format!(
        "  lr {:.2e}  grad norm {:.3}",
        r.lr,
        r.grad_norm
    ));
    line
}

/// Layer names, then tensor names: diagnoses refer to them by index in checkpoints.
fn name_table<T: Scalar, N: Network<T, IN, OUT>, const IN: usize, const OUT: usize>(
) -> impl Iterator<Item = &'static str> {
    N::LAYERS
        .iter()
        .map(|l| l.name)
        .chain(N::PARAM_INFO.iter().map(|p| p.name))
}

fn name_index<T: Scalar, N: Network<T, IN, OUT>, const IN: usize, const OUT: usize>(
    name: &str,
) -> u64 {
    name_table::<T, N, IN, OUT>()
        .position(|n| n == name)
        .map_or(u64::MAX, |i| i as u64)
}

fn name_at<T: Scalar, N: Network<T, IN, OUT>, const IN: usize, const OUT: usize>(
    index: u64,
) -> Option<&'static str> {
    name_table::<T, N, IN, OUT>().nth(usize::try_from(index).ok()?)
}

/// A diagnosis as five integers (kind, three fields, a name index) and two reals.
fn encode_diagnosis<T: Scalar, N: Network<T, IN, OUT>, const IN: usize, const OUT: usize>(
    d: &Diagnosis,
) -> ([u64; 5], [f64; 2]) {
    let name = |n: &str| name_index::<T, N, IN, OUT>(n);
    match *d {
        Diagnosis::VanishingGradients {
            step,
            layer,
            norm,
            last_layer,
            last_norm,
        } => (
            [0, step, name(last_layer), 0, name(layer)],
            [norm, last_norm],
        ),
        Diagnosis::ExplodingGradients {
            step,
            layer,
            norm,
            limit,
        } => ([1, step, 0, 0, name(layer)], [norm, limit]),
        Diagnosis::NonFinite { step, error } => {
            let (code, sample, n) = match error {
                NumericError::NonFiniteInput { sample } => (0, sample as u64, 0),
                NumericError::NonFiniteTarget { sample } => (1, sample as u64, 0),
                NumericError::NonFiniteForward { layer } => (2, 0, name(layer)),
                NumericError::NonFiniteLoss => (3, 0, 0),
                NumericError::NonFiniteGradient { param } => (4, 0, name(param)),
                NumericError::NonFiniteUpdate { param } => (5, 0, name(param)),
            };
            ([2, step, code, sample, n], [0.0, 0.0])
        }
        Diagnosis::DeadUnits {
            step,
            layer,
            dead,
            units,
        } => (
            [3, step, dead as u64, units as u64, name(layer)],
            [0.0, 0.0],
        ),
        Diagnosis::LossPlateau {
            epoch,
            epochs,
            change,
        } => ([4, epoch as u64, epochs as u64, 0, 0], [change, 0.0]),
        Diagnosis::Overfitting {
            epoch,
            since,
            train_loss,
            validation_loss,
        } => (
            [5, epoch as u64, since as u64, 0, 0],
            [train_loss, validation_loss],
        ),
    }
}

fn decode_diagnosis<T: Scalar, N: Network<T, IN, OUT>, const IN: usize, const OUT: usize>(
    [kind, a, b, c, n]: [u64; 5],
    [x, y]: [f64; 2],
) -> Option<Diagnosis> {
    let name = |i| name_at::<T, N, IN, OUT>(i);
    Some(match kind {
        0 => Diagnosis::VanishingGradients {
            step: a,
            layer: name(n)?,
            norm: x,
            last_layer: name(b)?,
            last_norm: y,
        },
        1 => Diagnosis::ExplodingGradients {
            step: a,
            layer: name(n)?,
            norm: x,
            limit: y,
        },
        2 => Diagnosis::NonFinite {
            step: a,
            error: match b {
                0 => NumericError::NonFiniteInput { sample: c as usize },
                1 => NumericError::NonFiniteTarget { sample: c as usize },
                2 => NumericError::NonFiniteForward { layer: name(n)? },
                3 => NumericError::NonFiniteLoss,
                4 => NumericError::NonFiniteGradient { param: name(n)? },
                5 => NumericError::NonFiniteUpdate { param: name(n)? },
                _ => return None,
            },
        },
        3 => Diagnosis::DeadUnits {
            step: a,
            layer: name(n)?,
            dead: b as usize,
            units: c as usize,
        },
        4 => Diagnosis::LossPlateau {
            epoch: a as usize,
            epochs: b as usize,
            change: x,
        },
        5 => Diagnosis::Overfitting {
            epoch: a as usize,
            since: b as usize,
            train_loss: x,
            validation_loss: y,
        },
        _ => return None,
    })
}

/// Parameters then buffers, with their total count.
fn write_params<T: Scalar, P: Params<T>>(w: &mut Writer, params: &P) {
    w.u64((P::PARAMS + P::BUFFERS) as u64);
    params.for_each_param(|_, values| w.raw_scalars(values));
    params.for_each_buffer(|_, values| w.raw_scalars(values));
    params.for_each_counter(|_, n| w.u64(n));
}

/// The batch counters [`write_params`] wrote after the values.
fn read_counters<T: Scalar, P: Params<T>>(r: &mut Reader<'_>) -> Result<Vec<u64>, CheckpointError> {
    P::COUNTERS.iter().map(|_| r.u64()).collect()
}

fn read_params<T: Scalar, P: Params<T>>(params: &mut P, (values, counters): &(Vec<T>, Vec<u64>)) {
    let mut counters = counters.iter();
    params.for_each_counter_mut(|_, n| *n = counters.next().copied().unwrap_or(0));
    params.for_each_param_mut(|info, dst| {
        dst.copy_from_slice(&values[info.offset..info.offset + info.len])
    });
    let buffers = &values[P::PARAMS..];
    params.for_each_buffer_mut(|info, dst| {
        dst.copy_from_slice(&buffers[info.offset..info.offset + info.len])
    });
}
