//! The `Env` contract: what trainers and evaluators drive. An environment writes
//! its observation into a caller-owned buffer so stepping never allocates.

use crate::space::EnvSpec;

/// What one `step` returns besides the observation.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepResult {
    pub reward: f32,
    /// The episode reached a terminal state (the pole fell, the goal was reached).
    pub terminated: bool,
    /// The episode was cut by the step limit; the state is not terminal.
    pub truncated: bool,
}

impl StepResult {
    pub fn done(&self) -> bool {
        self.terminated || self.truncated
    }
}

/// A simulated task with Gymnasium-style semantics.
///
/// Actions are `&[f32]` of `spec().action.flat_dim()` values; a discrete action
/// carries its index in one slot. Environments are defensive: an out-of-range or
/// non-finite action is clamped (or treated as "no push"), never a panic; making
/// actions valid is the safety filter's job, upstream.
pub trait Env: Send {
    fn spec(&self) -> &EnvSpec;
    /// Starts a new episode whose initial state depends only on `seed`, and
    /// writes the first observation into `obs`.
    fn reset(&mut self, seed: u64, obs: &mut [f32]);
    /// Advances one control period.
    fn step(&mut self, action: &[f32], obs: &mut [f32]) -> StepResult;
}

/// Names accepted by [`make_env`].
/// Besides these, `reach:FILE[#LINK]` is the reaching task on a URDF arm
/// ([`crate::urdf::UrdfReach`]).
pub const ENV_NAMES: &[&str] = &["cartpole", "cartpole-continuous", "reacher", "arm-reach"];

/// Builds an environment by registry name.
pub fn make_env(name: &str) -> Result<Box<dyn Env>, UnknownEnv> {
    match name {
        "cartpole" => Ok(Box::new(crate::cartpole::CartPole::new(
            crate::cartpole::CartPoleConfig::default(),
        ))),
        "cartpole-continuous" => Ok(Box::new(crate::cartpole::CartPole::new(
            crate::cartpole::CartPoleConfig {
                continuous: true,
                ..Default::default()
            },
        ))),
        "reacher" => Ok(Box::new(crate::reacher::Reacher::new(
            crate::reacher::ReacherConfig::default(),
        ))),
        "arm-reach" => Ok(Box::new(crate::tabletop::ArmReach::new())),
        _ => match name.strip_prefix("reach:") {
            Some(spec) => crate::urdf::UrdfReach::from_spec(spec)
                .map(|e| Box::new(e) as Box<dyn Env>)
                .map_err(|why| UnknownEnv(format!("{name}: {why}"))),
            None => Err(UnknownEnv(name.to_string())),
        },
    }
}

/// Error for an environment name that is not in the registry.
#[derive(Debug, Clone, PartialEq)]
pub struct UnknownEnv(pub String);

impl std::fmt::Display for UnknownEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.starts_with("reach:") {
            // A URDF reaching task that could not be built: the reason.
            return write!(f, "environment {}", self.0);
        }
        write!(
            f,
            "unknown environment `{}` (known: {}, reach:FILE.urdf[#LINK])",
            self.0,
            ENV_NAMES.join(", ")
        )
    }
}

impl std::error::Error for UnknownEnv {}
