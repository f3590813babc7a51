//! The rapier Reacher as a plant: two joint-torque actuators in action units
//! ([-1, 1], times the env's gear), sensors for the joint state, the target
//! and the fingertip. Its task signal is the env's reward, so a recorded run
//! is a Reacher dataset.

use crate::plant::{Plant, TaskSignal};
use crate::reacher::{Reacher, ReacherConfig, ReacherState, task_reward};

/// A two-link arm that must put its fingertip on a target (see
/// [`crate::reacher`]). Angles in rad (joint 1 wrapped to (−π, π], joint 2
/// relative to link 1), velocities in rad/s, positions in m.
pub struct ReacherPlant {
    sim: Reacher,
    time: f64,
    /// Clamped commands, in [-1, 1].
    command: [f32; 2],
    task: TaskSignal,
}

impl ReacherPlant {
    pub const SENSORS: &'static [&'static str] = &[
        "joint1.angle",
        "joint2.angle",
        "joint1.velocity",
        "joint2.velocity",
        "target.x",
        "target.y",
        "fingertip.x",
        "fingertip.y",
        // Derived, so a config can feed a policy the env's observation
        // ([cos θ1, cos θ2, sin θ1, sin θ2, target, θ̇, fingertip − target]).
        "joint1.cos",
        "joint2.cos",
        "joint1.sin",
        "joint2.sin",
        "error.x",
        "error.y",
    ];
    pub const ACTUATORS: &'static [&'static str] = &["joint1.torque", "joint2.torque"];

    pub fn new() -> Self {
        let mut sim = Reacher::new(ReacherConfig::default());
        let (state, target) = Reacher::initial_conditions(sim.config(), 0);
        sim.set_state(state, target);
        ReacherPlant {
            sim,
            time: 0.0,
            command: [0.0; 2],
            task: TaskSignal::default(),
        }
    }

    pub fn state(&self) -> ReacherState {
        self.sim.state()
    }

    pub fn target(&self) -> [f32; 2] {
        self.sim.target()
    }

    pub fn set_state(&mut self, state: ReacherState, target: [f32; 2]) {
        self.sim.set_state(state, target);
        self.task = TaskSignal::default();
    }
}

impl Default for ReacherPlant {
    fn default() -> Self {
        Self::new()
    }
}

impl Plant for ReacherPlant {
    fn sensor_names(&self) -> &'static [&'static str] {
        Self::SENSORS
    }

    fn actuator_names(&self) -> &'static [&'static str] {
        Self::ACTUATORS
    }

    fn reset(&mut self, seed: u64) {
        // The same initial state and target as the Reacher env for this seed.
        let (state, target) = Reacher::initial_conditions(self.sim.config(), seed);
        self.sim.set_state(state, target);
        self.time = 0.0;
        self.command = [0.0; 2];
        self.task = TaskSignal::default();
    }

    fn read_sensors(&mut self, values: &mut [f32], stamps: &mut [f64]) {
        let s = self.sim.state();
        let t = self.sim.target();
        let tip = self.sim.fingertip();
        let all = [
            s.theta1,
            s.theta2,
            s.omega1,
            s.omega2,
            t[0],
            t[1],
            tip[0],
            tip[1],
            s.theta1.cos(),
            s.theta2.cos(),
            s.theta1.sin(),
            s.theta2.sin(),
            tip[0] - t[0],
            tip[1] - t[1],
        ];
        let n = values.len().min(all.len());
        values[..n].copy_from_slice(&all[..n]);
        stamps
            .iter_mut()
            .take(all.len())
            .for_each(|x| *x = self.time);
    }

    fn write_commands(&mut self, commands: &[f32]) {
        self.command = Reacher::clamp_action(commands);
    }

    fn advance(&mut self, dt: f64) {
        let g = self.sim.config().gear;
        let [a1, a2] = self.command;
        self.sim.advance_for([a1 * g, a2 * g], dt as f32);
        self.time += dt;
        // The env's reward for this transition; episodes only truncate.
        let step = self.task.step + 1;
        let cfg = self.sim.config();
        self.task = TaskSignal {
            step,
            reward: task_reward(cfg, self.sim.fingertip(), self.sim.target(), self.command),
            terminated: false,
            truncated: step as usize >= cfg.max_episode_steps,
        };
    }

    fn time(&self) -> f64 {
        self.time
    }

    fn task(&self) -> Option<TaskSignal> {
        (self.task.step > 0).then_some(self.task)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Env;
    use crate::reacher::OBS_DIM;

    #[test]
    fn plant_matches_env() {
        let mut env = Reacher::new(ReacherConfig::default());
        let mut obs = [0.0; OBS_DIM];
        env.reset(9, &mut obs);
        let mut plant = ReacherPlant::new();
        plant.reset(9);
        assert_eq!(plant.task(), None);
        let mut values = [0.0; 8];
        let mut stamps = [0.0; 8];
        plant.read_sensors(&mut values, &mut stamps);
        let check = |env: &Reacher, v: &[f32; 8]| {
            let s = env.state();
            let t = env.target();
            let tip = env.fingertip();
            assert_eq!(
                *v,
                [
                    s.theta1, s.theta2, s.omega1, s.omega2, t[0], t[1], tip[0], tip[1]
                ]
            );
        };
        check(&env, &values);
        let mut total = 0.0;
        for k in 0..200 {
            let a = [(k as f32 * 0.3).sin() * 1.5, f32::NAN];
            let r = env.step(&a, &mut obs);
            plant.write_commands(&a);
            plant.advance(0.02);
            plant.read_sensors(&mut values, &mut stamps);
            check(&env, &values);
            let task = plant.task().expect("a simulated task");
            assert_eq!(task.step, k + 1);
            assert_eq!(task.reward, r.reward, "tick {k}");
            assert_eq!(
                (task.terminated, task.truncated),
                (r.terminated, r.truncated)
            );
            total += task.reward;
        }
        assert!(total < 0.0);
        assert!((stamps[7] - 4.0).abs() < 1e-9);
        plant.write_commands(&[]);
        plant.advance(0.02);
        assert!(plant.state().omega1.is_finite());
    }
}
