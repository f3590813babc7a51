//! `ganglion urdf inspect --json` on three URDFs, each checked against what
//! its file says (joint types, parents, axes, limits; link masses), and a
//! broken file reported at its line and element.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn inspect(file: &Path) -> (bool, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ganglion"))
        .args(["urdf", "inspect", "--json"])
        .arg(file)
        .output()
        .expect("run ganglion");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let v = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (out.status.success(), v, stderr)
}

/// The joint as `inspect --json` writes it, without the origin.
fn joint(v: &Value) -> Value {
    let mut j = v.clone();
    if let Some(o) = j.as_object_mut() {
        o.remove("origin");
    }
    j
}

fn masses(v: &Value) -> Vec<(String, f64)> {
    v["links"]
        .as_array()
        .expect("links")
        .iter()
        .map(|l| {
            (
                l["name"].as_str().unwrap_or("").to_string(),
                l["mass"].as_f64().unwrap_or(-1.0),
            )
        })
        .collect()
}

#[test]
fn inspect_pendulum() {
    let (ok, v, err) = inspect(&repo("robots/pendulum.urdf"));
    assert!(ok, "{err}");
    assert_eq!(v["robot"], "pendulum");
    assert_eq!(
        masses(&v),
        [("stand".to_string(), 5.0), ("bob".to_string(), 1.0)]
    );
    let joints = v["joints"].as_array().expect("joints");
    assert_eq!(joints.len(), 1);
    assert_eq!(
        joint(&joints[0]),
        json!({"name": "hinge", "type": "revolute", "parent": "stand", "child": "bob",
               "axis": [0.0, 1.0, 0.0], "lower": -3.1, "upper": 3.1, "velocity": 20.0, "effort": 5.0})
    );
    assert_eq!(joints[0]["origin"], json!([0.0, 0.0, 1.0]));
}

#[test]
fn inspect_gantry_with_prismatic_continuous_and_fixed_joints() {
    let (ok, v, err) = inspect(&repo("tests/fixtures/urdf/gantry.urdf"));
    assert!(ok, "{err}");
    let joints: Vec<Value> = v["joints"]
        .as_array()
        .expect("joints")
        .iter()
        .map(joint)
        .collect();
    let by_name = |n: &str| joints.iter().find(|j| j["name"] == n).cloned().expect(n);
    assert_eq!(
        by_name("slide"),
        json!({"name": "slide", "type": "prismatic", "parent": "rail", "child": "carriage",
               "axis": [1.0, 0.0, 0.0], "lower": -0.5, "upper": 0.5, "velocity": 0.8, "effort": 120.0})
    );
    assert_eq!(
        by_name("spindle"),
        json!({"name": "spindle", "type": "continuous", "parent": "carriage", "child": "rotor",
               "axis": [0.0, 0.0, 1.0], "lower": null, "upper": null, "velocity": 10.0, "effort": 2.5})
    );
    assert_eq!(
        by_name("plate_mount"),
        json!({"name": "plate_mount", "type": "fixed", "parent": "rotor", "child": "plate",
               "axis": [0.0, 0.0, 0.0], "lower": null, "upper": null, "velocity": null, "effort": null})
    );
    assert_eq!(v["actuated"], json!(["slide", "spindle"]));
    let m = masses(&v);
    assert_eq!(m.len(), 4);
    assert!(m.contains(&("rail".to_string(), 10.0)) && m.contains(&("plate".to_string(), 0.2)));
}

#[test]
fn inspect_tabletop_arm() {
    let (ok, v, err) = inspect(&repo("robots/tabletop.urdf"));
    assert!(ok, "{err}");
    assert_eq!(v["actuated"], json!(["base", "shoulder", "elbow", "wrist"]));
    let joints = v["joints"].as_array().expect("joints");
    let limits: Vec<(String, Value, Value, Value)> = joints
        .iter()
        .map(|j| {
            (
                j["name"].as_str().unwrap_or("").to_string(),
                j["type"].clone(),
                j["lower"].clone(),
                j["upper"].clone(),
            )
        })
        .collect();
    let want = [
        ("base", "revolute", json!(-2.6), json!(2.6)),
        ("shoulder", "revolute", json!(-0.5), json!(2.2)),
        ("elbow", "revolute", json!(-2.8), json!(0.0)),
        ("wrist", "revolute", json!(-3.0), json!(1.0)),
        ("cup_mount", "fixed", Value::Null, Value::Null),
    ];
    for (n, t, lo, hi) in want {
        assert!(
            limits.contains(&(n.to_string(), json!(t), lo.clone(), hi.clone())),
            "{n}: {limits:?}"
        );
    }
    let pitch = joints.iter().find(|j| j["name"] == "elbow").expect("elbow");
    assert_eq!(pitch["axis"], json!([0.0, -1.0, 0.0]));
    assert_eq!(pitch["origin"], json!([0.32, 0.0, 0.0]));
    let m: f64 = masses(&v).iter().map(|(_, m)| m).sum();
    assert!((m - 2.5).abs() < 1e-9, "total mass {m}");
}

#[test]
fn inspect_reports_a_broken_file_at_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(repo("robots/pendulum.urdf")).expect("read");
    let bad = dir.path().join("bad.urdf");
    std::fs::write(
        &bad,
        text.replace("<child link=\"bob\"/>", "<child link=\"rod\"/>"),
    )
    .expect("write");
    let (ok, _, err) = inspect(&bad);
    assert!(!ok);
    let line = text
        .lines()
        .position(|l| l.contains("<joint name=\"hinge\""))
        .expect("hinge")
        + 1;
    assert!(
        err.contains(&format!(
            "bad.urdf:{line}: joint \"hinge\": child link \"rod\" is not in the file"
        )),
        "{err}"
    );
    let (ok, _, err) = inspect(&dir.path().join("missing.urdf"));
    assert!(!ok && err.contains("cannot read"), "{err}");
}
