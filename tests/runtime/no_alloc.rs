//! The control loop allocates nothing in a tick: 10,000 ticks after warm-up,
//! with the real tract policy, the rapier plant and recording on, count zero
//! allocations in the loop's own code. The policy engine's allocations are
//! counted separately and reported.

use crate::common;

use std::time::Duration;

use ganglion::assemble::build_plant;
use ganglion::record::Recorder;
use ganglion::runtime::alloc_count::{self, CountingAlloc};
use ganglion::runtime::{ClockMode, ControlLoop, RunLimit};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

#[test]
fn no_allocation_in_ticks() {
    let cfg = common::cartpole_config();
    let dir = tempfile::tempdir().unwrap();
    let plant = build_plant(&cfg.plant).unwrap();
    let header = common::cartpole_header(plant.as_ref());
    let (recorder, sink) = Recorder::start(
        &dir.path().join("a.mcap"),
        header,
        16_384,
        Duration::from_millis(20),
        false,
    )
    .unwrap();
    let policy = common::cartpole_policy(&cfg);
    let mut lp = ControlLoop::new(
        &cfg,
        plant,
        Box::new(policy),
        ClockMode::Lockstep { paced: false },
        Some(sink),
    )
    .unwrap();
    lp.run(RunLimit {
        ticks: Some(200),
        seconds: None,
        ..Default::default()
    });
    assert!(alloc_count::is_active(), "counting allocator installed");
    let (loop0, policy0) = alloc_count::counts();
    lp.run(RunLimit {
        ticks: Some(10_200),
        seconds: None,
        ..Default::default()
    });
    let (loop1, policy1) = alloc_count::counts();
    assert_eq!(lp.ticks(), 10_200);
    let policy_per_tick = (policy1 - policy0) as f64 / 10_000.0;
    eprintln!("policy engine (tract): {policy_per_tick:.2} allocations per tick");
    assert_eq!(loop1 - loop0, 0, "allocations in the loop's own code");
    drop(lp.take_sink());
    let summary = recorder.finish().unwrap();
    assert_eq!(summary.ticks + summary.dropped, 10_200);
}
