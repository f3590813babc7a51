//! The shipped CartPole Decision Transformer: the file its card describes,
//! made from a dataset `ganglion collect` regenerates, reaching ≥ 475 when
//! conditioned on 500, with the achieved return increasing with the target.

use std::path::Path;

use ganglion::learn::evaluate;
use ganglion::policy::{DtPolicy, ModelCard};
use ganglion::sim::make_env;

#[test]
fn shipped_cartpole_dt_is_return_conditioned() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/cartpole-dt.onnx");
    let card = ModelCard::load_for(&path).expect("model card");
    card.verify_sha256(&path).expect("sha256 matches the card");
    assert_eq!(card.kind, "decision-transformer");
    assert!(
        card.command
            .starts_with("ganglion train cartpole --algo dt"),
        "{}",
        card.command
    );
    let dataset_command = card
        .training
        .get("dataset_command")
        .and_then(|c| c.as_str());
    assert!(
        dataset_command.is_some_and(|c| c.starts_with("ganglion collect cartpole")),
        "the card says how to regenerate the dataset"
    );
    let mut achieved = Vec::new();
    // The card holds the 100-episode measurement (`ganglion eval`); the test
    // re-measures a seeded subset to stay fast (~0.3 ms per DT step).
    for (target, episodes) in [(100.0, 15), (250.0, 15), (500.0, 25)] {
        let mut policy = DtPolicy::load(&path, &card, Some(target)).unwrap();
        let mut env = make_env("cartpole").unwrap();
        let r = evaluate(&mut policy, env.as_mut(), episodes, 0).unwrap();
        achieved.push(r.mean_return);
    }
    assert!(achieved[2] >= 475.0, "conditioned on 500: {achieved:?}");
    assert!(
        achieved[0] < achieved[1] && achieved[1] < achieved[2],
        "achieved return must increase with the target: {achieved:?}"
    );
}
