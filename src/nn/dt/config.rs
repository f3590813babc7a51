//! Decision Transformer (Chen et al. 2021) definitions: the configuration (it
//! goes into model cards), the batch the trainer fills in place, errors, and
//! the parameter layout of the model in one flat buffer. The model itself
//! (forward, backward) is in `dt_model`, its ONNX export in `dt_export`.
//!
//! A sample is a window of `k` timesteps read as `3k` tokens
//! `(R₁, s₁, a₁, R₂, s₂, a₂, …)`; the action at `t` is predicted from the
//! hidden state of token `s_t`. Short windows are left-padded (mask 0).

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::nn::embedding::Embedding;
use crate::nn::gelu::BlockActivation;
use crate::nn::layernorm::LayerNorm;
use crate::nn::linear::Linear;
use crate::nn::loss::{class_index, is_valid};

fn default_context() -> usize {
    20
}
fn default_embed() -> usize {
    128
}
fn default_layers() -> usize {
    3
}
fn default_heads() -> usize {
    1
}
fn default_max_timestep() -> usize {
    1024
}
fn default_mlp_ratio() -> usize {
    4
}
fn default_dropout() -> f32 {
    0.1
}

/// Hyperparameters; everything but the three problem dimensions has a default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DtConfig {
    pub state_dim: usize,
    /// Continuous: action dimensions. Discrete: number of actions (actions come
    /// in one-hot, predictions are logits).
    pub act_dim: usize,
    pub discrete: bool,
    /// Window length K in timesteps (3K tokens).
    #[serde(default = "default_context")]
    pub context: usize,
    #[serde(default = "default_embed")]
    pub embed: usize,
    #[serde(default = "default_layers")]
    pub layers: usize,
    #[serde(default = "default_heads")]
    pub heads: usize,
    /// Rows of the timestep embedding; later timesteps use the last row.
    #[serde(default = "default_max_timestep")]
    pub max_timestep: usize,
    /// MLP hidden width = `mlp_ratio · embed`.
    #[serde(default = "default_mlp_ratio")]
    pub mlp_ratio: usize,
    /// Dropout probability (embeddings, attention, residual branches), applied
    /// in training mode only.
    #[serde(default = "default_dropout")]
    pub dropout: f32,
    #[serde(default)]
    pub activation: BlockActivation,
}

impl DtConfig {
    /// The paper's defaults for the given problem.
    pub fn new(state_dim: usize, act_dim: usize, discrete: bool) -> Self {
        DtConfig {
            state_dim,
            act_dim,
            discrete,
            context: default_context(),
            embed: default_embed(),
            layers: default_layers(),
            heads: default_heads(),
            max_timestep: default_max_timestep(),
            mlp_ratio: default_mlp_ratio(),
            dropout: default_dropout(),
            activation: BlockActivation::Gelu,
        }
    }

    pub fn validate(&self) -> Result<(), DtError> {
        let bad = |why: String| Err(DtError::Config(why));
        for (name, v) in [
            ("state_dim", self.state_dim),
            ("act_dim", self.act_dim),
            ("context", self.context),
            ("embed", self.embed),
            ("layers", self.layers),
            ("heads", self.heads),
            ("max_timestep", self.max_timestep),
            ("mlp_ratio", self.mlp_ratio),
        ] {
            if v == 0 {
                return bad(format!("{name} must be at least 1"));
            }
        }
        if !self.embed.is_multiple_of(self.heads) {
            return bad(format!(
                "embed ({}) must be a multiple of heads ({})",
                self.embed, self.heads
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("dropout must be in [0, 1), got {}", self.dropout));
        }
        Ok(())
    }

    /// Width of the MLP's hidden layer.
    pub fn hidden(&self) -> usize {
        self.mlp_ratio * self.embed
    }

    /// Target values per timestep: the action (continuous) or its index.
    pub fn target_width(&self) -> usize {
        if self.discrete { 1 } else { self.act_dim }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DtError {
    #[error("invalid Decision Transformer config: {0}")]
    Config(String),
    #[error("batch does not fit the model: {0}")]
    Batch(String),
    #[error("target {value} at timestep row {row} is not an action index below {classes}")]
    Target {
        row: usize,
        value: f32,
        classes: usize,
    },
}

/// One batch, flat and row-major (sample-major, then timestep). Allocate once
/// with `new`/`for_config` and fill in place.
#[derive(Clone, Debug, PartialEq)]
pub struct DtBatch {
    pub batch: usize,
    /// Timesteps per sample (at most the model's context).
    pub k: usize,
    /// `batch·k·state_dim`.
    pub states: Vec<f32>,
    /// `batch·k·act_dim`: continuous values or one-hot.
    pub actions: Vec<f32>,
    /// `batch·k`.
    pub returns_to_go: Vec<f32>,
    /// `batch·k`; clamped to `max_timestep − 1` by the model.
    pub timesteps: Vec<usize>,
    /// `batch·k`: 1 real timestep, 0 padding (padding on the left).
    pub mask: Vec<f32>,
    /// Continuous: `batch·k·act_dim` target actions. Discrete: `batch·k`
    /// action indices as f32.
    pub target: Vec<f32>,
}

impl DtBatch {
    /// Zeroed (all-padding) batch for `batch` samples of `k` timesteps.
    pub fn new(batch: usize, k: usize, state_dim: usize, act_dim: usize, discrete: bool) -> Self {
        let bk = batch * k;
        DtBatch {
            batch,
            k,
            states: vec![0.0; bk * state_dim],
            actions: vec![0.0; bk * act_dim],
            returns_to_go: vec![0.0; bk],
            timesteps: vec![0; bk],
            mask: vec![0.0; bk],
            target: vec![0.0; bk * if discrete { 1 } else { act_dim }],
        }
    }

    /// A zeroed batch of full-context windows for `cfg`.
    pub fn for_config(cfg: &DtConfig, batch: usize) -> Self {
        Self::new(batch, cfg.context, cfg.state_dim, cfg.act_dim, cfg.discrete)
    }

    /// Checks every buffer's length against `cfg` (and, with `targets`, that
    /// discrete targets of real timesteps are action indices).
    pub fn validate(&self, cfg: &DtConfig, targets: bool) -> Result<(), DtError> {
        if self.batch == 0 || self.k == 0 || self.k > cfg.context {
            return Err(DtError::Batch(format!(
                "batch {} × k {} (k must be 1..={}, batch at least 1)",
                self.batch, self.k, cfg.context
            )));
        }
        let bk = self.batch * self.k;
        for (name, got, want) in [
            ("states", self.states.len(), bk * cfg.state_dim),
            ("actions", self.actions.len(), bk * cfg.act_dim),
            ("returns_to_go", self.returns_to_go.len(), bk),
            ("timesteps", self.timesteps.len(), bk),
            ("mask", self.mask.len(), bk),
            ("target", self.target.len(), bk * cfg.target_width()),
        ] {
            if got != want {
                return Err(DtError::Batch(format!(
                    "{name} has {got} values, expected {want}"
                )));
            }
        }
        if targets && cfg.discrete {
            for (row, (&value, &m)) in self.target.iter().zip(&self.mask).enumerate() {
                if is_valid(m) && class_index(value, cfg.act_dim).is_none() {
                    return Err(DtError::Target {
                        row,
                        value,
                        classes: cfg.act_dim,
                    });
                }
            }
        }
        Ok(())
    }
}

/// One GPT-2 block (pre-LN).
#[derive(Clone, Debug, PartialEq)]
pub struct DtBlock {
    pub ln1: LayerNorm,
    /// `embed → 3·embed`: Q, K, V side by side.
    pub attn_qkv: Linear,
    pub attn_proj: Linear,
    pub ln2: LayerNorm,
    pub mlp_fc: Linear,
    pub mlp_proj: Linear,
}

/// Where each layer's parameters live in the flat buffer (`groups` lists them
/// in buffer order).
#[derive(Clone, Debug, PartialEq)]
pub struct DtLayout {
    pub embed_timestep: Embedding,
    pub embed_return: Linear,
    pub embed_state: Linear,
    pub embed_action: Linear,
    pub embed_ln: LayerNorm,
    pub blocks: Vec<DtBlock>,
    pub ln_f: LayerNorm,
    pub predict_action: Linear,
    pub num_params: usize,
}

impl DtLayout {
    pub fn new(cfg: &DtConfig) -> Self {
        let e = cfg.embed;
        let mut at = 0;
        let mut linear = |i, o| {
            let l = Linear::new(i, o, at);
            at += l.num_params();
            l
        };
        let embed_return = linear(1, e);
        let embed_state = linear(cfg.state_dim, e);
        let embed_action = linear(cfg.act_dim, e);
        let embed_timestep = Embedding::new(cfg.max_timestep, e, at);
        at += embed_timestep.num_params();
        let ln = |at: &mut usize| {
            let l = LayerNorm::new(e, *at);
            *at += l.num_params();
            l
        };
        let embed_ln = ln(&mut at);
        let mut blocks = Vec::with_capacity(cfg.layers);
        for _ in 0..cfg.layers {
            let ln1 = ln(&mut at);
            let lin = |i, o, at: &mut usize| {
                let l = Linear::new(i, o, *at);
                *at += l.num_params();
                l
            };
            let attn_qkv = lin(e, 3 * e, &mut at);
            let attn_proj = lin(e, e, &mut at);
            let ln2 = ln(&mut at);
            let mlp_fc = lin(e, cfg.hidden(), &mut at);
            let mlp_proj = lin(cfg.hidden(), e, &mut at);
            blocks.push(DtBlock {
                ln1,
                attn_qkv,
                attn_proj,
                ln2,
                mlp_fc,
                mlp_proj,
            });
        }
        let ln_f = ln(&mut at);
        let predict_action = Linear::new(e, cfg.act_dim, at);
        at += predict_action.num_params();
        DtLayout {
            embed_timestep,
            embed_return,
            embed_state,
            embed_action,
            embed_ln,
            blocks,
            ln_f,
            predict_action,
            num_params: at,
        }
    }

    /// Every parameter tensor by name (PyTorch-style) with its range in the
    /// flat buffer; together they tile `0..num_params`.
    pub fn groups(&self) -> Vec<(String, Range<usize>)> {
        let lin = |name: &str, l: &Linear, out: &mut Vec<(String, Range<usize>)>| {
            let w = l.offset + l.in_dim * l.out_dim;
            out.push((format!("{name}.weight"), l.offset..w));
            out.push((format!("{name}.bias"), w..w + l.out_dim));
        };
        let ln = |name: &str, l: &LayerNorm, out: &mut Vec<(String, Range<usize>)>| {
            out.push((format!("{name}.weight"), l.offset..l.offset + l.dim));
            out.push((
                format!("{name}.bias"),
                l.offset + l.dim..l.offset + 2 * l.dim,
            ));
        };
        let mut out = Vec::new();
        lin("embed_return", &self.embed_return, &mut out);
        lin("embed_state", &self.embed_state, &mut out);
        lin("embed_action", &self.embed_action, &mut out);
        let t = &self.embed_timestep;
        out.push((
            "embed_timestep.weight".into(),
            t.offset..t.offset + t.num_params(),
        ));
        ln("embed_ln", &self.embed_ln, &mut out);
        for (i, b) in self.blocks.iter().enumerate() {
            ln(&format!("h.{i}.ln_1"), &b.ln1, &mut out);
            lin(&format!("h.{i}.attn.c_attn"), &b.attn_qkv, &mut out);
            lin(&format!("h.{i}.attn.c_proj"), &b.attn_proj, &mut out);
            ln(&format!("h.{i}.ln_2"), &b.ln2, &mut out);
            lin(&format!("h.{i}.mlp.c_fc"), &b.mlp_fc, &mut out);
            lin(&format!("h.{i}.mlp.c_proj"), &b.mlp_proj, &mut out);
        }
        ln("ln_f", &self.ln_f, &mut out);
        lin("predict_action", &self.predict_action, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use crate::nn::*;

    #[test]
    fn groups_tile_the_buffer() {
        let mut cfg = DtConfig::new(3, 2, false);
        cfg.embed = 8;
        cfg.layers = 2;
        cfg.heads = 2;
        cfg.max_timestep = 10;
        let lay = DtLayout::new(&cfg);
        let mut at = 0;
        for (name, r) in lay.groups() {
            assert_eq!(r.start, at, "{name}");
            assert!(r.end > r.start, "{name}");
            at = r.end;
        }
        assert_eq!(at, lay.num_params);
    }

    #[test]
    fn config_round_trips_through_toml_with_defaults() {
        let cfg: DtConfig =
            toml::from_str("state_dim = 4\nact_dim = 2\ndiscrete = true\n").unwrap();
        assert_eq!(cfg, DtConfig::new(4, 2, true));
        let text = toml::to_string(&cfg).unwrap();
        assert_eq!(toml::from_str::<DtConfig>(&text).unwrap(), cfg);
        let mut bad = cfg.clone();
        bad.heads = 3;
        assert!(bad.validate().is_err());
    }
}
