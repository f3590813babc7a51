//! The node process of hardware-in-the-loop (`ganglion node`): a joint node
//! against a simulated plant, talking the wire protocol over UDP or a
//! serial line (a device, or a pseudo-terminal it creates). The node
//! is either the firmware logic running on the host (`Host`) or the real
//! firmware image in qemu-system-arm (`Qemu`), whose `Hardware` is the plant
//! here, across the emulated UART (`HwSample` in, `HwEffort` out, one pair
//! per node tick).
//!
//! Clocks. `Lockstep`: node time advances only when the controller sends
//! `SimStep { dt }`: the plant then runs dt/1 ms node ticks (advance the
//! plant 1 ms, tick the node) and the node answers `SimStepDone`; runs are
//! deterministic and comparable with pure simulation, whatever the host's
//! or the emulator's speed. `Realtime`: the node ticks at 1 kHz of wall time
//! on its own. Link faults (`fault.rs`) act on the data frames between the
//! controller and the node, in node time.
//!
//! Who it answers (`node_peer.rs`): one controller, fixed (`--controller`)
//! or the first to send a valid frame; other senders are dropped unread and
//! never redirect replies. Every field that sets an amount of work or time
//! is bounded: a `SimStep` outside 1 µs – 1 s is refused with a `bad_step`
//! fault, a real-time node handles at most `DATAGRAMS_PER_TICK` datagrams
//! between ticks, and the node's own config checks refuse unbounded
//! watchdogs and publish periods.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use crossbeam::channel::Sender;
use ganglion_firmware::wire::MAX_ENCODED;
use ganglion_firmware::{
    Fault, Frame, FrameDecoder, Message, STEP_IN_ENVELOPE, STEP_TERMINATED, STEP_TRUNCATED,
    StepDone, encode_frame, fault,
};
use serde::Serialize;

use super::link_fault::{Dir, FaultPlan, FaultStats, LinkFaults};
use super::node_backend::{Backend, HostNode, QemuBackend};
use super::node_peer::{DATAGRAMS_PER_TICK, NodeBinding, Peer, PeerStats, sim_step_ok, to_node};
use super::plant_hw::PlantHardware;
use super::transport::{LinkEndpoint, NodeLink, NodeWire};

/// Node tick period (1 kHz).
pub const TICK_US: u32 = 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeClock {
    Lockstep,
    Realtime,
}

#[derive(Clone, Debug, PartialEq)]
pub enum NodeBackendKind {
    /// The firmware logic, on the host.
    Host,
    /// The firmware image in qemu-system-arm.
    Qemu { qemu: String, firmware: PathBuf },
}

#[derive(Clone, Debug)]
pub struct NodeOptions {
    /// Where to listen: a UDP address, a serial device or a new pty.
    pub link: NodeLink,
    /// The plant kind, e.g. `sim:cartpole`.
    pub plant: String,
    pub seed: u64,
    pub clock: NodeClock,
    pub backend: NodeBackendKind,
    /// Lockstep: episode length in control steps (0: unlimited).
    pub max_steps: u32,
    pub fault: Option<FaultPlan>,
}

/// A fault the node reported, as the node process saw it leave the node.
#[derive(Clone, Debug, Serialize)]
pub struct FaultEvent {
    pub time_us: u64,
    pub code: u16,
    pub name: &'static str,
    pub detail: f32,
    /// When the last JointCommand reached the node before it.
    pub last_command_us: Option<u64>,
}

/// What a node run did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct NodeSummary {
    pub ticks: u64,
    pub steps: u64,
    pub episodes: u64,
    pub commands_delivered: u64,
    pub states_sent: u64,
    pub faults: Vec<FaultEvent>,
    pub restarts: Vec<u64>,
    pub link: FaultStats,
    pub final_time_us: u64,
    /// Which controller it answered, and what it refused from whom.
    pub peer: PeerStats,
}

struct Runner {
    wire: NodeWire,
    peer: Peer,
    hw: PlantHardware,
    backend: Box<dyn Backend>,
    faults: LinkFaults,
    summary: NodeSummary,
    last_command_us: Option<u64>,
    max_steps: u32,
    step: u32,
    seq: u16,
    out: Vec<Frame>,
    /// Frames of the datagram in hand that may reach the node.
    inbound: Vec<Frame>,
    buf: [u8; MAX_ENCODED],
}

impl Runner {
    fn now(&self) -> u64 {
        self.hw.time_us()
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        if let Some(peer) = self.peer.addr() {
            self.wire.send_to(bytes, peer);
        }
    }

    /// Sends what the node produced, through the link faults.
    fn flush(&mut self) {
        let t = self.now();
        let frames = std::mem::take(&mut self.out);
        for f in &frames {
            match f.msg {
                Message::JointState(_) => self.summary.states_sent += 1,
                Message::Fault(x) => self.summary.faults.push(FaultEvent {
                    time_us: x.node_time_us,
                    code: x.code,
                    name: fault::name(x.code),
                    detail: x.detail,
                    last_command_us: self.last_command_us,
                }),
                _ => {}
            }
            let Ok(n) = encode_frame(f.seq, &f.msg, &mut self.buf) else {
                continue;
            };
            for b in self
                .faults
                .pass(Dir::ToController, self.buf[..n].to_vec(), t)
            {
                self.send_raw(&b);
            }
        }
        self.out = frames;
        self.out.clear();
    }

    /// A data frame that made it across the link to the node.
    fn deliver(&mut self, bytes: &[u8]) -> Result<()> {
        let mut dec = FrameDecoder::new();
        let mut is_command = false;
        dec.feed(bytes, |r| {
            is_command |= matches!(
                r,
                Ok(Frame {
                    msg: Message::JointCommand(_),
                    ..
                })
            )
        });
        if is_command {
            self.last_command_us = Some(self.now());
            self.summary.commands_delivered += 1;
        }
        self.backend.deliver(bytes, &mut self.hw, &mut self.out)?;
        self.flush();
        Ok(())
    }

    fn node_tick(&mut self) -> Result<()> {
        let t = self.now();
        if self.faults.restart_due(t) {
            self.backend.restart()?;
            self.summary.restarts.push(t);
        }
        for b in self.faults.poll(Dir::ToNode, t) {
            self.deliver(&b)?;
        }
        self.backend.tick(&mut self.hw, &mut self.out)?;
        self.summary.ticks += 1;
        self.flush();
        for b in self.faults.poll(Dir::ToController, t) {
            self.send_raw(&b);
        }
        Ok(())
    }

    /// Sends a frame of the node process itself (the lockstep clock's
    /// answers), outside the link faults.
    fn send_now(&mut self, msg: Message) {
        let n = encode_frame(self.seq, &msg, &mut self.buf).unwrap_or(0);
        self.seq = self.seq.wrapping_add(1);
        let bytes = self.buf;
        self.send_raw(&bytes[..n]);
    }

    fn step_done(&mut self, done: StepDone) {
        self.send_now(Message::SimStepDone(done));
    }

    /// A `SimStep` out of range: refused with a `bad_step` fault, not run.
    fn refuse_step(&mut self, dt_us: u32) {
        self.peer.stats.refused_steps += 1;
        let f = Fault {
            code: fault::BAD_STEP,
            joint: 0xFF,
            node_time_us: self.now(),
            detail: dt_us as f32,
        };
        self.summary.faults.push(FaultEvent {
            time_us: f.node_time_us,
            code: f.code,
            name: fault::name(f.code),
            detail: f.detail,
            last_command_us: self.last_command_us,
        });
        self.send_now(Message::Fault(f));
    }

    fn sim(&mut self, msg: Message, lockstep: bool) -> Result<()> {
        match msg {
            Message::SimStep { dt_us } if lockstep && !sim_step_ok(dt_us) => {
                self.refuse_step(dt_us);
            }
            Message::SimStep { dt_us } if lockstep => {
                let n = (dt_us / TICK_US).max(1);
                let mut reward = 0.0;
                let mut terminated = false;
                for _ in 0..n {
                    self.hw.advance(TICK_US);
                    self.node_tick()?;
                    if let Some(t) = self.hw.plant().task() {
                        reward += t.reward;
                        terminated |= t.terminated;
                    }
                }
                self.step += 1;
                self.summary.steps += 1;
                let in_env = self.hw.plant().in_envelope();
                terminated |= !in_env;
                let truncated = !terminated && self.max_steps > 0 && self.step >= self.max_steps;
                let flags = (terminated as u8 * STEP_TERMINATED)
                    | (truncated as u8 * STEP_TRUNCATED)
                    | (in_env as u8 * STEP_IN_ENVELOPE);
                self.step_done(StepDone {
                    time_us: self.now(),
                    step: self.step,
                    reward: reward / n as f32,
                    flags,
                });
            }
            Message::SimReset { seed } => {
                self.hw.reset_plant(seed);
                self.step = 0;
                self.summary.episodes += 1;
                self.backend.snapshot(&mut self.hw, &mut self.out)?;
                self.flush();
                let in_env = self.hw.plant().in_envelope();
                self.step_done(StepDone {
                    time_us: self.now(),
                    step: 0,
                    reward: 0.0,
                    flags: in_env as u8 * STEP_IN_ENVELOPE,
                });
            }
            _ => {}
        }
        Ok(())
    }

    fn datagram(&mut self, bytes: &[u8], src: SocketAddr, lockstep: bool) -> Result<()> {
        let now = Instant::now();
        let known = self.peer.is_controller(src, now);
        if !known && self.peer.addr().is_some() {
            // Bound to another controller: dropped unread.
            self.peer.stats.foreign_datagrams += 1;
            return Ok(());
        }
        let mut dec = FrameDecoder::new();
        let (mut valid, mut refused, mut bye) = (false, 0u64, false);
        let mut sim = None;
        let inbound = &mut self.inbound;
        inbound.clear();
        dec.feed(bytes, |r| {
            let Ok(f) = r else { return };
            valid = true;
            if f.msg.is_sim_clock() && !matches!(f.msg, Message::SimStepDone(_)) {
                sim = Some(f.msg);
            } else if f.msg == Message::Bye {
                bye = true;
            } else if to_node(&f.msg) {
                inbound.push(f);
            } else {
                refused += 1;
            }
        });
        if valid {
            // Binds `src` if nobody is bound (it was unknown only then).
            self.peer.heard_valid(src, now);
        } else if !known {
            // Undecodable, from a stranger: it binds nobody.
            self.peer.stats.undecodable += 1;
            return Ok(());
        }
        self.peer.stats.refused_frames += refused;
        if bye {
            self.peer.release();
            return Ok(());
        }
        if let Some(msg) = sim {
            return self.sim(msg, lockstep);
        }
        let t = self.now();
        let bytes = if refused == 0 {
            // As received: bytes the node cannot decode still reach it, so
            // it counts and reports a corrupted link.
            bytes.to_vec()
        } else {
            // Only what a controller may send goes on, re-encoded.
            let mut v = Vec::with_capacity(self.inbound.len() * MAX_ENCODED);
            for f in &self.inbound {
                if let Ok(n) = encode_frame(f.seq, &f.msg, &mut self.buf) {
                    v.extend_from_slice(&self.buf[..n]);
                }
            }
            v
        };
        if bytes.is_empty() {
            return Ok(());
        }
        for b in self.faults.pass(Dir::ToNode, bytes, t) {
            self.deliver(&b)?;
        }
        Ok(())
    }

    fn drain_backend(&mut self) -> Result<()> {
        self.backend.drain(&mut self.out)?;
        if !self.out.is_empty() {
            self.flush();
        }
        Ok(())
    }

    fn lockstep(&mut self, stop: &AtomicBool) -> Result<()> {
        let mut buf = [0u8; 2048];
        while !stop.load(Ordering::Acquire) {
            if let Some((n, src)) = self
                .wire
                .recv(&mut buf, Duration::from_millis(2))
                .context("receiving on the node's link")?
            {
                self.datagram(&buf[..n], src, true)?;
            }
            self.drain_backend()?;
        }
        Ok(())
    }

    fn realtime(&mut self, stop: &AtomicBool) -> Result<()> {
        let mut buf = [0u8; 2048];
        let t0 = Instant::now();
        let mut k: u64 = 0;
        while !stop.load(Ordering::Acquire) {
            let deadline = t0 + Duration::from_micros(k * TICK_US as u64);
            let now = Instant::now();
            if deadline > now {
                std::thread::sleep(deadline - now);
            }
            for _ in 0..DATAGRAMS_PER_TICK {
                match self
                    .wire
                    .recv(&mut buf, Duration::ZERO)
                    .context("receiving on the node's link")?
                {
                    Some((n, src)) => self.datagram(&buf[..n], src, false)?,
                    None => break,
                }
            }
            self.hw.advance(TICK_US);
            self.node_tick()?;
            self.drain_backend()?;
            k += 1;
        }
        Ok(())
    }
}

/// Runs a node until `stop`; `ready` gets the endpoint a controller
/// connects to once it listens.
/// It answers the first controller that sends it a valid frame.
pub fn serve(
    opts: &NodeOptions,
    stop: Arc<AtomicBool>,
    ready: Option<Sender<LinkEndpoint>>,
) -> Result<NodeSummary> {
    serve_bound(opts, &NodeBinding::default(), stop, ready)
}

/// `serve`, answering the controller `binding` says.
pub fn serve_bound(
    opts: &NodeOptions,
    binding: &NodeBinding,
    stop: Arc<AtomicBool>,
    ready: Option<Sender<LinkEndpoint>>,
) -> Result<NodeSummary> {
    if binding.controller.is_some() && !matches!(opts.link, NodeLink::Udp(_)) {
        anyhow::bail!("--controller names a UDP controller; a serial line has only one");
    }
    let hw = PlantHardware::new(&opts.plant, opts.seed)?;
    let backend: Box<dyn Backend> = match &opts.backend {
        NodeBackendKind::Host => Box::new(HostNode::boot()),
        NodeBackendKind::Qemu { qemu, firmware } => Box::new(QemuBackend::launch(qemu, firmware)?),
    };
    let (wire, endpoint) = NodeWire::open(&opts.link)?;
    let mut runner = Runner {
        wire,
        peer: Peer::new(binding),
        hw,
        backend,
        faults: LinkFaults::new(opts.fault),
        summary: NodeSummary::default(),
        last_command_us: None,
        max_steps: opts.max_steps,
        step: 0,
        seq: 0,
        out: Vec::with_capacity(8),
        inbound: Vec::with_capacity(8),
        buf: [0; MAX_ENCODED],
    };
    if let Some(r) = ready {
        let _ = r.send(endpoint.clone());
    }
    match opts.clock {
        NodeClock::Lockstep => runner.lockstep(&stop)?,
        NodeClock::Realtime => runner.realtime(&stop)?,
    }
    runner.summary.link = runner.faults.stats;
    runner.summary.final_time_us = runner.now();
    runner.summary.peer = runner.peer.stats.clone();
    if runner.wire.is_serial() && runner.summary.peer.controller.is_some() {
        // A line's one peer is whoever is on the other end of `endpoint`.
        runner.summary.peer.controller = Some(endpoint.to_string());
    }
    Ok(runner.summary)
}
