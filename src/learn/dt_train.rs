//! Decision Transformer training from a dataset of recordings: windows of K
//! timesteps sampled in proportion to trajectory length (as Chen et al.),
//! left-padded at episode starts, states normalised by the dataset's mean and
//! standard deviation, returns-to-go divided by a scale; AdamW with linear
//! warm-up and gradient clipping.

use std::time::Instant;

use anyhow::{Result, anyhow, bail};
use ganglion_sim::Rng;
use serde::{Deserialize, Serialize};

use super::dataset::{Dataset, Trajectory};
use crate::nn::device::Resolved;
use crate::nn::dt::model::DecisionTransformer;
use crate::nn::dt::{DtBatch, DtConfig};
use crate::nn::{Adam, clip_grad_norm};
use crate::policy::ActionSpec;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DtTrainConfig {
    pub context: usize,
    pub embed: usize,
    pub layers: usize,
    pub heads: usize,
    pub dropout: f32,
    pub batch_size: usize,
    pub steps: usize,
    pub learning_rate: f32,
    pub weight_decay: f32,
    pub warmup_steps: usize,
    pub grad_clip: f32,
    /// Returns-to-go are divided by this (default: the dataset's largest
    /// absolute return, so conditioning values are O(1)).
    pub rtg_scale: Option<f32>,
    pub max_timestep: usize,
    /// Fraction of windows drawn from a uniformly chosen episode (every
    /// episode weighs the same); the rest pick an episode in proportion to
    /// its length (every step weighs the same, as Chen et al.). Short,
    /// low-return episodes are what a low target imitates, and weighting by
    /// length alone makes them rare.
    #[serde(default)]
    pub uniform_episodes: f32,
}

impl Default for DtTrainConfig {
    fn default() -> Self {
        // Chen et al.'s gym configuration, with fewer steps (CPU budget).
        DtTrainConfig {
            context: 20,
            embed: 128,
            layers: 3,
            heads: 1,
            dropout: 0.1,
            batch_size: 64,
            steps: 2000,
            learning_rate: 1e-4,
            weight_decay: 1e-4,
            warmup_steps: 200,
            grad_clip: 0.25,
            rtg_scale: None,
            max_timestep: 1024,
            uniform_episodes: 0.0,
        }
    }
}

pub struct DtTrainOutcome {
    pub model: DecisionTransformer,
    pub losses: Vec<(usize, f32)>,
    pub wall_s: f64,
    pub tokens_per_s: f64,
    pub rtg_scale: f32,
    pub state_mean: Vec<f32>,
    pub state_std: Vec<f32>,
}

/// Per-trajectory arrays prepared once.
struct Prepared {
    states: Vec<f32>,
    rtg: Vec<f32>,
}

fn prepare(t: &Trajectory, od: usize, mean: &[f32], std: &[f32], scale: f32) -> Prepared {
    let mut states = t.obs.clone();
    for row in states.chunks_exact_mut(od) {
        for i in 0..od {
            row[i] = (row[i] - mean[i]) / std[i];
        }
    }
    let mut rtg = vec![0.0f32; t.len()];
    let mut acc = 0.0f64;
    for i in (0..t.len()).rev() {
        acc += t.rewards[i] as f64;
        rtg[i] = (acc / scale as f64) as f32;
    }
    Prepared { states, rtg }
}

pub fn state_stats(ds: &Dataset) -> (Vec<f32>, Vec<f32>) {
    let od = ds.obs_dim;
    let n = ds.steps().max(1) as f64;
    let mut mean = vec![0.0f64; od];
    let mut sq = vec![0.0f64; od];
    for t in &ds.trajectories {
        for row in t.obs.chunks_exact(od) {
            for i in 0..od {
                mean[i] += row[i] as f64;
                sq[i] += (row[i] as f64).powi(2);
            }
        }
    }
    let mean: Vec<f64> = mean.iter().map(|m| m / n).collect();
    let std: Vec<f32> = sq
        .iter()
        .zip(&mean)
        .map(|(s, m)| ((s / n - m * m).max(0.0).sqrt() as f32).max(1e-6))
        .collect();
    (mean.iter().map(|m| *m as f32).collect(), std)
}

pub fn train_dt(
    cfg: &DtTrainConfig,
    ds: &Dataset,
    action: &ActionSpec,
    seed: u64,
    on_progress: impl FnMut(usize, f32),
) -> Result<DtTrainOutcome> {
    train_dt_on(cfg, ds, action, seed, Resolved::Cpu, on_progress)
}

/// Steps between loss read-backs on the GPU (the device keeps the losses;
/// reading them is the only per-step wait, so it is batched).
pub const GPU_LOSS_CHUNK: usize = 50;

/// `train_dt` on `device`. The batches are sampled on the host from the same
/// `Rng` either way; on CUDA, parameters, gradients and AdamW state live on
/// the GPU and the losses are reported every `GPU_LOSS_CHUNK` steps.
pub fn train_dt_on(
    cfg: &DtTrainConfig,
    ds: &Dataset,
    action: &ActionSpec,
    seed: u64,
    device: Resolved,
    mut on_progress: impl FnMut(usize, f32),
) -> Result<DtTrainOutcome> {
    let od = ds.obs_dim;
    let (ad, discrete) = match action {
        ActionSpec::Discrete { n } => (*n, true),
        ActionSpec::Continuous { dim } => (*dim, false),
    };
    if ds.action_dim != action.action_dim() {
        bail!(
            "the dataset's actions have {} values per step; the action space needs {}",
            ds.action_dim,
            action.action_dim()
        );
    }
    let (mean, std) = state_stats(ds);
    let stats = ds.return_stats();
    let scale = cfg
        .rtg_scale
        .unwrap_or_else(|| stats.min.abs().max(stats.max.abs()).max(1.0) as f32);
    let prepared: Vec<Prepared> = ds
        .trajectories
        .iter()
        .map(|t| prepare(t, od, &mean, &std, scale))
        .collect();
    let lengths: Vec<usize> = ds.trajectories.iter().map(Trajectory::len).collect();
    let total: usize = lengths.iter().sum();

    let mut rng = Rng::new(seed);
    let dt_cfg = DtConfig {
        context: cfg.context,
        embed: cfg.embed,
        layers: cfg.layers,
        heads: cfg.heads,
        dropout: cfg.dropout,
        max_timestep: cfg.max_timestep,
        ..DtConfig::new(od, ad, discrete)
    };
    let mut model = DecisionTransformer::new(dt_cfg, &mut rng).map_err(|e| anyhow!("{e}"))?;
    let mut opt = Adam::new(model.num_params());
    opt.weight_decay = cfg.weight_decay;
    let mut cache = model.new_cache();
    let k = cfg.context;
    let mut batch = DtBatch::new(cfg.batch_size, k, od, ad, discrete);
    let mut losses = Vec::new();
    #[cfg(feature = "cuda")]
    let mut gpu = match device {
        Resolved::Cuda => {
            let g = crate::nn::cuda::Gpu::new(0)?;
            let mut dev =
                crate::nn::cuda::dt::DtCuda::new(g, &model, cfg.batch_size, GPU_LOSS_CHUNK)?;
            dev.opt.weight_decay = cfg.weight_decay;
            Some(dev)
        }
        Resolved::Cpu => None,
    };
    #[cfg(not(feature = "cuda"))]
    if device == Resolved::Cuda {
        bail!("{}", crate::nn::device::DeviceError::NotBuilt);
    }
    let start = Instant::now();
    for step in 0..cfg.steps {
        batch.states.fill(0.0);
        batch.actions.fill(0.0);
        batch.returns_to_go.fill(0.0);
        batch.timesteps.fill(0);
        batch.mask.fill(0.0);
        batch.target.fill(0.0);
        for b in 0..cfg.batch_size {
            // A trajectory (uniformly, or in proportion to its length), then
            // the window's end within it.
            let (ti, pick) = if rng.next_f32() < cfg.uniform_episodes {
                let ti = rng.below(lengths.len());
                (ti, rng.below(lengths[ti]))
            } else {
                let mut pick = rng.below(total);
                let mut ti = 0;
                while pick >= lengths[ti] {
                    pick -= lengths[ti];
                    ti += 1;
                }
                (ti, pick)
            };
            let (tr, pre) = (&ds.trajectories[ti], &prepared[ti]);
            let end = pick + 1;
            let begin = end.saturating_sub(k);
            let pad = k - (end - begin);
            for (j, t) in (begin..end).enumerate() {
                let row = b * k + pad + j;
                batch.states[row * od..(row + 1) * od]
                    .copy_from_slice(&pre.states[t * od..(t + 1) * od]);
                batch.returns_to_go[row] = pre.rtg[t];
                batch.timesteps[row] = t;
                batch.mask[row] = 1.0;
                if discrete {
                    let a = tr.actions[t].clamp(0.0, (ad - 1) as f32) as usize;
                    batch.actions[row * ad + a] = 1.0;
                    batch.target[row] = a as f32;
                } else {
                    let src = &tr.actions[t * ad..(t + 1) * ad];
                    for (i, a) in src.iter().enumerate() {
                        let v = a.clamp(-1.0, 1.0);
                        batch.actions[row * ad + i] = v;
                        batch.target[row * ad + i] = v;
                    }
                }
            }
        }
        let lr = cfg.learning_rate * ((step + 1) as f32 / cfg.warmup_steps.max(1) as f32).min(1.0);
        #[cfg(feature = "cuda")]
        if let Some(dev) = gpu.as_mut() {
            let slot = step % GPU_LOSS_CHUNK;
            dev.zero_grads()?;
            dev.loss_and_backward(&batch, &mut rng, slot)?;
            dev.clip_and_step(lr, cfg.grad_clip)?;
            if slot + 1 == GPU_LOSS_CHUNK || step + 1 == cfg.steps {
                let first = step - slot;
                for (i, loss) in dev.read_losses(slot + 1)?.into_iter().enumerate() {
                    if !loss.is_finite() {
                        bail!("training diverged at step {} (loss {loss})", first + i);
                    }
                    losses.push((first + i, loss));
                    on_progress(first + i, loss);
                }
            }
            continue;
        }
        model.zero_grads();
        let loss = model
            .loss_and_backward(&batch, &mut cache, &mut rng)
            .map_err(|e| anyhow!("{e}"))?;
        if !loss.is_finite() {
            bail!("training diverged at step {step} (loss {loss})");
        }
        clip_grad_norm(&mut model.grads, cfg.grad_clip);
        let DecisionTransformer { params, grads, .. } = &mut model;
        opt.update(params, grads, lr);
        losses.push((step, loss));
        on_progress(step, loss);
    }
    #[cfg(feature = "cuda")]
    if let Some(dev) = gpu.as_ref() {
        dev.params_to_host(&mut model.params)?;
    }
    let wall = start.elapsed().as_secs_f64();
    let tokens = (cfg.steps * cfg.batch_size * 3 * k) as f64;
    Ok(DtTrainOutcome {
        model,
        losses,
        wall_s: wall,
        tokens_per_s: tokens / wall.max(1e-9),
        rtg_scale: scale,
        state_mean: mean,
        state_std: std,
    })
}
