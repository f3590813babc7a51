//! Hostile input, one test per finding of the hardening review (issue #14):
//! bad numbers, special files, swapped and poisoned models, damaged
//! recordings, and what a run must never do with them (panic, hang, move an
//! actuator, overwrite a file it was not asked to write). The static corpus
//! is in `tests/hostile/configs/`; models and recordings are made here from
//! the shipped ones, so every case is reproducible from the repository.

#[path = "../common/mod.rs"]
mod common;

mod files;
mod numbers;
mod policy_nan;
mod recordings;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use ganglion::input::{FileKind, sha256_file};
use ganglion::policy::ModelCard;
use prost::Message;
use tract_onnx::pb;

pub fn repo(rel: &str) -> PathBuf {
    common::repo().join(rel)
}

pub fn corpus(name: &str) -> PathBuf {
    repo("tests/hostile/configs").join(name)
}

pub fn ganglion() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ganglion"));
    c.stdin(Stdio::null());
    c
}

/// Runs `cmd` to completion, killing it (and failing the test: a hang) if it
/// takes longer than `limit`. The limit is a generous "did not hang" bound,
/// never a speed check.
pub fn run_within(mut cmd: Command, limit: Duration) -> Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn ganglion");
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut stdout = Vec::new();
            let mut stderr = Vec::new();
            if let Some(mut o) = child.stdout.take() {
                let _ = o.read_to_end(&mut stdout);
            }
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_end(&mut stderr);
            }
            return Output {
                status,
                stdout,
                stderr,
            };
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {limit:?} (a hang)");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// stdout and stderr together, for matching messages.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A clean failure: a non-zero exit with a message, never a panic (exit 101)
/// or a signal.
pub fn assert_clean_error(o: &Output, needle: &str) {
    let t = text(o);
    assert!(!o.status.success(), "expected a failure, got success: {t}");
    assert_ne!(o.status.code(), Some(101), "panicked: {t}");
    assert!(o.status.code().is_some(), "killed by a signal: {t}");
    assert!(!t.contains("panicked at"), "a panic was printed: {t}");
    assert!(
        !t.contains("stack backtrace"),
        "a backtrace was printed: {t}"
    );
    assert!(
        t.to_lowercase().contains(&needle.to_lowercase()),
        "expected `{needle}` in: {t}"
    );
}

/// How a model is made hostile.
#[derive(Clone, Copy)]
pub enum Poison {
    /// Every float weight NaN: every output NaN.
    AllNan,
    /// The output layer's bias +inf: every logit infinite.
    InfiniteOutput,
}

/// Writes a poisoned copy of a shipped model (and a model card with the new
/// file's sha256, so it passes the integrity check and reaches the loop).
pub fn poisoned_model(src: &Path, dir: &Path, name: &str, how: Poison) -> PathBuf {
    let bytes = std::fs::read(src).expect("read model");
    let mut model = pb::ModelProto::decode(&bytes[..]).expect("decode model");
    let graph = model.graph.as_mut().expect("graph");
    let float = pb::tensor_proto::DataType::Float as i32;
    let fill = |t: &mut pb::TensorProto, v: f32| {
        t.float_data.iter_mut().for_each(|x| *x = v);
        for c in t.raw_data.chunks_exact_mut(4) {
            c.copy_from_slice(&v.to_le_bytes());
        }
    };
    match how {
        Poison::AllNan => graph
            .initializer
            .iter_mut()
            .filter(|t| t.data_type == float)
            .for_each(|t| fill(t, f32::NAN)),
        Poison::InfiniteOutput => {
            let bias = graph
                .initializer
                .iter_mut()
                .rfind(|t| t.data_type == float && t.dims.len() == 1)
                .expect("an output bias");
            fill(bias, f32::INFINITY);
        }
    }
    let out = dir.join(format!("{name}.onnx"));
    std::fs::write(&out, model.encode_to_vec()).expect("write model");
    let mut card = ModelCard::load_for(src).expect("shipped card");
    card.sha256 = sha256_file(&out, FileKind::Model).expect("sha");
    card.save_for(&out).expect("write card");
    out
}

/// The shipped CartPole config with its policy replaced (absolute paths, so
/// the config can live anywhere).
pub fn cartpole_config_with(dir: &Path, name: &str, policy_lines: &str) -> PathBuf {
    let text = std::fs::read_to_string(repo("robots/cartpole.toml")).expect("config");
    let start = text.find("\n[policy]\n").expect("[policy]") + 1;
    let end = start
        + text[start..]
            .find("\n[observation]\n")
            .expect("[observation]")
        + 1;
    let record = dir.join("runs").join(format!("{name}.mcap"));
    let text = format!(
        "{}[policy]\n{policy_lines}\n\n{}",
        &text[..start],
        &text[end..]
    )
    .replace(
        "path = \"../runs/cartpole.mcap\"",
        &format!("path = {:?}", record.display().to_string()),
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("write config");
    path
}

pub fn policy_lines(model: &Path, kind: &str) -> String {
    format!("path = {:?}\nkind = {kind:?}", model.display().to_string())
}
