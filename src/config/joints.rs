//! Joint layouts: how a plant's sensors and actuators map onto a joint node's
//! joints, and the node configuration that goes with them. CartPole is two
//! joints: the cart (prismatic, actuated: effort = `cart.force`) and the
//! pole (revolute, unactuated: a sensor only, `max_effort` 0).
//!
//! The controller's `LinkPlant` exposes the plant's own sensor names (so the
//! same observation config works over the link) plus link diagnostics:
//! `node.status` (JointState status bits), `node.faults` (Fault reports
//! received) and `link.rx_errors` (frames the controller rejected).

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
    pub joints: &'static [JointSpec],
    /// The plant's sensors; the controller sees these plus `EXTRA_SENSORS`.
    pub plant_sensors: &'static [&'static str],
    /// What `LinkPlant::sensor_names` returns.
    pub link_sensors: &'static [&'static str],
    pub actuators: &'static [&'static str],
}

/// Link diagnostics appended to the plant's sensors, in this order.
pub const EXTRA_SENSORS: [&str; 3] = ["node.status", "node.faults", "link.rx_errors"];

const CARTPOLE_JOINTS: [JointSpec; 2] = [
    JointSpec {
        name: "cart",
        position: 0,
        velocity: 1,
        actuator: Some(0),
        config: JointConfig {
            kp: 40.0,
            kd: 15.0,
            damping: 5.0,
            max_effort: 100.0,
            position_min: -4.8,
            position_max: 4.8,
            max_velocity: 20.0,
        },
    },
    JointSpec {
        name: "pole",
        position: 2,
        velocity: 3,
        actuator: None,
        config: JointConfig {
            kp: 0.0,
            kd: 0.0,
            damping: 0.0,
            max_effort: 0.0,
            position_min: -1.0e3,
            position_max: 1.0e3,
            max_velocity: 1.0e3,
        },
    },
];

static CARTPOLE: JointLayout = JointLayout {
    plant: "sim:cartpole",
    joints: &CARTPOLE_JOINTS,
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
};

/// Plant kinds a joint node can serve.
pub const LAYOUTS: &[&str] = &["sim:cartpole"];

/// The layout of a plant kind.
pub fn layout(plant: &str) -> Option<&'static JointLayout> {
    match plant {
        "sim:cartpole" => Some(&CARTPOLE),
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
        for (slot, j) in c.joints.iter_mut().zip(self.joints) {
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
        for j in l.joints {
            assert!(j.position < l.plant_sensors.len() && j.velocity < l.plant_sensors.len());
            assert!(j.actuator.is_none_or(|a| a < l.actuators.len()));
        }
        assert!(layout("sim:nothing").is_none());
    }
}
