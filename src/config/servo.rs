//! A `[plant]` section naming a smart-servo bus (`kind =
//! "servo:dynamixel"`): the serial device and baud, the transaction
//! timeout, the command mode, the servos' bus watchdog, how many bad
//! replies in a row make a fault, and one `[[plant.joints]]` table per
//! joint (name, servo id, `zero_tick` and `direction`, position limits in
//! rad, velocity limit in rad/s). Also the bus plant's configuration types,
//! which `servo::plant` builds from. The plant's sensors and actuators
//! follow from the joint names (`signature`).

use std::path::PathBuf;

use super::reader::{Item, Reporter, Table};
use super::types::PlantConfig;
use super::validate::{Signature, key_name, or_default};
use crate::record::tick::{MAX_ACT, MAX_SENSORS};
use crate::servo::protocol::MAX_ID;
use crate::servo::table::{CENTER_TICK, JointUnits, TICKS_PER_REV};
use ganglion_sim::leak_names;

/// The last tick of one revolution (position goals run 0 to this).
const LAST_TICK: i32 = TICKS_PER_REV as i32 - 1;

/// Baud rates of X-series servos that a tty can set.
pub const DYNAMIXEL_BAUDS: &[u32] = &[
    9_600, 57_600, 115_200, 1_000_000, 2_000_000, 3_000_000, 4_000_000,
];
/// Most joints a config's servo plant has (one actuator each, three
/// sensors each and two for the bus, within what a recording holds).
pub const MAX_CONFIG_JOINTS: usize = {
    let by_sensors = (MAX_SENSORS - 2) / 3;
    if by_sensors < MAX_ACT {
        by_sensors
    } else {
        MAX_ACT
    }
};
/// Largest accepted `timeout_ms`.
pub const MAX_TIMEOUT_MS: u64 = 1000;
/// Largest accepted `watchdog_ms` (127 units of 20 ms).
pub const MAX_WATCHDOG_MS: u64 = 2540;
/// Largest accepted `max_velocity` (rad/s).
pub const MAX_JOINT_VELOCITY: f64 = 100.0;

/// What the actuator commands are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandMode {
    /// Goal Position (rad), Operating Mode 3.
    Position,
    /// Goal Velocity (rad/s), Operating Mode 1.
    Velocity,
}

/// One joint: its servo and units.
#[derive(Clone, Debug, PartialEq)]
pub struct ServoJoint {
    pub name: String,
    pub id: u8,
    /// The tick of 0 rad.
    pub zero_tick: i32,
    /// +1 or −1: the joint's positive direction against the servo's.
    pub direction: f32,
    pub min_position: f32,
    pub max_position: f32,
    /// rad/s.
    pub max_velocity: f32,
}

/// A servo bus plant's configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct ServoBusConfig {
    pub device: PathBuf,
    pub baud: u32,
    /// Only "dynamixel" (Protocol 2.0).
    pub protocol: String,
    /// How long a transaction may wait for its replies (ms).
    pub timeout_ms: u64,
    /// Bus cycles per second (the control rate).
    pub rate_hz: f64,
    pub mode: CommandMode,
    /// The servos' Bus Watchdog (ms, rounded up to 20 ms units; 0: off).
    pub watchdog_ms: u32,
    /// Bad replies (or status errors) in a row that make a fault.
    pub bad_reply_limit: u32,
    pub joints: Vec<ServoJoint>,
}

/// Sensor and actuator names of a joint list (built once per plant or
/// config check, and leaked: they live as long as the process).
pub fn signature(
    joints: &[ServoJoint],
    mode: CommandMode,
) -> (&'static [&'static str], &'static [&'static str]) {
    let mut sensors = Vec::with_capacity(3 * joints.len() + 2);
    for j in joints {
        for field in ["position", "velocity", "load"] {
            sensors.push(format!("{}.{field}", j.name));
        }
    }
    sensors.push("bus.status".into());
    sensors.push("bus.errors".into());
    let suffix = match mode {
        CommandMode::Position => "position",
        CommandMode::Velocity => "velocity",
    };
    let actuators = joints
        .iter()
        .map(|j| format!("{}.{suffix}", j.name))
        .collect();
    (leak_names(sensors), leak_names(actuators))
}

pub(crate) fn servo_plant(
    rep: &mut Reporter,
    t: &Table<'_>,
    kind: &str,
    kind_item: &Item<'_>,
) -> (Option<PlantConfig>, Option<Signature>) {
    t.check_keys(
        rep,
        &[
            "kind",
            "device",
            "baud",
            "timeout_ms",
            "mode",
            "watchdog_ms",
            "bad_reply_limit",
            "joints",
        ],
    );
    let protocol_ok = kind == "servo:dynamixel";
    if !protocol_ok {
        kind_item.report(
            rep,
            format!("unknown servo protocol `{kind}` (known: servo:dynamixel)"),
        );
    }
    let device = t.require(rep, "device").and_then(|i| {
        let text = i.str(rep)?;
        if text.is_empty() {
            i.report(rep, "must name a serial device (e.g. \"/dev/ttyUSB0\")");
            return None;
        }
        Some(PathBuf::from(text))
    });
    let baud = or_default(t.get("baud"), 1_000_000, |i| {
        let v = i.count(rep, 1, u32::MAX as u64)? as u32;
        if DYNAMIXEL_BAUDS.contains(&v) {
            return Some(v);
        }
        let known: Vec<String> = DYNAMIXEL_BAUDS.iter().map(u32::to_string).collect();
        i.report(rep, format!("must be one of {}, got {v}", known.join(", ")));
        None
    });
    let timeout_ms = or_default(t.get("timeout_ms"), 20, |i| i.count(rep, 1, MAX_TIMEOUT_MS));
    let mode = or_default(t.get("mode"), CommandMode::Position, |i| {
        let modes = [
            ("position", CommandMode::Position),
            ("velocity", CommandMode::Velocity),
        ];
        i.one_of(rep, &modes)
    });
    let watchdog_ms = or_default(t.get("watchdog_ms"), 100, |i| {
        i.count(rep, 0, MAX_WATCHDOG_MS).map(|v| v as u32)
    });
    let bad_reply_limit = or_default(t.get("bad_reply_limit"), 3, |i| {
        i.count(rep, 1, 100).map(|v| v as u32)
    });
    let joints = t
        .require(rep, "joints")
        .and_then(|i| joints(rep, &i, mode.unwrap_or(CommandMode::Velocity)));
    let sig = match (&joints, mode) {
        (Some(j), Some(mode)) if protocol_ok => {
            let (sensors, actuators) = signature(j, mode);
            Some(Signature {
                kind: kind.to_string(),
                sensors,
                actuators,
            })
        }
        _ => None,
    };
    let config = (|| {
        protocol_ok.then_some(())?;
        Some(PlantConfig::Servo(ServoBusConfig {
            device: device?,
            baud: baud?,
            protocol: "dynamixel".into(),
            timeout_ms: timeout_ms?,
            rate_hz: 0.0,
            mode: mode?,
            watchdog_ms: watchdog_ms?,
            bad_reply_limit: bad_reply_limit?,
            joints: joints?,
        }))
    })();
    (config, sig)
}

/// The bus runs one cycle per control period.
pub(crate) fn with_rate(plant: Option<PlantConfig>, rate_hz: Option<f64>) -> Option<PlantConfig> {
    match (plant, rate_hz) {
        (Some(PlantConfig::Servo(mut c)), Some(rate)) => {
            c.rate_hz = rate;
            Some(PlantConfig::Servo(c))
        }
        (p, _) => p,
    }
}

/// `[[plant.joints]]`: 1 to `MAX_CONFIG_JOINTS` joints, names and ids distinct.
fn joints(rep: &mut Reporter, item: &Item<'_>, mode: CommandMode) -> Option<Vec<ServoJoint>> {
    let items = item.array(rep)?;
    if items.is_empty() || items.len() > MAX_CONFIG_JOINTS {
        let msg = format!(
            "has {} joints, expected 1 to {MAX_CONFIG_JOINTS} (one [[plant.joints]] table each)",
            items.len()
        );
        item.report(rep, msg);
        return None;
    }
    let mut out: Vec<ServoJoint> = Vec::with_capacity(items.len());
    let mut ok = true;
    for e in &items {
        let Some(t) = e.table(rep) else {
            ok = false;
            continue;
        };
        let Some(j) = joint(rep, &t, mode) else {
            ok = false;
            continue;
        };
        if let Some(other) = out.iter().find(|o| o.name == j.name) {
            let msg = format!("joint `{}` is listed twice", other.name);
            rep.report(t.field("name"), t.get("name").and_then(|i| i.span()), msg);
            ok = false;
        } else if let Some(other) = out.iter().find(|o| o.id == j.id) {
            let msg = format!("servo id {} already drives joint `{}`", j.id, other.name);
            rep.report(t.field("id"), t.get("id").and_then(|i| i.span()), msg);
            ok = false;
        } else {
            out.push(j);
        }
    }
    ok.then_some(out)
}

fn finite(rep: &mut Reporter, i: &Item<'_>) -> Option<f32> {
    let v = i.number(rep)?;
    if (v as f32).is_finite() {
        Some(v as f32)
    } else {
        i.report(rep, format!("must be a finite number, got {v}"));
        None
    }
}

fn joint(rep: &mut Reporter, t: &Table<'_>, mode: CommandMode) -> Option<ServoJoint> {
    t.check_keys(
        rep,
        &[
            "name",
            "id",
            "zero_tick",
            "direction",
            "min_position",
            "max_position",
            "max_velocity",
        ],
    );
    let name = t.require(rep, "name").and_then(|i| key_name(rep, &i));
    let id = t
        .require(rep, "id")
        .and_then(|i| i.count(rep, 0, u64::from(MAX_ID)).map(|v| v as u8));
    let zero_tick = or_default(t.get("zero_tick"), CENTER_TICK, |i| {
        i.count(rep, 0, LAST_TICK as u64).map(|v| v as i32)
    });
    let direction = or_default(t.get("direction"), 1.0, |i| {
        let v = i.number(rep)?;
        if v == 1.0 || v == -1.0 {
            return Some(v as f32);
        }
        i.report(rep, format!("must be 1 or -1, got {v}"));
        None
    });
    let min_item = t.require(rep, "min_position");
    let max_item = t.require(rep, "max_position");
    let min = min_item.as_ref().and_then(|i| finite(rep, i));
    let max = max_item.as_ref().and_then(|i| finite(rep, i));
    let mut limits_ok = true;
    if let (Some(lo), Some(hi), Some(i)) = (min, max, &max_item)
        && lo >= hi
    {
        i.report(rep, format!("must be above min_position ({lo}), got {hi}"));
        limits_ok = false;
    }
    // In position mode a goal is one revolution's ticks, 0 to 4095.
    if let (CommandMode::Position, Some(z), Some(d)) = (mode, zero_tick, direction) {
        for (v, item) in [(min, &min_item), (max, &max_item)] {
            let (Some(v), Some(item)) = (v, item) else {
                continue;
            };
            let units = JointUnits {
                zero_tick: z,
                direction: d,
            };
            let tick = units.rad_to_ticks(v);
            if !(0..=LAST_TICK).contains(&tick) {
                let msg = format!(
                    "{v} rad is tick {tick} (zero_tick {z}, direction {d}), outside the \
                     servo's position range 0 to {LAST_TICK}"
                );
                item.report(rep, msg);
                limits_ok = false;
            }
        }
    }
    let max_velocity = t.require(rep, "max_velocity").and_then(|i| {
        let v = finite(rep, &i)?;
        if v > 0.0 && v as f64 <= MAX_JOINT_VELOCITY {
            return Some(v);
        }
        i.report(
            rep,
            format!("must be above 0 and at most {MAX_JOINT_VELOCITY} (rad/s), got {v}"),
        );
        None
    });
    limits_ok.then_some(())?;
    Some(ServoJoint {
        name: name?,
        id: id?,
        zero_tick: zero_tick?,
        direction: direction?,
        min_position: min?,
        max_position: max?,
        max_velocity: max_velocity?,
    })
}
