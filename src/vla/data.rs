//! Demonstrations (`collect tabletop`'s recordings) as the VLA's training
//! samples. Every frame is encoded once by the frozen encoder and kept
//! compact (features as 8-bit codes with a scale per channel, votes in
//! 0.1 mm steps, the mask as bytes: ~92 KB a frame in place of 272 KB); a
//! sample is a tick of a successful
//! episode with the newest frame at or before it (so the model learns from
//! frames as stale as the loop's camera period makes them), the arm's
//! sensors at that tick, the instruction's embedding, and the next H
//! commanded actions.

use std::collections::HashMap;

use anyhow::{Result, bail};

use super::encoder::{Encoded, Encoder, MASKED};
use super::{ACTION, proprio_features};
use crate::learn::demos::{DemoEpisode, PROPRIO, for_each_demonstration};

/// The camera the demonstrations were recorded with.
pub const CAMERA: &str = "overhead";

/// One encoded frame, compact.
pub struct StoredFrame {
    /// Features (≥ 0, after a ReLU) as codes of `scale / 255`.
    pub feat: Vec<u8>,
    /// Per channel, the largest feature.
    pub scale: Vec<f32>,
    /// Votes in `VOTE_STEP` units.
    pub votes: Vec<i16>,
    /// 1 where the cell is masked.
    pub masked: Vec<u8>,
}

/// Metres per stored vote unit (±3.2 m of range).
pub const VOTE_STEP: f32 = 1e-4;

impl StoredFrame {
    pub fn pack(e: &Encoded) -> StoredFrame {
        let cells = e.mask.len();
        let channels = e.feat.len() / cells.max(1);
        let mut feat = vec![0u8; e.feat.len()];
        let mut scale = vec![0.0f32; channels];
        for c in 0..channels {
            let row = &e.feat[c * cells..(c + 1) * cells];
            let m = row.iter().copied().fold(0.0f32, f32::max);
            scale[c] = m;
            let k = if m > 0.0 { 255.0 / m } else { 0.0 };
            for (o, v) in feat[c * cells..(c + 1) * cells].iter_mut().zip(row) {
                *o = (v.max(0.0) * k).round().min(255.0) as u8;
            }
        }
        StoredFrame {
            feat,
            scale,
            votes: e
                .votes
                .iter()
                .map(|v| (v / VOTE_STEP).round().clamp(-32767.0, 32767.0) as i16)
                .collect(),
            masked: e.mask.iter().map(|m| (*m < 0.0) as u8).collect(),
        }
    }

    /// Back to the encoder's numbers (into buffers of `Encoded`'s sizes).
    pub fn unpack(&self, feat: &mut [f32], votes: &mut [f32], mask: &mut [f32]) {
        let cells = self.masked.len();
        for (c, s) in self.scale.iter().enumerate() {
            let k = s / 255.0;
            for (o, v) in feat[c * cells..(c + 1) * cells]
                .iter_mut()
                .zip(&self.feat[c * cells..(c + 1) * cells])
            {
                *o = *v as f32 * k;
            }
        }
        for (o, v) in votes.iter_mut().zip(&self.votes) {
            *o = *v as f32 * VOTE_STEP;
        }
        for (o, m) in mask.iter_mut().zip(&self.masked) {
            *o = if *m != 0 { MASKED } else { 0.0 };
        }
    }
}

/// One episode's numbers (frames live in `VlaDataset::frames`).
pub struct EpisodeData {
    pub instruction: usize,
    /// Per tick, `proprio_features` (13).
    pub proprio: Vec<f32>,
    /// Per tick, the commanded actions (`ACTION`).
    pub actions: Vec<f32>,
    pub steps: usize,
    /// A validation episode (never trained on).
    pub validation: bool,
}

/// A training sample: a tick and the frame the policy would have had.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub episode: u32,
    pub step: u32,
    pub frame: u32,
}

pub struct VlaDataset {
    pub frames: Vec<StoredFrame>,
    pub episodes: Vec<EpisodeData>,
    pub instructions: Vec<String>,
    /// Per instruction, its embedding.
    pub embeds: Vec<Vec<f32>>,
    pub train: Vec<Sample>,
    pub validation: Vec<Sample>,
    /// Recorded ticks in all episodes used.
    pub ticks: usize,
}

/// Reads the datasets in `dirs`, encodes its frames (on `threads` threads) and
/// embeds its instructions with `embed`. Every `validation_every`-th
/// episode is held out for validation. `progress(frames)` sees the
/// encoding.
pub fn load_dataset(
    dirs: &[std::path::PathBuf],
    encoders: &mut [Encoder],
    embed: &mut dyn FnMut(&str) -> Result<Vec<f32>>,
    validation_every: usize,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<VlaDataset> {
    let mut data = VlaDataset {
        frames: Vec::new(),
        episodes: Vec::new(),
        instructions: Vec::new(),
        embeds: Vec::new(),
        train: Vec::new(),
        validation: Vec::new(),
        ticks: 0,
    };
    let mut by_text: HashMap<String, usize> = HashMap::new();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let mut e = 0;
    for dir in dirs {
        for_each_demonstration(dir, CAMERA, true, &mut |d| {
            let d = &d;
            if d.action_dim != ACTION {
                bail!(
                    "{}: episode {} has {} actions a tick, the VLA needs {ACTION}",
                    dir.display(),
                    d.episode,
                    d.action_dim
                );
            }
            let instruction = match by_text.get(&d.instruction) {
                Some(i) => *i,
                None => {
                    let v = embed(&d.instruction)?;
                    data.instructions.push(d.instruction.clone());
                    data.embeds.push(v);
                    by_text.insert(d.instruction.clone(), data.embeds.len() - 1);
                    data.embeds.len() - 1
                }
            };
            if let Some(i) = d
                .actions
                .iter()
                .chain(&d.proprio)
                .position(|v| !v.is_finite())
            {
                bail!(
                    "{}: episode {} ({}) has a value that is not a number (entry {i} of its actions and sensors): a missing sensor?",
                    dir.display(),
                    d.episode,
                    d.instruction
                );
            }
            let first_frame = data.frames.len();
            data.frames
                .extend(encode_frames(d, encoders, &done, progress)?);
            let validation = validation_every > 0 && e % validation_every == validation_every - 1;
            let steps = d.steps();
            let mut proprio = vec![0.0; steps * PROPRIO.len()];
            for t in 0..steps {
                proprio_features(
                    d.proprio_at(t),
                    &mut proprio[t * PROPRIO.len()..(t + 1) * PROPRIO.len()],
                );
            }
            let ep = data.episodes.len() as u32;
            let mut f = 0;
            for t in 0..steps {
                while f + 1 < d.frames.len() && d.frames[f + 1].step <= t {
                    f += 1;
                }
                if d.frames[f].step > t {
                    continue;
                }
                let s = Sample {
                    episode: ep,
                    step: t as u32,
                    frame: (first_frame + f) as u32,
                };
                if validation {
                    data.validation.push(s);
                } else {
                    data.train.push(s);
                }
            }
            data.ticks += steps;
            data.episodes.push(EpisodeData {
                instruction,
                proprio,
                actions: d.actions.clone(),
                steps,
                validation,
            });
            e += 1;
            Ok(())
        })?;
    }
    if data.episodes.is_empty() {
        bail!("no successful episodes with `{CAMERA}` frames in {dirs:?}");
    }
    Ok(data)
}

/// Encodes an episode's frames, split over the encoders' threads.
fn encode_frames(
    d: &DemoEpisode,
    encoders: &mut [Encoder],
    done: &std::sync::atomic::AtomicUsize,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Vec<StoredFrame>> {
    let per = d.frames.len().div_ceil(encoders.len().max(1)).max(1);
    let parts: Vec<Result<Vec<StoredFrame>>> = std::thread::scope(|s| {
        let handles: Vec<_> = d
            .frames
            .chunks(per)
            .zip(encoders.iter_mut())
            .map(|(frames, enc)| {
                s.spawn(move || {
                    let mut out = Vec::with_capacity(frames.len());
                    let mut buf: Encoded = enc.new_encoded();
                    for f in frames {
                        enc.encode(&f.rgb, &f.depth, &mut buf)?;
                        out.push(StoredFrame::pack(&buf));
                        let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                        progress(n);
                    }
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| bail!("an encoder thread panicked"))
            })
            .collect()
    });
    let mut out = Vec::with_capacity(d.frames.len());
    for p in parts {
        out.extend(p?);
    }
    Ok(out)
}

impl VlaDataset {
    /// Per-dimension mean and 1/std of the proprioception over training
    /// ticks (std floored so constant inputs stay finite).
    pub fn proprio_stats(&self) -> (Vec<f32>, Vec<f32>) {
        let n = PROPRIO.len();
        let mut sum = vec![0.0f64; n];
        let mut sq = vec![0.0f64; n];
        let mut count = 0.0f64;
        for e in self.episodes.iter().filter(|e| !e.validation) {
            for row in e.proprio.chunks_exact(n) {
                for k in 0..n {
                    sum[k] += row[k] as f64;
                    sq[k] += (row[k] as f64).powi(2);
                }
                count += 1.0;
            }
        }
        let count = count.max(1.0);
        let mean: Vec<f32> = sum.iter().map(|s| (s / count) as f32).collect();
        let inv: Vec<f32> = (0..n)
            .map(|k| {
                let var = (sq[k] / count - (sum[k] / count).powi(2)).max(0.0);
                (1.0 / var.sqrt().max(0.02)) as f32
            })
            .collect();
        (mean, inv)
    }

    /// Per-action-dimension scale: the largest magnitude commanded.
    pub fn action_scale(&self) -> Vec<f32> {
        let mut m = [0.0f32; ACTION];
        for e in self.episodes.iter().filter(|e| !e.validation) {
            for row in e.actions.chunks_exact(ACTION) {
                for (s, a) in m.iter_mut().zip(row) {
                    *s = s.max(a.abs());
                }
            }
        }
        m.iter().map(|s| s.max(1e-3)).collect()
    }

    /// The `h` actions from `step` on, divided by `scale` (the last one
    /// repeated past the episode's end: the arm holds still when done).
    pub fn target(&self, s: &Sample, h: usize, scale: &[f32], out: &mut [f32]) {
        let e = &self.episodes[s.episode as usize];
        let last = e.steps.saturating_sub(1);
        for i in 0..h {
            let t = (s.step as usize + i).min(last);
            for k in 0..ACTION {
                out[i * ACTION + k] = e.actions[t * ACTION + k] / scale[k];
            }
        }
    }
}
