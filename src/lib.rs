//! ganglion: a robot control runtime. A learned policy (ONNX, run by tract)
//! drives a robot or its rapier3d simulation (`ganglion_sim`, re-exported as
//! `sim`) through the real-time control loop and safety filter (`runtime`),
//! configured by one TOML file per robot (`config`) and recorded to MCAP
//! (`record`). This crate also holds the training math (`nn`), trainers
//! (`learn`), policy runners (`policy`), the tabletop skills (`skills`), the
//! language layer (`lang`), the links to firmware nodes and over zenoh
//! (`io`), Dynamixel smart-servo buses (`servo`), the checks on input from
//! outside (`input`), building a run from a config (`assemble`),
//! re-checking a recording (`replay`), the benchmarks
//! (`bench`), charts (`plot`) and stop signals (`signals`). The command line
//! lives in the binary (`src/main.rs`, `src/cli/`): it parses, calls this
//! crate and prints. See docs/ARCHITECTURE.md for the map.

pub mod assemble;
pub mod bench;
pub mod camera;
pub mod config;
pub mod input;
pub mod io;
pub mod lang;
pub mod learn;
pub mod nn;
pub mod perception;
pub mod plot;
pub mod policy;
pub mod program;
pub mod record;
pub mod replay;
pub mod runtime;
pub mod servo;
pub mod signals;
pub mod skills;
pub mod vla;

pub use ganglion_sim as sim;

use std::path::{Path, PathBuf};

/// Resolves a repository-relative path (e.g. `models/...`) from the working
/// directory, falling back to the source tree so commands work from anywhere.
pub fn repo_path(rel: &str) -> PathBuf {
    let p = Path::new(rel);
    if p.exists() || p.is_absolute() {
        return p.to_path_buf();
    }
    let fallback = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    if fallback.exists() {
        fallback
    } else {
        p.to_path_buf()
    }
}
