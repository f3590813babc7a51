//! Two lockstep runs of the same config and seed record identical message
//! payloads; `replay` (policy re-run) and `replay --resim` report zero
//! mismatches; a tampered recording is caught at the right tick.

use crate::common;

use ganglion::assemble::{RunOptions, execute};
use ganglion::record::{compare_payloads, read_recording};
use ganglion::replay::{ReplayOptions, replay};
use ganglion::runtime::RunLimit;

fn record(path: &std::path::Path, seed: u64) {
    let opts = RunOptions {
        limit: RunLimit {
            ticks: Some(400),
            seconds: None,
            ..Default::default()
        },
        record: Some(path.to_path_buf()),
        fast: true,
        seed: Some(seed),
        ..Default::default()
    };
    let report = execute(common::cartpole_config(), &opts).unwrap();
    assert_eq!(report.ticks, 400);
    assert!(report.in_envelope, "the shipped policy keeps the pole up");
}

#[test]
fn same_seed_same_recording_and_replays_match() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        dir.path().join("a.mcap"),
        dir.path().join("b.mcap"),
        dir.path().join("c.mcap"),
    );
    record(&a, 11);
    record(&b, 11);
    record(&c, 12);
    let (ra, rb, rc) = (
        read_recording(&a).unwrap(),
        read_recording(&b).unwrap(),
        read_recording(&c).unwrap(),
    );
    assert!(!ra.truncated);
    assert_eq!(ra.ticks.len(), 400);
    assert_eq!(compare_payloads(&ra, &rb), None);
    assert!(
        compare_payloads(&ra, &rc).is_some(),
        "a different seed differs"
    );

    for resim in [false, true] {
        let r = replay(&ReplayOptions {
            recording: a.clone(),
            resim,
            policy: None,
        })
        .unwrap();
        assert_eq!(r.mismatches, 0, "{r:?}");
        assert_eq!(r.ticks, 400);
        assert!(r.checked >= 400, "{r:?}");
    }
}
