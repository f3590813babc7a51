//! `arm-reach`: the goal-conditioned reaching task the tabletop arm's policy
//! is trained on (PPO). The same rapier multibody arm as in the tabletop
//! world; a cup target drawn in the reachable workspace; actions are speed
//! commands for base, shoulder and elbow; the wrist keeps the cup pointing
//! down by its levelling servo ([`ArmGeometry::level_wrist_velocity`]), in training as
//! in the skills.
//!
//! Observation (13): `[sin q0, cos q0, q1, q2, q̇0, q̇1, q̇2, cup x, y, z,
//! 10·(target − cup)]` (rad, rad/s, m). Reward per step: `−‖e‖/0.1 +
//! 0.5/(1 + ‖e‖/0.005) − 0.01‖a‖²` with `e` the cup error after the step:
//! a distance cost, a bonus that sharpens near the target (it is what pulls
//! the final error under a centimetre), and a small effort cost so the arm
//! settles. Episodes are 75 steps (3 s), always truncated.

use rapier3d::prelude::*;

use super::arm::{self, ArmGeometry, ArmRig, HOME, TabletopArm};
use super::world::CONTROL_PERIOD;
use crate::env::{Env, StepResult};
use crate::rng::Rng;
use crate::space::{EnvSpec, Space};

pub const OBS_DIM: usize = 13;
pub const ACT_DIM: usize = 3;
const SUBSTEPS: usize = 4;
const EPISODE_STEPS: usize = 75;

/// Where reach targets are drawn: polar radius, angle and height (m, rad).
pub const TARGET_RADIUS: (f32, f32) = (0.2, 0.55);
pub const TARGET_ANGLE: f32 = 1.4;
pub const TARGET_HEIGHT: (f32, f32) = (0.02, 0.30);

pub struct ArmReach {
    spec: EnvSpec,
    physics: PhysicsWorld,
    rig: ArmRig,
    geometry: ArmGeometry,
    target: [f32; 3],
    steps: usize,
}

impl Default for ArmReach {
    fn default() -> Self {
        Self::new()
    }
}

impl ArmReach {
    /// The task on the shipped arm.
    pub fn new() -> ArmReach {
        ArmReach::with_arm(TabletopArm::shipped())
    }

    /// The task on the arm of another URDF.
    pub fn with_arm(arm_model: &TabletopArm) -> ArmReach {
        let mut physics = PhysicsWorld::new();
        physics.gravity = Vector::ZERO;
        physics.integration_parameters.dt = CONTROL_PERIOD / SUBSTEPS as f32;
        let rig = arm::build_arm(&mut physics, arm_model, HOME);
        let inf = f32::INFINITY;
        let spec = EnvSpec {
            name: "arm-reach".into(),
            observation: Space::Box {
                low: vec![-inf; OBS_DIM],
                high: vec![inf; OBS_DIM],
            },
            action: Space::uniform_box(ACT_DIM, -1.0, 1.0),
            max_episode_steps: EPISODE_STEPS,
            control_period: CONTROL_PERIOD,
        };
        ArmReach {
            spec,
            physics,
            rig,
            geometry: arm_model.geometry,
            target: [0.35, 0.0, 0.1],
            steps: 0,
        }
    }

    pub fn target(&self) -> [f32; 3] {
        self.target
    }

    pub fn cup(&self) -> [f32; 3] {
        arm::cup_position(&self.physics, &self.rig)
    }

    /// Starts from joint angles `q` at rest with cup target `target`.
    pub fn set_state(&mut self, q: [f32; 4], target: [f32; 3]) {
        arm::set_joint_angles(&mut self.physics, &self.rig, q);
        self.target = target;
        self.steps = 0;
    }

    /// A reachable cup target of arm `g` drawn from `rng`.
    pub fn draw_target(g: &ArmGeometry, rng: &mut Rng) -> [f32; 3] {
        loop {
            let r = rng.uniform(TARGET_RADIUS.0, TARGET_RADIUS.1);
            let a = rng.uniform(-TARGET_ANGLE, TARGET_ANGLE);
            let z = rng.uniform(TARGET_HEIGHT.0, TARGET_HEIGHT.1);
            let p = [r * a.cos(), r * a.sin(), z];
            if g.inverse_kinematics(p).is_some() {
                return p;
            }
        }
    }

    /// Initial joint angles and target of an episode: half the episodes
    /// start at home, half at the pose of another reachable target.
    pub fn initial_conditions(g: &ArmGeometry, seed: u64) -> ([f32; 4], [f32; 3]) {
        let mut rng = Rng::new(seed);
        let q = if rng.next_f32() < 0.5 {
            HOME
        } else {
            let p = Self::draw_target(g, &mut rng);
            g.inverse_kinematics(p).unwrap_or(HOME)
        };
        (q, Self::draw_target(g, &mut rng))
    }

    fn write_obs(&self, obs: &mut [f32]) {
        let q = arm::joint_angles(&self.physics, &self.rig);
        let v = arm::joint_velocities(&self.physics, &self.rig);
        let cup = self.cup();
        let o = observation(&q, &v, cup, self.target);
        let n = obs.len().min(OBS_DIM);
        obs[..n].copy_from_slice(&o[..n]);
    }
}

/// The reaching observation for a joint state, cup position and target.
pub fn observation(q: &[f32; 4], v: &[f32; 4], cup: [f32; 3], target: [f32; 3]) -> [f32; OBS_DIM] {
    let (s0, c0) = q[0].sin_cos();
    [
        s0,
        c0,
        q[1],
        q[2],
        v[0],
        v[1],
        v[2],
        cup[0],
        cup[1],
        cup[2],
        10.0 * (target[0] - cup[0]),
        10.0 * (target[1] - cup[1]),
        10.0 * (target[2] - cup[2]),
    ]
}

/// Joint speed commands (rad/s) of arm `g` for a reaching action in
/// [-1, 1]³ (clamped; non-finite → 0) at joint angles `q`: base, shoulder,
/// elbow from the action, the wrist from the levelling servo.
pub fn joint_command(g: &ArmGeometry, q: &[f32; 4], action: &[f32]) -> [f32; 4] {
    let mut a = [0.0f32; 3];
    for (slot, v) in a.iter_mut().zip(action) {
        *slot = if v.is_finite() {
            v.clamp(-1.0, 1.0)
        } else {
            0.0
        };
    }
    let v = a.map(|x| x * g.max_speed);
    [v[0], v[1], v[2], g.level_wrist_velocity(q, v[1], v[2])]
}

/// The distance (m) between two points.
pub fn distance(a: [f32; 3], b: [f32; 3]) -> f32 {
    (0..3).map(|k| (a[k] - b[k]).powi(2)).sum::<f32>().sqrt()
}

/// The reaching reward for a cup error `e` (m) and action `a`.
pub fn reach_reward(err: f32, a: &[f32]) -> f32 {
    let effort: f32 = a.iter().map(|x| x.clamp(-1.0, 1.0).powi(2)).sum();
    -err / 0.1 + 0.5 / (1.0 + err / 0.005) - 0.01 * effort
}

impl Env for ArmReach {
    fn spec(&self) -> &EnvSpec {
        &self.spec
    }

    fn reset(&mut self, seed: u64, obs: &mut [f32]) {
        let (q, target) = Self::initial_conditions(&self.geometry, seed);
        self.set_state(q, target);
        self.write_obs(obs);
    }

    fn step(&mut self, action: &[f32], obs: &mut [f32]) -> StepResult {
        let q = arm::joint_angles(&self.physics, &self.rig);
        let cmd = joint_command(&self.geometry, &q, action);
        arm::command_velocities(&mut self.physics, &self.rig, cmd);
        for _ in 0..SUBSTEPS {
            self.physics.step();
        }
        self.steps += 1;
        self.write_obs(obs);
        let err = distance(self.cup(), self.target);
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

    /// A resolved-rate controller through the same interface reaches the
    /// target: the task is solvable with these dynamics.
    #[test]
    fn jacobian_controller_reaches() {
        let mut env = ArmReach::new();
        let mut obs = [0.0; OBS_DIM];
        for seed in 0..5 {
            env.reset(seed, &mut obs);
            for _ in 0..EPISODE_STEPS {
                let q = arm::joint_angles(&env.physics, &env.rig);
                let goal = env.geometry.inverse_kinematics(env.target).unwrap();
                let a: Vec<f32> = (0..3)
                    .map(|k| 3.0 * (goal[k] - q[k]) / env.geometry.max_speed)
                    .collect();
                env.step(&a, &mut obs);
            }
            let err = distance(env.cup(), env.target);
            assert!(err < 0.005, "seed {seed}: final error {err}");
        }
    }
}
