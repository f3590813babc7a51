//! `ganglion bench servo`: the Dynamixel bus cycle rate — Sync Write of the
//! goals and Sync Read of present load, velocity and position of N servos —
//! against the bus emulator on a pseudo-terminal, beside the 100 Hz control
//! rate it has to sustain. A pty has no baud rate, so this measures the
//! driver and the emulator (per-cycle CPU), not a real line; the wire time
//! at the configured baud is reported beside it.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::io::serial::SerialPort;
use crate::runtime::stats::quantile_sorted;
use crate::servo::{Bus, Emulator, EmulatorOptions, table};

/// The control rate the bus must keep up with.
pub const TARGET_HZ: f64 = 100.0;

/// Runs `cycles` cycles with `servos` emulated servos as fast as the bus
/// allows.
pub fn servo_bench(cycles: usize, servos: u8, baud: u32) -> Result<Value> {
    let emu = Emulator::start(EmulatorOptions::with_servos(servos))?;
    let port = SerialPort::open(emu.path(), baud)?;
    let mut bus = Bus::new(port, Duration::from_millis(100));
    let ids: Vec<u8> = (1..=servos).collect();
    for &id in &ids {
        bus.torque(id, true)
            .with_context(|| format!("servo {id}: torque on"))?;
    }
    let n = ids.len();
    let mut block = vec![0u8; 10 * n];
    let mut alerts = vec![false; n];
    let mut goals = vec![2048i32; n];
    let mut lat = Vec::with_capacity(cycles);
    let t0 = Instant::now();
    for k in 0..cycles {
        let c = Instant::now();
        for (i, g) in goals.iter_mut().enumerate() {
            *g = 2048 + ((k / 100 + i) % 5) as i32 * 100;
        }
        bus.sync_write_i32(&ids, table::GOAL_POSITION, &goals)
            .with_context(|| format!("cycle {k}: sync write"))?;
        bus.sync_read(
            &ids,
            table::PRESENT_LOAD,
            table::PRESENT_BLOCK_LEN,
            &mut block,
            &mut alerts,
        )
        .with_context(|| format!("cycle {k}: sync read"))?;
        lat.push(c.elapsed().as_secs_f64() * 1e6);
    }
    let secs = t0.elapsed().as_secs_f64();
    let counters = emu.stop();
    lat.sort_by(f64::total_cmp);
    let rate = cycles as f64 / secs;
    // Bytes on a real line per cycle: the Sync Write, the Sync Read and
    // one status packet per servo (unstuffed sizes; 10 bits per byte).
    let write = 14 + n * 5;
    let read = 14 + n;
    let status = n * (11 + table::PRESENT_BLOCK_LEN as usize);
    let wire_bytes = write + read + status;
    let wire_us = wire_bytes as f64 * 10.0 / baud as f64 * 1e6;
    Ok(json!({
        "bench": "servo",
        "servos": n,
        "cycles": cycles,
        "seconds": secs,
        "cycle_hz": rate,
        "target_hz": TARGET_HZ,
        "meets_target": rate >= TARGET_HZ,
        "cycle_us_median": quantile_sorted(&lat, 0.5),
        "cycle_us_p99": quantile_sorted(&lat, 0.99),
        "bus_errors": bus.stats().errors,
        "emulator": counters,
        "wire_bytes_per_cycle": wire_bytes,
        "wire_us_per_cycle_at_baud": wire_us,
        "baud": baud,
    }))
}

/// The text report.
pub fn print(v: &Value) {
    let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    println!(
        "servo bus ({} servos, emulator on a pty): {} cycles in {:.2} s = {:.0} Hz \
         (target {:.0} Hz: {})",
        v["servos"],
        v["cycles"],
        f("seconds"),
        f("cycle_hz"),
        f("target_hz"),
        if v["meets_target"].as_bool() == Some(true) {
            "met"
        } else {
            "NOT met"
        }
    );
    println!(
        "  cycle median {:.0} µs, p99 {:.0} µs; bus errors {}",
        f("cycle_us_median"),
        f("cycle_us_p99"),
        v["bus_errors"]
    );
    println!(
        "  on a real line at {} baud: {} bytes = {:.0} µs of wire time per cycle \
         (≤ {:.0} Hz before servo return delays)",
        v["baud"],
        v["wire_bytes_per_cycle"],
        f("wire_us_per_cycle_at_baud"),
        1e6 / f("wire_us_per_cycle_at_baud")
    );
}
