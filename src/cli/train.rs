//! `ganglion train`: trains a policy in simulation, exports it to ONNX, writes a
//! model card, a learning-curve CSV and PNG beside the model, and evaluates the
//! exported file through tract exactly as `ganglion eval` would. PPO starts
//! from the env's preset (`learn::presets`); flags and `--hp key=value`
//! override it, and `--checkpoint-every` keeps intermediate policies.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;

use super::{command_line, progress_bar};
use ganglion::learn::dt_run::{DtRun, dt_preset};
use ganglion::learn::ppo::RolloutSource;
use ganglion::learn::ppo_run::{PpoRun, PpoRunReport, run_ppo};
use ganglion::learn::{PpoConfig, ppo_preset};
use ganglion::nn::device::{Device, Resolved};
use ganglion::sim::make_env;

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Environment name: cartpole, cartpole-continuous, reacher, arm-reach,
    /// or reach:FILE.urdf[#LINK] (reaching with any URDF arm's tool link).
    pub env: String,
    /// Training algorithm: ppo; a2c (advantage actor-critic, Stable-Baselines3's
    /// A2C defaults, RL-Zoo's CartPole preset); reinforce (Monte-Carlo policy
    /// gradient; `--hp baseline=true` for the critic baseline); dt (a Decision
    /// Transformer from recordings, --data).
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
    match args.algo.as_str() {
        "dt" => super::train_dt::train_and_report(&dt_run(&args, selection.device)?, args.json),
        "ppo" | "a2c" | "reinforce" => train_ppo(&args, selection.device),
        other => bail!("unknown --algo `{other}` (available: ppo, a2c, reinforce, dt)"),
    }
}

/// The DT run the flags describe: the env's preset with the overrides.
fn dt_run(args: &TrainArgs, device: Resolved) -> Result<DtRun> {
    let data = args.data.clone().ok_or_else(|| {
        anyhow::anyhow!("--algo dt needs --data DIR (recordings from `ganglion collect`)")
    })?;
    let mut cfg = dt_preset(&args.env);
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
    Ok(DtRun {
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
        device,
        command: command_line(),
    })
}

fn train_ppo(args: &TrainArgs, device: Resolved) -> Result<()> {
    make_env(&args.env)?;
    let reinforce = (args.algo == "reinforce")
        .then(|| reinforce_config(args))
        .transpose()?;
    // REINFORCE's run carries the PPO defaults unused (its --hp are its own).
    let cfg = match reinforce {
        Some(_) => PpoConfig::default(),
        None => ppo_config(args)?,
    };
    if reinforce.is_some() && args.workers > 0 {
        bail!("--workers serves PPO and A2C rollouts; REINFORCE plays its own episodes");
    }
    let total = reinforce
        .as_ref()
        .map_or(cfg.total_timesteps, |r| r.total_timesteps);
    let mut remote = if args.workers > 0 {
        Some(super::worker::learner(args, &args.env, &cfg)?)
    } else {
        None
    };
    let bar = progress_bar(total as u64, "steps", args.json);
    let run = PpoRun {
        env: args.env.clone(),
        algo: args.algo.clone(),
        reinforce,
        out: args
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("models/{}-{}.onnx", args.env, args.algo))),
        seed: args.seed,
        cfg,
        checkpoint_every: args.checkpoint_every,
        final_episodes: args.final_episodes,
        device,
        rollouts: remote.as_mut().map(|r| r as &mut dyn RolloutSource),
        command: command_line(),
    };
    let report = run_ppo(run, &mut |p| {
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
            report.env_steps,
            report.wall_s,
            report.env_steps as f64 / report.wall_s.max(1e-9)
        );
        r.finish()?;
    }
    print_ppo(args, &report)
}

fn print_ppo(args: &TrainArgs, r: &PpoRunReport) -> Result<()> {
    if args.json {
        let json = serde_json::json!({
            "env": args.env, "algo": args.algo, "seed": args.seed,
            "out": r.out.display().to_string(), "env_steps": r.env_steps, "wall_s": r.wall_s,
            "solved_early": r.solved_early, "eval": r.eval,
            "checkpoints": r.checkpoints.iter().map(|c| serde_json::json!({
                "env_steps": c.env_steps, "path": c.path.display().to_string(),
                "eval_mean_return": c.eval_mean_return,
            })).collect::<Vec<_>>(),
        });
        println!("{json}");
        return Ok(());
    }
    println!(
        "trained {} with {} (seed {}) in {:.1} s, {} env steps",
        args.env,
        args.algo.to_uppercase(),
        args.seed,
        r.wall_s,
        r.env_steps
    );
    println!("  policy  {}", r.out.display());
    println!("  critic  {}", r.critic.display());
    println!(
        "  card    {}",
        ganglion::policy::card::card_path(&r.out).display()
    );
    println!(
        "  curve   {} and {}",
        r.curve_csv.display(),
        r.curve_png.display()
    );
    let e = &r.eval;
    println!(
        "  eval    {} episodes (seed 0): mean return {:.1} ± {:.1}, min {:.0}",
        e.episodes, e.mean_return, e.std_return, e.min_return
    );
    for c in &r.checkpoints {
        println!(
            "  ckpt    {} (mean return {:.1})",
            c.path.display(),
            c.eval_mean_return
        );
    }
    Ok(())
}

/// The env's preset with the command line's overrides: first `--hp`, then
/// the dedicated flags.
fn ppo_config(args: &TrainArgs) -> Result<PpoConfig> {
    let mut cfg = if args.algo == "a2c" {
        ganglion::learn::presets::a2c_preset(&args.env)
    } else {
        ppo_preset(&args.env)
    };
    cfg = with_hp(cfg, &args.hp, "PPO")?;
    if let Some(v) = args.envs {
        cfg.n_envs = v;
    }
    if let Some(v) = args.threads {
        cfg.threads = v;
    }
    run_flags(
        args,
        &mut cfg.total_timesteps,
        &mut cfg.eval_every,
        &mut cfg.eval_episodes,
        &mut cfg.stop_at,
    );
    Ok(cfg)
}

/// REINFORCE's defaults with the command line's overrides (`--hp`, then
/// `--steps`, `--eval-every`, `--eval-episodes`, `--stop-at`).
fn reinforce_config(args: &TrainArgs) -> Result<ganglion::learn::ReinforceConfig> {
    let mut cfg = with_hp(
        ganglion::learn::ReinforceConfig::default(),
        &args.hp,
        "REINFORCE",
    )?;
    run_flags(
        args,
        &mut cfg.total_timesteps,
        &mut cfg.eval_every,
        &mut cfg.eval_episodes,
        &mut cfg.stop_at,
    );
    Ok(cfg)
}

/// The flags every trainer takes, over its `--hp`: `--steps`,
/// `--eval-every`, `--eval-episodes`, `--stop-at`.
fn run_flags(
    args: &TrainArgs,
    total: &mut usize,
    eval_every: &mut usize,
    eval_episodes: &mut usize,
    stop_at: &mut Option<f64>,
) {
    if let Some(v) = args.steps {
        *total = v;
    }
    if let Some(v) = args.eval_every {
        *eval_every = v;
    }
    if let Some(v) = args.eval_episodes {
        *eval_episodes = v;
    }
    if args.stop_at.is_some() {
        *stop_at = args.stop_at;
    }
}

/// `cfg` with the `--hp KEY=VALUE` overrides applied to its TOML form
/// (each key must exist), read back as a `what` config.
fn with_hp<T: serde::Serialize + serde::de::DeserializeOwned>(
    cfg: T,
    hp: &[String],
    what: &str,
) -> Result<T> {
    if hp.is_empty() {
        return Ok(cfg);
    }
    let mut table = match toml::Value::try_from(&cfg).context("preset to TOML")? {
        toml::Value::Table(t) => t,
        _ => bail!("a {what} config serialises to a table"),
    };
    for kv in hp {
        set_key(&mut table, kv)?;
    }
    toml::Value::Table(table).try_into().with_context(|| {
        format!("--hp: the overridden hyperparameters do not make a {what} config")
    })
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
