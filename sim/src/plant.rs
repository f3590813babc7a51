//! The hardware view of a simulated world: the runtime drives a `Plant` (read
//! sensors, write actuator commands, advance time), never an `Env`. A real
//! robot or a firmware node implements the same trait.

use crate::cartpole::{CartPole, CartPoleConfig, CartPoleState};
use crate::rng::Rng;

/// Task feedback of a simulated plant about its last `advance`: the reward of
/// that transition and whether the episode ended. Real robots have none.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TaskSignal {
    /// Steps taken since the last reset.
    pub step: u32,
    pub reward: f32,
    pub terminated: bool,
    pub truncated: bool,
}

impl TaskSignal {
    pub fn done(&self) -> bool {
        self.terminated || self.truncated
    }
}

/// A robot as the control loop sees it.
pub trait Plant: Send {
    /// Names of the sensor fields, in the order `read_sensors` writes them.
    fn sensor_names(&self) -> &'static [&'static str];
    /// Names of the actuators, in the order `write_commands` takes them.
    fn actuator_names(&self) -> &'static [&'static str];
    /// Starts from an initial state drawn from `seed`.
    fn reset(&mut self, seed: u64);
    /// Latest value of each field and the plant time (s) it was measured at.
    fn read_sensors(&mut self, values: &mut [f32], stamps: &mut [f64]);
    /// Actuator commands in physical units, applied until the next call.
    fn write_commands(&mut self, commands: &[f32]);
    /// Advances simulated time by `dt` seconds (hardware: time runs by itself).
    fn advance(&mut self, dt: f64);
    /// Plant time in seconds.
    fn time(&self) -> f64;
    /// Whether the robot is in its operating envelope (CartPole: pole up, cart
    /// on the track); reports use it, the loop does not.
    fn in_envelope(&self) -> bool {
        true
    }
    /// Reward and episode status after the last `advance`, for simulated
    /// tasks (recorded, so that recordings are datasets).
    fn task(&self) -> Option<TaskSignal> {
        None
    }
    /// What the plant's own controller reports about itself this tick (a
    /// joint node's latched e-stop or fault). Simulated plants are always
    /// healthy; a hardware link reports what its node last said. The control
    /// loop treats anything but `Ok` as a fault: safe action, and an event.
    fn health(&self) -> PlantHealth {
        PlantHealth::Ok
    }
    /// The scene and its exact state, for plants a simulated camera can draw
    /// (the tabletop); `None` for the others. Never allocates.
    fn tabletop(&self) -> Option<(&crate::SceneSpec, &crate::TabletopState)> {
        None
    }
}

/// A plant's report on its own state (see `Plant::health`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PlantHealth {
    #[default]
    Ok,
    /// The plant's controller has latched its own e-stop.
    EStop,
    /// The plant's controller reports a fault (watchdog, bad frames, limits).
    Fault,
}

/// Sensor and actuator names of the plants a config can name, by kind, so a
/// config can be checked without building the plant.
pub fn plant_signature(kind: &str) -> Option<(&'static [&'static str], &'static [&'static str])> {
    match kind {
        "sim:cartpole" => Some((CartPolePlant::SENSORS, CartPolePlant::ACTUATORS)),
        "sim:reacher" => Some((crate::ReacherPlant::SENSORS, crate::ReacherPlant::ACTUATORS)),
        "sim:tabletop" => Some((
            crate::TabletopPlant::SENSORS,
            crate::TabletopPlant::ACTUATORS,
        )),
        _ => None,
    }
}

/// Builds a plant by kind (not yet reset).
pub fn make_plant(kind: &str) -> Option<Box<dyn Plant>> {
    match kind {
        "sim:cartpole" => Some(Box::new(CartPolePlant::new())),
        "sim:reacher" => Some(Box::new(crate::ReacherPlant::new())),
        "sim:tabletop" => Some(Box::new(crate::TabletopPlant::new(None, 0))),
        _ => None,
    }
}

/// Names built at run time (from a URDF, a config's joint list) as the
/// `'static` names `Plant` hands out: leaked, once per plant or config
/// check, so they live as long as the process.
pub fn leak_names(names: Vec<String>) -> &'static [&'static str] {
    let v: Vec<&'static str> = names
        .into_iter()
        .map(|s| &*Box::leak(s.into_boxed_str()))
        .collect();
    Box::leak(v.into_boxed_slice())
}

/// Plant kinds a config may name.
pub const PLANT_KINDS: &[&str] = &["sim:cartpole", "sim:reacher", "sim:tabletop"];

/// The rapier CartPole as a plant: one actuator, the horizontal force on the
/// cart (N), clamped to ±`force_limit`.
pub struct CartPolePlant {
    sim: CartPole,
    time: f64,
    force: f32,
    force_limit: f32,
    task: TaskSignal,
}

impl CartPolePlant {
    pub const SENSORS: &'static [&'static str] = &[
        "cart.position",
        "cart.velocity",
        "pole.angle",
        "pole.angular_velocity",
    ];
    pub const ACTUATORS: &'static [&'static str] = &["cart.force"];

    pub fn new() -> Self {
        CartPolePlant {
            sim: CartPole::new(CartPoleConfig::default()),
            time: 0.0,
            force: 0.0,
            force_limit: 100.0,
            task: TaskSignal::default(),
        }
    }

    pub fn state(&self) -> CartPoleState {
        self.sim.state()
    }

    pub fn set_state(&mut self, s: CartPoleState) {
        self.sim.set_state(s);
    }
}

impl Default for CartPolePlant {
    fn default() -> Self {
        Self::new()
    }
}

impl Plant for CartPolePlant {
    fn sensor_names(&self) -> &'static [&'static str] {
        Self::SENSORS
    }

    fn actuator_names(&self) -> &'static [&'static str] {
        Self::ACTUATORS
    }

    fn reset(&mut self, seed: u64) {
        // The same initial-state distribution as the CartPole env.
        let mut rng = Rng::new(seed);
        let r = self.sim.config().init_range;
        self.sim.set_state(CartPoleState {
            x: rng.uniform(-r, r),
            x_dot: rng.uniform(-r, r),
            theta: rng.uniform(-r, r),
            theta_dot: rng.uniform(-r, r),
        });
        self.time = 0.0;
        self.force = 0.0;
        self.task = TaskSignal::default();
    }

    fn read_sensors(&mut self, values: &mut [f32], stamps: &mut [f64]) {
        let s = self.sim.state().as_array();
        let n = values.len().min(4);
        values[..n].copy_from_slice(&s[..n]);
        stamps.iter_mut().take(4).for_each(|t| *t = self.time);
    }

    fn write_commands(&mut self, commands: &[f32]) {
        let f = commands.first().copied().unwrap_or(0.0);
        self.force = if f.is_finite() {
            f.clamp(-self.force_limit, self.force_limit)
        } else {
            0.0
        };
    }

    fn advance(&mut self, dt: f64) {
        self.sim.advance_for(self.force, dt as f32);
        self.time += dt;
        // CartPole-v1: +1 per step, terminal when the pole or cart leaves the
        // envelope, truncated at the step limit.
        let step = self.task.step + 1;
        let terminated = !self.in_envelope();
        self.task = TaskSignal {
            step,
            reward: 1.0,
            terminated,
            truncated: !terminated && step as usize >= self.sim.config().max_episode_steps,
        };
    }

    fn time(&self) -> f64 {
        self.time
    }

    fn in_envelope(&self) -> bool {
        let s = self.sim.state();
        s.theta.abs() <= self.sim.config().theta_limit && s.x.abs() <= self.sim.config().x_limit
    }

    fn task(&self) -> Option<TaskSignal> {
        (self.task.step > 0).then_some(self.task)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plant_matches_env_dynamics() {
        use crate::env::Env;
        let mut env = CartPole::new(CartPoleConfig::default());
        let mut obs = [0.0; 4];
        env.reset(9, &mut obs);
        let mut plant = CartPolePlant::new();
        plant.reset(9);
        let mut values = [0.0; 4];
        let mut stamps = [0.0; 4];
        plant.read_sensors(&mut values, &mut stamps);
        assert_eq!(values, obs);
        for k in 0..20 {
            let push = (k % 3 == 0) as u8 as f32;
            env.step(&[push], &mut obs);
            plant.write_commands(&[if push > 0.5 { 10.0 } else { -10.0 }]);
            plant.advance(0.02);
            plant.read_sensors(&mut values, &mut stamps);
            assert_eq!(values, obs, "tick {k}");
        }
        assert!((stamps[0] - 0.4).abs() < 1e-9);
    }
}
