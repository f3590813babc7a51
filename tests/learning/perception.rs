//! The shipped perception model (`models/perception.onnx`) is the file its
//! card describes and meets the thresholds on views it never saw,
//! with the randomization on, run through tract as on a robot.

use std::path::Path;

use ganglion::perception::card::{FormattedCard, PerceptionCard};
use ganglion::perception::eval::evaluate;

#[test]
fn shipped_perception_meets_its_thresholds_on_unseen_views() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/perception.onnx");
    let card = PerceptionCard::load_for(&path).expect("perception card");
    let sha = ganglion::input::sha256_file(&path, ganglion::input::FileKind::Model).expect("reads");
    assert_eq!(sha, card.sha256, "the model is the file its card describes");
    assert!(
        card.command.starts_with("ganglion perception train"),
        "{}",
        card.command
    );
    // A seed the card's own evaluation did not use.
    let r = evaluate(&path, 120, 42, false, |_| {}).expect("evaluates");
    assert!(
        r.position_error_median_m <= 0.003,
        "median {}",
        r.position_error_median_m
    );
    assert!(
        r.position_error_p95_m <= 0.008,
        "p95 {}",
        r.position_error_p95_m
    );
    assert!(r.color_accuracy >= 0.99, "colour {}", r.color_accuracy);
    assert!(
        r.relation_accuracy >= 0.98,
        "relation {}",
        r.relation_accuracy
    );
}
