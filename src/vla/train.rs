//! Behaviour cloning of the VLA head from demonstrations: minibatches of
//! samples, the L1 loss on normalised action chunks (ACT), Adam with a
//! linear decay, the batch split over threads (each with its own caches and
//! gradients, summed), validation on held-out episodes.

use anyhow::{Result, bail};
use ganglion_sim::Rng;

use super::data::{Sample, VlaDataset};
use super::encoder::FEATURES;
use crate::learn::demos::PROPRIO;
use crate::nn::vla::{VlaCache, VlaConfig, VlaHead, VlaInput, l1_loss};
use crate::nn::{Adam, clip_grad_norm};

/// What to train.
#[derive(Clone, Debug)]
pub struct VlaTrainOptions {
    pub steps: usize,
    pub batch: usize,
    pub lr: f32,
    pub seed: u64,
    /// Actions per chunk.
    pub horizon: usize,
    pub keypoints: usize,
    pub hidden: usize,
    pub trunk: Vec<usize>,
    pub threads: usize,
    /// Validate every this many steps.
    pub eval_every: usize,
}

impl Default for VlaTrainOptions {
    fn default() -> Self {
        VlaTrainOptions {
            steps: 6000,
            batch: 64,
            lr: 1e-3,
            seed: 1,
            horizon: 10,
            keypoints: 8,
            hidden: 32,
            trunk: vec![256, 256],
            threads: 2,
            eval_every: 250,
        }
    }
}

/// A trained head with what the export needs.
pub struct TrainedHead {
    pub head: VlaHead,
    pub params: Vec<f32>,
    pub proprio_mean: Vec<f32>,
    pub proprio_inv_std: Vec<f32>,
    pub action_scale: Vec<f32>,
    /// `(step, train loss, validation loss)`.
    pub curve: Vec<(usize, f32, f32)>,
}

/// Gathers one sample's inputs into the worker's buffers.
struct Gathered {
    feat: Vec<f32>,
    votes: Vec<f32>,
    mask: Vec<f32>,
    proprio: Vec<f32>,
}

/// Trains on `data`; `progress(step, train_loss, val_loss)` sees each
/// validation.
pub fn train_head(
    data: &VlaDataset,
    o: &VlaTrainOptions,
    progress: &mut dyn FnMut(usize, f32, f32),
) -> Result<TrainedHead> {
    if data.train.is_empty() {
        bail!("no training samples");
    }
    let cells = data.frames[0].masked.len();
    let cfg = VlaConfig {
        feat: FEATURES,
        pixels: cells,
        hidden: o.hidden,
        keypoints: o.keypoints,
        embed: data.embeds[0].len(),
        task: 32,
        proprio: PROPRIO.len(),
        mlp: o.trunk.clone(),
        horizon: o.horizon,
        action: super::ACTION,
    };
    let head = VlaHead::new(cfg.clone());
    let mut rng = Rng::new(o.seed);
    let mut params = vec![0.0; head.num_params()];
    head.init(&mut params, &mut rng);
    let (mean, inv) = data.proprio_stats();
    let scale = data.action_scale();
    let mut adam = Adam::new(params.len());
    let threads = o.threads.clamp(1, 8);
    let mut workers: Vec<Worker> = (0..threads).map(|_| Worker::default()).collect();
    let mut grads = vec![0.0; params.len()];
    let mut curve = Vec::new();
    let mut running = 0.0f32;
    let mut running_n = 0;
    for step in 1..=o.steps {
        let batch: Vec<Sample> = (0..o.batch)
            .map(|_| data.train[rng.below(data.train.len())])
            .collect();
        let loss = run_batch(
            &head,
            &params,
            data,
            &batch,
            &mean,
            &inv,
            &scale,
            &mut workers,
            true,
        )?;
        // Each worker's gradient is the mean over its part: weigh it by the
        // part's share of the batch.
        grads.fill(0.0);
        for w in &workers {
            let share = w.samples as f32 / batch.len() as f32;
            for (g, x) in grads.iter_mut().zip(&w.grads) {
                *g += x * share;
            }
        }
        clip_grad_norm(&mut grads, 1.0);
        let lr = o.lr * (1.0 - (step - 1) as f32 / o.steps as f32).max(0.05);
        adam.update(&mut params, &grads, lr);
        running += loss;
        running_n += 1;
        if step % o.eval_every.max(1) == 0 || step == o.steps {
            let val = validation_loss(&head, &params, data, &mean, &inv, &scale, &mut workers)?;
            let train = running / running_n as f32;
            curve.push((step, train, val));
            progress(step, train, val);
            running = 0.0;
            running_n = 0;
        }
    }
    Ok(TrainedHead {
        head,
        params,
        proprio_mean: mean,
        proprio_inv_std: inv,
        action_scale: scale,
        curve,
    })
}

/// The mean L1 loss over (up to 2048 of) the validation samples.
fn validation_loss(
    head: &VlaHead,
    params: &[f32],
    data: &VlaDataset,
    mean: &[f32],
    inv: &[f32],
    scale: &[f32],
    workers: &mut [Worker],
) -> Result<f32> {
    if data.validation.is_empty() {
        return Ok(f32::NAN);
    }
    let stride = (data.validation.len() / 2048).max(1);
    let picked: Vec<Sample> = data.validation.iter().step_by(stride).copied().collect();
    let mut total = 0.0;
    let mut n = 0;
    for batch in picked.chunks(128) {
        let l = run_batch(head, params, data, batch, mean, inv, scale, workers, false)?;
        total += l * batch.len() as f32;
        n += batch.len();
    }
    Ok(total / n.max(1) as f32)
}

#[derive(Default)]
struct Worker {
    /// Samples in this worker's part of the last batch.
    samples: usize,
    cache: VlaCache,
    grads: Vec<f32>,
    gathered: Vec<Gathered>,
    target: Vec<f32>,
    dout: Vec<f32>,
}

/// Forward (and, when `learn`, backward into each worker's `grads`) of
/// `batch` split over the workers; returns the mean loss.
#[allow(clippy::too_many_arguments)]
fn run_batch(
    head: &VlaHead,
    params: &[f32],
    data: &VlaDataset,
    batch: &[Sample],
    mean: &[f32],
    inv: &[f32],
    scale: &[f32],
    workers: &mut [Worker],
    learn: bool,
) -> Result<f32> {
    let per = batch.len().div_ceil(workers.len());
    workers.iter_mut().for_each(|w| {
        w.samples = 0;
        w.grads.resize(params.len(), 0.0);
        w.grads.fill(0.0);
    });
    let losses: Vec<Option<(f32, usize)>> = std::thread::scope(|s| {
        let handles: Vec<_> = batch
            .chunks(per)
            .zip(workers.iter_mut())
            .map(|(part, w)| {
                s.spawn(move || {
                    w.samples = part.len();
                    let loss = worker_pass(head, params, data, part, mean, inv, scale, w, learn);
                    (loss, part.len())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().ok()).collect()
    });
    let losses: Vec<(f32, usize)> = losses
        .into_iter()
        .collect::<Option<_>>()
        .ok_or_else(|| anyhow::anyhow!("a training thread panicked"))?;
    let n: usize = losses.iter().map(|l| l.1).sum();
    Ok(losses.iter().map(|(l, k)| l * *k as f32).sum::<f32>() / n.max(1) as f32)
}

#[allow(clippy::too_many_arguments)]
fn worker_pass(
    head: &VlaHead,
    params: &[f32],
    data: &VlaDataset,
    part: &[Sample],
    mean: &[f32],
    inv: &[f32],
    scale: &[f32],
    w: &mut Worker,
    learn: bool,
) -> f32 {
    let cfg = &head.cfg;
    let out_w = cfg.horizon * cfg.action;
    while w.gathered.len() < part.len() {
        w.gathered.push(Gathered {
            feat: vec![0.0; cfg.feat * cfg.pixels],
            votes: vec![0.0; 3 * cfg.pixels],
            mask: vec![0.0; cfg.pixels],
            proprio: vec![0.0; cfg.proprio],
        });
    }
    w.target.resize(part.len() * out_w, 0.0);
    w.dout.resize(part.len() * out_w, 0.0);
    for (i, s) in part.iter().enumerate() {
        let g = &mut w.gathered[i];
        data.frames[s.frame as usize].unpack(&mut g.feat, &mut g.votes, &mut g.mask);
        let e = &data.episodes[s.episode as usize];
        let t = s.step as usize;
        let p = &e.proprio[t * cfg.proprio..(t + 1) * cfg.proprio];
        for k in 0..cfg.proprio {
            g.proprio[k] = (p[k] - mean[k]) * inv[k];
        }
        data.target(
            s,
            cfg.horizon,
            scale,
            &mut w.target[i * out_w..(i + 1) * out_w],
        );
    }
    let inputs: Vec<VlaInput> = part
        .iter()
        .zip(&w.gathered)
        .map(|(s, g)| {
            let e = &data.episodes[s.episode as usize];
            VlaInput {
                feat: &g.feat,
                votes: &g.votes,
                mask: &g.mask,
                embed: &data.embeds[e.instruction],
                proprio: &g.proprio,
            }
        })
        .collect();
    let out = head.forward(params, &inputs, &mut w.cache);
    let loss = l1_loss(out, &w.target, &mut w.dout);
    if learn {
        head.backward(params, &inputs, &w.dout, &mut w.cache, &mut w.grads);
    }
    loss
}
