//! Distributed PPO rollouts over zenoh on loopback: a learner
//! (`ganglion train cartpole --workers 2 --listen …`) and two
//! `ganglion worker` processes. For a fixed seed and worker count the
//! trained model is the same, byte for byte, run after run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_ganglion");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Trains with `workers` worker processes; returns the ONNX bytes and the
/// learner's JSON summary.
fn train(dir: &Path, tag: &str, workers: usize, seed: u64) -> (Vec<u8>, serde_json::Value) {
    let port = free_port();
    let ep = format!("tcp/127.0.0.1:{port}");
    let out: PathBuf = dir.join(format!("{tag}.onnx"));
    let learner = Command::new(BIN)
        .args(["train", "cartpole", "--algo", "ppo", "--steps", "2048"])
        .args(["--eval-every", "0", "--final-episodes", "2", "--json"])
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
    for w in ws {
        let o = w.wait_with_output().expect("worker");
        assert!(o.status.success(), "worker failed");
        let s: serde_json::Value = serde_json::from_slice(&o.stdout).expect("worker --json");
        assert_eq!(s["env_steps"], 2048 / workers as u64, "{s}");
        indices.push(s["index"].as_u64().expect("index"));
    }
    indices.sort_unstable();
    assert_eq!(indices, (0..workers as u64).collect::<Vec<_>>());
    let summary: serde_json::Value = serde_json::from_slice(&lo.stdout).expect("train --json");
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
