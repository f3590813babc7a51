//! Fault injection in the sim plant: a NaN sensor, a sensor that stops
//! updating, an e-stop, an action outside limits, a policy returning NaN. Each
//! must end in the safe action within one tick of detection (staleness: within
//! one tick after the timeout), the e-stop must stay latched until reset, and
//! the event must be in the recording.

use crate::common;

use std::time::Duration;

use ganglion::config::{ActionMapping, RobotConfig, SafeAction};
use ganglion::policy::Policy;
use ganglion::record::{Recorder, SafetyEvents, SafetyState, read_recording};
use ganglion::runtime::plant_fault::{FaultyPlant, FaultyPolicy, PolicyFault, SensorFault};
use ganglion::runtime::{ClockMode, ControlLoop, RunLimit};
use ganglion::sim::{CartPolePlant, Plant};

struct Run {
    states: Vec<SafetyState>,
    commands: Vec<f32>,
    events: Vec<SafetyEvents>,
    times: Vec<f64>,
    recording: ganglion::record::Recording,
}

/// Runs `ticks` ticks in fast lockstep with recording, calling `between` after
/// each tick with the loop (to send operator requests).
fn run(
    cfg: &RobotConfig,
    plant: Box<dyn Plant>,
    policy: Box<dyn Policy>,
    ticks: u64,
    between: impl FnMut(u64, &ControlLoop),
) -> Run {
    run_in(
        ClockMode::Lockstep { paced: false },
        cfg,
        plant,
        policy,
        ticks,
        between,
    )
}

/// As `run`, in clock mode `mode` (paced: deadlines can be missed).
fn run_in(
    mode: ClockMode,
    cfg: &RobotConfig,
    plant: Box<dyn Plant>,
    policy: Box<dyn Policy>,
    ticks: u64,
    mut between: impl FnMut(u64, &ControlLoop),
) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("faults.mcap");
    let header = common::cartpole_header(plant.as_ref());
    let (recorder, sink) =
        Recorder::start(&path, header, 4096, Duration::from_millis(50), false).unwrap();
    let mut lp = ControlLoop::new(cfg, plant, policy, mode, Some(sink)).unwrap();
    let mut out = Run {
        states: vec![],
        commands: vec![],
        events: vec![],
        times: vec![],
        recording: Default::default(),
    };
    for t in 0..ticks {
        lp.run(RunLimit {
            ticks: Some(t + 1),
            seconds: None,
            ..Default::default()
        });
        let r = *lp.last_record();
        out.states.push(r.state);
        out.commands.push(r.command()[0]);
        out.events.push(r.events);
        out.times.push(r.time);
        between(t, &lp);
    }
    drop(lp.take_sink());
    recorder.finish().unwrap();
    out.recording = read_recording(&path).unwrap();
    assert_eq!(out.recording.ticks.len() as u64, ticks);
    out
}

fn first_with(run: &Run, bit: u32) -> usize {
    run.events
        .iter()
        .position(|e| e.has(bit))
        .expect("event raised")
}

fn recorded_event(run: &Run, tick: usize, bit: u32) -> bool {
    run.recording.ticks[tick].events.has(bit)
}

fn cfg_zero_safe() -> RobotConfig {
    let mut cfg = common::cartpole_config();
    cfg.safety.safe_action = SafeAction::Zero;
    cfg.safety.estop_action = SafeAction::Zero;
    cfg
}

fn plant() -> CartPolePlant {
    let mut p = CartPolePlant::new();
    p.reset(3);
    p
}

#[test]
fn nan_sensor_gives_safe_action_the_same_tick() {
    let cfg = cfg_zero_safe();
    let faulty = FaultyPlant::new(
        plant(),
        vec![SensorFault::NonFinite {
            field: 2,
            from_read: 100,
        }],
    );
    let policy = common::cartpole_policy(&cfg);
    let r = run(&cfg, Box::new(faulty), Box::new(policy), 120, |_, _| {});
    let k = first_with(&r, SafetyEvents::NON_FINITE_SENSOR);
    assert_eq!(k, 100);
    assert!(r.states[..100].iter().all(|s| *s == SafetyState::Normal));
    assert_eq!(r.states[k], SafetyState::Safe);
    assert_eq!(r.commands[k], 0.0);
    assert!(recorded_event(&r, k, SafetyEvents::NON_FINITE_SENSOR));
    assert_eq!(r.recording.ticks[k].state, SafetyState::Safe);
}

#[test]
fn stale_sensor_gives_safe_action_within_one_tick_after_timeout() {
    let cfg = cfg_zero_safe();
    let timeout = cfg.safety.stale_after_s;
    let period = cfg.period_s();
    let faulty = FaultyPlant::new(
        plant(),
        vec![SensorFault::Frozen {
            field: 3,
            from_read: 50,
        }],
    );
    let policy = common::cartpole_policy(&cfg);
    let r = run(&cfg, Box::new(faulty), Box::new(policy), 80, |_, _| {});
    let frozen_at = r.times[50];
    let k = first_with(&r, SafetyEvents::STALE_SENSOR);
    let waited = r.times[k] - frozen_at;
    assert!(
        waited > timeout,
        "flagged after {waited} s, timeout {timeout} s"
    );
    assert!(
        waited <= timeout + period + 1e-9,
        "flagged after {waited} s"
    );
    assert!(r.states[..k].iter().all(|s| *s == SafetyState::Normal));
    // Safe until twenty stale cycles in a row latch the e-stop (below).
    let latch = (k + 20).min(r.states.len());
    assert!(r.states[k..latch].iter().all(|s| *s == SafetyState::Safe));
    assert!(
        r.states[latch..]
            .iter()
            .all(|s| *s == SafetyState::EStopped)
    );
    assert_eq!(r.commands[k], 0.0);
    assert!(recorded_event(&r, k, SafetyEvents::STALE_SENSOR));
}

#[test]
fn estop_latches_until_reset() {
    let mut cfg = common::cartpole_config();
    cfg.safety.estop_action = SafeAction::Zero;
    let policy = common::cartpole_policy(&cfg);
    let r = run(&cfg, Box::new(plant()), Box::new(policy), 60, |t, lp| {
        if t == 19 {
            lp.controls().request_estop();
        }
        if t == 49 {
            lp.controls().request_reset();
        }
    });
    assert!(r.states[..20].iter().all(|s| *s == SafetyState::Normal));
    // Requested after tick 19: tick 20 is the first e-stopped tick.
    assert!(r.events[20].has(SafetyEvents::ESTOP));
    for k in 20..50 {
        assert_eq!(r.states[k], SafetyState::EStopped, "tick {k}");
        assert_eq!(r.commands[k], 0.0);
    }
    assert!(r.events[50].has(SafetyEvents::ESTOP_RESET));
    assert_eq!(r.states[50], SafetyState::Normal);
    assert!(recorded_event(&r, 20, SafetyEvents::ESTOP));
    assert!(recorded_event(&r, 50, SafetyEvents::ESTOP_RESET));
    assert_eq!(r.recording.ticks[35].state, SafetyState::EStopped);
}

#[test]
fn action_outside_limits_is_clamped_the_same_tick() {
    let mut cfg = common::cartpole_config();
    // A continuous mapping so the policy's value scales straight to newtons.
    cfg.action.mapping = ActionMapping::Continuous {
        scale: vec![10.0],
        offset: vec![0.0],
    };
    cfg.safety.max_delta = vec![1000.0];
    let inner = common::cartpole_policy(&cfg);
    let policy = FaultyPolicy::new(inner, PolicyFault::Constant(7.5), 30);
    let r = run(&cfg, Box::new(plant()), Box::new(policy), 40, |_, _| {});
    let k = first_with(&r, SafetyEvents::CLAMPED);
    assert_eq!(k, 30);
    let max = cfg.safety.max[0];
    assert_eq!(r.commands[k], max, "75 N proposed, limit {max}");
    assert!(r.commands.iter().all(|c| c.abs() <= max));
    assert!(recorded_event(&r, k, SafetyEvents::CLAMPED));
}

#[test]
fn policy_nan_gives_safe_action_the_same_tick() {
    let cfg = cfg_zero_safe();
    let inner = common::cartpole_policy(&cfg);
    let policy = FaultyPolicy::new(inner, PolicyFault::NaN, 25);
    let r = run(&cfg, Box::new(plant()), Box::new(policy), 40, |_, _| {});
    // A non-finite policy output is `policy_nan` (issue #14), raised and
    // acted on in the tick it happens.
    let k = first_with(&r, SafetyEvents::POLICY_NAN);
    assert_eq!(k, 25);
    assert_eq!(r.states[k], SafetyState::Safe);
    assert_eq!(r.commands[k], 0.0);
    assert!(recorded_event(&r, k, SafetyEvents::POLICY_NAN));
    assert!(r.recording.ticks[k].raw_action[0].is_nan());
}

#[test]
fn policy_error_gives_safe_action_the_same_tick() {
    let cfg = cfg_zero_safe();
    let inner = common::cartpole_policy(&cfg);
    let policy = FaultyPolicy::new(inner, PolicyFault::Error, 10);
    let r = run(&cfg, Box::new(plant()), Box::new(policy), 15, |_, _| {});
    let k = first_with(&r, SafetyEvents::POLICY_ERROR);
    assert_eq!(
        (k, r.states[k], r.commands[k]),
        (10, SafetyState::Safe, 0.0)
    );
    assert!(recorded_event(&r, k, SafetyEvents::POLICY_ERROR));
}

/// Twenty stale cycles in a row latch the e-stop (event `missed_cycles`):
/// the tick after sends the e-stop action, and it stays until an operator
/// reset; after the reset the count starts again.
#[test]
fn a_run_of_stale_cycles_latches_the_estop_until_reset() {
    let cfg = cfg_zero_safe();
    assert_eq!(cfg.safety.max_missed_cycles, 20);
    let faulty = FaultyPlant::new(
        plant(),
        vec![SensorFault::Frozen {
            field: 3,
            from_read: 30,
        }],
    );
    let policy = common::cartpole_policy(&cfg);
    let r = run(&cfg, Box::new(faulty), Box::new(policy), 140, |t, lp| {
        if t == 89 {
            lp.controls().request_reset();
        }
    });
    let stale = first_with(&r, SafetyEvents::STALE_SENSOR);
    let latched = first_with(&r, SafetyEvents::MISSED_CYCLES);
    assert_eq!(latched, stale + 19, "the 20th stale cycle latches");
    assert!(r.events[latched].has(SafetyEvents::ESTOP));
    assert!(recorded_event(&r, latched, SafetyEvents::MISSED_CYCLES));
    for k in latched + 1..90 {
        assert_eq!(r.states[k], SafetyState::EStopped, "tick {k}");
        assert_eq!(r.commands[k], 0.0);
    }
    // The reset clears the latch; the sensor is still stale, so the safe
    // action goes on and twenty more stale cycles latch it again.
    assert!(r.events[90].has(SafetyEvents::ESTOP_RESET));
    assert_eq!(r.states[90], SafetyState::Safe);
    let again = (91..140)
        .find(|&k| r.events[k].has(SafetyEvents::MISSED_CYCLES))
        .expect("latched again");
    assert_eq!(again, 90 + 19);
    assert_eq!(r.states[again + 1], SafetyState::EStopped);
}

/// A policy that overruns every tick from its 10th call on misses every
/// deadline: the rule latches the e-stop within twenty cycles, the e-stop
/// action goes out the next tick and stays.
#[test]
fn missed_deadlines_latch_the_estop() {
    let mut cfg = cfg_zero_safe();
    cfg.rate_hz = 200.0;
    let slow = FaultyPolicy::new(
        common::cartpole_policy(&cfg),
        PolicyFault::Slow(Duration::from_millis(12)),
        10,
    );
    let r = run_in(
        ClockMode::Lockstep { paced: true },
        &cfg,
        Box::new(plant()),
        Box::new(slow),
        45,
        |_, _| {},
    );
    let first_miss = first_with(&r, SafetyEvents::DEADLINE_MISS);
    assert!(first_miss >= 10, "missed at {first_miss}");
    let latched = first_with(&r, SafetyEvents::MISSED_CYCLES);
    // Skipped releases count too, so it can latch before twenty ticks.
    assert!(
        latched > first_miss && latched <= first_miss + 19,
        "{first_miss} {latched}"
    );
    assert!(recorded_event(&r, latched, SafetyEvents::MISSED_CYCLES));
    for k in latched + 1..45 {
        assert_eq!(r.states[k], SafetyState::EStopped, "tick {k}");
        assert_eq!(r.commands[k], 0.0);
    }
    assert_eq!(r.recording.ticks[44].state, SafetyState::EStopped);
}

/// With `max_accel` and `max_jerk` set, a policy that jumps to the limit
/// and then to NaN gets commands whose acceleration and jerk stay inside
/// the limits (events recorded), and the safe action starts braking on the
/// NaN tick instead of jumping to zero.
#[test]
fn motion_limits_bound_acceleration_and_jerk_and_brake_the_safe_action() {
    let mut cfg = cfg_zero_safe();
    let dt = 1.0 / cfg.rate_hz;
    let (accel, jerk) = (200.0f32, 4000.0f32);
    cfg.safety.max_accel = vec![accel];
    cfg.safety.max_jerk = vec![jerk];
    let jumpy = FaultyPolicy::new(common::cartpole_policy(&cfg), PolicyFault::Constant(1e9), 5);
    let policy = FaultyPolicy::new(jumpy, PolicyFault::NaN, 40);
    let r = run(&cfg, Box::new(plant()), Box::new(policy), 80, |_, _| {});
    let u: Vec<f64> = r.commands.iter().map(|c| f64::from(*c)).collect();
    let tol = 1e-3;
    for k in 3..u.len() {
        let a = (u[k] - 2.0 * u[k - 1] + u[k - 2]) / (dt * dt);
        let a_prev = (u[k - 1] - 2.0 * u[k - 2] + u[k - 3]) / (dt * dt);
        assert!(
            a.abs() <= f64::from(accel) * (1.0 + tol) + 1.0,
            "tick {k}: accel {a}"
        );
        let j = (a - a_prev) / dt;
        assert!(
            j.abs() <= f64::from(jerk) * (1.0 + tol) + 100.0,
            "tick {k}: jerk {j}"
        );
        assert!(u[k].abs() <= 10.0);
    }
    let either = SafetyEvents::JERK_LIMITED | SafetyEvents::ACCEL_LIMITED;
    let limited = first_with(&r, either);
    assert!(recorded_event(&r, limited, either));
    // The NaN tick: the safe action, braking from where the command was.
    let nan = first_with(&r, SafetyEvents::NON_FINITE_ACTION);
    assert_eq!(r.states[nan], SafetyState::Safe);
    assert!(
        u[nan - 1].abs() > 0.1 && u[nan] != 0.0,
        "{} {}",
        u[nan - 1],
        u[nan]
    );
    assert!(r.states[nan..].iter().all(|s| *s == SafetyState::Safe));
    assert!(u[79].abs() < 1e-3, "settled on the safe action: {}", u[79]);
}
