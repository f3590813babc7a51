//! Robot configs: the shipped `robots/cartpole.toml` loads; every broken
//! fixture in `tests/fixtures/configs/` is reported at the line and field its
//! first-line `# expect: LINE FIELD` comment names; `ganglion check` exits 0 on
//! a good file and 2 on a bad one.

use std::path::{Path, PathBuf};
use std::process::Command;

use ganglion::config::{self, ActionMapping, Pace, PlantConfig, PolicyKind, SafeAction};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

#[test]
fn shipped_cartpole_config_loads() {
    let path = repo("robots/cartpole.toml");
    let cfg = config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.robot, "cartpole");
    assert_eq!(cfg.rate_hz, 50.0);
    assert!((cfg.period_s() - 0.02).abs() < 1e-12);
    assert_eq!(
        cfg.plant,
        PlantConfig::Sim {
            kind: "sim:cartpole".into(),
            seed: 7,
            pace: Pace::Realtime,
            urdf: None,
            drive: None,
        }
    );
    assert_eq!(cfg.policy.kind, PolicyKind::Mlp);
    assert!(cfg.policy.path.ends_with("models/cartpole-ppo.onnx"));
    assert!(cfg.policy.path.is_file());
    assert!(cfg.policy.card.ends_with("models/cartpole-ppo.card.toml"));
    assert_eq!(cfg.observation.fields.len(), 4);
    assert_eq!(cfg.observation.fields[2], "pole.angle");
    assert_eq!(cfg.observation.scale, vec![1.0; 4]);
    assert_eq!(cfg.action.actuators, vec!["cart.force".to_string()]);
    assert_eq!(
        cfg.action.mapping,
        ActionMapping::Discrete {
            table: vec![vec![-10.0], vec![10.0]]
        }
    );
    assert_eq!(cfg.safety.max_delta, vec![20.0]);
    assert!((cfg.safety.stale_after_s - 0.1).abs() < 1e-12);
    assert_eq!(cfg.safety.safe_action, SafeAction::Zero);
    assert_eq!(cfg.safety.estop_action, SafeAction::Zero);
    assert!(
        cfg.record
            .path
            .as_deref()
            .is_some_and(|p| p.ends_with("runs/cartpole.mcap"))
    );
    assert_eq!(cfg.record.ring_capacity, 4096);
    assert!(!cfg.realtime.enabled);
    assert_eq!(cfg.clock.spin_us, 200);
    assert_eq!(cfg.source_path, path);
    assert!(cfg.source_text.contains("[safety]"));

    // The same text, parsed as if embedded in a recording, gives the same config.
    let again = config::parse(&path, &cfg.source_text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again, cfg);
}

#[test]
fn minimal_config_gets_defaults() {
    let text = std::fs::read_to_string(repo("robots/cartpole.toml")).expect("shipped config");
    // Drop the optional sections and keys.
    let mut minimal = String::new();
    let mut skip = false;
    for line in text.lines() {
        if line.starts_with('[') {
            skip = matches!(
                line,
                "[record]" | "[realtime]" | "[clock]" | "[safety.poses]"
            );
        }
        let optional = ["seed", "pace", "offset", "scale"]
            .iter()
            .any(|k| line.starts_with(&format!("{k} =")));
        if !skip && !optional {
            minimal.push_str(line);
            minimal.push('\n');
        }
    }
    let cfg = config::parse(&repo("robots/minimal.toml"), &minimal)
        .unwrap_or_else(|e| panic!("{e}\n{minimal}"));
    assert_eq!(
        cfg.plant,
        PlantConfig::Sim {
            kind: "sim:cartpole".into(),
            seed: 0,
            pace: Pace::Realtime,
            urdf: None,
            drive: None,
        }
    );
    assert_eq!(cfg.observation.offset, vec![0.0; 4]);
    assert_eq!(cfg.observation.scale, vec![1.0; 4]);
    assert_eq!(cfg.record, config::RecordConfig::default());
    assert_eq!(cfg.realtime, config::RealtimeConfig::default());
    assert_eq!(cfg.clock, config::ClockConfig::default());
}

/// `(line, field)` from a fixture's `# expect: LINE FIELD` first line; LINE
/// is `-` when the problem has no line, FIELD is absent for syntax errors.
fn expectation(path: &Path, text: &str) -> (Option<usize>, String) {
    let first = text.lines().next().unwrap_or("");
    let rest = first.strip_prefix("# expect: ").unwrap_or_else(|| {
        panic!(
            "{}: first line must be `# expect: LINE FIELD`",
            path.display()
        )
    });
    let mut parts = rest.split_whitespace();
    let line = parts.next().unwrap_or("-");
    let line = (line != "-").then(|| line.parse().expect("line number"));
    (line, parts.next().unwrap_or("").to_string())
}

#[test]
fn every_broken_fixture_is_reported_at_its_line_and_field() {
    let dir = repo("tests/fixtures/configs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixture dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 12, "only {} fixtures", files.len());
    for file in &files {
        let text = std::fs::read_to_string(file).expect("fixture");
        let (line, field) = expectation(file, &text);
        let errs = match config::load(file) {
            Ok(_) => panic!("{} loaded but should not", file.display()),
            Err(e) => e,
        };
        assert!(!errs.problems.is_empty());
        let mut want = file.display().to_string();
        if let Some(line) = line {
            want.push_str(&format!(":{line}"));
        }
        want.push(':');
        if !field.is_empty() {
            want.push_str(&format!(" {field}:"));
        }
        let shown = errs.to_string();
        assert!(
            shown.lines().any(|l| l.starts_with(&want)),
            "{}: expected a problem starting `{want}`, got:\n{shown}",
            file.display()
        );
        assert_eq!(shown.lines().count(), errs.problems.len());
        // The line of a field problem is where `field_line` finds that field.
        if let (Some(line), false) = (line, field.is_empty())
            && let Some(found) = config::field_line(&text, &field)
        {
            assert_eq!(found, line, "{}: field_line({field})", file.display());
        }
        // The same text through `parse` gives the same problems.
        let again = config::parse(file, &text).expect_err("parse must fail too");
        assert_eq!(again, errs);
    }
}

#[test]
fn garbage_input_is_an_error_not_a_panic() {
    let path = Path::new("garbage.toml");
    let deep = format!("a = {}1{}", "[".repeat(100_000), "]".repeat(100_000));
    let inputs = [
        String::new(),
        "\u{0}\u{1}\u{2}".to_string(),
        "[".to_string(),
        "robot = 1\nrate_hz = nan\n[plant]\nseed = -1\nkind = []\n".to_string(),
        "rate_hz = 1e400\n[clock]\nspin_us = 99999999999999999999\n".to_string(),
        "[safety]\nmin = [\"a\", {}, [], 1e39]\nmax = 3\n[safety.poses]\n\"\" = 1".to_string(),
        "[action]\ndiscrete = [1, [2], [[3]]]\nactuators = [1, \"cart.force\", \"cart.force\"]"
            .to_string(),
        "plant = \"sim:cartpole\"\npolicy.path = \"/\"\npolicy.card = \"\"".to_string(),
        deep,
    ];
    for text in &inputs {
        let errs = config::parse(path, text).expect_err("garbage must not load");
        assert!(!errs.problems.is_empty());
        let _ = errs.to_string();
    }
    let missing = config::load(Path::new("/nonexistent/robot.toml")).expect_err("no file");
    assert!(
        missing
            .to_string()
            .starts_with("/nonexistent/robot.toml: cannot read")
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let binary = dir.path().join("binary.toml");
    std::fs::write(&binary, [0xff, 0xfe, 0x00, 0x80]).expect("write");
    assert!(config::load(&binary).is_err());
}

#[test]
fn check_command_exit_codes_and_output() {
    let good = repo("robots/cartpole.toml");
    let bad = repo("tests/fixtures/configs/max_delta_zero.toml");
    let run = |args: &[&Path], json: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ganglion"));
        cmd.arg("check");
        if json {
            cmd.arg("--json");
        }
        cmd.args(args).output().expect("run ganglion")
    };

    let out = run(&[&good], false);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "{}: ok (robot cartpole, plant sim:cartpole, 50 Hz, policy ../models/cartpole-ppo.onnx)",
            good.display()
        )),
        "{stdout}"
    );

    let out = run(&[&good, &bad], false);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(stdout.contains(": ok ("), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "{}:23: safety.max_delta[0]: must be > 0",
            bad.display()
        )),
        "{stdout}"
    );
    assert!(stderr.contains("1 problem(s) in"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let out = run(&[&good, &bad], true);
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let objects: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(objects.len(), 2, "{stdout}");
    assert_eq!(objects[0]["ok"], true);
    assert_eq!(objects[0]["problems"].as_array().map(Vec::len), Some(0));
    assert_eq!(objects[1]["ok"], false);
    assert_eq!(objects[1]["file"], bad.display().to_string());
    let problem = &objects[1]["problems"][0];
    assert_eq!(problem["line"], 23);
    assert_eq!(problem["field"], "safety.max_delta[0]");
    assert!(
        problem["message"]
            .as_str()
            .is_some_and(|m| m.contains("> 0"))
    );

    let out = run(&[Path::new("/nonexistent/robot.toml")], false);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn continuous_card_scale_and_poses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let card = std::fs::read_to_string(repo("models/cartpole-ppo.card.toml")).expect("card");
    let card = card.replace(
        "kind = \"discrete\"\nn = 2",
        "kind = \"continuous\"\ndim = 1",
    );
    assert!(card.contains("dim = 1"));
    std::fs::write(dir.path().join("cont.card.toml"), card).expect("write card");
    let model = repo("models/cartpole-ppo.onnx");
    let text = format!(
        r#"robot = "cont"
rate_hz = 100.5
[plant]
kind = "sim:cartpole"
pace = "fast"
[policy]
path = {model:?}
kind = "mlp"
card = "cont.card.toml"
[observation]
fields = ["pole.angle", "pole.angular_velocity", "cart.position", "cart.velocity"]
[action]
actuators = ["cart.force"]
scale = [10.0]
offset = [0.5]
[safety]
min = [-10.0]
max = [10.0]
max_delta = [5]
stale_after_ms = 2.5
safe_action = "center"
estop = "hold"
[safety.poses]
center = [1.0]
[realtime]
cpu = 3
"#
    );
    let path = dir.path().join("cont.toml");
    let cfg = config::parse(&path, &text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        cfg.action.mapping,
        ActionMapping::Continuous {
            scale: vec![10.0],
            offset: vec![0.5]
        }
    );
    assert_eq!(cfg.policy.card, dir.path().join("cont.card.toml"));
    assert_eq!(
        cfg.safety.safe_action,
        SafeAction::Pose {
            name: "center".into(),
            values: vec![1.0]
        }
    );
    assert_eq!(cfg.safety.estop_action, SafeAction::HoldLast);
    assert!((cfg.safety.stale_after_s - 0.0025).abs() < 1e-12);
    assert_eq!(cfg.realtime.cpu, Some(3));
    assert_eq!(
        cfg.plant,
        PlantConfig::Sim {
            kind: "sim:cartpole".into(),
            seed: 0,
            pace: Pace::Fast,
            urdf: None,
            drive: None,
        }
    );

    // The same file with a discrete table instead is one problem, at its line.
    let discrete = text.replace(
        "scale = [10.0]\noffset = [0.5]",
        "discrete = [[-1.0], [1.0]]",
    );
    let errs = config::parse(&path, &discrete).expect_err("card is continuous");
    assert_eq!(errs.problems.len(), 1, "{errs}");
    assert_eq!(errs.problems[0].field, "action.discrete");
    assert_eq!(errs.problems[0].line, Some(14));
    assert!(errs.problems[0].message.contains("continuous"), "{errs}");
}

/// Every robot file the project ships passes `ganglion check`.
#[test]
fn every_shipped_robot_file_passes_check() {
    let mut files: Vec<_> = std::fs::read_dir(repo("robots"))
        .expect("robots/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 7, "{files:?}");
    let out = Command::new(env!("CARGO_BIN_EXE_ganglion"))
        .arg("check")
        .args(&files)
        .output()
        .expect("run ganglion");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.matches(": ok (").count(), files.len(), "{stdout}");
    assert!(stdout.contains("plant link:serial"), "{stdout}");
}

/// `check` times the policy against the period: the Decision Transformer
/// (~1 ms per call) at 10 kHz is a warning with the numbers; the same file at
/// its own 50 Hz is not; `--timing-calls 0` skips the timing.
#[test]
fn check_warns_when_the_policy_is_slower_than_its_period() {
    let dt = [
        "--set",
        "policy.path=\"../models/reacher-dt.onnx\"",
        "--set",
        "policy.kind=\"decision-transformer\"",
        "--set",
        "policy.target_return=-6.0",
    ];
    let run = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_ganglion"))
            .arg("check")
            .arg(repo("robots/reacher.toml"))
            .args(dt)
            .args(extra)
            .output()
            .expect("run ganglion");
        assert_eq!(out.status.code(), Some(0), "a warning is not a failure");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let fast = run(&["--set", "rate_hz=10000", "--set", "clock.spin_us=0"]);
    assert!(fast.contains("warning: the policy takes"), "{fast}");
    assert!(
        fast.contains("longer than the 0.10 ms period at 10000 Hz"),
        "{fast}"
    );
    let own = run(&[]);
    assert!(!own.contains("warning"), "{own}");
    let skipped = run(&[
        "--set",
        "rate_hz=10000",
        "--set",
        "clock.spin_us=0",
        "--timing-calls",
        "0",
    ]);
    assert!(!skipped.contains("warning"), "{skipped}");
    let json = Command::new(env!("CARGO_BIN_EXE_ganglion"))
        .args([
            "check",
            "--json",
            "--set",
            "rate_hz=10000",
            "--set",
            "clock.spin_us=0",
        ])
        .arg(repo("robots/cartpole.toml"))
        .output()
        .expect("run ganglion");
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert!(v["policy_timing"]["p99_us"].as_f64().is_some(), "{v}");
    assert_eq!(v["policy_timing"]["period_us"], 100.0);
}
