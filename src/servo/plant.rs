//! `ServoBusPlant`: a chain of Dynamixel servos as a `ganglion_sim::Plant`.
//! A worker thread owns the bus and runs one cycle per control period: a
//! Sync Write of the goals (positions or velocities), then a Sync Read of
//! present load, velocity and position of every servo. The control tick
//! only touches fixed buffers: commands go to the worker through atomics,
//! samples come back through a bounded channel of fixed-size records, so
//! `read_sensors` / `write_commands` neither block nor allocate.
//!
//! Sensors, per joint in config order: `NAME.position` (rad),
//! `NAME.velocity` (rad/s), `NAME.load` (fraction of the maximum), then
//! `bus.status` (0 healthy, else the `ServoFaultKind` code) and
//! `bus.errors` (failed transactions so far). Actuators: `NAME.position`
//! (rad) or `NAME.velocity` (rad/s) by command mode, clamped to the joint's
//! limits before they go out; in position mode a goal also moves at most
//! `max_velocity` per cycle.
//!
//! Faults: a transaction without a (whole) reply within `timeout_ms`, a bad
//! reply (bad CRC, wrong id or length) or a status error on
//! `bad_reply_limit` cycles in a row, a servo's alert bit (its Hardware
//! Error Status is read and named), or the line failing. The first fault
//! is latched with its kind, servo, time and cycle (`fault()`); `health()`
//! is `Fault` from then on; samples stop, so sensor stamps stop advancing
//! and the loop's staleness check acts too. The safe action, chosen once:
//! **torque off**, as a broadcast Write of Torque Enable = 0 (one packet
//! every servo that still listens obeys), sent at once and then on every
//! cycle while faulted — the same state an X-series servo puts itself in on
//! a hardware error and, here, on its bus watchdog (`watchdog_ms`), which
//! covers a controller that dies. Dropping the plant also turns torque off.
//! A latched fault clears only by building the plant again.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use crossbeam::channel::{Receiver, bounded};
use ganglion_sim::{Plant, PlantHealth};

use super::bus::{Bus, MAX_SYNC_IDS, present_block};
use super::table::{self, JointUnits, mode};
pub use crate::config::servo::{CommandMode, ServoBusConfig, ServoJoint, signature};
use crate::io::serial::SerialPort;

/// Most joints one plant drives (a config allows fewer: what a recording
/// holds).
pub const MAX_JOINTS: usize = 32;
const _: () = assert!(MAX_JOINTS <= MAX_SYNC_IDS);

impl ServoJoint {
    pub fn units(&self) -> JointUnits {
        JointUnits {
            zero_tick: self.zero_tick,
            direction: self.direction,
        }
    }
}

/// What went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServoFaultKind {
    /// No (whole) reply within the timeout: silence.
    Timeout,
    /// Replies with a bad CRC.
    BadChecksum,
    /// Replies of the wrong id or length.
    BadReply,
    /// The servo refused instructions (its status error byte).
    StatusError,
    /// The servo's alert bit: its Hardware Error Status bits.
    HardwareError(u8),
    /// The serial line itself failed.
    Line,
}

impl ServoFaultKind {
    pub fn name(&self) -> &'static str {
        match self {
            ServoFaultKind::Timeout => "timeout",
            ServoFaultKind::BadChecksum => "bad_checksum",
            ServoFaultKind::BadReply => "bad_reply",
            ServoFaultKind::StatusError => "status_error",
            ServoFaultKind::HardwareError(_) => "hardware_error",
            ServoFaultKind::Line => "line",
        }
    }

    /// The value of the `bus.status` sensor.
    pub fn code(&self) -> u8 {
        match self {
            ServoFaultKind::Timeout => 1,
            ServoFaultKind::BadChecksum => 2,
            ServoFaultKind::BadReply => 3,
            ServoFaultKind::StatusError => 4,
            ServoFaultKind::HardwareError(_) => 5,
            ServoFaultKind::Line => 6,
        }
    }
}

/// A latched fault, for the caller to report.
#[derive(Clone, Debug, PartialEq)]
pub struct ServoFault {
    pub kind: ServoFaultKind,
    /// The servo concerned (`None`: the line).
    pub servo: Option<u8>,
    /// Its joint's name.
    pub joint: Option<String>,
    /// Plant time (s) of detection.
    pub time_s: f64,
    /// The worker's cycle (1-based) that detected it.
    pub cycle: u64,
    pub message: String,
}

impl std::fmt::Display for ServoFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} at {:.3} s (cycle {})",
            self.kind.name(),
            self.time_s,
            self.cycle
        )?;
        if let Some(id) = self.servo {
            write!(f, ", servo {id}")?;
        }
        if let Some(j) = &self.joint {
            write!(f, " ({j})")?;
        }
        write!(f, ": {}", self.message)
    }
}

#[derive(Clone, Copy)]
pub(super) struct Sample {
    pub(super) stamp: f64,
    pub(super) values: [f32; 3 * MAX_JOINTS],
}

impl Sample {
    /// Joint sensors from Sync Read blocks (`PRESENT_BLOCK_LEN` bytes per
    /// joint, in joint order) read at plant time `stamp`.
    pub(super) fn from_block(joints: &[ServoJoint], block: &[u8], stamp: f64) -> Sample {
        let mut sample = Sample {
            stamp,
            values: [0.0; 3 * MAX_JOINTS],
        };
        for (i, j) in joints.iter().enumerate().take(MAX_JOINTS) {
            let (load, vel, pos) = block
                .get(10 * i..)
                .and_then(present_block)
                .unwrap_or_default();
            let u = j.units();
            sample.values[3 * i] = u.ticks_to_rad(pos);
            sample.values[3 * i + 1] = u.units_to_rad_s(vel);
            sample.values[3 * i + 2] = u.load_fraction(load);
        }
        sample
    }
}

pub(super) struct Shared {
    pub(super) commands: Vec<AtomicU32>,
    pub(super) commanded: AtomicBool,
    pub(super) stop: AtomicBool,
    pub(super) faulted: AtomicBool,
    pub(super) fault: Mutex<Option<ServoFault>>,
    pub(super) fault_code: AtomicU32,
    pub(super) errors: AtomicU64,
    pub(super) cycles: AtomicU64,
    pub(super) safe_actions: AtomicU64,
    pub(super) first_safe_cycle: AtomicU64,
}

/// The plant; see the module documentation.
pub struct ServoBusPlant {
    cfg: ServoBusConfig,
    sensors: &'static [&'static str],
    actuators: &'static [&'static str],
    shared: Arc<Shared>,
    samples: Receiver<Sample>,
    last: Option<Sample>,
    epoch: Instant,
    worker: Option<JoinHandle<()>>,
}

impl ServoBusPlant {
    /// Opens the bus, checks every servo answers and has no hardware
    /// error, sets its operating mode and watchdog, holds it where it is
    /// (goal = present position, or velocity 0), turns torque on and starts
    /// the worker.
    pub fn connect(cfg: ServoBusConfig) -> Result<ServoBusPlant> {
        if cfg.protocol != "dynamixel" {
            bail!(
                "servo protocol `{}` is not supported (known: dynamixel)",
                cfg.protocol
            );
        }
        if cfg.joints.is_empty() || cfg.joints.len() > MAX_JOINTS {
            bail!(
                "a servo bus plant drives 1 to {MAX_JOINTS} joints, got {}",
                cfg.joints.len()
            );
        }
        if !(cfg.rate_hz.is_finite() && cfg.rate_hz > 0.0) {
            bail!("servo bus rate must be positive, got {}", cfg.rate_hz);
        }
        check_joints(&cfg.joints)?;
        let port = SerialPort::open(&cfg.device, cfg.baud)?;
        let mut bus = Bus::new(port, Duration::from_millis(cfg.timeout_ms.max(1)));
        let ids: Vec<u8> = cfg.joints.iter().map(|j| j.id).collect();
        let op_mode = match cfg.mode {
            CommandMode::Position => mode::POSITION,
            CommandMode::Velocity => mode::VELOCITY,
        };
        let wd = cfg.watchdog_ms.div_ceil(table::WATCHDOG_UNIT_MS).min(127) as u8;
        for j in &cfg.joints {
            let at = |what: &str| format!("joint {} (servo {}): {what}", j.name, j.id);
            bus.ping(j.id).with_context(|| at("no answer to a ping"))?;
            let bits = bus
                .hardware_error(j.id)
                .with_context(|| at("reading Hardware Error Status"))?;
            if bits != 0 {
                bail!(
                    "{}",
                    at(&format!(
                        "hardware error {bits:#04x} ({}); reboot or power-cycle the servo",
                        table::hardware_error_names(bits)
                    ))
                );
            }
            bus.torque(j.id, false).with_context(|| at("torque off"))?;
            bus.write(j.id, table::OPERATING_MODE, &[op_mode])
                .with_context(|| at("setting the operating mode"))?;
            // 0 first: clears a tripped watchdog.
            bus.write(j.id, table::BUS_WATCHDOG, &[0])
                .with_context(|| at("clearing the bus watchdog"))?;
        }
        let epoch = Instant::now();
        let mut block = [0u8; 10 * MAX_JOINTS];
        let mut alerts = [false; MAX_JOINTS];
        bus.sync_read(
            &ids,
            table::PRESENT_LOAD,
            table::PRESENT_BLOCK_LEN,
            &mut block,
            &mut alerts,
        )
        .context("reading the servos' present positions")?;
        let first = Sample::from_block(&cfg.joints, &block, epoch.elapsed().as_secs_f64());
        let mut start = [0f32; MAX_JOINTS];
        let mut goals = [0i32; MAX_JOINTS];
        for (i, j) in cfg.joints.iter().enumerate() {
            let (_, _, pos) = present_block(&block[10 * i..]).unwrap_or_default();
            start[i] = j.units().ticks_to_rad(pos);
            goals[i] = pos;
        }
        let goal_addr = match cfg.mode {
            CommandMode::Position => table::GOAL_POSITION,
            CommandMode::Velocity => {
                goals.fill(0);
                table::GOAL_VELOCITY
            }
        };
        bus.sync_write_i32(&ids, goal_addr, &goals[..ids.len()])
            .context("holding the servos where they are")?;
        for j in &cfg.joints {
            bus.torque(j.id, true)
                .with_context(|| format!("joint {} (servo {}): torque on", j.name, j.id))?;
            if wd > 0 {
                bus.write(j.id, table::BUS_WATCHDOG, &[wd])
                    .with_context(|| format!("joint {} (servo {}): bus watchdog", j.name, j.id))?;
            }
        }
        let (sensors, actuators) = signature(&cfg.joints, cfg.mode);
        let shared = Arc::new(Shared {
            commands: (0..cfg.joints.len())
                .map(|i| AtomicU32::new(start[i].to_bits()))
                .collect(),
            commanded: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            faulted: AtomicBool::new(false),
            fault: Mutex::new(None),
            fault_code: AtomicU32::new(0),
            errors: AtomicU64::new(0),
            cycles: AtomicU64::new(0),
            safe_actions: AtomicU64::new(0),
            first_safe_cycle: AtomicU64::new(0),
        });
        let (tx, samples) = bounded(64);
        let worker = {
            let worker = super::worker::Worker {
                bus,
                ids,
                cfg: cfg.clone(),
                shared: shared.clone(),
                tx,
                epoch,
                goal: start,
                garbled_run: 0,
                status_run: 0,
            };
            std::thread::Builder::new()
                .name("ganglion-servo-bus".into())
                .spawn(move || worker.run())
                .context("starting the servo bus worker")?
        };
        Ok(ServoBusPlant {
            cfg,
            sensors,
            actuators,
            shared,
            samples,
            last: Some(first),
            epoch,
            worker: Some(worker),
        })
    }

    pub fn config(&self) -> &ServoBusConfig {
        &self.cfg
    }

    /// The latched fault, if any.
    pub fn fault(&self) -> Option<ServoFault> {
        self.shared
            .fault
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Bus cycles the worker has started.
    pub fn cycles(&self) -> u64 {
        self.shared.cycles.load(Ordering::Acquire)
    }

    /// Failed transactions so far.
    pub fn errors(&self) -> u64 {
        self.shared.errors.load(Ordering::Relaxed)
    }

    /// Cycles on which the safe action (torque off) went out.
    pub fn safe_actions(&self) -> u64 {
        self.shared.safe_actions.load(Ordering::Acquire)
    }

    /// The cycle on which the safe action first went out (`None`: not yet).
    pub fn safe_action_cycle(&self) -> Option<u64> {
        match self.shared.first_safe_cycle.load(Ordering::Acquire) {
            0 => None,
            c => Some(c),
        }
    }
}

/// What the plant needs of its joints (the config check says the same
/// with file and line): ids on the bus, distinct ids and names, limits in
/// order, a positive speed limit, a direction of ±1.
pub fn check_joints(joints: &[ServoJoint]) -> Result<()> {
    for (i, j) in joints.iter().enumerate() {
        let at = format!("joint {} (servo {})", j.name, j.id);
        if j.name.is_empty() {
            bail!("joint {i} has no name");
        }
        if j.id > super::protocol::MAX_ID {
            bail!("{at}: servo ids are 0 to {}", super::protocol::MAX_ID);
        }
        if let Some(other) = joints[..i]
            .iter()
            .find(|o| o.id == j.id || o.name == j.name)
        {
            bail!(
                "{at}: same id or name as joint {} (servo {})",
                other.name,
                other.id
            );
        }
        if !(j.min_position.is_finite()
            && j.max_position.is_finite()
            && j.min_position < j.max_position)
        {
            bail!(
                "{at}: position limits [{}, {}] are not in order",
                j.min_position,
                j.max_position
            );
        }
        if !(j.max_velocity.is_finite() && j.max_velocity > 0.0) {
            bail!(
                "{at}: max_velocity must be positive, got {}",
                j.max_velocity
            );
        }
        if j.direction != 1.0 && j.direction != -1.0 {
            bail!("{at}: direction must be 1 or -1, got {}", j.direction);
        }
    }
    Ok(())
}

impl Plant for ServoBusPlant {
    fn sensor_names(&self) -> &'static [&'static str] {
        self.sensors
    }

    fn actuator_names(&self) -> &'static [&'static str] {
        self.actuators
    }

    /// Hardware has no episodes: nothing to reset.
    fn reset(&mut self, _seed: u64) {}

    fn read_sensors(&mut self, values: &mut [f32], stamps: &mut [f64]) {
        while let Ok(s) = self.samples.try_recv() {
            self.last = Some(s);
        }
        let n = 3 * self.cfg.joints.len();
        let now = self.time();
        match &self.last {
            Some(s) => {
                let k = n.min(values.len());
                values[..k].copy_from_slice(&s.values[..k]);
                stamps.iter_mut().take(n).for_each(|t| *t = s.stamp);
            }
            None => {
                values.iter_mut().take(n).for_each(|v| *v = 0.0);
                stamps
                    .iter_mut()
                    .take(n)
                    .for_each(|t| *t = f64::NEG_INFINITY);
            }
        }
        if let (Some(v), Some(t)) = (values.get_mut(n), stamps.get_mut(n)) {
            *v = self.shared.fault_code.load(Ordering::Acquire) as f32;
            *t = now;
        }
        if let (Some(v), Some(t)) = (values.get_mut(n + 1), stamps.get_mut(n + 1)) {
            *v = self.shared.errors.load(Ordering::Relaxed) as f32;
            *t = now;
        }
    }

    fn write_commands(&mut self, commands: &[f32]) {
        let mut any = false;
        for (j, (joint, slot)) in self
            .cfg
            .joints
            .iter()
            .zip(&self.shared.commands)
            .enumerate()
        {
            let Some(&c) = commands.get(j) else { continue };
            if !c.is_finite() {
                continue; // keep the previous goal
            }
            let c = match self.cfg.mode {
                CommandMode::Position => c.clamp(joint.min_position, joint.max_position),
                CommandMode::Velocity => c.clamp(-joint.max_velocity, joint.max_velocity),
            };
            slot.store(c.to_bits(), Ordering::Relaxed);
            any = true;
        }
        if any {
            self.shared.commanded.store(true, Ordering::Release);
        }
    }

    /// Time runs by itself.
    fn advance(&mut self, _dt: f64) {}

    fn time(&self) -> f64 {
        self.epoch.elapsed().as_secs_f64()
    }

    fn health(&self) -> PlantHealth {
        if self.shared.faulted.load(Ordering::Acquire) {
            PlantHealth::Fault
        } else {
            PlantHealth::Ok
        }
    }
}

impl Drop for ServoBusPlant {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}
