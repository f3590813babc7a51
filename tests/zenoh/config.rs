//! `[plant] kind = "zenoh"` configs: the shipped one loads (wall clock, the
//! robot name from the top level), TLS paths resolve against the file, and
//! each broken field is reported with its field and a clear message.

use std::path::PathBuf;

use ganglion::assemble::clock_mode;
use ganglion::config::{self, PlantConfig, ZenohTls};
use ganglion::runtime::ClockMode;

fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn shipped() -> String {
    std::fs::read_to_string(repo("robots/cartpole-zenoh.toml")).expect("shipped config")
}

#[test]
fn shipped_zenoh_config_loads() {
    let cfg = config::load(&repo("robots/cartpole-zenoh.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        cfg.plant,
        PlantConfig::Zenoh {
            robot: "cartpole".into(),
            layout: "sim:cartpole".into(),
            connect: vec!["tcp/127.0.0.1:7447".into()],
            listen: vec![],
            multicast: false,
            connect_timeout_ms: 5000,
            tls: None,
        }
    );
    assert_eq!(clock_mode(&cfg.plant, true), ClockMode::Wall);
}

#[test]
fn tls_paths_resolve_against_the_config() {
    let text = shipped().replace(
        "\nconnect_timeout_ms = 5000\n",
        "\nconnect_timeout_ms = 5000\nrobot = \"cp-1\"\n\n[plant.tls]\nca = \"certs/ca.pem\"\ncert = \"certs/c.pem\"\nkey = \"certs/c.key\"\nmutual = true\n",
    );
    let cfg = config::parse(&repo("robots/x.toml"), &text).unwrap_or_else(|e| panic!("{e}"));
    let PlantConfig::Zenoh { robot, tls, .. } = cfg.plant else {
        panic!("not a zenoh plant");
    };
    assert_eq!(robot, "cp-1");
    assert_eq!(
        tls,
        Some(ZenohTls {
            ca: repo("robots/certs/ca.pem"),
            cert: Some(repo("robots/certs/c.pem")),
            key: Some(repo("robots/certs/c.key")),
            mutual: true,
        })
    );
}

#[test]
fn broken_zenoh_fields_are_reported() {
    let cases = [
        (
            "connect = [\"tcp/127.0.0.1:7447\"]",
            "connect = [\"udp/127.0.0.1:7447\"]",
            "plant.connect",
            "not built in",
        ),
        (
            "connect = [\"tcp/127.0.0.1:7447\"]",
            "connect = [\"tcp/127.0.0.1\"]",
            "plant.connect",
            "host:port",
        ),
        (
            "connect = [\"tcp/127.0.0.1:7447\"]",
            "connect = []",
            "plant.connect",
            "give the robot's endpoint",
        ),
        (
            "layout = \"sim:cartpole\"",
            "layout = \"sim:walker\"",
            "plant.layout",
            "no sensor layout",
        ),
        (
            "multicast = false",
            "multicast = false\nrobot = \"a/b\"",
            "plant.robot",
            "not a robot name",
        ),
        (
            "multicast = false",
            "multicast = false\n[plant.tls]\nca = \"ca.pem\"\nmutual = true",
            "plant.tls.cert",
            "mutual TLS needs",
        ),
        (
            "multicast = false",
            "multicast = false\nport = 7447",
            "plant.port",
            "",
        ),
    ];
    for (from, to, field, needle) in cases {
        let text = shipped();
        assert!(text.contains(from), "{from}");
        // The last occurrence: the header comment documents the same keys.
        let at = text.rfind(from).expect("present");
        let text = format!("{}{to}{}", &text[..at], &text[at + from.len()..]);
        let errs = config::parse(&repo("robots/broken.toml"), &text)
            .err()
            .unwrap_or_else(|| panic!("`{to}` accepted"));
        let p = errs
            .problems
            .iter()
            .find(|p| p.field.starts_with(field))
            .unwrap_or_else(|| panic!("`{to}`: nothing reported for {field}: {errs}"));
        assert!(p.message.contains(needle), "`{to}`: {}", p.message);
    }
}
