//! Fuzz target: arbitrary bytes as an MCAP recording. The reader must return
//! a recording (finished or cut short) or an error naming the damage; it
//! never panics, hangs or reads a damaged file as a shorter valid one
//! without saying so.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(rec) = ganglion::record::parse_recording(Path::new("fuzz.mcap"), data) {
        // A recording that reads as finished held no damage the reader saw.
        assert!(rec.truncated == rec.stop_reason.is_some());
    }
});
