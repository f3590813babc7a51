//! The robot the zenoh tests talk to: `ganglion sim serve` in a process of
//! its own, its JSON events read from stdout, its stderr kept, and the
//! shipped zenoh config pointed at its port.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_ganglion");

/// The shipped zenoh config, pointed at `port`, with absolute model paths.
pub fn config(dir: &Path, port: u16) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("robots/cartpole-zenoh.toml"))
        .expect("robots/cartpole-zenoh.toml")
        .replace("tcp/127.0.0.1:7447", &format!("tcp/127.0.0.1:{port}"))
        .replace("../models/", &format!("{}/models/", root.display()));
    let path = dir.join("cartpole-zenoh.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// A `sim serve` CartPole listening on loopback.
pub struct Robot {
    pub child: Child,
    events: Receiver<Value>,
    /// Everything it has written to stderr so far.
    pub stderr: Arc<Mutex<String>>,
}

impl Robot {
    /// Starts the robot on `port` with a command watchdog of `watchdog_ms`
    /// (it serves for at most 120 s); its first event is `serving`.
    pub fn start(port: u16, watchdog_ms: u64) -> Robot {
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
        let keep = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if let Ok(mut s) = keep.lock() {
                    s.push_str(&line);
                    s.push('\n');
                }
            }
        });
        Robot {
            child,
            events: rx,
            stderr,
        }
    }

    /// The next event named `name` (others are skipped).
    pub fn wait_for(&self, name: &str, secs: u64) -> Value {
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
    pub fn stop(&self) -> Value {
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

/// `ganglion top --once --json` against the robot on `port`: the view of
/// the robot called `cartpole`.
pub fn top_view_of_cartpole(port: u16) -> Value {
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
    views
        .as_array()
        .and_then(|a| a.iter().find(|v| v["robot"] == "cartpole"))
        .cloned()
        .unwrap_or_else(|| panic!("no cartpole in {views}"))
}
