//! Fuzz target: arbitrary text as a robot config. Validation must report
//! problems, never panic or hang; paths in the text resolve against a
//! directory that does not exist, so nothing outside is read but what a
//! config may name (special files are refused without being opened).

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ganglion::config::parse(Path::new("/nonexistent/fuzz/robot.toml"), text);
    }
});
