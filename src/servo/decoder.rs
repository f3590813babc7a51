//! The streaming Dynamixel Protocol 2.0 decoder: bytes in, in any chunks;
//! whole packets (unstuffed) and rejected frames out, in order. Two fixed
//! buffers, no allocation per packet. After garbage it resynchronises on
//! the next header; a bad CRC or an impossible length is reported as an
//! error, and the search for a header goes on one byte further.

use thiserror::Error;

use super::protocol::{HEADER, MAX_PACKET, Packet, crc16};

/// Removes byte stuffing: after `FF FF FD` in the source, one `FD` is
/// dropped. Returns the unstuffed length written to `out` (never longer
/// than `stuffed`).
pub fn unstuff(stuffed: &[u8], out: &mut [u8]) -> usize {
    let mut n = 0;
    for (i, &b) in stuffed.iter().enumerate() {
        if i >= 3 && b == 0xFD && stuffed[i - 3..i] == [0xFF, 0xFF, 0xFD] {
            continue;
        }
        if let Some(slot) = out.get_mut(n) {
            *slot = b;
            n += 1;
        }
    }
    n
}

/// What the decoder rejects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("servo {id}: bad CRC (packet says {got:#06x}, bytes give {computed:#06x})")]
    BadCrc { id: u8, got: u16, computed: u16 },
    #[error("servo {id}: impossible packet length {length}")]
    BadLength { id: u8, length: u16 },
}

impl DecodeError {
    /// The id in the rejected packet's header (it may itself be garbled).
    pub fn id(&self) -> u8 {
        match *self {
            DecodeError::BadCrc { id, .. } | DecodeError::BadLength { id, .. } => id,
        }
    }
}

/// A streaming packet decoder: feed it bytes as they arrive, in any
/// chunks; it calls back once per whole packet or rejected frame.
pub struct Decoder {
    raw: [u8; MAX_PACKET],
    len: usize,
    body: [u8; MAX_PACKET],
    skipped: u64,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    pub fn new() -> Self {
        Decoder {
            raw: [0; MAX_PACKET],
            len: 0,
            body: [0; MAX_PACKET],
            skipped: 0,
        }
    }

    /// Forgets a partial packet (a transaction ended).
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Bytes held toward a packet not yet complete.
    pub fn pending(&self) -> usize {
        self.len
    }

    /// Bytes skipped so far looking for a header (garbage on the line).
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Takes `data`, calling `on` for every packet completed and every
    /// frame rejected, in order.
    pub fn feed(&mut self, mut data: &[u8], mut on: impl FnMut(Result<Packet<'_>, DecodeError>)) {
        while !data.is_empty() {
            let room = MAX_PACKET - self.len;
            let n = room.min(data.len());
            self.raw[self.len..self.len + n].copy_from_slice(&data[..n]);
            self.len += n;
            data = &data[n..];
            self.parse(&mut on);
        }
    }

    fn parse(&mut self, on: &mut impl FnMut(Result<Packet<'_>, DecodeError>)) {
        let mut start = 0;
        loop {
            let buf = &self.raw[start..self.len];
            // Find the header, or where a header could still begin.
            let at = find_header(buf);
            self.skipped += at as u64;
            start += at;
            let buf = &self.raw[start..self.len];
            if buf.len() < 7 {
                break;
            }
            let id = buf[4];
            let length = u16::from_le_bytes([buf[5], buf[6]]);
            if length < 3 || 7 + length as usize > MAX_PACKET {
                on(Err(DecodeError::BadLength { id, length }));
                start += 1;
                continue;
            }
            let total = 7 + length as usize;
            if buf.len() < total {
                break;
            }
            let got = u16::from_le_bytes([buf[total - 2], buf[total - 1]]);
            let computed = crc16(0, &buf[..total - 2]);
            if got != computed {
                on(Err(DecodeError::BadCrc { id, got, computed }));
                start += 1;
                continue;
            }
            let n = unstuff(&buf[7..total - 2], &mut self.body);
            on(Ok(Packet {
                id,
                instruction: self.body[0],
                params: &self.body[1..n],
            }));
            start += total;
        }
        self.raw.copy_within(start..self.len, 0);
        self.len -= start;
    }
}

/// Where the first header starts in `buf`, or where a partial header at
/// its end starts (`buf.len()` if neither).
fn find_header(buf: &[u8]) -> usize {
    for i in 0..buf.len() {
        let tail = &buf[i..];
        let k = tail.len().min(HEADER.len());
        if tail[..k] == HEADER[..k] {
            return i;
        }
    }
    buf.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::servo::protocol::{ALERT, MAX_PACKET, encode, inst};

    fn enc(id: u8, instruction: u8, error: Option<u8>, params: &[u8]) -> Vec<u8> {
        let mut out = [0u8; MAX_PACKET];
        let n = encode(id, instruction, error, params, &mut out).unwrap();
        out[..n].to_vec()
    }

    type Decoded = Result<(u8, u8, Vec<u8>), DecodeError>;

    fn decode_all(bytes: &[u8]) -> Vec<Decoded> {
        let mut dec = Decoder::new();
        let mut got = Vec::new();
        dec.feed(bytes, |r| {
            got.push(r.map(|p| (p.id, p.instruction, p.params.to_vec())))
        });
        got
    }

    /// The example packets of the ROBOTIS e-manual (Protocol 2.0).
    #[test]
    fn stuffing_inserts_and_removes_fd() {
        let params = [0x10, 0xFF, 0xFF, 0xFD, 0x20, 0xFF, 0xFF, 0xFD, 0xFD];
        let p = enc(3, inst::WRITE, None, &params);
        // Instruction + 9 params + 2 stuffed bytes + CRC.
        assert_eq!(u16::from_le_bytes([p[5], p[6]]), 1 + 9 + 2 + 2);
        assert_eq!(
            &p[8..19],
            &[
                0x10, 0xFF, 0xFF, 0xFD, 0xFD, 0x20, 0xFF, 0xFF, 0xFD, 0xFD, 0xFD
            ][..]
        );
        let got = decode_all(&p);
        assert_eq!(got, vec![Ok((3, inst::WRITE, params.to_vec()))]);
    }

    #[test]
    fn decoder_resyncs_after_garbage_and_reports_bad_frames() {
        let a = enc(1, inst::STATUS, Some(0), &[1, 2, 3]);
        let b = enc(2, inst::STATUS, Some(ALERT), &[4, 5, 6, 7]);
        let mut corrupt = enc(3, inst::STATUS, Some(0), &[9, 9]);
        let last = corrupt.len() - 1;
        corrupt[last] ^= 0x5A;
        let mut stream = vec![0x00, 0xFF, 0x13, 0xFF, 0xFF, 0xFD, 0x01];
        stream.extend(&a);
        stream.extend([0xFF, 0xFF, 0xFD]);
        stream.extend(&corrupt);
        stream.extend([0xFF, 0xFF, 0xFD, 0x00, 0x05, 0x01, 0x00]); // length 1
        stream.extend(&b);
        // Fed in every chunking, the result is the same.
        for chunk in [1, 2, 3, 7, 64, stream.len()] {
            let mut dec = Decoder::new();
            let mut got = Vec::new();
            for part in stream.chunks(chunk) {
                dec.feed(part, |r| got.push(r.map(|p| (p.id, p.params.to_vec()))));
            }
            assert_eq!(got.len(), 4, "chunk {chunk}: {got:?}");
            assert_eq!(got[0], Ok((1, vec![0, 1, 2, 3])));
            assert!(
                matches!(got[1], Err(DecodeError::BadCrc { id: 3, .. })),
                "{got:?}"
            );
            assert_eq!(got[2], Err(DecodeError::BadLength { id: 5, length: 1 }));
            assert_eq!(got[3], Ok((2, vec![ALERT, 4, 5, 6, 7])));
            assert_eq!(dec.pending(), 0);
        }
    }

    #[test]
    fn random_packets_round_trip() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut stream = Vec::new();
        let mut sent = Vec::new();
        for _ in 0..500 {
            let len = (next() % 40) as usize;
            // Mostly 0xFF / 0xFD, so stuffing happens often.
            let params: Vec<u8> = (0..len)
                .map(|_| match next() % 4 {
                    0 => 0xFF,
                    1 => 0xFD,
                    _ => next() as u8,
                })
                .collect();
            let id = (next() % 253) as u8;
            stream.extend(enc(id, inst::WRITE, None, &params));
            sent.push((id, inst::WRITE, params));
            if next() % 3 == 0 {
                stream.push(next() as u8); // a stray byte between packets
            }
        }
        let got: Vec<_> = decode_all(&stream)
            .into_iter()
            .filter_map(Result::ok)
            .collect();
        assert_eq!(got, sent);
    }
}
