//! The real firmware image in qemu-system-arm (lm3s6965evb): it boots and
//! answers a Heartbeat over its UART, it resynchronises after garbage, it
//! balances the CartPole with the shipped policy in lockstep HIL, and it
//! recovers from a reboot. Skipped, with the reason printed, where
//! qemu-system-arm or the thumbv7m-none-eabi target is missing (`.ci/run`
//! installs both).

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use ganglion::config;
use ganglion::io::hil::{NodeHandle, at_address, returns};
use ganglion::io::qemu::{QEMU, QemuNode, firmware_in, qemu_available, target_dir};
use ganglion::io::{FaultKind, FaultPlan, NodeBackendKind, NodeClock, NodeOptions};
use ganglion_firmware::wire::MAX_ENCODED;
use ganglion_firmware::{Heartbeat, Message, encode_frame, status};

fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Builds the firmware image once (in its own target dir, so it never waits
/// on the lock of the `cargo test` running this); `None` with the reason
/// printed when it cannot run here.
fn firmware() -> Option<PathBuf> {
    static IMAGE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let r = IMAGE.get_or_init(|| {
        if !qemu_available(QEMU) {
            return Err(format!("{QEMU} is not installed"));
        }
        let dir = target_dir()
            .ok_or("no cargo target dir")?
            .join("hil-firmware");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(cargo)
            .args([
                "build",
                "-p",
                "ganglion-firmware",
                "--target",
                "thumbv7m-none-eabi",
            ])
            .args(["--release", "--target-dir"])
            .arg(&dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .map_err(|e| format!("running cargo: {e}"))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            if err.contains("target may not be installed")
                || err.contains("can't find crate for `core`")
            {
                return Err("the thumbv7m-none-eabi target is not installed \
                            (rustup target add thumbv7m-none-eabi)"
                    .into());
            }
            panic!("building the firmware failed:\n{err}");
        }
        Ok(firmware_in(&dir))
    });
    match r {
        Ok(p) => Some(p.clone()),
        Err(why) => {
            eprintln!("SKIPPED: {why}");
            None
        }
    }
}

fn heartbeat_frame(seq: u16) -> Vec<u8> {
    let mut buf = [0u8; MAX_ENCODED];
    let n = encode_frame(seq, &Message::Heartbeat(Heartbeat::default()), &mut buf).unwrap();
    buf[..n].to_vec()
}

/// Probes a booting node: a Heartbeat a second (bytes that reach the UART
/// before the image has enabled it are lost, as on a real board) until one
/// is answered; then the newest answer once late replies stop. Returns it
/// and the next sequence number to use.
fn first_heartbeat(node: &mut QemuNode) -> (Heartbeat, u16) {
    let until = std::time::Instant::now() + Duration::from_secs(30);
    let mut seq = 0u16;
    loop {
        node.write(&heartbeat_frame(seq)).unwrap();
        seq += 1;
        match node.frames().recv_timeout(Duration::from_secs(1)) {
            Ok(Ok(f)) => {
                let Message::Heartbeat(mut h) = f.msg else {
                    continue;
                };
                while let Ok(Ok(f)) = node.frames().recv_timeout(Duration::from_millis(300)) {
                    if let Message::Heartbeat(later) = f.msg {
                        h = later;
                    }
                }
                return (h, seq);
            }
            Ok(Err(e)) => panic!("bad frame from the firmware: {e}"),
            Err(e) if std::time::Instant::now() >= until => {
                panic!("no heartbeat from the qemu node: {e}")
            }
            Err(_) => {}
        }
    }
}

fn wait_heartbeat(node: &QemuNode) -> Heartbeat {
    loop {
        match node.frames().recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(f)) => {
                if let Message::Heartbeat(h) = f.msg {
                    return h;
                }
            }
            Ok(Err(e)) => panic!("bad frame from the firmware: {e}"),
            Err(e) => panic!("no heartbeat from the qemu node: {e}"),
        }
    }
}

#[test]
fn qemu_node_boots_and_answers_heartbeat() {
    let Some(image) = firmware() else { return };
    let mut node = QemuNode::launch(QEMU, &image).unwrap();
    let (h, seq) = first_heartbeat(&mut node);
    assert_eq!(h.boot_id, 1);
    assert_eq!(
        h.status & status::CONFIGURED,
        0,
        "a fresh node is unconfigured"
    );
    // Every frame it decoded was a Heartbeat (one per probe it heard); a
    // probe cut by the UART coming up mid-frame is at most one error each.
    assert!(h.rx_ok >= 1 && h.rx_ok <= seq as u32, "{h:?}");
    assert!(h.rx_ok + h.rx_err <= seq as u32, "{h:?}");
    // Garbage, then a frame: the decoder rejects the garbage at its
    // delimiter and answers the next Heartbeat.
    node.write(&[0x13, 0x37, 0xFF, 0x02, 0x00]).unwrap();
    node.write(&heartbeat_frame(seq)).unwrap();
    let after = wait_heartbeat(&node);
    assert_eq!((after.rx_ok, after.rx_err), (h.rx_ok + 1, h.rx_err + 1));
}

fn qemu_node(image: PathBuf, fault: Option<FaultPlan>) -> NodeHandle {
    NodeHandle::spawn(NodeOptions {
        link: ganglion::io::NodeLink::Udp("127.0.0.1:0".parse().unwrap()),
        plant: "sim:cartpole".into(),
        seed: 0,
        clock: NodeClock::Lockstep,
        backend: NodeBackendKind::Qemu {
            qemu: QEMU.into(),
            firmware: image,
        },
        max_steps: 500,
        fault,
    })
    .unwrap()
}

#[test]
fn shipped_policy_balances_with_the_firmware_in_qemu() {
    let Some(image) = firmware() else { return };
    let node = qemu_node(image, None);
    let hil = config::load(&repo("robots/cartpole-hil.toml")).unwrap_or_else(|e| panic!("{e}"));
    let hil = at_address(&hil, node.addr).unwrap();
    let sim = config::load(&repo("robots/cartpole.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(returns(&hil, 300, 1, 600).unwrap(), vec![500.0]);
    assert_eq!(returns(&sim, 300, 1, 600).unwrap(), vec![500.0]);
    let s = node.stop().unwrap();
    assert_eq!(s.ticks, 500 * 20);
    assert!(
        s.faults.iter().all(|f| f.name != "watchdog"),
        "{:?}",
        s.faults
    );
}

#[test]
fn qemu_node_reboot_is_reconfigured_and_recovers() {
    let Some(image) = firmware() else { return };
    // Reboot (a fresh qemu) 1 s into the run.
    let node = qemu_node(
        image,
        Some(FaultPlan {
            kind: FaultKind::Restart,
            at_us: 1_000_000,
            for_us: 0,
            rate: 1.0,
            delay_us: 0,
            seed: 0,
        }),
    );
    let hil = config::load(&repo("robots/cartpole-hil.toml")).unwrap_or_else(|e| panic!("{e}"));
    let hil = at_address(&hil, node.addr).unwrap();
    let plant = ganglion::assemble::build_plant(&hil.plant).unwrap();
    let (_, ticks, lp) = ganglion::io::hil::episode(&hil, plant, 100).unwrap();
    assert_eq!(ticks, 100);
    let last = lp.last_record();
    let st = last.sensors[4] as u16;
    assert_ne!(
        st & status::CONFIGURED,
        0,
        "reconfigured after the reboot: {st:#x}"
    );
    assert_ne!(st & status::ACTIVE, 0, "commands applied again: {st:#x}");
    drop(lp);
    let s = node.stop().unwrap();
    assert_eq!(s.restarts, vec![1_000_000]);
}

/// The hostile datagrams of `tests/hostile/hil` against the firmware in
/// qemu: a forged `HwSample` (sensor values the emulated firmware would
/// take as its plant's) is refused even from the controller, a stranger's
/// `EStop` never reaches the firmware, and a `SimStep` of 0xFFFFFFFF µs is
/// refused with a `bad_step` fault; the firmware answers its controller
/// throughout, and a normal step still runs.
#[test]
fn qemu_node_refuses_hostile_datagrams() {
    use std::net::UdpSocket;
    use std::time::Instant;
    let Some(image) = firmware() else { return };
    let node = qemu_node(image, None);
    let hostile = |name: &str| -> Vec<u8> {
        let text = std::fs::read_to_string(repo("tests/hostile/hil").join(name)).unwrap();
        let hex: String = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<String>()
            .split_whitespace()
            .collect();
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    };
    let ctl = UdpSocket::bind("127.0.0.1:0").unwrap();
    let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
    ctl.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    // Frames from the node within `timeout` until `pick` accepts one.
    let wait = |pick: &mut dyn FnMut(&Message) -> bool| {
        let until = Instant::now() + Duration::from_secs(10);
        let mut buf = [0u8; 2048];
        while Instant::now() < until {
            let Ok((n, _)) = ctl.recv_from(&mut buf) else {
                continue;
            };
            let mut d = ganglion_firmware::FrameDecoder::new();
            let mut hit = false;
            d.feed(&buf[..n], |r| {
                if let Ok(f) = r {
                    hit |= pick(&f.msg);
                }
            });
            if hit {
                return true;
            }
        }
        false
    };
    let mut seq = 0u16;
    let mut send = |msg: Message| {
        let mut buf = [0u8; MAX_ENCODED];
        let n = encode_frame(seq, &msg, &mut buf).unwrap();
        seq += 1;
        ctl.send_to(&buf[..n], node.addr).unwrap();
    };
    // Probe until the booting image answers (bytes before its UART is up
    // are lost); count what it had decoded by then.
    let mut first_rx_ok = None;
    for _ in 0..10 {
        send(Message::Heartbeat(Heartbeat::default()));
        let mut seen = None;
        if wait(&mut |m| match m {
            Message::Heartbeat(h) => {
                seen = Some(h.rx_ok);
                true
            }
            _ => false,
        }) {
            first_rx_ok = seen;
            break;
        }
    }
    let first_rx_ok = first_rx_ok.expect("the qemu node never answered a Heartbeat");
    let mut rx_ok = 0;
    stranger.send_to(&hostile("estop.hex"), node.addr).unwrap();
    ctl.send_to(&hostile("hwsample-forged.hex"), node.addr)
        .unwrap();
    ctl.send_to(&hostile("simstep-dt-max.hex"), node.addr)
        .unwrap();
    assert!(
        wait(
            &mut |m| matches!(m, Message::Fault(f) if f.code == ganglion_firmware::fault::BAD_STEP)
        ),
        "the huge step was not refused"
    );
    send(Message::Heartbeat(Heartbeat::default()));
    assert!(wait(&mut |m| match m {
        Message::Heartbeat(h) => {
            rx_ok = h.rx_ok;
            assert_eq!(h.status & status::ESTOP, 0, "status {:#x}", h.status);
            true
        }
        _ => false,
    }));
    // Between the two answered Heartbeats the firmware decoded only the
    // second one (and the bridge's own samples are not counted here: none
    // ran yet).
    assert_eq!(
        rx_ok,
        first_rx_ok + 1,
        "the firmware saw frames it must not"
    );
    send(Message::SimStep { dt_us: 20_000 });
    assert!(wait(
        &mut |m| matches!(m, Message::SimStepDone(d) if d.time_us == 20_000)
    ));
    let s = node.stop().unwrap();
    assert_eq!(s.peer.refused_frames, 1, "{:?}", s.peer);
    assert_eq!(s.peer.refused_steps, 1, "{:?}", s.peer);
    assert!(s.peer.foreign_datagrams >= 1, "{:?}", s.peer);
}
