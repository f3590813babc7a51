//! `--set key=value`: a field changed without copying the file, validated
//! like the file; a bad override is named by its key, any other problem
//! keeps its line in the file; `run --set` records the changed config.

use std::path::{Path, PathBuf};
use std::process::Command;

use ganglion::config::{self, Integrity, PlantConfig};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn load(sets: &[&str]) -> Result<config::RobotConfig, config::ConfigErrors> {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    config::load_with_overrides(&repo("robots/cartpole.toml"), Integrity::Verify, &sets)
}

#[test]
fn overrides_change_fields_and_are_validated_like_the_file() {
    let cfg = load(&["plant.seed=11", "safety.max[0]=12.5", "safety.min=[-12.5]"])
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(cfg.plant, PlantConfig::Sim { seed: 11, .. }));
    assert_eq!(cfg.safety.max, vec![12.5]);
    assert_eq!(cfg.safety.min, vec![-12.5]);
    let limited = load(&["safety.max_accel=[50.0]", "safety.max_jerk=[900.0]"])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(limited.safety.max_accel, vec![50.0]);
    assert_eq!(limited.safety.max_jerk, vec![900.0]);
    // The effective text is what a recording embeds; it parses to the same.
    let again = config::parse(&cfg.source_path, &cfg.source_text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again, cfg);

    for (set, field, says) in [
        (
            "safety.max_delta[0]=0.0",
            "safety.max_delta[0]",
            "must be > 0",
        ),
        ("plant.typo=1", "plant.typo", "unknown key"),
        ("rate_hz=fast", "rate_hz", "expected"),
        ("safety.max[3]=1.0", "safety.max[3]", "past the end"),
        ("plant.seed", "", "key=value"),
        ("safety.max=[1.0,", "safety.max", "not a TOML value"),
        (
            "safety.max_missed_cycles=-3",
            "safety.max_missed_cycles",
            "must be 0..=1000000",
        ),
        (
            "safety.max_accel=[0.0]",
            "safety.max_accel[0]",
            "must be > 0",
        ),
        (
            "safety.max_jerk=[5.0]",
            "safety.max_jerk",
            "needs safety.max_accel",
        ),
    ] {
        let errs = load(&[set]).expect_err(set);
        let p = &errs.problems[0];
        assert_eq!(p.field, field, "{set}: {errs}");
        assert!(p.to_string().contains(says), "{set}: {errs}");
        assert_eq!(p.line, None, "{set}: an override has no line in the file");
    }

    // A problem the override causes elsewhere keeps its line in the file:
    // two safety limits for a one-actuator robot.
    let errs = load(&["safety.min=[-1.0, -1.0]", "safety.max=[1.0, 1.0]"]).expect_err("length");
    assert!(errs.to_string().contains("--set"), "{errs}");
}

#[test]
fn check_and_run_take_set() {
    let cfg = repo("robots/cartpole.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_ganglion"))
        .args(["check", "--set", "safety.max_delta[0]=-1"])
        .arg(&cfg)
        .output()
        .expect("run ganglion");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains("safety.max_delta[0]: must be > 0")
            && stdout.contains("(set by --set safety.max_delta[0]=-1)"),
        "{stdout}"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let rec = dir.path().join("set.mcap");
    let out = Command::new(env!("CARGO_BIN_EXE_ganglion"))
        .args([
            "run",
            "--fast",
            "--ticks",
            "20",
            "--json",
            "--set",
            "plant.seed=3",
        ])
        .args([
            "--set",
            "safety.max=[12.5]",
            "--set",
            "safety.min=[-12.5]",
            "--config",
        ])
        .arg(&cfg)
        .arg("--record")
        .arg(&rec)
        .output()
        .expect("run ganglion");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let recording = ganglion::record::read_recording(&rec).expect("read the recording");
    let text = recording.metadata.get("config_text").expect("config_text");
    let recorded = config::parse(&cfg, text).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(recorded.plant, PlantConfig::Sim { seed: 3, .. }));
    assert_eq!(recorded.safety.max, vec![12.5]);
}
