//! A run killed with SIGKILL mid-way leaves an MCAP file that reads back up to
//! its last flushed chunk.

use crate::common;

use std::process::Command;
use std::time::Duration;

use ganglion::record::read_recording;

#[test]
fn killed_run_leaves_a_readable_recording() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("killed.mcap");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ganglion"))
        .args(["run", "--seconds", "60", "--config"])
        .arg(common::repo().join("robots/cartpole.toml"))
        .arg("--record")
        .arg(&rec)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Real-time pacing at 50 Hz: ~75 ticks in 1.5 s, several flushes.
    std::thread::sleep(Duration::from_millis(1500));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let r = read_recording(&rec).expect("a killed run's recording reads back");
    assert!(r.truncated, "no summary was written");
    assert!(
        r.ticks.len() >= 20,
        "only {} ticks recovered",
        r.ticks.len()
    );
    for (i, t) in r.ticks.iter().enumerate() {
        assert_eq!(t.tick, i as u64, "ticks are a contiguous prefix");
    }
    assert!(r.metadata.contains_key("config_text"));
}
