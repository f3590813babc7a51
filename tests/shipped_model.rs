//! The shipped CartPole policy is the file its card describes and scores
//! ≥ 475 over 100 episodes through the same path as `ganglion eval`.

use std::path::Path;

use ganglion::cli::eval::eval_policy_file;
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
