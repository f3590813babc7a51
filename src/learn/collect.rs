//! Datasets are recordings (`ganglion collect`): behaviour policies, with
//! exploration noise, run through the control loop in simulation lockstep,
//! one MCAP recording per episode with rewards and episode boundaries, into
//! a directory with a manifest saying how to regenerate it. Several policies
//! (e.g. PPO checkpoints) and noise levels give the spread of returns that
//! return conditioning learns from.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use super::dataset::DATASET_MANIFEST;
use crate::assemble::{build_plant, plant_kind, set_plant_seed};
use crate::config::RobotConfig;
use crate::policy::{ModelCard, NoisyPolicy, OnnxPolicy, card::card_path};
use crate::runtime::session::recording_metadata;
use crate::runtime::{ClockMode, RecordTo, RunLimit, Session, SessionOptions};
use crate::sim::derive_seed;

/// What to collect.
pub struct CollectOptions {
    /// The env's name (file names, the manifest).
    pub env: String,
    /// The robot config every episode runs (its policy is replaced).
    pub config: RobotConfig,
    /// Behaviour policies (ONNX with cards).
    pub policies: Vec<PathBuf>,
    /// Episodes per (policy, noise) pair.
    pub episodes: usize,
    /// Gaussian σ for continuous actions, ε-greedy probability for discrete.
    pub noise: Vec<f32>,
    pub seed: u64,
    pub out: PathBuf,
    /// Replace earlier recordings of the same episodes.
    pub overwrite: bool,
    /// The command that made the dataset, for its manifest.
    pub command: String,
}

/// One (policy, noise) pair's returns.
#[derive(Clone, Debug, Serialize)]
pub struct CollectGroup {
    pub policy: String,
    pub noise: f64,
    pub episodes: usize,
    pub mean_return: f64,
    pub min_return: f64,
    pub max_return: f64,
}

/// What was collected.
#[derive(Clone, Debug, Serialize)]
pub struct CollectReport {
    pub env: String,
    pub plant: String,
    pub out: String,
    pub episodes: usize,
    pub groups: Vec<CollectGroup>,
}

/// Runs every (policy, noise, episode) and records it; `on_episode` sees
/// each episode's return as it finishes (progress).
pub fn collect(o: &CollectOptions, on_episode: &mut dyn FnMut(f64)) -> Result<CollectReport> {
    if o.noise.iter().any(|n| !n.is_finite() || *n < 0.0) {
        bail!("--noise values must be finite and ≥ 0");
    }
    std::fs::create_dir_all(&o.out).with_context(|| format!("creating {}", o.out.display()))?;
    write_manifest(o)?;
    let mut index = 0u64;
    let mut groups = Vec::new();
    for (pi, policy_path) in o.policies.iter().enumerate() {
        let card = ModelCard::load_for(policy_path)?;
        card.verify_sha256(policy_path)?;
        let mut cfg = o.config.clone();
        cfg.policy.path = policy_path.clone();
        cfg.policy.card = card_path(policy_path);
        for &noise in &o.noise {
            let mut returns = Vec::with_capacity(o.episodes);
            for e in 0..o.episodes {
                let episode_seed = derive_seed(o.seed, index);
                index += 1;
                let file = o.out.join(format!("{}-p{pi}-n{noise}-e{e:04}.mcap", o.env));
                let r = run_episode(o, &mut cfg, &card, noise, e, episode_seed, &file)?;
                on_episode(r);
                returns.push(r);
            }
            groups.push(CollectGroup {
                policy: policy_path.display().to_string(),
                // f32 → f64 would print 0.30000001192092896.
                noise: (noise as f64 * 1e6).round() / 1e6,
                episodes: returns.len(),
                mean_return: returns.iter().sum::<f64>() / returns.len().max(1) as f64,
                min_return: returns.iter().copied().fold(f64::INFINITY, f64::min),
                max_return: returns.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            });
        }
    }
    Ok(CollectReport {
        env: o.env.clone(),
        plant: plant_kind(&o.config.plant).to_string(),
        out: o.out.display().to_string(),
        episodes: o.policies.len() * o.noise.len() * o.episodes,
        groups,
    })
}

/// The dataset says how to regenerate it; trainers copy this into cards.
fn write_manifest(o: &CollectOptions) -> Result<()> {
    let mut manifest = toml::Table::new();
    manifest.insert("command".into(), o.command.clone().into());
    manifest.insert("env".into(), o.env.clone().into());
    manifest.insert("seed".into(), (o.seed as i64).into());
    let path = o.out.join(DATASET_MANIFEST);
    std::fs::write(&path, toml::to_string(&manifest).unwrap_or_default())
        .with_context(|| format!("writing {}", path.display()))
}

/// One recorded episode; its return.
fn run_episode(
    o: &CollectOptions,
    cfg: &mut RobotConfig,
    card: &ModelCard,
    noise: f32,
    episode: usize,
    episode_seed: u64,
    file: &std::path::Path,
) -> Result<f64> {
    set_plant_seed(&mut cfg.plant, episode_seed);
    let plant = build_plant(&cfg.plant)?;
    let inner = OnnxPolicy::load(&cfg.policy.path, card.obs_dim, card.action.clone())?;
    let policy = NoisyPolicy::new(
        inner,
        card.action.clone(),
        noise,
        derive_seed(episode_seed, 0x0015E),
    );
    let clock = ClockMode::Lockstep { paced: false };
    let mut meta = recording_metadata(cfg, plant_kind(&cfg.plant), episode_seed, clock);
    meta.insert(
        "behaviour_policy".into(),
        cfg.policy.path.display().to_string(),
    );
    meta.insert("noise".into(), noise.to_string());
    meta.insert("episode".into(), episode.to_string());
    let session = Session::new(
        cfg,
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
                path: file.to_path_buf(),
                overwrite: o.overwrite,
                metadata: meta,
                min_ring_capacity: 16_384,
            }),
            realtime_thread: false,
            episode: episode as u32,
            seed: episode_seed,
            plant_kind: plant_kind(&cfg.plant).to_string(),
        },
    )?;
    let (report, _) = session.run()?;
    let dropped = report.recording.as_ref().map_or(0, |r| r.dropped);
    if dropped > 0 {
        bail!("{}: the recorder dropped {dropped} ticks", file.display());
    }
    Ok(report.episode_return)
}
