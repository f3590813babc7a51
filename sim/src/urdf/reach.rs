//! `reach:FILE[#LINK]`: the goal-conditioned reaching task on any URDF arm,
//! the task `arm-reach` is for the tabletop arm. The arm is the URDF's rig
//! with a velocity servo on every movable joint, its links gravity
//! compensated (as a servo with feed-forward would be); the tool is `LINK`
//! (default: the one leaf link). A target is the tool's position at joint
//! positions drawn within the limits, above the floor and away from the
//! base, so every target is reachable; half the episodes start at the
//! ready pose (every joint mid-range), half at another such pose.
//!
//! Observation (4n + 6 for n joints): `[q, sin q, cos q, q̇/v_max, tool
//! x, y, z, 10·(target − tool)]` (a prismatic joint's sine and cosine are
//! 0: it has no angle). Actions: n speed commands in [-1, 1], times each
//! joint's URDF velocity limit. Reward per step as `arm-reach`'s
//! ([`crate::tabletop::reach::reach_reward`]). Episodes are 100 steps (4 s:
//! a turn of the base by π at 1.5 rad/s takes 2 s).

use std::path::Path;

use rapier3d::prelude::*;

use super::{Chain, JointDrive, UrdfModel, UrdfRig, urdf_rs::JointType};
use crate::env::{Env, StepResult};
use crate::rng::Rng;
use crate::space::{EnvSpec, Space};
use crate::tabletop::reach::{distance, reach_reward};

/// How a reaching arm's joints take their commands (one kind for all).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DriveKind {
    /// Speeds (rad/s or m/s), reached at the servo gain.
    #[default]
    Velocity,
    /// Positions (rad or m), tracked by a stiff spring and damper.
    Position,
    /// Torques (N·m) or forces (N), within the effort limits.
    Effort,
}

impl DriveKind {
    pub const NAMES: &'static [&'static str] = &["velocity", "position", "effort"];

    pub fn parse(s: &str) -> Option<DriveKind> {
        match s {
            "velocity" => Some(DriveKind::Velocity),
            "position" => Some(DriveKind::Position),
            "effort" => Some(DriveKind::Effort),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DriveKind::Velocity => "velocity",
            DriveKind::Position => "position",
            DriveKind::Effort => "effort",
        }
    }

    /// The rig's drive: the servo gain for speeds; for positions a spring
    /// of GAIN²/4 and damper of GAIN (critically damped at the same rate).
    fn drive(self) -> JointDrive {
        match self {
            DriveKind::Velocity => JointDrive::Velocity { gain: GAIN },
            DriveKind::Position => JointDrive::Position {
                stiffness: GAIN * GAIN / 4.0,
                damping: GAIN,
            },
            DriveKind::Effort => JointDrive::Effort,
        }
    }
}

/// Control period (s), physics steps per period, steps per episode.
pub const CONTROL_PERIOD: f32 = 0.04;
const SUBSTEPS: usize = 4;
pub const EPISODE_STEPS: usize = 100;
/// Servo gain (1/s), as the tabletop arm's.
const GAIN: f32 = 200.0;
/// Targets: at least this high (m) and this far from the base axis (m).
const MIN_HEIGHT: f32 = 0.05;
const MIN_RADIUS: f32 = 0.15;
/// Observed values per joint: position, its sine and cosine, speed.
const OBS_PER_JOINT: usize = 4;
/// Observed values after the joints: tool position, error.
const OBS_TOOL: usize = 6;

pub struct UrdfReach {
    spec: EnvSpec,
    physics: PhysicsWorld,
    rig: UrdfRig,
    chain: Chain,
    /// Position limits (a continuous joint: ±π) and speed limits per joint.
    limits: Vec<[f32; 2]>,
    /// Whether each joint turns (its sine and cosine are observed).
    angular: Vec<bool>,
    speeds: Vec<f32>,
    q: Vec<f32>,
    v: Vec<f32>,
    cmd: Vec<f32>,
    target: [f32; 3],
    steps: usize,
}

impl UrdfReach {
    /// The task on `spec` = `FILE` or `FILE#LINK`.
    pub fn from_spec(spec: &str) -> Result<UrdfReach, String> {
        let (file, link) = match spec.split_once('#') {
            Some((f, l)) => (f, Some(l)),
            None => (spec, None),
        };
        let model = super::load(Path::new(file)).map_err(|e| e.to_string())?;
        UrdfReach::new(&model, link, format!("reach:{spec}"))
    }

    pub fn new(model: &UrdfModel, link: Option<&str>, name: String) -> Result<UrdfReach, String> {
        Self::with_drive(model, link, name, DriveKind::Velocity)
    }

    /// The task with every joint driven as `drive` says (the env's own
    /// actions are velocity commands: `new`; a plant may take others).
    pub fn with_drive(
        model: &UrdfModel,
        link: Option<&str>,
        name: String,
        drive: DriveKind,
    ) -> Result<UrdfReach, String> {
        let link = match link {
            Some(l) => l.to_string(),
            None => leaf(model)?,
        };
        let chain = Chain::new(model, &link)?;
        let n = model.actuated.len();
        if n == 0 || chain.joints().count() != n {
            return Err(format!(
                "{}: every movable joint must be on the chain to \"{link}\" ({} of {n} are)",
                model.file.display(),
                chain.joints().count()
            ));
        }
        let mut limits = Vec::with_capacity(n);
        let mut speeds = Vec::with_capacity(n);
        let mut angular = Vec::with_capacity(n);
        for name in &model.actuated {
            let j = model.robot.joints.iter().find(|j| &j.name == name);
            let j = j.ok_or_else(|| format!("joint \"{name}\" is not in the file"))?;
            angular.push(!matches!(j.joint_type, JointType::Prismatic));
            limits.push(match j.joint_type {
                JointType::Continuous => [-std::f32::consts::PI, std::f32::consts::PI],
                _ => [j.limit.lower as f32, j.limit.upper as f32],
            });
            let v = j.limit.velocity as f32;
            if v.is_nan() || v <= 0.0 {
                return Err(format!(
                    "{}: joint \"{name}\" needs a velocity limit above 0 (its speed command's scale)",
                    model.file.display()
                ));
            }
            speeds.push(v);
        }
        let mut physics = PhysicsWorld::new();
        physics.integration_parameters.dt = CONTROL_PERIOD / SUBSTEPS as f32;
        let rig = UrdfRig::build(&mut physics, model, &[drive.drive()])?;
        physics.gravity = Vector::ZERO;
        let inf = f32::INFINITY;
        let spec = EnvSpec {
            name,
            observation: Space::Box {
                low: vec![-inf; OBS_PER_JOINT * n + OBS_TOOL],
                high: vec![inf; OBS_PER_JOINT * n + OBS_TOOL],
            },
            action: Space::uniform_box(n, -1.0, 1.0),
            max_episode_steps: EPISODE_STEPS,
            control_period: CONTROL_PERIOD,
        };
        Ok(UrdfReach {
            spec,
            physics,
            rig,
            chain,
            limits,
            angular,
            speeds,
            q: vec![0.0; n],
            v: vec![0.0; n],
            cmd: vec![0.0; n],
            target: [0.0; 3],
            steps: 0,
        })
    }

    pub fn target(&self) -> [f32; 3] {
        self.target
    }

    /// The tool's position (m), from the simulated joint positions.
    pub fn tool(&self) -> [f32; 3] {
        self.chain.position(&self.q)
    }

    /// Joint positions within the limits (a margin of 0.05 inside) whose
    /// tool is a valid target.
    fn draw_pose(&self, rng: &mut Rng) -> Vec<f32> {
        loop {
            let q: Vec<f32> = self
                .limits
                .iter()
                .map(|[lo, hi]| rng.uniform(lo + 0.05, hi - 0.05))
                .collect();
            let p = self.chain.position(&q);
            if p[2] >= MIN_HEIGHT && p[0].hypot(p[1]) >= MIN_RADIUS {
                return q;
            }
        }
    }

    /// The ready pose: every joint at the middle of its range (a
    /// continuous joint at 0), an arm bent as if to start work.
    pub fn ready_pose(&self) -> Vec<f32> {
        self.limits.iter().map(|[lo, hi]| 0.5 * (lo + hi)).collect()
    }

    /// Starting pose and target of the episode of `seed`.
    pub fn initial_conditions(&self, seed: u64) -> (Vec<f32>, [f32; 3]) {
        let mut rng = Rng::new(seed);
        let start = if rng.next_f32() < 0.5 {
            self.ready_pose()
        } else {
            self.draw_pose(&mut rng)
        };
        let target = self.chain.position(&self.draw_pose(&mut rng));
        (start, target)
    }

    /// Number of movable joints.
    pub fn joints(&self) -> usize {
        self.q.len()
    }

    /// Each joint's velocity limit (what a speed action of 1 means).
    pub fn speed_limits(&self) -> &[f32] {
        &self.speeds
    }

    /// Starts episode `seed` (pose and target as the env's reset).
    pub fn start(&mut self, seed: u64) {
        let (start, target) = self.initial_conditions(seed);
        self.rig.set_positions(&mut self.physics, &start);
        self.target = target;
        self.steps = 0;
        self.read();
    }

    /// Applies physical commands (each as the drive reads it) for `dt`
    /// seconds of physics, in steps of the env's substep; returns the tool
    /// error (m) after.
    pub fn run_commands(&mut self, commands: &[f32], dt: f32) -> f32 {
        self.rig.command(&mut self.physics, commands);
        let h = self.physics.integration_parameters.dt;
        let n = (dt / h).round().max(1.0) as usize;
        for _ in 0..n {
            self.physics.step();
        }
        self.read();
        distance(self.tool(), self.target)
    }

    /// The current observation (the env's layout).
    pub fn observe(&self, obs: &mut [f32]) {
        self.write_obs(self.tool(), obs);
    }

    fn read(&mut self) {
        self.rig.positions(&self.physics, &mut self.q);
        self.rig.velocities(&self.physics, &mut self.v);
    }

    /// The observation, with `tool` the tool position the joints give.
    fn write_obs(&self, tool: [f32; 3], obs: &mut [f32]) {
        let n = self.q.len();
        let angles = self.q.iter().zip(&self.angular).flat_map(|(q, turns)| {
            let (sin, cos) = if *turns { q.sin_cos() } else { (0.0, 0.0) };
            [sin, cos]
        });
        let values = self
            .q
            .iter()
            .copied()
            .chain(angles)
            .chain(self.v.iter().zip(&self.speeds).map(|(v, max)| v / max))
            .chain(tool)
            .chain((0..3).map(|k| 10.0 * (self.target[k] - tool[k])));
        for (o, v) in obs.iter_mut().zip(values) {
            *o = v;
        }
        debug_assert!(obs.len() >= OBS_PER_JOINT * n + OBS_TOOL);
    }
}

/// The one leaf link of `model` (a link no joint starts from).
fn leaf(model: &UrdfModel) -> Result<String, String> {
    let leaves: Vec<&str> = model
        .robot
        .links
        .iter()
        .map(|l| l.name.as_str())
        .filter(|l| !model.robot.joints.iter().any(|j| j.parent.link == *l))
        .collect();
    match leaves.as_slice() {
        [one] => Ok(one.to_string()),
        many => Err(format!(
            "{}: {} leaf links ({}): name the tool, reach:FILE#LINK",
            model.file.display(),
            many.len(),
            many.join(", ")
        )),
    }
}

impl Env for UrdfReach {
    fn spec(&self) -> &EnvSpec {
        &self.spec
    }

    fn reset(&mut self, seed: u64, obs: &mut [f32]) {
        self.start(seed);
        self.write_obs(self.tool(), obs);
    }

    fn step(&mut self, action: &[f32], obs: &mut [f32]) -> StepResult {
        for ((c, a), max) in self.cmd.iter_mut().zip(action).zip(&self.speeds) {
            *c = if a.is_finite() {
                a.clamp(-1.0, 1.0) * max
            } else {
                0.0
            };
        }
        self.rig.command(&mut self.physics, &self.cmd);
        for _ in 0..SUBSTEPS {
            self.physics.step();
        }
        self.steps += 1;
        self.read();
        // Forward kinematics once per step: the observation and the reward.
        let tool = self.tool();
        self.write_obs(tool, obs);
        let err = distance(tool, self.target);
        StepResult {
            reward: reach_reward(err, action),
            terminated: false,
            truncated: self.steps >= EPISODE_STEPS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arm6() -> UrdfReach {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../robots/arm6.urdf");
        UrdfReach::from_spec(&path.to_string_lossy()).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Damped least squares on the FK Jacobian: joint speeds that move
    /// the tool towards the target.
    fn dls(env: &UrdfReach) -> Vec<f32> {
        let n = env.q.len();
        let tool = env.tool();
        let e: Vec<f64> = (0..3).map(|k| f64::from(env.target[k] - tool[k])).collect();
        let mut jac = vec![[0.0f64; 3]; n];
        for (i, col) in jac.iter_mut().enumerate() {
            let mut qp = env.q.clone();
            qp[i] += 1e-3;
            let p = env.chain.position(&qp);
            *col = [0, 1, 2].map(|k| f64::from(p[k] - tool[k]) / 1e-3);
        }
        // (J Jᵀ + λ²I) y = e, then Δq = Jᵀ y.
        let mut a = [[0.0f64; 3]; 3];
        for (r, row) in a.iter_mut().enumerate() {
            for (c, v) in row.iter_mut().enumerate() {
                *v = jac.iter().map(|col| col[r] * col[c]).sum::<f64>()
                    + if r == c { 1e-3 } else { 0.0 };
            }
        }
        let det = |m: &[[f64; 3]; 3]| {
            m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
                - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
                + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
        };
        let d = det(&a);
        let y: Vec<f64> = (0..3)
            .map(|k| {
                let mut m = a;
                for r in 0..3 {
                    m[r][k] = e[r];
                }
                det(&m) / d
            })
            .collect();
        (0..n)
            .map(|i| {
                let dq: f64 = (0..3).map(|k| jac[i][k] * y[k]).sum();
                (5.0 * dq) as f32 / env.speeds[i]
            })
            .collect()
    }

    /// Damped least squares through the same interface reaches the
    /// targets: the task is solvable on the six-joint arm.
    #[test]
    fn a_jacobian_controller_reaches_on_the_six_joint_arm() {
        let mut env = arm6();
        let n = env.q.len();
        assert_eq!(n, 6);
        let mut obs = vec![0.0; OBS_PER_JOINT * n + OBS_TOOL];
        let mut errs = Vec::new();
        for seed in 0..40 {
            env.reset(seed, &mut obs);
            for _ in 0..EPISODE_STEPS {
                let a = dls(&env);
                env.step(&a, &mut obs);
            }
            errs.push(distance(env.tool(), env.target));
        }
        let reached = errs.iter().filter(|e| **e < 0.01).count();
        assert!(reached >= 38, "{reached}/40 within 1 cm: {errs:?}");
        let e = UrdfReach::from_spec("missing.urdf")
            .err()
            .unwrap_or_default();
        assert!(e.contains("missing.urdf"), "{e}");
    }
}
