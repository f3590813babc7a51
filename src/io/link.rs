//! The controller's view of a joint node: a `Plant` over the wire protocol
//! (UDP or a serial line, `transport.rs`), so the same `ControlLoop`, policy
//! and safety filter that drive the simulator drive a node. Sensors are the
//! joint states the node publishes (mapped back to the plant's sensor names
//! by the joint layout); actuator commands go out as JointCommand effort
//! targets. A receiver thread decodes datagrams or line bytes into bounded
//! lock-free channels; a tick only drains them and makes one non-blocking
//! send, so it neither allocates nor blocks.
//!
//! Lockstep (`clock = "lockstep"`): `advance(dt)` sends `SimStep` and waits
//! for `SimStepDone`; loop time is node time, sensor stamps are the node
//! time of each JointState. Wall clock (`clock = "wall"`): time runs by
//! itself and stamps are receipt times. Either way a JointState that stops
//! coming goes stale and the safety filter acts. A JointState from an
//! unconfigured node (it rebooted) makes the plant send NodeConfig again.
//!
//! Health (`Plant::health`): the status bits of the newest JointState say
//! whether the node obeys. A latched e-stop (whoever latched it) is
//! `EStop`; a tripped watchdog, a sensor fault or a node that lost its
//! configuration is `Fault`; the control loop raises `node_estop` /
//! `node_fault` and sends the safe action. The node serves one controller
//! at a time (`node_peer.rs`): the receiver thread sends a Heartbeat when
//! the plant has been quiet for `KEEPALIVE` (while a policy loads, between
//! episodes), so a live controller keeps its node, and the plant says
//! `Bye` when dropped, so the next controller can bind at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use crossbeam::channel::{Receiver, RecvTimeoutError, bounded};
use ganglion_firmware::wire::MAX_ENCODED;
use ganglion_firmware::{
    FrameDecoder, Heartbeat, JointCommand, JointMode, JointState, Message, NodeConfig,
    STEP_IN_ENVELOPE, STEP_TERMINATED, STEP_TRUNCATED, SafeMode, StepDone, encode_frame, status,
};
use ganglion_sim::{Plant, PlantHealth, TaskSignal};

use super::transport::{LinkEndpoint, LinkTx, connect};
use crate::config::joints::{JointLayout, layout};

/// How to reach a node and what to configure it with.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkOptions {
    /// The node: `udp:HOST:PORT` or a serial device.
    pub endpoint: LinkEndpoint,
    /// The joint layout (plant kind the node serves).
    pub joints: String,
    pub lockstep: bool,
    pub watchdog_us: u32,
    /// JointState period the node is asked for.
    pub publish_period_us: u32,
    pub safe_mode: SafeMode,
    /// How long to wait for the node to answer a Heartbeat / a SimStep.
    pub timeout: Duration,
}

/// A plant quiet this long sends a Heartbeat, so its node stays bound to it
/// (a node releases a controller silent for a second).
pub const KEEPALIVE: Duration = Duration::from_millis(200);

/// What a JointState's status bits say about the node.
pub fn node_health(bits: u16) -> PlantHealth {
    if bits & status::ESTOP != 0 {
        PlantHealth::EStop
    } else if bits & (status::WATCHDOG | status::SENSOR_FAULT) != 0
        || bits & status::CONFIGURED == 0
    {
        PlantHealth::Fault
    } else {
        PlantHealth::Ok
    }
}

enum Inbound {
    State(u16, JointState, Instant),
    Fault,
    Heartbeat(Heartbeat),
}

pub struct LinkPlant {
    layout: &'static JointLayout,
    opts: LinkOptions,
    tx: LinkTx,
    inbound: Receiver<Inbound>,
    done: Receiver<StepDone>,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
    rx_errors: Arc<AtomicU32>,
    /// When the plant last sent (ms since `clock`), for the keepalive.
    last_tx_ms: Arc<AtomicU64>,
    clock: Instant,
    config: NodeConfig,
    seq: u16,
    last_state_seq: Option<u16>,
    state: Option<(JointState, f64)>,
    faults: u32,
    time: f64,
    epoch: Option<Instant>,
    task: TaskSignal,
    in_envelope: bool,
    command: JointCommand,
    buf: [u8; MAX_ENCODED],
}

impl LinkPlant {
    /// Connects to the node and checks it answers a Heartbeat.
    pub fn connect(opts: LinkOptions) -> Result<Self> {
        let Some(layout) = layout(&opts.joints) else {
            bail!(
                "no joint layout for `{}` (known: {})",
                opts.joints,
                crate::config::joints::LAYOUTS.join(", ")
            );
        };
        let (tx, mut rx) = connect(&opts.endpoint)?;
        let (tx_in, inbound) = bounded(256);
        let (tx_done, done) = bounded(16);
        let stop = Arc::new(AtomicBool::new(false));
        let rx_errors = Arc::new(AtomicU32::new(0));
        let clock = Instant::now();
        let last_tx_ms = Arc::new(AtomicU64::new(0));
        let reader = {
            let stop = stop.clone();
            let rx_errors = rx_errors.clone();
            let last_tx_ms = last_tx_ms.clone();
            std::thread::Builder::new()
                .name("ganglion-link-rx".into())
                .spawn(move || {
                    let mut buf = [0u8; 2048];
                    let mut out = [0u8; MAX_ENCODED];
                    let mut dec = FrameDecoder::new();
                    let mut ka_seq = 0u16;
                    while !stop.load(Ordering::Acquire) {
                        let now_ms = clock.elapsed().as_millis() as u64;
                        if rx.wants_keepalive()
                            && now_ms.saturating_sub(last_tx_ms.load(Ordering::Relaxed))
                                >= KEEPALIVE.as_millis() as u64
                        {
                            let hb = Message::Heartbeat(Heartbeat::default());
                            if let Ok(k) = encode_frame(ka_seq, &hb, &mut out) {
                                ka_seq = ka_seq.wrapping_add(1);
                                rx.send_keepalive(&out[..k]);
                            }
                            last_tx_ms.store(now_ms, Ordering::Relaxed);
                        }
                        let Ok(n) = rx.recv(&mut buf) else { continue };
                        if n == 0 && !rx.is_datagram() {
                            continue;
                        }
                        let at = Instant::now();
                        dec.feed(&buf[..n], |r| match r {
                            Ok(f) => {
                                let _ = match f.msg {
                                    Message::JointState(s) => {
                                        tx_in.try_send(Inbound::State(f.seq, s, at)).is_ok()
                                    }
                                    Message::Fault(_) => tx_in.try_send(Inbound::Fault).is_ok(),
                                    Message::Heartbeat(h) => {
                                        tx_in.try_send(Inbound::Heartbeat(h)).is_ok()
                                    }
                                    Message::SimStepDone(d) => tx_done.try_send(d).is_ok(),
                                    _ => true,
                                };
                            }
                            Err(_) => {
                                rx_errors.fetch_add(1, Ordering::Relaxed);
                            }
                        });
                        // A datagram is whole: never carry a partial frame
                        // over. A serial line's frames span reads.
                        if rx.is_datagram() {
                            dec.clear();
                        }
                    }
                })?
        };
        let config = layout.node_config(opts.watchdog_us, opts.publish_period_us, opts.safe_mode);
        let n = layout.n_joints() as u8;
        let mut plant = LinkPlant {
            layout,
            tx,
            inbound,
            done,
            stop,
            reader: Some(reader),
            rx_errors,
            last_tx_ms,
            clock,
            config,
            seq: 0,
            last_state_seq: None,
            state: None,
            faults: 0,
            time: 0.0,
            epoch: None,
            task: TaskSignal::default(),
            in_envelope: true,
            command: JointCommand {
                n,
                mode: [JointMode::Effort; ganglion_firmware::MAX_JOINTS],
                ..Default::default()
            },
            buf: [0; MAX_ENCODED],
            opts,
        };
        plant.handshake()?;
        Ok(plant)
    }

    fn send(&mut self, msg: &Message) {
        if let Ok(n) = encode_frame(self.seq, msg, &mut self.buf) {
            self.seq = self.seq.wrapping_add(1);
            // Non-blocking: a full buffer or an absent node loses the frame,
            // and the staleness check notices.
            self.tx.send(&self.buf[..n]);
            let ms = self.clock.elapsed().as_millis() as u64;
            self.last_tx_ms.store(ms, Ordering::Relaxed);
        }
    }

    fn handshake(&mut self) -> Result<()> {
        let started = Instant::now();
        let mut last_sent: Option<Instant> = None;
        loop {
            if last_sent.is_none_or(|t| t.elapsed() > Duration::from_millis(200)) {
                self.send(&Message::Heartbeat(Heartbeat::default()));
                last_sent = Some(Instant::now());
            }
            match self.inbound.recv_timeout(Duration::from_millis(20)) {
                Ok(Inbound::Heartbeat(_)) => break,
                Ok(_) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => bail!("the link's receiver stopped"),
            }
            if started.elapsed() > self.opts.timeout {
                let hint = match &self.opts.endpoint {
                    LinkEndpoint::Udp(_) => format!(
                        "start one with `ganglion node --link {} --plant {}`",
                        self.opts.endpoint, self.opts.joints
                    ),
                    LinkEndpoint::Serial { .. } => format!(
                        "is the board powered, flashed and on this port at this baud \
                         (docs/boards.md)? A simulated node: `ganglion node --link serial:pty \
                         --plant {}`, then plant.device = the path it prints",
                        self.opts.joints
                    ),
                };
                bail!(
                    "no joint node answered at {} within {:.1} s ({hint})",
                    self.opts.endpoint,
                    self.opts.timeout.as_secs_f64(),
                );
            }
        }
        let config = self.config;
        self.send(&Message::NodeConfig(config));
        Ok(())
    }

    /// Sends a Heartbeat and waits for the answer: the round trip.
    pub fn heartbeat(&mut self, timeout: Duration) -> Option<Heartbeat> {
        self.send(&Message::Heartbeat(Heartbeat::default()));
        let until = Instant::now() + timeout;
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            match self.inbound.recv_timeout(left) {
                Ok(Inbound::Heartbeat(h)) => return Some(h),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    }

    /// One JointCommand → JointState exchange: sends `efforts`, steps the
    /// node one tick (lockstep) and waits for the JointState that
    /// acknowledges the command; the time from sending the command to
    /// receiving that state. Needs a publish period of one tick.
    pub fn round_trip(&mut self, efforts: &[f32]) -> Option<Duration> {
        self.drain();
        let cmd_seq = self.seq;
        let t0 = Instant::now();
        self.write_commands(efforts);
        if self.opts.lockstep {
            self.send(&Message::SimStep { dt_us: 1000 });
        }
        let until = t0 + self.opts.timeout;
        let mut got = None;
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            match self.inbound.recv_timeout(left) {
                Ok(Inbound::State(_, s, at)) if s.ack_seq == cmd_seq => {
                    got = Some(at.duration_since(t0));
                    break;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        if self.opts.lockstep
            && let Some(d) = self.wait_done()
        {
            self.apply_done(d);
        }
        got
    }

    /// Latches the node's e-stop / clears it.
    pub fn estop(&mut self) {
        self.send(&Message::EStop);
    }
    pub fn reset_estop(&mut self) {
        self.send(&Message::Reset);
    }

    /// The last JointState accepted.
    pub fn last_state(&self) -> Option<&JointState> {
        self.state.as_ref().map(|(s, _)| s)
    }

    fn wall(&mut self) -> f64 {
        let epoch = *self.epoch.get_or_insert_with(Instant::now);
        epoch.elapsed().as_secs_f64()
    }

    fn drain(&mut self) {
        while let Ok(m) = self.inbound.try_recv() {
            match m {
                Inbound::State(seq, s, at) => {
                    let rebooted = s.status & status::CONFIGURED == 0;
                    let newer = self
                        .last_state_seq
                        .is_none_or(|last| (seq.wrapping_sub(last) as i16) > 0);
                    if !(newer || rebooted) {
                        continue;
                    }
                    self.last_state_seq = Some(seq);
                    let stamp = if self.opts.lockstep {
                        s.node_time_us as f64 * 1e-6
                    } else {
                        let epoch = *self.epoch.get_or_insert(at);
                        match at.checked_duration_since(epoch) {
                            Some(d) => d.as_secs_f64(),
                            None => -(epoch - at).as_secs_f64(),
                        }
                    };
                    self.state = Some((s, stamp));
                    if rebooted {
                        // The node lost its configuration (it rebooted): send it again.
                        let config = self.config;
                        self.send(&Message::NodeConfig(config));
                    }
                }
                Inbound::Fault => self.faults += 1,
                Inbound::Heartbeat(_) => {}
            }
        }
    }

    fn wait_done(&mut self) -> Option<StepDone> {
        self.done.recv_timeout(self.opts.timeout).ok()
    }

    fn apply_done(&mut self, d: StepDone) {
        self.time = d.time_us as f64 * 1e-6;
        self.in_envelope = d.flags & STEP_IN_ENVELOPE != 0;
        self.task = TaskSignal {
            step: d.step,
            reward: d.reward,
            terminated: d.flags & STEP_TERMINATED != 0,
            truncated: d.flags & STEP_TRUNCATED != 0,
        };
    }
}

impl Plant for LinkPlant {
    fn sensor_names(&self) -> &'static [&'static str] {
        self.layout.link_sensors
    }

    fn actuator_names(&self) -> &'static [&'static str] {
        self.layout.actuators
    }

    fn reset(&mut self, seed: u64) {
        if !self.opts.lockstep {
            // A simulated node starts a new episode (a real one ignores it).
            let config = self.config;
            self.send(&Message::NodeConfig(config));
            self.send(&Message::SimReset { seed });
            return;
        }
        while self.done.try_recv().is_ok() {}
        self.send(&Message::SimReset { seed });
        if let Some(d) = self.wait_done() {
            self.apply_done(d);
        }
        self.task = TaskSignal::default();
        self.drain();
    }

    fn read_sensors(&mut self, values: &mut [f32], stamps: &mut [f64]) {
        let now = if self.opts.lockstep {
            self.time
        } else {
            self.wall()
        };
        self.drain();
        let n_plant = self.layout.plant_sensors.len();
        match &self.state {
            Some((s, stamp)) => {
                for (j, spec) in self.layout.joints.iter().enumerate() {
                    values[spec.position] = s.position[j];
                    values[spec.velocity] = s.velocity[j];
                    stamps[spec.position] = *stamp;
                    stamps[spec.velocity] = *stamp;
                }
                values[n_plant] = s.status as f32;
                stamps[n_plant] = *stamp;
            }
            None => {
                // Nothing heard yet: stale from the start.
                values[..=n_plant].fill(0.0);
                stamps[..=n_plant].fill(f64::NEG_INFINITY);
            }
        }
        values[n_plant + 1] = self.faults as f32;
        values[n_plant + 2] = self.rx_errors.load(Ordering::Relaxed) as f32;
        stamps[n_plant + 1] = now;
        stamps[n_plant + 2] = now;
    }

    fn write_commands(&mut self, commands: &[f32]) {
        for (j, spec) in self.layout.joints.iter().enumerate() {
            self.command.effort[j] = spec
                .actuator
                .and_then(|a| commands.get(a).copied())
                .unwrap_or(0.0);
        }
        let c = self.command;
        self.send(&Message::JointCommand(c));
    }

    fn advance(&mut self, dt: f64) {
        if !self.opts.lockstep {
            return;
        }
        let dt_us = (dt * 1e6).round() as u32;
        self.send(&Message::SimStep { dt_us });
        match self.wait_done() {
            Some(d) => self.apply_done(d),
            // The node is gone: time still passes for the loop, and its
            // sensors go stale.
            None => self.time += dt,
        }
    }

    fn time(&self) -> f64 {
        if self.opts.lockstep {
            self.time
        } else {
            self.epoch.map_or(0.0, |e| e.elapsed().as_secs_f64())
        }
    }

    fn in_envelope(&self) -> bool {
        self.in_envelope
    }

    fn task(&self) -> Option<TaskSignal> {
        (self.opts.lockstep && self.task.step > 0).then_some(self.task)
    }

    /// What the newest JointState says (`node_health`); nothing heard yet
    /// is the staleness check's business.
    fn health(&self) -> PlantHealth {
        self.state
            .as_ref()
            .map_or(PlantHealth::Ok, |(s, _)| node_health(s.status))
    }
}

impl Drop for LinkPlant {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        // The session ends: the node may take its next controller at once.
        self.send(&Message::Bye);
    }
}

pub use crate::config::endpoint::socket_addr as addr;
