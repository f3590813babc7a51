//! The byte layout of a camera frame on `ganglion/{robot}/camera/{name}`:
//! the sensor frame's header (see `io::zenoh::wire`: magic, seq, time,
//! flags), with the image's width and height where a sensor frame has its
//! value count, then the pixels, little-endian:
//!
//! ```text
//! offset   size   field
//!      0      4   magic "GCI1"
//!      4      8   seq     u64, +1 per frame from one sender
//!     12      8   time    f64, the sender's clock (s)
//!     20      4   flags   u32: FLAG_DEPTH
//!     24      2   width   u16
//!     26      2   height  u16
//!     28  3·w·h   RGB8, row-major
//!      +  4·w·h   depth f32 (metres, 0 = no return), only with FLAG_DEPTH
//! ```
//!
//! Decoding never panics and never allocates: a frame that is short, long,
//! of another kind, or of a size other than the receiver's buffer is an
//! error the receiver counts.

use std::fmt;

use super::ImageFrame;

pub const MAGIC: &[u8; 4] = b"GCI1";
/// Bytes before the pixels.
pub const HEADER: usize = 28;
/// Flag: depth follows the RGB pixels.
pub const FLAG_DEPTH: u32 = 1;

/// Why a camera frame was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireError {
    /// Fewer bytes than a header.
    Short(usize),
    BadMagic,
    /// The header's size differs from the receiving camera's.
    Size {
        width: usize,
        height: usize,
        want_width: usize,
        want_height: usize,
    },
    /// The byte count does not match the header's size and flags.
    Length {
        got: usize,
        want: usize,
    },
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Short(n) => {
                write!(f, "camera frame of {n} bytes is shorter than its header")
            }
            WireError::BadMagic => write!(f, "not a camera frame (bad magic)"),
            WireError::Size {
                width,
                height,
                want_width,
                want_height,
            } => write!(
                f,
                "camera frame is {width}×{height}, this camera is {want_width}×{want_height}"
            ),
            WireError::Length { got, want } => {
                write!(f, "camera frame of {got} bytes, its header says {want}")
            }
        }
    }
}

impl std::error::Error for WireError {}

/// Bytes of an encoded `width`×`height` frame.
pub fn encoded_len(width: usize, height: usize, depth: bool) -> usize {
    HEADER + 3 * width * height + if depth { 4 * width * height } else { 0 }
}

/// Encodes `frame` into `out` (cleared first; reuse it to avoid
/// allocating). Frames wider or taller than 65535 pixels cannot be sent.
pub fn encode(frame: &ImageFrame, out: &mut Vec<u8>) -> Result<(), WireError> {
    let (w, h) = (frame.width, frame.height);
    if w > u16::MAX as usize || h > u16::MAX as usize || frame.rgb.len() != 3 * w * h {
        return Err(WireError::Length {
            got: frame.rgb.len(),
            want: 3 * w * h,
        });
    }
    out.clear();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&frame.seq.to_le_bytes());
    out.extend_from_slice(&frame.time.to_le_bytes());
    let flags = if frame.has_depth { FLAG_DEPTH } else { 0 };
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(&(w as u16).to_le_bytes());
    out.extend_from_slice(&(h as u16).to_le_bytes());
    out.extend_from_slice(&frame.rgb);
    if frame.has_depth {
        for d in &frame.depth {
            out.extend_from_slice(&d.to_le_bytes());
        }
    }
    Ok(())
}

fn u16_at(b: &[u8], at: usize) -> usize {
    u16::from_le_bytes([b[at], b[at + 1]]) as usize
}

/// Decodes `bytes` into `out`, which must already have the frame's size.
pub fn decode(bytes: &[u8], out: &mut ImageFrame) -> Result<(), WireError> {
    if bytes.len() < HEADER {
        return Err(WireError::Short(bytes.len()));
    }
    if &bytes[0..4] != MAGIC {
        return Err(WireError::BadMagic);
    }
    let mut u64b = [0u8; 8];
    u64b.copy_from_slice(&bytes[4..12]);
    let seq = u64::from_le_bytes(u64b);
    u64b.copy_from_slice(&bytes[12..20]);
    let time = f64::from_le_bytes(u64b);
    let flags = u32::from_le_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]);
    let (w, h) = (u16_at(bytes, 24), u16_at(bytes, 26));
    if (w, h) != (out.width, out.height) {
        return Err(WireError::Size {
            width: w,
            height: h,
            want_width: out.width,
            want_height: out.height,
        });
    }
    let depth = flags & FLAG_DEPTH != 0;
    let want = encoded_len(w, h, depth);
    if bytes.len() != want || out.rgb.len() != 3 * w * h || out.depth.len() != w * h {
        return Err(WireError::Length {
            got: bytes.len(),
            want,
        });
    }
    let px = &bytes[HEADER..];
    out.rgb.copy_from_slice(&px[..3 * w * h]);
    if depth {
        for (d, c) in out.depth.iter_mut().zip(px[3 * w * h..].chunks_exact(4)) {
            *d = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        }
    } else {
        out.depth.fill(0.0);
    }
    out.has_depth = depth;
    out.seq = seq;
    out.time = time;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let mut f = ImageFrame::new(4, 3, true);
        f.rgb.iter_mut().enumerate().for_each(|(i, p)| *p = i as u8);
        f.depth[5] = 1.5;
        f.seq = 9;
        f.time = 2.5;
        let mut bytes = Vec::new();
        encode(&f, &mut bytes).unwrap();
        assert_eq!(bytes.len(), encoded_len(4, 3, true));
        let mut back = ImageFrame::new(4, 3, true);
        decode(&bytes, &mut back).unwrap();
        assert_eq!(back, f);

        assert_eq!(decode(&bytes[..10], &mut back), Err(WireError::Short(10)));
        let cut = &bytes[..bytes.len() - 1];
        assert!(matches!(
            decode(cut, &mut back),
            Err(WireError::Length { .. })
        ));
        let mut other = ImageFrame::new(5, 3, true);
        assert!(matches!(
            decode(&bytes, &mut other),
            Err(WireError::Size { .. })
        ));
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert_eq!(decode(&bad, &mut back), Err(WireError::BadMagic));
        // Every prefix is refused without a panic.
        for n in 0..bytes.len() {
            assert!(decode(&bytes[..n], &mut back).is_err());
        }
    }
}
