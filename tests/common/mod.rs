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
    ganglion::runtime::setup::load_policy(cfg).expect("shipped policy loads")
}

pub fn tmp_file(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}
