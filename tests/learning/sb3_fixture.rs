//! A policy exported from PyTorch / Stable-Baselines3 with ganglion's input and
//! output convention runs unchanged: it matches torch's outputs and balances
//! the rapier CartPole. The fixture and its expected outputs are made by
//! `tests/fixtures/make_sb3_fixture.py` (see its header).

use std::path::Path;

use ganglion::learn::evaluate;
use ganglion::policy::{ActionSpec, OnnxPolicy};
use ganglion::sim::make_env;

#[test]
fn sb3_actor_matches_torch_and_balances() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("sb3_cartpole_actor.expected.json")).unwrap(),
    )
    .unwrap();
    let mut policy = OnnxPolicy::load(
        &dir.join("sb3_cartpole_actor.onnx"),
        4,
        ActionSpec::Discrete { n: 2 },
    )
    .expect("the SB3 export loads");
    let rows = expected["inputs"].as_array().unwrap();
    let logits = expected["logits"].as_array().unwrap();
    assert_eq!(rows.len(), 8);
    for (row, want) in rows.iter().zip(logits) {
        let obs: Vec<f32> = row
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let got = policy.raw_output(&obs).unwrap();
        for (g, w) in got.iter().zip(want.as_array().unwrap()) {
            let w = w.as_f64().unwrap() as f32;
            assert!((g - w).abs() <= 1e-5, "obs {obs:?}: tract {g} vs torch {w}");
        }
    }
    // Trained on Gymnasium's analytic CartPole, it still balances rapier's.
    let mut env = make_env("cartpole").unwrap();
    let report = evaluate(&mut policy, env.as_mut(), 5, 0).unwrap();
    assert!(
        report.mean_return > 195.0,
        "mean return {}",
        report.mean_return
    );
}
