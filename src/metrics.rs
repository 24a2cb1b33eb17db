//! How well a network does on a data set: for a classifier the confusion matrix and, per
//! class, precision, recall and F1, printable as a table; for regression the mean squared
//! and absolute errors and R² ([`RegressionMetrics`], [`regression_report`]).
//!
//! ```no_run
//! use network::prelude::*;
//! use network::data::Dataset;
//! use network::metrics::classification_report;
//!
//! network! { struct Iris { hidden: Dense<4, 16>, Relu, logits: Dense<16, 3> } }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let data = Dataset::from_csv_path("data/iris.csv")?;
//! let (_, test) = data.stratified_split(0.2, &mut Rng::seed_from_u64(0));
//! let net = Iris::<f32>::random(&mut Rng::seed_from_u64(1));
//! let report = classification_report(&net, &data, &test)?;
//! println!("{report}");
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::vec::Vec;

use crate::data::{Dataset, ShapeError};
use crate::{Network, Scalar};

/// The confusion matrix of a classifier on some samples, and the scores derived from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassificationReport {
    /// `confusion[actual][predicted]`: how many samples of class `actual` were predicted
    /// as `predicted`.
    pub confusion: Vec<Vec<usize>>,
}

impl ClassificationReport {
    /// Number of classes (rows and columns of the confusion matrix).
    pub fn classes(&self) -> usize {
        self.confusion.len()
    }

    /// Samples counted.
    pub fn samples(&self) -> usize {
        self.confusion.iter().flatten().sum()
    }

    /// Fraction of samples predicted correctly (0 for no samples).
    pub fn accuracy(&self) -> f64 {
        let correct: usize = (0..self.classes()).map(|c| self.confusion[c][c]).sum();
        ratio(correct, self.samples())
    }

    /// Samples whose class is `class`.
    pub fn support(&self, class: usize) -> usize {
        self.confusion[class].iter().sum()
    }

    /// Of the samples predicted as `class`, the fraction that are (0 when none is).
    pub fn precision(&self, class: usize) -> f64 {
        let predicted: usize = self.confusion.iter().map(|row| row[class]).sum();
        ratio(self.confusion[class][class], predicted)
    }

    /// Of the samples of `class`, the fraction predicted as it (0 when there are none).
    pub fn recall(&self, class: usize) -> f64 {
        ratio(self.confusion[class][class], self.support(class))
    }

    /// The harmonic mean of precision and recall (0 when both are 0).
    pub fn f1(&self, class: usize) -> f64 {
        let (p, r) = (self.precision(class), self.recall(class));
        if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        }
    }
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

impl fmt::Display for ClassificationReport {
    /// Per class precision, recall, F1 and support, then the accuracy and the confusion
    /// matrix (rows: actual class, columns: predicted).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "class  precision  recall     f1  support")?;
        for c in 0..self.classes() {
            writeln!(
                f,
                "{c:>5}  {:>9.3}  {:>6.3}  {:>5.3}  {:>7}",
                self.precision(c),
                self.recall(c),
                self.f1(c),
                self.support(c)
            )?;
        }
        writeln!(
            f,
            "accuracy {:.3} ({} samples)",
            self.accuracy(),
            self.samples()
        )?;
        write!(f, "confusion (rows actual, columns predicted):")?;
        for row in &self.confusion {
            writeln!(f)?;
            for (k, n) in row.iter().enumerate() {
                write!(f, "{}{n:>5}", if k == 0 { "" } else { " " })?;
            }
        }
        Ok(())
    }
}

/// Predicts every sample of `indices` with `net` (see `Network::predict`: the largest
/// output, or the sign of a single logit) and counts the outcomes against the labels.
pub fn classification_report<T, N, const IN: usize, const OUT: usize>(
    net: &N,
    data: &Dataset,
    indices: &[usize],
) -> Result<ClassificationReport, ShapeError>
where
    T: Scalar,
    N: Network<T, IN, OUT>,
{
    data.check_shape::<IN, OUT>()?;
    if data.is_regression() {
        return Err(ShapeError::Task {
            data: "regression",
            asked: "a classification report",
        });
    }
    let classes = if OUT == 1 { 2 } else { OUT };
    let mut confusion = std::vec![std::vec![0usize; classes]; classes];
    for &index in indices {
        let (x, _) = data.batch::<T, IN, OUT, 1>(&[index])?;
        let [predicted] = net.predict(&x);
        confusion[data.labels()[index]][predicted] += 1;
    }
    Ok(ClassificationReport { confusion })
}

/// How far a regression network's outputs are from the targets, over samples and
/// outputs: mean squared error, mean absolute error, and R² (the coefficient of
/// determination, averaged over the outputs as scikit-learn's `r2_score` does; an output
/// whose target is constant scores 1 when predicted exactly, else 0).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RegressionMetrics {
    /// Mean of the squared errors over samples and outputs.
    pub mse: f64,
    /// Mean of the absolute errors over samples and outputs.
    pub mae: f64,
    /// `1 - SS_res / SS_tot` per output, averaged over the outputs.
    pub r2: f64,
}

impl fmt::Display for RegressionMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "mse {:.4}  mae {:.4}  r2 {:.4}",
            self.mse, self.mae, self.r2
        )
    }
}

/// Sums from which [`RegressionMetrics`] are computed, added to one sample at a time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RegressionTally {
    samples: usize,
    squared: f64,
    absolute: f64,
    /// Per output: sum of targets, sum of squared targets, sum of squared errors.
    per_output: Vec<[f64; 3]>,
}

impl RegressionTally {
    /// An empty tally for `outputs` values per sample.
    pub fn new(outputs: usize) -> Self {
        Self {
            per_output: std::vec![[0.0; 3]; outputs],
            ..Self::default()
        }
    }

    /// Adds one sample's prediction and target (each `outputs` long; extra values of
    /// the longer one are ignored).
    pub fn add(&mut self, prediction: &[f64], target: &[f64]) {
        self.samples += 1;
        for ((p, t), sums) in prediction.iter().zip(target).zip(&mut self.per_output) {
            let e = p - t;
            self.squared += e * e;
            self.absolute += e.abs();
            sums[0] += t;
            sums[1] += t * t;
            sums[2] += e * e;
        }
    }

    /// Samples added.
    pub fn samples(&self) -> usize {
        self.samples
    }

    /// The metrics of the samples added (zeros for none).
    pub fn finish(&self) -> RegressionMetrics {
        let n = self.samples as f64;
        let values = n * self.per_output.len() as f64;
        if values == 0.0 {
            return RegressionMetrics {
                mse: 0.0,
                mae: 0.0,
                r2: 0.0,
            };
        }
        let r2 = self
            .per_output
            .iter()
            .map(|&[sum, squares, residual]| {
                let total = (squares - sum * sum / n).max(0.0);
                match (total > 0.0, residual > 0.0) {
                    (true, _) => 1.0 - residual / total,
                    (false, false) => 1.0,
                    (false, true) => 0.0,
                }
            })
            .sum::<f64>()
            / self.per_output.len() as f64;
        RegressionMetrics {
            mse: self.squared / values,
            mae: self.absolute / values,
            r2,
        }
    }
}

/// The regression metrics of `net` on the samples `indices` of a regression data set.
pub fn regression_report<T, N, const IN: usize, const OUT: usize>(
    net: &N,
    data: &Dataset,
    indices: &[usize],
) -> Result<RegressionMetrics, ShapeError>
where
    T: Scalar,
    N: Network<T, IN, OUT>,
{
    data.check_shape::<IN, OUT>()?;
    if !data.is_regression() {
        return Err(ShapeError::Task {
            data: "classification",
            asked: "a regression report",
        });
    }
    let mut tally = RegressionTally::new(OUT);
    for &index in indices {
        let (x, y) = data.batch::<T, IN, OUT, 1>(&[index])?;
        let out = net.forward(&x);
        let out: Vec<f64> = out.iter().map(|v| v.as_f64()).collect();
        let y: Vec<f64> = y.iter().map(|v| v.as_f64()).collect();
        tally.add(&out, &y);
    }
    Ok(tally.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_from_a_confusion_matrix_by_hand() {
        // 10 samples of class 0 (8 right), 5 of class 1 (3 right, 2 taken for class 0).
        let report = ClassificationReport {
            confusion: std::vec![std::vec![8, 2], std::vec![2, 3]],
        };
        assert_eq!(report.samples(), 15);
        assert!((report.accuracy() - 11.0 / 15.0).abs() < 1e-15);
        assert!((report.precision(0) - 0.8).abs() < 1e-15);
        assert!((report.recall(1) - 0.6).abs() < 1e-15);
        assert!((report.precision(1) - 0.6).abs() < 1e-15);
        assert!((report.f1(1) - 0.6).abs() < 1e-15);
        let text = std::format!("{report}");
        assert!(
            text.contains("    1      0.600   0.600  0.600        5"),
            "{text}"
        );
        assert!(text.ends_with("    8     2\n    2     3"), "{text}");
        // No samples: zeros, not NaN.
        let empty = ClassificationReport {
            confusion: std::vec![std::vec![0, 0], std::vec![0, 0]],
        };
        assert_eq!((empty.accuracy(), empty.f1(0)), (0.0, 0.0));
    }

    #[test]
    fn regression_metrics_by_hand() {
        // Targets 1, 2, 3, 4 (mean 2.5, SS_tot 5); predictions off by 1, 0, -1, 0.
        let mut tally = RegressionTally::new(1);
        for (p, t) in [(2.0, 1.0), (2.0, 2.0), (2.0, 3.0), (4.0, 4.0)] {
            tally.add(&[p], &[t]);
        }
        let m = tally.finish();
        assert_eq!((m.mse, m.mae), (0.5, 0.5));
        assert!((m.r2 - (1.0 - 2.0 / 5.0)).abs() < 1e-15, "{m}");
        // Two outputs: R² is the mean of each output's, and a constant target scores 1
        // when predicted exactly, 0 otherwise (scikit-learn's convention).
        let mut two = RegressionTally::new(2);
        two.add(&[1.0, 7.0], &[1.0, 7.0]);
        two.add(&[3.0, 7.0], &[3.0, 7.0]);
        assert_eq!(two.finish().r2, 1.0);
        two.add(&[5.0, 8.0], &[5.0, 7.0]);
        assert_eq!(two.finish().r2, 0.5);
        assert_eq!(std::format!("{m}"), "mse 0.5000  mae 0.5000  r2 0.6000");
        assert_eq!(RegressionTally::new(1).finish().r2, 0.0);
    }
}
