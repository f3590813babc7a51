//! Hardware-in-the-loop over UDP: the firmware node logic on the host against
//! the rapier CartPole, driven by the same ControlLoop, policy and safety
//! filter as pure simulation (robots/cartpole-hil.toml). Lockstep, so the
//! runs are deterministic.

use crate::common;
use std::path::PathBuf;
use std::time::Duration;

use ganglion::config;
use ganglion::io::hil::{NodeHandle, at_address, returns};
use ganglion::io::{LinkOptions, LinkPlant, NodeClock, NodeOptions};
use ganglion_firmware::SafeMode;

fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

pub fn host_node() -> NodeOptions {
    common::lockstep_node(500)
}

#[test]
fn shipped_policy_balances_over_udp_like_pure_sim() {
    let node = NodeHandle::spawn(host_node()).unwrap();
    let hil = config::load(&repo("robots/cartpole-hil.toml")).unwrap_or_else(|e| panic!("{e}"));
    let hil = at_address(&hil, node.addr).unwrap();
    let sim = config::load(&repo("robots/cartpole.toml")).unwrap_or_else(|e| panic!("{e}"));
    let over_link = returns(&hil, 100, 3, 600).unwrap();
    let pure = returns(&sim, 100, 3, 600).unwrap();
    assert_eq!(over_link, vec![500.0; 3], "pure sim: {pure:?}");
    assert_eq!(pure, vec![500.0; 3]);
    let summary = node.stop().unwrap();
    assert_eq!(summary.episodes, 3);
    assert_eq!(summary.steps, 1500);
    // 20 node ticks (1 kHz) per 50 Hz control step.
    assert_eq!(summary.ticks, 1500 * 20);
    // The first command of each episode comes a step after the reset; the
    // watchdog (60 ms) never fired.
    assert!(
        summary.faults.iter().all(|f| f.name != "watchdog"),
        "{:?}",
        summary.faults
    );
}

#[test]
fn no_node_is_a_clear_error() {
    // A port nobody listens on.
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    drop(sock);
    let err = LinkPlant::connect(LinkOptions {
        endpoint: ganglion::io::LinkEndpoint::Udp(addr),
        joints: "sim:cartpole".into(),
        lockstep: true,
        watchdog_us: 60_000,
        publish_period_us: 20_000,
        safe_mode: SafeMode::Brake,
        timeout: Duration::from_millis(300),
    })
    .err()
    .expect("no node");
    let msg = format!("{err:#}");
    assert!(msg.contains("no joint node answered"), "{msg}");
    assert!(msg.contains("ganglion node --link udp:"), "{msg}");
}

/// The commands as a user runs them: `ganglion node` in one process,
/// `ganglion run --config` (the HIL config pointed at it) in another.
#[test]
fn node_and_run_commands_end_to_end() {
    use std::process::{Command, Stdio};
    let exe = env!("CARGO_BIN_EXE_ganglion");
    // A free port (the node binds it right after).
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let link = format!("udp:127.0.0.1:{port}");
    let node = Command::new(exe)
        .args([
            "node",
            "--link",
            &link,
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
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("hil.toml");
    let text = std::fs::read_to_string(repo("robots/cartpole-hil.toml"))
        .unwrap()
        .replace("127.0.0.1:9000", &format!("127.0.0.1:{port}"))
        .replace("../models/", &format!("{}/", repo("models").display()));
    std::fs::write(&cfg, text).unwrap();
    let rec = dir.path().join("hil.mcap");
    let out = Command::new(exe)
        .args(["run", "--config"])
        .arg(&cfg)
        .args(["--ticks", "100", "--json", "--record"])
        .arg(&rec)
        .output()
        .unwrap();
    // SIGINT: the node stops and prints its summary.
    // SAFETY: kill(2) on the child this test started.
    unsafe { libc::kill(node.id() as i32, libc::SIGINT) };
    let node_out = node.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ticks"], 100);
    assert_eq!(report["plant"], "link:udp");
    assert_eq!(report["final_state"], "normal");
    assert_eq!(report["safety_events"], serde_json::json!({}));
    assert_eq!(report["recording"]["ticks"], 100);
    assert!(
        node_out.status.success(),
        "{}",
        String::from_utf8_lossy(&node_out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&node_out.stdout).unwrap();
    assert_eq!(summary["steps"], 100);
    assert_eq!(summary["commands_delivered"], 100);
}

/// Wall clock: the node ticks on its own at 1 kHz and the loop runs on the
/// wall clock (`clock = "wall"`). Checks only that commands flow and the node
/// applies them, never how fast anything ran.
#[test]
fn wall_clock_node_runs_the_loop() {
    use ganglion::assemble::{build_plant, clock_mode, load_any_policy};
    use ganglion::runtime::{ClockMode, ControlLoop, RunLimit};
    let node = NodeHandle::spawn(NodeOptions {
        clock: NodeClock::Realtime,
        ..host_node()
    })
    .unwrap();
    let text = std::fs::read_to_string(repo("robots/cartpole-hil.toml"))
        .unwrap()
        .replace("clock = \"lockstep\"", "clock = \"wall\"");
    let cfg = config::parse(&repo("robots/cartpole-hil-wall.toml"), &text).unwrap();
    let cfg = at_address(&cfg, node.addr).unwrap();
    assert_eq!(clock_mode(&cfg.plant, false), ClockMode::Wall);
    let plant = build_plant(&cfg.plant).unwrap();
    let policy = load_any_policy(&cfg).unwrap();
    let mut lp = ControlLoop::new(&cfg, plant, policy, ClockMode::Wall, None).unwrap();
    lp.run(RunLimit {
        ticks: Some(40),
        ..Default::default()
    });
    assert_eq!(lp.ticks(), 40);
    let st = lp.last_record().sensors[4] as u16;
    assert_ne!(
        st & ganglion_firmware::status::ACTIVE,
        0,
        "node status {st:#x}"
    );
    drop(lp);
    let s = node.stop().unwrap();
    assert!(s.commands_delivered >= 30, "{}", s.commands_delivered);
    assert!(s.ticks > 0 && s.steps == 0);
}

/// Acceptance: the mean return over 20 episodes over UDP is within 5% of pure
/// simulation (`ganglion bench hil` measures the same, with qemu too).
#[test]
#[ignore = "20 episodes each way: about a minute; run with --ignored"]
fn twenty_episodes_within_five_percent_of_pure_sim() {
    let node = NodeHandle::spawn(host_node()).unwrap();
    let hil = config::load(&repo("robots/cartpole-hil.toml")).unwrap_or_else(|e| panic!("{e}"));
    let hil = at_address(&hil, node.addr).unwrap();
    let sim = config::load(&repo("robots/cartpole.toml")).unwrap_or_else(|e| panic!("{e}"));
    let mean = |v: Vec<f64>| v.iter().sum::<f64>() / v.len() as f64;
    let over_link = mean(returns(&hil, 0, 20, 600).unwrap());
    let pure = mean(returns(&sim, 0, 20, 600).unwrap());
    assert!(
        (over_link - pure).abs() <= 0.05 * pure,
        "{over_link} vs {pure}"
    );
}
