//! `ganglion eval` for Decision Transformers: the achieved return for each
//! target return it is conditioned on, and a plot of target vs achieved beside
//! the dataset's return distribution.

use std::path::Path;

use anyhow::{Result, anyhow};
use plotters::prelude::*;
use serde::Serialize;

use super::eval::EvalArgs;
use crate::learn::evaluate;
use crate::policy::{DtPolicy, ModelCard};
use crate::sim::make_env;

#[derive(Serialize, Debug, Clone)]
pub struct TargetResult {
    pub target: f32,
    pub mean_return: f64,
    pub std_return: f64,
    pub min_return: f64,
    pub max_return: f64,
}

pub fn run(args: &EvalArgs, card: &ModelCard) -> Result<()> {
    let dt = card
        .dt
        .as_ref()
        .ok_or_else(|| anyhow!("{}: the card has no [dt] section", args.policy.display()))?;
    let targets = args
        .target_returns
        .clone()
        .unwrap_or_else(|| dt.target_returns.clone());
    let mut results = Vec::new();
    for &target in &targets {
        let mut policy = DtPolicy::load(&args.policy, card, Some(target))?;
        let mut env = make_env(&args.env)?;
        let r = evaluate(&mut policy, env.as_mut(), args.episodes, args.seed)?;
        results.push(TargetResult {
            target,
            mean_return: r.mean_return,
            std_return: r.std_return,
            min_return: r.min_return,
            max_return: r.max_return,
        });
    }
    if let Some(plot) = &args.plot {
        plot_targets(plot, &results, &dt.dataset_returns, &args.env)?;
    }
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "env": args.env,
                "policy": args.policy.display().to_string(),
                "episodes": args.episodes,
                "seed": args.seed,
                "targets": results,
                "dataset_return_min": dt.dataset_return_min,
                "dataset_return_mean": dt.dataset_return_mean,
                "dataset_return_max": dt.dataset_return_max,
            })
        );
    } else {
        println!(
            "{} on {}: {} episodes per target (seed {}); dataset returns min {:.1}, mean {:.1}, max {:.1}",
            args.policy.display(),
            args.env,
            args.episodes,
            args.seed,
            dt.dataset_return_min,
            dt.dataset_return_mean,
            dt.dataset_return_max
        );
        for r in &results {
            println!(
                "  target {:>9.1} → achieved {:>9.1} ± {:.1} (min {:.1}, max {:.1})",
                r.target, r.mean_return, r.std_return, r.min_return, r.max_return
            );
        }
        if let Some(p) = &args.plot {
            println!("  plot   {}", p.display());
        }
    }
    Ok(())
}

/// Target vs achieved (with ±1 std bars) over a histogram of dataset returns.
pub fn plot_targets(
    path: &Path,
    results: &[TargetResult],
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
    crate::learn::curve::ensure_font();
    let root = BitMapBackend::new(path, (900, 600)).into_drawing_area();
    let draw = || -> Result<(), Box<dyn std::error::Error>> {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
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
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()?;
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| anyhow!("drawing {}: {e}", path.display()))
}
