//! `ganglion replay`: checks a recording (see `ganglion::replay`) and prints
//! what it found; a mismatch is an error (exit 1).

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;

use ganglion::replay::{ReplayOptions, replay};

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// A recording made by `ganglion run --record`.
    pub recording: PathBuf,
    /// Re-run the simulation from the recorded config and seed and compare
    /// recordings, instead of re-running only the policy.
    #[arg(long)]
    pub resim: bool,
    /// Use this policy file instead of the recorded path.
    #[arg(long)]
    pub policy: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: ReplayArgs) -> Result<()> {
    let r = replay(&ReplayOptions {
        recording: args.recording.clone(),
        resim: args.resim,
        policy: args.policy.clone(),
    })?;
    if args.json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        println!(
            "{} ({}): {} ticks, {} checked, {} mismatch(es){}",
            r.recording,
            r.mode,
            r.ticks,
            r.checked,
            r.mismatches,
            if r.truncated {
                " (recording was cut short; checked what it holds)"
            } else {
                ""
            }
        );
        if r.frames_checked > 0 {
            println!(
                "  camera frames: {} compared (sha256), {} mismatch(es)",
                r.frames_checked, r.frame_mismatches
            );
        }
        if let Some(d) = &r.detail {
            println!("  first mismatch: {d}");
        }
    }
    if r.mismatches > 0 {
        let at = r
            .first_mismatch_tick
            .map(|t| format!(", first at tick {t}"))
            .unwrap_or_default();
        bail!("{} mismatch(es){at}", r.mismatches);
    }
    Ok(())
}
