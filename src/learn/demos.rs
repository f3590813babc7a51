//! Tabletop demonstrations read back for learning (the VLA's dataset, issue
//! 17): `collect tabletop`'s index and recordings become episodes of camera
//! frames, proprioception and commanded actions, with the instruction. Only
//! what a real robot has reaches a sample: the camera's pixels and the
//! arm's own sensors (`PROPRIO`: joints, the cup from them, suction and its
//! load sensor), never the simulator's object positions.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use prost::Message;

use super::collect_tabletop::EPISODE_INDEX;
use crate::record::foxglove::RawImage;
use crate::record::read_recording_with_images;

/// The sensors a policy may read: proprioception only (the same the skill
/// policy observes in the loop).
pub const PROPRIO: &[&str] = {
    let (p, _) = ganglion_sim::tabletop::state::SENSORS.split_at(crate::skills::executor::PROPRIO);
    p
};

/// One camera frame, at a tick of its episode.
#[derive(Clone, Debug)]
pub struct DemoFrame {
    /// Index into the episode's ticks.
    pub step: usize,
    pub rgb: Vec<u8>,
    /// Metres; 0 where nothing was hit.
    pub depth: Vec<f32>,
}

/// One demonstration: its segments' ticks joined in order.
#[derive(Clone, Debug)]
pub struct DemoEpisode {
    pub episode: usize,
    pub instruction: String,
    pub scene: String,
    pub success: bool,
    pub width: usize,
    pub height: usize,
    /// Per tick, `PROPRIO` in order (flat, 13 a tick).
    pub proprio: Vec<f32>,
    /// Per tick, the commanded actuators (flat, `action_dim` a tick).
    pub actions: Vec<f32>,
    pub action_dim: usize,
    pub frames: Vec<DemoFrame>,
}

impl DemoEpisode {
    pub fn steps(&self) -> usize {
        self.actions.len() / self.action_dim.max(1)
    }

    /// The `h` actions from `step` on (row-major), the last one repeated
    /// past the episode's end (the arm holds still when it is done).
    pub fn action_chunk(&self, step: usize, h: usize, out: &mut [f32]) {
        let a = self.action_dim;
        let last = self.steps().saturating_sub(1);
        for i in 0..h {
            let s = (step + i).min(last);
            out[i * a..(i + 1) * a].copy_from_slice(&self.actions[s * a..(s + 1) * a]);
        }
    }

    pub fn proprio_at(&self, step: usize) -> &[f32] {
        &self.proprio[step * PROPRIO.len()..(step + 1) * PROPRIO.len()]
    }
}

/// Reads every episode of the dataset in `dir` (`collect tabletop`'s
/// output) with its camera `camera`'s frames; `successful_only` drops the
/// episodes marked failed.
pub fn load_demonstrations(
    dir: &Path,
    camera: &str,
    successful_only: bool,
) -> Result<Vec<DemoEpisode>> {
    let mut out = Vec::new();
    for_each_demonstration(dir, camera, successful_only, &mut |ep| {
        out.push(ep);
        Ok(())
    })?;
    Ok(out)
}

/// `load_demonstrations` one episode at a time (a large dataset's frames
/// need not all be in memory at once).
pub fn for_each_demonstration(
    dir: &Path,
    camera: &str,
    successful_only: bool,
    each: &mut dyn FnMut(DemoEpisode) -> Result<()>,
) -> Result<()> {
    let index_path = dir.join(EPISODE_INDEX);
    let text = crate::input::read_text(&index_path, crate::input::FileKind::Dataset)
        .with_context(|| "reading the index `ganglion collect tabletop` writes")?;
    for (i, line) in text.lines().enumerate().skip(1) {
        let at = || format!("{}:{}", index_path.display(), i + 1);
        let v: serde_json::Value = serde_json::from_str(line).with_context(at)?;
        let success = v["success"]
            .as_bool()
            .ok_or_else(|| anyhow!("{}: no `success`", at()))?;
        if successful_only && !success {
            continue;
        }
        let files: Vec<PathBuf> = v["files"]
            .as_array()
            .ok_or_else(|| anyhow!("{}: no `files`", at()))?
            .iter()
            .map(|f| {
                f.as_str()
                    .map(|f| dir.join(f))
                    .ok_or_else(|| anyhow!("{}: a file name is not a string", at()))
            })
            .collect::<Result<_>>()?;
        let mut ep = DemoEpisode {
            episode: v["episode"].as_u64().unwrap_or(0) as usize,
            instruction: v["instruction"].as_str().unwrap_or_default().to_string(),
            scene: v["scene"].as_str().unwrap_or_default().to_string(),
            success,
            width: 0,
            height: 0,
            proprio: Vec::new(),
            actions: Vec::new(),
            action_dim: 0,
            frames: Vec::new(),
        };
        for f in &files {
            add_segment(&mut ep, f, camera)?;
        }
        if ep.steps() > 0 && !ep.frames.is_empty() {
            each(ep)?;
        }
    }
    Ok(())
}

/// Appends one recording's ticks and frames to `ep`.
fn add_segment(ep: &mut DemoEpisode, path: &Path, camera: &str) -> Result<()> {
    let rec = read_recording_with_images(path)?;
    let columns: Vec<usize> = PROPRIO
        .iter()
        .map(|name| {
            rec.sensor_names
                .iter()
                .position(|n| n == name)
                .ok_or_else(|| anyhow!("{}: no sensor `{name}`", path.display()))
        })
        .collect::<Result<_>>()?;
    let first = ep.steps();
    for t in &rec.ticks {
        if ep.action_dim == 0 {
            ep.action_dim = t.command.len();
        } else if t.command.len() != ep.action_dim {
            bail!(
                "{}: {} commands a tick, earlier segments had {}",
                path.display(),
                t.command.len(),
                ep.action_dim
            );
        }
        ep.actions.extend_from_slice(&t.command);
        for &c in &columns {
            ep.proprio
                .push(t.sensors.get(c).copied().unwrap_or(f32::NAN));
        }
    }
    // Frames are logged at their tick's loop time.
    let tick_at = |log_ns: u64| -> Option<usize> {
        rec.ticks
            .iter()
            .position(|t| ((t.time * 1e9).round() as u64).abs_diff(log_ns) < 1_000)
    };
    let image_topic = crate::record::camera::image_topic(camera);
    let depth_topic = crate::record::camera::depth_topic(camera);
    let images = rec
        .images
        .get(&image_topic)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let depths = rec
        .images
        .get(&depth_topic)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (log_ns, bytes) in images {
        let Some(step) = tick_at(*log_ns) else {
            continue;
        };
        let img = RawImage::decode(bytes.as_slice())
            .with_context(|| format!("{}: a bad {image_topic} message", path.display()))?;
        let (w, h) = (img.width as usize, img.height as usize);
        if img.encoding != "rgb8" || img.data.len() != 3 * w * h {
            bail!("{}: {image_topic} is not {w}×{h} rgb8", path.display());
        }
        if ep.width == 0 {
            (ep.width, ep.height) = (w, h);
        } else if (ep.width, ep.height) != (w, h) {
            bail!("{}: frames change size within an episode", path.display());
        }
        let depth = match depths.iter().find(|(t, _)| t == log_ns) {
            Some((_, d)) => {
                let d = RawImage::decode(d.as_slice())
                    .with_context(|| format!("{}: a bad {depth_topic} message", path.display()))?;
                if d.encoding != "32FC1" || d.data.len() != 4 * w * h {
                    bail!("{}: {depth_topic} is not {w}×{h} 32FC1", path.display());
                }
                d.data
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect()
            }
            None => vec![0.0; w * h],
        };
        ep.frames.push(DemoFrame {
            step: first + step,
            rgb: img.data,
            depth,
        });
    }
    Ok(())
}
