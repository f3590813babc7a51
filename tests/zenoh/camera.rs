//! Cameras over zenoh on loopback, with real sessions: frames a publisher
//! sends on `ganglion/{robot}/camera/{name}` arrive byte for byte in a
//! `ZenohSource`; short, damaged and wrong-size frames are refused and
//! counted (no panic, no frame); `ganglion sim camera` in a process of its
//! own serves frames a source in this process receives.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ganglion::camera::zenoh::{CameraPublisher, ZenohSource};
use ganglion::camera::{CaptureContext, ImageFrame, ImageSource};
use ganglion::io::zenoh::{Endpoints, LinkSecurity, open, wait_for_peer};
use ganglion::sim::render::{Camera, Renderer};
use ganglion::sim::{SceneSpec, TabletopWorld};

use crate::common;

const CTX: CaptureContext<'static> = CaptureContext {
    tick: 0,
    time: 0.0,
    world: None,
};

fn rendered(w: usize, h: usize) -> ImageFrame {
    let scene = SceneSpec::random(5);
    let state = TabletopWorld::new(&scene, 5).state();
    let mut r = Renderer::new(Camera::overhead(w, h));
    let f = r.render(&scene, &state, None);
    let mut out = ImageFrame::new(w, h, true);
    out.rgb.copy_from_slice(&f.rgb);
    out.depth.copy_from_slice(&f.depth);
    out.time = 1.5;
    out
}

/// Polls `cond` for up to 5 s.
fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

fn pair() -> (zenoh::Session, zenoh::Session) {
    // A free port can be taken by another test between asking and binding
    // (seen in CI: "Address already in use"): try a few.
    let (ep, a) = (0..5)
        .find_map(|_| {
            let ep = format!("tcp/127.0.0.1:{}", common::free_port());
            let listen = Endpoints {
                listen: vec![ep.clone()],
                ..Default::default()
            };
            open(&listen, &LinkSecurity::default(), None)
                .ok()
                .map(|a| (ep, a))
        })
        .expect("a zenoh session listening on a free port");
    let b = open(&Endpoints::peer_of(&[ep]), &LinkSecurity::default(), None).unwrap();
    wait_for_peer(&b, Duration::from_secs(5)).unwrap();
    (a, b)
}

#[test]
fn frames_arrive_and_bad_frames_are_counted() {
    let (tx, rx) = pair();
    let mut src = ZenohSource::subscribe(&rx, "arm1", "overhead", 64, 48, true).unwrap();
    let mut publisher = CameraPublisher::new(&tx, "arm1", "overhead").unwrap();
    let sent = rendered(64, 48);
    let mut got = ImageFrame::new(64, 48, true);
    // Subscriptions propagate asynchronously: send until one arrives.
    assert!(eventually(|| {
        publisher.publish(&sent).unwrap();
        src.capture(&CTX, &mut got).unwrap()
    }));
    assert_eq!(got.rgb, sent.rgb);
    assert_eq!(got.depth, sent.depth);
    assert_eq!(got.time, 1.5);
    assert!(got.has_depth);
    std::thread::sleep(Duration::from_millis(100));
    while src.capture(&CTX, &mut got).unwrap() {}

    let before = src.rejected();
    publisher.send_with(&sent, |b| b.truncate(10)).unwrap(); // short
    publisher
        .send_with(&sent, |b| b.truncate(b.len() - 1))
        .unwrap(); // cut
    publisher.send_with(&sent, |b| b.push(0)).unwrap(); // long
    publisher.send_with(&sent, |b| b[0] = b'X').unwrap(); // not a camera frame
    publisher.publish(&rendered(32, 32)).unwrap(); // wrong size
    publisher.send_with(&sent, |b| b.clear()).unwrap(); // empty
    assert!(
        eventually(|| src.rejected() >= before + 6),
        "refused {} of 6",
        src.rejected() - before
    );
    let why = src.last_error().unwrap();
    assert!(why.contains("bytes") || why.contains("×"), "{why}");
    assert!(
        !src.capture(&CTX, &mut got).unwrap(),
        "no frame from bad bytes"
    );

    // A good frame after the bad ones still comes through.
    assert!(eventually(|| {
        publisher.publish(&sent).unwrap();
        src.capture(&CTX, &mut got).unwrap()
    }));
    assert_eq!(got.rgb, sent.rgb);
}

#[test]
fn sim_camera_process_serves_frames() {
    let port = common::free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ganglion"))
        .args([
            "sim", "camera", "--robot", "arm2", "--name", "wrist", "--view", "wrist",
        ])
        .args([
            "--width",
            "48",
            "--height",
            "32",
            "--rate-hz",
            "30",
            "--seconds",
            "20",
        ])
        .arg("--listen")
        .arg(format!("tcp/127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = open(
        &Endpoints::peer_of(&[format!("tcp/127.0.0.1:{port}")]),
        &LinkSecurity::default(),
        None,
    );
    let result = (|| {
        let rx = rx?;
        // The child needs a moment to listen.
        let until = Instant::now() + Duration::from_secs(10);
        while wait_for_peer(&rx, Duration::from_millis(200)).is_err() {
            anyhow::ensure!(Instant::now() < until, "sim camera never listened");
        }
        let mut src = ZenohSource::subscribe(&rx, "arm2", "wrist", 48, 32, true)?;
        let mut got = ImageFrame::new(48, 32, true);
        let mut frames = 0;
        let ok = eventually(|| {
            frames += usize::from(src.capture(&CTX, &mut got).unwrap_or(false));
            frames >= 3
        });
        anyhow::ensure!(ok, "{frames} frames from sim camera");
        anyhow::ensure!(got.depth.iter().any(|d| *d > 0.0), "depth arrives");
        anyhow::ensure!(src.rejected() == 0, "no refused frames");
        Ok(())
    })();
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    result.unwrap_or_else(|e| panic!("{e:#}\n{}", String::from_utf8_lossy(&out.stderr)));
}

/// A `[[camera]]` with `source = "zenoh"` in a real run: `sim camera` in its
/// own process serves 32×24 frames; the CartPole loop takes the newest one
/// every tick for 2 s of wall time and records them.
#[test]
fn a_zenoh_camera_in_the_loop_is_recorded() {
    let _serial = common::serial();
    let port = common::free_port();
    let ep = format!("tcp/127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ganglion"))
        .args(["sim", "camera", "--robot", "cartpole", "--name", "front"])
        .args([
            "--width",
            "32",
            "--height",
            "24",
            "--rate-hz",
            "50",
            "--seconds",
            "30",
        ])
        .args(["--listen", &ep])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let result = (|| -> anyhow::Result<()> {
        let root = common::repo();
        let mut text = std::fs::read_to_string(root.join("robots/cartpole.toml"))?
            .replace("../models/", &format!("{}/models/", root.display()));
        text.push_str(&format!(
            "\n[[camera]]\nname = \"front\"\nwidth = 32\nheight = 24\nfov_deg = 60\n\
             eye = [1.0, 0.0, 1.0]\ntarget = [0.0, 0.0, 0.0]\nsource = \"zenoh\"\n\
             connect = [\"{ep}\"]\n"
        ));
        let path = dir.path().join("cartpole-camera.toml");
        std::fs::write(&path, text)?;
        let cfg = ganglion::config::load(&path).map_err(|e| anyhow::anyhow!("{e}"))?;
        let rec = dir.path().join("remote-camera.mcap");
        let report = ganglion::assemble::execute(
            cfg,
            &ganglion::assemble::RunOptions {
                limit: ganglion::runtime::RunLimit {
                    ticks: Some(100),
                    ..Default::default()
                },
                record: Some(rec.clone()),
                ..Default::default()
            },
        )?;
        let cam = &report.cameras[0];
        eprintln!("zenoh camera in the loop: {cam:?}");
        anyhow::ensure!(cam.frames >= 20, "only {} frames in 100 ticks", cam.frames);
        anyhow::ensure!(cam.rejected == 0 && cam.errors == 0, "{cam:?}");
        let r = ganglion::record::read_recording(&rec)?;
        let images = r.frames.get("/camera/front/image").map_or(0, Vec::len);
        anyhow::ensure!(
            images as u64 == cam.frames,
            "{images} recorded of {}",
            cam.frames
        );
        Ok(())
    })();
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    result.unwrap_or_else(|e| panic!("{e:#}\n{}", String::from_utf8_lossy(&out.stderr)));
}
