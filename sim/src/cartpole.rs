//! CartPole on rapier3d: a cart on a prismatic joint along x and a pole on a
//! revolute joint about z, with CartPole-v1 semantics (observation, reward,
//! termination, 500-step truncation, ±0.05 initial state) so scores compare with
//! Gymnasium. The dynamics are rapier's, not the analytic Gym equations.
//!
//! Masses and lengths follow Gym: cart 1.0 kg, pole 0.1 kg, pole 1.0 m long
//! (Gym's `length = 0.5` is the half-length; its 4/3 factor is a uniform rod about
//! its end, which is what we build), gravity 9.8 m/s², push 10 N, no friction.

use rapier3d::prelude::*;

use crate::env::{Env, StepResult};
use crate::rng::Rng;
use crate::space::{EnvSpec, Space};

/// Physical and task parameters.
#[derive(Clone, Debug)]
pub struct CartPoleConfig {
    /// Continuous force action in [-1, 1] × `force_mag` instead of {left, right}.
    pub continuous: bool,
    pub force_mag: f32,
    pub cart_mass: f32,
    pub pole_mass: f32,
    /// Full pole length (m); the pivot is at one end.
    pub pole_length: f32,
    pub gravity: f32,
    /// Seconds per control step (Gym's `tau`).
    pub control_period: f32,
    /// Physics pipeline steps per control step.
    pub substeps: usize,
    /// Solver iterations per physics step (rapier's internal substeps).
    pub solver_iterations: usize,
    pub theta_limit: f32,
    pub x_limit: f32,
    pub max_episode_steps: usize,
    /// Initial state is uniform in ±this, per component.
    pub init_range: f32,
}

impl Default for CartPoleConfig {
    fn default() -> Self {
        CartPoleConfig {
            continuous: false,
            force_mag: 10.0,
            cart_mass: 1.0,
            pole_mass: 0.1,
            pole_length: 1.0,
            gravity: 9.8,
            control_period: 0.02,
            substeps: 1,
            solver_iterations: 4,
            theta_limit: 12.0 * 2.0 * std::f32::consts::PI / 360.0,
            x_limit: 2.4,
            max_episode_steps: 500,
            init_range: 0.05,
        }
    }
}

/// The cart-pole state in Gym's order and sign convention: theta > 0 means the
/// pole leans towards +x.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CartPoleState {
    pub x: f32,
    pub x_dot: f32,
    pub theta: f32,
    pub theta_dot: f32,
}

impl CartPoleState {
    pub fn as_array(&self) -> [f32; 4] {
        [self.x, self.x_dot, self.theta, self.theta_dot]
    }
}

/// The rapier bodies of one cart-pole.
struct Rig {
    world: PhysicsWorld,
    cart: RigidBodyHandle,
    pole: RigidBodyHandle,
}

pub struct CartPole {
    config: CartPoleConfig,
    spec: EnvSpec,
    rig: Rig,
    steps: usize,
}

impl CartPole {
    pub fn new(config: CartPoleConfig) -> Self {
        let high = [
            config.x_limit * 2.0,
            f32::INFINITY,
            config.theta_limit * 2.0,
            f32::INFINITY,
        ];
        let spec = EnvSpec {
            name: if config.continuous {
                "cartpole-continuous".into()
            } else {
                "cartpole".into()
            },
            observation: Space::Box {
                low: high.iter().map(|h| -h).collect(),
                high: high.to_vec(),
            },
            action: if config.continuous {
                Space::uniform_box(1, -1.0, 1.0)
            } else {
                Space::Discrete { n: 2 }
            },
            max_episode_steps: config.max_episode_steps,
            control_period: config.control_period,
        };
        let rig = build_rig(&config, CartPoleState::default());
        CartPole {
            config,
            spec,
            rig,
            steps: 0,
        }
    }

    pub fn config(&self) -> &CartPoleConfig {
        &self.config
    }

    /// Reads the state back from the rapier bodies.
    pub fn state(&self) -> CartPoleState {
        let cart = &self.rig.world.bodies[self.rig.cart];
        let pole = &self.rig.world.bodies[self.rig.pole];
        let up = *pole.rotation() * Vector::Y;
        CartPoleState {
            x: cart.translation().x,
            x_dot: cart.linvel().x,
            theta: up.x.atan2(up.y),
            theta_dot: -pole.angvel().z,
        }
    }

    /// Puts the bodies in `state` (a fresh world, so nothing from the previous
    /// episode — warm-start impulses, islands — leaks into the next one).
    pub fn set_state(&mut self, state: CartPoleState) {
        self.rig = build_rig(&self.config, state);
        self.steps = 0;
    }

    /// Horizontal force (N) on the cart for an action, defensively mapped.
    fn force_for(&self, action: &[f32]) -> f32 {
        let a = action.first().copied().unwrap_or(0.0);
        if self.config.continuous {
            if a.is_finite() {
                a.clamp(-1.0, 1.0) * self.config.force_mag
            } else {
                0.0
            }
        } else if a >= 0.5 {
            self.config.force_mag
        } else if a.is_finite() {
            -self.config.force_mag
        } else {
            0.0
        }
    }

    /// Applies a horizontal force for one control period.
    pub fn advance(&mut self, force: f32) {
        self.advance_for(force, self.config.control_period);
    }

    /// Applies a horizontal force for `dt` seconds (the runtime's period may
    /// differ from the training period).
    pub fn advance_for(&mut self, force: f32, dt: f32) {
        let cart = &mut self.rig.world.bodies[self.rig.cart];
        // Forces persist across rapier steps: clear before adding this period's.
        cart.reset_forces(false);
        cart.add_force(Vector::new(force, 0.0, 0.0), true);
        let substeps = self.config.substeps.max(1);
        self.rig.world.integration_parameters.dt = dt / substeps as f32;
        for _ in 0..substeps {
            self.rig.world.step();
        }
    }

    fn write_obs(&self, obs: &mut [f32]) {
        let s = self.state().as_array();
        let n = obs.len().min(4);
        obs[..n].copy_from_slice(&s[..n]);
    }
}

fn build_rig(config: &CartPoleConfig, s: CartPoleState) -> Rig {
    let mut world = PhysicsWorld::new();
    world.gravity = Vector::new(0.0, -config.gravity, 0.0);
    world.integration_parameters.dt = config.control_period / config.substeps.max(1) as f32;
    world.integration_parameters.num_solver_iterations = config.solver_iterations.max(1);

    let ground = world.insert_body(RigidBodyBuilder::fixed());
    // No colliders: the task has no contacts, and the joints carry the geometry.
    let cart = world.insert_body(
        RigidBodyBuilder::dynamic()
            .translation(Vector::new(s.x, 0.0, 0.0))
            .linvel(Vector::new(s.x_dot, 0.0, 0.0))
            .can_sleep(false)
            .additional_mass_properties(MassProperties::new(
                Vector::ZERO,
                config.cart_mass,
                Vector::splat(0.1),
            )),
    );
    let half = config.pole_length * 0.5;
    let rod_inertia = config.pole_mass * config.pole_length * config.pole_length / 12.0;
    // The pole's body frame sits at the pivot; its centre of mass is half-way up.
    let rotation = Rotation::from_rotation_z(-s.theta);
    let com_offset = rotation * Vector::new(0.0, half, 0.0);
    let omega = Vector::new(0.0, 0.0, -s.theta_dot);
    let pole_linvel = Vector::new(s.x_dot, 0.0, 0.0) + omega.cross(com_offset);
    let pole = world.insert_body(
        RigidBodyBuilder::dynamic()
            .pose(Pose::from_parts(Vector::new(s.x, 0.0, 0.0), rotation))
            .linvel(pole_linvel)
            .angvel(omega)
            .can_sleep(false)
            .additional_mass_properties(MassProperties::new(
                Vector::new(0.0, half, 0.0),
                config.pole_mass,
                Vector::new(rod_inertia, rod_inertia * 1e-2, rod_inertia),
            )),
    );
    world.insert_impulse_joint(
        ground,
        cart,
        PrismaticJointBuilder::new(Vector::X).contacts_enabled(false),
    );
    world.insert_impulse_joint(
        cart,
        pole,
        RevoluteJointBuilder::new(Vector::Z).contacts_enabled(false),
    );
    Rig { world, cart, pole }
}

impl Env for CartPole {
    fn spec(&self) -> &EnvSpec {
        &self.spec
    }

    fn reset(&mut self, seed: u64, obs: &mut [f32]) {
        let mut rng = Rng::new(seed);
        let r = self.config.init_range;
        let state = CartPoleState {
            x: rng.uniform(-r, r),
            x_dot: rng.uniform(-r, r),
            theta: rng.uniform(-r, r),
            theta_dot: rng.uniform(-r, r),
        };
        self.set_state(state);
        self.write_obs(obs);
    }

    fn step(&mut self, action: &[f32], obs: &mut [f32]) -> StepResult {
        let force = self.force_for(action);
        self.advance(force);
        self.steps += 1;
        let s = self.state();
        let fallen = s.x.abs() > self.config.x_limit
            || s.theta.abs() > self.config.theta_limit
            || !s.x.is_finite()
            || !s.theta.is_finite();
        self.write_obs(obs);
        StepResult {
            reward: 1.0,
            terminated: fallen,
            truncated: !fallen && self.steps >= self.config.max_episode_steps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_state_reads_back() {
        let mut env = CartPole::new(CartPoleConfig::default());
        let s = CartPoleState {
            x: 0.3,
            x_dot: -0.2,
            theta: 0.1,
            theta_dot: 0.4,
        };
        env.set_state(s);
        let r = env.state();
        for (a, b) in r.as_array().iter().zip(s.as_array()) {
            assert!((a - b).abs() < 1e-5, "{r:?} vs {s:?}");
        }
    }

    #[test]
    fn pole_falls_the_way_it_leans() {
        let mut env = CartPole::new(CartPoleConfig::default());
        env.set_state(CartPoleState {
            theta: 0.05,
            ..Default::default()
        });
        for _ in 0..10 {
            env.advance(0.0);
        }
        let s = env.state();
        assert!(s.theta > 0.05 && s.theta_dot > 0.0, "{s:?}");
        // Momentum: the cart recoils the other way.
        assert!(s.x_dot < 0.0, "{s:?}");
    }

    /// The rapier dynamics agree with the analytic CartPole equations (which Gym
    /// integrates with explicit Euler) to within integration error over a short
    /// horizon.
    #[test]
    fn matches_analytic_dynamics() {
        let cfg = CartPoleConfig::default();
        let mut env = CartPole::new(cfg.clone());
        let start = CartPoleState {
            theta: 0.03,
            theta_dot: -0.1,
            ..Default::default()
        };
        env.set_state(start);
        let mut a = start;
        let h = 1e-4;
        for k in 0..10 {
            let force = if k % 2 == 0 { 10.0 } else { -10.0 };
            env.advance(force);
            for _ in 0..(cfg.control_period / h).round() as usize {
                let (xacc, thacc) = analytic(&cfg, &a, force);
                a.x += h * a.x_dot;
                a.x_dot += h * xacc;
                a.theta += h * a.theta_dot;
                a.theta_dot += h * thacc;
            }
        }
        let r = env.state();
        assert!((r.theta - a.theta).abs() < 2e-3, "{r:?} vs {a:?}");
        assert!((r.theta_dot - a.theta_dot).abs() < 2e-2, "{r:?} vs {a:?}");
        assert!((r.x - a.x).abs() < 2e-3, "{r:?} vs {a:?}");
        assert!((r.x_dot - a.x_dot).abs() < 2e-2, "{r:?} vs {a:?}");
    }

    fn analytic(c: &CartPoleConfig, s: &CartPoleState, force: f32) -> (f32, f32) {
        let total = c.cart_mass + c.pole_mass;
        let l = c.pole_length * 0.5;
        let pml = c.pole_mass * l;
        let (sin, cos) = s.theta.sin_cos();
        let temp = (force + pml * s.theta_dot * s.theta_dot * sin) / total;
        let thacc =
            (c.gravity * sin - cos * temp) / (l * (4.0 / 3.0 - c.pole_mass * cos * cos / total));
        let xacc = temp - pml * thacc * cos / total;
        (xacc, thacc)
    }

    #[test]
    fn episode_semantics() {
        let mut env = CartPole::new(CartPoleConfig::default());
        let mut obs = [0.0; 4];
        env.reset(3, &mut obs);
        assert!(obs.iter().all(|v| v.abs() <= 0.05 + 1e-6));
        let mut first = [0.0; 4];
        env.reset(3, &mut first);
        assert_eq!(obs, first, "same seed, same start");
        // Always pushing right topples the pole well before the step limit.
        let mut n = 0;
        loop {
            let r = env.step(&[1.0], &mut obs);
            n += 1;
            assert_eq!(r.reward, 1.0);
            if r.done() {
                assert!(r.terminated && !r.truncated);
                break;
            }
            assert!(n < 500);
        }
        assert!(n < 100, "fell after {n} steps");
    }

    #[test]
    fn bad_actions_do_not_panic() {
        let mut env = CartPole::new(CartPoleConfig::default());
        let mut obs = [0.0; 4];
        env.reset(0, &mut obs);
        env.step(&[f32::NAN], &mut obs);
        env.step(&[], &mut obs);
        env.step(&[7.0], &mut obs);
        assert!(obs.iter().all(|v| v.is_finite()));
    }
}
