//! The node process of hardware-in-the-loop (`ganglion node`): a joint node
//! against a simulated plant, talking the wire protocol over UDP. The node
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

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use crossbeam::channel::{RecvTimeoutError, Sender};
use ganglion_firmware::wire::MAX_ENCODED;
use ganglion_firmware::{
    Frame, FrameDecoder, HW_SNAPSHOT, Hardware, Message, Node, STEP_IN_ENVELOPE, STEP_TERMINATED,
    STEP_TRUNCATED, StepDone, encode_frame, fault,
};
use serde::Serialize;

use super::fault::{Dir, FaultPlan, FaultStats, LinkFaults};
use super::plant_hw::PlantHardware;
use super::qemu::QemuNode;

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
    /// Where to listen (UDP).
    pub bind: SocketAddr,
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
}

/// What runs the node logic.
trait Backend {
    /// Hands a data frame (bytes as they came off the link) to the node.
    fn deliver(&mut self, bytes: &[u8], hw: &mut PlantHardware, out: &mut Vec<Frame>)
    -> Result<()>;
    /// One node tick against the plant.
    fn tick(&mut self, hw: &mut PlantHardware, out: &mut Vec<Frame>) -> Result<()>;
    /// A JointState of the plant as it is, without a control tick.
    fn snapshot(&mut self, hw: &mut PlantHardware, out: &mut Vec<Frame>) -> Result<()>;
    /// Frames the node sent on its own since the last call.
    fn drain(&mut self, out: &mut Vec<Frame>) -> Result<()>;
    /// Reboots the node: all its state is lost.
    fn restart(&mut self) -> Result<()>;
}

struct HostNode {
    node: Node,
    boot: u32,
    started: Instant,
    decoder: FrameDecoder,
    decoded: Vec<Result<Frame, ganglion_firmware::DecodeError>>,
}

impl Backend for HostNode {
    fn deliver(
        &mut self,
        bytes: &[u8],
        hw: &mut PlantHardware,
        out: &mut Vec<Frame>,
    ) -> Result<()> {
        let decoded = &mut self.decoded;
        self.decoder.feed(bytes, |r| decoded.push(r));
        let uptime = self.started.elapsed().as_millis() as u32;
        for r in self.decoded.drain(..) {
            match r {
                Ok(f) => {
                    if let Some(reply) = self.node.handle(&f, hw.now_us(), uptime) {
                        out.push(Frame {
                            seq: self.node.next_seq(),
                            msg: reply,
                        });
                    }
                }
                Err(e) => self.node.frame_error(e),
            }
        }
        Ok(())
    }

    fn tick(&mut self, hw: &mut PlantHardware, out: &mut Vec<Frame>) -> Result<()> {
        let o = self.node.tick(hw);
        if let Some(s) = o.state {
            out.push(Frame {
                seq: self.node.next_seq(),
                msg: Message::JointState(s),
            });
        }
        if let Some(f) = o.fault {
            out.push(Frame {
                seq: self.node.next_seq(),
                msg: Message::Fault(f),
            });
        }
        Ok(())
    }

    fn snapshot(&mut self, hw: &mut PlantHardware, out: &mut Vec<Frame>) -> Result<()> {
        let s = self.node.snapshot(hw);
        out.push(Frame {
            seq: self.node.next_seq(),
            msg: Message::JointState(s),
        });
        Ok(())
    }

    fn drain(&mut self, _out: &mut Vec<Frame>) -> Result<()> {
        Ok(())
    }

    fn restart(&mut self) -> Result<()> {
        self.boot += 1;
        self.node = Node::new(self.boot);
        self.decoder.clear();
        self.started = Instant::now();
        Ok(())
    }
}

/// How long the bridge waits for the emulated node to finish a tick.
const QEMU_TICK_TIMEOUT: Duration = Duration::from_secs(5);

struct QemuBackend {
    qemu: String,
    firmware: PathBuf,
    node: QemuNode,
    seq: u16,
    buf: [u8; MAX_ENCODED],
}

impl QemuBackend {
    fn send(&mut self, msg: &Message) -> Result<()> {
        let n = encode_frame(self.seq, msg, &mut self.buf)
            .map_err(|e| anyhow::anyhow!("encoding a frame for the qemu node: {e:?}"))?;
        self.seq = self.seq.wrapping_add(1);
        let bytes = self.buf;
        self.node.write(&bytes[..n])
    }

    /// Waits for the frame that ends a tick (`until`), passing others on.
    fn wait(
        &mut self,
        out: &mut Vec<Frame>,
        mut until: impl FnMut(&Frame) -> bool,
    ) -> Result<Frame> {
        loop {
            match self.node.frames().recv_timeout(QEMU_TICK_TIMEOUT) {
                Ok(Ok(f)) if until(&f) => return Ok(f),
                Ok(Ok(f)) => out.push(f),
                // A garbled frame from the UART: the node resends nothing, so
                // it is lost, as on a real serial line.
                Ok(Err(_)) => {}
                Err(RecvTimeoutError::Timeout) => {
                    bail!("the qemu node did not answer within {QEMU_TICK_TIMEOUT:?}")
                }
                Err(RecvTimeoutError::Disconnected) => bail!("the qemu node's UART closed"),
            }
        }
    }
}

impl Backend for QemuBackend {
    fn deliver(
        &mut self,
        bytes: &[u8],
        _hw: &mut PlantHardware,
        _out: &mut Vec<Frame>,
    ) -> Result<()> {
        self.node.write(bytes)
    }

    fn tick(&mut self, hw: &mut PlantHardware, out: &mut Vec<Frame>) -> Result<()> {
        let sample = hw.sample(0);
        self.send(&Message::HwSample(sample))?;
        let f = self.wait(out, |f| matches!(f.msg, Message::HwEffort(_)))?;
        if let Message::HwEffort(e) = f.msg {
            let n = (e.n as usize).min(e.effort.len());
            hw.write_efforts(&e.effort[..n]);
        }
        Ok(())
    }

    fn snapshot(&mut self, hw: &mut PlantHardware, out: &mut Vec<Frame>) -> Result<()> {
        let sample = hw.sample(HW_SNAPSHOT);
        self.send(&Message::HwSample(sample))?;
        let f = self.wait(out, |f| matches!(f.msg, Message::JointState(_)))?;
        out.push(f);
        Ok(())
    }

    fn drain(&mut self, out: &mut Vec<Frame>) -> Result<()> {
        while let Ok(r) = self.node.frames().try_recv() {
            if let Ok(f) = r
                && !matches!(f.msg, Message::HwEffort(_))
            {
                out.push(f);
            }
        }
        Ok(())
    }

    fn restart(&mut self) -> Result<()> {
        self.node = QemuNode::launch(&self.qemu, &self.firmware)?;
        Ok(())
    }
}

struct Runner {
    socket: UdpSocket,
    peer: Option<SocketAddr>,
    hw: PlantHardware,
    backend: Box<dyn Backend>,
    faults: LinkFaults,
    summary: NodeSummary,
    last_command_us: Option<u64>,
    max_steps: u32,
    step: u32,
    seq: u16,
    out: Vec<Frame>,
    buf: [u8; MAX_ENCODED],
}

impl Runner {
    fn now(&self) -> u64 {
        self.hw.time_us()
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        if let Some(peer) = self.peer {
            // A full socket buffer loses the frame, as a link would.
            let _ = self.socket.send_to(bytes, peer);
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

    fn step_done(&mut self, done: StepDone) {
        let n = encode_frame(self.seq, &Message::SimStepDone(done), &mut self.buf).unwrap_or(0);
        self.seq = self.seq.wrapping_add(1);
        let bytes = self.buf;
        self.send_raw(&bytes[..n]);
    }

    fn sim(&mut self, msg: Message, lockstep: bool) -> Result<()> {
        match msg {
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
        self.peer = Some(src);
        let mut dec = FrameDecoder::new();
        let mut sim = None;
        dec.feed(bytes, |r| {
            if let Ok(f) = r
                && f.msg.is_sim_clock()
            {
                sim = Some(f.msg);
            }
        });
        if let Some(msg) = sim {
            return self.sim(msg, lockstep);
        }
        let t = self.now();
        for b in self.faults.pass(Dir::ToNode, bytes.to_vec(), t) {
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
        self.socket
            .set_read_timeout(Some(Duration::from_millis(2)))?;
        let mut buf = [0u8; 2048];
        while !stop.load(Ordering::Acquire) {
            match self.socket.recv_from(&mut buf) {
                Ok((n, src)) => self.datagram(&buf[..n], src, true)?,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::Interrupted
                            | std::io::ErrorKind::ConnectionRefused
                    ) => {}
                Err(e) => return Err(e).context("receiving on the node's UDP socket"),
            }
            self.drain_backend()?;
        }
        Ok(())
    }

    fn realtime(&mut self, stop: &AtomicBool) -> Result<()> {
        self.socket.set_nonblocking(true)?;
        let mut buf = [0u8; 2048];
        let t0 = Instant::now();
        let mut k: u64 = 0;
        while !stop.load(Ordering::Acquire) {
            let deadline = t0 + Duration::from_micros(k * TICK_US as u64);
            let now = Instant::now();
            if deadline > now {
                std::thread::sleep(deadline - now);
            }
            loop {
                match self.socket.recv_from(&mut buf) {
                    Ok((n, src)) => self.datagram(&buf[..n], src, false)?,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::Interrupted
                        ) =>
                    {
                        break;
                    }
                    Err(e) => return Err(e).context("receiving on the node's UDP socket"),
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

/// Runs a node until `stop`; `ready` gets the bound address once it listens.
pub fn serve(
    opts: &NodeOptions,
    stop: Arc<AtomicBool>,
    ready: Option<Sender<SocketAddr>>,
) -> Result<NodeSummary> {
    let hw = PlantHardware::new(&opts.plant, opts.seed)?;
    let backend: Box<dyn Backend> = match &opts.backend {
        NodeBackendKind::Host => Box::new(HostNode {
            node: Node::new(1),
            boot: 1,
            started: Instant::now(),
            decoder: FrameDecoder::new(),
            decoded: Vec::with_capacity(8),
        }),
        NodeBackendKind::Qemu { qemu, firmware } => Box::new(QemuBackend {
            node: QemuNode::launch(qemu, firmware)?,
            qemu: qemu.clone(),
            firmware: firmware.clone(),
            seq: 0,
            buf: [0; MAX_ENCODED],
        }),
    };
    let socket = UdpSocket::bind(opts.bind)
        .with_context(|| format!("binding the node's UDP socket to {}", opts.bind))?;
    let local = socket.local_addr()?;
    let mut runner = Runner {
        socket,
        peer: None,
        hw,
        backend,
        faults: LinkFaults::new(opts.fault),
        summary: NodeSummary::default(),
        last_command_us: None,
        max_steps: opts.max_steps,
        step: 0,
        seq: 0,
        out: Vec::with_capacity(8),
        buf: [0; MAX_ENCODED],
    };
    if let Some(r) = ready {
        let _ = r.send(local);
    }
    match opts.clock {
        NodeClock::Lockstep => runner.lockstep(&stop)?,
        NodeClock::Realtime => runner.realtime(&stop)?,
    }
    runner.summary.link = runner.faults.stats;
    runner.summary.final_time_us = runner.now();
    Ok(runner.summary)
}
