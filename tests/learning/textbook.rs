//! The textbook algorithms beside PPO on the same CartPole: A2C (the PPO
//! trainer with one epoch over the whole rollout, n-step returns, RMSprop —
//! Stable-Baselines3's A2C) and REINFORCE (whole episodes, Monte-Carlo
//! returns). Each short fixed-seed run must beat random play clearly, and
//! its exported ONNX must run in the control loop; the shipped models
//! (`models/cartpole-a2c.onnx`, `models/cartpole-reinforce.onnx`) must
//! balance the pole through the loop.
//!
//! Threshold: a uniformly random policy lasts ~22 steps on CartPole; the
//! deterministic policy after the short run must average ≥ 150 over 20
//! evaluation episodes — 7× random, out of reach of a policy that did not
//! learn (always-left or always-right last ~9 steps), yet far below solving
//! so the runs stay short. A2C reaches it in 16,400 steps (410 updates of
//! 8 envs × 5 steps), REINFORCE in 40,000 (about 300 one-episode updates).

use std::path::Path;

use ganglion::learn::presets::a2c_preset;
use ganglion::learn::{PpoOutcome, ReinforceConfig, train, train_reinforce};
use ganglion::policy::{ActionSpec, OnnxPolicy};
use ganglion::runtime::{ClockMode, ControlLoop, RunLimit};
use ganglion::sim::{VecEnv, make_env};

use crate::common;

/// The exported actor of `out` drives the loop for 300 ticks on the rapier
/// CartPole and, having learnt, keeps it up for most of them.
fn runs_in_the_control_loop(out: &PpoOutcome, dir: &Path) {
    let path = dir.join("actor.onnx");
    out.model.export_onnx(&path, &[]).expect("export");
    let policy = OnnxPolicy::load(&path, 4, ActionSpec::Discrete { n: 2 }).expect("loads in tract");
    let cfg = common::cartpole_config();
    let plant = ganglion::assemble::build_plant(&cfg.plant).unwrap();
    let mut lp = ControlLoop::new(
        &cfg,
        plant,
        Box::new(policy),
        ClockMode::Lockstep { paced: false },
        None,
    )
    .unwrap();
    lp.run(RunLimit {
        ticks: Some(300),
        until_episode_end: true,
        ..Default::default()
    });
    assert!(
        lp.ticks() >= 100,
        "the pole fell after {} ticks",
        lp.ticks()
    );
    assert!(
        lp.filter()
            .counters()
            .all(|(n, c)| n != "policy_error" || c == 0),
        "the exported policy ran every tick"
    );
}

#[test]
fn a2c_learns_cartpole_in_a_short_run() {
    let cfg = ganglion::learn::PpoConfig {
        total_timesteps: 16_400,
        eval_every: 16_400,
        eval_episodes: 20,
        ..a2c_preset("cartpole")
    };
    let mut venv = VecEnv::new(|| make_env("cartpole").unwrap(), cfg.n_envs, cfg.threads, 3);
    let mut eval_env = make_env("cartpole").unwrap();
    let out = train(&cfg, &mut venv, eval_env.as_mut(), 3, |_| {});
    let eval = out.best_eval.clone().expect("evaluated at the end");
    assert!(
        eval.mean_return >= 150.0,
        "A2C eval mean return {}",
        eval.mean_return
    );
    let dir = tempfile::tempdir().unwrap();
    runs_in_the_control_loop(&out, dir.path());
}

#[test]
fn reinforce_learns_cartpole_in_a_short_run() {
    let cfg = ReinforceConfig {
        total_timesteps: 40_000,
        eval_every: 40_000,
        eval_episodes: 20,
        ..ReinforceConfig::default()
    };
    let mut env = make_env("cartpole").unwrap();
    let mut eval_env = make_env("cartpole").unwrap();
    let out = train_reinforce(&cfg, env.as_mut(), eval_env.as_mut(), 3, |_| {}).unwrap();
    let first = out
        .curve
        .points
        .iter()
        .find_map(|p| p.train_mean_return)
        .unwrap();
    assert!(
        first < 60.0,
        "the first episodes should look random: {first}"
    );
    let eval = out.best_eval.clone().expect("evaluated at the end");
    assert!(
        eval.mean_return >= 150.0,
        "REINFORCE eval mean return {}",
        eval.mean_return
    );
    let dir = tempfile::tempdir().unwrap();
    runs_in_the_control_loop(&out, dir.path());
}

/// The same seed gives the same model, bit for bit.
#[test]
fn reinforce_is_deterministic_for_a_seed() {
    let cfg = ReinforceConfig {
        total_timesteps: 3_000,
        eval_every: 0,
        ..ReinforceConfig::default()
    };
    let run = || {
        let mut env = make_env("cartpole").unwrap();
        let mut eval_env = make_env("cartpole").unwrap();
        train_reinforce(&cfg, env.as_mut(), eval_env.as_mut(), 9, |_| {})
            .unwrap()
            .model
            .params
    };
    assert_eq!(run(), run());
}

/// The shipped A2C and REINFORCE CartPole policies through the control loop
/// (`ganglion eval` measures them over 100 episodes: see their cards).
#[test]
fn shipped_textbook_policies_balance_the_pole_in_the_loop() {
    for name in ["cartpole-a2c", "cartpole-reinforce"] {
        let text = std::fs::read_to_string(common::repo().join("robots/cartpole.toml"))
            .unwrap()
            .replace("cartpole-ppo.onnx", &format!("{name}.onnx"));
        assert!(text.contains(name));
        let cfg = ganglion::config::parse(&common::repo().join("robots/textbook.toml"), &text)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let returns = ganglion::io::hil::returns(&cfg, 100, 3, 600).unwrap();
        assert_eq!(returns, vec![500.0; 3], "{name}");
    }
}
