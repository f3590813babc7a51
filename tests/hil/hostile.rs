//! A HIL node under hostile datagrams (issue 14, item 8), on loopback with
//! real UDP sockets: the node logic of `ganglion node` in-process
//! (`NodeHandle`) or as a process, the controller a real `LinkPlant` in the
//! real `ControlLoop` (or `ganglion run`). The hostile datagrams are data,
//! in `tests/hostile/hil/*.hex`.
//!
//! - stray datagrams from a second socket every 50 ms during a run: the run
//!   completes and holds the pole;
//! - a `SimStep` of 0xFFFFFFFF µs: refused at once with a `bad_step` fault,
//!   the node stays responsive and its clock unmoved;
//! - a spoofed `EStop` from another socket: ignored; an e-stop latched at the
//!   node anyway shows in the controller's run as `node_estop` events.

use crate::common;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ganglion::assemble::{build_plant, load_any_policy};
use ganglion::config;
use ganglion::io::hil::{NodeHandle, at_address};
use ganglion::io::{NodeBinding, NodeOptions};
use ganglion::runtime::{ClockMode, ControlLoop, RunLimit};
use ganglion_firmware::wire::MAX_ENCODED;
use ganglion_firmware::{
    Frame, FrameDecoder, Heartbeat, Message, SafeMode, encode_frame, fault, status,
};

fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A datagram of the hostile corpus.
fn hostile(name: &str) -> Vec<u8> {
    let path = repo("tests/hostile/hil").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let hex: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .flat_map(|l| l.split_whitespace())
        .collect();
    assert!(
        hex.len().is_multiple_of(2),
        "{name}: odd number of hex digits"
    );
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

fn decode_all(bytes: &[u8]) -> Vec<Result<Frame, ganglion_firmware::DecodeError>> {
    let mut d = FrameDecoder::new();
    let mut v = Vec::new();
    d.feed(bytes, |r| v.push(r));
    v
}

fn lockstep_node() -> NodeOptions {
    common::lockstep_node(0)
}

/// A socket speaking the wire protocol by hand: a controller or a stranger.
struct Raw {
    sock: UdpSocket,
    node: SocketAddr,
    seq: u16,
}

impl Raw {
    fn new(node: SocketAddr) -> Raw {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        Raw { sock, node, seq: 0 }
    }

    fn send_bytes(&self, bytes: &[u8]) {
        self.sock.send_to(bytes, self.node).unwrap();
    }

    fn send(&mut self, msg: Message) {
        let mut buf = [0u8; MAX_ENCODED];
        let n = encode_frame(self.seq, &msg, &mut buf).unwrap();
        self.seq = self.seq.wrapping_add(1);
        self.send_bytes(&buf[..n]);
    }

    /// The first frame `pick` accepts within `timeout` (a generous bound:
    /// it only proves the node did not hang).
    fn wait_for<T>(
        &self,
        timeout: Duration,
        mut pick: impl FnMut(&Message) -> Option<T>,
    ) -> Option<T> {
        let until = Instant::now() + timeout;
        let mut buf = [0u8; 2048];
        while Instant::now() < until {
            let Ok((n, _)) = self.sock.recv_from(&mut buf) else {
                continue;
            };
            for f in decode_all(&buf[..n]).into_iter().flatten() {
                if let Some(t) = pick(&f.msg) {
                    return Some(t);
                }
            }
        }
        None
    }

    fn heartbeat(&mut self, timeout: Duration) -> Option<Heartbeat> {
        self.send(Message::Heartbeat(Heartbeat::default()));
        self.wait_for(timeout, |m| match m {
            Message::Heartbeat(h) => Some(*h),
            _ => None,
        })
    }

    /// Whatever arrives within `d` (decodable frames).
    fn drain(&self, d: Duration) -> Vec<Message> {
        let mut v = Vec::new();
        let until = Instant::now() + d;
        let mut buf = [0u8; 2048];
        while Instant::now() < until {
            if let Ok((n, _)) = self.sock.recv_from(&mut buf) {
                v.extend(decode_all(&buf[..n]).into_iter().flatten().map(|f| f.msg));
            }
        }
        v
    }
}

const GENEROUS: Duration = Duration::from_secs(5);

#[test]
fn the_corpus_decodes_as_documented() {
    let one = |name: &str| -> Message {
        let frames = decode_all(&hostile(name));
        assert_eq!(frames.len(), 1, "{name}: {frames:?}");
        frames[0].unwrap_or_else(|e| panic!("{name}: {e}")).msg
    };
    assert_eq!(
        one("simstep-dt-max.hex"),
        Message::SimStep { dt_us: u32::MAX }
    );
    assert_eq!(one("simstep-dt-zero.hex"), Message::SimStep { dt_us: 0 });
    assert_eq!(one("estop.hex"), Message::EStop);
    assert_eq!(one("bye.hex"), Message::Bye);
    assert!(matches!(one("heartbeat.hex"), Message::Heartbeat(_)));
    match one("hwsample-forged.hex") {
        Message::HwSample(s) => assert_eq!((s.n, s.position[0]), (2, 0.5)),
        m => panic!("{m:?}"),
    }
    match one("nodeconfig-watchdog-max.hex") {
        Message::NodeConfig(c) => assert_eq!(c.watchdog_us, u32::MAX),
        m => panic!("{m:?}"),
    }
    let garbage = decode_all(&hostile("stray-garbage.hex"));
    assert_eq!(garbage.len(), 2);
    assert!(garbage.iter().all(|r| r.is_err()), "{garbage:?}");
}

/// A stranger's socket sends a hostile datagram every 50 ms for a whole run:
/// garbage while the controller connects, then every valid-CRC frame of the
/// corpus too (EStop, Bye, SimStep of 0xFFFFFFFF µs, forged HwSample,
/// Heartbeat). The node answers only its controller: the paced run (3 s,
/// 150 ticks at 50 Hz) completes with no safety event and the pole up.
#[test]
fn stray_datagrams_every_50ms_do_not_disturb_a_run() {
    let node = NodeHandle::spawn(lockstep_node()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let connected = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let stray = {
        let (stop, connected, sent) = (stop.clone(), connected.clone(), sent.clone());
        let addr = node.addr;
        std::thread::spawn(move || {
            let s = Raw::new(addr);
            let garbage = hostile("stray-garbage.hex");
            let valid: Vec<Vec<u8>> = [
                "estop.hex",
                "bye.hex",
                "simstep-dt-max.hex",
                "hwsample-forged.hex",
                "heartbeat.hex",
            ]
            .iter()
            .map(|n| hostile(n))
            .collect();
            let mut k = 0;
            while !stop.load(Ordering::Acquire) {
                if connected.load(Ordering::Acquire) && k % 2 == 1 {
                    s.send_bytes(&valid[(k / 2) % valid.len()]);
                } else {
                    s.send_bytes(&garbage);
                }
                sent.fetch_add(1, Ordering::Relaxed);
                k += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    // Let some garbage in before the controller connects.
    std::thread::sleep(Duration::from_millis(300));
    let cfg = config::load(&repo("robots/cartpole-hil.toml")).unwrap_or_else(|e| panic!("{e}"));
    let cfg = at_address(&cfg, node.addr).unwrap();
    let plant = build_plant(&cfg.plant).expect("the controller binds despite the strays");
    connected.store(true, Ordering::Release);
    let policy = load_any_policy(&cfg).unwrap();
    let mut lp = ControlLoop::new(
        &cfg,
        plant,
        policy,
        ClockMode::Lockstep { paced: true },
        None,
    )
    .unwrap();
    lp.run(RunLimit {
        ticks: Some(150),
        ..Default::default()
    });
    stop.store(true, Ordering::Release);
    stray.join().unwrap();
    // (A deadline miss on a loaded machine is the clock's business, not the
    // link's.)
    let events: Vec<_> = lp
        .filter()
        .counters()
        .filter(|(name, c)| *c > 0 && *name != "deadline_miss")
        .collect();
    assert_eq!(lp.ticks(), 150);
    assert!(events.is_empty(), "safety events {events:?}");
    assert!(lp.plant().in_envelope(), "the pole fell");
    let st = lp.last_record().sensors[4] as u16;
    assert_eq!(st & status::ESTOP, 0, "node status {st:#x}");
    assert_ne!(st & status::ACTIVE, 0, "node status {st:#x}");
    drop(lp);
    let s = node.stop().unwrap();
    let p = &s.peer;
    assert_eq!(s.steps, 150);
    assert_eq!(p.bindings, 1, "{p:?}");
    assert!(p.undecodable >= 2, "{p:?}");
    assert!(p.foreign_datagrams >= 20, "{p:?}");
    assert_eq!(
        p.refused_steps, 0,
        "the stranger's SimStep was not even read"
    );
    assert!(p.byes <= 1, "only the controller's own Bye counts: {p:?}");
    assert!(s.faults.iter().all(|f| f.name != "estop"), "{:?}", s.faults);
    assert!(sent.load(Ordering::Relaxed) >= 40);
}

/// `SimStep { dt_us: 0xFFFFFFFF }` with a valid CRC: from the controller it
/// is refused at once with a `bad_step` fault and the node's clock does not
/// move; from a stranger it is dropped. Either way the node answers its
/// controller right after, and a normal step still runs.
#[test]
fn a_huge_sim_step_is_refused_and_the_node_stays_responsive() {
    let node = NodeHandle::spawn(lockstep_node()).unwrap();
    let mut ctl = Raw::new(node.addr);
    let stranger = Raw::new(node.addr);
    assert!(ctl.heartbeat(GENEROUS).is_some(), "the node answers");

    stranger.send_bytes(&hostile("simstep-dt-max.hex"));
    ctl.send_bytes(&hostile("simstep-dt-max.hex"));
    let refused = ctl.wait_for(GENEROUS, |m| match m {
        Message::Fault(f) => Some(*f),
        _ => None,
    });
    let f = refused.expect("a Fault frame refusing the step, not a 55 s busy loop");
    assert_eq!(f.code, fault::BAD_STEP);
    assert_eq!(f.detail, u32::MAX as f32);
    assert_eq!(f.node_time_us, 0, "node time did not move");
    ctl.send_bytes(&hostile("simstep-dt-zero.hex"));
    assert!(
        ctl.heartbeat(GENEROUS).is_some(),
        "responsive after the refusals"
    );

    ctl.send(Message::SimStep { dt_us: 20_000 });
    let done = ctl.wait_for(GENEROUS, |m| match m {
        Message::SimStepDone(d) => Some(*d),
        _ => None,
    });
    assert_eq!(done.map(|d| d.time_us), Some(20_000));
    // The stranger heard nothing back.
    assert!(stranger.drain(Duration::from_millis(200)).is_empty());
    let s = node.stop().unwrap();
    assert_eq!(s.peer.refused_steps, 2, "{:?}", s.peer);
    assert_eq!(s.steps, 1);
    assert_eq!(s.ticks, 20);
    assert!(s.peer.foreign_datagrams >= 1);
    assert!(s.faults.iter().any(|f| f.name == "bad_step"));
}

/// A node bound to its controller ignores an `EStop` (and a `Bye`, and
/// frames only the node's host may send) from another socket; the
/// controller's own frames still work, and plant-side frames from the
/// controller never reach the node.
#[test]
fn a_spoofed_estop_from_another_socket_is_ignored() {
    let node = NodeHandle::spawn(lockstep_node()).unwrap();
    let mut ctl = Raw::new(node.addr);
    let mut stranger = Raw::new(node.addr);
    assert!(ctl.heartbeat(GENEROUS).is_some());
    for name in ["estop.hex", "bye.hex", "estop.hex", "heartbeat.hex"] {
        stranger.send_bytes(&hostile(name));
    }
    // The stranger is not answered, not even its Heartbeat.
    assert!(stranger.heartbeat(Duration::from_millis(300)).is_none());
    let h = ctl
        .heartbeat(GENEROUS)
        .expect("still bound to the controller");
    assert_eq!(h.status & status::ESTOP, 0, "status {:#x}", h.status);
    // From the controller, a forged plant sample is refused.
    ctl.send_bytes(&hostile("hwsample-forged.hex"));
    // A bad config from the controller is refused by the node logic.
    ctl.send_bytes(&hostile("nodeconfig-watchdog-max.hex"));
    ctl.send(Message::SimStep { dt_us: 1000 });
    let faults: Vec<u16> = ctl
        .drain(Duration::from_millis(300))
        .iter()
        .filter_map(|m| match m {
            Message::Fault(f) => Some(f.code),
            _ => None,
        })
        .collect();
    assert!(faults.contains(&fault::BAD_CONFIG), "{faults:?}");
    let h = ctl.heartbeat(GENEROUS).unwrap();
    assert_eq!(
        h.status & status::CONFIGURED,
        0,
        "the bad config was refused"
    );
    let s = node.stop().unwrap();
    assert_eq!(s.peer.bindings, 1);
    assert_eq!(s.peer.byes, 0);
    assert_eq!(s.peer.refused_frames, 1, "{:?}", s.peer);
    assert!(s.peer.foreign_datagrams >= 5, "{:?}", s.peer);
    assert!(s.faults.iter().all(|f| f.name != "estop"), "{:?}", s.faults);
}

/// An e-stop latched at the node, by whoever was first to reach it (here a
/// stranger that bound the idle node, latched it and said Bye), is what the
/// controller's `ganglion run` reports: `node_estop` events and a final
/// state that is not normal, the ESTOP bit in the recorded `node.status` —
/// not "no events; final state normal".
#[test]
fn an_estop_latched_at_the_node_surfaces_in_the_controllers_run() {
    let node = NodeHandle::spawn(lockstep_node()).unwrap();
    let mut first = Raw::new(node.addr);
    first.send_bytes(&hostile("estop.hex"));
    let h = first.heartbeat(GENEROUS).expect("bound the idle node");
    assert_ne!(h.status & status::ESTOP, 0, "latched");
    first.send_bytes(&hostile("bye.hex"));

    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("hil.toml");
    let text = std::fs::read_to_string(repo("robots/cartpole-hil.toml"))
        .unwrap()
        .replace("127.0.0.1:9000", &node.addr.to_string())
        .replace("../models/", &format!("{}/", repo("models").display()));
    std::fs::write(&cfg, text).unwrap();
    let rec = dir.path().join("hil.mcap");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ganglion"))
        .args(["run", "--fast", "--ticks", "50", "--json", "--config"])
        .arg(&cfg)
        .arg("--record")
        .arg(&rec)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ticks = report["ticks"].as_u64().unwrap_or(0);
    assert!(ticks > 0, "{report}");
    assert_eq!(report["safety_events"]["node_estop"], ticks, "{report}");
    assert_ne!(report["final_state"], "normal", "{report}");
    let r = ganglion::record::read_recording(&rec).unwrap();
    assert_eq!(r.sensor_names[4], "node.status");
    for t in &r.ticks {
        assert_ne!(t.sensors[4] as u16 & status::ESTOP, 0, "tick {}", t.tick);
        assert!(t.events.has(ganglion::record::SafetyEvents::NODE_ESTOP));
    }
    let s = node.stop().unwrap();
    assert_eq!(s.peer.bindings, 2, "the stranger, then the controller");
    assert!(s.peer.byes >= 1);
}

/// `ganglion node --controller ADDR`: only that address is answered, even
/// when a stranger speaks first, and the summary says whom.
#[test]
fn node_command_with_a_fixed_controller() {
    use std::process::{Command, Stdio};
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let node_addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut ctl = Raw::new(node_addr);
    let ctl_addr = ctl.sock.local_addr().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_ganglion"))
        .args(["node", "--link", &format!("udp:{node_addr}")])
        .args(["--controller", &ctl_addr.to_string()])
        .args(["--seconds", "30", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stranger = Raw::new(node_addr);
    // Wait until the node listens (it answers its controller), with the
    // stranger speaking first each time.
    let until = Instant::now() + Duration::from_secs(30);
    let mut answered = false;
    while Instant::now() < until && !answered {
        stranger.send(Message::Heartbeat(Heartbeat::default()));
        answered = ctl.heartbeat(Duration::from_millis(200)).is_some();
    }
    assert!(answered, "the node never answered its controller");
    assert!(stranger.heartbeat(Duration::from_millis(300)).is_none());
    // SAFETY: kill(2) on the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("answering only udp:{ctl_addr}")),
        "{err}"
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        summary["peer"]["controller"],
        ctl_addr.to_string(),
        "{summary}"
    );
    assert_eq!(summary["peer"]["bindings"], 1, "{summary}");
    assert!(
        summary["peer"]["foreign_datagrams"].as_u64().unwrap_or(0) >= 1,
        "{summary}"
    );
}

/// A `NodeBinding` with a fixed controller, in-process: the same through
/// the library API (`NodeHandle::spawn_bound`); a LinkPlant from any other
/// address gets no answer.
#[test]
fn a_fixed_controller_binding_refuses_other_controllers() {
    let ctl = Raw::new("127.0.0.1:9".parse().unwrap());
    let ctl_addr = ctl.sock.local_addr().unwrap();
    let node = NodeHandle::spawn_bound(
        lockstep_node(),
        NodeBinding {
            controller: Some(ctl_addr),
            ..Default::default()
        },
    )
    .unwrap();
    let err = ganglion::io::LinkPlant::connect(ganglion::io::LinkOptions {
        endpoint: node.endpoint.clone(),
        joints: "sim:cartpole".into(),
        lockstep: true,
        watchdog_us: 60_000,
        publish_period_us: 20_000,
        safe_mode: SafeMode::Brake,
        timeout: Duration::from_millis(500),
    })
    .err()
    .expect("not the configured controller");
    assert!(
        format!("{err:#}").contains("no joint node answered"),
        "{err:#}"
    );
    let mut ctl = Raw {
        node: node.addr,
        ..ctl
    };
    assert!(ctl.heartbeat(GENEROUS).is_some());
    let s = node.stop().unwrap();
    assert!(s.peer.foreign_datagrams >= 1);
    assert_eq!(s.peer.controller, Some(ctl_addr.to_string()));
}
