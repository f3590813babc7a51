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

use crate::common;
use crate::common::free_port;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_ganglion");

/// One real-time robot at a time (they check real-time behaviour).
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The shipped zenoh config, pointed at `port`, with absolute model paths.
fn config(dir: &Path, port: u16) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("robots/cartpole-zenoh.toml"))
        .expect("robots/cartpole-zenoh.toml")
        .replace("tcp/127.0.0.1:7447", &format!("tcp/127.0.0.1:{port}"))
        .replace("../models/", &format!("{}/models/", root.display()));
    let path = dir.join("cartpole-zenoh.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

struct Robot {
    child: Child,
    events: Receiver<Value>,
    stderr: Arc<Mutex<String>>,
}

impl Robot {
    fn start(port: u16, watchdog_ms: u64) -> Robot {
        let mut child = Command::new(BIN)
            .args(["sim", "serve", "--robot", "cartpole", "--listen"])
            .arg(format!("tcp/127.0.0.1:{port}"))
            .args([
                "--watchdog-ms",
                &watchdog_ms.to_string(),
                "--seconds",
                "120",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sim serve");
        let out = child.stdout.take().expect("stdout");
        let err = child.stderr.take().expect("stderr");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    let _ = tx.send(v);
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        {
            let stderr = stderr.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    if let Ok(mut s) = stderr.lock() {
                        s.push_str(&line);
                        s.push('\n');
                    }
                }
            });
        }
        Robot {
            child,
            events: rx,
            stderr,
        }
    }

    /// The next event named `name` (others are skipped).
    fn wait_for(&self, name: &str, secs: u64) -> Value {
        let until = Instant::now() + Duration::from_secs(secs);
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(v) if v["event"] == name => return v,
                Ok(_) => {}
                Err(e) => panic!("no `{name}` event from sim serve: {e}"),
            }
        }
    }

    /// SIGTERM, then the `exit` event's status.
    fn stop(&self) -> Value {
        // SAFETY: plain kill(2) on our own child.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        self.wait_for("exit", 10)["status"].clone()
    }
}

impl Drop for Robot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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

    let out = Command::new(BIN)
        .args(["top", "--once", "--json", "--seconds", "1.5", "--connect"])
        .arg(format!("tcp/127.0.0.1:{port}"))
        .output()
        .expect("top");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let views: Value = serde_json::from_slice(&out.stdout).expect("top --json");
    let v = views
        .as_array()
        .and_then(|a| a.iter().find(|v| v["robot"] == "cartpole"))
        .unwrap_or_else(|| panic!("no cartpole in {views}"));
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
