//! Cameras in the loop: a lockstep run of the shipped tabletop-camera config
//! records `foxglove.RawImage` and `foxglove.CameraCalibration` messages
//! (read back with the mcap crate, schemas checked, one image and one depth
//! decoded), `replay --resim` compares every frame's sha256 and finds no
//! mismatch, and the recorder keeps up with two 128×128 RGB-D cameras at
//! 30 Hz in real time (numbers printed; docs/cameras.md has them).

use std::path::{Path, PathBuf};

use ganglion::assemble::{RunOptions, execute};
use ganglion::config::{self, RobotConfig};
use ganglion::record::foxglove::{CameraCalibration, RawImage};
use ganglion::record::read_recording;
use ganglion::replay::{ReplayOptions, replay};
use ganglion::runtime::RunLimit;
use prost::Message;

use crate::common;

/// The shipped tabletop-camera config, with `edits` applied to its text.
fn camera_config(dir: &Path, edits: &[(&str, &str)]) -> RobotConfig {
    let root = common::repo();
    let mut text = std::fs::read_to_string(root.join("robots/tabletop-camera.toml")).unwrap();
    for (a, b) in edits {
        assert!(text.contains(a), "config has {a:?}");
        text = text.replacen(a, b, 1);
    }
    let text = text.replace("../models/", &format!("{}/models/", root.display()));
    let urdf = root.join("robots/tabletop.urdf");
    let text = text.replace("\"tabletop.urdf\"", &format!("\"{}\"", urdf.display()));
    let path = dir.join("tabletop-camera.toml");
    std::fs::write(&path, text).unwrap();
    config::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn run(
    cfg: RobotConfig,
    rec: &Path,
    ticks: u64,
    fast: bool,
) -> ganglion::runtime::session::RunReport {
    let opts = RunOptions {
        limit: RunLimit {
            ticks: Some(ticks),
            ..Default::default()
        },
        record: Some(rec.to_path_buf()),
        fast,
        ..Default::default()
    };
    execute(cfg, &opts).unwrap()
}

#[test]
fn recording_holds_foxglove_images_and_resim_matches_every_frame() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = camera_config(dir.path(), &[]);
    assert_eq!(cfg.cameras.len(), 2);
    let rec: PathBuf = dir.path().join("cams.mcap");
    let report = run(cfg, &rec, 30, true);
    assert_eq!(report.ticks, 30);
    let cams = &report.cameras;
    assert_eq!((cams[0].name.as_str(), cams[0].frames), ("overhead", 30));
    assert_eq!((cams[1].name.as_str(), cams[1].frames), ("wrist", 6));
    let summary = report.recording.as_ref().unwrap();
    assert_eq!((summary.frames, summary.frames_dropped), (36, 0));

    // Read it back with the mcap crate: schemas, encodings, one image.
    let bytes = std::fs::read(&rec).unwrap();
    let mut images = 0;
    let mut seen = std::collections::BTreeMap::new();
    for m in mcap::MessageStream::new(&bytes).unwrap() {
        let m = m.unwrap();
        let ch = &m.channel;
        if !ch.topic.starts_with("/camera/") {
            continue;
        }
        let schema = ch.schema.as_ref().unwrap();
        assert_eq!(schema.encoding, "protobuf");
        assert_eq!(ch.message_encoding, "protobuf");
        seen.insert(ch.topic.clone(), schema.name.clone());
        if ch.topic == "/camera/overhead/image" && images == 0 {
            let img = RawImage::decode(&*m.data).unwrap();
            assert_eq!((img.width, img.height, img.step), (128, 128, 384));
            assert_eq!(img.encoding, "rgb8");
            assert_eq!(img.frame_id, "overhead");
            assert_eq!(img.data.len(), 128 * 128 * 3);
            let distinct: std::collections::BTreeSet<&[u8]> = img.data.chunks(3).collect();
            assert!(
                distinct.len() > 20,
                "a picture, not a blank: {}",
                distinct.len()
            );
            images += 1;
        }
        if ch.topic == "/camera/wrist/depth" {
            let img = RawImage::decode(&*m.data).unwrap();
            assert_eq!((img.encoding.as_str(), img.step), ("32FC1", 96 * 4));
            let depth: Vec<f32> = img
                .data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            assert!(
                depth.iter().any(|d| *d > 0.01 && *d < 2.0),
                "depth in metres"
            );
        }
        if ch.topic == "/camera/overhead/calibration" {
            let cal = CameraCalibration::decode(&*m.data).unwrap();
            assert_eq!((cal.width, cal.k.len(), cal.p.len()), (128, 9, 12));
        }
    }
    assert_eq!(images, 1);
    for cam in ["overhead", "wrist"] {
        assert_eq!(seen[&format!("/camera/{cam}/image")], "foxglove.RawImage");
        assert_eq!(seen[&format!("/camera/{cam}/depth")], "foxglove.RawImage");
        assert_eq!(
            seen[&format!("/camera/{cam}/calibration")],
            "foxglove.CameraCalibration"
        );
    }
    // The schema data is a descriptor set naming the message.
    let summary = mcap::Summary::read(&bytes).unwrap().unwrap();
    let raw = summary
        .schemas
        .values()
        .find(|s| s.name == "foxglove.RawImage")
        .unwrap();
    let set = ganglion::record::foxglove::FileDescriptorSet::decode(&*raw.data).unwrap();
    assert_eq!(set.file[1].package.as_deref(), Some("foxglove"));

    // The reader keeps each frame's digest; resim compares them all.
    let r = read_recording(&rec).unwrap();
    assert_eq!(r.frames["/camera/overhead/image"].len(), 30);
    assert_eq!(r.frames["/camera/wrist/depth"].len(), 6);
    let rep = replay(&ReplayOptions {
        recording: rec.clone(),
        resim: true,
        policy: None,
    })
    .unwrap();
    assert_eq!((rep.mismatches, rep.frame_mismatches), (0, 0), "{rep:?}");
    assert_eq!(rep.frames_checked, 72, "{rep:?}");
    // The policy replay still works on a recording with cameras.
    let rep = replay(&ReplayOptions {
        recording: rec.clone(),
        resim: false,
        policy: None,
    })
    .unwrap();
    assert_eq!(rep.mismatches, 0, "{rep:?}");
}

#[test]
fn a_different_seed_renders_different_frames() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.mcap"), dir.path().join("b.mcap"));
    run(camera_config(dir.path(), &[]), &a, 5, true);
    let cfg = camera_config(dir.path(), &[("seed = 3", "seed = 4")]);
    run(cfg, &b, 5, true);
    let (ra, rb) = (read_recording(&a).unwrap(), read_recording(&b).unwrap());
    let (checked, mismatches, _) = ganglion::record::camera::compare_frames(&ra, &rb);
    assert_eq!(
        checked, 12,
        "5 overhead frames and 1 wrist frame, image and depth each"
    );
    assert!(mismatches > 0, "another scene, other pictures");
}

/// Two 128×128 RGB-D cameras at 30 Hz, paced to wall time for 3 s: the
/// recorder drops no frame. Prints the rates (docs/cameras.md).
#[test]
fn recorder_keeps_up_at_30_hz() {
    let _rt = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let cfg = camera_config(
        dir.path(),
        &[
            ("rate_hz = 25\n\n[plant]", "rate_hz = 30\n\n[plant]"),
            ("rate_hz = 25\nfov_deg", "rate_hz = 30\nfov_deg"),
            (
                "width = 96\nheight = 96\nevery_ticks = 5",
                "width = 128\nheight = 128\nevery_ticks = 1",
            ),
        ],
    );
    let rec = dir.path().join("rate.mcap");
    let report = run(cfg, &rec, 90, false);
    let s = report.recording.as_ref().unwrap();
    let mb = std::fs::metadata(&rec).unwrap().len() as f64 / 1e6;
    eprintln!(
        "recorder at 30 Hz, 2 cameras 128x128 RGB-D: {} frames, {} dropped, {:.2} MB of frames \
         in {:.2} s wall = {:.2} MB/s (file {mb:.2} MB); tick compute p50 {:.2} ms, max {:.2} ms",
        s.frames,
        s.frames_dropped,
        s.frame_bytes as f64 / 1e6,
        report.wall_time_s,
        s.frame_bytes as f64 / 1e6 / report.wall_time_s,
        report.compute.p50_us / 1e3,
        report.compute.max_us / 1e3,
    );
    assert_eq!(report.ticks, 90);
    assert_eq!(s.frames, 180);
    assert_eq!(s.frames_dropped, 0);
    assert_eq!(s.dropped, 0);

    // Unpaced: the loop renders as fast as it can; how much the recorder
    // takes (frames it cannot take in time are dropped and counted).
    let cfg = camera_config(
        dir.path(),
        &[(
            "width = 96\nheight = 96\nevery_ticks = 5",
            "width = 128\nheight = 128\nevery_ticks = 1",
        )],
    );
    let rec = dir.path().join("fast.mcap");
    let report = run(cfg, &rec, 150, true);
    let s = report.recording.as_ref().unwrap();
    eprintln!(
        "unpaced, 2 cameras 128x128 RGB-D: {} frames + {} dropped in {:.2} s wall = {:.0} frames/s \
         recorded, {:.2} MB/s",
        s.frames,
        s.frames_dropped,
        report.wall_time_s,
        s.frames as f64 / report.wall_time_s,
        s.frame_bytes as f64 / 1e6 / report.wall_time_s,
    );
    assert_eq!(s.frames + s.frames_dropped, 300);
}

/// A recording without cameras (the format before them: no `/camera/`
/// channels, tests/fixtures/cartpole-no-camera.mcap, 25 CartPole ticks)
/// still reads and replays, both ways.
#[test]
fn a_recording_without_cameras_still_replays() {
    let rec = common::repo().join("tests/fixtures/cartpole-no-camera.mcap");
    let r = read_recording(&rec).unwrap();
    assert!(r.frames.is_empty() && !r.truncated);
    assert!(!r.channels.iter().any(|c| c.starts_with("/camera/")));
    for resim in [true, false] {
        let rep = replay(&ReplayOptions {
            recording: rec.clone(),
            resim,
            policy: None,
        })
        .unwrap();
        assert_eq!((rep.mismatches, rep.frames_checked), (0, 0), "{rep:?}");
        assert_eq!(rep.ticks, 25);
    }
}
