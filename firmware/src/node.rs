//! The joint node's logic, independent of where it runs: it takes decoded
//! frames (`handle`) and runs one control tick at a time (`tick`, 1 kHz) over
//! a `Hardware` implementation: the MCU's peripherals, the emulated
//! plant of hardware-in-the-loop, or the rapier sim on the host. PD/position
//! loop, joint limits, command watchdog, latched e-stop, fault reporting and
//! JointState publishing at the configured rate. Fixed-size, no allocation.

use crate::message::*;
use crate::wire::{DecodeError, Frame};

/// What the node runs on.
pub trait Hardware {
    /// Monotonic node clock (µs).
    fn now_us(&mut self) -> u64;
    /// Reads every joint's position and velocity (sets `out.n`).
    fn read_joints(&mut self, out: &mut JointReadings);
    /// Writes one effort per joint.
    fn write_efforts(&mut self, efforts: &[f32]);
}

/// Joint sensors as read in one tick.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct JointReadings {
    pub n: u8,
    pub position: [f32; MAX_JOINTS],
    pub velocity: [f32; MAX_JOINTS],
}

/// What the node is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeMode {
    /// No NodeConfig since boot: no effort, commands refused.
    Unconfigured,
    /// Configured, no command yet: safe state.
    Idle,
    /// Fresh commands: the control law runs.
    Active,
    /// The command watchdog expired: safe state until a fresh command.
    Watchdog,
    /// Latched e-stop: safe state until Reset.
    EStopped,
}

/// The result of one tick.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TickOutput {
    /// A JointState to publish (the configured rate says when).
    pub state: Option<JointState>,
    /// A fault to report (each is reported once, when it begins).
    pub fault: Option<Fault>,
}

/// JointState period while unconfigured (so the host learns it must send a
/// NodeConfig, e.g. after the node rebooted).
pub const UNCONFIGURED_PUBLISH_US: u64 = 100_000;
const FAULT_QUEUE: usize = 4;

pub struct Node {
    config: NodeConfig,
    configured: bool,
    command: JointCommand,
    command_seq: Option<u16>,
    command_at_us: Option<u64>,
    estop: bool,
    watchdog_tripped: bool,
    sensor_fault: bool,
    limit_active: bool,
    hold: [f32; MAX_JOINTS],
    hold_valid: bool,
    efforts: [f32; MAX_JOINTS],
    readings: JointReadings,
    mode: NodeMode,
    last_publish_us: Option<u64>,
    last_now_us: u64,
    out_seq: u16,
    boot_id: u32,
    rx_ok: u32,
    rx_err: u32,
    rejected: u32,
    faults: [Fault; FAULT_QUEUE],
    n_faults: usize,
}

impl Node {
    /// A freshly booted node; `boot_id` distinguishes boots.
    pub const fn new(boot_id: u32) -> Self {
        Node {
            config: NodeConfig {
                watchdog_us: 0,
                publish_period_us: 0,
                safe_mode: SafeMode::Brake,
                n: 0,
                joints: [JointConfig {
                    kp: 0.0,
                    kd: 0.0,
                    damping: 0.0,
                    max_effort: 0.0,
                    position_min: 0.0,
                    position_max: 0.0,
                    max_velocity: 0.0,
                }; MAX_JOINTS],
            },
            configured: false,
            command: JointCommand {
                n: 0,
                mode: [JointMode::Effort; MAX_JOINTS],
                position: [0.0; MAX_JOINTS],
                velocity: [0.0; MAX_JOINTS],
                effort: [0.0; MAX_JOINTS],
            },
            command_seq: None,
            command_at_us: None,
            estop: false,
            watchdog_tripped: false,
            sensor_fault: false,
            limit_active: false,
            hold: [0.0; MAX_JOINTS],
            hold_valid: false,
            efforts: [0.0; MAX_JOINTS],
            readings: JointReadings {
                n: 0,
                position: [0.0; MAX_JOINTS],
                velocity: [0.0; MAX_JOINTS],
            },
            mode: NodeMode::Unconfigured,
            last_publish_us: None,
            last_now_us: 0,
            out_seq: 0,
            boot_id,
            rx_ok: 0,
            rx_err: 0,
            rejected: 0,
            faults: [Fault {
                code: 0,
                joint: 0,
                node_time_us: 0,
                detail: 0.0,
            }; FAULT_QUEUE],
            n_faults: 0,
        }
    }

    pub fn mode(&self) -> NodeMode {
        self.mode
    }
    pub fn config(&self) -> Option<&NodeConfig> {
        self.configured.then_some(&self.config)
    }
    pub fn is_latched(&self) -> bool {
        self.estop
    }
    /// Frames decoded, frames rejected by the decoder, commands refused.
    pub fn counters(&self) -> (u32, u32, u32) {
        (self.rx_ok, self.rx_err, self.rejected)
    }
    /// Node time at which the last command was accepted.
    pub fn command_at_us(&self) -> Option<u64> {
        self.command_at_us
    }
    pub fn boot_id(&self) -> u32 {
        self.boot_id
    }

    /// Sequence number for the next frame the node sends.
    pub fn next_seq(&mut self) -> u16 {
        let s = self.out_seq;
        self.out_seq = self.out_seq.wrapping_add(1);
        s
    }

    fn status(&self) -> u16 {
        let mut s = 0;
        if self.configured {
            s |= status::CONFIGURED;
        }
        match self.mode {
            NodeMode::Active => s |= status::ACTIVE,
            NodeMode::Watchdog => s |= status::WATCHDOG,
            _ => {}
        }
        if self.estop {
            s |= status::ESTOP;
        }
        if self.limit_active {
            s |= status::LIMIT;
        }
        if self.sensor_fault {
            s |= status::SENSOR_FAULT;
        }
        s
    }

    fn report(&mut self, code: u16, joint: u8, now_us: u64, detail: f32) {
        if self.n_faults < FAULT_QUEUE {
            self.faults[self.n_faults] = Fault {
                code,
                joint,
                node_time_us: now_us,
                detail,
            };
            self.n_faults += 1;
        }
    }

    fn pop_fault(&mut self) -> Option<Fault> {
        if self.n_faults == 0 {
            return None;
        }
        let f = self.faults[0];
        self.faults.copy_within(1..self.n_faults, 0);
        self.n_faults -= 1;
        Some(f)
    }

    /// Counts a frame the decoder rejected and reports it (one fault report
    /// per tick at most).
    pub fn frame_error(&mut self, _e: DecodeError) {
        self.rx_err = self.rx_err.wrapping_add(1);
        let now = self.last_now_us;
        let queued = self.faults[..self.n_faults]
            .iter()
            .any(|f| f.code == fault::BAD_FRAME);
        if !queued {
            self.report(fault::BAD_FRAME, 0xFF, now, self.rx_err as f32);
        }
    }

    /// Takes one decoded frame received at node time `now_us`; returns a reply
    /// to send, if any (a Heartbeat answers a Heartbeat).
    pub fn handle(&mut self, frame: &Frame, now_us: u64, uptime_ms: u32) -> Option<Message> {
        self.rx_ok = self.rx_ok.wrapping_add(1);
        match &frame.msg {
            Message::JointCommand(c) => self.command(frame.seq, c, now_us),
            Message::NodeConfig(c) => self.configure(c, now_us),
            Message::EStop => {
                if !self.estop {
                    self.report(fault::ESTOP, 0xFF, now_us, 0.0);
                }
                self.estop = true;
            }
            Message::Reset => {
                self.estop = false;
                self.watchdog_tripped = false;
            }
            Message::Heartbeat(_) => {
                return Some(Message::Heartbeat(Heartbeat {
                    time_us: now_us,
                    uptime_ms,
                    boot_id: self.boot_id,
                    status: self.status(),
                    rx_ok: self.rx_ok,
                    rx_err: self.rx_err,
                }));
            }
            _ => {}
        }
        None
    }

    fn command(&mut self, seq: u16, c: &JointCommand, now_us: u64) {
        if !self.configured {
            self.rejected += 1;
            if !self.faults[..self.n_faults]
                .iter()
                .any(|f| f.code == fault::UNCONFIGURED)
            {
                self.report(fault::UNCONFIGURED, 0xFF, now_us, 0.0);
            }
            return;
        }
        let n = c.n as usize;
        let finite = (0..n.min(MAX_JOINTS)).all(|j| {
            c.position[j].is_finite() && c.velocity[j].is_finite() && c.effort[j].is_finite()
        });
        if c.n != self.config.n || !finite {
            self.rejected += 1;
            self.report(fault::BAD_COMMAND, 0xFF, now_us, c.n as f32);
            return;
        }
        // Only newer commands: a reordered or duplicated frame is dropped.
        if let Some(last) = self.command_seq
            && (seq.wrapping_sub(last) as i16) <= 0
        {
            self.rejected += 1;
            return;
        }
        self.command = *c;
        self.command_seq = Some(seq);
        self.command_at_us = Some(now_us);
    }

    fn configure(&mut self, c: &NodeConfig, now_us: u64) {
        let valid = c.n as usize <= MAX_JOINTS
            && c.watchdog_us > 0
            && c.watchdog_us <= MAX_WATCHDOG_US
            && c.publish_period_us <= MAX_PUBLISH_PERIOD_US
            && c.joints[..(c.n as usize).min(MAX_JOINTS)].iter().all(|j| {
                let vals = [
                    j.kp,
                    j.kd,
                    j.damping,
                    j.max_effort,
                    j.position_min,
                    j.position_max,
                    j.max_velocity,
                ];
                vals.iter().all(|v| v.is_finite())
                    && j.kp >= 0.0
                    && j.kd >= 0.0
                    && j.damping >= 0.0
                    && j.max_effort >= 0.0
                    && j.position_min <= j.position_max
                    && j.max_velocity > 0.0
            });
        if !valid {
            self.report(fault::BAD_CONFIG, 0xFF, now_us, c.n as f32);
            return;
        }
        self.config = *c;
        self.configured = true;
        // A new controller session: its sequence numbers start afresh.
        self.command_seq = None;
        self.command_at_us = None;
        self.last_publish_us = None;
    }

    fn joints(&self) -> usize {
        if self.configured {
            self.config.n as usize
        } else {
            (self.readings.n as usize).min(MAX_JOINTS)
        }
    }

    /// The JointState of the last readings.
    fn state(&self, now_us: u64) -> JointState {
        let n = self.joints();
        let mut s = JointState {
            node_time_us: now_us,
            ack_seq: self.command_seq.unwrap_or(0),
            status: self.status(),
            n: n as u8,
            ..Default::default()
        };
        s.position[..n].copy_from_slice(&self.readings.position[..n]);
        s.velocity[..n].copy_from_slice(&self.readings.velocity[..n]);
        s.effort[..n].copy_from_slice(&self.efforts[..n]);
        s
    }

    /// Reads the joints and returns their state without running control
    /// (lockstep simulation: the state of a freshly reset plant).
    pub fn snapshot<H: Hardware>(&mut self, hw: &mut H) -> JointState {
        let now = hw.now_us();
        self.last_now_us = now;
        hw.read_joints(&mut self.readings);
        self.last_publish_us = Some(now);
        self.state(now)
    }

    /// One control tick.
    pub fn tick<H: Hardware>(&mut self, hw: &mut H) -> TickOutput {
        let now = hw.now_us();
        self.last_now_us = now;
        hw.read_joints(&mut self.readings);
        let n = self.joints();
        let r = self.readings;

        self.mode = if !self.configured {
            NodeMode::Unconfigured
        } else if self.estop {
            NodeMode::EStopped
        } else {
            match self.command_at_us {
                None => NodeMode::Idle,
                Some(at) if now.saturating_sub(at) > self.config.watchdog_us as u64 => {
                    if !self.watchdog_tripped {
                        self.watchdog_tripped = true;
                        let age_ms = now.saturating_sub(at) as f32 / 1000.0;
                        self.report(fault::WATCHDOG, 0xFF, now, age_ms);
                    }
                    NodeMode::Watchdog
                }
                Some(_) => {
                    self.watchdog_tripped = false;
                    NodeMode::Active
                }
            }
        };

        let sensors_ok = (0..n).all(|j| r.position[j].is_finite() && r.velocity[j].is_finite());
        if !sensors_ok && !self.sensor_fault {
            self.report(fault::SENSOR, 0xFF, now, 0.0);
        }
        self.sensor_fault = !sensors_ok;

        let mut limit = false;
        if self.mode == NodeMode::Active {
            self.hold_valid = false;
        } else if !self.hold_valid && sensors_ok {
            self.hold[..n].copy_from_slice(&r.position[..n]);
            self.hold_valid = true;
        }
        for j in 0..n {
            let jc = self.config.joints[j];
            let (p, v) = (r.position[j], r.velocity[j]);
            let mut e = if !sensors_ok || self.mode == NodeMode::Unconfigured {
                0.0
            } else if self.mode == NodeMode::Active {
                let c = &self.command;
                match c.mode[j] {
                    JointMode::Effort => c.effort[j],
                    JointMode::Velocity => jc.kd * (c.velocity[j] - v) + c.effort[j],
                    JointMode::Position => {
                        let target = c.position[j].clamp(jc.position_min, jc.position_max);
                        jc.kp * (target - p) + jc.kd * (c.velocity[j] - v) + c.effort[j]
                    }
                }
            } else {
                match self.config.safe_mode {
                    SafeMode::Brake => -jc.damping * v,
                    SafeMode::Hold => jc.kp * (self.hold[j] - p) - jc.kd * v,
                    SafeMode::Zero => 0.0,
                }
            };
            if !e.is_finite() {
                e = 0.0;
            }
            if self.configured {
                e = e.clamp(-jc.max_effort, jc.max_effort);
                let outward =
                    (p >= jc.position_max && e > 0.0) || (p <= jc.position_min && e < 0.0);
                let overspeed = v.abs() > jc.max_velocity && e * v > 0.0;
                if outward || overspeed {
                    e = 0.0;
                    limit = true;
                }
            }
            self.efforts[j] = e;
        }
        if limit && !self.limit_active {
            self.report(fault::LIMIT, 0xFF, now, 0.0);
        }
        self.limit_active = limit;
        hw.write_efforts(&self.efforts[..n]);

        let period = if self.configured {
            self.config.publish_period_us as u64
        } else {
            UNCONFIGURED_PUBLISH_US
        };
        let due = period > 0
            && self
                .last_publish_us
                .is_none_or(|last| now.saturating_sub(last) >= period);
        let state = if due {
            self.last_publish_us = Some(now);
            Some(self.state(now))
        } else {
            None
        };
        TickOutput {
            state,
            fault: self.pop_fault(),
        }
    }
}

#[cfg(test)]
#[path = "node_tests.rs"]
mod tests;
