//! Shared set-up for every test binary: the shipped configs and policy, a
//! recording header for CartPole, a lockstep joint node, free ports, the
//! real-time serialisation lock, the planner's parts and a seeded stream of
//! adversarial numbers (`XorShift`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use ganglion::config::{self, RobotConfig};
use ganglion::policy::OnnxPolicy;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The problem reported for `field` when `text` is parsed as the config
/// `path`; panics naming `change` (what the test did to the text) when the
/// text is accepted or nothing is reported for `field`.
pub fn problem_at(path: &Path, text: &str, field: &str, change: &str) -> config::ConfigProblem {
    let errs = config::parse(path, text)
        .err()
        .unwrap_or_else(|| panic!("`{change}` accepted"));
    errs.problems
        .iter()
        .find(|p| p.field == field)
        .cloned()
        .unwrap_or_else(|| panic!("`{change}`: nothing reported for {field}: {errs}"))
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

/// A TCP port that was free a moment ago on loopback (see
/// `io::zenoh::free_local_port`; the tests that use it fail loudly if it was
/// taken in between).
pub fn free_port() -> u16 {
    ganglion::io::zenoh::free_local_port().expect("a free loopback port")
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

/// One real-time test at a time within a test binary: tests that run a
/// robot or a controller at its real rate (their own processes, 1 kHz) take
/// this lock, so their timing checks measure the link, not several robots
/// sharing two cores. Grouping the test files into one binary per area made
/// this a binary-wide lock rather than one per file.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The shipped HIL config (`robots/cartpole-hil.toml`).
pub fn hil_config() -> RobotConfig {
    config::load(&repo().join("robots/cartpole-hil.toml")).unwrap_or_else(|e| panic!("{e}"))
}

/// A recording header for a CartPole run on `plant` (4 observations, the
/// cart force).
pub fn cartpole_header(plant: &dyn ganglion::sim::Plant) -> ganglion::record::RecordingHeader {
    ganglion::record::RecordingHeader {
        sensor_names: plant.sensor_names().iter().map(|s| s.to_string()).collect(),
        obs_dim: 4,
        action_dim: 1,
        actuator_names: vec!["cart.force".into()],
        metadata: Default::default(),
    }
}

/// A host joint node over a CartPole in lockstep on a free loopback port,
/// ending its episodes after `max_steps` (0: never).
pub fn lockstep_node(max_steps: u32) -> ganglion::io::NodeOptions {
    ganglion::io::NodeOptions {
        link: ganglion::io::NodeLink::Udp("127.0.0.1:0".parse().expect("an address")),
        plant: "sim:cartpole".into(),
        seed: 0,
        clock: ganglion::io::NodeClock::Lockstep,
        backend: ganglion::io::NodeBackendKind::Host,
        max_steps,
        fault: None,
    }
}

/// xorshift64*: the same stream on every machine (the property tests'
/// adversarial policy outputs).
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}
