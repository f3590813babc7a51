//! Hardware-in-the-loop over UDP: the firmware node logic on the host against
//! the rapier CartPole, driven by the same ControlLoop, policy and safety
//! filter as pure simulation (robots/cartpole-hil.toml). Lockstep, so the
//! runs are deterministic.

use std::path::PathBuf;
use std::time::Duration;

use ganglion::config;
use ganglion::io::hil::{NodeHandle, at_address, returns};
use ganglion::io::{LinkOptions, LinkPlant, NodeBackendKind, NodeClock, NodeOptions};
use ganglion_firmware::SafeMode;

fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

pub fn host_node() -> NodeOptions {
    NodeOptions {
        bind: "127.0.0.1:0".parse().unwrap(),
        plant: "sim:cartpole".into(),
        seed: 0,
        clock: NodeClock::Lockstep,
        backend: NodeBackendKind::Host,
        max_steps: 500,
        fault: None,
    }
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
        address: addr,
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
