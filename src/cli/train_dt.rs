//! `ganglion train ENV --algo dt --data DIR`: a Decision Transformer from a
//! dataset of recordings. Writes the ONNX model (the whole K-window forward
//! pass), a model card with the return-to-go scale, state normalisation and
//! the achieved return per target, and the loss curve (CSV + PNG).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::learn::dataset::load_dataset;
use crate::learn::dt_train::{DtTrainConfig, train_dt_on};
use crate::learn::evaluate;
use crate::policy::card::{CARD_FORMAT, DtCard, EvalRecord, ModelCard, sha256_file};
use crate::policy::{ActionSpec, DtPolicy};
use crate::sim::make_env;

/// What `train --algo dt` needs besides the config.
pub struct DtRun {
    pub env: String,
    pub data: PathBuf,
    pub out: PathBuf,
    pub seed: u64,
    pub cfg: DtTrainConfig,
    /// Targets to evaluate after training (default: per env).
    pub targets: Option<Vec<f32>>,
    pub eval_episodes: usize,
    pub json: bool,
    /// Where training runs (resolved from `--device`).
    pub device: crate::nn::device::Resolved,
}

/// Per-environment training defaults, sized for a 2-core CPU.
pub fn dt_preset(env: &str) -> DtTrainConfig {
    match env {
        "cartpole" => DtTrainConfig {
            embed: 64,
            layers: 2,
            batch_size: 32,
            steps: 1500,
            learning_rate: 6e-4,
            warmup_steps: 100,
            rtg_scale: Some(500.0),
            uniform_episodes: 0.5,
            ..Default::default()
        },
        _ => DtTrainConfig {
            embed: 64,
            layers: 2,
            batch_size: 32,
            steps: 2000,
            learning_rate: 6e-4,
            warmup_steps: 100,
            ..Default::default()
        },
    }
}

fn default_targets(env: &str, best: f64) -> Vec<f32> {
    match env {
        "cartpole" => vec![100.0, 250.0, 500.0],
        _ => vec![(best * 2.0) as f32, (best * 1.5) as f32, best as f32],
    }
}

pub fn write_loss_csv(losses: &[(usize, f32)], path: &Path) -> Result<()> {
    let mut s = String::from("step,loss\n");
    for (step, l) in losses {
        s.push_str(&format!("{step},{l}\n"));
    }
    std::fs::write(path, s).with_context(|| format!("writing {}", path.display()))
}

pub fn run_dt(run: DtRun) -> Result<()> {
    let env = make_env(&run.env)?;
    let spec = env.spec().clone();
    let action = ActionSpec::from_space(&spec.action);
    let ds = load_dataset(&run.data)?;
    if ds.obs_dim != spec.observation.flat_dim() {
        bail!(
            "{}: observations have {} values; `{}` has {}",
            run.data.display(),
            ds.obs_dim,
            run.env,
            spec.observation.flat_dim()
        );
    }
    let stats = ds.return_stats();
    let bar = if run.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(run.cfg.steps as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} steps  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let mut smooth = None::<f32>;
    let outcome = train_dt_on(
        &run.cfg,
        &ds,
        &action,
        run.seed,
        run.device,
        |step, loss| {
            let s = smooth.map_or(loss, |m| 0.98 * m + 0.02 * loss);
            smooth = Some(s);
            if step % 10 == 0 {
                bar.set_position(step as u64);
                bar.set_message(format!("loss {s:.4}"));
            }
        },
    )?;
    bar.finish_and_clear();

    crate::nn::dt_export::export_dt(
        &outcome.model,
        &run.out,
        &[
            ("ganglion.env", run.env.clone()),
            ("ganglion.algo", "dt".into()),
            ("ganglion.seed", run.seed.to_string()),
        ],
    )
    .map_err(|e| anyhow!("writing {}: {e}", run.out.display()))?;
    write_loss_csv(&outcome.losses, &run.out.with_extension("loss.csv"))?;
    crate::learn::curve::write_loss_png(
        &outcome.losses,
        &run.out.with_extension("loss.png"),
        &format!("Decision Transformer on {} (seed {})", run.env, run.seed),
    )?;

    let targets = run
        .targets
        .clone()
        .unwrap_or_else(|| default_targets(&run.env, stats.max));
    let mut card = ModelCard {
        format: CARD_FORMAT.into(),
        name: run
            .out
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        kind: "decision-transformer".into(),
        env: run.env.clone(),
        algo: "dt".into(),
        seed: run.seed,
        ganglion_version: env!("CARGO_PKG_VERSION").into(),
        command: std::iter::once("ganglion".to_string())
            .chain(std::env::args().skip(1))
            .collect::<Vec<_>>()
            .join(" "),
        sha256: sha256_file(&run.out)?,
        obs_dim: ds.obs_dim,
        action: action.clone(),
        critic: None,
        training: toml::Table::new(),
        eval: None,
        dt: Some(DtCard {
            context: run.cfg.context,
            rtg_scale: outcome.rtg_scale,
            max_timestep: run.cfg.max_timestep,
            state_mean: outcome.state_mean.clone(),
            state_std: outcome.state_std.clone(),
            default_target: targets.iter().copied().fold(f32::NEG_INFINITY, f32::max),
            target_returns: targets.clone(),
            achieved_returns: Vec::new(),
            dataset_return_min: stats.min,
            dataset_return_mean: stats.mean,
            dataset_return_max: stats.max,
            dataset_returns: stats.returns.clone(),
        }),
    };
    let mut training = toml::Table::new();
    training.insert("dataset".into(), run.data.display().to_string().into());
    // How to regenerate the dataset, when `ganglion collect` made it.
    let manifest = run.data.join(super::collect::DATASET_MANIFEST);
    if let Some(cmd) = std::fs::read_to_string(&manifest)
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
        .and_then(|t| {
            t.get("command")
                .and_then(|c| c.as_str())
                .map(str::to_string)
        })
    {
        training.insert("dataset_command".into(), cmd.into());
    }
    training.insert("dataset_episodes".into(), (stats.episodes as i64).into());
    training.insert("dataset_steps".into(), (stats.steps as i64).into());
    training.insert(
        "wall_seconds".into(),
        ((outcome.wall_s * 100.0).round() / 100.0).into(),
    );
    training.insert(
        "tokens_per_second".into(),
        outcome.tokens_per_s.round().into(),
    );
    let final_loss = outcome
        .losses
        .iter()
        .rev()
        .take(50)
        .map(|l| l.1 as f64)
        .sum::<f64>()
        / outcome.losses.len().clamp(1, 50) as f64;
    training.insert("final_loss".into(), final_loss.into());
    training.insert(
        "hyperparameters".into(),
        toml::Value::try_from(&run.cfg).context("recording hyperparameters")?,
    );
    card.training = training;

    // Measure the exported file at each target, through tract.
    let mut achieved = Vec::new();
    let mut reports = Vec::new();
    for &target in &targets {
        let mut policy = DtPolicy::load(&run.out, &card, Some(target))?;
        let mut env = make_env(&run.env)?;
        let r = evaluate(&mut policy, env.as_mut(), run.eval_episodes, 0)?;
        achieved.push(r.mean_return);
        reports.push(
            json!({"target": target, "mean_return": r.mean_return, "std_return": r.std_return}),
        );
        if (target - card.dt.as_ref().map_or(0.0, |d| d.default_target)).abs() < 1e-6 {
            card.eval = Some(EvalRecord {
                episodes: r.episodes,
                seed: 0,
                mean_return: r.mean_return,
                std_return: r.std_return,
                min_return: r.min_return,
            });
        }
    }
    if let Some(dt) = card.dt.as_mut() {
        dt.achieved_returns = achieved;
    }
    card.save_for(&run.out)?;
    if run.json {
        println!(
            "{}",
            json!({"env": run.env, "algo": "dt", "out": run.out.display().to_string(),
                   "wall_s": outcome.wall_s, "tokens_per_s": outcome.tokens_per_s,
                   "final_loss": final_loss, "targets": reports})
        );
    } else {
        println!(
            "trained a Decision Transformer on {} episodes ({} steps) of {} in {:.1} s ({:.0} tokens/s)",
            stats.episodes, stats.steps, run.env, outcome.wall_s, outcome.tokens_per_s
        );
        println!("  model  {}", run.out.display());
        println!(
            "  card   {}",
            crate::policy::card::card_path(&run.out).display()
        );
        println!(
            "  loss   {} (final {:.4})",
            run.out.with_extension("loss.png").display(),
            final_loss
        );
        println!(
            "  dataset returns: min {:.1}, mean {:.1}, max {:.1}",
            stats.min, stats.mean, stats.max
        );
        for r in &reports {
            println!(
                "  target {:>8.1} → achieved {:.1} ± {:.1} over {} episodes",
                r["target"].as_f64().unwrap_or(f64::NAN),
                r["mean_return"].as_f64().unwrap_or(f64::NAN),
                r["std_return"].as_f64().unwrap_or(f64::NAN),
                run.eval_episodes
            );
        }
    }
    Ok(())
}
