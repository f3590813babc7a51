//! Benchmarks (`ganglion bench …`): each measures ganglion against a
//! baseline in the same run and returns one JSON value; the CLI prints it.
//! `train` (PPO to CartPole-solved against Stable-Baselines3), `latency`
//! (tract against onnxruntime in-process through `ort`, and through Python),
//! `dt` (the Decision Transformer's training and inference against PyTorch),
//! `hil` (the firmware node over UDP and in qemu), `zenoh` (round trips and
//! remote control against plain TCP), `lm` (scoring skills with the on-device
//! LM), `control_loop` (the VecEnv and the loop's lateness), `worst_case`
//! (tick compute p99.9 and max per policy kind, with a CPU hog), `render` (the
//! simulated camera against PyBullet's TinyRenderer) and `servo` (the
//! Dynamixel bus cycle rate against its emulator, beside the 100 Hz control
//! rate). Python baselines run as separate processes (`python_json`).

pub mod control_loop;
pub mod dt;
pub mod hil;
pub mod latency;
pub mod lm;
pub mod ort;
pub mod render;
pub mod servo;
pub mod train;
pub mod vla;
pub mod worst_case;
pub mod zenoh;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::repo_path;

/// The Python that runs the baselines: `explicit`, else `$GANGLION_PYTHON`,
/// else `~/.cache/ganglion-venv/bin/python` when it exists.
pub fn find_python(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    if let Ok(p) = std::env::var("GANGLION_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let home = std::env::var("HOME").ok()?;
    let p = Path::new(&home).join(".cache/ganglion-venv/bin/python");
    p.exists().then_some(p)
}

/// Runs a baseline script and reads the last JSON line it prints.
pub fn python_json(python: &Path, script: &str, args: &[String]) -> Result<Value> {
    let script = repo_path(script);
    let out = Command::new(python)
        .arg(&script)
        .args(args)
        .output()
        .with_context(|| format!("running {} {}", python.display(), script.display()))?;
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .with_context(|| format!("{} printed no JSON", script.display()))?;
    serde_json::from_str(line).with_context(|| format!("parsing {} output", script.display()))
}
