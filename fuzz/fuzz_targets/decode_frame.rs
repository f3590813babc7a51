//! Fuzz target: arbitrary bytes through the stream decoder (one byte at a
//! time) and the block decoder. Neither may panic; every frame that decodes
//! must re-encode to bytes that decode to the same frame.

#![no_main]

use ganglion_firmware::wire::MAX_ENCODED;
use ganglion_firmware::{FrameDecoder, decode_frame, encode_frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut dec = FrameDecoder::new();
    let mut buf = [0u8; MAX_ENCODED];
    for &b in data {
        if let Some(Ok(frame)) = dec.push(b) {
            let n =
                encode_frame(frame.seq, &frame.msg, &mut buf).expect("a decoded frame re-encodes");
            let again = decode_frame(&buf[..n - 1]).expect("a re-encoded frame decodes");
            // NaN payloads compare unequal; compare the encodings instead.
            let mut buf2 = [0u8; MAX_ENCODED];
            let m = encode_frame(again.seq, &again.msg, &mut buf2).expect("re-encodes");
            assert_eq!(&buf[..n], &buf2[..m]);
        }
    }
    let _ = decode_frame(data);
});
