//! The VLA model's card: the commands that made its data and the model, the
//! dataset's and the training's numbers, the sizes the runtime needs
//! (horizon, action width, camera), its sha256, and what `eval tabletop`
//! measured.

use std::path::Path;

use anyhow::Result;
use serde::{Deserialize, Serialize};

pub use crate::policy::card::FormattedCard;

pub const FORMAT: &str = "ganglion-vla-card/1";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VlaCard {
    pub format: String,
    pub name: String,
    pub kind: String,
    pub ganglion_version: String,
    /// The command that collected the dataset.
    pub data_command: String,
    /// The command that trained this model.
    pub command: String,
    pub sha256: String,
    /// The frozen encoder and its sha256.
    pub encoder: String,
    pub encoder_sha256: String,
    pub camera: String,
    pub width: usize,
    pub height: usize,
    pub horizon: usize,
    pub action: usize,
    pub parameters: usize,
    pub trainable_parameters: usize,
    pub episodes: usize,
    pub ticks: usize,
    pub frames: usize,
    pub train_samples: usize,
    pub seed: u64,
    pub steps: usize,
    pub batch: usize,
    pub lr: f32,
    pub threads: usize,
    pub train_seconds: f64,
    pub encode_seconds: f64,
    pub final_train_loss: f32,
    pub final_validation_loss: f32,
    pub eval: Option<serde_json::Value>,
}

impl FormattedCard for VlaCard {
    const FORMAT: &'static str = FORMAT;
    const WHAT: &'static str = "VLA";
    fn format(&self) -> &str {
        &self.format
    }
}

impl VlaCard {
    /// Records an `eval tabletop` result (its JSON) on the card beside
    /// `model`.
    pub fn record_eval(model: &Path, eval: serde_json::Value) -> Result<()> {
        let mut card = Self::load_for(model)?;
        card.eval = Some(without_nulls(eval));
        card.save_for(model)
    }
}

/// TOML has no null: drop them (and the keys holding them).
fn without_nulls(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(
            a.into_iter()
                .filter(|v| !v.is_null())
                .map(without_nulls)
                .collect(),
        ),
        other => other,
    }
}
