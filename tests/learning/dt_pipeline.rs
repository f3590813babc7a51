//! Recordings → dataset → Decision Transformer → the control loop, end to end,
//! with a tiny model so it runs in seconds: `collect` writes recordings with
//! rewards and episode boundaries, `load_dataset` reads them back exactly, a
//! tiny DT trained on them keeps the CartPole pole up in the control loop.

use crate::common;

use ganglion::assemble::{RunOptions, execute};
use ganglion::config::{PolicyConfig, PolicyKind};
use ganglion::learn::collect::{CollectOptions, collect};
use ganglion::learn::dataset::load_dataset;
use ganglion::learn::dt_run::{DtRun, run_dt};
use ganglion::learn::dt_train::DtTrainConfig;
use ganglion::policy::card::card_path;
use ganglion::runtime::RunLimit;

fn collect_into(dir: &std::path::Path, noise: &[f32], episodes: usize) {
    collect(
        &CollectOptions {
            env: "cartpole".into(),
            config: common::cartpole_config(),
            policies: vec![common::repo().join("models/cartpole-ppo.onnx")],
            episodes,
            noise: noise.to_vec(),
            seed: 3,
            out: dir.to_path_buf(),
            overwrite: false,
            command: "dt_pipeline test".into(),
        },
        &mut |_| {},
    )
    .unwrap();
}

#[test]
fn recordings_round_trip_into_a_dataset() {
    let dir = tempfile::tempdir().unwrap();
    collect_into(dir.path(), &[0.0, 0.6], 3);
    let ds = load_dataset(dir.path()).unwrap();
    assert_eq!(ds.obs_dim, 4);
    assert_eq!(ds.action_dim, 1);
    assert_eq!(ds.trajectories.len(), 6);
    for t in &ds.trajectories {
        // CartPole pays 1 per step; an episode ends by falling or at 500 steps.
        assert_eq!(t.episode_return(), t.len() as f64);
        assert_eq!(t.terminated, t.len() < 500, "{} steps", t.len());
        assert_eq!(t.obs.len(), 4 * t.len());
        assert!(t.actions.iter().all(|a| *a == 0.0 || *a == 1.0));
        // The first observation is the plant's seeded start: within ±0.05.
        assert!(t.obs[..4].iter().all(|o| o.abs() <= 0.05 + 1e-6));
    }
    // The expert without noise balances for the whole episode.
    assert!(ds.trajectories[..3].iter().all(|t| t.len() == 500));
    assert!(
        ds.trajectories[3..].iter().any(|t| t.len() < 500),
        "σ = 0.6 drops the pole"
    );
    // A directory without recordings is an error, not an empty dataset.
    let empty = tempfile::tempdir().unwrap();
    assert!(load_dataset(empty.path()).is_err());
}

/// Threshold: a random CartPole policy lasts ~22 steps; a DT that learned to
/// balance from 4 expert episodes must keep the pole up for 200 ticks (4 s).
#[test]
fn tiny_dt_balances_in_the_control_loop() {
    let data = tempfile::tempdir().unwrap();
    collect_into(data.path(), &[0.0], 4);
    let out = tempfile::tempdir().unwrap();
    let model = out.path().join("tiny-dt.onnx");
    run_dt(
        &DtRun {
            env: "cartpole".into(),
            data: data.path().to_path_buf(),
            out: model.clone(),
            seed: 1,
            cfg: DtTrainConfig {
                context: 5,
                embed: 16,
                layers: 1,
                heads: 1,
                dropout: 0.0,
                batch_size: 16,
                steps: 300,
                learning_rate: 3e-3,
                warmup_steps: 20,
                rtg_scale: Some(500.0),
                ..Default::default()
            },
            device: ganglion::nn::device::Resolved::Cpu,
            targets: Some(vec![500.0]),
            eval_episodes: 1,
            command: "dt_pipeline test".into(),
        },
        &mut |_, _| {},
    )
    .unwrap();
    let mut cfg = common::cartpole_config();
    // Nothing is written into the repository's runs/.
    cfg.record.path = None;
    cfg.policy = PolicyConfig {
        path: model.clone(),
        kind: PolicyKind::DecisionTransformer,
        card: card_path(&model),
        target_return: Some(500.0),
        chunking: None,
    };
    let report = execute(
        cfg,
        &RunOptions {
            limit: RunLimit {
                ticks: Some(200),
                ..Default::default()
            },
            record: None,
            fast: true,
            seed: Some(21),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(report.ticks, 200);
    assert!(
        report.in_envelope,
        "pole fell at {:?} s",
        report.left_envelope_at_s
    );
    assert!(
        report.safety_events.is_empty(),
        "{:?}",
        report.safety_events
    );
}
