//! Tabular data: CSV loading with errors that name the line, seeded stratified splits,
//! standardization, and batches as nalgebra matrices.
//!
//! The CSV format is the one of the data sets in `data/`: a header row, numeric
//! feature columns, and an integer class label in the last column. Regression data sets
//! ([`Dataset::regression_from_csv_str`], [`Dataset::regression_from_rows`]) have one or
//! several numeric target columns last instead.

use std::fmt;
use std::path::Path;
use std::string::{String, ToString};
use std::vec::Vec;

use crate::nalgebra::SMatrix;
use crate::{Rng, Scalar};

/// A data set held in memory: `len()` samples of `features()` values each, with a class
/// label per sample (classification) or `outputs()` target values per sample
/// (regression).
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Feature names, then the label's or the targets' names.
    names: Vec<String>,
    values: Vec<f64>,
    labels: Vec<usize>,
    classes: usize,
    /// Regression targets, `outputs` per sample; empty for classification.
    targets: Vec<f64>,
    /// Target columns of a regression data set; 0 for classification.
    outputs: usize,
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
    /// A feature (or a regression target) is not a finite number.
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
    /// The label names a class beyond [`MAX_CLASSES`]: a network cannot have an output
    /// per class for it (and a split would have to walk that many classes).
    TooManyClasses {
        /// 1-based line number.
        line: usize,
        /// The label.
        label: u64,
    },
    /// A line ends with a lone carriage return inside the text (old Mac line endings),
    /// which would run rows together.
    CarriageReturn {
        /// 1-based line number.
        line: usize,
    },
}

/// The largest number of classes a data set may have: labels are below it. A network
/// with this many outputs is already far beyond what the library is for; a label like
/// `1000000000` is a data error, refused with the line it is on.
pub const MAX_CLASSES: usize = 1 << 16;

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
            CsvError::TooManyClasses { line, label } => write!(
                f,
                "line {line}: label {label} is too large; labels are class numbers below {MAX_CLASSES}"
            ),
            CsvError::CarriageReturn { line } => write!(
                f,
                "line {line}: a carriage return without a line feed; save the file with \\n or \\r\\n line endings"
            ),
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

/// Why rows held in memory could not become a [`Dataset`] (rows counted from 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowsError {
    /// There are no rows.
    Empty,
    /// A row has another number of features than the first (or than the names), or
    /// none.
    Features {
        /// The row.
        row: usize,
        /// Features of the first row (or names given).
        expected: usize,
        /// Features of this row.
        found: usize,
    },
    /// A feature is NaN or infinite.
    NotFinite {
        /// The row.
        row: usize,
        /// The feature's column.
        feature: usize,
    },
    /// A row has another number of targets than the first, or none.
    Targets {
        /// The row.
        row: usize,
        /// Targets of the first row.
        expected: usize,
        /// Targets of this row.
        found: usize,
    },
    /// A regression target is NaN or infinite.
    NotFiniteTarget {
        /// The row.
        row: usize,
        /// The target's column among the targets.
        target: usize,
    },
    /// A label at or above [`MAX_CLASSES`].
    TooManyClasses {
        /// The row.
        row: usize,
        /// The label.
        label: usize,
    },
}

impl fmt::Display for RowsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowsError::Empty => write!(f, "no rows"),
            RowsError::Features {
                row,
                expected,
                found,
            } => write!(f, "row {row} has {found} features but {expected} were expected"),
            RowsError::NotFinite { row, feature } => {
                write!(f, "row {row}: feature {feature} is not a finite number")
            }
            RowsError::Targets {
                row,
                expected,
                found,
            } => write!(f, "row {row} has {found} targets but {expected} were expected"),
            RowsError::NotFiniteTarget { row, target } => {
                write!(f, "row {row}: target {target} is not a finite number")
            }
            RowsError::TooManyClasses { row, label } => write!(
                f,
                "row {row}: label {label} is too large; labels are class numbers below {MAX_CLASSES}"
            ),
        }
    }
}

impl std::error::Error for RowsError {}

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
    /// A regression network has `expected` outputs but the data set has `found` target
    /// columns.
    Targets {
        /// Outputs of the network.
        expected: usize,
        /// Target columns of the data set.
        found: usize,
    },
    /// A classification was asked of regression data, or the reverse.
    Task {
        /// What the data set holds: `"regression"` or `"classification"`.
        data: &'static str,
        /// What was asked of it.
        asked: &'static str,
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
    /// A feature cannot be standardized: its values are so large (near `f64::MAX`) that
    /// its statistics or the standardized values overflow.
    NonFiniteStatistics {
        /// The feature's column (0-based).
        feature: usize,
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
            ShapeError::Classes { outputs: 1, class } => write!(
                f,
                "a network with one output classifies two classes, 0 and 1 (a logit for `BceWithLogits`), but a label names class {class}"
            ),
            ShapeError::Classes { outputs, class } => {
                write!(
                    f,
                    "the network has {outputs} outputs but a label names class {class}"
                )
            }
            ShapeError::Targets { expected, found } => write!(
                f,
                "the network has {expected} outputs but the data has {found} target columns"
            ),
            ShapeError::Task { data, asked } => {
                write!(f, "the data set is for {data} but {asked} was asked of it")
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
            ShapeError::NonFiniteStatistics { feature } => write!(
                f,
                "feature {feature} cannot be standardized: its values overflow its mean or standard deviation"
            ),
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
    /// integer label last (below [`MAX_CLASSES`]). Lines end with `\n` or `\r\n`; a
    /// UTF-8 byte order mark is skipped; blank lines are skipped; every other mistake
    /// (a lone `\r` included) is an error that names its line.
    pub fn from_csv_str(text: &str) -> Result<Self, CsvError> {
        Self::parse_csv(text, None)
    }

    /// Reads a regression CSV file (see [`Dataset::regression_from_csv_str`]).
    pub fn regression_from_csv_path(
        path: impl AsRef<Path>,
        targets: usize,
    ) -> Result<Self, CsvError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| CsvError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::regression_from_csv_str(&text, targets)
    }

    /// Parses regression CSV text: a header row, then one sample per line, features
    /// first and the last `targets` columns (at least one) the values to predict, every
    /// cell a finite number. Line endings and errors as for
    /// [`from_csv_str`](Self::from_csv_str).
    ///
    /// ```
    /// use network::data::Dataset;
    /// let data = Dataset::regression_from_csv_str("x,y\n1,2.5\n2,4.5\n", 1).unwrap();
    /// assert_eq!((data.len(), data.features(), data.outputs()), (2, 1, 1));
    /// assert_eq!(data.target(1), [4.5]);
    /// ```
    pub fn regression_from_csv_str(text: &str, targets: usize) -> Result<Self, CsvError> {
        Self::parse_csv(text, Some(targets.max(1)))
    }

    /// The CSV parser: a class label last (`targets` is `None`) or `targets` numeric
    /// target columns last.
    fn parse_csv(text: &str, targets: Option<usize>) -> Result<Self, CsvError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut lines = text
            .split('\n')
            .enumerate()
            .map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)));
        if let Some((line, _)) = lines.clone().find(|(_, l)| l.contains('\r')) {
            return Err(CsvError::CarriageReturn { line });
        }
        let (_, header) = lines
            .find(|(_, l)| !l.trim().is_empty())
            .ok_or(CsvError::NoHeader)?;
        let names: Vec<String> = header.split(',').map(|s| s.trim().to_string()).collect();
        let target_columns = targets.unwrap_or(1);
        if names.len() < target_columns + 1 {
            return Err(CsvError::TooFewColumns { found: names.len() });
        }
        let features = names.len() - target_columns;
        let mut values = Vec::new();
        let mut labels = Vec::new();
        let mut target_values = Vec::new();
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
            let numeric = match targets {
                Some(_) => &cells[..],
                None => &cells[..features],
            };
            for (k, (cell, column)) in numeric.iter().zip(&names).enumerate() {
                match cell.parse::<f64>() {
                    Ok(v) if v.is_finite() && k < features => values.push(v),
                    Ok(v) if v.is_finite() => target_values.push(v),
                    _ => {
                        return Err(CsvError::NotANumber {
                            line,
                            column: column.clone(),
                            text: cell.to_string(),
                        })
                    }
                }
            }
            if targets.is_some() {
                continue;
            }
            let label = cells[features];
            let class = label.parse::<u64>().map_err(|_| CsvError::BadLabel {
                line,
                text: label.to_string(),
            })?;
            if class >= MAX_CLASSES as u64 {
                return Err(CsvError::TooManyClasses { line, label: class });
            }
            labels.push(class as usize);
        }
        if values.is_empty() {
            return Err(CsvError::NoSamples);
        }
        let classes = labels.iter().max().map_or(0, |m| m + 1);
        Ok(Dataset {
            names,
            values,
            labels,
            classes,
            targets: target_values,
            outputs: targets.unwrap_or(0),
        })
    }

    /// A data set from rows held in memory: each row's features and its label (a class
    /// number below [`MAX_CLASSES`]), with the features' names (`x0`, `x1`, ... when
    /// `names` is `None`). Every row must have the same number of finite features;
    /// mistakes are errors that name the row (counted from 0).
    ///
    /// ```
    /// use network::data::Dataset;
    /// let rows = vec![(vec![0.0, 1.0], 0), (vec![1.0, 0.0], 1)];
    /// let data = Dataset::from_rows(None, rows).unwrap();
    /// assert_eq!((data.len(), data.features(), data.classes()), (2, 2, 2));
    /// assert_eq!(data.feature_names(), ["x0", "x1"]);
    /// ```
    pub fn from_rows<R: AsRef<[f64]>>(
        names: Option<Vec<String>>,
        rows: impl IntoIterator<Item = (R, usize)>,
    ) -> Result<Self, RowsError> {
        let mut values = Vec::new();
        let mut labels = Vec::new();
        let mut features = names.as_ref().map(Vec::len);
        for (row, (sample, label)) in rows.into_iter().enumerate() {
            let sample = sample.as_ref();
            check_row_features(row, sample, &mut features)?;
            if label >= MAX_CLASSES {
                return Err(RowsError::TooManyClasses { row, label });
            }
            values.extend_from_slice(sample);
            labels.push(label);
        }
        if labels.is_empty() {
            return Err(RowsError::Empty);
        }
        let features = features.unwrap_or(0);
        let mut names =
            names.unwrap_or_else(|| (0..features).map(|k| std::format!("x{k}")).collect());
        names.push("label".to_string());
        let classes = labels.iter().max().map_or(0, |m| m + 1);
        Ok(Dataset {
            names,
            values,
            labels,
            classes,
            targets: Vec::new(),
            outputs: 0,
        })
    }

    /// A regression data set from rows held in memory: each row's features and its
    /// target values (the same number for every row, at least one), with the features'
    /// names (`x0`, `x1`, ... when `names` is `None`; targets are named `y0`, `y1`, ...).
    /// Mistakes are errors that name the row (counted from 0).
    ///
    /// ```
    /// use network::data::Dataset;
    /// let rows = (0..4).map(|i| (vec![i as f64], vec![2.0 * i as f64, -1.0]));
    /// let data = Dataset::regression_from_rows(None, rows).unwrap();
    /// assert_eq!((data.len(), data.features(), data.outputs()), (4, 1, 2));
    /// assert_eq!(data.target(3), [6.0, -1.0]);
    /// ```
    pub fn regression_from_rows<R: AsRef<[f64]>, Q: AsRef<[f64]>>(
        names: Option<Vec<String>>,
        rows: impl IntoIterator<Item = (R, Q)>,
    ) -> Result<Self, RowsError> {
        let mut values = Vec::new();
        let mut targets = Vec::new();
        let mut features = names.as_ref().map(Vec::len);
        let mut outputs = None;
        for (row, (sample, target)) in rows.into_iter().enumerate() {
            let (sample, target) = (sample.as_ref(), target.as_ref());
            check_row_features(row, sample, &mut features)?;
            let expected = *outputs.get_or_insert(target.len());
            if target.len() != expected || expected == 0 {
                return Err(RowsError::Targets {
                    row,
                    expected,
                    found: target.len(),
                });
            }
            if let Some(target) = target.iter().position(|v| !v.is_finite()) {
                return Err(RowsError::NotFiniteTarget { row, target });
            }
            values.extend_from_slice(sample);
            targets.extend_from_slice(target);
        }
        let (Some(features), Some(outputs)) = (features, outputs) else {
            return Err(RowsError::Empty);
        };
        if targets.is_empty() {
            return Err(RowsError::Empty);
        }
        let mut names =
            names.unwrap_or_else(|| (0..features).map(|k| std::format!("x{k}")).collect());
        names.extend((0..outputs).map(|k| std::format!("y{k}")));
        Ok(Dataset {
            names,
            values,
            labels: Vec::new(),
            classes: 0,
            targets,
            outputs,
        })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.values.len() / self.features().max(1)
    }

    /// Whether there are no samples (never true for a parsed file).
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Features per sample.
    pub fn features(&self) -> usize {
        self.names.len() - self.outputs.max(1)
    }

    /// Number of classes: the largest label plus one (0 for regression data).
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Whether the data set holds regression targets rather than class labels.
    pub fn is_regression(&self) -> bool {
        self.outputs > 0
    }

    /// Target values per sample of a regression data set (0 for classification).
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// The target values of sample `i` of a regression data set (empty for
    /// classification).
    ///
    /// # Panics
    /// If `i >= len()`.
    pub fn target(&self, i: usize) -> &[f64] {
        &self.targets[i * self.outputs..(i + 1) * self.outputs]
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

    /// Every label (empty for regression data).
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    /// Splits the sample indices into `(train, test)` so that each class is represented
    /// in the test set in proportion (`round(test_fraction * class size)` of each class),
    /// after a seeded shuffle. Both lists come out shuffled. Regression data has no
    /// classes: it is split as one group, `round(test_fraction * len)` held out.
    pub fn stratified_split(&self, test_fraction: f64, rng: &mut Rng) -> (Vec<usize>, Vec<usize>) {
        let all: Vec<usize> = (0..self.len()).collect();
        self.stratified_split_of(&all, test_fraction, rng)
    }

    /// [`stratified_split`](Self::stratified_split) of some samples only: for example a
    /// validation set taken from the training split, so that the test set stays unseen.
    ///
    /// ```
    /// # use network::data::Dataset;
    /// # use network::prelude::Rng;
    /// # let data = Dataset::from_csv_path(concat!(env!("CARGO_MANIFEST_DIR"), "/data/iris.csv")).unwrap();
    /// let mut rng = Rng::seed_from_u64(0);
    /// let (train, test) = data.stratified_split(0.2, &mut rng);
    /// let (train, validation) = data.stratified_split_of(&train, 0.25, &mut rng);
    /// assert_eq!((train.len(), validation.len(), test.len()), (90, 30, 30));
    /// ```
    pub fn stratified_split_of(
        &self,
        indices: &[usize],
        test_fraction: f64,
        rng: &mut Rng,
    ) -> (Vec<usize>, Vec<usize>) {
        let mut train = Vec::new();
        let mut test = Vec::new();
        // The samples grouped by class in one pass, for the classes that occur: linear in
        // the samples, whatever the labels.
        let mut by_class: Vec<usize> = indices.to_vec();
        let label = |i: usize| self.labels.get(i).copied().unwrap_or(0);
        by_class.sort_by_key(|&i| label(i));
        for class in by_class.chunk_by(|&a, &b| label(a) == label(b)) {
            let mut members = class.to_vec();
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
    ///
    /// Values so large that a standardized value would overflow are refused with
    /// [`ShapeError::NonFiniteStatistics`] before anything changes.
    pub fn standardize(&mut self, fit_on: &[usize]) -> Result<Standardizer, ShapeError> {
        let scaler = Standardizer::fit(self, fit_on)?;
        self.apply_standardizer(&scaler)?;
        Ok(scaler)
    }

    /// Scales every sample with a standardizer fitted elsewhere (on another data set's
    /// training split, or loaded with the weights): the same transformation the network
    /// was trained on. Refused before anything changes when the feature counts differ or
    /// a scaled value would overflow.
    pub fn apply_standardizer(&mut self, scaler: &Standardizer) -> Result<(), ShapeError> {
        let n = self.features();
        if scaler.mean.len() != n {
            return Err(ShapeError::Features {
                expected: scaler.mean.len(),
                found: n,
            });
        }
        for row in self.values.chunks_exact(n) {
            for (feature, ((x, m), s)) in row.iter().zip(&scaler.mean).zip(&scaler.std).enumerate()
            {
                if !((x - m) / s).is_finite() {
                    return Err(ShapeError::NonFiniteStatistics { feature });
                }
            }
        }
        for row in self.values.chunks_exact_mut(n) {
            scaler.apply(row);
        }
        Ok(())
    }

    /// The batch of samples `indices` as matrices with one column per sample: features
    /// `[IN, B]` and one-hot targets `[OUT, B]`, or with `OUT = 1` (binary
    /// classification) the labels 0 and 1 themselves, or for regression data the target
    /// values.
    ///
    /// Returns a [`ShapeError`] if the data does not fit: wrong feature count, a class
    /// the network has no output for, or a number of indices other than `B`.
    pub fn batch<T: Scalar, const IN: usize, const OUT: usize, const B: usize>(
        &self,
        indices: &[usize],
    ) -> Result<(SMatrix<T, IN, B>, SMatrix<T, OUT, B>), ShapeError> {
        let mut x = SMatrix::<T, IN, B>::zeros();
        let mut y = SMatrix::<T, OUT, B>::zeros();
        self.batch_into(indices, &mut x, &mut y)?;
        Ok((x, y))
    }

    /// [`batch`](Self::batch) written into matrices the caller owns (a buffer reused
    /// from batch to batch, a part of a batch on another thread). On error, `x` and `y`
    /// are unspecified.
    pub fn batch_into<T: Scalar, const IN: usize, const OUT: usize, const B: usize>(
        &self,
        indices: &[usize],
        x: &mut SMatrix<T, IN, B>,
        y: &mut SMatrix<T, OUT, B>,
    ) -> Result<(), ShapeError> {
        self.check_shape::<IN, OUT>()?;
        if indices.len() != B {
            return Err(ShapeError::BatchSize {
                expected: B,
                found: indices.len(),
            });
        }
        y.fill(T::zero());
        for (column, &index) in indices.iter().enumerate() {
            if index >= self.len() {
                return Err(ShapeError::Index {
                    index,
                    len: self.len(),
                });
            }
            let dst = &mut x.as_mut_slice()[column * IN..(column + 1) * IN];
            for (dst, &v) in dst.iter_mut().zip(self.sample(index)) {
                *dst = T::of(v);
            }
            if self.is_regression() {
                for (row, &v) in self.target(index).iter().enumerate() {
                    y[(row, column)] = T::of(v);
                }
            } else if OUT == 1 {
                // Binary: the target is the label itself, 0 or 1 (for `BceWithLogits`).
                y[(0, column)] = T::of(self.labels[index] as f64);
            } else {
                y[(self.labels[index], column)] = T::one();
            }
        }
        Ok(())
    }

    /// Checks that samples have `IN` features and labels fit in `OUT` outputs (or, for
    /// regression, that there are `OUT` targets).
    pub fn check_shape<const IN: usize, const OUT: usize>(&self) -> Result<(), ShapeError> {
        if self.features() != IN {
            return Err(ShapeError::Features {
                expected: IN,
                found: self.features(),
            });
        }
        if self.is_regression() {
            if self.outputs != OUT {
                return Err(ShapeError::Targets {
                    expected: OUT,
                    found: self.outputs,
                });
            }
            return Ok(());
        }
        // One output is binary classification: a logit, labels 0 and 1.
        let capacity = if OUT == 1 { 2 } else { OUT };
        if self.classes > capacity {
            return Err(ShapeError::Classes {
                outputs: OUT,
                class: self.classes - 1,
            });
        }
        Ok(())
    }
}

/// A row in memory has the features of the first (or of the names given), at least one,
/// all finite.
fn check_row_features(
    row: usize,
    sample: &[f64],
    features: &mut Option<usize>,
) -> Result<(), RowsError> {
    let expected = *features.get_or_insert(sample.len());
    if sample.len() != expected || expected == 0 {
        return Err(RowsError::Features {
            row,
            expected,
            found: sample.len(),
        });
    }
    match sample.iter().position(|v| !v.is_finite()) {
        Some(feature) => Err(RowsError::NotFinite { row, feature }),
        None => Ok(()),
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
        let mut std: Vec<f64> = var
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
        for feature in 0..n {
            if !(mean[feature].is_finite() && std[feature].is_finite()) {
                // Sums of values near f64::MAX overflow: measure again in units of the
                // largest magnitude, where nothing can (the results are at most that
                // magnitude).
                let column = || fit_on.iter().map(|&i| data.sample(i)[feature]);
                let scale = column().fold(0.0f64, |m, x| m.max(x.abs()));
                let m = column().map(|x| x / scale).sum::<f64>() / count;
                let v = column().map(|x| (x / scale - m).powi(2)).sum::<f64>() / count;
                mean[feature] = m * scale;
                std[feature] = if v > 0.0 { v.sqrt() * scale } else { 1.0 };
                if !(mean[feature].is_finite() && std[feature].is_finite()) {
                    return Err(ShapeError::NonFiniteStatistics { feature });
                }
            }
        }
        Ok(Standardizer { mean, std })
    }

    /// The standardizer as text, exactly: `mean=1.5,2;std=0.5,1` with every value as
    /// the shortest decimal that reads back to the same `f64`.
    pub fn to_text(&self) -> String {
        let join = |values: &[f64]| {
            values
                .iter()
                .map(|v| std::format!("{v:?}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        std::format!("mean={};std={}", join(&self.mean), join(&self.std))
    }

    /// Reads [`to_text`](Self::to_text)'s format; `None` unless both lists are present,
    /// equally long, finite, and every standard deviation is positive.
    pub fn from_text(text: &str) -> Option<Self> {
        let (mean, std) = text.strip_prefix("mean=")?.split_once(";std=")?;
        let parse = |list: &str| -> Option<Vec<f64>> {
            list.split(',')
                .map(|v| v.parse::<f64>().ok().filter(|v| v.is_finite()))
                .collect()
        };
        let (mean, std) = (parse(mean)?, parse(std)?);
        (mean.len() == std.len() && std.iter().all(|s| *s > 0.0))
            .then_some(Standardizer { mean, std })
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
    fn hostile_labels_and_line_endings_are_refused_or_read() {
        // A label of 1e9 made the split walk a billion classes; usize::MAX overflowed.
        for label in ["1000000000", "18446744073709551615", "65536"] {
            let text = std::format!("a,label\n1,0\n2,{label}\n");
            let error = Dataset::from_csv_str(&text).unwrap_err();
            assert!(
                matches!(error, CsvError::TooManyClasses { line: 3, .. }),
                "{label}: {error:?}"
            );
            assert!(error.to_string().starts_with("line 3: label"), "{error}");
        }
        assert_eq!(
            Dataset::from_csv_str("a,label\n1,65535\n")
                .unwrap()
                .classes(),
            65536
        );
        // A byte order mark, CRLF and LF endings are read alike.
        let plain = Dataset::from_csv_str("a,b,label\n1,2,0\n3,4,1\n").unwrap();
        for text in [
            "\u{feff}a,b,label\n1,2,0\n3,4,1\n",
            "a,b,label\r\n1,2,0\r\n3,4,1\r\n",
            "\u{feff}a,b,label\r\n1,2,0\n3,4,1",
        ] {
            let d = Dataset::from_csv_str(text).unwrap();
            assert_eq!(d, plain);
            assert_eq!(d.feature_names(), &["a", "b"]);
        }
        // Carriage returns alone would join rows: refused, naming the line.
        let error = Dataset::from_csv_str("a,b,label\n1,2,0\r3,4,1\r").unwrap_err();
        assert!(
            matches!(error, CsvError::CarriageReturn { line: 2 }),
            "{error:?}"
        );
    }

    #[test]
    fn a_split_of_sparse_labels_is_linear_and_keeps_every_sample() {
        // Two classes far apart: 0 and 60000.
        let mut text = String::from("x,label\n");
        for i in 0..10 {
            text.push_str(&std::format!(
                "{i},{}\n",
                if i % 2 == 0 { 0 } else { 60000 }
            ));
        }
        let d = Dataset::from_csv_str(&text).unwrap();
        let (train, test) = d.stratified_split(0.2, &mut Rng::seed_from_u64(1));
        assert_eq!((train.len(), test.len()), (8, 2));
        assert_eq!(test.iter().filter(|&&i| d.labels()[i] == 0).count(), 1);
    }

    #[test]
    fn huge_values_are_standardized_or_refused_never_nan() {
        // Sums overflow but the statistics exist: measured in units of the largest value.
        let mut d =
            Dataset::from_csv_str("a,label\n1.7e308,0\n-1.7e308,1\n1.7e308,0\n-1.7e308,1\n")
                .unwrap();
        let s = d.standardize(&[0, 1, 2, 3]).unwrap();
        assert_eq!((s.mean[0], s.std[0]), (0.0, 1.7e308));
        assert_eq!(d.sample(0), &[1.0]);
        assert_eq!(d.sample(1), &[-1.0]);
        // Standardized values that would overflow: refused, nothing changed.
        let text =
            "a,b,label\n1,1.7e308,0\n2,-1.7e308,1\n3,-1.7e308,1\n4,-1.7e308,0\n5,-1.7e308,0\n";
        let mut d = Dataset::from_csv_str(text).unwrap();
        let before = d.clone();
        let fit: Vec<usize> = (1..5).collect();
        assert_eq!(
            d.standardize(&fit).unwrap_err(),
            ShapeError::NonFiniteStatistics { feature: 1 }
        );
        assert_eq!(d, before);
    }

    #[test]
    fn rows_in_memory_become_a_dataset_or_an_error_naming_the_row() {
        let names = Some(std::vec!["a".to_string(), "b".to_string()]);
        let d = Dataset::from_rows(names.clone(), [([1.0, 2.0], 0), ([3.0, 4.0], 2)]).unwrap();
        assert_eq!((d.len(), d.features(), d.classes()), (2, 2, 3));
        assert_eq!(d.sample(1), &[3.0, 4.0]);
        assert_eq!(d.feature_names(), &["a", "b"]);
        let ragged: Vec<(Vec<f64>, usize)> =
            std::vec![(std::vec![1.0, 2.0], 0), (std::vec![1.0], 1)];
        assert_eq!(
            Dataset::from_rows(None, ragged).unwrap_err(),
            RowsError::Features {
                row: 1,
                expected: 2,
                found: 1
            }
        );
        assert_eq!(
            Dataset::from_rows(names, [([1.0, 2.0, 3.0], 0)])
                .unwrap_err()
                .to_string(),
            "row 0 has 3 features but 2 were expected"
        );
        assert_eq!(
            Dataset::from_rows(None, [([1.0, f64::NAN], 0)]).unwrap_err(),
            RowsError::NotFinite { row: 0, feature: 1 }
        );
        assert_eq!(
            Dataset::from_rows(None, [([1.0], MAX_CLASSES)]).unwrap_err(),
            RowsError::TooManyClasses {
                row: 0,
                label: MAX_CLASSES
            }
        );
        let none: [([f64; 1], usize); 0] = [];
        assert_eq!(
            Dataset::from_rows(None, none).unwrap_err(),
            RowsError::Empty
        );
    }

    #[test]
    fn a_split_of_a_split_keeps_proportions_and_shares_nothing() {
        let mut text = String::from("x,label\n");
        for i in 0..40 {
            text.push_str(&std::format!("{i},{}\n", i % 2));
        }
        let d = Dataset::from_csv_str(&text).unwrap();
        let mut rng = Rng::seed_from_u64(2);
        let (train, test) = d.stratified_split(0.25, &mut rng);
        let (fit, validation) = d.stratified_split_of(&train, 0.2, &mut rng);
        assert_eq!((fit.len(), validation.len(), test.len()), (24, 6, 10));
        assert_eq!(
            validation.iter().filter(|&&i| d.labels()[i] == 0).count(),
            3
        );
        let mut all: Vec<usize> = fit
            .iter()
            .chain(&validation)
            .chain(&test)
            .copied()
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..40).collect::<Vec<_>>());
    }

    #[test]
    fn a_standardizer_as_text_reads_back_exactly_or_not_at_all() {
        let s = Standardizer {
            mean: std::vec![0.1 + 0.2, -1.0e-300, 5.0],
            std: std::vec![1.0 / 3.0, 2.0, 1.7e308],
        };
        assert_eq!(Standardizer::from_text(&s.to_text()), Some(s));
        for bad in [
            "mean=1;std=0",
            "mean=1;std=-1",
            "mean=1,2;std=1",
            "mean=NaN;std=1",
            "mean=1;std=inf",
            "std=1;mean=1",
            "mean=1",
        ] {
            assert_eq!(Standardizer::from_text(bad), None, "{bad}");
        }
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
        // One output: binary classification, the target is the label itself.
        let (_, y) = d.batch::<f32, 2, 1, 2>(&[0, 1]).unwrap();
        assert_eq!(y, SMatrix::<f32, 1, 2>::new(0.0, 1.0));
        let three = Dataset::from_csv_str("a,label\n1,0\n2,2\n").unwrap();
        assert_eq!(
            three.batch::<f32, 1, 1, 1>(&[0]).unwrap_err(),
            ShapeError::Classes {
                outputs: 1,
                class: 2
            }
        );
        assert_eq!(
            three.batch::<f32, 1, 2, 1>(&[0]).unwrap_err(),
            ShapeError::Classes {
                outputs: 2,
                class: 2
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
