//! Security on a zenoh link, on loopback: the robot (`ganglion sim serve`)
//! listens on TLS with mutual TLS and an access-control rule admitting only
//! the controller's certificate common name to its commands. The test makes
//! its own CA and certificates (rcgen). A client with a certificate of the
//! same CA but another name connects and reads the robot's status, yet its
//! commands never arrive; a client with a certificate from another CA cannot
//! connect at all; the controller's certificate commands the robot.

use crate::common::{free_port, serial};

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ganglion::io::zenoh::serve::RobotStatus;
use ganglion::io::zenoh::wire::{Frame, Kind};
use ganglion::io::zenoh::{Endpoints, Keys, LinkSecurity, TlsFiles, open, wait_for_peer};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use zenoh::Wait;

const BIN: &str = env!("CARGO_BIN_EXE_ganglion");

struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A CA and leaf certificates `names` signed by it, as `<name>.pem` /
/// `<name>.key`; the CA is `<ca>.pem`.
fn make_ca(dir: &Path, ca: &str, names: &[&str]) {
    let ca_key = KeyPair::generate().expect("ca key");
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
    p.distinguished_name
        .push(DnType::CommonName, format!("{ca} test CA"));
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = p.self_signed(&ca_key).expect("self-signed CA");
    std::fs::write(dir.join(format!("{ca}.pem")), ca_cert.pem()).expect("write CA");
    let issuer = Issuer::new(p, ca_key);
    for name in names {
        let key = KeyPair::generate().expect("key");
        let mut lp = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("leaf params");
        lp.distinguished_name.push(DnType::CommonName, *name);
        let cert = lp.signed_by(&key, &issuer).expect("sign");
        std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).expect("write cert");
        std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).expect("write key");
    }
}

fn client(pki: &Pki, ca: &str, name: &str, port: u16) -> anyhow::Result<zenoh::Session> {
    let s = open(
        &Endpoints {
            connect: vec![format!("tls/localhost:{port}")],
            ..Default::default()
        },
        &LinkSecurity {
            tls: Some(TlsFiles {
                ca: pki.path(&format!("{ca}.pem")),
                cert: Some(pki.path(&format!("{name}.pem"))),
                key: Some(pki.path(&format!("{name}.key"))),
                mutual: true,
            }),
            controller_cn: None,
        },
        None,
    )?;
    wait_for_peer(&s, Duration::from_secs(3))?;
    Ok(s)
}

/// Puts 50 commands from `s`, then returns the robot's newest status as `s`
/// sees it (None if it hears none).
fn command_and_status(s: &zenoh::Session) -> Option<RobotStatus> {
    let keys = Keys::new("cartpole");
    let latest: Arc<Mutex<Option<RobotStatus>>> = Arc::default();
    let _sub = {
        let latest = latest.clone();
        s.declare_subscriber(keys.status.clone())
            .callback(move |sample| {
                if let Ok(st) = serde_json::from_slice::<RobotStatus>(&sample.payload().to_bytes())
                    && let Ok(mut l) = latest.lock()
                {
                    *l = Some(st);
                }
            })
            .wait()
            .expect("status subscriber")
    };
    let p = s
        .declare_publisher(keys.commands.clone())
        .wait()
        .expect("publisher");
    std::thread::sleep(Duration::from_millis(300));
    for k in 1..=50u64 {
        let _ = p
            .put(Frame::new(k, 0.0, 0, &[1.0]).to_vec(Kind::Commands))
            .wait();
        std::thread::sleep(Duration::from_millis(5));
    }
    // Two status periods after the last command.
    let until = Instant::now() + Duration::from_millis(400);
    while Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    latest.lock().ok().and_then(|l| l.clone())
}

struct Robot(Child);

impl Drop for Robot {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn only_the_controller_certificate_may_command_the_robot() {
    let _serial = serial();
    let pki = Pki {
        dir: tempfile::tempdir().expect("tempdir"),
    };
    make_ca(pki.dir.path(), "ca", &["robot", "controller", "intruder"]);
    make_ca(pki.dir.path(), "rogue", &["impostor"]);
    let port = free_port();
    let (robot, events) = tls_robot(&pki, port);
    // Mutual TLS and a controller name: no warning.
    let serving = next_event(&events, "serving");
    assert_eq!(serving["command_auth"], "mtls+cn", "{serving}");
    assert!(serving.get("warning").is_none(), "{serving}");

    // Another CA's certificate: the TLS handshake fails, no link at all.
    assert!(
        client(&pki, "rogue", "impostor", port).is_err(),
        "a certificate from another CA connected"
    );

    // The right CA, the wrong name: linked, sees the status, cannot command.
    let intruder = client(&pki, "ca", "intruder", port).expect("intruder connects");
    let st = command_and_status(&intruder).expect("the intruder hears the robot's status");
    assert_eq!(st.commands_received, 0, "{st:?}");
    assert!(st.safe, "{st:?}");
    let _ = intruder.close().wait();

    // The controller's certificate: its commands arrive.
    let ctl = client(&pki, "ca", "controller", port).expect("controller connects");
    let st = command_and_status(&ctl).expect("status");
    assert!(st.commands_received > 0, "{st:?}");
    let _ = ctl.close().wait();
    drop(robot);
}

/// `sim serve` on TLS with mutual TLS, admitting commands from `controller`
/// only; returns it and its event lines.
fn tls_robot(pki: &Pki, port: u16) -> (Robot, std::sync::mpsc::Receiver<serde_json::Value>) {
    let mut child = Command::new(BIN)
        .args(["sim", "serve", "--robot", "cartpole", "--listen"])
        .arg(format!("tls/localhost:{port}"))
        .arg("--tls-ca")
        .arg(pki.path("ca.pem"))
        .arg("--tls-cert")
        .arg(pki.path("robot.pem"))
        .arg("--tls-key")
        .arg(pki.path("robot.key"))
        .args(["--mtls", "--controller-cn", "controller", "--seconds", "60"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn sim serve");
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                let _ = tx.send(v);
            }
        }
    });
    (Robot(child), rx)
}

fn next_event(rx: &std::sync::mpsc::Receiver<serde_json::Value>, name: &str) -> serde_json::Value {
    loop {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(v) if v["event"] == name => return v,
            Ok(_) => {}
            Err(e) => panic!("no `{name}` event from sim serve: {e}"),
        }
    }
}

/// The shipped zenoh config on `tls/localhost:{port}`, with a `[plant.tls]`
/// section naming `who`'s certificate.
fn tls_config(pki: &Pki, port: u16, who: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut text = std::fs::read_to_string(root.join("robots/cartpole-zenoh.toml"))
        .expect("robots/cartpole-zenoh.toml")
        .replace("tcp/127.0.0.1:7447", &format!("tls/localhost:{port}"))
        .replace("../models/", &format!("{}/models/", root.display()));
    text.push_str(&format!(
        "\n[plant.tls]\nca = \"ca.pem\"\ncert = \"{who}.pem\"\nkey = \"{who}.key\"\nmutual = true\n"
    ));
    let path = pki.path(&format!("{who}.toml"));
    std::fs::write(&path, text).expect("write config");
    path
}

/// `ganglion run` with the config's `[plant.tls]`, then the robot's exit
/// status after SIGTERM.
fn run_against_tls_robot(pki: &Pki, who: &str) -> (serde_json::Value, serde_json::Value) {
    let port = free_port();
    let (robot, events) = tls_robot(pki, port);
    next_event(&events, "serving");
    let out = Command::new(BIN)
        .args(["run", "--ticks", "100", "--json", "--config"])
        .arg(tls_config(pki, port, who))
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "run as {who}: {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("run --json");
    // SAFETY: plain kill(2) on our own child.
    unsafe {
        libc::kill(robot.0.id() as i32, libc::SIGTERM);
    }
    let exit = next_event(&events, "exit");
    (report, exit)
}

#[test]
fn run_with_plant_tls_commands_the_robot_only_with_the_controller_certificate() {
    let _serial = serial();
    let pki = Pki {
        dir: tempfile::tempdir().expect("tempdir"),
    };
    make_ca(pki.dir.path(), "ca", &["robot", "controller", "intruder"]);

    let (report, exit) = run_against_tls_robot(&pki, "controller");
    assert_eq!(report["ticks"], 100, "{report}");
    assert_eq!(report["in_envelope"], true, "{report}");
    assert!(
        exit["status"]["commands_received"].as_u64().unwrap_or(0) >= 50,
        "{exit}"
    );
    assert!(exit["status"]["steps"].as_u64().unwrap_or(0) > 0, "{exit}");

    // Same CA, another name: the run links and hears sensors, but the
    // robot's access-control rule drops every command it sends.
    let (report, exit) = run_against_tls_robot(&pki, "intruder");
    assert_eq!(report["ticks"], 100, "{report}");
    assert_eq!(exit["status"]["commands_received"], 0, "{exit}");
    assert_eq!(exit["status"]["steps"], 0, "{exit}");
}
