//! Node logic against a small rigid-body model: one unit mass per joint,
//! integrated at the node's 1 kHz tick (the firmware's own test harness; the
//! host tests run the node against the rapier plant).

use super::*;
use crate::wire::{Frame, decode_frame};

/// Point masses on a line: effort is force, semi-implicit Euler per tick.
struct Masses {
    t_us: u64,
    n: usize,
    mass: f32,
    pos: [f32; MAX_JOINTS],
    vel: [f32; MAX_JOINTS],
    effort: [f32; MAX_JOINTS],
    nan_sensor: bool,
}

impl Masses {
    fn new(n: usize) -> Self {
        Masses {
            t_us: 0,
            n,
            mass: 1.0,
            pos: [0.0; MAX_JOINTS],
            vel: [0.0; MAX_JOINTS],
            effort: [0.0; MAX_JOINTS],
            nan_sensor: false,
        }
    }
    fn step(&mut self) {
        let dt = 0.001;
        for j in 0..self.n {
            self.vel[j] += self.effort[j] / self.mass * dt;
            self.pos[j] += self.vel[j] * dt;
        }
        self.t_us += 1000;
    }
}

impl Hardware for Masses {
    fn now_us(&mut self) -> u64 {
        self.t_us
    }
    fn read_joints(&mut self, out: &mut JointReadings) {
        out.n = self.n as u8;
        out.position[..self.n].copy_from_slice(&self.pos[..self.n]);
        out.velocity[..self.n].copy_from_slice(&self.vel[..self.n]);
        if self.nan_sensor {
            out.position[0] = f32::NAN;
        }
    }
    fn write_efforts(&mut self, efforts: &[f32]) {
        self.effort[..efforts.len()].copy_from_slice(efforts);
    }
}

fn config(n: u8, safe: SafeMode) -> NodeConfig {
    let mut c = NodeConfig {
        watchdog_us: 50_000,
        publish_period_us: 20_000,
        safe_mode: safe,
        n,
        ..Default::default()
    };
    for j in 0..n as usize {
        c.joints[j] = JointConfig {
            kp: 100.0,
            kd: 20.0,
            damping: 5.0,
            max_effort: 50.0,
            position_min: -1.0,
            position_max: 1.0,
            max_velocity: 10.0,
        };
    }
    c
}

fn frame(seq: u16, msg: Message) -> Frame {
    Frame { seq, msg }
}

fn position_command(n: u8, target: f32) -> Message {
    let mut c = JointCommand {
        n,
        ..Default::default()
    };
    for j in 0..n as usize {
        c.mode[j] = JointMode::Position;
        c.position[j] = target;
    }
    Message::JointCommand(c)
}

fn effort_command(e: f32) -> Message {
    let mut c = JointCommand {
        n: 1,
        ..Default::default()
    };
    c.effort[0] = e;
    Message::JointCommand(c)
}

/// Ticks `n` times; returns the faults reported.
fn run(node: &mut Node, hw: &mut Masses, n: usize, faults: &mut [Option<Fault>; 16]) -> usize {
    let mut k = 0;
    for _ in 0..n {
        hw.step();
        if let Some(f) = node.tick(hw).fault
            && k < faults.len()
        {
            faults[k] = Some(f);
            k += 1;
        }
    }
    k
}

#[test]
fn position_loop_reaches_target() {
    let mut node = Node::new(1);
    let mut hw = Masses::new(2);
    node.handle(
        &frame(0, Message::NodeConfig(config(2, SafeMode::Brake))),
        0,
        0,
    );
    node.handle(&frame(1, position_command(2, 0.5)), 0, 0);
    for k in 0..1500u16 {
        hw.step();
        node.tick(&mut hw);
        // Fresh commands keep the watchdog quiet.
        if k % 20 == 0 {
            node.handle(&frame(2 + k, position_command(2, 0.5)), hw.t_us, 0);
        }
    }
    assert_eq!(node.mode(), NodeMode::Active);
    for j in 0..2 {
        assert!((hw.pos[j] - 0.5).abs() < 0.01, "joint {j} at {}", hw.pos[j]);
    }
    // A target beyond the limit is clamped to it.
    for k in 0..2000u16 {
        hw.step();
        node.tick(&mut hw);
        if k % 20 == 0 {
            node.handle(&frame(2000 + k, position_command(2, 5.0)), hw.t_us, 0);
        }
    }
    assert!((hw.pos[0] - 1.0).abs() < 0.02, "at {}", hw.pos[0]);
}

#[test]
fn watchdog_trips_within_timeout_plus_one_tick_and_recovers() {
    for safe in [SafeMode::Brake, SafeMode::Hold, SafeMode::Zero] {
        let mut node = Node::new(1);
        let mut hw = Masses::new(1);
        node.handle(&frame(0, Message::NodeConfig(config(1, safe))), 0, 0);
        node.handle(&frame(1, effort_command(2.0)), 0, 0);
        let mut tripped_at = None;
        let mut fault = None;
        for _ in 0..100 {
            hw.step();
            let out = node.tick(&mut hw);
            if node.mode() == NodeMode::Watchdog && tripped_at.is_none() {
                tripped_at = Some(hw.t_us);
                fault = out.fault;
            }
        }
        let at = tripped_at.expect("watchdog tripped");
        // Last command at t = 0, timeout 50 ms, tick 1 ms.
        assert!(at > 50_000 && at <= 51_000, "{safe:?}: tripped at {at} µs");
        let f = fault.expect("fault reported with the trip");
        assert_eq!(f.code, fault::WATCHDOG);
        assert_eq!(f.node_time_us, at);
        // The safe action: brake opposes motion, hold pulls back, zero is 0.
        let e = hw.effort[0];
        match safe {
            SafeMode::Brake => assert!(e < 0.0 && hw.vel[0] > 0.0, "{e}"),
            SafeMode::Hold => assert!(e < 0.0, "{e}"),
            SafeMode::Zero => assert_eq!(e, 0.0),
        }
        // A fresh command recovers.
        node.handle(&frame(2, effort_command(1.0)), hw.t_us, 0);
        hw.step();
        node.tick(&mut hw);
        assert_eq!(node.mode(), NodeMode::Active);
        assert_eq!(hw.effort[0], 1.0);
    }
}

#[test]
fn estop_latches_until_reset() {
    let mut node = Node::new(1);
    let mut hw = Masses::new(1);
    let mut faults = [None; 16];
    node.handle(
        &frame(0, Message::NodeConfig(config(1, SafeMode::Zero))),
        0,
        0,
    );
    node.handle(&frame(1, effort_command(3.0)), 0, 0);
    run(&mut node, &mut hw, 5, &mut faults);
    assert_eq!(hw.effort[0], 3.0);
    node.handle(&frame(2, Message::EStop), hw.t_us, 0);
    let k = run(&mut node, &mut hw, 1, &mut faults);
    assert_eq!(k, 1);
    assert_eq!(faults[0].map(|f| f.code), Some(fault::ESTOP));
    assert_eq!(node.mode(), NodeMode::EStopped);
    assert_eq!(hw.effort[0], 0.0);
    // Fresh commands do not clear it.
    for s in 3..10 {
        node.handle(&frame(s, effort_command(3.0)), hw.t_us, 0);
        run(&mut node, &mut hw, 1, &mut faults);
        assert_eq!(node.mode(), NodeMode::EStopped);
        assert_eq!(hw.effort[0], 0.0);
    }
    node.handle(&frame(10, Message::Reset), hw.t_us, 0);
    node.handle(&frame(11, effort_command(3.0)), hw.t_us, 0);
    run(&mut node, &mut hw, 1, &mut faults);
    assert_eq!(node.mode(), NodeMode::Active);
    assert_eq!(hw.effort[0], 3.0);
}

#[test]
fn limits_clamp_and_cut_effort() {
    let mut node = Node::new(1);
    let mut hw = Masses::new(1);
    let mut faults = [None; 16];
    node.handle(
        &frame(0, Message::NodeConfig(config(1, SafeMode::Zero))),
        0,
        0,
    );
    node.handle(&frame(1, effort_command(500.0)), 0, 0);
    run(&mut node, &mut hw, 1, &mut faults);
    assert_eq!(hw.effort[0], 50.0, "clamped to max_effort");
    // Past the position limit, outward effort is cut and a LIMIT fault reported.
    hw.pos[0] = 1.2;
    hw.vel[0] = 0.0;
    let k = run(&mut node, &mut hw, 1, &mut faults);
    assert_eq!(hw.effort[0], 0.0);
    assert!(
        faults[..k]
            .iter()
            .any(|f| f.map(|f| f.code) == Some(fault::LIMIT))
    );
    // Inward effort still passes.
    node.handle(&frame(2, effort_command(-5.0)), hw.t_us, 0);
    run(&mut node, &mut hw, 1, &mut faults);
    assert_eq!(hw.effort[0], -5.0);
}

#[test]
fn stale_and_bad_commands_are_refused() {
    let mut node = Node::new(1);
    let mut hw = Masses::new(1);
    let mut faults = [None; 16];
    // Unconfigured: refused with a fault, no effort.
    node.handle(&frame(5, effort_command(1.0)), 0, 0);
    let k = run(&mut node, &mut hw, 1, &mut faults);
    assert_eq!(faults[..k][0].map(|f| f.code), Some(fault::UNCONFIGURED));
    assert_eq!(node.mode(), NodeMode::Unconfigured);
    assert_eq!(hw.effort[0], 0.0);
    node.handle(
        &frame(0, Message::NodeConfig(config(1, SafeMode::Zero))),
        0,
        0,
    );
    node.handle(&frame(10, effort_command(1.0)), 0, 0);
    // An older or repeated sequence number (reordering) is ignored.
    node.handle(&frame(9, effort_command(7.0)), 0, 0);
    node.handle(&frame(10, effort_command(7.0)), 0, 0);
    run(&mut node, &mut hw, 1, &mut faults);
    assert_eq!(hw.effort[0], 1.0);
    // Sequence numbers wrap.
    node.handle(&frame(30_000, effort_command(2.0)), 0, 0);
    node.handle(&frame(60_000, effort_command(2.0)), 0, 0);
    node.handle(&frame(3, effort_command(4.0)), 0, 0);
    run(&mut node, &mut hw, 1, &mut faults);
    assert_eq!(hw.effort[0], 4.0);
    // Wrong joint count or non-finite targets: refused, reported.
    let mut c = JointCommand {
        n: 1,
        ..Default::default()
    };
    c.effort[0] = f32::NAN;
    node.handle(&frame(20, Message::JointCommand(c)), 0, 0);
    let k = run(&mut node, &mut hw, 1, &mut faults);
    assert_eq!(faults[..k][0].map(|f| f.code), Some(fault::BAD_COMMAND));
    assert_eq!(hw.effort[0], 4.0);
    assert_eq!(node.counters().2, 4);
    // A bad config is refused and the old one stays.
    let mut bad = config(1, SafeMode::Zero);
    bad.joints[0].position_min = 2.0;
    node.handle(&frame(21, Message::NodeConfig(bad)), 0, 0);
    let k = run(&mut node, &mut hw, 1, &mut faults);
    assert_eq!(faults[..k][0].map(|f| f.code), Some(fault::BAD_CONFIG));
    assert_eq!(node.config().map(|c| c.joints[0].position_min), Some(-1.0));
}

/// Time fields out of range are refused, never obeyed: a watchdog of 71
/// minutes (u32::MAX µs) is no watchdog, and a publish period that long
/// silences the node. A `Bye` changes nothing in the node itself.
#[test]
fn out_of_range_time_fields_are_refused() {
    let mut node = Node::new(1);
    let mut hw = Masses::new(1);
    let mut faults = [None; 16];
    for (watchdog_us, publish_period_us) in [
        (u32::MAX, 20_000),
        (MAX_WATCHDOG_US + 1, 20_000),
        (50_000, u32::MAX),
        (50_000, MAX_PUBLISH_PERIOD_US + 1),
    ] {
        let mut c = config(1, SafeMode::Zero);
        c.watchdog_us = watchdog_us;
        c.publish_period_us = publish_period_us;
        node.handle(&frame(0, Message::NodeConfig(c)), 0, 0);
        let k = run(&mut node, &mut hw, 1, &mut faults);
        assert_eq!(
            faults[..k][0].map(|f| f.code),
            Some(fault::BAD_CONFIG),
            "watchdog {watchdog_us} µs, publish {publish_period_us} µs"
        );
        assert!(node.config().is_none());
    }
    let mut c = config(1, SafeMode::Zero);
    c.watchdog_us = MAX_WATCHDOG_US;
    c.publish_period_us = MAX_PUBLISH_PERIOD_US;
    node.handle(&frame(0, Message::NodeConfig(c)), 0, 0);
    assert!(node.config().is_some());
    assert_eq!(node.handle(&frame(1, Message::Bye), 0, 0), None);
    assert!(node.config().is_some());
}

#[test]
fn non_finite_sensor_zeroes_effort() {
    let mut node = Node::new(1);
    let mut hw = Masses::new(1);
    let mut faults = [None; 16];
    node.handle(
        &frame(0, Message::NodeConfig(config(1, SafeMode::Brake))),
        0,
        0,
    );
    node.handle(&frame(1, effort_command(3.0)), 0, 0);
    hw.nan_sensor = true;
    let k = run(&mut node, &mut hw, 1, &mut faults);
    assert_eq!(faults[..k][0].map(|f| f.code), Some(fault::SENSOR));
    assert_eq!(hw.effort[0], 0.0);
    hw.nan_sensor = false;
    run(&mut node, &mut hw, 1, &mut faults);
    assert_eq!(hw.effort[0], 3.0);
}

#[test]
fn publishes_at_the_configured_rate_and_answers_heartbeats() {
    let mut node = Node::new(42);
    let mut hw = Masses::new(1);
    let mut states = 0;
    // Unconfigured: every 100 ms, flagged as such.
    for _ in 0..300 {
        hw.step();
        if let Some(s) = node.tick(&mut hw).state {
            assert_eq!(s.status & status::CONFIGURED, 0);
            states += 1;
        }
    }
    assert_eq!(states, 3);
    node.handle(
        &frame(0, Message::NodeConfig(config(1, SafeMode::Brake))),
        hw.t_us,
        0,
    );
    states = 0;
    for _ in 0..200 {
        hw.step();
        if let Some(s) = node.tick(&mut hw).state {
            assert_eq!(s.node_time_us, hw.t_us);
            assert_ne!(s.status & status::CONFIGURED, 0);
            states += 1;
        }
    }
    assert_eq!(states, 10, "20 ms period over 200 ms");
    let reply = node.handle(
        &frame(7, Message::Heartbeat(Heartbeat::default())),
        hw.t_us,
        99,
    );
    match reply {
        Some(Message::Heartbeat(h)) => {
            assert_eq!(h.boot_id, 42);
            assert_eq!(h.uptime_ms, 99);
            assert_eq!(h.time_us, hw.t_us);
        }
        other => panic!("no heartbeat reply: {other:?}"),
    }
    // A frame error is counted and reported.
    node.frame_error(decode_frame(&[]).unwrap_err());
    assert_eq!(node.counters().1, 1);
    hw.step();
    assert_eq!(
        node.tick(&mut hw).fault.map(|f| f.code),
        Some(fault::BAD_FRAME)
    );
}
