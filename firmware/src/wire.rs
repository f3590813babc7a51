//! Frames on the wire. A frame is
//! `version u8 | kind u8 | seq u16 | payload | crc32 u32` (little endian, the
//! CRC over everything before it), COBS-encoded and followed by one 0x00
//! delimiter. Decoding never panics: bad bytes give a `DecodeError`, and
//! `FrameDecoder` resynchronises at the next delimiter.

use crate::cobs;
use crate::crc::crc32;
use crate::message::*;

/// Largest raw frame (header + payload + CRC).
pub const MAX_FRAME: usize = 256;
/// Largest encoded frame, delimiter included.
pub const MAX_ENCODED: usize = cobs::max_encoded_len(MAX_FRAME) + 1;
const HEADER: usize = 4;
const CRC: usize = 4;

/// One decoded frame: the sender's sequence number and the message.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Frame {
    pub seq: u16,
    pub msg: Message,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// The output buffer is shorter than the encoded frame.
    BufferTooSmall,
    /// A joint count above `MAX_JOINTS`.
    TooManyJoints(u8),
}

/// Why bytes were not a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Two delimiters in a row (or a delimiter first): no bytes.
    Empty,
    /// Not valid COBS.
    Cobs(cobs::CobsError),
    /// More bytes than the largest frame before a delimiter.
    Overflow,
    /// Fewer bytes than header + CRC.
    TooShort(usize),
    Crc {
        expected: u32,
        found: u32,
    },
    Version(u8),
    UnknownKind(u8),
    /// The payload length does not match the kind (and its joint count).
    Length {
        kind: u8,
        expected: usize,
        found: usize,
    },
    /// A joint count above `MAX_JOINTS`.
    TooManyJoints {
        kind: u8,
        n: u8,
    },
    /// An enum byte (joint mode, safe mode) out of range.
    BadValue {
        kind: u8,
        at: usize,
    },
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DecodeError::Empty => write!(f, "empty frame"),
            DecodeError::Cobs(e) => write!(f, "bad COBS encoding: {e:?}"),
            DecodeError::Overflow => write!(f, "frame longer than {MAX_ENCODED} bytes"),
            DecodeError::TooShort(n) => write!(f, "frame of {n} bytes is shorter than 8"),
            DecodeError::Crc { expected, found } => {
                write!(
                    f,
                    "CRC mismatch: computed {expected:#010x}, frame says {found:#010x}"
                )
            }
            DecodeError::Version(v) => {
                write!(f, "protocol version {v}, expected {PROTOCOL_VERSION}")
            }
            DecodeError::UnknownKind(k) => write!(f, "unknown message kind {k:#04x}"),
            DecodeError::Length {
                kind,
                expected,
                found,
            } => write!(
                f,
                "message kind {kind:#04x}: payload of {found} bytes, expected {expected}"
            ),
            DecodeError::TooManyJoints { kind, n } => write!(
                f,
                "message kind {kind:#04x}: {n} joints, at most {MAX_JOINTS}"
            ),
            DecodeError::BadValue { kind, at } => {
                write!(
                    f,
                    "message kind {kind:#04x}: bad enum value at payload byte {at}"
                )
            }
        }
    }
}

struct Writer<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn bytes(&mut self, b: &[u8]) {
        self.buf[self.at..self.at + b.len()].copy_from_slice(b);
        self.at += b.len();
    }
    fn u8(&mut self, v: u8) {
        self.bytes(&[v]);
    }
    fn u16(&mut self, v: u16) {
        self.bytes(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }
    fn f32(&mut self, v: f32) {
        self.bytes(&v.to_le_bytes());
    }
}

/// Reads a payload whose length has already been checked.
struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        out.copy_from_slice(&self.buf[self.at..self.at + N]);
        self.at += N;
        out
    }
    fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.take())
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take())
    }
    fn f32(&mut self) -> f32 {
        f32::from_le_bytes(self.take())
    }
}

/// Payload length of a message kind with `n` joints (`None`: unknown kind).
fn payload_len(kind: u8, n: usize) -> Option<usize> {
    Some(match kind {
        kind::JOINT_COMMAND => 1 + 13 * n,
        kind::JOINT_STATE => 13 + 12 * n,
        kind::HEARTBEAT => 26,
        kind::ESTOP | kind::RESET | kind::BYE => 0,
        kind::FAULT => 15,
        kind::NODE_CONFIG => 10 + 28 * n,
        kind::HW_SAMPLE => 10 + 8 * n,
        kind::HW_EFFORT => 1 + 4 * n,
        kind::SIM_STEP => 4,
        kind::SIM_STEP_DONE => 17,
        kind::SIM_RESET => 8,
        _ => return None,
    })
}

/// Offset of the joint count in a payload, for kinds that have one.
fn joint_count_at(kind: u8) -> Option<usize> {
    match kind {
        kind::JOINT_COMMAND | kind::HW_EFFORT => Some(0),
        kind::JOINT_STATE => Some(12),
        kind::NODE_CONFIG => Some(9),
        kind::HW_SAMPLE => Some(9),
        _ => None,
    }
}

fn joints(n: u8) -> Result<usize, EncodeError> {
    if n as usize > MAX_JOINTS {
        Err(EncodeError::TooManyJoints(n))
    } else {
        Ok(n as usize)
    }
}

fn write_payload(msg: &Message, w: &mut Writer<'_>) -> Result<(), EncodeError> {
    match msg {
        Message::JointCommand(c) => {
            let n = joints(c.n)?;
            w.u8(c.n);
            for j in 0..n {
                w.u8(c.mode[j] as u8);
                w.f32(c.position[j]);
                w.f32(c.velocity[j]);
                w.f32(c.effort[j]);
            }
        }
        Message::JointState(s) => {
            let n = joints(s.n)?;
            w.u64(s.node_time_us);
            w.u16(s.ack_seq);
            w.u16(s.status);
            w.u8(s.n);
            for j in 0..n {
                w.f32(s.position[j]);
                w.f32(s.velocity[j]);
                w.f32(s.effort[j]);
            }
        }
        Message::Heartbeat(h) => {
            w.u64(h.time_us);
            w.u32(h.uptime_ms);
            w.u32(h.boot_id);
            w.u16(h.status);
            w.u32(h.rx_ok);
            w.u32(h.rx_err);
        }
        Message::EStop | Message::Reset | Message::Bye => {}
        Message::Fault(f) => {
            w.u16(f.code);
            w.u8(f.joint);
            w.u64(f.node_time_us);
            w.f32(f.detail);
        }
        Message::NodeConfig(c) => {
            let n = joints(c.n)?;
            w.u32(c.watchdog_us);
            w.u32(c.publish_period_us);
            w.u8(c.safe_mode as u8);
            w.u8(c.n);
            for j in &c.joints[..n] {
                for v in [
                    j.kp,
                    j.kd,
                    j.damping,
                    j.max_effort,
                    j.position_min,
                    j.position_max,
                    j.max_velocity,
                ] {
                    w.f32(v);
                }
            }
        }
        Message::HwSample(s) => {
            let n = joints(s.n)?;
            w.u64(s.time_us);
            w.u8(s.flags);
            w.u8(s.n);
            for j in 0..n {
                w.f32(s.position[j]);
                w.f32(s.velocity[j]);
            }
        }
        Message::HwEffort(e) => {
            let n = joints(e.n)?;
            w.u8(e.n);
            for v in &e.effort[..n] {
                w.f32(*v);
            }
        }
        Message::SimStep { dt_us } => w.u32(*dt_us),
        Message::SimStepDone(d) => {
            w.u64(d.time_us);
            w.u32(d.step);
            w.f32(d.reward);
            w.u8(d.flags);
        }
        Message::SimReset { seed } => w.u64(*seed),
    }
    Ok(())
}

/// Encodes `msg` with sequence number `seq` into `out` (COBS, with the
/// trailing delimiter); returns the number of bytes written. `out` of
/// `MAX_ENCODED` bytes always suffices.
pub fn encode_frame(seq: u16, msg: &Message, out: &mut [u8]) -> Result<usize, EncodeError> {
    let mut raw = [0u8; MAX_FRAME];
    let mut w = Writer {
        buf: &mut raw,
        at: 0,
    };
    w.u8(PROTOCOL_VERSION);
    w.u8(msg.kind());
    w.u16(seq);
    write_payload(msg, &mut w)?;
    let crc = crc32(&w.buf[..w.at]);
    w.u32(crc);
    let len = w.at;
    let n = cobs::encode(&raw[..len], out).ok_or(EncodeError::BufferTooSmall)?;
    if n >= out.len() {
        return Err(EncodeError::BufferTooSmall);
    }
    out[n] = 0;
    Ok(n + 1)
}

/// Decodes one COBS block (the bytes between two delimiters, delimiter
/// excluded).
pub fn decode_frame(encoded: &[u8]) -> Result<Frame, DecodeError> {
    if encoded.is_empty() {
        return Err(DecodeError::Empty);
    }
    if encoded.len() > MAX_ENCODED {
        return Err(DecodeError::Overflow);
    }
    let mut raw = [0u8; MAX_FRAME];
    let len = cobs::decode(encoded, &mut raw).map_err(|e| match e {
        cobs::CobsError::TooLong => DecodeError::Overflow,
        e => DecodeError::Cobs(e),
    })?;
    let raw = &raw[..len];
    if len < HEADER + CRC {
        return Err(DecodeError::TooShort(len));
    }
    let (body, crc_bytes) = raw.split_at(len - CRC);
    let found = u32::from_le_bytes([crc_bytes[0], crc_bytes[1], crc_bytes[2], crc_bytes[3]]);
    let expected = crc32(body);
    if expected != found {
        return Err(DecodeError::Crc { expected, found });
    }
    if body[0] != PROTOCOL_VERSION {
        return Err(DecodeError::Version(body[0]));
    }
    let kind = body[1];
    let seq = u16::from_le_bytes([body[2], body[3]]);
    let payload = &body[HEADER..];
    let n = match joint_count_at(kind) {
        Some(at) => match payload.get(at) {
            Some(&n) if n as usize > MAX_JOINTS => {
                return Err(DecodeError::TooManyJoints { kind, n });
            }
            Some(&n) => n as usize,
            None => 0,
        },
        None => 0,
    };
    let expected = payload_len(kind, n).ok_or(DecodeError::UnknownKind(kind))?;
    if payload.len() != expected {
        return Err(DecodeError::Length {
            kind,
            expected,
            found: payload.len(),
        });
    }
    let msg = read_payload(kind, payload)?;
    Ok(Frame { seq, msg })
}

fn read_payload(kind: u8, payload: &[u8]) -> Result<Message, DecodeError> {
    let mut r = Reader {
        buf: payload,
        at: 0,
    };
    Ok(match kind {
        kind::JOINT_COMMAND => {
            let mut c = JointCommand {
                n: r.u8(),
                ..Default::default()
            };
            for j in 0..c.n as usize {
                let at = r.at;
                c.mode[j] = JointMode::from_u8(r.u8()).ok_or(DecodeError::BadValue { kind, at })?;
                c.position[j] = r.f32();
                c.velocity[j] = r.f32();
                c.effort[j] = r.f32();
            }
            Message::JointCommand(c)
        }
        kind::JOINT_STATE => {
            let mut s = JointState {
                node_time_us: r.u64(),
                ack_seq: r.u16(),
                status: r.u16(),
                n: r.u8(),
                ..Default::default()
            };
            for j in 0..s.n as usize {
                s.position[j] = r.f32();
                s.velocity[j] = r.f32();
                s.effort[j] = r.f32();
            }
            Message::JointState(s)
        }
        kind::HEARTBEAT => Message::Heartbeat(Heartbeat {
            time_us: r.u64(),
            uptime_ms: r.u32(),
            boot_id: r.u32(),
            status: r.u16(),
            rx_ok: r.u32(),
            rx_err: r.u32(),
        }),
        kind::ESTOP => Message::EStop,
        kind::RESET => Message::Reset,
        kind::BYE => Message::Bye,
        kind::FAULT => Message::Fault(Fault {
            code: r.u16(),
            joint: r.u8(),
            node_time_us: r.u64(),
            detail: r.f32(),
        }),
        kind::NODE_CONFIG => {
            let watchdog_us = r.u32();
            let publish_period_us = r.u32();
            let at = r.at;
            let safe_mode = SafeMode::from_u8(r.u8()).ok_or(DecodeError::BadValue { kind, at })?;
            let mut c = NodeConfig {
                watchdog_us,
                publish_period_us,
                safe_mode,
                n: r.u8(),
                ..Default::default()
            };
            for j in 0..c.n as usize {
                c.joints[j] = JointConfig {
                    kp: r.f32(),
                    kd: r.f32(),
                    damping: r.f32(),
                    max_effort: r.f32(),
                    position_min: r.f32(),
                    position_max: r.f32(),
                    max_velocity: r.f32(),
                };
            }
            Message::NodeConfig(c)
        }
        kind::HW_SAMPLE => {
            let mut s = HwSample {
                time_us: r.u64(),
                flags: r.u8(),
                n: r.u8(),
                ..Default::default()
            };
            for j in 0..s.n as usize {
                s.position[j] = r.f32();
                s.velocity[j] = r.f32();
            }
            Message::HwSample(s)
        }
        kind::HW_EFFORT => {
            let mut e = HwEffort {
                n: r.u8(),
                ..Default::default()
            };
            for j in 0..e.n as usize {
                e.effort[j] = r.f32();
            }
            Message::HwEffort(e)
        }
        kind::SIM_STEP => Message::SimStep { dt_us: r.u32() },
        kind::SIM_STEP_DONE => Message::SimStepDone(StepDone {
            time_us: r.u64(),
            step: r.u32(),
            reward: r.f32(),
            flags: r.u8(),
        }),
        kind::SIM_RESET => Message::SimReset { seed: r.u64() },
        other => return Err(DecodeError::UnknownKind(other)),
    })
}

/// Splits a byte stream into frames: feed bytes one at a time; each
/// delimiter yields the frame before it (or why it was not one). After an
/// error the decoder simply continues with the next frame.
pub struct FrameDecoder {
    buf: [u8; MAX_ENCODED],
    len: usize,
    overflow: bool,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    pub const fn new() -> Self {
        FrameDecoder {
            buf: [0; MAX_ENCODED],
            len: 0,
            overflow: false,
        }
    }

    /// Forgets any partial frame.
    pub fn clear(&mut self) {
        self.len = 0;
        self.overflow = false;
    }

    /// Takes one byte; `Some` at each delimiter.
    pub fn push(&mut self, byte: u8) -> Option<Result<Frame, DecodeError>> {
        if byte == 0 {
            let out = if self.overflow {
                Err(DecodeError::Overflow)
            } else {
                decode_frame(&self.buf[..self.len])
            };
            self.clear();
            return Some(out);
        }
        if self.len < self.buf.len() {
            self.buf[self.len] = byte;
            self.len += 1;
        } else {
            self.overflow = true;
        }
        None
    }

    /// Feeds `bytes`, calling `on_frame` for each delimiter.
    pub fn feed(&mut self, bytes: &[u8], mut on_frame: impl FnMut(Result<Frame, DecodeError>)) {
        for &b in bytes {
            if let Some(r) = self.push(b) {
                on_frame(r);
            }
        }
    }
}
