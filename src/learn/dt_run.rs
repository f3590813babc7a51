//! A whole Decision Transformer training run, as `ganglion train --algo dt`
//! does it: a dataset of recordings in, the ONNX model (the whole K-window
//! forward pass), its card (return-to-go scale, state normalisation, the
//! achieved return per target) and the loss curve (CSV + PNG) out. The
//! exported file is measured at each target through tract. The caller draws
//! progress and prints the report.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};

use super::dataset::{DATASET_MANIFEST, ReturnStats, load_dataset};
use super::dt_train::{DtTrainConfig, train_dt_on};
use super::ppo_run::eval_record;
use super::{EvalReport, evaluate};
use crate::input::{FileKind, sha256_file};
use crate::policy::card::{CARD_FORMAT, DtCard, ModelCard};
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
    /// Where training runs (resolved from `--device`).
    pub device: crate::nn::device::Resolved,
    /// The command that made the model, for its card.
    pub command: String,
}

/// One target return and what the exported model achieved with it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TargetResult {
    pub target: f32,
    pub mean_return: f64,
    pub std_return: f64,
    pub min_return: f64,
    pub max_return: f64,
}

/// What a run wrote and measured.
#[derive(Debug)]
pub struct DtRunReport {
    pub out: PathBuf,
    pub loss_png: PathBuf,
    pub dataset: ReturnStats,
    pub wall_s: f64,
    pub tokens_per_s: f64,
    /// Mean loss of the last 50 steps.
    pub final_loss: f64,
    pub targets: Vec<TargetResult>,
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

/// Trains on `run.data`, exports, measures each target and writes the card;
/// `on_step(step, loss)` sees every optimiser step.
pub fn run_dt(run: &DtRun, on_step: &mut dyn FnMut(usize, f32)) -> Result<DtRunReport> {
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
    let outcome = train_dt_on(&run.cfg, &ds, &action, run.seed, run.device, |s, l| {
        on_step(s, l)
    })?;
    crate::nn::dt::export::export_dt(
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
    let loss_png = run.out.with_extension("loss.png");
    super::curve::write_loss_png(
        &outcome.losses,
        &loss_png,
        &format!("Decision Transformer on {} (seed {})", run.env, run.seed),
    )?;
    let targets = run
        .targets
        .clone()
        .unwrap_or_else(|| default_targets(&run.env, stats.max));
    let final_loss = outcome
        .losses
        .iter()
        .rev()
        .take(50)
        .map(|l| l.1 as f64)
        .sum::<f64>()
        / outcome.losses.len().clamp(1, 50) as f64;
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
        command: run.command.clone(),
        sha256: sha256_file(&run.out, FileKind::Model)?,
        obs_dim: ds.obs_dim,
        action: action.clone(),
        critic: None,
        training: training_table(run, &stats, &outcome, final_loss)?,
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
    let results = measure_targets(run, &mut card, &targets)?;
    card.save_for(&run.out)?;
    Ok(DtRunReport {
        out: run.out.clone(),
        loss_png,
        dataset: stats,
        wall_s: outcome.wall_s,
        tokens_per_s: outcome.tokens_per_s,
        final_loss,
        targets: results,
    })
}

/// The card's `[training]`: the dataset and how to regenerate it, time,
/// throughput, final loss and hyperparameters.
fn training_table(
    run: &DtRun,
    stats: &ReturnStats,
    outcome: &super::dt_train::DtTrainOutcome,
    final_loss: f64,
) -> Result<toml::Table> {
    let mut training = toml::Table::new();
    training.insert("dataset".into(), run.data.display().to_string().into());
    // How to regenerate the dataset, when `ganglion collect` made it.
    let manifest = run.data.join(DATASET_MANIFEST);
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
    training.insert("final_loss".into(), final_loss.into());
    training.insert(
        "hyperparameters".into(),
        toml::Value::try_from(&run.cfg).context("recording hyperparameters")?,
    );
    Ok(training)
}

/// The exported model at each target return, `episodes` episodes each from
/// `seed` (through tract, as `ganglion eval` runs it).
pub fn evaluate_targets(
    model: &Path,
    card: &ModelCard,
    env: &str,
    targets: &[f32],
    episodes: usize,
    seed: u64,
) -> Result<Vec<(TargetResult, EvalReport)>> {
    let mut results = Vec::with_capacity(targets.len());
    for &target in targets {
        let mut policy = DtPolicy::load(model, card, Some(target))?;
        let mut env = make_env(env)?;
        let r = evaluate(&mut policy, env.as_mut(), episodes, seed)?;
        let t = TargetResult {
            target,
            mean_return: r.mean_return,
            std_return: r.std_return,
            min_return: r.min_return,
            max_return: r.max_return,
        };
        results.push((t, r));
    }
    Ok(results)
}

/// Measures the exported file at each target; the default target's result
/// becomes the card's `eval`, every target's mean its `achieved_returns`.
fn measure_targets(
    run: &DtRun,
    card: &mut ModelCard,
    targets: &[f32],
) -> Result<Vec<TargetResult>> {
    let measured = evaluate_targets(&run.out, card, &run.env, targets, run.eval_episodes, 0)?;
    let default = card.dt.as_ref().map_or(0.0, |d| d.default_target);
    for (t, r) in &measured {
        if (t.target - default).abs() < 1e-6 {
            card.eval = Some(eval_record(r));
        }
    }
    if let Some(dt) = card.dt.as_mut() {
        dt.achieved_returns = measured.iter().map(|(t, _)| t.mean_return).collect();
    }
    Ok(measured.into_iter().map(|(t, _)| t).collect())
}
