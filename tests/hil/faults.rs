//! Link faults in hardware-in-the-loop (lockstep, so deterministic): frames
//! dropped, corrupted or delayed for a window, reordered, and a node reboot.
//! Each must reach the safe state within the timeout plus one tick (the
//! node's watchdog: 60 ms + one 1 ms node tick; the controller's staleness:
//! 100 ms + one 20 ms control tick), be visible in the recording, and the
//! loop must recover once the link does. A window long enough for 20 stale
//! cycles in a row latches the e-stop (`missed_cycles`, as Franka after 20
//! missed packets): the operator resets it at `RESET_AT`, after the window.
//! Every fault runs twice: over UDP, and over a serial line (a
//! pseudo-terminal the node process holds the master of, the controller
//! opening its path as a serial device).

use crate::common;
use std::time::Duration;

use ganglion::assemble::{build_plant, load_any_policy};
use ganglion::io::hil::{NodeHandle, at_endpoint};
use ganglion::io::{FaultKind, FaultPlan, NodeLink, NodeOptions, NodeSummary};
use ganglion::record::{Recorder, SafetyEvents, SafetyState, read_recording};
use ganglion::runtime::{ClockMode, ControlLoop, RunLimit};
use ganglion_firmware::status;

const WINDOW_AT: f64 = 2.0;
const WINDOW_FOR: f64 = 0.6;
const TICKS: u64 = 200;
/// The tick before which the operator resets a latched e-stop (2.8 s, after
/// the fault window).
const RESET_AT: u64 = 140;
const WATCHDOG_US: u64 = 60_000;
/// Sensor indices of the link plant: the CartPole's four, then these.
const NODE_STATUS: usize = 4;
const RX_ERRORS: usize = 6;

struct Outcome {
    rec: ganglion::record::Recording,
    node: NodeSummary,
    stale_after: f64,
    period: f64,
}

fn run_with(link: NodeLink, kind: FaultKind, delay_ms: u64) -> Outcome {
    let node = NodeHandle::spawn(NodeOptions {
        link,
        fault: Some(FaultPlan {
            kind,
            at_us: (WINDOW_AT * 1e6) as u64,
            for_us: (WINDOW_FOR * 1e6) as u64,
            rate: 1.0,
            delay_us: delay_ms * 1000,
            seed: 5,
        }),
        ..common::lockstep_node(0)
    })
    .unwrap();
    let cfg = at_endpoint(&common::hil_config(), &node.endpoint).unwrap();
    let plant = build_plant(&cfg.plant).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hil-fault.mcap");
    let header = common::cartpole_header(plant.as_ref());
    let (recorder, sink) =
        Recorder::start(&path, header, 4096, Duration::from_millis(50), false).unwrap();
    let policy = load_any_policy(&cfg).unwrap();
    let mut lp = ControlLoop::new(
        &cfg,
        plant,
        policy,
        ClockMode::Lockstep { paced: false },
        Some(sink),
    )
    .unwrap();
    lp.run(RunLimit {
        ticks: Some(RESET_AT),
        ..Default::default()
    });
    lp.controls().request_reset();
    lp.run(RunLimit {
        ticks: Some(TICKS),
        ..Default::default()
    });
    drop(lp.take_sink());
    recorder.finish().unwrap();
    drop(lp);
    let rec = read_recording(&path).unwrap();
    assert_eq!(rec.ticks.len() as u64, TICKS);
    assert_eq!(rec.sensor_names[NODE_STATUS], "node.status");
    Outcome {
        rec,
        node: node.stop().unwrap(),
        stale_after: cfg.safety.stale_after_s,
        period: cfg.period_s(),
    }
}

fn node_status(o: &Outcome, k: usize) -> u16 {
    o.rec.ticks[k].sensors[NODE_STATUS] as u16
}

/// The node's watchdog fired within its timeout plus one node tick of the
/// last command that reached it, during the window.
fn assert_node_watchdog(o: &Outcome) {
    let w = o
        .node
        .faults
        .iter()
        .find(|f| f.name == "watchdog")
        .unwrap_or_else(|| panic!("no watchdog fault: {:?}", o.node.faults));
    let last = w.last_command_us.expect("a command before the fault");
    let age = w.time_us - last;
    assert!(
        age > WATCHDOG_US && age <= WATCHDOG_US + 1000,
        "watchdog after {age} µs without a command"
    );
    let at = w.time_us as f64 * 1e-6;
    assert!((WINDOW_AT..WINDOW_AT + WINDOW_FOR).contains(&at), "at {at}");
    // Visible in the recording: a JointState with the WATCHDOG bit reached
    // the controller (once the link came back).
    assert!(
        (0..TICKS as usize).any(|k| node_status(o, k) & status::WATCHDOG != 0),
        "no WATCHDOG status recorded"
    );
}

/// The controller's safety filter sent the safe action within the staleness
/// timeout plus one tick of the window opening (the last fresh state is at
/// most that old), and the event is in the recording.
fn assert_controller_safe(o: &Outcome) {
    let k = o
        .rec
        .ticks
        .iter()
        .position(|t| t.events.has(SafetyEvents::STALE_SENSOR))
        .expect("stale sensor recorded");
    let t = &o.rec.ticks[k];
    assert_eq!(t.state, SafetyState::Safe);
    assert_eq!(t.command, vec![0.0]);
    assert!(
        t.time >= WINDOW_AT + o.stale_after - o.period - 1e-9
            && t.time <= WINDOW_AT + o.stale_after + o.period + 1e-9,
        "safe at {} s",
        t.time
    );
    assert!(
        o.rec.ticks[..k]
            .iter()
            .all(|t| t.state == SafetyState::Normal)
    );
}

/// The window's stale cycles latched the e-stop; only the operator's reset
/// cleared it.
fn assert_latched_until_reset(o: &Outcome) {
    let latched = o
        .rec
        .ticks
        .iter()
        .position(|t| t.events.has(SafetyEvents::MISSED_CYCLES))
        .expect("20 stale cycles latch the e-stop");
    let reset = RESET_AT as usize;
    assert!(latched < reset, "latched at {latched}");
    for t in &o.rec.ticks[latched + 1..reset] {
        assert_eq!(t.state, SafetyState::EStopped, "tick {}", t.tick);
    }
    assert!(o.rec.ticks[reset].events.has(SafetyEvents::ESTOP_RESET));
}

/// After the window: back to normal, the node active again.
fn assert_recovered(o: &Outcome) {
    let tail = &o.rec.ticks[TICKS as usize - 30..];
    for t in tail {
        assert_eq!(
            t.state,
            SafetyState::Normal,
            "tick {} at {} s",
            t.tick,
            t.time
        );
        assert!(!t.events.has(SafetyEvents::STALE_SENSOR));
        let s = t.sensors[NODE_STATUS] as u16;
        assert_ne!(s & status::ACTIVE, 0, "node status {s:#x} at {} s", t.time);
    }
}

fn dropped_frames(link: NodeLink) {
    let o = run_with(link, FaultKind::Drop, 0);
    assert!(o.node.link.dropped > 0);
    assert_node_watchdog(&o);
    assert_controller_safe(&o);
    assert_latched_until_reset(&o);
    assert_recovered(&o);
}

fn corrupted_frames(link: NodeLink) {
    let o = run_with(link, FaultKind::Corrupt, 0);
    assert!(o.node.link.corrupted > 0);
    assert_node_watchdog(&o);
    assert_controller_safe(&o);
    assert_latched_until_reset(&o);
    assert_recovered(&o);
    // Both ends saw CRC failures: the node reported bad frames, the
    // controller counted them (recorded as link.rx_errors).
    assert!(o.node.faults.iter().any(|f| f.name == "bad_frame"));
    let last = o.rec.ticks.last().unwrap();
    assert!(last.sensors[RX_ERRORS] > 0.0, "{:?}", last.sensors);
}

fn delayed_frames(link: NodeLink) {
    // 200 ms: longer than both the node watchdog and the staleness timeout.
    let o = run_with(link, FaultKind::Delay, 200);
    assert!(o.node.link.delayed > 0);
    assert_node_watchdog(&o);
    assert_controller_safe(&o);
    assert_latched_until_reset(&o);
    assert_recovered(&o);
}

fn node_restart(link: NodeLink) {
    let o = run_with(link, FaultKind::Restart, 0);
    assert_eq!(o.node.restarts, vec![(WINDOW_AT * 1e6) as u64]);
    // The rebooted node is unconfigured: it applies no effort from its first
    // tick, and says so in the next JointState, which the recording holds.
    let k = o
        .rec
        .ticks
        .iter()
        .position(|t| (t.sensors[NODE_STATUS] as u16) & status::CONFIGURED == 0)
        .expect("unconfigured node status recorded");
    let t = o.rec.ticks[k].time;
    assert!(
        t >= WINDOW_AT && t <= WINDOW_AT + WATCHDOG_US as f64 * 1e-6 + o.period,
        "at {t}"
    );
    // The controller configured it again and the loop carried on.
    assert_recovered(&o);
}

fn reordered_frames_are_refused_by_sequence_number(link: NodeLink) {
    let o = run_with(link, FaultKind::Reorder, 0);
    assert!(o.node.link.reordered > 0);
    // One command in two arrives late and is refused; the other keeps the
    // watchdog fed, so nothing trips.
    assert!(
        o.node.faults.iter().all(|f| f.name != "watchdog"),
        "{:?}",
        o.node.faults
    );
    assert_recovered(&o);
}

fn udp() -> NodeLink {
    NodeLink::Udp("127.0.0.1:0".parse().unwrap())
}

/// One test per fault and transport.
macro_rules! over_both_links {
    ($($fault:ident => $udp:ident, $serial:ident;)*) => {$(
        #[test]
        fn $udp() {
            $fault(udp());
        }
        #[test]
        fn $serial() {
            $fault(NodeLink::Pty);
        }
    )*};
}

over_both_links! {
    dropped_frames => dropped_frames_over_udp, dropped_frames_over_serial;
    corrupted_frames => corrupted_frames_over_udp, corrupted_frames_over_serial;
    delayed_frames => delayed_frames_over_udp, delayed_frames_over_serial;
    node_restart => node_restart_over_udp, node_restart_over_serial;
    reordered_frames_are_refused_by_sequence_number =>
        reordered_frames_over_udp, reordered_frames_over_serial;
}
