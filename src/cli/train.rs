//! `ganglion train`: trains a policy in simulation, exports it to ONNX, writes a
//! model card, a learning-curve CSV and PNG beside the model, and evaluates the
//! exported file through tract exactly as `ganglion eval` would. PPO starts
//! from the env's preset (`learn::presets`); flags and `--hp key=value`
//! override it, and `--checkpoint-every` keeps intermediate policies.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::learn::ppo::{LocalRollouts, PpoUpdater, RolloutSource, train_from};
use crate::learn::{PpoConfig, ppo_preset};
use crate::nn::device::{Device, Resolved};
use crate::policy::ActionSpec;
use crate::policy::card::{CARD_FORMAT, EvalRecord, ModelCard, sha256_file};
use crate::sim::{VecEnv, make_env};

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Environment name (cartpole, cartpole-continuous, reacher).
    pub env: String,
    /// Training algorithm (ppo).
    #[arg(long, default_value = "ppo")]
    pub algo: String,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output ONNX file; the critic, card and curve are written beside it.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Environment-step budget, also the horizon of the linear schedules
    /// (default: the env's preset).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Parallel environments (default: the env's preset).
    #[arg(long)]
    pub envs: Option<usize>,
    /// Environment worker threads (results do not depend on it; default: the
    /// env's preset).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Evaluate the deterministic policy every N env steps; the best one is
    /// kept (default: the env's preset).
    #[arg(long)]
    pub eval_every: Option<usize>,
    /// Episodes per periodic evaluation (default: the env's preset).
    #[arg(long)]
    pub eval_episodes: Option<usize>,
    /// Override any PPO hyperparameter of the preset, as `key=value` in TOML
    /// (`n_steps=256`, `learning_rate.start=3e-4`, `hidden=[128,128]`).
    /// Repeatable.
    #[arg(long = "hp", value_name = "KEY=VALUE")]
    pub hp: Vec<String>,
    /// Save the policy every N env steps as `<out stem>.ckpt-<steps>.onnx`,
    /// each with its own card and evaluation (behaviour policies of graded
    /// quality).
    #[arg(long)]
    pub checkpoint_every: Option<usize>,
    /// Stop once an evaluation's mean return reaches this.
    #[arg(long)]
    pub stop_at: Option<f64>,
    /// Episodes of the final evaluation of the exported ONNX file (for the card).
    #[arg(long, default_value_t = 100)]
    pub final_episodes: usize,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    pub json: bool,
    /// `--algo dt`: the dataset (a directory of recordings from `ganglion collect`).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// `--algo dt`: gradient steps (default: the env's preset).
    #[arg(long)]
    pub dt_steps: Option<usize>,
    /// `--algo dt`: embedding width (default: the env's preset).
    #[arg(long)]
    pub dt_embed: Option<usize>,
    /// `--algo dt`: transformer layers (default: the env's preset).
    #[arg(long)]
    pub dt_layers: Option<usize>,
    /// `--algo dt`: dropout probability (default: the env's preset).
    #[arg(long)]
    pub dt_dropout: Option<f32>,
    /// `--algo dt`: fraction of training windows drawn from a uniformly chosen
    /// episode rather than one chosen in proportion to its length.
    #[arg(long)]
    pub dt_uniform_episodes: Option<f32>,
    /// `--algo dt`: returns to evaluate the trained model at (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub target_returns: Option<Vec<f32>>,
    /// Where the updates run: cpu, cuda (needs the `cuda` feature and a GPU)
    /// or auto (CUDA when available, else the CPU, saying so).
    #[arg(long, default_value = "cpu")]
    pub device: Device,
    /// Distributed rollouts: gather them from this many `ganglion worker`
    /// processes over zenoh (0: step the environments here).
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
    /// With --workers: zenoh endpoint(s) to listen on for workers.
    #[arg(long, default_value = "tcp/127.0.0.1:7500")]
    pub listen: Vec<String>,
    /// With --workers: the run's name in the key space ganglion/train/{run}/….
    #[arg(long, default_value = "ppo")]
    pub run_name: String,
    // With --workers: TLS on tls/ listen endpoints.
    #[command(flatten)]
    pub tls: super::tls_args::TlsArgs,
}

pub fn run(args: TrainArgs) -> Result<()> {
    let selection = args.device.resolve()?;
    if let Some(note) = &selection.note {
        eprintln!("{note}");
    }
    if args.algo == "dt" {
        let data = args.data.clone().ok_or_else(|| {
            anyhow::anyhow!("--algo dt needs --data DIR (recordings from `ganglion collect`)")
        })?;
        let mut cfg = super::train_dt::dt_preset(&args.env);
        if let Some(steps) = args.dt_steps {
            cfg.steps = steps;
        }
        if let Some(e) = args.dt_embed {
            cfg.embed = e;
        }
        if let Some(l) = args.dt_layers {
            cfg.layers = l;
        }
        if let Some(d) = args.dt_dropout {
            cfg.dropout = d;
        }
        if let Some(u) = args.dt_uniform_episodes {
            cfg.uniform_episodes = u.clamp(0.0, 1.0);
        }
        return super::train_dt::run_dt(super::train_dt::DtRun {
            out: args
                .out
                .clone()
                .unwrap_or_else(|| PathBuf::from(format!("models/{}-dt.onnx", args.env))),
            env: args.env.clone(),
            data,
            seed: args.seed,
            cfg,
            targets: args.target_returns.clone(),
            eval_episodes: args.final_episodes,
            json: args.json,
            device: selection.device,
        });
    }
    if args.algo != "ppo" {
        bail!("unknown --algo `{}` (available: ppo, dt)", args.algo);
    }
    let env_name = args.env.clone();
    let probe = make_env(&env_name)?;
    let spec = probe.spec().clone();
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("models/{env_name}-ppo.onnx")));
    let cfg = ppo_config(&args)?;
    if cfg.n_envs == 0 || cfg.n_steps == 0 {
        bail!("n_envs and n_steps must be positive");
    }
    let ckpt_every = args.checkpoint_every.filter(|n| *n > 0);
    let mut venv = VecEnv::new(
        || make_env(&env_name).expect("env name checked above"),
        cfg.n_envs,
        cfg.threads,
        args.seed,
    );
    let mut eval_env = make_env(&env_name)?;

    let bar = if args.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(cfg.total_timesteps as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} steps  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let mut checkpoints: Vec<(usize, PathBuf)> = Vec::new();
    let mut ckpt_error: Option<anyhow::Error> = None;
    let mut next_ckpt = ckpt_every.unwrap_or(usize::MAX);
    let metadata = [
        ("ganglion.env", env_name.clone()),
        ("ganglion.algo", "ppo".to_string()),
        ("ganglion.seed", args.seed.to_string()),
    ];
    #[cfg(feature = "cuda")]
    let mut cuda_updater = match selection.device {
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
    let updater: Option<&mut dyn PpoUpdater> = match selection.device {
        Resolved::Cpu => None,
        Resolved::Cuda => bail!("{}", crate::nn::device::DeviceError::NotBuilt),
    };
    let mut remote = if args.workers > 0 {
        Some(super::worker::learner(&args, &env_name, &cfg)?)
    } else {
        None
    };
    let mut local = LocalRollouts::new(&mut venv, cfg.gamma);
    let source: &mut dyn RolloutSource = match remote.as_mut() {
        Some(r) => r,
        None => &mut local,
    };
    let outcome = train_from(&cfg, source, eval_env.as_mut(), args.seed, updater, |p| {
        if let Some(every) = ckpt_every
            && p.steps >= next_ckpt
        {
            while next_ckpt <= p.steps {
                next_ckpt = next_ckpt.saturating_add(every);
            }
            let path = checkpoint_path(&out, p.steps);
            match p.model.export_onnx(&path, &metadata) {
                Ok(_) => checkpoints.push((p.steps, path)),
                Err(e) => {
                    ckpt_error.get_or_insert(e.context(format!("writing {}", path.display())));
                }
            }
        }
        bar.set_position(p.steps as u64);
        let fmt = |v: Option<f64>| v.map(|x| format!("{x:.1}")).unwrap_or_else(|| "-".into());
        bar.set_message(format!(
            "iter {}  mean return {}  eval {}",
            p.iteration,
            fmt(p.mean_return),
            fmt(p.last_eval)
        ));
    })?;
    bar.finish_and_clear();
    if let Some(r) = remote {
        eprintln!(
            "{} workers: {} env steps in {:.1} s, {:.0} env-steps/s at the learner",
            args.workers,
            outcome.steps,
            outcome.wall_s,
            outcome.steps as f64 / outcome.wall_s.max(1e-9)
        );
        r.finish()?;
    }
    if let Some(e) = ckpt_error {
        return Err(e);
    }

    let model = &outcome.model;
    let critic_path = model
        .export_onnx(&out, &metadata)
        .with_context(|| format!("writing {}", out.display()))?;
    let csv = out.with_extension("curve.csv");
    let png = out.with_extension("curve.png");
    outcome.curve.write_csv(&csv)?;
    outcome
        .curve
        .write_png(&png, &format!("PPO on {env_name} (seed {})", args.seed))?;

    // Measure the exported file the way `ganglion eval` does.
    let final_eval = super::eval::eval_policy_file(&env_name, &out, args.final_episodes, 0)
        .context("evaluating the exported policy")?;
    let command = std::iter::once("ganglion".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
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
    let hyperparameters =
        tidy_floats(toml::Value::try_from(&cfg).context("recording hyperparameters")?);
    training.insert("hyperparameters".into(), hyperparameters.clone());
    let base_card = ModelCard {
        format: CARD_FORMAT.into(),
        name: out
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        kind: "mlp".into(),
        env: env_name.clone(),
        algo: "ppo".into(),
        seed: args.seed,
        ganglion_version: env!("CARGO_PKG_VERSION").into(),
        command,
        sha256: sha256_file(&out)?,
        obs_dim: spec.observation.flat_dim(),
        action: ActionSpec::from_space(&spec.action),
        critic: critic_path
            .file_name()
            .map(|s| s.to_string_lossy().into_owned()),
        training: toml::Table::new(),
        eval: Some(eval_record(&final_eval.report)),
        dt: None,
    };
    // Checkpoints: their own cards (same command, their step count), and a
    // table of them on the final card.
    let mut ckpt_rows = Vec::new();
    for (steps, path) in &checkpoints {
        let ev = super::eval::eval_policy_file(&env_name, path, args.final_episodes, 0)
            .with_context(|| format!("evaluating {}", path.display()))?;
        let mut t = toml::Table::new();
        t.insert("env_steps".into(), (*steps as i64).into());
        t.insert("checkpoint_of".into(), file_name(&out).into());
        t.insert("hyperparameters".into(), hyperparameters.clone());
        let mut card = ModelCard {
            training: t,
            eval: Some(eval_record(&ev.report)),
            ..base_card.clone()
        };
        card.name = stem(path);
        card.sha256 = sha256_file(path)?;
        card.critic = Some(file_name(&path.with_extension("critic.onnx")));
        card.save_for(path)?;
        let mut row = toml::Table::new();
        row.insert("env_steps".into(), (*steps as i64).into());
        row.insert("file".into(), file_name(path).into());
        row.insert("eval_mean_return".into(), ev.report.mean_return.into());
        row.insert("eval_std_return".into(), ev.report.std_return.into());
        ckpt_rows.push((*steps, ev.report.mean_return, row));
    }
    if !ckpt_rows.is_empty() {
        training.insert(
            "checkpoints".into(),
            toml::Value::Array(
                ckpt_rows
                    .iter()
                    .map(|(_, _, r)| toml::Value::Table(r.clone()))
                    .collect(),
            ),
        );
    }
    let card = ModelCard {
        training,
        ..base_card
    };
    card.save_for(&out)?;

    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "env": env_name,
                "algo": "ppo",
                "seed": args.seed,
                "out": out.display().to_string(),
                "env_steps": outcome.steps,
                "wall_s": outcome.wall_s,
                "solved_early": outcome.solved,
                "eval": final_eval.report,
                "checkpoints": ckpt_rows.iter().map(|(steps, mean, _)| serde_json::json!({
                    "env_steps": steps,
                    "path": checkpoint_path(&out, *steps).display().to_string(),
                    "eval_mean_return": mean,
                })).collect::<Vec<_>>(),
            })
        );
    } else {
        println!(
            "trained {env_name} with PPO (seed {}) in {:.1} s, {} env steps",
            args.seed, outcome.wall_s, outcome.steps
        );
        println!("  policy  {}", out.display());
        println!("  critic  {}", critic_path.display());
        println!(
            "  card    {}",
            crate::policy::card::card_path(&out).display()
        );
        println!("  curve   {} and {}", csv.display(), png.display());
        let r = &final_eval.report;
        println!(
            "  eval    {} episodes (seed 0): mean return {:.1} ± {:.1}, min {:.0}",
            r.episodes, r.mean_return, r.std_return, r.min_return
        );
        for (steps, mean, _) in &ckpt_rows {
            println!(
                "  ckpt    {} (mean return {mean:.1})",
                checkpoint_path(&out, *steps).display()
            );
        }
    }
    Ok(())
}

/// The env's preset with the command line's overrides: first `--hp`, then
/// the dedicated flags.
fn ppo_config(args: &TrainArgs) -> Result<PpoConfig> {
    let mut cfg = ppo_preset(&args.env);
    if !args.hp.is_empty() {
        let mut table = match toml::Value::try_from(&cfg).context("preset to TOML")? {
            toml::Value::Table(t) => t,
            _ => bail!("a PPO config serialises to a table"),
        };
        for kv in &args.hp {
            set_key(&mut table, kv)?;
        }
        cfg = toml::Value::Table(table)
            .try_into()
            .context("--hp: the overridden hyperparameters do not make a PPO config")?;
    }
    if let Some(v) = args.steps {
        cfg.total_timesteps = v;
    }
    if let Some(v) = args.envs {
        cfg.n_envs = v;
    }
    if let Some(v) = args.threads {
        cfg.threads = v;
    }
    if let Some(v) = args.eval_every {
        cfg.eval_every = v;
    }
    if let Some(v) = args.eval_episodes {
        cfg.eval_episodes = v;
    }
    if args.stop_at.is_some() {
        cfg.stop_at = args.stop_at;
    }
    Ok(cfg)
}

/// Applies one `key.path=toml-value` override to an existing key.
fn set_key(table: &mut toml::Table, kv: &str) -> Result<()> {
    let (key, value) = kv
        .split_once('=')
        .with_context(|| format!("--hp `{kv}`: expected KEY=VALUE"))?;
    let parsed: toml::Table = format!("v = {}", value.trim())
        .parse()
        .with_context(|| format!("--hp `{kv}`: `{value}` is not a TOML value"))?;
    let value = parsed.get("v").cloned().context("parsed value")?;
    let mut parts = key.trim().split('.').peekable();
    let mut here = table;
    while let Some(part) = parts.next() {
        let known = here.keys().cloned().collect::<Vec<_>>().join(", ");
        let slot = here
            .get_mut(part)
            .with_context(|| format!("--hp `{kv}`: no key `{part}` (known: {known})"))?;
        if parts.peek().is_none() {
            *slot = value;
            return Ok(());
        }
        here = slot
            .as_table_mut()
            .with_context(|| format!("--hp `{kv}`: `{part}` has no sub-keys"))?;
    }
    bail!("--hp `{kv}`: empty key")
}

/// `models/x.onnx`, 4096 → `models/x.ckpt-4096.onnx`.
fn checkpoint_path(out: &Path, steps: usize) -> PathBuf {
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

fn eval_record(r: &crate::learn::EvalReport) -> EvalRecord {
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
