//! Model cards: the TOML file beside every shipped model saying what it is, how
//! to regenerate it, what it scored, and its sha256.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::input::{FileError, FileKind, read_text};

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

/// The largest |target return| a Decision Transformer is conditioned on,
/// as a multiple of the largest |return| in its dataset: far past what it
/// ever saw, the return-to-go input means nothing to the network.
pub const MAX_TARGET_FACTOR: f64 = 10.0;

impl DtCard {
    /// Checks a target return against what the dataset held.
    pub fn check_target(&self, target: f32) -> Result<(), String> {
        let scale = self
            .dataset_return_min
            .abs()
            .max(self.dataset_return_max.abs())
            .max(1.0);
        let max = MAX_TARGET_FACTOR * scale;
        if !target.is_finite() || (target as f64).abs() > max {
            return Err(format!(
                "{target} is outside ±{max} ({MAX_TARGET_FACTOR}× the largest return in the \
                 model's dataset, {}..{})",
                self.dataset_return_min, self.dataset_return_max
            ));
        }
        Ok(())
    }
}

/// The largest observation or action width a card may declare: ganglion's
/// policies are small; a larger number is a damaged or hostile card, and
/// buffers of that size are allocated before the model runs.
pub const MAX_CARD_DIM: usize = 4096;
/// The longest Decision Transformer context a card may declare.
pub const MAX_DT_CONTEXT: usize = 1024;

impl ModelCard {
    /// Checks the sizes a card declares before anything is allocated from
    /// them.
    pub fn check_sizes(&self) -> Result<(), String> {
        let in_range = |v: usize| (1..=MAX_CARD_DIM).contains(&v);
        if !in_range(self.obs_dim) {
            return Err(format!(
                "obs_dim must be 1..={MAX_CARD_DIM}, got {}",
                self.obs_dim
            ));
        }
        if !in_range(self.action.head_dim()) {
            return Err(format!(
                "the action width must be 1..={MAX_CARD_DIM}, got {}",
                self.action.head_dim()
            ));
        }
        if let Some(dt) = &self.dt
            && !(1..=MAX_DT_CONTEXT).contains(&dt.context)
        {
            return Err(format!(
                "dt.context must be 1..={MAX_DT_CONTEXT}, got {}",
                dt.context
            ));
        }
        Ok(())
    }
}

/// `models/x.onnx` → `models/x.card.toml`.
pub fn card_path(model: &Path) -> PathBuf {
    model.with_extension("card.toml")
}

/// A card of its own TOML format (`format = "…"` in the file) beside a
/// model: the perception and VLA cards. Finding, reading, checking the
/// format and writing are the same for every such card.
pub trait FormattedCard: Serialize + serde::de::DeserializeOwned {
    /// The `format` value this card type writes and accepts.
    const FORMAT: &'static str;
    /// What the card is, for errors ("perception", "VLA").
    const WHAT: &'static str;
    /// The card's own `format` field.
    fn format(&self) -> &str;

    /// Whether the card beside `model` is one of these.
    fn is_beside(model: &Path) -> bool {
        read_text(&card_path(model), FileKind::Card)
            .map(|t| t.contains(Self::FORMAT))
            .unwrap_or(false)
    }

    /// Reads the card beside `model`, with a clear error naming the file
    /// when it is missing, not TOML or another format.
    fn load_for(model: &Path) -> Result<Self> {
        let path = card_path(model);
        let text = read_text(&path, FileKind::Card)?;
        let card: Self = toml::from_str(&text)
            .with_context(|| format!("invalid {} card {}", Self::WHAT, path.display()))?;
        if card.format() != Self::FORMAT {
            bail!(
                "{}: format is `{}`, expected `{}`",
                path.display(),
                card.format(),
                Self::FORMAT
            );
        }
        Ok(card)
    }

    /// Writes the card beside `model`.
    fn save_for(&self, model: &Path) -> Result<()> {
        let path = card_path(model);
        let text = toml::to_string_pretty(self)
            .with_context(|| format!("serialising the {} card", Self::WHAT))?;
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    }
}

impl ModelCard {
    /// Reads the card beside `model`, with a clear error when missing or bad.
    pub fn load_for(model: &Path) -> Result<Self> {
        let path = card_path(model);
        match read_text(&path, FileKind::Card) {
            Err(e @ FileError::NotFound { .. }) => {
                bail!("{e} (every model needs one beside it)")
            }
            Err(e) => Err(e.into()),
            Ok(text) => Self::parse(&path, &text),
        }
    }

    /// Reads the card at `path` (e.g. one a robot config names).
    pub fn load(path: &Path) -> Result<Self> {
        let text = read_text(path, FileKind::Card)?;
        Self::parse(path, &text)
    }

    /// Parses and checks a card's text (`path` names it in errors).
    fn parse(path: &Path, text: &str) -> Result<Self> {
        let card: ModelCard = toml::from_str(text)
            .with_context(|| format!("invalid model card {}", path.display()))?;
        if card.format != CARD_FORMAT {
            bail!(
                "{}: format is `{}`, expected `{CARD_FORMAT}`",
                path.display(),
                card.format
            );
        }
        card.check_sizes()
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Ok(card)
    }

    pub fn save_for(&self, model: &Path) -> Result<()> {
        let path = card_path(model);
        let text = toml::to_string_pretty(self).context("serialising model card")?;
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    }

    /// Checks that `model` is the file this card describes.
    pub fn verify_sha256(&self, model: &Path) -> Result<()> {
        let actual = crate::input::sha256_file(model, FileKind::Model)?;
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
