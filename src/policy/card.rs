//! Model cards: the TOML file beside every shipped model saying what it is, how
//! to regenerate it, what it scored, and its sha256.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const CARD_FORMAT: &str = "ganglion-model-card/1";

/// The action a policy produces.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ActionSpec {
    /// Output `logits` of width `n`; the action is the argmax index.
    Discrete { n: usize },
    /// Output `mean` of width `dim`; the action is the mean.
    Continuous { dim: usize },
}

impl ActionSpec {
    pub fn head_dim(&self) -> usize {
        match self {
            ActionSpec::Discrete { n } => *n,
            ActionSpec::Continuous { dim } => *dim,
        }
    }
    pub fn action_dim(&self) -> usize {
        match self {
            ActionSpec::Discrete { .. } => 1,
            ActionSpec::Continuous { dim } => *dim,
        }
    }
    pub fn from_space(space: &ganglion_sim::Space) -> Self {
        match space {
            ganglion_sim::Space::Discrete { n } => ActionSpec::Discrete { n: *n },
            ganglion_sim::Space::Box { low, .. } => ActionSpec::Continuous { dim: low.len() },
        }
    }
}

/// Measured score recorded on the card.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    pub episodes: usize,
    pub seed: u64,
    pub mean_return: f64,
    pub std_return: f64,
    pub min_return: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    pub format: String,
    pub name: String,
    /// `mlp` (actor-critic actor) for now; `decision-transformer` later.
    pub kind: String,
    pub env: String,
    pub algo: String,
    pub seed: u64,
    pub ganglion_version: String,
    /// The exact command that regenerates the model.
    pub command: String,
    /// sha256 of the ONNX file (hex).
    pub sha256: String,
    pub obs_dim: usize,
    pub action: ActionSpec,
    /// The critic's ONNX file, relative to the card, if exported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub critic: Option<String>,
    /// Training facts (steps, wall time, hyperparameters) as free-form TOML.
    #[serde(default)]
    pub training: toml::Table,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval: Option<EvalRecord>,
    /// Decision Transformer facts the runtime needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dt: Option<DtCard>,
}

/// What a Decision Transformer's card adds: the context window, how returns
/// and states were scaled in training, and the returns it was conditioned on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DtCard {
    /// Context length K (timesteps).
    pub context: usize,
    /// Returns-to-go are divided by this before entering the model.
    pub rtg_scale: f32,
    /// Timesteps at or beyond this share the last timestep embedding.
    pub max_timestep: usize,
    /// Per-dimension state normalisation: (obs − mean) / std.
    pub state_mean: Vec<f32>,
    pub state_std: Vec<f32>,
    /// The return to condition on when none is given.
    pub default_target: f32,
    /// Targets evaluated after training (and their achieved mean returns).
    #[serde(default)]
    pub target_returns: Vec<f32>,
    #[serde(default)]
    pub achieved_returns: Vec<f64>,
    /// Dataset episode returns: min, mean, max, and the best behaviour group's mean.
    pub dataset_return_min: f64,
    pub dataset_return_mean: f64,
    pub dataset_return_max: f64,
    #[serde(default)]
    pub dataset_returns: Vec<f64>,
}

/// `models/x.onnx` → `models/x.card.toml`.
pub fn card_path(model: &Path) -> PathBuf {
    model.with_extension("card.toml")
}

/// Hex sha256 of a file.
pub fn sha256_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(format!("{:x}", Sha256::digest(&bytes)))
}

impl ModelCard {
    /// Reads the card beside `model`, with a clear error when missing or bad.
    pub fn load_for(model: &Path) -> Result<Self> {
        let path = card_path(model);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "model card {} not found (every model needs one beside it)",
                path.display()
            )
        })?;
        let card: ModelCard = toml::from_str(&text)
            .with_context(|| format!("invalid model card {}", path.display()))?;
        if card.format != CARD_FORMAT {
            bail!(
                "{}: format is `{}`, expected `{CARD_FORMAT}`",
                path.display(),
                card.format
            );
        }
        Ok(card)
    }

    pub fn save_for(&self, model: &Path) -> Result<()> {
        let path = card_path(model);
        let text = toml::to_string_pretty(self).context("serialising model card")?;
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    }

    /// Checks that `model` is the file this card describes.
    pub fn verify_sha256(&self, model: &Path) -> Result<()> {
        let actual = sha256_file(model)?;
        if actual != self.sha256 {
            bail!(
                "{}: sha256 {actual} does not match its card ({})",
                model.display(),
                self.sha256
            );
        }
        Ok(())
    }
}
