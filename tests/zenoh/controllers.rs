//! Who commands a zenoh robot (issue 14, item 9), on loopback with real
//! processes: `ganglion sim serve` (the robot), `ganglion run` (controllers)
//! and `ganglion top`.
//!
//! - two controllers at once: the robot obeys the first, drops and counts
//!   the second's commands and says so (a `controller_refused` event, its
//!   status); the first keeps the pole up, the second's own run reports
//!   `node_fault` (the robot is owned by another);
//! - a robot served without mutual TLS warns on stderr and in its `serving`
//!   event and status, and `ganglion top` flags it.

use super::sim_robot::{BIN, Robot, config, top_view_of_cartpole};
use crate::common::{free_port, serial};

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

fn run(cfg: &Path, seconds: &str) -> Child {
    Command::new(BIN)
        .args(["run", "--config"])
        .arg(cfg)
        .args(["--seconds", seconds, "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run")
}

fn report(child: Child, who: &str) -> Value {
    let out = child.wait_with_output().expect("controller");
    assert!(
        out.status.success(),
        "{who} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{who} --json: {e}"))
}

#[test]
fn a_second_controller_is_refused_and_the_first_keeps_control() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let cfg = config(dir.path(), port);
    // A watchdog long enough that a loaded machine's scheduling hiccup does
    // not hand the robot over; the owner is released only past it.
    let robot = Robot::start(port, 300);
    let serving = robot.wait_for("serving", 30);
    assert_eq!(serving["command_auth"], "none", "{serving}");

    let first = run(&cfg, "8");
    let bound = robot.wait_for("controller_bound", 30);
    let owner = bound["controller"].as_str().expect("owner id").to_string();
    std::thread::sleep(Duration::from_millis(500));
    let second = run(&cfg, "2");
    let refused = robot.wait_for("controller_refused", 30);
    assert_ne!(refused["controller"], owner.as_str(), "{refused}");
    assert!(refused["commands"].as_u64().unwrap_or(0) > 0, "{refused}");

    // The second controller's own run knows it is not in control.
    let second = report(second, "the second controller");
    assert!(
        second["safety_events"]["node_fault"].as_u64().unwrap_or(0) > 0,
        "{second}"
    );
    // The first kept the pole up, undisturbed.
    let first = report(first, "the first controller");
    assert_eq!(first["in_envelope"], true, "pole fell: {first}");
    for e in ["node_fault", "node_estop", "stale_sensor"] {
        assert!(first["safety_events"].get(e).is_none(), "{e}: {first}");
    }

    let status = robot.stop();
    assert_eq!(status["single_controller"], true, "{status}");
    assert_eq!(status["controller"], owner.as_str(), "{status}");
    assert!(
        status["commands_refused"].as_u64().unwrap_or(0) > 0,
        "{status}"
    );
    let err = robot.stderr.lock().map(|s| s.clone()).unwrap_or_default();
    assert!(err.contains("a second controller"), "{err}");
}

#[test]
fn a_robot_without_mutual_tls_warns_and_top_shows_it() {
    let _serial = serial();
    let port = free_port();
    let robot = Robot::start(port, 100);
    let serving = robot.wait_for("serving", 30);
    assert_eq!(serving["command_auth"], "none", "{serving}");
    let warning = serving["warning"].as_str().unwrap_or_default();
    assert!(warning.contains("no mutual TLS"), "{serving}");
    assert!(
        warning.contains(&format!("tcp/127.0.0.1:{port}")),
        "{serving}"
    );

    let v = top_view_of_cartpole(port);
    assert_eq!(v["status"]["command_auth"], "none", "{v}");
    assert!(
        v["warnings"]
            .as_array()
            .is_some_and(|w| w.iter().any(|x| x == "insecure_commands")),
        "{v}"
    );
    let status = robot.stop();
    assert_eq!(status["command_auth"], "none", "{status}");
    // Loudly: on stderr, not only in the JSON.
    let err = robot.stderr.lock().map(|s| s.clone()).unwrap_or_default();
    assert!(
        err.contains("WARNING") && err.contains("no mutual TLS"),
        "stderr: {err}"
    );
}
