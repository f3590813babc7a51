//! Findings 5, 6 and the replay parts of 2, 8 and 10: a recording never
//! overwrites anything but an earlier recording (and only when asked), a
//! damaged recording fails `replay` naming where, "nothing checked" is an
//! error, and `--resim` never drives live hardware.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ganglion::record::{Recorder, RecordingHeader, TickRecord, read_recording};

use super::{assert_clean_error, corpus, ganglion, repo, run_within, text};

const NO_HANG: Duration = Duration::from_secs(120);

/// A real 200-tick CartPole recording made by `ganglion run`.
fn real_recording(dir: &Path, name: &str) -> PathBuf {
    let rec = dir.join(name);
    let mut run = ganglion();
    run.args(["run", "--fast", "--ticks", "200", "--config"])
        .arg(repo("robots/cartpole.toml"))
        .arg("--record")
        .arg(&rec);
    let o = run_within(run, NO_HANG);
    assert!(o.status.success(), "{}", text(&o));
    rec
}

fn replay(rec: &Path, resim: bool) -> std::process::Output {
    let mut c = ganglion();
    c.arg("replay").arg(rec);
    if resim {
        c.arg("--resim");
    }
    run_within(c, NO_HANG)
}

#[test]
fn record_never_overwrites_a_config_or_a_model() {
    let dir = tempfile::tempdir().unwrap();
    for src in ["robots/cartpole.toml", "models/cartpole-ppo.onnx"] {
        let victim = dir.path().join(Path::new(src).file_name().unwrap());
        std::fs::copy(repo(src), &victim).unwrap();
        let before = std::fs::read(&victim).unwrap();
        for extra in [&[][..], &["--overwrite"][..]] {
            let mut run = ganglion();
            run.args(["run", "--fast", "--ticks", "5", "--config"])
                .arg(repo("robots/cartpole.toml"))
                .arg("--record")
                .arg(&victim)
                .args(extra);
            assert_clean_error(&run_within(run, NO_HANG), "not a recording");
            assert_eq!(std::fs::read(&victim).unwrap(), before, "{src} changed");
        }
    }
}

#[test]
fn an_earlier_recording_is_replaced_only_with_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let rec = real_recording(dir.path(), "a.mcap");
    let before = std::fs::read(&rec).unwrap();
    let mut again = ganglion();
    again
        .args(["run", "--fast", "--ticks", "7", "--config"])
        .arg(repo("robots/cartpole.toml"))
        .arg("--record")
        .arg(&rec);
    assert_clean_error(&run_within(again, NO_HANG), "--overwrite");
    assert_eq!(std::fs::read(&rec).unwrap(), before);

    let mut again = ganglion();
    again
        .args(["run", "--fast", "--ticks", "7", "--overwrite", "--config"])
        .arg(repo("robots/cartpole.toml"))
        .arg("--record")
        .arg(&rec);
    let o = run_within(again, NO_HANG);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(read_recording(&rec).unwrap().ticks.len(), 7);
}

/// One flipped bit anywhere in the recorded data: `replay` (both modes)
/// fails and names the offset, never "0 ticks, 0 mismatches".
#[test]
fn a_damaged_recording_fails_replay_with_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    let good = real_recording(dir.path(), "good.mcap");
    let bytes = std::fs::read(&good).unwrap();
    let o = replay(&good, false);
    assert!(o.status.success(), "{}", text(&o));
    // Twelve positions spread over the file, past the leading magic.
    let n = bytes.len();
    for k in 0..12 {
        let at = 8 + (n - 16) * k / 12 + k * 7 % 13;
        let mut bad = bytes.clone();
        bad[at] ^= 1 << (k % 8);
        let path = dir.path().join(format!("flip-{at}.mcap"));
        std::fs::write(&path, &bad).unwrap();
        for resim in [false, true] {
            let o = replay(&path, resim);
            assert_clean_error(&o, "byte");
            assert!(
                !text(&o).contains("0 checked"),
                "flip at {at}: {}",
                text(&o)
            );
        }
    }
}

/// A recording made by hand with `config_text` in its metadata and `ticks`
/// ticks in which the policy ran.
fn crafted(dir: &Path, name: &str, config_text: &str, ticks: u64) -> PathBuf {
    let path = dir.join(name);
    let mut metadata = BTreeMap::new();
    metadata.insert("config_text".to_string(), config_text.to_string());
    metadata.insert(
        "config_path".to_string(),
        repo("robots/cartpole.toml").display().to_string(),
    );
    metadata.insert("seed".to_string(), "7".to_string());
    let header = RecordingHeader {
        sensor_names: ganglion::sim::make_plant("sim:cartpole")
            .unwrap()
            .sensor_names()
            .iter()
            .map(|s| s.to_string())
            .collect(),
        obs_dim: 4,
        action_dim: 1,
        actuator_names: vec!["cart.force".into()],
        metadata,
    };
    let (rec, mut sink) =
        Recorder::start(&path, header, 1024, Duration::from_millis(10), false).expect("recorder");
    for t in 0..ticks {
        let r = TickRecord {
            tick: t,
            n_sensors: 5,
            n_obs: 4,
            n_action: 1,
            n_command: 1,
            policy_ran: true,
            ..Default::default()
        };
        assert!(sink.push(&r));
    }
    drop(sink);
    rec.finish().expect("finish");
    path
}

#[test]
fn a_recording_with_nothing_to_check_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = std::fs::read_to_string(repo("robots/cartpole.toml")).unwrap();
    let empty = crafted(dir.path(), "empty.mcap", &cfg, 0);
    assert_clean_error(&replay(&empty, false), "nothing was checked");
    assert_clean_error(&replay(&empty, true), "no ticks");
}

/// A recording of a run against a HIL node: `--resim` refuses rather than
/// sending frames to the recorded address.
#[test]
fn resim_never_drives_live_hardware() {
    let dir = tempfile::tempdir().unwrap();
    let hil = std::fs::read_to_string(repo("robots/cartpole-hil.toml")).unwrap();
    let rec = crafted(dir.path(), "hil.mcap", &hil, 20);
    let o = replay(&rec, true);
    assert_clean_error(&o, "never driven by a replay");
}

/// A recording whose config has an impossible rate: `--resim` is a clean
/// error and leaves no temporary recording behind.
#[test]
fn resim_of_a_bad_config_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let cfg = std::fs::read_to_string(corpus("rate-1e-300.toml")).unwrap();
    let rec = crafted(dir.path(), "bad-rate.mcap", &cfg, 20);
    let mut c = ganglion();
    c.env("TMPDIR", tmp.path())
        .arg("replay")
        .arg(&rec)
        .arg("--resim");
    assert_clean_error(&run_within(c, NO_HANG), "rate_hz");
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn replay_with_another_model_reports_plainly() {
    let dir = tempfile::tempdir().unwrap();
    let rec = real_recording(dir.path(), "a.mcap");
    let mut c = ganglion();
    c.arg("replay")
        .arg(&rec)
        .arg("--policy")
        .arg(repo("models/cartpole-ppo-2k.onnx"));
    let o = run_within(c, NO_HANG);
    let t = text(&o);
    assert!(!t.contains("Some("), "{t}");
    if !o.status.success() {
        assert_clean_error(&o, "mismatch");
    }
}
