//! Consistent Overhead Byte Stuffing: encodes bytes so that 0x00 never occurs
//! inside a frame, which makes 0x00 the frame delimiter a receiver can always
//! resynchronise on. Overhead: one byte per 254, plus one.

/// Largest encoded size of `n` raw bytes (without the trailing delimiter).
pub const fn max_encoded_len(n: usize) -> usize {
    n + n / 254 + 1
}

/// Why a COBS block could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CobsError {
    /// A zero byte inside the encoded block (the delimiter is not part of it).
    ZeroByte { at: usize },
    /// A code byte points past the end of the block.
    Truncated { at: usize },
    /// The decoded bytes do not fit the output buffer.
    TooLong,
}

/// Encodes `src` into `dst`; returns the encoded length, or `None` when `dst`
/// is shorter than `max_encoded_len(src.len())`.
pub fn encode(src: &[u8], dst: &mut [u8]) -> Option<usize> {
    if dst.len() < max_encoded_len(src.len()) {
        return None;
    }
    let mut code_at = 0;
    let mut out = 1;
    let mut code: u8 = 1;
    for &b in src {
        if b == 0 {
            dst[code_at] = code;
            code_at = out;
            out += 1;
            code = 1;
        } else {
            dst[out] = b;
            out += 1;
            code += 1;
            if code == 0xFF {
                dst[code_at] = code;
                code_at = out;
                out += 1;
                code = 1;
            }
        }
    }
    dst[code_at] = code;
    Some(out)
}

/// Decodes one encoded block (without its delimiter) into `dst`; returns the
/// decoded length.
pub fn decode(src: &[u8], dst: &mut [u8]) -> Result<usize, CobsError> {
    let mut i = 0;
    let mut out = 0;
    while i < src.len() {
        let code = src[i];
        if code == 0 {
            return Err(CobsError::ZeroByte { at: i });
        }
        let end = i + code as usize;
        if end > src.len() {
            return Err(CobsError::Truncated { at: i });
        }
        for (k, &b) in src[i + 1..end].iter().enumerate() {
            if b == 0 {
                return Err(CobsError::ZeroByte { at: i + 1 + k });
            }
            *dst.get_mut(out).ok_or(CobsError::TooLong)? = b;
            out += 1;
        }
        i = end;
        // A block shorter than 0xFF stands for "data, then a zero", except at
        // the very end, where the implied zero is dropped.
        if code != 0xFF && i < src.len() {
            *dst.get_mut(out).ok_or(CobsError::TooLong)? = 0;
            out += 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(data: &[u8]) {
        let mut enc = [0u8; 1200];
        let n = encode(data, &mut enc).unwrap();
        assert!(n <= max_encoded_len(data.len()));
        assert!(!enc[..n].contains(&0), "{data:?}");
        let mut dec = [0u8; 1200];
        let m = decode(&enc[..n], &mut dec).unwrap();
        assert_eq!(&dec[..m], data);
    }

    #[test]
    fn known_vectors() {
        let mut enc = [0u8; 16];
        let n = encode(&[0x11, 0x22, 0x00, 0x33], &mut enc).unwrap();
        assert_eq!(&enc[..n], &[0x03, 0x11, 0x22, 0x02, 0x33]);
        let n = encode(&[0x00], &mut enc).unwrap();
        assert_eq!(&enc[..n], &[0x01, 0x01]);
        let n = encode(&[], &mut enc).unwrap();
        assert_eq!(&enc[..n], &[0x01]);
    }

    #[test]
    fn roundtrips_edge_lengths() {
        for len in [0usize, 1, 253, 254, 255, 256, 508, 600] {
            let nonzero: [u8; 600] = core::array::from_fn(|i| (i % 255 + 1) as u8);
            roundtrip(&nonzero[..len]);
            let zeros = [0u8; 600];
            roundtrip(&zeros[..len]);
        }
    }

    #[test]
    fn bad_blocks_are_errors() {
        let mut dec = [0u8; 8];
        assert_eq!(
            decode(&[0x05, 1, 2], &mut dec),
            Err(CobsError::Truncated { at: 0 })
        );
        assert_eq!(
            decode(&[0x03, 1, 0], &mut dec),
            Err(CobsError::ZeroByte { at: 2 })
        );
        assert!(decode(&[0xFF; 20], &mut dec).is_err());
    }
}
