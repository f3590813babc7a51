//! The control loop and everything around one run: the CLI, config checks,
//! determinism and replay, no allocation in a tick, policy errors, MCAP
//! recordings, plant faults, SIGKILL mid-run, the tabletop skills, and ONNX
//! round trips.
//!
//! One test binary per area (issue 15): each links tract, candle and
//! zenoh once. Run one file with `cargo test --test runtime <module>::`.

#[path = "../common/mod.rs"]
mod common;

mod arm_safety;
mod cameras;
mod chunked;
mod cli;
mod config_check;
mod determinism;
mod fallback;
mod faults;
mod no_alloc;
mod onnx_roundtrip;
mod overrides;
mod policy_errors;
mod record_mcap;
mod robot_file;
mod safety_property;
mod sigkill;
mod skills;
mod urdf_inspect;
