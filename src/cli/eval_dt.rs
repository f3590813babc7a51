//! `ganglion eval` for Decision Transformers: the achieved return for each
//! target return it is conditioned on, and a plot of target vs achieved beside
//! the dataset's return distribution.

use anyhow::{Result, anyhow};

use super::eval::EvalArgs;
use ganglion::learn::curve::plot_targets;
use ganglion::learn::dt_run::evaluate_targets;
use ganglion::policy::ModelCard;

pub fn run(args: &EvalArgs, card: &ModelCard) -> Result<()> {
    let dt = card
        .dt
        .as_ref()
        .ok_or_else(|| anyhow!("{}: the card has no [dt] section", args.policy.display()))?;
    let targets = args
        .target_returns
        .clone()
        .unwrap_or_else(|| dt.target_returns.clone());
    let results = evaluate_targets(
        &args.policy,
        card,
        &args.env,
        &targets,
        args.episodes.unwrap_or(super::eval::DEFAULT_EPISODES),
        args.seed.unwrap_or(super::eval::DEFAULT_SEED),
    )?
    .into_iter()
    .map(|(t, _)| t)
    .collect::<Vec<_>>();
    if let Some(plot) = &args.plot {
        plot_targets(plot, &results, &dt.dataset_returns, &args.env)?;
    }
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "env": args.env,
                "policy": args.policy.display().to_string(),
                "episodes": args.episodes.unwrap_or(super::eval::DEFAULT_EPISODES),
                "seed": args.seed.unwrap_or(super::eval::DEFAULT_SEED),
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
            args.episodes.unwrap_or(super::eval::DEFAULT_EPISODES),
            args.seed.unwrap_or(super::eval::DEFAULT_SEED),
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
