//! Shared set-up for the runtime tests: the shipped CartPole config and policy.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use ganglion::config::{self, RobotConfig};
use ganglion::policy::OnnxPolicy;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn cartpole_config() -> RobotConfig {
    let path = repo().join("robots/cartpole.toml");
    config::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

pub fn cartpole_policy(cfg: &RobotConfig) -> OnnxPolicy {
    ganglion::assemble::load_policy(cfg).expect("shipped policy loads")
}

pub fn tmp_file(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

/// A TCP port that was free a moment ago on loopback (the listener is
/// dropped before the caller binds it, so another process could take it in
/// between; the tests that use it retry or fail loudly).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// The SayCan planner's parts with the shipped models (the on-device LM,
/// MiniLM, affordances, the reaching policy), or `None` with a SKIPPED line
/// when `models/lm/` has not been fetched (`ganglion models fetch`).
pub fn planner_parts() -> Option<ganglion::lang::service::PlannerParts> {
    let lm = repo().join("models/lm/SmolLM2-135M-Instruct.Q4_1.gguf");
    if !lm.exists() {
        eprintln!(
            "SKIPPED: {} is missing; run `ganglion models fetch`",
            lm.display()
        );
        return None;
    }
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).ok()?;
    let options = ganglion::lang::service::PlannerOptions::default();
    Some(ganglion::lang::service::PlannerParts::open(&options).expect("planner models load"))
}
