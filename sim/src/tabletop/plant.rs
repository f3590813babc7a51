//! The tabletop world as a `Plant`: joint speed commands and the suction in,
//! exact state out (see `state::SENSORS`). Built for a given scene, or with
//! a scene drawn from each reset's seed (`sim:tabletop` in a robot config).

use super::arm::TabletopArm;
use super::scene::SceneSpec;
use super::state::{ACTUATORS, SENSORS, TabletopState};
use super::world::TabletopWorld;
use crate::plant::Plant;

pub struct TabletopPlant {
    /// The fixed scene, or `None` for a random scene per reset.
    scene: Option<SceneSpec>,
    current: SceneSpec,
    /// The arm, from its URDF.
    arm: TabletopArm,
    world: TabletopWorld,
    commands: [f32; 5],
    state: TabletopState,
}

impl TabletopPlant {
    pub const SENSORS: &'static [&'static str] = SENSORS;
    pub const ACTUATORS: &'static [&'static str] = ACTUATORS;

    /// A plant that lays out `scene` (positions from each reset's seed).
    pub fn new(scene: Option<SceneSpec>, seed: u64) -> TabletopPlant {
        TabletopPlant::with_arm(scene, seed, TabletopArm::shipped())
    }

    /// [`TabletopPlant::new`] with the arm of another URDF.
    pub fn with_arm(scene: Option<SceneSpec>, seed: u64, arm: &TabletopArm) -> TabletopPlant {
        let current = scene.clone().unwrap_or_else(|| SceneSpec::random(seed));
        let world = TabletopWorld::with_arm(&current, seed, arm);
        let state = world.state();
        TabletopPlant {
            scene,
            current,
            arm: arm.clone(),
            world,
            commands: [0.0; 5],
            state,
        }
    }

    pub fn scene(&self) -> &SceneSpec {
        &self.current
    }

    pub fn world(&self) -> &TabletopWorld {
        &self.world
    }

    /// Exact state after the last `advance`.
    pub fn state(&self) -> &TabletopState {
        &self.state
    }
}

impl Plant for TabletopPlant {
    fn sensor_names(&self) -> &'static [&'static str] {
        SENSORS
    }

    fn actuator_names(&self) -> &'static [&'static str] {
        ACTUATORS
    }

    fn reset(&mut self, seed: u64) {
        self.current = self
            .scene
            .clone()
            .unwrap_or_else(|| SceneSpec::random(seed));
        self.world = TabletopWorld::with_arm(&self.current, seed, &self.arm);
        self.commands = [0.0; 5];
        self.state = self.world.state();
    }

    fn read_sensors(&mut self, values: &mut [f32], stamps: &mut [f64]) {
        self.state.write_sensors(values);
        stamps.fill(self.world.time());
    }

    fn write_commands(&mut self, commands: &[f32]) {
        for (slot, v) in self.commands.iter_mut().zip(commands) {
            *slot = if v.is_finite() { *v } else { 0.0 };
        }
    }

    fn advance(&mut self, dt: f64) {
        let c = self.commands;
        let periods = (dt / super::world::CONTROL_PERIOD as f64).round().max(1.0) as usize;
        for _ in 0..periods {
            self.world.step([c[0], c[1], c[2], c[3]], c[4] > 0.5);
        }
        self.state = self.world.state();
    }

    fn time(&self) -> f64 {
        self.world.time()
    }

    fn tabletop(&self) -> Option<(&SceneSpec, &TabletopState)> {
        Some((&self.current, &self.state))
    }
}
