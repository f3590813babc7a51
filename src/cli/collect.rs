//! `ganglion collect`: datasets are recordings. Runs behaviour policies (with
//! exploration noise) through the control loop in simulation lockstep and
//! writes one MCAP recording per episode, with rewards and episode boundaries,
//! into a directory. Several policies (e.g. PPO checkpoints) and noise levels
//! give the spread of returns that return conditioning learns from.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::assemble::{build_plant, plant_kind, set_plant_seed};
use crate::policy::{ModelCard, NoisyPolicy, OnnxPolicy, card::card_path};
use crate::runtime::session::recording_metadata;
use crate::runtime::{ClockMode, RecordTo, RunLimit, Session, SessionOptions};
use crate::sim::derive_seed;

/// File in a dataset directory recording the command that made it.
pub const DATASET_MANIFEST: &str = "dataset.toml";

#[derive(Args, Debug)]
pub struct CollectArgs {
    /// Environment name (cartpole, reacher): its robot config is robots/ENV.toml.
    pub env: String,
    /// Behaviour policies (ONNX with cards), comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub policy: Vec<PathBuf>,
    /// Episodes per (policy, noise) pair.
    #[arg(long, default_value_t = 20)]
    pub episodes: usize,
    /// Noise levels, comma-separated: Gaussian σ for continuous actions,
    /// ε-greedy probability for discrete ones.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    pub noise: Vec<f32>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output directory (a dataset is a directory of recordings).
    #[arg(long)]
    pub out: PathBuf,
    /// Robot config to run (default robots/ENV.toml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
    /// Replace earlier recordings of the same episodes in --out.
    #[arg(long)]
    pub overwrite: bool,
}

pub fn run(args: CollectArgs) -> Result<()> {
    let config = args
        .config
        .clone()
        .unwrap_or_else(|| super::repo_path(&format!("robots/{}.toml", args.env)));
    let base = super::run::load_config(&config)?;
    if args.noise.iter().any(|n| !n.is_finite() || *n < 0.0) {
        bail!("--noise values must be finite and ≥ 0");
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    // The dataset says how to regenerate it; trainers copy this into cards.
    let command = std::iter::once("ganglion".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let mut manifest = toml::Table::new();
    manifest.insert("command".into(), command.into());
    manifest.insert("env".into(), args.env.clone().into());
    manifest.insert("seed".into(), (args.seed as i64).into());
    std::fs::write(
        args.out.join(DATASET_MANIFEST),
        toml::to_string(&manifest).unwrap_or_default(),
    )
    .with_context(|| format!("writing {}", args.out.join(DATASET_MANIFEST).display()))?;
    let total = args.policy.len() * args.noise.len() * args.episodes;
    let bar = if args.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(total as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} episodes  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let mut index = 0u64;
    let mut groups = Vec::new();
    for (pi, policy_path) in args.policy.iter().enumerate() {
        let card = ModelCard::load_for(policy_path)?;
        card.verify_sha256(policy_path)?;
        let mut cfg = base.clone();
        cfg.policy.path = policy_path.clone();
        cfg.policy.card = card_path(policy_path);
        for &noise in &args.noise {
            let mut returns = Vec::with_capacity(args.episodes);
            for e in 0..args.episodes {
                let episode_seed = derive_seed(args.seed, index);
                index += 1;
                set_plant_seed(&mut cfg.plant, episode_seed);
                let plant = build_plant(&cfg.plant)?;
                let inner = OnnxPolicy::load(policy_path, card.obs_dim, card.action.clone())?;
                let policy = NoisyPolicy::new(
                    inner,
                    card.action.clone(),
                    noise,
                    derive_seed(episode_seed, 0x0015E),
                );
                let file = args
                    .out
                    .join(format!("{}-p{pi}-n{noise}-e{e:04}.mcap", args.env));
                let clock = ClockMode::Lockstep { paced: false };
                let mut meta =
                    recording_metadata(&cfg, plant_kind(&cfg.plant), episode_seed, clock);
                meta.insert("behaviour_policy".into(), policy_path.display().to_string());
                meta.insert("noise".into(), noise.to_string());
                meta.insert("episode".into(), e.to_string());
                let session = Session::new(
                    &cfg,
                    plant,
                    Box::new(policy),
                    SessionOptions {
                        clock,
                        limit: RunLimit {
                            ticks: Some(1_000_000),
                            seconds: None,
                            until_episode_end: true,
                        },
                        record: Some(RecordTo {
                            path: file.clone(),
                            overwrite: args.overwrite,
                            metadata: meta,
                            min_ring_capacity: 16_384,
                        }),
                        realtime_thread: false,
                        episode: e as u32,
                        seed: episode_seed,
                        plant_kind: plant_kind(&cfg.plant).to_string(),
                    },
                )?;
                let (report, _) = session.run()?;
                let dropped = report.recording.as_ref().map_or(0, |r| r.dropped);
                if dropped > 0 {
                    bail!("{}: the recorder dropped {dropped} ticks", file.display());
                }
                returns.push(report.episode_return);
                bar.inc(1);
            }
            let mean = returns.iter().sum::<f64>() / returns.len().max(1) as f64;
            bar.set_message(format!("p{pi} σ={noise}: mean return {mean:.1}"));
            groups.push(json!({
                "policy": policy_path.display().to_string(),
                // f32 → f64 would print 0.30000001192092896.
                "noise": (noise as f64 * 1e6).round() / 1e6,
                "episodes": returns.len(),
                "mean_return": mean,
                "min_return": returns.iter().copied().fold(f64::INFINITY, f64::min),
                "max_return": returns.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            }));
        }
    }
    bar.finish_and_clear();
    let out = json!({
        "env": args.env,
        "plant": plant_kind(&base.plant),
        "out": args.out.display().to_string(),
        "episodes": total,
        "groups": groups,
    });
    if args.json {
        println!("{out}");
    } else {
        println!("collected {total} episodes into {}", args.out.display());
        for g in &groups {
            println!(
                "  {} σ={}: {} episodes, return mean {:.1} (min {:.1}, max {:.1})",
                g["policy"].as_str().unwrap_or(""),
                g["noise"],
                g["episodes"],
                g["mean_return"].as_f64().unwrap_or(f64::NAN),
                g["min_return"].as_f64().unwrap_or(f64::NAN),
                g["max_return"].as_f64().unwrap_or(f64::NAN)
            );
        }
    }
    Ok(())
}
