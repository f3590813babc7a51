//! What runs the node logic in a node process: the firmware's `Node` on
//! the host (`HostNode`), or the firmware image in qemu-system-arm behind
//! its emulated UART (`QemuBackend`, one `HwSample` → `HwEffort` exchange
//! per node tick). The UDP side, the clock and the controller binding are in
//! `node.rs`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use crossbeam::channel::RecvTimeoutError;
use ganglion_firmware::wire::MAX_ENCODED;
use ganglion_firmware::{
    Frame, FrameDecoder, HW_SNAPSHOT, Hardware, Heartbeat, Message, Node, encode_frame,
};

use super::plant_hw::PlantHardware;
use super::qemu::QemuNode;

/// What runs the node logic.
pub(super) trait Backend {
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

pub(super) struct HostNode {
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
/// How long a freshly launched image may take to answer its first probe.
const QEMU_BOOT_TIMEOUT: Duration = Duration::from_secs(20);

pub(super) struct QemuBackend {
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

    /// Probes a freshly launched image until it answers a Heartbeat. Bytes
    /// that reach the UART before the firmware has enabled it are lost or
    /// cut (the firmware counts a receive error and answers nothing), so the
    /// first frame after a boot must not be a tick's: under load the boot
    /// takes longer and a lost `HwSample` would stall the link.
    fn wait_ready(&mut self) -> Result<()> {
        let until = Instant::now() + QEMU_BOOT_TIMEOUT;
        loop {
            self.send(&Message::Heartbeat(Heartbeat::default()))?;
            match self.node.frames().recv_timeout(Duration::from_millis(200)) {
                Ok(Ok(f)) if matches!(f.msg, Message::Heartbeat(_)) => break,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) if Instant::now() < until => {}
                Err(RecvTimeoutError::Timeout) => {
                    bail!("the qemu node did not answer within {QEMU_BOOT_TIMEOUT:?} of booting")
                }
                Err(RecvTimeoutError::Disconnected) => bail!("the qemu node's UART closed"),
            }
        }
        // Late answers to earlier probes are the bridge's own business.
        while let Ok(r) = self.node.frames().recv_timeout(Duration::from_millis(100)) {
            if let Ok(f) = r
                && !matches!(f.msg, Message::Heartbeat(_))
            {
                bail!(
                    "the qemu node sent {:?} before it was asked anything",
                    f.msg
                );
            }
        }
        Ok(())
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
        self.wait_ready()
    }
}

impl HostNode {
    /// A freshly booted node.
    pub(super) fn boot() -> Self {
        HostNode {
            node: Node::new(1),
            boot: 1,
            started: Instant::now(),
            decoder: FrameDecoder::new(),
            decoded: Vec::with_capacity(8),
        }
    }
}

impl QemuBackend {
    /// Launches the firmware `firmware` in the emulator `qemu`.
    pub(super) fn launch(qemu: &str, firmware: &std::path::Path) -> Result<Self> {
        let mut backend = QemuBackend {
            node: QemuNode::launch(qemu, firmware)?,
            qemu: qemu.to_string(),
            firmware: firmware.to_path_buf(),
            seq: 0,
            buf: [0; MAX_ENCODED],
        };
        backend.wait_ready()?;
        Ok(backend)
    }
}
