//! `sim:urdf`: a URDF arm as a plant the control loop drives, with the
//! reaching task of [`UrdfReach`] on it (a target drawn per episode, the
//! env's reward), so a policy trained with `train reach:FILE` runs on it
//! from a robot file. Every movable joint takes one kind of command, as
//! the config's `plant.drive` says: speeds, positions or efforts.
//!
//! Sensors, in this order (n joints, the names from the URDF): for each
//! joint `J.position` (rad or m), then `J.sin` and `J.cos` (0 for a
//! prismatic joint), then `J.speed` (velocity over its limit), then
//! `tool.x|y|z` (m) and `error_dm.x|y|z` (10·(target − tool)): the env's
//! observation, field for field. Actuators: `J.velocity`, `J.position` or `J.effort`.

use std::path::Path;

use super::UrdfModel;
use super::reach::{DriveKind, UrdfReach};
use crate::plant::{Plant, TaskSignal, leak_names};
use crate::tabletop::reach::reach_reward;

pub struct UrdfPlant {
    env: UrdfReach,
    drive: DriveKind,
    sensors: &'static [&'static str],
    actuators: &'static [&'static str],
    obs: Vec<f32>,
    commands: Vec<f32>,
    /// The commands as the env's actions (speeds over their limits), for
    /// the reward's effort term.
    actions: Vec<f32>,
    time: f64,
    task: TaskSignal,
}

/// Sensor and actuator names of the `sim:urdf` plant of `joints` driven as
/// `drive`, leaked once per plant: the `Plant` trait hands out `'static`
/// names.
fn names(
    joints: &[String],
    drive: DriveKind,
) -> (&'static [&'static str], &'static [&'static str]) {
    let per_joint = |suffix: &'static str| joints.iter().map(move |j| format!("{j}.{suffix}"));
    let axes = |what: &str| ["x", "y", "z"].map(|a| format!("{what}.{a}"));
    let sensors: Vec<String> = per_joint("position")
        .chain(
            joints
                .iter()
                .flat_map(|j| [format!("{j}.sin"), format!("{j}.cos")]),
        )
        .chain(per_joint("speed"))
        .chain(axes("tool"))
        .chain(axes("error_dm"))
        .collect();
    let actuators: Vec<String> = per_joint(drive.name()).collect();
    (leak_names(sensors), leak_names(actuators))
}

impl UrdfPlant {
    /// The plant of the URDF at `path` (tool: its one leaf link).
    pub fn load(path: &Path, drive: DriveKind) -> Result<UrdfPlant, String> {
        let model = super::load(path).map_err(|e| e.to_string())?;
        Self::from_model(&model, drive)
    }

    /// The plant of a URDF already read (fails as `reach:FILE` does: the
    /// movable joints must form one chain to the leaf link, each with a
    /// velocity limit).
    pub fn from_model(model: &UrdfModel, drive: DriveKind) -> Result<UrdfPlant, String> {
        let name = format!("sim:urdf {}", model.file.display());
        let env = UrdfReach::with_drive(model, None, name, drive)?;
        let (sensors, actuators) = names(&model.actuated, drive);
        let n = env.joints();
        Ok(UrdfPlant {
            env,
            drive,
            sensors,
            actuators,
            obs: vec![0.0; sensors.len()],
            commands: vec![0.0; n],
            actions: vec![0.0; n],
            time: 0.0,
            task: TaskSignal::default(),
        })
    }

    pub fn target(&self) -> [f32; 3] {
        self.env.target()
    }

    pub fn tool(&self) -> [f32; 3] {
        self.env.tool()
    }
}

impl Plant for UrdfPlant {
    fn sensor_names(&self) -> &'static [&'static str] {
        self.sensors
    }

    fn actuator_names(&self) -> &'static [&'static str] {
        self.actuators
    }

    fn reset(&mut self, seed: u64) {
        self.env.start(seed);
        self.commands.fill(0.0);
        self.actions.fill(0.0);
        self.time = 0.0;
        self.task = TaskSignal::default();
    }

    fn read_sensors(&mut self, values: &mut [f32], stamps: &mut [f64]) {
        self.env.observe(&mut self.obs);
        let n = values.len().min(self.obs.len());
        values[..n].copy_from_slice(&self.obs[..n]);
        stamps.iter_mut().for_each(|s| *s = self.time);
    }

    fn write_commands(&mut self, commands: &[f32]) {
        let n = commands.len().min(self.commands.len());
        self.commands[..n].copy_from_slice(&commands[..n]);
    }

    fn advance(&mut self, dt: f64) {
        let err = self.env.run_commands(&self.commands, dt as f32);
        self.time += dt;
        // The reward's effort term reads actions in [-1, 1]: speeds over
        // their limits (other drives have no such scale: no effort term).
        for ((a, c), max) in self
            .actions
            .iter_mut()
            .zip(&self.commands)
            .zip(self.env.speed_limits())
        {
            *a = match self.drive {
                DriveKind::Velocity if c.is_finite() => (c / max).clamp(-1.0, 1.0),
                _ => 0.0,
            };
        }
        let step = self.task.step + 1;
        self.task = TaskSignal {
            step,
            reward: reach_reward(err, &self.actions),
            terminated: false,
            truncated: step as usize >= super::reach::EPISODE_STEPS,
        };
    }

    fn time(&self) -> f64 {
        self.time
    }

    fn task(&self) -> Option<TaskSignal> {
        Some(self.task)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arm6(drive: DriveKind) -> UrdfPlant {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../robots/arm6.urdf");
        UrdfPlant::load(&path, drive).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn names_follow_the_urdf() {
        let p = arm6(DriveKind::Velocity);
        let n = p.actuator_names().len();
        assert_eq!(n, 6);
        assert_eq!(p.sensor_names().len(), 4 * n + 6);
        assert!(p.actuator_names().iter().all(|a| a.ends_with(".velocity")));
        assert_eq!(p.sensor_names()[4 * n], "tool.x");
        let e = arm6(DriveKind::Effort);
        assert!(e.actuator_names().iter().all(|a| a.ends_with(".effort")));
    }

    /// Each drive moves the first joint the way its command says.
    #[test]
    fn every_drive_moves_the_joint() {
        for drive in [DriveKind::Velocity, DriveKind::Position, DriveKind::Effort] {
            let mut p = arm6(drive);
            p.reset(3);
            let n = p.actuator_names().len();
            let mut s = vec![0.0; p.sensor_names().len()];
            let mut t = vec![0.0; s.len()];
            p.read_sensors(&mut s, &mut t);
            let q0 = s[0];
            let mut cmd = vec![0.0; n];
            // Hold the others where they are (position drive), push joint 0.
            if drive == DriveKind::Position {
                cmd.copy_from_slice(&s[..n]);
            }
            cmd[0] = match drive {
                DriveKind::Velocity => 0.5,
                DriveKind::Position => q0 + 0.2,
                DriveKind::Effort => 2.0,
            };
            for _ in 0..25 {
                p.write_commands(&cmd);
                p.advance(0.04);
            }
            p.read_sensors(&mut s, &mut t);
            let moved = s[0] - q0;
            assert!(moved > 0.1, "{drive:?}: joint 0 moved {moved}");
            if drive == DriveKind::Position {
                assert!((s[0] - (q0 + 0.2)).abs() < 0.02, "{drive:?}: {}", s[0]);
            }
            assert!(p.task().is_some_and(|t| t.step == 25));
        }
    }
}
