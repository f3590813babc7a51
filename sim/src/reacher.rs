//! Reacher on rapier3d: a planar two-link arm that must put its fingertip on a
//! random target, in the style of Gymnasium's Reacher (observation layout,
//! reward, ±0.1 rad initial angles, target uniform in a 0.2 m disc) but with
//! rapier dynamics and physical parameters of its own.
//!
//! The world: a fixed base; link 1 (0.1 m) on a revolute joint about z at the
//! origin; link 2 (0.11 m) on a revolute joint about z at the end of link 1,
//! limited to ±3.0 rad as in Gym (the links have no colliders, so the limit is
//! what stops link 2 folding through link 1). The arm lies in the horizontal
//! x–y plane and gravity is off: with both joints about z, gravity along z would
//! only load the joint constraints and does no work on the task.
//!
//! Physical parameters (see [`ReacherConfig::default`]): each link is a
//! uniform thin rod of 0.1 kg. Each joint has viscous damping of 0.01
//! N·m·s/rad, a force-based rapier velocity motor with target 0 (an implicit
//! damper). Actions are joint torques in [-1, 1] (clamped; NaN → 0) times a
//! gear of 0.05 N·m, so a full action spins a joint up to ~`gear / damping`
//! = 5 rad/s. Link 1's inertia about the base is 0.6–2.8 g·m² (arm folded –
//! stretched): 18–80 rad/s² at full torque, a 0.06–0.28 s damping time
//! constant; link 2's 0.40 g·m² about the elbow: 124 rad/s², 0.04 s. A
//! servo-like arm that crosses its workspace in well under a second at the
//! 0.02 s control period. (Gym puts 1 kg·m² of armature on each joint with
//! gear 200 and damping 1; the ratios differ, the task is the same.) The
//! solver runs 20 substeps (1 ms) per control step: with rapier's default
//! 4, the elbow's 0.04 s damper is integrated ~20% too stiffly.
//!
//! Observation (10-d, in this order):
//! `[cos θ1, cos θ2, sin θ1, sin θ2, target_x, target_y, θ̇1, θ̇2, dx, dy]`,
//! where θ2 is the elbow angle relative to link 1 and `(dx, dy)` = fingertip −
//! target (m). Reward per step, after the step: `−‖fingertip − target‖ −
//! 0.1·‖a‖²` with `a` the clamped action. Episodes are 200 steps (4 s),
//! always truncated, never terminated.

use rapier3d::prelude::*;

use crate::env::{Env, StepResult};
use crate::rng::Rng;
use crate::space::{EnvSpec, Space};

/// Observation width.
pub const OBS_DIM: usize = 10;

/// Physical and task parameters.
#[derive(Clone, Debug)]
pub struct ReacherConfig {
    /// Link lengths (m).
    pub link1_length: f32,
    pub link2_length: f32,
    /// Link masses (kg), each a uniform thin rod.
    pub link1_mass: f32,
    pub link2_mass: f32,
    /// Torque (N·m) for an action of 1.
    pub gear: f32,
    /// Viscous damping of each joint (N·m·s/rad).
    pub joint_damping: f32,
    /// Elbow (joint 2) limit, ± rad.
    pub joint2_limit: f32,
    /// Seconds per control step.
    pub control_period: f32,
    /// Physics pipeline steps per control step.
    pub substeps: usize,
    /// Solver iterations per physics step.
    pub solver_iterations: usize,
    pub max_episode_steps: usize,
    /// Initial joint angles are uniform in ±this (rad).
    pub init_angle_range: f32,
    /// Initial joint velocities are uniform in ±this (rad/s).
    pub init_velocity_range: f32,
    /// Targets are uniform in the disc of this radius (m).
    pub target_radius: f32,
    /// Weight of the squared action norm in the reward.
    pub ctrl_cost: f32,
}

impl Default for ReacherConfig {
    fn default() -> Self {
        ReacherConfig {
            link1_length: 0.1,
            link2_length: 0.11,
            link1_mass: 0.1,
            link2_mass: 0.1,
            gear: 0.05,
            joint_damping: 0.01,
            joint2_limit: 3.0,
            control_period: 0.02,
            substeps: 1,
            solver_iterations: 20,
            max_episode_steps: 200,
            init_angle_range: 0.1,
            init_velocity_range: 0.005,
            target_radius: 0.2,
            ctrl_cost: 0.1,
        }
    }
}

/// Joint state of the arm: absolute angle of link 1, elbow angle of link 2
/// relative to link 1 (rad, wrapped to (−π, π]), and their rates (rad/s).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ReacherState {
    pub theta1: f32,
    pub theta2: f32,
    pub omega1: f32,
    pub omega2: f32,
}

/// The rapier bodies of one arm.
struct Rig {
    world: PhysicsWorld,
    link1: RigidBodyHandle,
    link2: RigidBodyHandle,
}

pub struct Reacher {
    config: ReacherConfig,
    spec: EnvSpec,
    rig: Rig,
    target: [f32; 2],
    steps: usize,
}

impl Reacher {
    pub fn new(config: ReacherConfig) -> Self {
        let reach = config.link1_length + config.link2_length + config.target_radius;
        let r = config.target_radius;
        let inf = f32::INFINITY;
        let high = [1.0, 1.0, 1.0, 1.0, r, r, inf, inf, reach, reach];
        let spec = EnvSpec {
            name: "reacher".into(),
            observation: Space::Box {
                low: high.iter().map(|h| -h).collect(),
                high: high.to_vec(),
            },
            action: Space::uniform_box(2, -1.0, 1.0),
            max_episode_steps: config.max_episode_steps,
            control_period: config.control_period,
        };
        let rig = build_rig(&config, ReacherState::default());
        Reacher {
            config,
            spec,
            rig,
            target: [0.1, 0.0],
            steps: 0,
        }
    }

    pub fn config(&self) -> &ReacherConfig {
        &self.config
    }

    pub fn target(&self) -> [f32; 2] {
        self.target
    }

    /// Reads the joint state back from the rapier bodies.
    pub fn state(&self) -> ReacherState {
        let l1 = &self.rig.world.bodies[self.rig.link1];
        let l2 = &self.rig.world.bodies[self.rig.link2];
        let x1 = *l1.rotation() * Vector::X;
        let x2 = *l2.rotation() * Vector::X;
        let theta1 = x1.y.atan2(x1.x);
        let phi2 = x2.y.atan2(x2.x);
        ReacherState {
            theta1,
            theta2: wrap_angle(phi2 - theta1),
            omega1: l1.angvel().z,
            omega2: l2.angvel().z - l1.angvel().z,
        }
    }

    /// Fingertip position (m) from the joint angles.
    pub fn fingertip(&self) -> [f32; 2] {
        fingertip(&self.config, &self.state())
    }

    /// Puts the arm in `state` with `target` (a fresh world, so nothing from
    /// the previous episode leaks into the next one).
    pub fn set_state(&mut self, state: ReacherState, target: [f32; 2]) {
        self.rig = build_rig(&self.config, state);
        self.target = target;
        self.steps = 0;
    }

    /// Draws an episode's initial state and target from `seed`, as Gym does:
    /// angles, then velocities, then the target by rejection from the square.
    pub fn initial_conditions(config: &ReacherConfig, seed: u64) -> (ReacherState, [f32; 2]) {
        let mut rng = Rng::new(seed);
        let a = config.init_angle_range;
        let v = config.init_velocity_range;
        let state = ReacherState {
            theta1: rng.uniform(-a, a),
            theta2: rng.uniform(-a, a),
            omega1: rng.uniform(-v, v),
            omega2: rng.uniform(-v, v),
        };
        let r = config.target_radius;
        let target = loop {
            let t = [rng.uniform(-r, r), rng.uniform(-r, r)];
            if t[0] * t[0] + t[1] * t[1] < r * r {
                break t;
            }
        };
        (state, target)
    }

    /// Joint torques (N·m) for an action: clamped to [-1, 1] per joint, a
    /// non-finite or missing entry is 0. Returns the clamped action too.
    pub fn clamp_action(action: &[f32]) -> [f32; 2] {
        let mut a = [0.0; 2];
        for (slot, v) in a.iter_mut().zip(action) {
            *slot = if v.is_finite() {
                v.clamp(-1.0, 1.0)
            } else {
                0.0
            };
        }
        a
    }

    /// Applies joint torques (N·m) for `dt` seconds.
    pub fn advance_for(&mut self, torques: [f32; 2], dt: f32) {
        let bodies = &mut self.rig.world.bodies;
        // Forces persist across rapier steps: clear before adding this period's.
        // Joint 1 acts on link 1 against the fixed base; joint 2 acts on link 2
        // and reacts on link 1.
        let l1 = &mut bodies[self.rig.link1];
        l1.reset_torques(false);
        l1.add_torque(Vector::new(0.0, 0.0, torques[0] - torques[1]), true);
        let l2 = &mut bodies[self.rig.link2];
        l2.reset_torques(false);
        l2.add_torque(Vector::new(0.0, 0.0, torques[1]), true);
        let substeps = self.config.substeps.max(1);
        self.rig.world.integration_parameters.dt = dt / substeps as f32;
        for _ in 0..substeps {
            self.rig.world.step();
        }
    }

    /// The task reward for a clamped action in the current state.
    pub fn reward(&self, clamped: [f32; 2]) -> f32 {
        task_reward(&self.config, self.fingertip(), self.target, clamped)
    }

    fn write_obs(&self, obs: &mut [f32]) {
        let s = self.state();
        let tip = fingertip(&self.config, &s);
        let o = observation(&s, self.target, tip);
        let n = obs.len().min(OBS_DIM);
        obs[..n].copy_from_slice(&o[..n]);
    }
}

/// `−‖tip − target‖ − ctrl_cost·‖a‖²`.
pub fn task_reward(config: &ReacherConfig, tip: [f32; 2], target: [f32; 2], a: [f32; 2]) -> f32 {
    let d = (tip[0] - target[0]).hypot(tip[1] - target[1]);
    -d - config.ctrl_cost * (a[0] * a[0] + a[1] * a[1])
}

/// The observation vector for a state, target and fingertip.
pub fn observation(s: &ReacherState, target: [f32; 2], tip: [f32; 2]) -> [f32; OBS_DIM] {
    let (s1, c1) = s.theta1.sin_cos();
    let (s2, c2) = s.theta2.sin_cos();
    [
        c1,
        c2,
        s1,
        s2,
        target[0],
        target[1],
        s.omega1,
        s.omega2,
        tip[0] - target[0],
        tip[1] - target[1],
    ]
}

/// Forward kinematics of the fingertip (m).
pub fn fingertip(config: &ReacherConfig, s: &ReacherState) -> [f32; 2] {
    let (s1, c1) = s.theta1.sin_cos();
    let (s12, c12) = (s.theta1 + s.theta2).sin_cos();
    [
        config.link1_length * c1 + config.link2_length * c12,
        config.link1_length * s1 + config.link2_length * s12,
    ]
}

/// A reference controller from the observation alone: Jacobian-transpose
/// force towards the target plus joint-velocity damping, as an action in
/// [-1, 1]. Gains are tuned for the default config (it reaches within 0.02 m
/// in at most 128 steps on the first 1000 evaluation seeds).
pub fn jacobian_transpose_action(config: &ReacherConfig, obs: &[f32]) -> [f32; 2] {
    const KP: f32 = 600.0;
    const KD: f32 = 0.2;
    if obs.len() < OBS_DIM || obs.iter().any(|v| !v.is_finite()) {
        return [0.0; 2];
    }
    let theta1 = obs[2].atan2(obs[0]);
    let theta2 = obs[3].atan2(obs[1]);
    let (s1, c1) = theta1.sin_cos();
    let (s12, c12) = (theta1 + theta2).sin_cos();
    let (l1, l2) = (config.link1_length, config.link2_length);
    // J = ∂tip/∂θ; the force −KP·d maps to joint torques Jᵀ(−KP·d).
    let j = [
        [-l1 * s1 - l2 * s12, -l2 * s12],
        [l1 * c1 + l2 * c12, l2 * c12],
    ];
    let (dx, dy) = (obs[8], obs[9]);
    let t1 = -KP * (j[0][0] * dx + j[1][0] * dy) - KD * obs[6];
    let t2 = -KP * (j[0][1] * dx + j[1][1] * dy) - KD * obs[7];
    [t1.clamp(-1.0, 1.0), t2.clamp(-1.0, 1.0)]
}

/// Wraps an angle to (−π, π].
fn wrap_angle(a: f32) -> f32 {
    let w = a.sin().atan2(a.cos());
    if w <= -std::f32::consts::PI {
        w + std::f32::consts::TAU
    } else {
        w
    }
}

fn build_rig(config: &ReacherConfig, s: ReacherState) -> Rig {
    let mut world = PhysicsWorld::new();
    world.gravity = Vector::ZERO;
    world.integration_parameters.dt = config.control_period / config.substeps.max(1) as f32;
    world.integration_parameters.num_solver_iterations = config.solver_iterations.max(1);

    let base = world.insert_body(RigidBodyBuilder::fixed());
    // Each link's body frame sits at its proximal joint, x along the link; the
    // centre of mass is half-way. No colliders: the task has no contacts.
    let rod = |mass: f32, length: f32| {
        let i = mass * length * length / 12.0;
        MassProperties::new(
            Vector::new(length * 0.5, 0.0, 0.0),
            mass,
            Vector::new(i * 1e-2, i, i),
        )
    };
    let (l1, l2) = (config.link1_length, config.link2_length);
    let z = |w: f32| Vector::new(0.0, 0.0, w);
    let rot1 = Rotation::from_rotation_z(s.theta1);
    let rot2 = Rotation::from_rotation_z(s.theta1 + s.theta2);
    let elbow = rot1 * Vector::new(l1, 0.0, 0.0);
    let w1 = s.omega1;
    let w2 = s.omega1 + s.omega2;
    // rapier's linear velocity is the centre of mass's.
    let link1 = world.insert_body(
        RigidBodyBuilder::dynamic()
            .pose(Pose::from_parts(Vector::ZERO, rot1))
            .linvel(z(w1).cross(rot1 * Vector::new(l1 * 0.5, 0.0, 0.0)))
            .angvel(z(w1))
            .can_sleep(false)
            .additional_mass_properties(rod(config.link1_mass, l1)),
    );
    let link2 = world.insert_body(
        RigidBodyBuilder::dynamic()
            .pose(Pose::from_parts(elbow, rot2))
            .linvel(z(w1).cross(elbow) + z(w2).cross(rot2 * Vector::new(l2 * 0.5, 0.0, 0.0)))
            .angvel(z(w2))
            .can_sleep(false)
            .additional_mass_properties(rod(config.link2_mass, l2)),
    );
    let damper = |b: RevoluteJointBuilder| {
        let b = b.contacts_enabled(false);
        // A zero damping factor would make the motor a rigid velocity lock.
        if config.joint_damping > 0.0 {
            b.motor_model(MotorModel::ForceBased)
                .motor_velocity(0.0, config.joint_damping)
        } else {
            b
        }
    };
    world.insert_impulse_joint(base, link1, damper(RevoluteJointBuilder::new(Vector::Z)));
    world.insert_impulse_joint(
        link1,
        link2,
        damper(
            RevoluteJointBuilder::new(Vector::Z)
                .local_anchor1(Vector::new(l1, 0.0, 0.0))
                .limits([-config.joint2_limit, config.joint2_limit]),
        ),
    );
    Rig {
        world,
        link1,
        link2,
    }
}

impl Env for Reacher {
    fn spec(&self) -> &EnvSpec {
        &self.spec
    }

    fn reset(&mut self, seed: u64, obs: &mut [f32]) {
        let (state, target) = Self::initial_conditions(&self.config, seed);
        self.set_state(state, target);
        self.write_obs(obs);
    }

    fn step(&mut self, action: &[f32], obs: &mut [f32]) -> StepResult {
        let a = Self::clamp_action(action);
        let g = self.config.gear;
        self.advance_for([a[0] * g, a[1] * g], self.config.control_period);
        self.steps += 1;
        self.write_obs(obs);
        StepResult {
            reward: self.reward(a),
            terminated: false,
            truncated: self.steps >= self.config.max_episode_steps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::derive_seed;

    fn episode(seed: u64, mut policy: impl FnMut(&[f32]) -> [f32; 2]) -> (f32, Vec<f32>) {
        let mut env = Reacher::new(ReacherConfig::default());
        let mut obs = [0.0; OBS_DIM];
        env.reset(seed, &mut obs);
        let mut trace = obs.to_vec();
        let mut total = 0.0;
        for k in 0..200 {
            let r = env.step(&policy(&obs), &mut obs);
            assert!(!r.terminated);
            assert_eq!(r.truncated, k == 199);
            total += r.reward;
            trace.extend_from_slice(&obs);
        }
        (total, trace)
    }

    #[test]
    fn seeded_episodes_are_deterministic() {
        let wiggle = |o: &[f32]| [o[0].sin(), -o[3]];
        let a = episode(5, wiggle);
        assert_eq!(a, episode(5, wiggle));
        assert_ne!(a.1[..OBS_DIM], episode(6, wiggle).1[..OBS_DIM]);
        // A reset after another episode is a fresh world.
        let mut env = Reacher::new(ReacherConfig::default());
        let mut obs = [0.0; OBS_DIM];
        env.reset(9, &mut obs);
        for _ in 0..50 {
            env.step(&[1.0, -1.0], &mut obs);
        }
        env.reset(5, &mut obs);
        assert_eq!(obs[..], a.1[..OBS_DIM]);
        let mut trace = obs.to_vec();
        let mut total = 0.0;
        for _ in 0..200 {
            total += env.step(&wiggle(&obs), &mut obs).reward;
            trace.extend_from_slice(&obs);
        }
        assert_eq!((total, trace), a);
    }

    #[test]
    fn initial_conditions_and_observation_layout() {
        let cfg = ReacherConfig::default();
        let mut env = Reacher::new(cfg.clone());
        let mut obs = [0.0; OBS_DIM];
        for k in 0..200 {
            let seed = derive_seed(1, k);
            env.reset(seed, &mut obs);
            let (s0, t) = Reacher::initial_conditions(&cfg, seed);
            assert!(s0.theta1.abs() <= 0.1 && s0.theta2.abs() <= 0.1);
            assert!(s0.omega1.abs() <= 0.005 && s0.omega2.abs() <= 0.005);
            assert!(t[0].hypot(t[1]) < 0.2);
            let s = env.state();
            assert!((s.theta1 - s0.theta1).abs() < 1e-5 && (s.theta2 - s0.theta2).abs() < 1e-5);
            assert!((s.omega1 - s0.omega1).abs() < 1e-5 && (s.omega2 - s0.omega2).abs() < 1e-5);
            let tip = env.fingertip();
            let want = [
                s.theta1.cos(),
                s.theta2.cos(),
                s.theta1.sin(),
                s.theta2.sin(),
                t[0],
                t[1],
                s.omega1,
                s.omega2,
                tip[0] - t[0],
                tip[1] - t[1],
            ];
            assert_eq!(obs, want);
            assert!(env.spec().observation.contains(&obs));
        }
    }

    /// With zero torque the arm stays where it starts (its ±0.005 rad/s
    /// initial spin decays under damping), so the return is −200 × the
    /// initial fingertip–target distance.
    #[test]
    fn zero_torque_return() {
        let cfg = ReacherConfig::default();
        for seed in [0, 1, 2, 3] {
            let (s, t) = Reacher::initial_conditions(&cfg, seed);
            let tip = fingertip(&cfg, &s);
            let want = -200.0 * (tip[0] - t[0]).hypot(tip[1] - t[1]);
            let (got, _) = episode(seed, |_| [0.0, 0.0]);
            assert!((got - want).abs() < 0.05, "seed {seed}: {got} vs {want}");
        }
        // One fixed number, to catch any change of the task.
        let (r0, _) = episode(0, |_| [0.0, 0.0]);
        assert!((r0 - -7.616).abs() < 0.01, "{r0}");
    }

    #[test]
    fn bad_actions_do_not_panic() {
        let mut env = Reacher::new(ReacherConfig::default());
        let mut obs = [0.0; OBS_DIM];
        env.reset(0, &mut obs);
        let nan = env.step(&[f32::NAN, f32::INFINITY], &mut obs);
        env.step(&[], &mut obs);
        env.step(&[0.5], &mut obs);
        env.step(&[0.5, 0.5, 9.0], &mut obs);
        let big = env.step(&[7.0, -7.0], &mut obs);
        assert!(obs.iter().all(|v| v.is_finite()));
        // Non-finite entries count as 0; out-of-range ones as ±1.
        let d = obs[8].hypot(obs[9]);
        assert!((big.reward - (-d - 0.2)).abs() < 1e-6, "{big:?}");
        assert!(nan.reward.is_finite() && nan.reward < 0.0);
        // A short observation buffer gets a prefix.
        env.reset(1, &mut obs[..3]);
        env.step(&[0.0, 0.0], &mut obs[..3]);
    }

    /// The reference controller reaches every target of the first 50
    /// evaluation seeds within 200 steps: the arm is controllable.
    #[test]
    fn jacobian_transpose_controller_reaches_the_target() {
        let cfg = ReacherConfig::default();
        let mut env = Reacher::new(cfg.clone());
        let mut obs = [0.0; OBS_DIM];
        for k in 0..50 {
            env.reset(derive_seed(0, k), &mut obs);
            let start = obs[8].hypot(obs[9]);
            let reached = (0..200).find(|_| {
                env.step(&jacobian_transpose_action(&cfg, &obs), &mut obs);
                obs[8].hypot(obs[9]) < 0.02
            });
            assert!(reached.is_some(), "episode {k}: from {start} m");
        }
    }

    /// rapier's arm follows the textbook two-link dynamics
    /// M(θ)θ̈ + C(θ, θ̇)θ̇ = τ − bθ̇ (integrated here with small Euler steps)
    /// over a short horizon: torques, damping and inertias are as documented.
    #[test]
    fn matches_analytic_dynamics() {
        for joint_damping in [0.01, 0.0] {
            let cfg = ReacherConfig {
                joint_damping,
                ..Default::default()
            };
            let mut env = Reacher::new(cfg.clone());
            let start = ReacherState {
                theta1: 0.3,
                theta2: 0.8,
                omega1: 1.0,
                omega2: -2.0,
            };
            env.set_state(start, [0.1, 0.0]);
            let (m1, m2) = (cfg.link1_mass, cfg.link2_mass);
            let (l1, l2) = (cfg.link1_length, cfg.link2_length);
            let (c1, c2) = (l1 / 2.0, l2 / 2.0);
            let (i1, i2) = (m1 * l1 * l1 / 12.0, m2 * l2 * l2 / 12.0);
            let b = cfg.joint_damping;
            let mut s = start;
            let h = 1e-5;
            for k in 0..10 {
                let tau = if k % 2 == 0 {
                    [0.05, -0.03]
                } else {
                    [-0.02, 0.05]
                };
                env.advance_for(tau, cfg.control_period);
                for _ in 0..(cfg.control_period / h).round() as usize {
                    let (sn, cs) = s.theta2.sin_cos();
                    let m11 =
                        m1 * c1 * c1 + i1 + m2 * (l1 * l1 + c2 * c2 + 2.0 * l1 * c2 * cs) + i2;
                    let m12 = m2 * (c2 * c2 + l1 * c2 * cs) + i2;
                    let m22 = m2 * c2 * c2 + i2;
                    let hh = m2 * l1 * c2 * sn;
                    let f1 = tau[0] - b * s.omega1 + hh * (2.0 * s.omega1 + s.omega2) * s.omega2;
                    let f2 = tau[1] - b * s.omega2 - hh * s.omega1 * s.omega1;
                    let det = m11 * m22 - m12 * m12;
                    let a1 = (m22 * f1 - m12 * f2) / det;
                    let a2 = (m11 * f2 - m12 * f1) / det;
                    s.theta1 += h * s.omega1;
                    s.theta2 += h * s.omega2;
                    s.omega1 += h * a1;
                    s.omega2 += h * a2;
                }
            }
            let r = env.state();
            assert!((r.theta1 - s.theta1).abs() < 0.01, "{r:?} vs {s:?}");
            assert!((r.theta2 - s.theta2).abs() < 0.01, "{r:?} vs {s:?}");
            assert!((r.omega1 - s.omega1).abs() < 0.15, "{r:?} vs {s:?}");
            assert!((r.omega2 - s.omega2).abs() < 0.15, "{r:?} vs {s:?}");
        }
    }
}
