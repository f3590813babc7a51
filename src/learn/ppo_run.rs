//! A whole PPO training run, as `ganglion train` does it: the env's venv,
//! the device, periodic checkpoints, the export to ONNX, the learning curve
//! (CSV and PNG), the exported file evaluated through tract the way `ganglion
//! eval` does, and the model cards (the final one lists the checkpoints).
//! Rollouts come from local envs or from a caller-made source (zenoh
//! workers); the caller draws progress and prints the report.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::eval::eval_policy_file;
use super::ppo::{LocalRollouts, PpoOutcome, PpoUpdater, Progress, RolloutSource, train_from};
use super::{EvalReport, PpoConfig};
use crate::input::{FileKind, sha256_file};
use crate::nn::device::Resolved;
use crate::policy::ActionSpec;
use crate::policy::card::{CARD_FORMAT, EvalRecord, ModelCard};
use crate::sim::{VecEnv, make_env};

/// What to train and where to write it.
pub struct PpoRun<'a> {
    pub env: String,
    /// "ppo" or "a2c" (the same trainer, `ppo.rs`), or "reinforce", for
    /// the card.
    pub algo: String,
    /// REINFORCE's settings: when set, `reinforce.rs` trains instead of the
    /// PPO trainer (`cfg` is then unused but for the step check).
    pub reinforce: Option<super::ReinforceConfig>,
    pub out: PathBuf,
    pub seed: u64,
    pub cfg: PpoConfig,
    /// Export a checkpoint every this many env steps.
    pub checkpoint_every: Option<usize>,
    /// Episodes of the final evaluation (and each checkpoint's).
    pub final_episodes: usize,
    pub device: Resolved,
    /// Rollouts from elsewhere (zenoh workers) instead of local envs.
    pub rollouts: Option<&'a mut dyn RolloutSource>,
    /// The command that made the model, for its card.
    pub command: String,
}

/// One checkpoint and its evaluation.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Checkpoint {
    pub env_steps: usize,
    pub path: PathBuf,
    pub eval_mean_return: f64,
    pub eval_std_return: f64,
}

/// What a run wrote and measured.
#[derive(Debug)]
pub struct PpoRunReport {
    pub out: PathBuf,
    pub critic: PathBuf,
    pub curve_csv: PathBuf,
    pub curve_png: PathBuf,
    pub env_steps: usize,
    pub wall_s: f64,
    pub solved_early: bool,
    pub eval: EvalReport,
    pub checkpoints: Vec<Checkpoint>,
}

/// Trains, exports, evaluates and writes the cards; `on_progress` sees every
/// iteration.
pub fn run_ppo(
    mut run: PpoRun<'_>,
    on_progress: &mut dyn FnMut(&Progress<'_>),
) -> Result<PpoRunReport> {
    let rollouts = run.rollouts.take();
    let cfg = &run.cfg;
    if cfg.n_envs == 0 || cfg.n_steps == 0 {
        bail!("n_envs and n_steps must be positive");
    }
    let mut eval_env = make_env(&run.env)?;
    let metadata = [
        ("ganglion.env", run.env.clone()),
        ("ganglion.algo", run.algo.clone()),
        ("ganglion.seed", run.seed.to_string()),
    ];
    let mut saver = CheckpointSaver::new(&run.out, run.checkpoint_every, &metadata);
    let mut on_iteration = |p: &Progress<'_>| {
        saver.maybe_save(p);
        on_progress(p);
    };
    let outcome = match (rollouts, &run.reinforce) {
        (_, Some(rc)) => {
            if run.device != Resolved::Cpu {
                bail!("REINFORCE trains on the CPU only");
            }
            let mut env = make_env(&run.env)?;
            super::train_reinforce(
                rc,
                env.as_mut(),
                eval_env.as_mut(),
                run.seed,
                &mut on_iteration,
            )?
        }
        (Some(source), None) => train_on(
            cfg,
            source,
            eval_env.as_mut(),
            run.seed,
            run.device,
            &mut on_iteration,
        )?,
        (None, None) => {
            let env_name = run.env.clone();
            let mut venv = VecEnv::new(
                || make_env(&env_name).expect("the env was made above"),
                cfg.n_envs,
                cfg.threads,
                run.seed,
            );
            let mut local = LocalRollouts::new(&mut venv, cfg.gamma);
            train_on(
                cfg,
                &mut local,
                eval_env.as_mut(),
                run.seed,
                run.device,
                &mut on_iteration,
            )?
        }
    };
    let saved = saver.finish()?;
    remove_stale_card(&run.out)?;
    let critic = outcome
        .model
        .export_onnx(&run.out, &metadata)
        .with_context(|| format!("writing {}", run.out.display()))?;
    let (curve_csv, curve_png) = (
        run.out.with_extension("curve.csv"),
        run.out.with_extension("curve.png"),
    );
    outcome.curve.write_csv(&curve_csv)?;
    outcome.curve.write_png(
        &curve_png,
        &format!(
            "{} on {} (seed {})",
            run.algo.to_uppercase(),
            run.env,
            run.seed
        ),
    )?;
    // Measure the exported file the way `ganglion eval` does.
    let eval = eval_policy_file(&run.env, &run.out, run.final_episodes, 0)
        .context("evaluating the exported policy")?
        .report;
    let base = base_card(&run, eval_env.spec(), &outcome, &critic, &eval)?;
    let checkpoints = write_checkpoint_cards(&run, &base, &saved)?;
    let mut training = base.training.clone();
    if !checkpoints.is_empty() {
        let rows = checkpoints.iter().map(|c| {
            let mut row = toml::Table::new();
            row.insert("env_steps".into(), (c.env_steps as i64).into());
            row.insert("file".into(), file_name(&c.path).into());
            row.insert("eval_mean_return".into(), c.eval_mean_return.into());
            row.insert("eval_std_return".into(), c.eval_std_return.into());
            toml::Value::Table(row)
        });
        training.insert("checkpoints".into(), toml::Value::Array(rows.collect()));
    }
    ModelCard { training, ..base }.save_for(&run.out)?;
    Ok(PpoRunReport {
        out: run.out,
        critic,
        curve_csv,
        curve_png,
        env_steps: outcome.steps,
        wall_s: outcome.wall_s,
        solved_early: outcome.solved,
        eval,
        checkpoints,
    })
}

/// `train_from` on the chosen device.
fn train_on(
    cfg: &PpoConfig,
    source: &mut dyn RolloutSource,
    eval_env: &mut dyn crate::sim::Env,
    seed: u64,
    device: Resolved,
    on_progress: &mut dyn FnMut(&Progress<'_>),
) -> Result<PpoOutcome> {
    #[cfg(feature = "cuda")]
    let mut cuda_updater = match device {
        Resolved::Cuda => {
            let gpu = crate::nn::cuda::Gpu::new(0)?;
            eprintln!("PPO updates on {}", gpu.name);
            Some(crate::nn::cuda::ppo::PpoCudaUpdater::new(gpu))
        }
        Resolved::Cpu => None,
    };
    #[cfg(feature = "cuda")]
    let updater = cuda_updater.as_mut().map(|u| u as &mut dyn PpoUpdater);
    #[cfg(not(feature = "cuda"))]
    let updater: Option<&mut dyn PpoUpdater> = match device {
        Resolved::Cpu => None,
        Resolved::Cuda => bail!("{}", crate::nn::device::DeviceError::NotBuilt),
    };
    train_from(cfg, source, eval_env, seed, updater, on_progress)
}

/// Exports the model every `every` env steps during training; the first
/// error is kept and returned at the end (training is not interrupted).
struct CheckpointSaver<'a> {
    out: &'a Path,
    every: Option<usize>,
    next: usize,
    metadata: &'a [(&'a str, String)],
    saved: Vec<(usize, PathBuf)>,
    error: Option<anyhow::Error>,
}

impl<'a> CheckpointSaver<'a> {
    fn new(out: &'a Path, every: Option<usize>, metadata: &'a [(&'a str, String)]) -> Self {
        let every = every.filter(|n| *n > 0);
        CheckpointSaver {
            out,
            every,
            next: every.unwrap_or(usize::MAX),
            metadata,
            saved: Vec::new(),
            error: None,
        }
    }

    fn maybe_save(&mut self, p: &Progress<'_>) {
        let Some(every) = self.every else { return };
        if p.steps < self.next {
            return;
        }
        while self.next <= p.steps {
            self.next = self.next.saturating_add(every);
        }
        let path = checkpoint_path(self.out, p.steps);
        let written =
            remove_stale_card(&path).and_then(|()| p.model.export_onnx(&path, self.metadata));
        match written {
            Ok(_) => self.saved.push((p.steps, path)),
            Err(e) => {
                self.error
                    .get_or_insert(e.context(format!("writing {}", path.display())));
            }
        }
    }

    fn finish(self) -> Result<Vec<(usize, PathBuf)>> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.saved),
        }
    }
}

/// The final model's card, without the checkpoint table.
fn base_card(
    run: &PpoRun<'_>,
    spec: &crate::sim::EnvSpec,
    outcome: &PpoOutcome,
    critic: &Path,
    eval: &EvalReport,
) -> Result<ModelCard> {
    let mut training = toml::Table::new();
    training.insert("env_steps".into(), (outcome.steps as i64).into());
    training.insert(
        "wall_seconds".into(),
        ((outcome.wall_s * 100.0).round() / 100.0).into(),
    );
    training.insert("solved_early".into(), outcome.solved.into());
    if let Some(b) = &outcome.best_eval {
        training.insert("best_eval_mean_return".into(), b.mean_return.into());
    }
    let hp = match &run.reinforce {
        Some(rc) => tidy_floats(toml::Value::try_from(rc).context("recording hyperparameters")?),
        None => hyperparameters(&run.cfg)?,
    };
    training.insert("hyperparameters".into(), hp);
    Ok(ModelCard {
        format: CARD_FORMAT.into(),
        name: stem(&run.out),
        kind: "mlp".into(),
        env: run.env.clone(),
        algo: run.algo.clone(),
        seed: run.seed,
        ganglion_version: env!("CARGO_PKG_VERSION").into(),
        command: run.command.clone(),
        sha256: sha256_file(&run.out, FileKind::Model)?,
        obs_dim: spec.observation.flat_dim(),
        action: ActionSpec::from_space(&spec.action),
        critic: Some(file_name(critic)),
        training,
        eval: Some(eval_record(eval)),
        dt: None,
    })
}

/// Evaluates each checkpoint and writes its card (the final card's command,
/// its own step count).
fn write_checkpoint_cards(
    run: &PpoRun<'_>,
    base: &ModelCard,
    saved: &[(usize, PathBuf)],
) -> Result<Vec<Checkpoint>> {
    let mut out = Vec::with_capacity(saved.len());
    for (steps, path) in saved {
        let ev = eval_policy_file(&run.env, path, run.final_episodes, 0)
            .with_context(|| format!("evaluating {}", path.display()))?;
        let mut t = toml::Table::new();
        t.insert("env_steps".into(), (*steps as i64).into());
        t.insert("checkpoint_of".into(), file_name(&run.out).into());
        // The same hyperparameters as the final card's.
        if let Some(hp) = base.training.get("hyperparameters") {
            t.insert("hyperparameters".into(), hp.clone());
        }
        let card = ModelCard {
            name: stem(path),
            sha256: sha256_file(path, FileKind::Model)?,
            critic: Some(file_name(&path.with_extension("critic.onnx"))),
            training: t,
            eval: Some(eval_record(&ev.report)),
            ..base.clone()
        };
        card.save_for(path)?;
        out.push(Checkpoint {
            env_steps: *steps,
            path: path.clone(),
            eval_mean_return: ev.report.mean_return,
            eval_std_return: ev.report.std_return,
        });
    }
    Ok(out)
}

fn hyperparameters(cfg: &PpoConfig) -> Result<toml::Value> {
    Ok(tidy_floats(
        toml::Value::try_from(cfg).context("recording hyperparameters")?,
    ))
}

/// `models/x.onnx`, 4096 → `models/x.ckpt-4096.onnx`.
pub fn checkpoint_path(out: &Path, steps: usize) -> PathBuf {
    out.with_file_name(format!("{}.ckpt-{steps}.onnx", stem(out)))
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A card's record of an evaluation.
pub fn eval_record(r: &EvalReport) -> EvalRecord {
    EvalRecord {
        episodes: r.episodes,
        seed: r.seed,
        mean_return: r.mean_return,
        std_return: r.std_return,
        min_return: r.min_return,
    }
}

/// f32 hyperparameters widen to f64 with noise digits (0.98 → 0.9800000190734863);
/// print them as the f32 they were.
fn tidy_floats(v: toml::Value) -> toml::Value {
    match v {
        toml::Value::Float(f) => toml::Value::Float(format!("{}", f as f32).parse().unwrap_or(f)),
        toml::Value::Table(t) => {
            toml::Value::Table(t.into_iter().map(|(k, v)| (k, tidy_floats(v))).collect())
        }
        toml::Value::Array(a) => toml::Value::Array(a.into_iter().map(tidy_floats).collect()),
        other => other,
    }
}

/// Removes the card beside `model` left by an earlier run into the same
/// path: it describes another file, and measuring the new one (which
/// checks a card's sha256) would fail on it. The new card replaces it.
fn remove_stale_card(model: &Path) -> Result<()> {
    let card = crate::policy::card::card_path(model);
    match std::fs::remove_file(&card) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing the stale card {}", card.display()))
        }
        _ => Ok(()),
    }
}
