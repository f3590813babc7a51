//! A short fixed-seed PPO run on Reacher must improve on the untrained
//! policy, `ganglion train --checkpoint-every` must leave usable, carded
//! checkpoints, and the shipped Reacher policy must be what its card says.
//!
//! Threshold: both policies are scored on the same 20 evaluation episodes
//! (same targets), so the difference measures the policy alone. The
//! untrained actor outputs ~0.01 (its head is initialised at gain 0.01): it
//! is a zero-torque policy, which scores −42 to −54 on these episode sets
//! (−200 × the initial fingertip–target distance). A gain of 8 means the
//! fingertip is on average 0.04 m closer to the target over all 200 steps:
//! the arm must move towards the target, which no failed run does (random
//! actions score −60, worse than standing still). 49k steps of this short
//! configuration (~3 s) gain 7.0–18.0 over seeds 1–6; seed 1 gains 16.0, so
//! the threshold is half of what the fixed run shows. (The full preset
//! reaches −9 after 1M steps; the Jacobian-transpose controller −11.5.)

use std::path::Path;
use std::process::Command;

use ganglion::learn::eval::eval_policy_file;
use ganglion::learn::{
    ActorCritic, EvalReport, NativeActor, PpoConfig, evaluate, ppo_preset, train,
};
use ganglion::nn::LinearSchedule;
use ganglion::policy::{ActionSpec, ModelCard, Policy, PolicyError};
use ganglion::sim::reacher::{ReacherConfig, jacobian_transpose_action};
use ganglion::sim::{Rng, VecEnv, derive_seed, make_env};

const SEED: u64 = 1;

fn eval(model: &ActorCritic) -> EvalReport {
    let mut env = make_env("reacher").expect("registered");
    // The episodes `train` evaluates on.
    evaluate(
        &mut NativeActor::new(model),
        env.as_mut(),
        20,
        derive_seed(SEED, 0xE7A1),
    )
    .expect("native actor matches its env")
}

#[test]
fn ppo_improves_reacher_return() {
    // The preset, shortened: shorter rollouts, bigger batches, fewer epochs,
    // a faster learning rate, a smaller net and a shorter horizon.
    let cfg = PpoConfig {
        n_steps: 64,
        batch_size: 256,
        n_epochs: 5,
        learning_rate: LinearSchedule {
            start: 1e-3,
            end: 0.0,
        },
        gamma: 0.95,
        hidden: vec![64, 64],
        total_timesteps: 49_152,
        eval_every: 0,
        ..ppo_preset("reacher")
    };
    // The model `train` starts from (same architecture, same init stream).
    let untrained = ActorCritic::new(
        10,
        ActionSpec::Continuous { dim: 2 },
        &cfg.hidden,
        cfg.activation,
        cfg.log_std_init,
        &mut Rng::new(derive_seed(SEED, 0xA11CE)),
    );
    let before = eval(&untrained).mean_return;

    let mut venv = VecEnv::new(
        || make_env("reacher").expect("registered"),
        cfg.n_envs,
        cfg.threads,
        SEED,
    );
    let mut eval_env = make_env("reacher").expect("registered");
    let out = train(&cfg, &mut venv, eval_env.as_mut(), SEED, |_| {});
    let after = eval(&out.model).mean_return;
    assert!(
        (-55.0..-40.0).contains(&before),
        "the untrained policy should stand still: {before}"
    );
    assert!(
        after >= before + 8.0,
        "eval mean return {before:.2} → {after:.2}"
    );
}

#[test]
fn checkpoints_have_cards() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("r.onnx");
    let st = Command::new(env!("CARGO_BIN_EXE_ganglion"))
        .args(["train", "reacher", "--seed", "1", "--steps", "2048"])
        .args(["--hp", "n_steps=64", "--hp", "hidden=[16]", "--envs", "4"])
        .args(["--checkpoint-every", "512", "--eval-every", "0"])
        .args(["--final-episodes", "2", "--json", "--out"])
        .arg(&out)
        .output()
        .expect("runs");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let card = ModelCard::load_for(&out).expect("final card");
    let hp = card.training["hyperparameters"].as_table().expect("table");
    assert_eq!(hp["n_steps"].as_integer(), Some(64));
    assert_eq!(hp["n_envs"].as_integer(), Some(4));
    let rows = card.training["checkpoints"]
        .as_array()
        .expect("checkpoint table");
    assert_eq!(rows.len(), 4);
    for (k, row) in rows.iter().enumerate() {
        let steps = 512 * (k + 1);
        assert_eq!(row["env_steps"].as_integer(), Some(steps as i64));
        let path = dir.path().join(format!("r.ckpt-{steps}.onnx"));
        assert_eq!(
            row["file"].as_str(),
            path.file_name().and_then(|f| f.to_str())
        );
        let ckpt = ModelCard::load_for(&path).expect("checkpoint card");
        ckpt.verify_sha256(&path).expect("sha256");
        assert_eq!(ckpt.training["env_steps"].as_integer(), Some(steps as i64));
        let ev = ckpt.eval.expect("evaluated");
        assert_eq!(row["eval_mean_return"].as_float(), Some(ev.mean_return));
        assert_eq!(ev.episodes, 2);
    }

    let bad = Command::new(env!("CARGO_BIN_EXE_ganglion"))
        .args([
            "train",
            "reacher",
            "--steps",
            "64",
            "--hp",
            "n_stepz=8",
            "--out",
        ])
        .arg(dir.path().join("bad.onnx"))
        .output()
        .expect("runs");
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("no key `n_stepz`"), "{err}");
}

/// The shipped policy is the file its card describes, scores what the card
/// records, and beats the hand-tuned Jacobian-transpose controller (−11.5
/// over the same 100 episodes; zero torque scores −47.5).
#[test]
fn shipped_reacher_policy() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/reacher-ppo.onnx");
    let card = ModelCard::load_for(&path).expect("model card");
    card.verify_sha256(&path).expect("sha256 matches the card");
    assert!(
        card.command
            .starts_with("ganglion train reacher --algo ppo --seed 1"),
        "{}",
        card.command
    );
    let out = eval_policy_file("reacher", &path, 100, 0).expect("evaluates");
    let recorded = card.eval.expect("card has an eval record");
    // Same seed, same path; the last digits depend on the CPU's SIMD
    // kernels (tract, matrixmultiply): on an AMD EPYC the mean return is
    // −8.6759912, the card (another machine) says −8.6759858: 5e-6 apart.
    let diff = (recorded.mean_return - out.report.mean_return).abs();
    assert!(
        diff < 1e-4,
        "card {} vs measured {}",
        recorded.mean_return,
        out.report.mean_return
    );
    assert!(
        out.report.mean_return > -11.5,
        "mean return {}",
        out.report.mean_return
    );
}

/// A policy from a function of the observation.
struct FnPolicy<F>(F);

impl<F: FnMut(&[f32]) -> [f32; 2] + Send> Policy for FnPolicy<F> {
    fn act(&mut self, obs: &[f32], action: &mut [f32]) -> Result<(), PolicyError> {
        action.copy_from_slice(&(self.0)(obs));
        Ok(())
    }
}

/// Reference returns over the 100 episodes `ganglion eval reacher` uses
/// (seed 0): `cargo test --release --test learning -- reacher_ppo:: --ignored --nocapture`.
#[test]
#[ignore]
fn reacher_reference_returns() {
    let cfg = ReacherConfig::default();
    let mut env = make_env("reacher").expect("registered");
    let mut rng = Rng::new(42);
    let mut score = |name: &str, policy: &mut dyn Policy| {
        let r = evaluate(policy, env.as_mut(), 100, 0).expect("runs");
        println!(
            "{name}: mean return {:.2} ± {:.2}, min {:.2}",
            r.mean_return, r.std_return, r.min_return
        );
    };
    score("zero torque", &mut FnPolicy(|_: &[f32]| [0.0, 0.0]));
    score(
        "uniform random",
        &mut FnPolicy(|_: &[f32]| [rng.uniform(-1.0, 1.0), rng.uniform(-1.0, 1.0)]),
    );
    score(
        "Jacobian transpose",
        &mut FnPolicy(|o: &[f32]| jacobian_transpose_action(&cfg, o)),
    );
}
