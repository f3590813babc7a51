//! `[plant] kind = "link:udp"` configs: the shipped HIL config loads, and each
//! broken link field is reported with its line, field and a clear message.

use std::path::PathBuf;

use ganglion::config::{self, LinkClock, Pace, PlantConfig};
use ganglion::io::LinkEndpoint;
use ganglion_firmware::SafeMode;

fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn shipped() -> String {
    std::fs::read_to_string(repo("robots/cartpole-hil.toml")).unwrap()
}

#[test]
fn shipped_hil_config_loads() {
    let cfg = config::load(&repo("robots/cartpole-hil.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        cfg.plant,
        PlantConfig::Link {
            endpoint: LinkEndpoint::Udp("127.0.0.1:9000".parse().unwrap()),
            joints: "sim:cartpole".into(),
            clock: LinkClock::Lockstep,
            watchdog_ms: 60,
            node_safe: SafeMode::Brake,
            publish_period_us: 20_000,
            seed: 7,
            pace: Pace::Fast,
        }
    );
}

/// Replaces `from` in the shipped text and returns the problem reported for
/// `field`.
fn problem(from: &str, to: &str, field: &str) -> (Option<usize>, String) {
    let text = shipped();
    assert!(text.contains(from), "{from}");
    let text = text.replacen(from, to, 1);
    let p = crate::common::problem_at(&repo("robots/broken-hil.toml"), &text, field, to);
    (p.line, p.message)
}

#[test]
fn broken_link_fields_are_reported_where_they_are() {
    let line_of = |key: &str| {
        shipped()
            .lines()
            .position(|l| l.starts_with(key))
            .map(|i| i + 1)
    };
    let cases = [
        (
            "address = \"127.0.0.1:9000\"",
            "address = \"localhost\"",
            "plant.address",
            "IP address and port",
        ),
        (
            "joints = \"sim:cartpole\"",
            "joints = \"sim:reacher\"",
            "plant.joints",
            "no joint layout",
        ),
        (
            "kind = \"link:udp\"",
            "kind = \"link:can\"",
            "plant.kind",
            "unknown link transport",
        ),
        (
            "clock = \"lockstep\"",
            "clock = \"sometimes\"",
            "plant.clock",
            "\"lockstep\" or \"wall\"",
        ),
        (
            "watchdog_ms = 60",
            "watchdog_ms = 0",
            "plant.watchdog_ms",
            "must be in 1..=60000",
        ),
        (
            "node_safe = \"brake\"",
            "node_safe = \"panic\"",
            "plant.node_safe",
            "\"brake\", \"hold\" or \"zero\"",
        ),
        (
            "address = \"127.0.0.1:9000\"",
            "adress = \"127.0.0.1:9000\"",
            "plant.adress",
            "adress",
        ),
    ];
    for (from, to, field, msg) in cases {
        let key = from.split(' ').next().unwrap();
        let (line, m) = problem(from, to, field);
        assert_eq!(line, line_of(key), "{to}");
        assert!(m.contains(msg), "{to}: {m}");
    }
    // An observation field that is not a sensor of the link plant names them.
    let (_, m) = problem(
        "fields = [\"cart.position\"",
        "fields = [\"cart.tip\"",
        "observation.fields[0]",
    );
    assert!(
        m.contains("node.status") && m.contains("link.rx_errors"),
        "{m}"
    );
}
