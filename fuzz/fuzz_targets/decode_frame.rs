//! Fuzz target: arbitrary bytes through the stream decoder (one byte at a
//! time) and the block decoder; and, so that the payload parser is reached
//! without guessing CRCs, the same bytes as a raw frame body with a valid
//! CRC-32 appended, COBS-encoded. Nothing may panic; every frame that decodes
//! must re-encode to the bytes it came from, or at least to a frame that
//! decodes to the same encoding.

#![no_main]

use ganglion_firmware::wire::{MAX_ENCODED, MAX_FRAME};
use ganglion_firmware::{Frame, FrameDecoder, cobs, crc, decode_frame, encode_frame};
use libfuzzer_sys::fuzz_target;

fn check_roundtrip(frame: &Frame) {
    let mut buf = [0u8; MAX_ENCODED];
    let n = encode_frame(frame.seq, &frame.msg, &mut buf).expect("a decoded frame re-encodes");
    let again = decode_frame(&buf[..n - 1]).expect("a re-encoded frame decodes");
    // NaN payloads compare unequal; compare the encodings instead.
    let mut buf2 = [0u8; MAX_ENCODED];
    let m = encode_frame(again.seq, &again.msg, &mut buf2).expect("re-encodes");
    assert_eq!(&buf[..n], &buf2[..m]);
}

fuzz_target!(|data: &[u8]| {
    let mut dec = FrameDecoder::new();
    for &b in data {
        if let Some(Ok(frame)) = dec.push(b) {
            check_roundtrip(&frame);
        }
    }
    let _ = decode_frame(data);

    if data.len() + 4 <= MAX_FRAME {
        let mut raw = [0u8; MAX_FRAME];
        raw[..data.len()].copy_from_slice(data);
        raw[data.len()..data.len() + 4].copy_from_slice(&crc::crc32(data).to_le_bytes());
        let mut enc = [0u8; MAX_ENCODED];
        if let Some(n) = cobs::encode(&raw[..data.len() + 4], &mut enc)
            && let Ok(frame) = decode_frame(&enc[..n])
        {
            check_roundtrip(&frame);
            // A valid frame's encoding is exactly what it was decoded from.
            let mut buf = [0u8; MAX_ENCODED];
            let m = encode_frame(frame.seq, &frame.msg, &mut buf).expect("re-encodes");
            assert_eq!(&buf[..m - 1], &enc[..n]);
        }
    }
});
