//! The node's `Hardware` over a simulated plant: joint positions and
//! velocities are the plant's sensors (per the joint layout), efforts are
//! its actuator commands, and the node clock is the plant's time, advanced
//! one node tick at a time (1 kHz).

use anyhow::{Result, bail};
use ganglion_firmware::{Hardware, HwSample, JointReadings, MAX_JOINTS};
use ganglion_sim::{Plant, make_plant};

use crate::config::joints::{JointLayout, layout};

pub struct PlantHardware {
    plant: Box<dyn Plant>,
    layout: &'static JointLayout,
    time_us: u64,
    sensors: Vec<f32>,
    stamps: Vec<f64>,
    commands: Vec<f32>,
}

impl PlantHardware {
    /// The plant of `kind` (e.g. `sim:cartpole`), reset from `seed`.
    pub fn new(kind: &str, seed: u64) -> Result<Self> {
        let Some(layout) = layout(kind) else {
            bail!(
                "plant `{kind}` has no joint layout (a node can serve: {})",
                crate::config::joints::LAYOUTS.join(", ")
            );
        };
        let Some(mut plant) = make_plant(kind) else {
            bail!("plant kind `{kind}` is not built into this binary");
        };
        plant.reset(seed);
        let n_s = plant.sensor_names().len();
        let n_a = plant.actuator_names().len();
        Ok(PlantHardware {
            plant,
            layout,
            time_us: 0,
            sensors: vec![0.0; n_s],
            stamps: vec![0.0; n_s],
            commands: vec![0.0; n_a],
        })
    }

    pub fn layout(&self) -> &'static JointLayout {
        self.layout
    }

    pub fn plant(&self) -> &dyn Plant {
        self.plant.as_ref()
    }

    /// A new episode of the simulated world (node time keeps running).
    pub fn reset_plant(&mut self, seed: u64) {
        self.plant.reset(seed);
        self.commands.fill(0.0);
    }

    /// Advances the plant and the node clock by `dt_us`.
    pub fn advance(&mut self, dt_us: u32) {
        self.plant.advance(dt_us as f64 * 1e-6);
        self.time_us += dt_us as u64;
    }

    pub fn time_us(&self) -> u64 {
        self.time_us
    }

    /// The sensor sample an emulated node gets for one tick.
    pub fn sample(&mut self, flags: u8) -> HwSample {
        let mut r = JointReadings::default();
        self.read_joints(&mut r);
        HwSample {
            time_us: self.time_us,
            flags,
            n: r.n,
            position: r.position,
            velocity: r.velocity,
        }
    }
}

impl Hardware for PlantHardware {
    fn now_us(&mut self) -> u64 {
        self.time_us
    }

    fn read_joints(&mut self, out: &mut JointReadings) {
        self.plant.read_sensors(&mut self.sensors, &mut self.stamps);
        let n = self.layout.joints.len().min(MAX_JOINTS);
        out.n = n as u8;
        for (j, spec) in self.layout.joints.iter().take(n).enumerate() {
            out.position[j] = self.sensors[spec.position];
            out.velocity[j] = self.sensors[spec.velocity];
        }
    }

    fn write_efforts(&mut self, efforts: &[f32]) {
        for (spec, e) in self.layout.joints.iter().zip(efforts) {
            if let Some(a) = spec.actuator {
                self.commands[a] = *e;
            }
        }
        self.plant.write_commands(&self.commands);
    }
}
