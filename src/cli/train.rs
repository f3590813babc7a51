//! `ganglion train`: trains a policy in simulation, exports it to ONNX, writes a
//! model card, a learning-curve CSV and PNG beside the model, and evaluates the
//! exported file through tract exactly as `ganglion eval` would.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::learn::{PpoConfig, train};
use crate::policy::ActionSpec;
use crate::policy::card::{CARD_FORMAT, EvalRecord, ModelCard, sha256_file};
use crate::sim::{VecEnv, make_env};

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Environment name (cartpole, cartpole-continuous).
    pub env: String,
    /// Training algorithm (ppo).
    #[arg(long, default_value = "ppo")]
    pub algo: String,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output ONNX file; the critic, card and curve are written beside it.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Environment-step budget (also the horizon of the linear schedules).
    #[arg(long, default_value_t = 100_000)]
    pub steps: usize,
    /// Parallel environments.
    #[arg(long, default_value_t = 8)]
    pub envs: usize,
    /// Environment worker threads (results do not depend on it).
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Evaluate the deterministic policy every N env steps; the best one is kept.
    #[arg(long, default_value_t = 8192)]
    pub eval_every: usize,
    #[arg(long, default_value_t = 20)]
    pub eval_episodes: usize,
    /// Stop once an evaluation's mean return reaches this.
    #[arg(long)]
    pub stop_at: Option<f64>,
    /// Episodes of the final evaluation of the exported ONNX file (for the card).
    #[arg(long, default_value_t = 100)]
    pub final_episodes: usize,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: TrainArgs) -> Result<()> {
    if args.algo != "ppo" {
        bail!("unknown --algo `{}` (available: ppo)", args.algo);
    }
    let env_name = args.env.clone();
    let probe = make_env(&env_name)?;
    let spec = probe.spec().clone();
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("models/{env_name}-ppo.onnx")));
    let cfg = PpoConfig {
        n_envs: args.envs,
        total_timesteps: args.steps,
        threads: args.threads,
        eval_every: args.eval_every,
        eval_episodes: args.eval_episodes,
        stop_at: args.stop_at,
        ..Default::default()
    };
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
    let outcome = train(&cfg, &mut venv, eval_env.as_mut(), args.seed, |p| {
        bar.set_position(p.steps as u64);
        let fmt = |v: Option<f64>| v.map(|x| format!("{x:.1}")).unwrap_or_else(|| "-".into());
        bar.set_message(format!(
            "iter {}  mean return {}  eval {}",
            p.iteration,
            fmt(p.mean_return),
            fmt(p.last_eval)
        ));
    });
    bar.finish_and_clear();

    let model = &outcome.model;
    let critic_path = model
        .export_onnx(
            &out,
            &[
                ("ganglion.env", env_name.clone()),
                ("ganglion.algo", "ppo".into()),
                ("ganglion.seed", args.seed.to_string()),
            ],
        )
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
    training.insert(
        "hyperparameters".into(),
        tidy_floats(toml::Value::try_from(&cfg).context("recording hyperparameters")?),
    );
    let card = ModelCard {
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
        training,
        eval: Some(EvalRecord {
            episodes: final_eval.report.episodes,
            seed: final_eval.report.seed,
            mean_return: final_eval.report.mean_return,
            std_return: final_eval.report.std_return,
            min_return: final_eval.report.min_return,
        }),
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
    }
    Ok(())
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
