//! The fallback controller (`safety.fallback`): on the policy's first fault
//! the loop hands the robot to it within the same tick (event `fallback`
//! recorded, no safe action), keeps it there while the policy would still
//! act, and gives the robot back only on an operator reset; the config
//! check names a bad fallback at its field.

use crate::common;

use std::time::Duration;

use ganglion::config;
use ganglion::record::{Recorder, SafetyEvents, SafetyState, read_recording};
use ganglion::runtime::plant_fault::{FaultyPolicy, PolicyFault};
use ganglion::runtime::{ClockMode, ControlLoop, RunLimit};
use ganglion::sim::{CartPolePlant, Plant};

#[test]
fn a_policy_fault_hands_over_to_the_fallback_until_reset() {
    let mut cfg = common::cartpole_config();
    // A second instance of the shipped policy (the 2k-step checkpoint,
    // also mlp, lets the pole fall within 15 ticks: a fallback must be
    // able to hold the robot).
    let fallback = common::repo().join("models/cartpole-ppo.onnx");
    cfg.safety.fallback = Some(fallback.clone());
    let mut plant = CartPolePlant::new();
    plant.reset(3);
    let header = common::cartpole_header(&plant);
    // The policy returns NaN from tick 10 on.
    let policy = FaultyPolicy::new(common::cartpole_policy(&cfg), PolicyFault::NaN, 10);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fallback.mcap");
    let (recorder, sink) =
        Recorder::start(&path, header, 4096, Duration::from_millis(50), false).unwrap();
    let mode = ClockMode::Lockstep { paced: false };
    let mut lp =
        ControlLoop::new(&cfg, Box::new(plant), Box::new(policy), mode, Some(sink)).unwrap();
    lp.set_fallback(ganglion::assemble::load_fallback(&fallback).unwrap());
    let mut ticks = Vec::new();
    let mut angles = Vec::new();
    for t in 0..60u64 {
        lp.run(RunLimit {
            ticks: Some(t + 1),
            ..Default::default()
        });
        let r = *lp.last_record();
        ticks.push((r.events, r.state, lp.on_fallback()));
        angles.push(r.sensors()[2]);
        if t == 39 {
            lp.controls().request_reset();
        }
    }
    drop(lp.take_sink());
    recorder.finish().unwrap();
    let rec = read_recording(&path).unwrap();

    // From tick 10 the policy returns NaN: the fallback acts that tick.
    for (t, (events, state, on)) in ticks.iter().enumerate() {
        assert_eq!(*state, SafetyState::Normal, "tick {t}: no safe action");
        let switched = events.has(SafetyEvents::FALLBACK);
        match t {
            0..=9 => assert!(!on && events.is_empty(), "tick {t}"),
            10 | 40 => {
                assert!(switched && events.has(SafetyEvents::POLICY_NAN), "tick {t}");
                assert!(rec.ticks[t].events.has(SafetyEvents::FALLBACK));
                assert!(*on);
            }
            // Latched: the policy is not asked again until the reset.
            _ => assert!(
                *on && !switched && !events.has(SafetyEvents::POLICY_NAN),
                "tick {t}"
            ),
        }
    }
    // The reset (before tick 40) gives the robot back: the policy is asked
    // again, faults again, and the fallback takes over again.
    assert!(ticks[40].0.has(SafetyEvents::ESTOP_RESET));
    // The fallback kept the pole up (the episode ends past 0.21 rad).
    assert!(angles.iter().all(|a| a.abs() < 0.2), "{angles:?}");
    assert_eq!(rec.ticks.len(), 60);
}

#[test]
fn a_bad_fallback_is_named_at_its_field() {
    let file = common::repo().join("robots/cartpole.toml");
    let load = |set: &str| {
        config::load_with_overrides(&file, config::Integrity::Verify, &[set.to_string()])
    };
    for (set, says) in [
        ("safety.fallback=\"../models/nope.onnx\"", "nope.onnx"),
        ("safety.fallback=\"../models/arm-reach.onnx\"", "obs_dim"),
        ("safety.fallback=\"../models/cartpole-dt.onnx\"", "mlp-kind"),
    ] {
        let errs = load(set).expect_err(set);
        let p = &errs.problems[0];
        assert_eq!(p.field, "safety.fallback", "{set}: {errs}");
        assert!(p.to_string().contains(says), "{set}: {errs}");
    }
    let ok = load("safety.fallback=\"../models/cartpole-ppo-2k.onnx\"")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        ok.safety
            .fallback
            .is_some_and(|p| p.ends_with("cartpole-ppo-2k.onnx"))
    );
}
