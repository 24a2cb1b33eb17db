//! How well a classifier does on a data set: the confusion matrix and, per class,
//! precision, recall and F1, printable as a table.
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
    let classes = if OUT == 1 { 2 } else { OUT };
    let mut confusion = std::vec![std::vec![0usize; classes]; classes];
    for &index in indices {
        let (x, _) = data.batch::<T, IN, OUT, 1>(&[index])?;
        let [predicted] = net.predict(&x);
        confusion[data.labels()[index]][predicted] += 1;
    }
    Ok(ClassificationReport { confusion })
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
}
