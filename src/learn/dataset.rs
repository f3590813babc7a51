//! Datasets are recordings: a directory of MCAP files written by the control
//! loop (`ganglion collect`, or a real robot's `ganglion run --record` with a
//! task signal), read back into trajectories of (observation, action, reward).
//! The action is the policy's raw output in its layout (a discrete index or a
//! continuous vector) — what the behaviour policy chose.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::record::read_recording;

/// File in a dataset directory recording the command that made it
/// (written by `collect`, copied into a trained model's card).
pub const DATASET_MANIFEST: &str = "dataset.toml";

/// One episode.
#[derive(Clone, Debug, PartialEq)]
pub struct Trajectory {
    /// `len × obs_dim`
    pub obs: Vec<f32>,
    /// `len × action_dim`
    pub actions: Vec<f32>,
    pub rewards: Vec<f32>,
    /// Ended in a terminal state (not cut by a time limit or the file's end).
    pub terminated: bool,
    pub source: PathBuf,
}

impl Trajectory {
    pub fn len(&self) -> usize {
        self.rewards.len()
    }
    pub fn is_empty(&self) -> bool {
        self.rewards.is_empty()
    }
    pub fn episode_return(&self) -> f64 {
        self.rewards.iter().map(|r| *r as f64).sum()
    }
}

#[derive(Clone, Debug, Default)]
pub struct Dataset {
    pub obs_dim: usize,
    pub action_dim: usize,
    pub trajectories: Vec<Trajectory>,
}

/// Summary statistics of a dataset's episode returns.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ReturnStats {
    pub episodes: usize,
    pub steps: usize,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    /// Every episode's return (for plots).
    pub returns: Vec<f64>,
}

impl Dataset {
    pub fn steps(&self) -> usize {
        self.trajectories.iter().map(Trajectory::len).sum()
    }

    pub fn return_stats(&self) -> ReturnStats {
        let returns: Vec<f64> = self
            .trajectories
            .iter()
            .map(Trajectory::episode_return)
            .collect();
        let n = returns.len().max(1) as f64;
        ReturnStats {
            episodes: returns.len(),
            steps: self.steps(),
            mean: returns.iter().sum::<f64>() / n,
            min: returns.iter().copied().fold(f64::INFINITY, f64::min),
            max: returns.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            returns,
        }
    }
}

/// Reads every `.mcap` file in `dir` (sorted by name, so the order is stable).
pub fn load_dataset(dir: &Path) -> Result<Dataset> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading dataset directory {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "mcap"))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("{}: no .mcap recordings in this directory", dir.display());
    }
    let mut ds = Dataset::default();
    for file in &files {
        let rec = read_recording(file)?;
        let mut current: Option<Trajectory> = None;
        let mut current_episode = None;
        for t in &rec.ticks {
            let Some(task) = t.task else {
                bail!(
                    "{}: tick {} has no task signal (reward): not a dataset recording",
                    file.display(),
                    t.tick
                );
            };
            if ds.obs_dim == 0 {
                ds.obs_dim = t.obs.len();
                ds.action_dim = t.raw_action.len();
            }
            if t.obs.len() != ds.obs_dim || t.raw_action.len() != ds.action_dim {
                bail!(
                    "{}: tick {} has obs/action sizes {}/{}, the dataset has {}/{}",
                    file.display(),
                    t.tick,
                    t.obs.len(),
                    t.raw_action.len(),
                    ds.obs_dim,
                    ds.action_dim
                );
            }
            if current_episode != Some(task.episode) {
                if let Some(tr) = current.take().filter(|tr| !tr.is_empty()) {
                    ds.trajectories.push(tr);
                }
                current_episode = Some(task.episode);
            }
            let tr = current.get_or_insert_with(|| Trajectory {
                obs: Vec::new(),
                actions: Vec::new(),
                rewards: Vec::new(),
                terminated: false,
                source: file.clone(),
            });
            // A tick where the safety filter overrode the policy has no
            // behaviour action; the trajectory ends before it.
            let usable = t.policy_ran
                && t.raw_action.iter().all(|a| a.is_finite())
                && t.obs.iter().all(|o| o.is_finite());
            if !usable {
                if let Some(tr) = current.take().filter(|tr| !tr.is_empty()) {
                    ds.trajectories.push(tr);
                }
                continue;
            }
            tr.obs.extend_from_slice(&t.obs);
            tr.actions.extend_from_slice(&t.raw_action);
            tr.rewards.push(task.reward);
            if task.terminated || task.truncated {
                tr.terminated = task.terminated;
                if let Some(tr) = current.take() {
                    ds.trajectories.push(tr);
                }
            }
        }
        if let Some(tr) = current.take().filter(|tr| !tr.is_empty()) {
            ds.trajectories.push(tr);
        }
    }
    if ds.trajectories.is_empty() {
        bail!("{}: the recordings hold no usable steps", dir.display());
    }
    Ok(ds)
}
