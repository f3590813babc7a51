//! The `ganglion` binary end to end: train → files on disk → eval --json, and
//! bad input → a clear error and exit code 2, not a panic.

use std::process::Command;

fn ganglion() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ganglion"))
}

#[test]
fn train_then_eval_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tiny.onnx");
    let st = ganglion()
        .args([
            "train", "cartpole", "--algo", "ppo", "--seed", "5", "--steps", "2048",
        ])
        .args([
            "--eval-every",
            "1024",
            "--eval-episodes",
            "2",
            "--final-episodes",
            "3",
            "--json",
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    for ext in ["onnx", "critic.onnx", "card.toml", "curve.csv", "curve.png"] {
        let p = out.with_extension(ext);
        assert!(
            p.exists() && std::fs::metadata(&p).unwrap().len() > 0,
            "{}",
            p.display()
        );
    }
    let csv = std::fs::read_to_string(out.with_extension("curve.csv")).unwrap();
    assert!(csv.starts_with("steps,wall_s,train_mean_return,eval_mean_return"));
    assert_eq!(csv.lines().count(), 1 + 2048 / 256);

    let ev = ganglion()
        .args([
            "eval",
            "cartpole",
            "--episodes",
            "4",
            "--seed",
            "2",
            "--json",
            "--policy",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        ev.status.success(),
        "{}",
        String::from_utf8_lossy(&ev.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&ev.stdout).unwrap();
    assert_eq!(v["env"], "cartpole");
    assert_eq!(v["episodes"], 4);
    for key in ["policy", "mean_return", "std_return", "min_return"] {
        assert!(!v[key].is_null(), "missing {key}: {v}");
    }
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.onnx");
    std::fs::write(&junk, b"not onnx").unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "eval".into(),
                "cartpole".into(),
                "--policy".into(),
                junk.display().to_string(),
            ],
            "junk.onnx",
        ),
        (
            vec![
                "eval".into(),
                "moonbase".into(),
                "--policy".into(),
                junk.display().to_string(),
            ],
            "unknown environment `moonbase`",
        ),
        (
            vec![
                "train".into(),
                "cartpole".into(),
                "--algo".into(),
                "sac".into(),
            ],
            "unknown --algo `sac`",
        ),
    ];
    for (args, needle) in cases {
        let out = ganglion().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

/// `render` writes one PNG, colour and depth side by side; a bad scene is a
/// usage error naming it, not a panic.
#[test]
fn render_writes_an_rgbd_png_and_refuses_a_bad_scene() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("frame.png");
    let st = ganglion()
        .args(["render", "--scene", "blocks=red,green; bowls=blue"])
        .args(["--seed", "2", "--width", "64", "--height", "48", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let png = std::fs::read(&out).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // IHDR: width then height, big-endian, right after the signature.
    assert_eq!(
        u32::from_be_bytes([png[16], png[17], png[18], png[19]]),
        128
    );
    assert_eq!(u32::from_be_bytes([png[20], png[21], png[22], png[23]]), 48);

    let bad = ganglion()
        .args(["render", "--scene", "blocks=teal", "--out"])
        .arg(dir.path().join("bad.png"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("teal") && !err.contains("panicked"), "{err}");
}

/// `ganglion bench render --frames 5 --json`: one JSON object with both
/// sides. The PyBullet side is measured where the benchmark Python has
/// pybullet and otherwise skipped with a reason, so this needs no pybullet.
#[test]
fn bench_render_json_has_both_sides_and_skips_a_missing_baseline() {
    let run = |extra: &[&str]| -> serde_json::Value {
        let out = ganglion()
            .args(["bench", "render", "--frames", "5", "--json"])
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let v = run(&[]);
    for key in [
        "bench",
        "scene",
        "width",
        "height",
        "frames",
        "warmup",
        "camera",
        "ganglion",
        "pybullet",
        "fps_ratio_ganglion_over_pybullet",
        "goal_fps_ratio",
    ] {
        assert!(v.get(key).is_some(), "no {key:?} in {v}");
    }
    assert_eq!(v["bench"], "render");
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(128), Some(128))
    );
    let g = &v["ganglion"];
    assert_eq!(g["threads"], 1);
    assert_eq!(g["frames"], 5);
    assert!(g["fps"].as_f64().unwrap() > 0.0, "{g}");
    for k in ["median", "p95", "mean"] {
        assert!(g["ms_per_frame"][k].as_f64().unwrap() > 0.0, "{g}");
    }
    let p = &v["pybullet"];
    if p.get("skipped").is_some() {
        assert!(p["skipped"].as_str().is_some_and(|s| !s.is_empty()), "{p}");
        assert!(v["fps_ratio_ganglion_over_pybullet"].is_null());
    } else {
        assert!(p["fps"].as_f64().unwrap() > 0.0, "{p}");
        assert!(p["ms_per_frame"]["p95"].as_f64().is_some(), "{p}");
        assert!(v["fps_ratio_ganglion_over_pybullet"].as_f64().unwrap() > 0.0);
    }

    // No usable Python: still ganglion's numbers, and why the baseline is missing.
    let v = run(&["--python", "/nonexistent/ganglion-test-python"]);
    assert!(v["ganglion"]["fps"].as_f64().unwrap() > 0.0);
    let why = v["pybullet"]["skipped"].as_str().unwrap();
    assert!(why.contains("failed"), "{why}");
    assert!(v["fps_ratio_ganglion_over_pybullet"].is_null());
    assert!(v["meets_goal"].is_null());
}
