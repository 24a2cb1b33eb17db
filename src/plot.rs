//! Learning curves and gradient flow as SVG charts (feature `plots`, on by default),
//! drawn with plotters' SVG backend: readable in any browser, diffable as text.

use std::fmt;
use std::path::Path;
use std::string::{String, ToString};
use std::vec::Vec;

use plotters::prelude::*;

use crate::train::History;

/// A chart could not be drawn or written.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotError {
    /// The file being written.
    pub path: String,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for PlotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot draw `{}`: {}", self.path, self.message)
    }
}

impl std::error::Error for PlotError {}

/// Colours for series, distinguishable and printable.
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

type Series = (String, Vec<(f64, f64)>);

/// Draws `series` into `area` with labelled axes and a legend.
fn chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    y_label: &str,
    series: &[Series],
    log_scale: bool,
    legend: SeriesLabelPosition,
) -> Result<(), String> {
    let points = || {
        series
            .iter()
            .flat_map(|(_, p)| p.iter())
            .filter(|(_, y)| y.is_finite())
    };
    let x_max = points().map(|(x, _)| *x).fold(1.0, f64::max);
    let (mut y_min, mut y_max) = points()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (_, y)| {
            (lo.min(*y), hi.max(*y))
        });
    if !y_min.is_finite() {
        (y_min, y_max) = (0.0, 1.0);
    }
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64);
    let text = |e: &dyn fmt::Debug| std::format!("{e:?}");
    macro_rules! draw {
        ($chart:expr) => {{
            let mut chart = $chart;
            chart
                .configure_mesh()
                .x_desc("epoch")
                .y_desc(y_label)
                .x_label_formatter(&|x| std::format!("{x:.0}"))
                .y_label_formatter(&|y| {
                    if log_scale {
                        std::format!("{y:.0e}")
                    } else {
                        std::format!("{y:.3}")
                    }
                })
                .draw()
                .map_err(|e| text(&e))?;
            for (i, (name, data)) in series.iter().enumerate() {
                let color = PALETTE[i % PALETTE.len()];
                chart
                    .draw_series(LineSeries::new(
                        data.iter()
                            .copied()
                            .filter(|(_, y)| y.is_finite() && (!log_scale || *y > 0.0)),
                        color.stroke_width(2),
                    ))
                    .map_err(|e| text(&e))?
                    .label(name.as_str())
                    .legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2))
                    });
            }
            chart
                .configure_series_labels()
                .position(legend.clone())
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(|e| text(&e))?;
        }};
    }
    if log_scale {
        let lo = points()
            .map(|(_, y)| *y)
            .filter(|y| *y > 0.0)
            .fold(f64::INFINITY, f64::min);
        let lo = if lo.is_finite() { lo / 2.0 } else { 1e-12 };
        let hi = (y_max * 2.0).max(lo * 10.0);
        draw!(builder
            .build_cartesian_2d(1.0..x_max.max(2.0), (lo..hi).log_scale())
            .map_err(|e| text(&e))?);
    } else {
        let pad = ((y_max - y_min) * 0.05).max(1e-9);
        draw!(builder
            .build_cartesian_2d(1.0..x_max.max(2.0), (y_min - pad)..(y_max + pad))
            .map_err(|e| text(&e))?);
    }
    Ok(())
}

fn per_epoch(
    history: &History,
    f: impl Fn(&crate::train::EpochRecord) -> Option<f64>,
) -> Vec<(f64, f64)> {
    history
        .epochs
        .iter()
        .filter_map(|r| f(r).map(|v| (r.epoch as f64, v)))
        .collect()
}

/// Writes learning curves to `path`: loss (training and validation) on the left,
/// accuracy on the right, per epoch.
pub fn learning_curves(history: &History, path: impl AsRef<Path>) -> Result<(), PlotError> {
    let path = path.as_ref();
    let fail = |message: String| PlotError {
        path: path.display().to_string(),
        message,
    };
    let root = SVGBackend::new(path, (1000, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(std::format!("{e:?}")))?;
    let (left, right) = root.split_horizontally(500);
    let mut losses = std::vec![(
        "training loss".to_string(),
        per_epoch(history, |r| Some(r.train_loss))
    )];
    let mut accuracies = std::vec![(
        "training accuracy".to_string(),
        per_epoch(history, |r| r.train_accuracy)
    )];
    if history.epochs.iter().any(|r| r.validation_loss.is_some()) {
        losses.push((
            "validation loss".to_string(),
            per_epoch(history, |r| r.validation_loss),
        ));
        accuracies.push((
            "validation accuracy".to_string(),
            per_epoch(history, |r| r.validation_accuracy),
        ));
    }
    chart(
        &left,
        "Loss",
        "loss",
        &losses,
        false,
        SeriesLabelPosition::UpperRight,
    )
    .map_err(fail)?;
    chart(
        &right,
        "Accuracy",
        "accuracy",
        &accuracies,
        false,
        SeriesLabelPosition::LowerRight,
    )
    .map_err(fail)?;
    root.present().map_err(|e| fail(std::format!("{e:?}")))
}

/// Writes the gradient flow to `path`: each layer's mean gradient norm per epoch, on a
/// log scale, so that vanishing (early layers far below the last) and exploding
/// gradients show at a glance.
pub fn gradient_flow(history: &History, path: impl AsRef<Path>) -> Result<(), PlotError> {
    let path = path.as_ref();
    let fail = |message: String| PlotError {
        path: path.display().to_string(),
        message,
    };
    let root = SVGBackend::new(path, (800, 460)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(std::format!("{e:?}")))?;
    let series: Vec<Series> = history
        .layers
        .iter()
        .enumerate()
        .map(|(i, name)| {
            (
                std::format!("{name} gradient norm"),
                per_epoch(history, |r| r.layer_grad_norms.get(i).copied()),
            )
        })
        .collect();
    chart(
        &root,
        "Gradient flow (log scale)",
        "gradient L2 norm",
        &series,
        true,
        SeriesLabelPosition::LowerRight,
    )
    .map_err(fail)?;
    root.present().map_err(|e| fail(std::format!("{e:?}")))
}
