//! Dynamixel Protocol 2.0 packets: the frame (header `FF FF FD 00`, id,
//! little-endian length, instruction, parameters, CRC-16 with the ROBOTIS
//! polynomial 0x8005), byte stuffing (`FF FF FD` in the payload is sent as
//! `FF FF FD FD`), the instructions this crate speaks (Ping, Read, Write,
//! Sync Read, Sync Write) and status packets with their error byte (the
//! alert bit: "read Hardware Error Status"; result codes 1–7).
//!
//! Encoding writes into a caller's buffer, so it allocates nothing per
//! packet; the streaming decoder is in `decoder`.

use thiserror::Error;

pub use super::decoder::{DecodeError, Decoder, unstuff};

/// The packet header, reserved byte included.
pub const HEADER: [u8; 4] = [0xFF, 0xFF, 0xFD, 0x00];
/// The id every servo obeys (and none answers, except Ping and Sync Read).
pub const BROADCAST_ID: u8 = 0xFE;
/// The largest id a servo can have.
pub const MAX_ID: u8 = 252;
/// Largest parameter block (unstuffed) this crate encodes or accepts.
pub const MAX_PARAMS: usize = 512;
/// Largest packet on the wire: header, id, length, instruction, error,
/// parameters after worst-case stuffing (one extra byte per three), CRC.
pub const MAX_PACKET: usize = 7 + (2 + MAX_PARAMS) * 4 / 3 + 1 + 2;

/// Instruction bytes.
pub mod inst {
    pub const PING: u8 = 0x01;
    pub const READ: u8 = 0x02;
    pub const WRITE: u8 = 0x03;
    pub const STATUS: u8 = 0x55;
    pub const SYNC_READ: u8 = 0x82;
    pub const SYNC_WRITE: u8 = 0x83;
}

/// The alert bit of a status packet's error byte: the servo has a hardware
/// error (read its Hardware Error Status).
pub const ALERT: u8 = 0x80;

const fn crc_table() -> [u16; 256] {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 0x8000 != 0 {
                (c << 1) ^ 0x8005
            } else {
                c << 1
            };
            bit += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

static CRC_TABLE: [u16; 256] = crc_table();

/// CRC-16 (polynomial 0x8005, not reflected, initial value 0) over `data`,
/// continuing from `crc` (start with 0).
pub fn crc16(mut crc: u16, data: &[u8]) -> u16 {
    for &b in data {
        let i = ((crc >> 8) ^ b as u16) & 0xFF;
        crc = (crc << 8) ^ CRC_TABLE[i as usize];
    }
    crc
}

/// A packet that does not fit the buffer or the protocol's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum EncodeError {
    #[error("{params} parameter bytes is more than a packet carries here ({MAX_PARAMS})")]
    TooLong { params: usize },
    #[error("the output buffer ({have} bytes) is too small")]
    BufferTooSmall { have: usize },
}

/// Encodes one packet: `instruction`, then `error` (status packets only),
/// then `params`, stuffed, framed and checksummed into `out`. Returns the
/// packet's length.
pub fn encode(
    id: u8,
    instruction: u8,
    error: Option<u8>,
    params: &[u8],
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    if params.len() > MAX_PARAMS {
        return Err(EncodeError::TooLong {
            params: params.len(),
        });
    }
    let small = EncodeError::BufferTooSmall { have: out.len() };
    if out.len() < 7 {
        return Err(small);
    }
    out[..4].copy_from_slice(&HEADER);
    out[4] = id;
    let mut pos = 7;
    // The two source bytes before the current one, for the stuffing rule.
    let (mut p2, mut p1) = (0u8, 0u8);
    let region = std::iter::once(instruction)
        .chain(error)
        .chain(params.iter().copied());
    for b in region {
        *out.get_mut(pos).ok_or(small)? = b;
        pos += 1;
        if p2 == 0xFF && p1 == 0xFF && b == 0xFD {
            *out.get_mut(pos).ok_or(small)? = 0xFD;
            pos += 1;
        }
        (p2, p1) = (p1, b);
    }
    let length = (pos - 7 + 2) as u16;
    out[5..7].copy_from_slice(&length.to_le_bytes());
    let crc = crc16(0, &out[..pos]);
    out.get_mut(pos..pos + 2)
        .ok_or(small)?
        .copy_from_slice(&crc.to_le_bytes());
    Ok(pos + 2)
}

/// One decoded packet; `params` are unstuffed (a status packet's first
/// parameter byte is its error byte: see `Packet::status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    pub id: u8,
    pub instruction: u8,
    pub params: &'a [u8],
}

/// The result codes of a status packet's error byte (bits 0–6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum ErrorCode {
    #[error("result fail (the instruction failed)")]
    ResultFail,
    #[error("instruction error (undefined instruction, or Reg Write without Action)")]
    Instruction,
    #[error("CRC error (the servo received a bad packet)")]
    Crc,
    #[error("data range error (data too short or too long for the address)")]
    DataRange,
    #[error("data length error (fewer bytes than the instruction needs)")]
    DataLength,
    #[error("data limit error (the value is outside the allowed range)")]
    DataLimit,
    #[error("access error (read-only or undefined address, or EEPROM while torque is on)")]
    Access,
    #[error("unknown result code {0}")]
    Unknown(u8),
}

impl ErrorCode {
    /// The result code of an error byte (`None`: success).
    pub fn from_byte(b: u8) -> Option<ErrorCode> {
        Some(match b & 0x7F {
            0 => return None,
            1 => ErrorCode::ResultFail,
            2 => ErrorCode::Instruction,
            3 => ErrorCode::Crc,
            4 => ErrorCode::DataRange,
            5 => ErrorCode::DataLength,
            6 => ErrorCode::DataLimit,
            7 => ErrorCode::Access,
            other => ErrorCode::Unknown(other),
        })
    }

    /// The code's value in the error byte.
    pub fn byte(self) -> u8 {
        match self {
            ErrorCode::ResultFail => 1,
            ErrorCode::Instruction => 2,
            ErrorCode::Crc => 3,
            ErrorCode::DataRange => 4,
            ErrorCode::DataLength => 5,
            ErrorCode::DataLimit => 6,
            ErrorCode::Access => 7,
            ErrorCode::Unknown(b) => b & 0x7F,
        }
    }
}

/// A status packet, its error byte decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status<'a> {
    pub id: u8,
    /// The alert bit: the servo has a hardware error.
    pub alert: bool,
    pub error: Option<ErrorCode>,
    pub data: &'a [u8],
}

/// A decoded instruction packet (what a servo, or the emulator, receives).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Instruction<'a> {
    Ping,
    Read {
        addr: u16,
        len: u16,
    },
    Write {
        addr: u16,
        data: &'a [u8],
    },
    /// `ids` answer in order, each with `len` bytes from `addr`.
    SyncRead {
        addr: u16,
        len: u16,
        ids: &'a [u8],
    },
    /// `entries` is `(id, len data bytes)` repeated.
    SyncWrite {
        addr: u16,
        len: u16,
        entries: &'a [u8],
    },
    /// An instruction this crate does not implement.
    Other(u8),
}

/// A packet whose parameters do not fit its instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum ParseError {
    #[error("servo {id}: expected a status packet, got instruction {instruction:#04x}")]
    NotStatus { id: u8, instruction: u8 },
    #[error("servo {id}: instruction {instruction:#04x} with malformed parameters")]
    BadParams { id: u8, instruction: u8 },
}

fn le16(b: &[u8]) -> u16 {
    u16::from_le_bytes([b[0], b[1]])
}

impl<'a> Packet<'a> {
    /// The packet as a status packet.
    pub fn status(&self) -> Result<Status<'a>, ParseError> {
        if self.instruction != inst::STATUS {
            return Err(ParseError::NotStatus {
                id: self.id,
                instruction: self.instruction,
            });
        }
        let Some((&err, data)) = self.params.split_first() else {
            return Err(ParseError::BadParams {
                id: self.id,
                instruction: self.instruction,
            });
        };
        Ok(Status {
            id: self.id,
            alert: err & ALERT != 0,
            error: ErrorCode::from_byte(err),
            data,
        })
    }

    /// The packet as an instruction packet.
    pub fn instruction(&self) -> Result<Instruction<'a>, ParseError> {
        let p = self.params;
        let bad = ParseError::BadParams {
            id: self.id,
            instruction: self.instruction,
        };
        Ok(match self.instruction {
            inst::PING if p.is_empty() => Instruction::Ping,
            inst::READ if p.len() == 4 => Instruction::Read {
                addr: le16(p),
                len: le16(&p[2..]),
            },
            inst::WRITE if p.len() >= 3 => Instruction::Write {
                addr: le16(p),
                data: &p[2..],
            },
            inst::SYNC_READ if p.len() >= 5 => Instruction::SyncRead {
                addr: le16(p),
                len: le16(&p[2..]),
                ids: &p[4..],
            },
            inst::SYNC_WRITE if p.len() >= 4 => {
                let (addr, len) = (le16(p), le16(&p[2..]));
                let entries = &p[4..];
                if len == 0 || entries.is_empty() || !entries.len().is_multiple_of(len as usize + 1)
                {
                    return Err(bad);
                }
                Instruction::SyncWrite { addr, len, entries }
            }
            inst::PING | inst::READ | inst::WRITE | inst::SYNC_READ | inst::SYNC_WRITE => {
                return Err(bad);
            }
            other => Instruction::Other(other),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(id: u8, instruction: u8, error: Option<u8>, params: &[u8]) -> Vec<u8> {
        let mut out = [0u8; MAX_PACKET];
        let n = encode(id, instruction, error, params, &mut out).unwrap();
        out[..n].to_vec()
    }

    #[test]
    fn crc_and_framing_match_the_manual() {
        assert_eq!(
            enc(1, inst::PING, None, &[]),
            [0xFF, 0xFF, 0xFD, 0x00, 0x01, 0x03, 0x00, 0x01, 0x19, 0x4E]
        );
        // Ping's status from an XM430-W210 (model 1030, firmware 38).
        assert_eq!(
            enc(1, inst::STATUS, Some(0), &[0x06, 0x04, 0x26]),
            [
                0xFF, 0xFF, 0xFD, 0x00, 0x01, 0x07, 0x00, 0x55, 0x00, 0x06, 0x04, 0x26, 0x65, 0x5D
            ]
        );
        // Read 4 bytes of Present Position (132) from id 1, and its status.
        assert_eq!(
            enc(1, inst::READ, None, &[0x84, 0x00, 0x04, 0x00]),
            [
                0xFF, 0xFF, 0xFD, 0x00, 0x01, 0x07, 0x00, 0x02, 0x84, 0x00, 0x04, 0x00, 0x1D, 0x15
            ]
        );
        assert_eq!(
            enc(1, inst::STATUS, Some(0), &[0xA6, 0x00, 0x00, 0x00]),
            [
                0xFF, 0xFF, 0xFD, 0x00, 0x01, 0x08, 0x00, 0x55, 0x00, 0xA6, 0x00, 0x00, 0x00, 0x8C,
                0xC0
            ]
        );
        // Write 512 to Goal Position (116) of id 1, and its status.
        assert_eq!(
            enc(1, inst::WRITE, None, &[0x74, 0x00, 0x00, 0x02, 0x00, 0x00]),
            [
                0xFF, 0xFF, 0xFD, 0x00, 0x01, 0x09, 0x00, 0x03, 0x74, 0x00, 0x00, 0x02, 0x00, 0x00,
                0xCA, 0x89
            ]
        );
        assert_eq!(
            enc(1, inst::STATUS, Some(0), &[]),
            [
                0xFF, 0xFF, 0xFD, 0x00, 0x01, 0x04, 0x00, 0x55, 0x00, 0xA1, 0x0C
            ]
        );
        // Sync Read of Present Position from ids 1 and 2.
        assert_eq!(
            enc(
                BROADCAST_ID,
                inst::SYNC_READ,
                None,
                &[0x84, 0x00, 0x04, 0x00, 0x01, 0x02]
            ),
            [
                0xFF, 0xFF, 0xFD, 0x00, 0xFE, 0x09, 0x00, 0x82, 0x84, 0x00, 0x04, 0x00, 0x01, 0x02,
                0xCE, 0xFA
            ]
        );
        // Sync Write of Goal Position: 150 to id 1, 170 to id 2.
        assert_eq!(
            enc(
                BROADCAST_ID,
                inst::SYNC_WRITE,
                None,
                &[
                    0x74, 0x00, 0x04, 0x00, 0x01, 0x96, 0x00, 0x00, 0x00, 0x02, 0xAA, 0x00, 0x00,
                    0x00
                ]
            ),
            [
                0xFF, 0xFF, 0xFD, 0x00, 0xFE, 0x11, 0x00, 0x83, 0x74, 0x00, 0x04, 0x00, 0x01, 0x96,
                0x00, 0x00, 0x00, 0x02, 0xAA, 0x00, 0x00, 0x00, 0x82, 0x87
            ]
        );
    }

    #[test]
    fn status_and_instructions_parse() {
        let p = Packet {
            id: 4,
            instruction: inst::STATUS,
            params: &[ALERT | 6, 1, 2],
        };
        let s = p.status().unwrap();
        assert!(s.alert);
        assert_eq!(s.error, Some(ErrorCode::DataLimit));
        assert_eq!(s.data, &[1, 2]);
        assert_eq!(ErrorCode::from_byte(ALERT), None);
        for b in 1..=7 {
            assert_eq!(ErrorCode::from_byte(b).unwrap().byte(), b);
        }
        let sw = Packet {
            id: BROADCAST_ID,
            instruction: inst::SYNC_WRITE,
            params: &[116, 0, 4, 0, 1, 0, 8, 0, 0, 2, 0, 4, 0, 0],
        };
        assert!(matches!(
            sw.instruction(),
            Ok(Instruction::SyncWrite {
                addr: 116,
                len: 4,
                ..
            })
        ));
        let short = Packet {
            params: &[116, 0, 4, 0, 1, 0],
            ..sw
        };
        assert!(short.instruction().is_err());
        assert!(sw.status().is_err());
    }
}
