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
    // The card holds the 100-episode measurement (`ganglion eval`); the test
    // re-measures a seeded subset to stay fast (~0.3 ms per DT step), one
    // thread per target.
    let achieved: Vec<f64> = std::thread::scope(|s| {
        let runs: Vec<_> = [(100.0, 15), (250.0, 15), (500.0, 25)]
            .into_iter()
            .map(|(target, episodes)| {
                let (path, card) = (&path, &card);
                s.spawn(move || {
                    let mut policy = DtPolicy::load(path, card, Some(target)).unwrap();
                    let mut env = make_env("cartpole").unwrap();
                    evaluate(&mut policy, env.as_mut(), episodes, 0)
                        .unwrap()
                        .mean_return
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    assert!(achieved[2] >= 475.0, "conditioned on 500: {achieved:?}");
    assert!(
        achieved[0] < achieved[1] && achieved[1] < achieved[2],
        "achieved return must increase with the target: {achieved:?}"
    );
}

/// A seeded uniform-random policy: the "random" end of the normalised score.
struct RandomPolicy(ganglion::sim::Rng);

impl ganglion::policy::Policy for RandomPolicy {
    fn act(
        &mut self,
        _obs: &[f32],
        action: &mut [f32],
    ) -> Result<(), ganglion::policy::PolicyError> {
        for a in action.iter_mut() {
            *a = self.0.uniform(-1.0, 1.0);
        }
        Ok(())
    }
}

/// Reacher returns are negative, so the score is normalised as D4RL does:
/// (R − R_random) / (R_best − R_random), with R_best the best behaviour
/// policy of the dataset (`models/reacher-ppo.onnx`) and R_random a uniform
/// random policy, all on the same seeded episodes. At the highest target the
/// DT must reach ≥ 0.9, and the achieved return must increase with the target.
#[test]
fn shipped_reacher_dt_is_return_conditioned() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = root.join("models/reacher-dt.onnx");
    let card = ModelCard::load_for(&path).expect("model card");
    card.verify_sha256(&path).expect("sha256 matches the card");
    assert!(
        card.command.starts_with("ganglion train reacher --algo dt"),
        "{}",
        card.command
    );
    assert!(card.training.get("dataset_command").is_some());
    let episodes = 20;
    let mut achieved = Vec::new();
    for target in [-25.0, -15.0, -6.0] {
        let mut policy = DtPolicy::load(&path, &card, Some(target)).unwrap();
        let mut env = make_env("reacher").unwrap();
        achieved.push(
            evaluate(&mut policy, env.as_mut(), episodes, 0)
                .unwrap()
                .mean_return,
        );
    }
    assert!(
        achieved[0] < achieved[1] && achieved[1] < achieved[2],
        "achieved return must increase with the target: {achieved:?}"
    );
    let mut env = make_env("reacher").unwrap();
    let mut best =
        ganglion::policy::OnnxPolicy::from_card(&root.join("models/reacher-ppo.onnx")).unwrap();
    let r_best = evaluate(&mut best, env.as_mut(), episodes, 0)
        .unwrap()
        .mean_return;
    let mut random = RandomPolicy(ganglion::sim::Rng::new(7));
    let r_random = evaluate(&mut random, env.as_mut(), episodes, 0)
        .unwrap()
        .mean_return;
    let score = (achieved[2] - r_random) / (r_best - r_random);
    assert!(
        score >= 0.9,
        "normalised score {score:.3} (DT {:.2}, best behaviour {r_best:.2}, random {r_random:.2})",
        achieved[2]
    );
}
