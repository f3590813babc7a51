//! The byte layout of the messages on `ganglion/{robot}/sensors` and
//! `ganglion/{robot}/commands`: one fixed little-endian frame, so any
//! language can read it without a schema compiler.
//!
//! ```text
//! offset size  field
//!      0    4  magic: "GSN1" (sensors) or "GCM1" (commands)
//!      4    8  seq    u64, +1 per message from one sender
//!     12    8  time   f64, the sender's clock (s): robot time for sensors,
//!                     the controller's loop time for commands
//!     20    4  flags  u32 (sensors: FLAG_* below, and with FLAG_OWNED the
//!                     low 16 bits of the owning controller's id in bits
//!                     16..32; commands: the controller's id, `owner`)
//!     24    2  n      u16, number of values (<= MAX_VALUES)
//!     26    2  reserved, 0
//!     28  4·n  values f32 each
//! ```
//!
//! Decoding never panics: a frame that is short, long, of the wrong kind or
//! with too many values is an error the receiver counts.

use std::fmt;

/// Most values one frame carries (the loop's sensor limit).
pub const MAX_VALUES: usize = 32;
/// Bytes before the values.
pub const HEADER: usize = 28;

/// Sensor flag: the robot is in its operating envelope.
pub const FLAG_IN_ENVELOPE: u32 = 1 << 0;
/// Sensor flag: the robot's command watchdog fired; it is in its safe state.
pub const FLAG_WATCHDOG: u32 = 1 << 1;
/// Sensor flag: the robot's e-stop is latched.
pub const FLAG_ESTOP: u32 = 1 << 2;
/// Sensor flag: a single-controller robot is owned; bits
/// `OWNER_TAG_SHIFT..32` hold the low 16 bits of the owner's id.
pub const FLAG_OWNED: u32 = 1 << 3;
/// Where the owner's tag starts in the sensor flags.
pub const OWNER_TAG_SHIFT: u32 = 16;

/// Which stream a frame belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Sensors,
    Commands,
}

impl Kind {
    fn magic(self) -> &'static [u8; 4] {
        match self {
            Kind::Sensors => b"GSN1",
            Kind::Commands => b"GCM1",
        }
    }
}

/// One decoded frame (fixed size: decoding does not allocate).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Frame {
    pub seq: u64,
    pub time: f64,
    pub flags: u32,
    pub n: usize,
    pub values: [f32; MAX_VALUES],
}

impl Default for Frame {
    fn default() -> Self {
        Frame {
            seq: 0,
            time: 0.0,
            flags: 0,
            n: 0,
            values: [0.0; MAX_VALUES],
        }
    }
}

impl Frame {
    pub fn new(seq: u64, time: f64, flags: u32, values: &[f32]) -> Self {
        let n = values.len().min(MAX_VALUES);
        let mut f = Frame {
            seq,
            time,
            flags,
            n,
            ..Default::default()
        };
        f.values[..n].copy_from_slice(&values[..n]);
        f
    }

    pub fn values(&self) -> &[f32] {
        &self.values[..self.n]
    }

    /// Size of the encoded frame.
    pub fn encoded_len(&self) -> usize {
        HEADER + 4 * self.n
    }

    /// Writes the frame into `out` (at least `encoded_len` bytes); returns
    /// the length written.
    pub fn encode(&self, kind: Kind, out: &mut [u8]) -> usize {
        let len = self.encoded_len();
        let out = &mut out[..len];
        out[0..4].copy_from_slice(kind.magic());
        out[4..12].copy_from_slice(&self.seq.to_le_bytes());
        out[12..20].copy_from_slice(&self.time.to_le_bytes());
        out[20..24].copy_from_slice(&self.flags.to_le_bytes());
        out[24..26].copy_from_slice(&(self.n as u16).to_le_bytes());
        out[26..28].fill(0);
        for (i, v) in self.values().iter().enumerate() {
            out[HEADER + 4 * i..HEADER + 4 * i + 4].copy_from_slice(&v.to_le_bytes());
        }
        len
    }

    /// The encoded frame in a new buffer (service threads only).
    pub fn to_vec(&self, kind: Kind) -> Vec<u8> {
        let mut v = vec![0u8; self.encoded_len()];
        self.encode(kind, &mut v);
        v
    }

    /// Decodes a frame of `kind`.
    pub fn decode(kind: Kind, bytes: &[u8]) -> Result<Frame, DecodeError> {
        if bytes.len() < HEADER {
            return Err(DecodeError::Short(bytes.len()));
        }
        if &bytes[0..4] != kind.magic() {
            return Err(DecodeError::Magic([bytes[0], bytes[1], bytes[2], bytes[3]]));
        }
        let u64_at = |o: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[o..o + 8]);
            b
        };
        let n = u16::from_le_bytes([bytes[24], bytes[25]]) as usize;
        if n > MAX_VALUES {
            return Err(DecodeError::TooMany(n));
        }
        if bytes.len() != HEADER + 4 * n {
            return Err(DecodeError::Length {
                n,
                len: bytes.len(),
            });
        }
        let mut f = Frame {
            seq: u64::from_le_bytes(u64_at(4)),
            time: f64::from_le_bytes(u64_at(12)),
            flags: u32::from_le_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]),
            n,
            values: [0.0; MAX_VALUES],
        };
        for i in 0..n {
            let o = HEADER + 4 * i;
            f.values[i] = f32::from_le_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]);
        }
        Ok(f)
    }
}

/// Why a frame was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    Short(usize),
    Magic([u8; 4]),
    TooMany(usize),
    Length { n: usize, len: usize },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Short(len) => write!(
                f,
                "frame of {len} bytes is shorter than the {HEADER}-byte header"
            ),
            DecodeError::Magic(m) => write!(f, "unexpected magic {m:?}"),
            DecodeError::TooMany(n) => write!(f, "{n} values (at most {MAX_VALUES})"),
            DecodeError::Length { n, len } => write!(
                f,
                "{len} bytes but {n} values need {} bytes",
                HEADER + 4 * n
            ),
        }
    }
}

impl std::error::Error for DecodeError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let f = Frame::new(42, 1.25, FLAG_IN_ENVELOPE, &[1.0, -2.5, 3.0e-3, f32::MAX]);
        let bytes = f.to_vec(Kind::Sensors);
        assert_eq!(bytes.len(), HEADER + 16);
        assert_eq!(&bytes[0..4], b"GSN1");
        assert_eq!(Frame::decode(Kind::Sensors, &bytes), Ok(f));
    }

    #[test]
    fn bad_frames_are_errors() {
        let f = Frame::new(1, 0.0, 0, &[1.0, 2.0]);
        let bytes = f.to_vec(Kind::Commands);
        assert_eq!(
            Frame::decode(Kind::Sensors, &bytes),
            Err(DecodeError::Magic(*b"GCM1"))
        );
        assert_eq!(
            Frame::decode(Kind::Commands, &bytes[..10]),
            Err(DecodeError::Short(10))
        );
        assert!(matches!(
            Frame::decode(Kind::Commands, &bytes[..bytes.len() - 1]),
            Err(DecodeError::Length { n: 2, .. })
        ));
        let mut many = bytes.clone();
        many[24..26].copy_from_slice(&1000u16.to_le_bytes());
        assert_eq!(
            Frame::decode(Kind::Commands, &many),
            Err(DecodeError::TooMany(1000))
        );
        // Every truncation and every single-byte corruption decodes or errs,
        // never panics.
        for cut in 0..bytes.len() {
            let _ = Frame::decode(Kind::Commands, &bytes[..cut]);
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0xA5;
            let _ = Frame::decode(Kind::Commands, &b);
        }
    }
}
