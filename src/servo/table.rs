//! The X-series control table as this crate uses it (addresses and sizes of
//! the fields the driver, the emulator and the plant touch), and the unit
//! conversions between servo units and a joint's SI units: position ticks
//! (4096 per revolution, 2048 = 0 rad by default), velocity in 0.229 rpm
//! steps, load in 0.1 % steps.

use std::f64::consts::TAU;

/// Model Number (2 bytes, EEPROM).
pub const MODEL_NUMBER: u16 = 0;
/// Firmware Version (1 byte, EEPROM).
pub const FIRMWARE_VERSION: u16 = 6;
/// ID (1 byte, EEPROM).
pub const ID: u16 = 7;
/// Operating Mode (1 byte, EEPROM): see `mode`.
pub const OPERATING_MODE: u16 = 11;
/// Max Position Limit (4 bytes, EEPROM).
pub const MAX_POSITION_LIMIT: u16 = 48;
/// Min Position Limit (4 bytes, EEPROM).
pub const MIN_POSITION_LIMIT: u16 = 52;
/// Torque Enable (1 byte, RAM): the first RAM address; EEPROM below it
/// can only be written while torque is off.
pub const TORQUE_ENABLE: u16 = 64;
/// Hardware Error Status (1 byte, RAM, read-only): see `hw`.
pub const HARDWARE_ERROR_STATUS: u16 = 70;
/// Bus Watchdog (1 byte, RAM): units of 20 ms, 0 off; -1 once it tripped.
pub const BUS_WATCHDOG: u16 = 98;
/// Goal Velocity (4 bytes, RAM, signed, velocity units).
pub const GOAL_VELOCITY: u16 = 104;
/// Goal Position (4 bytes, RAM, signed, ticks).
pub const GOAL_POSITION: u16 = 116;
/// Present Load (2 bytes, RAM, signed, 0.1 %).
pub const PRESENT_LOAD: u16 = 126;
/// Present Velocity (4 bytes, RAM, signed, velocity units).
pub const PRESENT_VELOCITY: u16 = 128;
/// Present Position (4 bytes, RAM, signed, ticks).
pub const PRESENT_POSITION: u16 = 132;
/// Load, velocity and position are adjacent: one read of this many bytes
/// from `PRESENT_LOAD` takes all three.
pub const PRESENT_BLOCK_LEN: u16 = 10;

/// The bus watchdog's unit.
pub const WATCHDOG_UNIT_MS: u32 = 20;

/// Operating Mode values.
pub mod mode {
    pub const VELOCITY: u8 = 1;
    pub const POSITION: u8 = 3;
}

/// Hardware Error Status bits.
pub mod hw {
    pub const INPUT_VOLTAGE: u8 = 0x01;
    pub const OVERHEATING: u8 = 0x04;
    pub const MOTOR_ENCODER: u8 = 0x08;
    pub const ELECTRICAL_SHOCK: u8 = 0x10;
    pub const OVERLOAD: u8 = 0x20;
}

/// The names of the bits set in a Hardware Error Status byte.
pub fn hardware_error_names(bits: u8) -> String {
    let names: Vec<&str> = [
        (hw::INPUT_VOLTAGE, "input voltage"),
        (hw::OVERHEATING, "overheating"),
        (hw::MOTOR_ENCODER, "motor encoder"),
        (hw::ELECTRICAL_SHOCK, "electrical shock"),
        (hw::OVERLOAD, "overload"),
    ]
    .iter()
    .filter(|(b, _)| bits & b != 0)
    .map(|(_, n)| *n)
    .collect();
    if names.is_empty() {
        format!("unknown ({bits:#04x})")
    } else {
        names.join(", ")
    }
}

/// Known model numbers, for `servo scan`.
pub fn model_name(model: u16) -> Option<&'static str> {
    Some(match model {
        1020 => "XM430-W350",
        1030 => "XM430-W210",
        1060 => "XL430-W250",
        1070 => "XC430-W150",
        1080 => "XC430-W240",
        1090 => "2XL430-W250",
        1120 => "XM540-W150",
        1130 => "XM540-W270",
        1190 => "XL330-M077",
        1200 => "XL330-M288",
        1210 => "XH430-W350",
        _ => return None,
    })
}

/// Ticks per revolution of the position fields.
pub const TICKS_PER_REV: f64 = 4096.0;
/// The default tick of 0 rad (the middle of one revolution).
pub const CENTER_TICK: i32 = 2048;
/// One velocity unit, rpm.
pub const RPM_PER_UNIT: f64 = 0.229;
/// One load unit, as a fraction of the maximum.
pub const LOAD_PER_UNIT: f64 = 0.001;

/// How a joint's SI units map to its servo's: `rad = direction ×
/// (tick − zero_tick) × 2π / 4096`; velocities and loads take the same
/// direction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JointUnits {
    pub zero_tick: i32,
    /// +1 or −1.
    pub direction: f32,
}

impl Default for JointUnits {
    fn default() -> Self {
        JointUnits {
            zero_tick: CENTER_TICK,
            direction: 1.0,
        }
    }
}

const RAD_PER_TICK: f64 = TAU / TICKS_PER_REV;
const RAD_S_PER_UNIT: f64 = RPM_PER_UNIT * TAU / 60.0;

fn dir(d: f32) -> f64 {
    if d < 0.0 { -1.0 } else { 1.0 }
}

impl JointUnits {
    pub fn ticks_to_rad(&self, tick: i32) -> f32 {
        (dir(self.direction) * (tick as f64 - self.zero_tick as f64) * RAD_PER_TICK) as f32
    }

    pub fn rad_to_ticks(&self, rad: f32) -> i32 {
        let t = self.zero_tick as f64 + dir(self.direction) * rad as f64 / RAD_PER_TICK;
        t.round().clamp(i32::MIN as f64, i32::MAX as f64) as i32
    }

    pub fn units_to_rad_s(&self, units: i32) -> f32 {
        (dir(self.direction) * units as f64 * RAD_S_PER_UNIT) as f32
    }

    pub fn rad_s_to_units(&self, rad_s: f32) -> i32 {
        let u = dir(self.direction) * rad_s as f64 / RAD_S_PER_UNIT;
        u.round().clamp(i32::MIN as f64, i32::MAX as f64) as i32
    }

    /// Present Load as a signed fraction of the maximum (1.0 = 100 %).
    pub fn load_fraction(&self, units: i16) -> f32 {
        (dir(self.direction) * units as f64 * LOAD_PER_UNIT) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_convert_both_ways() {
        let u = JointUnits::default();
        assert_eq!(u.ticks_to_rad(2048), 0.0);
        assert!((u.ticks_to_rad(3072) - std::f32::consts::FRAC_PI_2).abs() < 1e-6);
        assert_eq!(u.rad_to_ticks(std::f32::consts::PI), 4096);
        // 1 unit = 0.229 rpm = 0.02398 rad/s.
        assert!((u.units_to_rad_s(100) - 2.398_082).abs() < 1e-5);
        assert_eq!(u.rad_s_to_units(u.units_to_rad_s(-237)), -237);
        assert!((u.load_fraction(-500) + 0.5).abs() < 1e-6);
        let flipped = JointUnits {
            zero_tick: 1000,
            direction: -1.0,
        };
        assert!((flipped.ticks_to_rad(0) - 1000.0 * RAD_PER_TICK as f32).abs() < 1e-5);
        assert_eq!(flipped.rad_to_ticks(flipped.ticks_to_rad(1234)), 1234);
        assert_eq!(flipped.rad_s_to_units(1.0), -42);
        assert_eq!(hardware_error_names(0x24), "overheating, overload");
    }
}
