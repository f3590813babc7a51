//! Distributed PPO rollouts over zenoh on loopback: a learner
//! (`ganglion train cartpole --workers 2 --listen …`) and two
//! `ganglion worker` processes. For a fixed seed and worker count the
//! trained model is the same, byte for byte, run after run.

use crate::common::free_port;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_ganglion");

/// Trains with `workers` worker processes; returns the ONNX bytes and the
/// learner's JSON summary.
fn train(dir: &Path, tag: &str, workers: usize, seed: u64) -> (Vec<u8>, serde_json::Value) {
    train_with(
        dir,
        tag,
        workers,
        seed,
        &[
            "--steps",
            "2048",
            "--eval-every",
            "0",
            "--final-episodes",
            "2",
        ],
    )
}

/// As `train`, with the learner's length and evaluation flags given.
fn train_with(
    dir: &Path,
    tag: &str,
    workers: usize,
    seed: u64,
    budget: &[&str],
) -> (Vec<u8>, serde_json::Value) {
    let port = free_port();
    let ep = format!("tcp/127.0.0.1:{port}");
    let out: PathBuf = dir.join(format!("{tag}.onnx"));
    let learner = Command::new(BIN)
        .args(["train", "cartpole", "--algo", "ppo", "--json"])
        .args(budget)
        .args([
            "--seed",
            &seed.to_string(),
            "--workers",
            &workers.to_string(),
        ])
        .args(["--listen", &ep, "--run-name", tag, "--out"])
        .arg(&out)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn learner");
    let ws: Vec<_> = (0..workers)
        .map(|_| {
            Command::new(BIN)
                .args([
                    "worker",
                    "--connect",
                    &ep,
                    "--run-name",
                    tag,
                    "--json",
                    "--wait",
                    "60",
                ])
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn worker")
        })
        .collect();
    let lo = learner.wait_with_output().expect("learner");
    assert!(lo.status.success(), "learner failed");
    let mut indices = Vec::new();
    let mut worker_steps = Vec::new();
    for w in ws {
        let o = w.wait_with_output().expect("worker");
        assert!(o.status.success(), "worker failed");
        let s: serde_json::Value = serde_json::from_slice(&o.stdout).expect("worker --json");
        indices.push(s["index"].as_u64().expect("index"));
        worker_steps.push(s["env_steps"].as_u64().expect("env_steps"));
    }
    indices.sort_unstable();
    assert_eq!(indices, (0..workers as u64).collect::<Vec<_>>());
    let summary: serde_json::Value = serde_json::from_slice(&lo.stdout).expect("train --json");
    // The work is split evenly and every step the workers took reached the
    // learner.
    assert!(
        worker_steps.windows(2).all(|w| w[0] == w[1]),
        "{worker_steps:?}"
    );
    assert_eq!(
        summary["env_steps"].as_u64(),
        Some(worker_steps.iter().sum()),
        "{summary} vs workers {worker_steps:?}"
    );
    (std::fs::read(&out).expect("model"), summary)
}

#[test]
fn two_workers_reproduce_the_same_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, sa) = train(dir.path(), "a", 2, 5);
    let (b, _) = train(dir.path(), "b", 2, 5);
    assert_eq!(sa["env_steps"], 2048, "{sa}");
    assert!(a == b, "same seed and worker count gave different models");
    let (c, _) = train(dir.path(), "c", 2, 6);
    assert!(a != c, "another seed gave the same model");
}

/// The acceptance run: PPO on CartPole with two worker processes, the
/// RL-Zoo budget (100,096 env steps), seed 1; the exported ONNX scores ≥ 475
/// over 100 episodes. About 20–40 s on two cores, so it is not in the
/// default `cargo test`.
#[test]
#[ignore = "trains to the solved return; cargo test --test zenoh -- rollouts:: --ignored"]
fn two_workers_solve_cartpole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, s) = train_with(dir.path(), "solve", 2, 1, &["--final-episodes", "100"]);
    let mean = s["eval"]["mean_return"].as_f64().expect("eval.mean_return");
    assert!(mean >= 475.0, "2 workers: mean return {mean} < 475: {s}");
}
