//! Tabular classification data: CSV loading with errors that name the line, seeded
//! stratified splits, standardization, and batches as nalgebra matrices.
//!
//! The CSV format is the one of the data sets in `data/`: a header row, numeric
//! feature columns, and an integer class label in the last column.

use std::fmt;
use std::path::Path;
use std::string::{String, ToString};
use std::vec::Vec;

use crate::nalgebra::SMatrix;
use crate::{Rng, Scalar};

/// A classification data set held in memory: `len()` samples of `features()` values
/// each, with a class label per sample.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    names: Vec<String>,
    values: Vec<f64>,
    labels: Vec<usize>,
    classes: usize,
}

/// Why a CSV file could not be read. Lines are counted from 1, the header being line 1.
#[derive(Debug)]
pub enum CsvError {
    /// The file could not be read.
    Io {
        /// The path that failed.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The text has no header row.
    NoHeader,
    /// The header names fewer than two columns (features, then a label).
    TooFewColumns {
        /// Columns the header names.
        found: usize,
    },
    /// The file has a header but no samples.
    NoSamples,
    /// A row has a different number of columns from the header.
    ColumnCount {
        /// 1-based line number.
        line: usize,
        /// Columns in the header.
        expected: usize,
        /// Columns on this line.
        found: usize,
    },
    /// A feature is not a finite number.
    NotANumber {
        /// 1-based line number.
        line: usize,
        /// The column's name from the header.
        column: String,
        /// The text found.
        text: String,
    },
    /// The label is not a non-negative integer.
    BadLabel {
        /// 1-based line number.
        line: usize,
        /// The text found.
        text: String,
    },
}

impl fmt::Display for CsvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CsvError::Io { path, source } => write!(f, "cannot read `{path}`: {source}"),
            CsvError::NoHeader => write!(f, "the CSV text is empty; expected a header row"),
            CsvError::TooFewColumns { found } => write!(
                f,
                "line 1: the header names {found} column(s); expected features followed by a label"
            ),
            CsvError::NoSamples => write!(f, "the CSV has a header but no samples"),
            CsvError::ColumnCount {
                line,
                expected,
                found,
            } => {
                write!(
                    f,
                    "line {line}: expected {expected} columns but found {found}"
                )
            }
            CsvError::NotANumber { line, column, text } => {
                write!(
                    f,
                    "line {line}, column `{column}`: `{text}` is not a finite number"
                )
            }
            CsvError::BadLabel { line, text } => {
                write!(
                    f,
                    "line {line}: label `{text}` is not a non-negative integer"
                )
            }
        }
    }
}

impl std::error::Error for CsvError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CsvError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Data that does not fit the network or batch it is asked to fill.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShapeError {
    /// The network takes `expected` inputs; the data set has `found` features.
    Features {
        /// Inputs the network takes.
        expected: usize,
        /// Features in the data set.
        found: usize,
    },
    /// The network has `outputs` outputs but a label names class `class`.
    Classes {
        /// Outputs of the network.
        outputs: usize,
        /// The out-of-range class.
        class: usize,
    },
    /// A batch of `expected` samples was asked for with `found` indices.
    BatchSize {
        /// The batch's compile-time size.
        expected: usize,
        /// Indices given.
        found: usize,
    },
    /// A sample index is out of range.
    Index {
        /// The index.
        index: usize,
        /// Samples in the data set.
        len: usize,
    },
}

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShapeError::Features { expected, found } => {
                write!(
                    f,
                    "the network takes {expected} inputs but the data has {found} features"
                )
            }
            ShapeError::Classes { outputs, class } => {
                write!(
                    f,
                    "the network has {outputs} outputs but a label names class {class}"
                )
            }
            ShapeError::BatchSize { expected, found } => {
                write!(
                    f,
                    "a batch holds {expected} samples but {found} indices were given"
                )
            }
            ShapeError::Index { index, len } => {
                write!(f, "sample {index} is out of range for {len} samples")
            }
        }
    }
}

impl std::error::Error for ShapeError {}

impl Dataset {
    /// Reads a CSV file (see [`Dataset::from_csv_str`]).
    pub fn from_csv_path(path: impl AsRef<Path>) -> Result<Self, CsvError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| CsvError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_csv_str(&text)
    }

    /// Parses CSV text: a header row, then one sample per line, features first and an
    /// integer label last. Blank lines are skipped; every other mistake is an error that
    /// names its line.
    pub fn from_csv_str(text: &str) -> Result<Self, CsvError> {
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim_end_matches('\r')));
        let (_, header) = lines
            .find(|(_, l)| !l.trim().is_empty())
            .ok_or(CsvError::NoHeader)?;
        let names: Vec<String> = header.split(',').map(|s| s.trim().to_string()).collect();
        if names.len() < 2 {
            return Err(CsvError::TooFewColumns { found: names.len() });
        }
        let features = names.len() - 1;
        let mut values = Vec::new();
        let mut labels = Vec::new();
        for (line, row) in lines {
            if row.trim().is_empty() {
                continue;
            }
            let cells: Vec<&str> = row.split(',').map(str::trim).collect();
            if cells.len() != names.len() {
                return Err(CsvError::ColumnCount {
                    line,
                    expected: names.len(),
                    found: cells.len(),
                });
            }
            for (cell, column) in cells[..features].iter().zip(&names) {
                match cell.parse::<f64>() {
                    Ok(v) if v.is_finite() => values.push(v),
                    _ => {
                        return Err(CsvError::NotANumber {
                            line,
                            column: column.clone(),
                            text: cell.to_string(),
                        })
                    }
                }
            }
            let label = cells[features];
            labels.push(label.parse::<usize>().map_err(|_| CsvError::BadLabel {
                line,
                text: label.to_string(),
            })?);
        }
        if labels.is_empty() {
            return Err(CsvError::NoSamples);
        }
        let classes = labels.iter().max().map_or(0, |m| m + 1);
        Ok(Dataset {
            names,
            values,
            labels,
            classes,
        })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no samples (never true for a parsed file).
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Features per sample.
    pub fn features(&self) -> usize {
        self.names.len() - 1
    }

    /// Number of classes: the largest label plus one.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// The header's feature names.
    pub fn feature_names(&self) -> &[String] {
        &self.names[..self.features()]
    }

    /// The features of sample `i`.
    ///
    /// # Panics
    /// If `i >= len()`.
    pub fn sample(&self, i: usize) -> &[f64] {
        let n = self.features();
        &self.values[i * n..(i + 1) * n]
    }

    /// Every label.
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    /// Splits the sample indices into `(train, test)` so that each class is represented
    /// in the test set in proportion (`round(test_fraction * class size)` of each class),
    /// after a seeded shuffle. Both lists come out shuffled.
    pub fn stratified_split(&self, test_fraction: f64, rng: &mut Rng) -> (Vec<usize>, Vec<usize>) {
        let mut train = Vec::new();
        let mut test = Vec::new();
        for class in 0..self.classes {
            let mut members: Vec<usize> = (0..self.len())
                .filter(|&i| self.labels[i] == class)
                .collect();
            rng.shuffle(&mut members);
            let n_test = (test_fraction.clamp(0.0, 1.0) * members.len() as f64).round() as usize;
            test.extend_from_slice(&members[..n_test]);
            train.extend_from_slice(&members[n_test..]);
        }
        rng.shuffle(&mut train);
        rng.shuffle(&mut test);
        (train, test)
    }

    /// Standardizes every feature in place to zero mean and unit variance, with the
    /// mean and standard deviation measured on the `fit_on` samples only (the training
    /// split, so that no test information leaks). Constant features are only centred.
    pub fn standardize(&mut self, fit_on: &[usize]) -> Result<Standardizer, ShapeError> {
        let scaler = Standardizer::fit(self, fit_on)?;
        let n = self.features();
        for row in self.values.chunks_exact_mut(n) {
            scaler.apply(row);
        }
        Ok(scaler)
    }

    /// The batch of samples `indices` as matrices with one column per sample: features
    /// `[IN, B]` and one-hot targets `[OUT, B]`.
    ///
    /// Returns a [`ShapeError`] if the data does not fit: wrong feature count, a class
    /// the network has no output for, or a number of indices other than `B`.
    pub fn batch<T: Scalar, const IN: usize, const OUT: usize, const B: usize>(
        &self,
        indices: &[usize],
    ) -> Result<(SMatrix<T, IN, B>, SMatrix<T, OUT, B>), ShapeError> {
        self.check_shape::<IN, OUT>()?;
        if indices.len() != B {
            return Err(ShapeError::BatchSize {
                expected: B,
                found: indices.len(),
            });
        }
        let mut x = SMatrix::<T, IN, B>::zeros();
        let mut y = SMatrix::<T, OUT, B>::zeros();
        for (column, &index) in indices.iter().enumerate() {
            if index >= self.len() {
                return Err(ShapeError::Index {
                    index,
                    len: self.len(),
                });
            }
            for (row, &v) in self.sample(index).iter().enumerate() {
                x[(row, column)] = T::of(v);
            }
            y[(self.labels[index], column)] = T::one();
        }
        Ok((x, y))
    }

    /// Checks that samples have `IN` features and labels fit in `OUT` outputs.
    pub fn check_shape<const IN: usize, const OUT: usize>(&self) -> Result<(), ShapeError> {
        if self.features() != IN {
            return Err(ShapeError::Features {
                expected: IN,
                found: self.features(),
            });
        }
        if self.classes > OUT {
            return Err(ShapeError::Classes {
                outputs: OUT,
                class: self.classes - 1,
            });
        }
        Ok(())
    }
}

/// Per-feature mean and standard deviation, to apply the training split's scaling to new
/// samples at inference.
#[derive(Clone, Debug, PartialEq)]
pub struct Standardizer {
    /// Mean of each feature.
    pub mean: Vec<f64>,
    /// Population standard deviation of each feature (1 for a constant feature).
    pub std: Vec<f64>,
}

impl Standardizer {
    /// Measures mean and standard deviation of every feature over the `fit_on` samples.
    pub fn fit(data: &Dataset, fit_on: &[usize]) -> Result<Self, ShapeError> {
        let n = data.features();
        let mut mean = std::vec![0.0; n];
        let mut var = std::vec![0.0; n];
        for &i in fit_on {
            if i >= data.len() {
                return Err(ShapeError::Index {
                    index: i,
                    len: data.len(),
                });
            }
            for (m, v) in mean.iter_mut().zip(data.sample(i)) {
                *m += v;
            }
        }
        let count = fit_on.len().max(1) as f64;
        mean.iter_mut().for_each(|m| *m /= count);
        for &i in fit_on {
            for ((s, v), m) in var.iter_mut().zip(data.sample(i)).zip(&mean) {
                *s += (v - m) * (v - m);
            }
        }
        let std = var
            .iter()
            .map(|s| {
                let sd = (s / count).sqrt();
                if sd > 0.0 {
                    sd
                } else {
                    1.0
                }
            })
            .collect();
        Ok(Standardizer { mean, std })
    }

    /// Scales one sample in place: `(x - mean) / std`.
    pub fn apply(&self, sample: &mut [f64]) {
        for ((x, m), s) in sample.iter_mut().zip(&self.mean).zip(&self.std) {
            *x = (*x - m) / s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "a,b,label\n1.0,2.0,0\n3.0,4.0,1\n\n5.0,6.0,1\n7,8,0\n";

    #[test]
    fn parses_features_labels_and_classes() {
        let d = Dataset::from_csv_str(TEXT).unwrap();
        assert_eq!((d.len(), d.features(), d.classes()), (4, 2, 2));
        assert_eq!(d.sample(2), &[5.0, 6.0]);
        assert_eq!(d.labels(), &[0, 1, 1, 0]);
        assert_eq!(d.feature_names(), &["a", "b"]);
    }

    #[test]
    fn errors_name_the_line() {
        let missing = Dataset::from_csv_str("a,b,label\n1,2,0\n1,0\n").unwrap_err();
        assert_eq!(
            missing.to_string(),
            "line 3: expected 3 columns but found 2"
        );
        let nan = Dataset::from_csv_str("a,b,label\n1,x,0\n").unwrap_err();
        assert_eq!(
            nan.to_string(),
            "line 2, column `b`: `x` is not a finite number"
        );
        let label = Dataset::from_csv_str("a,b,label\n1,2,-1\n").unwrap_err();
        assert_eq!(
            label.to_string(),
            "line 2: label `-1` is not a non-negative integer"
        );
        assert!(matches!(Dataset::from_csv_str(""), Err(CsvError::NoHeader)));
        assert!(matches!(
            Dataset::from_csv_str("a,label\n"),
            Err(CsvError::NoSamples)
        ));
        assert!(matches!(
            Dataset::from_csv_path("/nonexistent/file.csv"),
            Err(CsvError::Io { .. })
        ));
    }

    #[test]
    fn stratified_split_keeps_class_proportions() {
        let mut text = String::from("x,label\n");
        for i in 0..30 {
            text.push_str(&std::format!("{i},{}\n", i % 3));
        }
        let d = Dataset::from_csv_str(&text).unwrap();
        let (train, test) = d.stratified_split(0.2, &mut Rng::seed_from_u64(1));
        assert_eq!((train.len(), test.len()), (24, 6));
        for class in 0..3 {
            assert_eq!(test.iter().filter(|&&i| d.labels()[i] == class).count(), 2);
        }
        let mut all: Vec<usize> = train.iter().chain(&test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..30).collect::<Vec<_>>());
    }

    #[test]
    fn standardize_uses_the_fit_split_only() {
        let mut d = Dataset::from_csv_str(TEXT).unwrap();
        let s = d.standardize(&[0, 1]).unwrap();
        assert_eq!(s.mean, std::vec![2.0, 3.0]);
        assert_eq!(s.std, std::vec![1.0, 1.0]);
        assert_eq!(d.sample(0), &[-1.0, -1.0]);
        assert_eq!(d.sample(2), &[3.0, 3.0]);
    }

    #[test]
    fn batches_are_columns_and_shape_errors_are_typed() {
        let d = Dataset::from_csv_str(TEXT).unwrap();
        let (x, y) = d.batch::<f32, 2, 2, 2>(&[1, 3]).unwrap();
        assert_eq!(x, SMatrix::<f32, 2, 2>::new(3.0, 7.0, 4.0, 8.0));
        assert_eq!(y, SMatrix::<f32, 2, 2>::new(0.0, 1.0, 1.0, 0.0));
        assert_eq!(
            d.batch::<f32, 3, 2, 2>(&[0, 1]).unwrap_err(),
            ShapeError::Features {
                expected: 3,
                found: 2
            }
        );
        assert_eq!(
            d.batch::<f32, 2, 1, 2>(&[0, 1]).unwrap_err(),
            ShapeError::Classes {
                outputs: 1,
                class: 1
            }
        );
        assert_eq!(
            d.batch::<f32, 2, 2, 2>(&[0]).unwrap_err(),
            ShapeError::BatchSize {
                expected: 2,
                found: 1
            }
        );
        assert_eq!(
            d.batch::<f32, 2, 2, 1>(&[9]).unwrap_err(),
            ShapeError::Index { index: 9, len: 4 }
        );
    }
}
