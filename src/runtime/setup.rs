//! Building a run from a robot config: the plant it names, the policy it
//! points at (with its model card), and the clock mode.

use anyhow::{Context, Result, bail};
use ganglion_sim::{CartPolePlant, Plant};

use crate::config::{Pace, PlantConfig, PolicyKind, RobotConfig};
use crate::policy::{ModelCard, OnnxPolicy, Policy};

use super::ClockMode;

/// The plant a config names, reset to its seeded initial state.
pub fn build_plant(cfg: &PlantConfig) -> Box<dyn Plant> {
    match cfg {
        PlantConfig::SimCartpole { seed, .. } => {
            let mut p = CartPolePlant::new();
            p.reset(*seed);
            Box::new(p)
        }
    }
}

/// The clock a plant runs under, unless the caller overrides the pacing.
pub fn clock_mode(cfg: &PlantConfig, fast: bool) -> ClockMode {
    match cfg {
        PlantConfig::SimCartpole { pace, .. } => ClockMode::Lockstep {
            paced: !fast && *pace == Pace::Realtime,
        },
    }
}

/// The seed a plant was started from (recorded for re-simulation).
pub fn plant_seed(cfg: &PlantConfig) -> u64 {
    match cfg {
        PlantConfig::SimCartpole { seed, .. } => *seed,
    }
}

pub fn plant_kind(cfg: &PlantConfig) -> &'static str {
    match cfg {
        PlantConfig::SimCartpole { .. } => "sim:cartpole",
    }
}

/// Loads the policy file with the shapes its card declares.
pub fn load_policy(cfg: &RobotConfig) -> Result<OnnxPolicy> {
    if cfg.policy.kind != PolicyKind::Mlp {
        bail!(
            "{}: policy kind decision-transformer is not supported by this build yet",
            cfg.source_path.display()
        );
    }
    let text = std::fs::read_to_string(&cfg.policy.card)
        .with_context(|| format!("reading model card {}", cfg.policy.card.display()))?;
    let card: ModelCard = toml::from_str(&text)
        .with_context(|| format!("invalid model card {}", cfg.policy.card.display()))?;
    OnnxPolicy::load(&cfg.policy.path, card.obs_dim, card.action)
}

/// Boxed, for `ControlLoop::new`.
pub fn boxed(p: OnnxPolicy) -> Box<dyn Policy> {
    Box::new(p)
}
