//! Learning curves: one row per training iteration, written as CSV and drawn
//! as a PNG (plotters, with an embedded font so no system fonts are needed).

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
        register_font();
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
        let root = BitMapBackend::new(path, (900, 520)).into_drawing_area();
        let draw = || -> Result<(), Box<dyn std::error::Error>> {
            root.fill(&WHITE)?;
            let mut chart = ChartBuilder::on(&root)
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
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .label_font(("sans-serif", 14))
                .draw()?;
            root.present()?;
            Ok(())
        };
        draw().map_err(|e| anyhow::anyhow!("drawing {}: {e}", path.display()))
    }
}

/// Registers the embedded font for plots (idempotent).
pub fn ensure_font() {
    register_font();
}

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // DejaVu Sans is embedded by the `dejavu` crate; registering can only fail
        // on a malformed font, which would show as missing text, not a crash.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

/// Draws a training-loss curve (log scale) to a PNG.
pub fn write_loss_png(losses: &[(usize, f32)], path: &Path, title: &str) -> Result<()> {
    register_font();
    let max_step = losses.last().map(|l| l.0).unwrap_or(1).max(1) as f64;
    let finite: Vec<(f64, f64)> = losses
        .iter()
        .filter(|l| l.1.is_finite() && l.1 > 0.0)
        .map(|l| (l.0 as f64, l.1 as f64))
        .collect();
    let lo = finite
        .iter()
        .map(|p| p.1)
        .fold(f64::INFINITY, f64::min)
        .max(1e-9);
    let hi = finite
        .iter()
        .map(|p| p.1)
        .fold(0.0f64, f64::max)
        .max(lo * 10.0);
    let root = BitMapBackend::new(path, (900, 520)).into_drawing_area();
    let draw = || -> Result<(), Box<dyn std::error::Error>> {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 24))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..max_step, (lo..hi).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("training step")
            .y_desc("loss")
            .label_style(("sans-serif", 14))
            .draw()?;
        chart.draw_series(LineSeries::new(finite.clone(), BLUE.mix(0.35)))?;
        // A moving average over 50 steps makes the trend readable.
        let smooth: Vec<(f64, f64)> = finite
            .windows(50.min(finite.len().max(1)))
            .map(|w| {
                (
                    w[w.len() - 1].0,
                    w.iter().map(|p| p.1).sum::<f64>() / w.len() as f64,
                )
            })
            .collect();
        chart.draw_series(LineSeries::new(smooth, BLUE.stroke_width(2)))?;
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| anyhow::anyhow!("drawing {}: {e}", path.display()))
}
