//! The Dynamixel bus driver over a `SerialPort`: Ping, Read, Write, Sync
//! Read (present load, velocity and position of every servo in one
//! transaction), Sync Write (goals), torque and Hardware Error Status.
//!
//! Every transaction has a deadline: a reply that does not come, or comes
//! in part, is `BusError::NoReply` naming the servo, never a hang. A bad
//! CRC, a reply from the wrong id, a reply of the wrong length or a status
//! error is an error naming the servo. Bytes left over from an earlier
//! transaction are dropped before each new one. Buffers are fixed: a
//! transaction allocates nothing.

use std::time::{Duration, Instant};

use thiserror::Error;

use super::protocol::{
    BROADCAST_ID, DecodeError, Decoder, ErrorCode, MAX_PACKET, MAX_PARAMS, encode, inst,
};
use super::table;
use crate::io::serial::SerialPort;

/// At most this many servos in one Sync Read.
pub const MAX_SYNC_IDS: usize = 64;

/// A failed transaction, with the servo it concerns.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum BusError {
    #[error("servo {id}: no reply within {timeout_ms} ms ({partial} bytes of a partial reply)")]
    NoReply {
        id: u8,
        timeout_ms: u64,
        partial: usize,
    },
    #[error("servo {id}: reply with a bad CRC")]
    BadCrc { id: u8 },
    #[error("servo {id}: reply with an impossible length field ({length})")]
    BadLength { id: u8, length: u16 },
    #[error("servo {expected}: a reply came from id {got} instead")]
    WrongId { expected: u8, got: u8 },
    #[error("servo {id}: reply carries {got} data bytes, expected {expected}")]
    WrongLength { id: u8, expected: usize, got: usize },
    #[error("servo {id}: not a status packet (instruction {instruction:#04x})")]
    NotStatus { id: u8, instruction: u8 },
    #[error("servo {id}: {code}")]
    Status { id: u8, code: ErrorCode },
    #[error("bus {device}: {message}")]
    Io { device: String, message: String },
    #[error("bus: {0}")]
    Request(String),
}

impl BusError {
    /// The servo the error names (`None`: the line itself).
    pub fn id(&self) -> Option<u8> {
        match *self {
            BusError::NoReply { id, .. }
            | BusError::BadCrc { id }
            | BusError::BadLength { id, .. }
            | BusError::WrongLength { id, .. }
            | BusError::NotStatus { id, .. }
            | BusError::Status { id, .. } => Some(id),
            BusError::WrongId { expected, .. } => Some(expected),
            BusError::Io { .. } | BusError::Request(_) => None,
        }
    }

    /// A reply damaged on the line (as opposed to missing, or refused by
    /// the servo).
    pub fn is_garbled(&self) -> bool {
        matches!(
            self,
            BusError::BadCrc { .. }
                | BusError::BadLength { .. }
                | BusError::WrongId { .. }
                | BusError::WrongLength { .. }
                | BusError::NotStatus { .. }
        )
    }
}

/// What a Ping's status says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PingInfo {
    pub model: u16,
    pub firmware: u8,
    /// The status packet's alert bit (a hardware error is latched).
    pub alert: bool,
}

/// Transaction counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BusStats {
    pub transactions: u64,
    pub errors: u64,
    pub timeouts: u64,
    pub bad_crc: u64,
}

/// The driver: one serial port, one transaction at a time.
pub struct Bus {
    port: SerialPort,
    timeout: Duration,
    dec: Decoder,
    tx: [u8; MAX_PACKET],
    params: [u8; MAX_PARAMS],
    rx: [u8; 1024],
    stats: BusStats,
}

impl Bus {
    /// A bus on an open port; `timeout` bounds every transaction.
    pub fn new(port: SerialPort, timeout: Duration) -> Bus {
        Bus {
            port,
            timeout,
            dec: Decoder::new(),
            tx: [0; MAX_PACKET],
            params: [0; MAX_PARAMS],
            rx: [0; 1024],
            stats: BusStats::default(),
        }
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    pub fn stats(&self) -> BusStats {
        self.stats
    }

    /// The device's name, for messages.
    pub fn device(&self) -> &str {
        self.port.name()
    }

    fn io_err(&self, e: impl std::fmt::Display) -> BusError {
        BusError::Io {
            device: self.port.name().to_string(),
            message: e.to_string(),
        }
    }

    /// Encodes the packet whose parameters are `self.params[..n_params]`
    /// and sends it after dropping stale input.
    fn send(&mut self, id: u8, instruction: u8, n_params: usize) -> Result<(), BusError> {
        let n = encode(
            id,
            instruction,
            None,
            &self.params[..n_params],
            &mut self.tx,
        )
        .map_err(|e| BusError::Request(e.to_string()))?;
        // Whatever is still on the line belongs to an earlier transaction
        // (bounded: a line that never stops talking is not waited out).
        let until = Instant::now() + self.timeout;
        loop {
            match self.port.read_timeout(&mut self.rx, Duration::ZERO) {
                Ok(0) => break,
                Ok(_) if Instant::now() < until => {}
                Ok(_) => break,
                Err(e) => return Err(self.io_err(e)),
            }
        }
        self.dec.clear();
        self.stats.transactions += 1;
        let timeout = self.timeout;
        let Bus { port, tx, .. } = self;
        port.write_all_timeout(&tx[..n], timeout)
            .map_err(|e| BusError::Io {
                device: port.name().to_string(),
                message: e.to_string(),
            })
    }

    /// Waits for one status packet from each of `ids` (any order), each
    /// with `len` data bytes (`None`: any), copied to `out[i * len..]`;
    /// `alerts[i]` is the alert bit of the reply of `ids[i]`.
    fn receive(
        &mut self,
        ids: &[u8],
        len: Option<usize>,
        out: &mut [u8],
        alerts: &mut [bool],
    ) -> Result<(), BusError> {
        let r = self.receive_inner(ids, len, out, alerts);
        if let Err(e) = &r {
            self.stats.errors += 1;
            match e {
                BusError::NoReply { .. } => self.stats.timeouts += 1,
                BusError::BadCrc { .. } => self.stats.bad_crc += 1,
                _ => {}
            }
        }
        r
    }

    fn receive_inner(
        &mut self,
        ids: &[u8],
        len: Option<usize>,
        out: &mut [u8],
        alerts: &mut [bool],
    ) -> Result<(), BusError> {
        debug_assert!(ids.len() <= MAX_SYNC_IDS);
        let deadline = Instant::now() + self.timeout;
        let mut got = 0u64;
        let all = if ids.len() >= 64 {
            u64::MAX
        } else {
            (1u64 << ids.len()) - 1
        };
        let mut first_err: Option<BusError> = None;
        while got != all {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            let Bus { port, dec, rx, .. } = self;
            let n = match port.read_timeout(rx, left) {
                Ok(n) => n,
                Err(e) => {
                    return Err(BusError::Io {
                        device: port.name().to_string(),
                        message: e.to_string(),
                    });
                }
            };
            let next_missing = |got: u64| {
                (0..ids.len())
                    .find(|i| got & (1 << i) == 0)
                    .map_or(BROADCAST_ID, |i| ids[i])
            };
            dec.feed(&rx[..n], |r| {
                if first_err.is_some() {
                    return;
                }
                let p = match r {
                    Ok(p) => p,
                    Err(DecodeError::BadCrc { id, .. }) => {
                        first_err = Some(BusError::BadCrc { id });
                        return;
                    }
                    Err(DecodeError::BadLength { id, length }) => {
                        first_err = Some(BusError::BadLength { id, length });
                        return;
                    }
                };
                let Some(i) = ids.iter().position(|&id| id == p.id) else {
                    first_err = Some(BusError::WrongId {
                        expected: next_missing(got),
                        got: p.id,
                    });
                    return;
                };
                let s = match p.status() {
                    Ok(s) => s,
                    Err(_) => {
                        first_err = Some(BusError::NotStatus {
                            id: p.id,
                            instruction: p.instruction,
                        });
                        return;
                    }
                };
                if let Some(code) = s.error {
                    first_err = Some(BusError::Status { id: p.id, code });
                    return;
                }
                if let Some(len) = len {
                    if s.data.len() != len {
                        first_err = Some(BusError::WrongLength {
                            id: p.id,
                            expected: len,
                            got: s.data.len(),
                        });
                        return;
                    }
                    if let Some(slot) = out.get_mut(i * len..(i + 1) * len) {
                        slot.copy_from_slice(s.data);
                    }
                }
                if let Some(a) = alerts.get_mut(i) {
                    *a = s.alert;
                }
                got |= 1 << i;
            });
            if let Some(e) = first_err {
                return Err(e);
            }
        }
        if got == all {
            return Ok(());
        }
        let missing = (0..ids.len())
            .find(|i| got & (1 << i) == 0)
            .map_or(BROADCAST_ID, |i| ids[i]);
        Err(BusError::NoReply {
            id: missing,
            timeout_ms: self.timeout.as_millis() as u64,
            partial: self.dec.pending(),
        })
    }

    /// Pings one servo: its model number and firmware version.
    pub fn ping(&mut self, id: u8) -> Result<PingInfo, BusError> {
        self.send(id, inst::PING, 0)?;
        let mut data = [0u8; 3];
        let mut alert = [false];
        self.receive(&[id], Some(3), &mut data, &mut alert)?;
        Ok(PingInfo {
            model: u16::from_le_bytes([data[0], data[1]]),
            firmware: data[2],
            alert: alert[0],
        })
    }

    /// Reads `out.len()` bytes from `addr` of servo `id`; returns the
    /// alert bit of its status.
    pub fn read(&mut self, id: u8, addr: u16, out: &mut [u8]) -> Result<bool, BusError> {
        let len = out.len() as u16;
        self.params[..2].copy_from_slice(&addr.to_le_bytes());
        self.params[2..4].copy_from_slice(&len.to_le_bytes());
        self.send(id, inst::READ, 4)?;
        let mut alert = [false];
        self.receive(&[id], Some(out.len()), out, &mut alert)?;
        Ok(alert[0])
    }

    pub fn read_u8(&mut self, id: u8, addr: u16) -> Result<u8, BusError> {
        let mut b = [0u8; 1];
        self.read(id, addr, &mut b)?;
        Ok(b[0])
    }

    /// Writes `data` at `addr` of servo `id` and waits for its status
    /// (returns its alert bit); to `BROADCAST_ID` nobody answers.
    pub fn write(&mut self, id: u8, addr: u16, data: &[u8]) -> Result<bool, BusError> {
        if data.len() + 2 > MAX_PARAMS {
            return Err(BusError::Request(format!("{} bytes to write", data.len())));
        }
        self.params[..2].copy_from_slice(&addr.to_le_bytes());
        self.params[2..2 + data.len()].copy_from_slice(data);
        self.send(id, inst::WRITE, 2 + data.len())?;
        if id == BROADCAST_ID {
            return Ok(false);
        }
        let mut alert = [false];
        self.receive(&[id], Some(0), &mut [], &mut alert)?;
        Ok(alert[0])
    }

    /// Reads `len` bytes from `addr` of every servo in `ids` in one Sync
    /// Read: `out` gets `ids.len() × len` bytes in `ids` order, `alerts`
    /// each reply's alert bit.
    pub fn sync_read(
        &mut self,
        ids: &[u8],
        addr: u16,
        len: u16,
        out: &mut [u8],
        alerts: &mut [bool],
    ) -> Result<(), BusError> {
        if ids.is_empty() || ids.len() > MAX_SYNC_IDS || 4 + ids.len() > MAX_PARAMS {
            return Err(BusError::Request(format!("sync read of {} ids", ids.len())));
        }
        if out.len() < ids.len() * len as usize || alerts.len() < ids.len() {
            return Err(BusError::Request("sync read buffers too small".into()));
        }
        self.params[..2].copy_from_slice(&addr.to_le_bytes());
        self.params[2..4].copy_from_slice(&len.to_le_bytes());
        self.params[4..4 + ids.len()].copy_from_slice(ids);
        self.send(BROADCAST_ID, inst::SYNC_READ, 4 + ids.len())?;
        self.receive(ids, Some(len as usize), out, alerts)
    }

    /// Writes `len` bytes at `addr` of every servo in `ids` in one Sync
    /// Write (no replies): servo `ids[i]` gets `data[i * len..(i + 1) * len]`.
    pub fn sync_write(
        &mut self,
        ids: &[u8],
        addr: u16,
        len: u16,
        data: &[u8],
    ) -> Result<(), BusError> {
        let len_u = len as usize;
        let n = 4 + ids.len() * (1 + len_u);
        if ids.is_empty() || len == 0 || n > MAX_PARAMS || data.len() < ids.len() * len_u {
            return Err(BusError::Request(format!(
                "sync write of {len} bytes to {} ids",
                ids.len()
            )));
        }
        self.params[..2].copy_from_slice(&addr.to_le_bytes());
        self.params[2..4].copy_from_slice(&len.to_le_bytes());
        for (i, &id) in ids.iter().enumerate() {
            let at = 4 + i * (1 + len_u);
            self.params[at] = id;
            self.params[at + 1..at + 1 + len_u].copy_from_slice(&data[i * len_u..(i + 1) * len_u]);
        }
        self.send(BROADCAST_ID, inst::SYNC_WRITE, n)
    }

    /// Sync Write of 4-byte signed values (goal positions or velocities).
    pub fn sync_write_i32(
        &mut self,
        ids: &[u8],
        addr: u16,
        values: &[i32],
    ) -> Result<(), BusError> {
        let mut data = [0u8; 4 * MAX_SYNC_IDS];
        if ids.len() > MAX_SYNC_IDS || values.len() < ids.len() {
            return Err(BusError::Request(format!(
                "sync write to {} ids",
                ids.len()
            )));
        }
        for (i, v) in values.iter().take(ids.len()).enumerate() {
            data[4 * i..4 * i + 4].copy_from_slice(&v.to_le_bytes());
        }
        self.sync_write(ids, addr, 4, &data[..4 * ids.len()])
    }

    /// Torque on or off (`BROADCAST_ID`: every servo, no reply).
    pub fn torque(&mut self, id: u8, on: bool) -> Result<(), BusError> {
        self.write(id, table::TORQUE_ENABLE, &[on as u8])
            .map(|_| ())
    }

    /// The servo's Hardware Error Status bits (`table::hw`).
    pub fn hardware_error(&mut self, id: u8) -> Result<u8, BusError> {
        self.read_u8(id, table::HARDWARE_ERROR_STATUS)
    }

    /// Pings each id with the bus's timeout; the ones that answered.
    pub fn scan(&mut self, ids: impl IntoIterator<Item = u8>) -> Vec<(u8, PingInfo)> {
        ids.into_iter()
            .filter_map(|id| self.ping(id).ok().map(|p| (id, p)))
            .collect()
    }
}

/// Present load, velocity and position of one servo from a
/// `PRESENT_BLOCK_LEN` block read at `PRESENT_LOAD`.
pub fn present_block(b: &[u8]) -> Option<(i16, i32, i32)> {
    let b: &[u8; 10] = b.get(..10)?.try_into().ok()?;
    Some((
        i16::from_le_bytes([b[0], b[1]]),
        i32::from_le_bytes([b[2], b[3], b[4], b[5]]),
        i32::from_le_bytes([b[6], b[7], b[8], b[9]]),
    ))
}
