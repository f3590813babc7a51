//! Re-checking a recording (`ganglion replay`). By default the recorded
//! observations go through the policy again and every action must match bit
//! for bit; with `resim` the simulation is re-run from the recorded config
//! and seed and the new recording's deterministic messages must equal the
//! old ones. A recording of live hardware is never re-simulated.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;

use crate::assemble::{RunOptions, execute};
use crate::config;
use crate::record::{Recording, compare_payloads, read_recording};
use crate::runtime::RunLimit;

#[derive(Serialize, Debug)]
pub struct ReplayReport {
    pub recording: String,
    pub mode: &'static str,
    pub ticks: usize,
    pub checked: usize,
    pub mismatches: usize,
    pub first_mismatch_tick: Option<u64>,
    pub detail: Option<String>,
    pub truncated: bool,
    /// `resim` with cameras: frames compared (sha256 of each image and
    /// depth message) and frames that differ; their count is in
    /// `mismatches` too.
    pub frames_checked: usize,
    pub frame_mismatches: usize,
}

fn recorded_config(
    meta: &std::collections::BTreeMap<String, String>,
    rec: &Path,
) -> Result<config::RobotConfig> {
    let text = meta.get("config_text").ok_or_else(|| {
        anyhow!(
            "{}: no config_text in the recording's metadata",
            rec.display()
        )
    })?;
    let path = meta.get("config_path").ok_or_else(|| {
        anyhow!(
            "{}: no config_path in the recording's metadata",
            rec.display()
        )
    })?;
    config::parse(Path::new(path), text).map_err(|e| anyhow!("the recorded config: {e}"))
}

/// What to replay and how.
#[derive(Clone, Debug, Default)]
pub struct ReplayOptions {
    /// A recording made by `ganglion run --record`.
    pub recording: PathBuf,
    /// Re-run the simulation from the recorded config and seed and compare
    /// recordings, instead of re-running only the policy.
    pub resim: bool,
    /// Use this policy file instead of the recorded path.
    pub policy: Option<PathBuf>,
}

/// Replays `args.recording`: the policy over the recorded observations (every
/// action must match bit for bit), or with `resim` the whole simulated run
/// (every deterministic message must match).
pub fn replay(args: &ReplayOptions) -> Result<ReplayReport> {
    let rec = read_recording(&args.recording)?;
    let mut cfg = recorded_config(&rec.metadata, &args.recording)?;
    if let Some(p) = &args.policy {
        cfg.policy.path = p.clone();
        cfg.policy.card = crate::policy::card::card_path(p);
    }
    let name = args.recording.display().to_string();
    if args.resim {
        return replay_resim(args, cfg, &rec, name);
    }
    replay_policy(cfg, &rec, name)
}

/// Re-runs the recorded simulation and compares the two recordings.
fn replay_resim(
    args: &ReplayOptions,
    cfg: config::RobotConfig,
    rec: &Recording,
    name: String,
) -> Result<ReplayReport> {
    // Re-simulation re-runs the recorded config: never against live
    // hardware (a HIL node, a remote robot) that a recording names.
    let plant = crate::assemble::plant_kind(&cfg.plant);
    if !plant.starts_with("sim:") {
        bail!(
            "{name}: --resim re-runs a simulated plant, but this recording drove `{plant}` \
             (live hardware or a remote robot is never driven by a replay); replay it \
             without --resim to re-check the policy"
        );
    }
    let seed: u64 = rec
        .metadata
        .get("seed")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("{name}: no seed in the recording's metadata"))?;
    let tmp = TempRecording(tempfile_path(&args.recording));
    let opts = RunOptions {
        limit: RunLimit {
            ticks: Some(rec.ticks.len() as u64),
            seconds: None,
            ..Default::default()
        },
        record: Some(tmp.0.clone()),
        overwrite: true,
        fast: true,
        seed: Some(seed),
    };
    execute(cfg, &opts).context("re-simulating")?;
    let again = read_recording(&tmp.0)?;
    if again.ticks.is_empty() {
        bail!("{name}: the re-simulation recorded no ticks; nothing was compared");
    }
    let mismatch = compare_payloads(rec, &again);
    let (frames_checked, frame_mismatches, frame_detail) =
        crate::record::camera::compare_frames(rec, &again);
    Ok(ReplayReport {
        recording: name,
        mode: "resim",
        ticks: rec.ticks.len(),
        checked: again.ticks.len(),
        mismatches: usize::from(mismatch.is_some()) + frame_mismatches,
        first_mismatch_tick: mismatch.as_ref().map(|m| m.tick),
        detail: mismatch.map(|m| m.to_string()).or(frame_detail),
        truncated: rec.truncated,
        frames_checked,
        frame_mismatches,
    })
}

/// Re-runs the policy over the recorded observations.
fn replay_policy(cfg: config::RobotConfig, rec: &Recording, name: String) -> Result<ReplayReport> {
    let mut policy = crate::assemble::load_any_policy(&cfg)?;
    let mut action = vec![0.0f32; cfg.action.mapping.dim()];
    let (mut checked, mut mismatches, mut first, mut detail) = (0, 0, None, None);
    let mut episode = None;
    if let Some(first) = rec.ticks.iter().find(|t| t.policy_ran) {
        policy.warm_up(&first.obs);
    }
    for t in &rec.ticks {
        if let Some(task) = t.task {
            if episode.is_some_and(|e| e != task.episode) {
                policy.reset();
            }
            episode = Some(task.episode);
        }
        if !t.policy_ran {
            continue;
        }
        checked += 1;
        let result = policy.act(&t.obs, &mut action);
        // A Decision Transformer's return-to-go follows the recorded rewards.
        if let Some(task) = t.task {
            policy.observe_reward(task.reward);
        }
        // A tick where the policy failed (or a chunked one had no action)
        // was recorded with NaN actions.
        let same = match result {
            Ok(()) => {
                action.len() == t.raw_action.len()
                    && action
                        .iter()
                        .zip(&t.raw_action)
                        .all(|(a, b)| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()))
            }
            Err(_) => t.raw_action.iter().all(|v| v.is_nan()),
        };
        if !same {
            mismatches += 1;
            if first.is_none() {
                first = Some(t.tick);
                detail = Some(format!(
                    "tick {}: recorded action {:?}, policy now gives {:?}",
                    t.tick, t.raw_action, action
                ));
            }
        }
    }
    if checked == 0 {
        bail!(
            "{name}: {} ticks, none in which the policy ran; nothing was checked",
            rec.ticks.len()
        );
    }
    Ok(ReplayReport {
        recording: name,
        mode: "policy",
        ticks: rec.ticks.len(),
        checked,
        mismatches,
        first_mismatch_tick: first,
        detail,
        truncated: rec.truncated,
        frames_checked: 0,
        frame_mismatches: 0,
    })
}

/// The re-simulation's recording, removed however the replay ends.
struct TempRecording(PathBuf);

impl Drop for TempRecording {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn tempfile_path(rec: &Path) -> PathBuf {
    let stem = rec
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    std::env::temp_dir().join(format!("ganglion-resim-{}-{stem}.mcap", std::process::id()))
}
