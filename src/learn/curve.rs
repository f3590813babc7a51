//! Learning curves (one row per training iteration, as CSV and PNG), loss
//! curves, and the Decision Transformer's target-vs-achieved chart; drawn
//! through `plot`.

use std::path::Path;

use anyhow::{Context, Result};
use plotters::prelude::*;

#[derive(Clone, Debug, PartialEq)]
pub struct CurvePoint {
    pub steps: usize,
    pub wall_s: f64,
    pub train_mean_return: Option<f64>,
    pub eval_mean_return: Option<f64>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct LearningCurve {
    pub points: Vec<CurvePoint>,
}

fn opt(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.3}")).unwrap_or_default()
}

impl LearningCurve {
    pub fn to_csv(&self) -> String {
        let mut s = String::from("steps,wall_s,train_mean_return,eval_mean_return\n");
        for p in &self.points {
            s.push_str(&format!(
                "{},{:.3},{},{}\n",
                p.steps,
                p.wall_s,
                opt(p.train_mean_return),
                opt(p.eval_mean_return)
            ));
        }
        s
    }

    pub fn write_csv(&self, path: &Path) -> Result<()> {
        std::fs::write(path, self.to_csv()).with_context(|| format!("writing {}", path.display()))
    }

    /// Draws training and evaluation returns against environment steps.
    pub fn write_png(&self, path: &Path, title: &str) -> Result<()> {
        let max_steps = self.points.last().map(|p| p.steps).unwrap_or(1).max(1) as f64;
        let max_ret = self
            .points
            .iter()
            .flat_map(|p| [p.train_mean_return, p.eval_mean_return])
            .flatten()
            .fold(1.0f64, f64::max);
        // Returns may be negative (Reacher): the axis reaches down to the lowest.
        let min_ret = self
            .points
            .iter()
            .flat_map(|p| [p.train_mean_return, p.eval_mean_return])
            .flatten()
            .fold(0.0f64, f64::min);
        crate::plot::png(path, (900, 520), |root| {
            let mut chart = ChartBuilder::on(root)
                .caption(title, ("sans-serif", 24))
                .margin(16)
                .x_label_area_size(44)
                .y_label_area_size(60)
                .build_cartesian_2d(0.0..max_steps, min_ret * 1.05..max_ret * 1.05)?;
            chart
                .configure_mesh()
                .x_desc("environment steps (thousands)")
                .y_desc("mean episode return")
                .label_style(("sans-serif", 14))
                .x_label_formatter(&|x| format!("{:.0}k", x / 1000.0))
                .y_label_formatter(&|y| format!("{y:.0}"))
                .draw()?;
            let train: Vec<(f64, f64)> = self
                .points
                .iter()
                .filter_map(|p| p.train_mean_return.map(|r| (p.steps as f64, r)))
                .collect();
            chart
                .draw_series(LineSeries::new(train, BLUE.stroke_width(2)))?
                .label("training (last 100 episodes)")
                .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE.stroke_width(2)));
            let eval: Vec<(f64, f64)> = self
                .points
                .iter()
                .filter_map(|p| p.eval_mean_return.map(|r| (p.steps as f64, r)))
                .collect();
            chart
                .draw_series(LineSeries::new(eval.clone(), RED.stroke_width(2)))?
                .label("evaluation (deterministic)")
                .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED.stroke_width(2)));
            chart.draw_series(eval.into_iter().map(|p| Circle::new(p, 3, RED.filled())))?;
            crate::plot::legend(&mut chart, SeriesLabelPosition::LowerRight)
        })
    }
}

/// Draws a training-loss curve (log scale) to a PNG.
pub fn write_loss_png(losses: &[(usize, f32)], path: &Path, title: &str) -> Result<()> {
    write_losses_png(&[("train", losses)], path, title)
}

/// Draws loss curves (log scale), one labelled series each (train,
/// validation), to a PNG: each series faint as logged, with a moving
/// average over its trend drawn bold.
pub fn write_losses_png(
    series: &[(&str, &[(usize, f32)])],
    path: &Path,
    title: &str,
) -> Result<()> {
    let finite: Vec<(&str, Vec<(f64, f64)>)> = series
        .iter()
        .map(|(name, losses)| {
            let pts = losses
                .iter()
                .filter(|l| l.1.is_finite() && l.1 > 0.0)
                .map(|l| (l.0 as f64, l.1 as f64))
                .collect();
            (*name, pts)
        })
        .collect();
    let all = || finite.iter().flat_map(|(_, p)| p.iter());
    let max_step = all().map(|p| p.0).fold(1.0, f64::max);
    let lo = all().map(|p| p.1).fold(f64::INFINITY, f64::min).max(1e-9);
    let hi = all().map(|p| p.1).fold(0.0f64, f64::max).max(lo * 10.0);
    let colors = [BLUE, RED, GREEN, MAGENTA];
    crate::plot::png(path, (900, 520), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 24))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..max_step, (lo..hi).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("training step")
            .y_desc("loss")
            .x_label_formatter(&|x| format!("{x:.0}"))
            // Log-scale ticks land on values like 0.6000000000000001.
            .y_label_formatter(&|y| format!("{:.3}", y))
            .label_style(("sans-serif", 14))
            .draw()?;
        for ((name, pts), color) in finite.iter().zip(colors.iter().cycle()) {
            chart.draw_series(LineSeries::new(pts.clone(), color.mix(0.35)))?;
            // A moving average makes the trend readable: over 50 points
            // when there are thousands, fewer on a sparse curve, so that
            // it starts near the first step rather than far into the run.
            let window = (pts.len() / 20).clamp(1, 50);
            let smooth: Vec<(f64, f64)> = pts
                .windows(window.min(pts.len().max(1)))
                .map(|w| {
                    (
                        w[w.len() - 1].0,
                        w.iter().map(|p| p.1).sum::<f64>() / w.len() as f64,
                    )
                })
                .collect();
            let style = color.stroke_width(2);
            chart
                .draw_series(LineSeries::new(smooth, style))?
                .label(*name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        }
        crate::plot::legend(&mut chart, SeriesLabelPosition::UpperRight)
    })
}

/// Target vs achieved (with ±1 std bars) over a histogram of dataset returns.
pub fn plot_targets(
    path: &Path,
    results: &[super::dt_run::TargetResult],
    dataset: &[f64],
    env: &str,
) -> Result<()> {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for v in dataset.iter().copied().chain(results.iter().flat_map(|r| {
        [
            r.target as f64,
            r.mean_return - r.std_return,
            r.mean_return + r.std_return,
        ]
    })) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() || !hi.is_finite() {
        return Ok(());
    }
    let pad = ((hi - lo) * 0.05).max(1.0);
    let (lo, hi) = (lo - pad, hi + pad);
    let bins = 30usize;
    let width = (hi - lo) / bins as f64;
    let mut counts = vec![0usize; bins];
    for v in dataset {
        let b = (((v - lo) / width) as usize).min(bins - 1);
        counts[b] += 1;
    }
    let max_count = counts.iter().copied().max().unwrap_or(1).max(1) as f64;
    crate::plot::png(path, (900, 600), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!("Decision Transformer on {env}: return conditioning"),
                ("sans-serif", 22),
            )
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d(lo..hi, lo..hi)?;
        chart
            .configure_mesh()
            .x_desc("target return (conditioning)")
            .y_desc("achieved return")
            .label_style(("sans-serif", 14))
            .draw()?;
        // Dataset return distribution as a histogram along the bottom, scaled
        // to a quarter of the height.
        let h = (hi - lo) * 0.25;
        chart
            .draw_series(counts.iter().enumerate().map(|(i, c)| {
                let x0 = lo + i as f64 * width;
                Rectangle::new(
                    [(x0, lo), (x0 + width, lo + h * *c as f64 / max_count)],
                    RGBColor(150, 150, 150).mix(0.5).filled(),
                )
            }))?
            .label("dataset returns (histogram)")
            .legend(|(x, y)| {
                Rectangle::new(
                    [(x, y - 5), (x + 15, y + 5)],
                    RGBColor(150, 150, 150).filled(),
                )
            });
        chart
            .draw_series(LineSeries::new([(lo, lo), (hi, hi)], BLACK.mix(0.4)))?
            .label("achieved = target")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK.mix(0.4)));
        chart.draw_series(results.iter().map(|r| {
            PathElement::new(
                [
                    (r.target as f64, r.mean_return - r.std_return),
                    (r.target as f64, r.mean_return + r.std_return),
                ],
                RED.stroke_width(2),
            )
        }))?;
        chart
            .draw_series(
                results
                    .iter()
                    .map(|r| Circle::new((r.target as f64, r.mean_return), 5, RED.filled())),
            )?
            .label("achieved mean ± std")
            .legend(|(x, y)| Circle::new((x + 10, y), 5, RED.filled()));
        crate::plot::legend(&mut chart, SeriesLabelPosition::UpperLeft)
    })
}
