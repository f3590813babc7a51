//! The wire protocol over a serial line (`kind = "link:serial"`): the node
//! process holds the master of a pseudo-terminal and the controller opens
//! its path as a serial device (raw termios), as it would `/dev/ttyACM0`.
//! The shipped CartPole policy must score as over UDP and in pure
//! simulation; the link-fault drills over the line are in `faults.rs`.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use ganglion::assemble::build_plant;
use ganglion::config::{self, PlantConfig};
use ganglion::io::hil::{NodeHandle, at_endpoint, returns};
use ganglion::io::{LinkEndpoint, NodeLink, NodeOptions};

use crate::common;

fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn serial_config() -> config::RobotConfig {
    config::load(&repo("robots/cartpole-serial.toml")).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn shipped_serial_config_loads() {
    let cfg = serial_config();
    let PlantConfig::Link { endpoint, .. } = &cfg.plant else {
        panic!("{:?}", cfg.plant)
    };
    assert_eq!(
        endpoint,
        &LinkEndpoint::Serial {
            device: "/dev/ttyACM0".into(),
            baud: 1_000_000
        }
    );
}

#[test]
fn shipped_policy_balances_over_a_serial_line_like_pure_sim() {
    let node = NodeHandle::spawn(NodeOptions {
        link: NodeLink::Pty,
        ..common::lockstep_node(500)
    })
    .unwrap();
    assert!(
        matches!(node.endpoint, LinkEndpoint::Serial { .. }),
        "{}",
        node.endpoint
    );
    let over_serial = returns(
        &at_endpoint(&serial_config(), &node.endpoint).unwrap(),
        100,
        3,
        600,
    )
    .unwrap();
    let pure = returns(&common::cartpole_config(), 100, 3, 600).unwrap();
    assert_eq!(over_serial, vec![500.0; 3], "pure sim: {pure:?}");
    assert_eq!(pure, vec![500.0; 3]);
    let endpoint = node.endpoint.to_string();
    let s = node.stop().unwrap();
    assert_eq!((s.episodes, s.steps, s.ticks), (3, 1500, 1500 * 20));
    assert!(
        s.faults
            .iter()
            .all(|f| f.name != "watchdog" && f.name != "bad_frame"),
        "{:?}",
        s.faults
    );
    assert_eq!(s.peer.controller.as_deref(), Some(endpoint.as_str()));
}

/// The commands as a user runs them: `ganglion node --link serial:pty` in
/// one process, `ganglion run --config robots/cartpole-serial.toml --set
/// plant.device=…` (the path the node printed) in another: a whole episode,
/// 500.0.
#[test]
fn node_and_run_commands_over_a_pty() {
    let exe = env!("CARGO_BIN_EXE_ganglion");
    let mut node = Command::new(exe)
        .args([
            "node",
            "--link",
            "serial:pty",
            "--plant",
            "sim:cartpole",
            "--seconds",
            "60",
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = node.stderr.take().unwrap();
    let mut lines = std::io::BufReader::new(stderr).lines();
    let announced = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.starts_with("node listening on serial:"))
        .expect("the node announces its pty");
    // "node listening on serial:/dev/pts/N@1000000; a controller opens /dev/pts/N (plant.device)"
    let device = announced
        .split_whitespace()
        .nth(3)
        .and_then(|w| w.strip_prefix("serial:"))
        .and_then(|w| w.split('@').next())
        .unwrap_or_else(|| panic!("{announced}"))
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("serial.mcap");
    let out = Command::new(exe)
        .args(["run", "--config"])
        .arg(repo("robots/cartpole-serial.toml"))
        .args(["--set", &format!("plant.device={device}")])
        .args(["--ticks", "500", "--json", "--record"])
        .arg(&rec)
        .output()
        .unwrap();
    // SAFETY: kill(2) on the child this test started.
    unsafe { libc::kill(node.id() as i32, libc::SIGINT) };
    let node_out = node.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ticks"], 500);
    assert_eq!(report["plant"], "link:serial");
    // A whole CartPole-v1 episode, as over UDP and in pure simulation.
    assert_eq!(report["episode_return"], 500.0, "{report}");
    assert_eq!(report["final_state"], "normal");
    assert_eq!(report["safety_events"], serde_json::json!({}));
    assert_eq!(report["recording"]["ticks"], 500);
    assert!(node_out.status.success());
    let summary: serde_json::Value = serde_json::from_slice(&node_out.stdout).unwrap();
    assert_eq!(summary["steps"], 500);
    assert_eq!(summary["commands_delivered"], 500);
}

#[test]
fn a_missing_device_is_a_clear_error() {
    let cfg = at_endpoint(
        &serial_config(),
        &LinkEndpoint::Serial {
            device: "/dev/ganglion-no-such-tty".into(),
            baud: 1_000_000,
        },
    )
    .unwrap();
    let msg = format!("{:#}", build_plant(&cfg.plant).err().expect("no device"));
    assert!(msg.contains("/dev/ganglion-no-such-tty"), "{msg}");
    assert!(msg.contains("no such device"), "{msg}");
}

/// A serial device where nobody answers: the handshake times out, naming
/// the device, instead of hanging.
#[test]
fn a_silent_line_is_a_clear_error() {
    let pty = ganglion::io::serial::Pty::open().unwrap();
    let err = ganglion::io::LinkPlant::connect(ganglion::io::LinkOptions {
        endpoint: LinkEndpoint::Serial {
            device: pty.path.clone(),
            baud: 1_000_000,
        },
        joints: "sim:cartpole".into(),
        lockstep: true,
        watchdog_us: 60_000,
        publish_period_us: 20_000,
        safe_mode: ganglion_firmware::SafeMode::Brake,
        timeout: std::time::Duration::from_millis(300),
    })
    .err()
    .expect("nobody answers");
    let msg = format!("{err:#}");
    assert!(msg.contains("no joint node answered"), "{msg}");
    assert!(msg.contains(&pty.path.display().to_string()), "{msg}");
}

#[test]
fn broken_serial_fields_are_reported() {
    let text = std::fs::read_to_string(repo("robots/cartpole-serial.toml")).unwrap();
    for (from, to, field, says) in [
        (
            "baud = 1000000",
            "baud = 1234",
            "plant.baud",
            "baud 1234 is not supported",
        ),
        ("device = \"/dev/ttyACM0\"", "", "plant.device", "missing"),
        (
            "device = \"/dev/ttyACM0\"",
            "device = \"/dev/ttyACM0\"\naddress = \"127.0.0.1:9000\"",
            "plant.address",
            "link:serial takes `device`",
        ),
    ] {
        let broken = text.replacen(from, to, 1);
        let p = crate::common::problem_at(&repo("robots/broken-serial.toml"), &broken, field, to);
        assert!(p.message.contains(says), "{to}: {}", p.message);
        assert!(p.line.is_some() || field == "plant.device", "{to}: no line");
    }
}
