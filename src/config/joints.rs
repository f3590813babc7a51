//! Joint layouts: how a plant's sensors and actuators map onto a joint node's
//! joints, and the node configuration that goes with them, its limits read
//! from the robot's URDF (`node_joints`). CartPole is two joints
//! (`robots/cartpole.urdf`): the cart (prismatic, actuated: effort =
//! `cart.force`) and the pole (continuous, unactuated: a sensor only,
//! effort 0).
//!
//! The controller's `LinkPlant` exposes the plant's own sensor names (so the
//! same observation config works over the link) plus link diagnostics:
//! `node.status` (JointState status bits), `node.faults` (Fault reports
//! received) and `link.rx_errors` (frames the controller rejected).

use std::sync::OnceLock;

use ganglion_firmware::{JointConfig, MAX_JOINTS, NodeConfig, SafeMode};

/// One joint of a layout.
#[derive(Clone, Copy, Debug)]
pub struct JointSpec {
    pub name: &'static str,
    /// Index of the joint's position and velocity among the plant's sensors.
    pub position: usize,
    pub velocity: usize,
    /// Index among the plant's actuators; `None`: unactuated.
    pub actuator: Option<usize>,
    pub config: JointConfig,
}

/// The joints of one plant kind.
#[derive(Debug)]
pub struct JointLayout {
    /// The sim plant kind the node serves (`sim:cartpole`).
    pub plant: &'static str,
    pub joints: Vec<JointSpec>,
    /// The plant's sensors; the controller sees these plus `EXTRA_SENSORS`.
    pub plant_sensors: &'static [&'static str],
    /// What `LinkPlant::sensor_names` returns.
    pub link_sensors: &'static [&'static str],
    pub actuators: &'static [&'static str],
}

/// Link diagnostics appended to the plant's sensors, in this order.
pub const EXTRA_SENSORS: [&str; 3] = ["node.status", "node.faults", "link.rx_errors"];

/// Where the cart-pole's URDF lives (compiled in; a test checks the file).
pub const CARTPOLE_URDF: &str = "robots/cartpole.urdf";

/// The node's servo gains for each cart-pole joint (`kp`, `kd`, and the
/// brake damping of the safe state): controller tuning, not the robot's, so
/// not in its URDF.
const CARTPOLE_GAINS: [(&str, [f32; 3]); 2] = [("cart", [40.0, 15.0, 5.0]), ("pole", [0.0; 3])];

fn cartpole() -> &'static JointLayout {
    static LAYOUT: OnceLock<JointLayout> = OnceLock::new();
    LAYOUT.get_or_init(|| {
        let text = include_str!("../../robots/cartpole.urdf");
        let model = ganglion_sim::urdf::parse(std::path::Path::new(CARTPOLE_URDF), text)
            .unwrap_or_else(|e| panic!("the shipped cart-pole URDF: {e}"));
        let limits = node_joints(&model);
        // Sensor and actuator slots of `sim:cartpole`, per joint.
        let slots = [("cart", 0, 1, Some(0)), ("pole", 2, 3, None)];
        let joints = slots
            .iter()
            .map(|&(name, position, velocity, actuator)| {
                let mut config = limits
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, c)| *c)
                    .unwrap_or_else(|| panic!("{CARTPOLE_URDF} has no joint \"{name}\""));
                if let Some((_, [kp, kd, damping])) =
                    CARTPOLE_GAINS.iter().find(|(n, _)| *n == name)
                {
                    (config.kp, config.kd, config.damping) = (*kp, *kd, *damping);
                }
                JointSpec {
                    name,
                    position,
                    velocity,
                    actuator,
                    config,
                }
            })
            .collect();
        JointLayout {
            plant: "sim:cartpole",
            joints,
            plant_sensors: ganglion_sim::CartPolePlant::SENSORS,
            link_sensors: &[
                "cart.position",
                "cart.velocity",
                "pole.angle",
                "pole.angular_velocity",
                EXTRA_SENSORS[0],
                EXTRA_SENSORS[1],
                EXTRA_SENSORS[2],
            ],
            actuators: ganglion_sim::CartPolePlant::ACTUATORS,
        }
    })
}

/// A node joint configuration for each movable joint of `model`, in joint
/// order, from its URDF limits: position (a continuous joint: ±1000, no
/// bound a node would hit), velocity and effort (0: unactuated, a sensor
/// only). The servo gains (`kp`, `kd`, `damping`) are 0: they are the
/// controller's tuning, set by the layout.
pub fn node_joints(model: &ganglion_sim::urdf::UrdfModel) -> Vec<(String, JointConfig)> {
    use ganglion_sim::urdf::urdf_rs::JointType;
    model
        .actuated
        .iter()
        .filter_map(|name| model.robot.joints.iter().find(|j| &j.name == name))
        .map(|j| {
            let l = &j.limit;
            let (position_min, position_max) = match j.joint_type {
                JointType::Continuous => (-1.0e3, 1.0e3),
                _ => (l.lower as f32, l.upper as f32),
            };
            let config = JointConfig {
                kp: 0.0,
                kd: 0.0,
                damping: 0.0,
                max_effort: l.effort as f32,
                position_min,
                position_max,
                max_velocity: l.velocity as f32,
            };
            (j.name.clone(), config)
        })
        .collect()
}

/// Plant kinds a joint node can serve.
pub const LAYOUTS: &[&str] = &["sim:cartpole"];

/// The layout of a plant kind.
pub fn layout(plant: &str) -> Option<&'static JointLayout> {
    match plant {
        "sim:cartpole" => Some(cartpole()),
        _ => None,
    }
}

impl JointLayout {
    /// The NodeConfig a controller sends for this layout.
    pub fn node_config(
        &self,
        watchdog_us: u32,
        publish_period_us: u32,
        safe: SafeMode,
    ) -> NodeConfig {
        let mut c = NodeConfig {
            watchdog_us,
            publish_period_us,
            safe_mode: safe,
            n: self.joints.len().min(MAX_JOINTS) as u8,
            ..Default::default()
        };
        for (slot, j) in c.joints.iter_mut().zip(&self.joints) {
            *slot = j.config;
        }
        c
    }

    pub fn n_joints(&self) -> usize {
        self.joints.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cartpole_layout_is_consistent() {
        let l = layout("sim:cartpole").unwrap();
        assert_eq!(&l.link_sensors[..4], l.plant_sensors);
        assert_eq!(&l.link_sensors[4..], &EXTRA_SENSORS);
        for j in &l.joints {
            assert!(j.position < l.plant_sensors.len() && j.velocity < l.plant_sensors.len());
            assert!(j.actuator.is_none_or(|a| a < l.actuators.len()));
        }
        assert!(layout("sim:nothing").is_none());
    }

    #[test]
    fn cartpole_node_config_comes_from_its_urdf() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(CARTPOLE_URDF);
        let model = ganglion_sim::urdf::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let from_file = node_joints(&model);
        let l = layout("sim:cartpole").unwrap();
        assert_eq!(from_file.len(), l.joints.len());
        for ((name, c), j) in from_file.iter().zip(&l.joints) {
            assert_eq!(name, j.name);
            let limits =
                |c: &JointConfig| (c.position_min, c.position_max, c.max_velocity, c.max_effort);
            assert_eq!(limits(c), limits(&j.config));
        }
        let cart = &l.joints[0].config;
        assert_eq!(
            (cart.position_min, cart.position_max, cart.max_effort),
            (-4.8, 4.8, 100.0)
        );
        assert_eq!((cart.kp, cart.kd, cart.damping), (40.0, 15.0, 5.0));
        assert_eq!(l.joints[1].config.max_effort, 0.0);
        // Any URDF: the six-joint arm's limits, in joint order.
        let arm6 = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("robots/arm6.urdf");
        let arm6 = node_joints(&ganglion_sim::urdf::load(&arm6).unwrap_or_else(|e| panic!("{e}")));
        assert_eq!(arm6.len(), 6);
        assert_eq!(arm6[0].0, "j1_yaw");
        // Its base yaw is continuous (no bound a node would hit), its
        // shoulder a revolute joint with limits.
        assert_eq!(
            (arm6[0].1.position_min, arm6[0].1.max_velocity),
            (-1.0e3, 1.5)
        );
        assert_eq!(
            (arm6[1].1.position_min, arm6[1].1.position_max),
            (-0.4, 1.6)
        );
    }
}
