//! Smart-servo buses: chains of Dynamixel X-series servos on one serial
//! line (Protocol 2.0). `protocol` (packets, CRC, byte stuffing),
//! `decoder` (the streaming decoder), `table` (control-table addresses and unit
//! conversions), `bus` (the driver: every transaction with a deadline),
//! `emulator` (servos — each a `sim_servo` with first-order dynamics — and
//! fault switches behind a pseudo-terminal, for tests, benchmarks and `ganglion servo emulate`) and
//! `plant` (`ServoBusPlant`: the bus as a `Plant`; its `worker` thread runs
//! the Sync Write / Sync Read cycle, faults latched with torque off) and
//! `home` (the closed-form policy shipped with `robots/arm-servo.toml`).

pub mod bus;
pub mod decoder;
pub mod emulator;
pub mod home;
pub mod plant;
pub mod protocol;
mod sim_servo;
pub mod table;
mod worker;

pub use bus::{Bus, BusError, PingInfo};
pub use emulator::{Emulator, EmulatorCounters, EmulatorOptions, InjectedFault, ServoSnapshot};
pub use plant::{
    CommandMode, ServoBusConfig, ServoBusPlant, ServoFault, ServoFaultKind, ServoJoint,
};

use anyhow::{Result, bail};

/// Servo ids from text like `1-20`, `1,3,5` or `1-4,10` (each 0–252; in
/// the order given, duplicates dropped).
pub fn parse_ids(text: &str) -> Result<Vec<u8>> {
    let mut ids = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let id = |s: &str| -> Result<u8> {
            match s.trim().parse::<u8>() {
                Ok(v) if v <= protocol::MAX_ID => Ok(v),
                _ => bail!("`{s}` is not a servo id (0 to {})", protocol::MAX_ID),
            }
        };
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (id(a)?, id(b)?),
            None => (id(part)?, id(part)?),
        };
        if lo > hi {
            bail!("`{part}`: the range runs backwards");
        }
        for v in lo..=hi {
            if !ids.contains(&v) {
                ids.push(v);
            }
        }
    }
    if ids.is_empty() {
        bail!("no servo ids in `{text}`");
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_parse_from_ranges_and_lists() {
        assert_eq!(super::parse_ids("1-4,10,3").unwrap(), vec![1, 2, 3, 4, 10]);
        assert_eq!(super::parse_ids("7").unwrap(), vec![7]);
        for bad in ["", "0-300", "5-2", "x", "1,,253"] {
            assert!(super::parse_ids(bad).is_err(), "{bad}");
        }
    }
}
