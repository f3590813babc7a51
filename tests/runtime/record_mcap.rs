//! MCAP recording: round trips (through our reader and the mcap crate
//! directly), crash truncation, a full ring, payload determinism, bad files.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use ganglion::record::schema::{
    DETERMINISTIC_TOPICS, TOPIC_ACTION, TOPIC_OBSERVATION, TOPIC_SAFETY, TOPIC_SENSORS, TOPIC_TASK,
    TOPIC_TIMING,
};
use ganglion::record::{
    RecordSummary, Recorder, RecordingHeader, SafetyEvents, SafetyState, TickRecord,
    compare_payloads, read_recording,
};

const TOPICS: [&str; 6] = [
    TOPIC_SENSORS,
    TOPIC_OBSERVATION,
    TOPIC_ACTION,
    TOPIC_SAFETY,
    TOPIC_TIMING,
    TOPIC_TASK,
];

fn header() -> RecordingHeader {
    let mut metadata = BTreeMap::new();
    metadata.insert("plant".to_string(), "cartpole".to_string());
    metadata.insert("policy".to_string(), "models/cartpole.onnx".to_string());
    RecordingHeader {
        sensor_names: ["x", "x_dot", "theta", "theta_dot", "force"]
            .map(String::from)
            .to_vec(),
        obs_dim: 4,
        action_dim: 2,
        actuator_names: vec!["cart_motor".into(), "brake".into()],
        metadata,
    }
}

/// Awkward floats: subnormals, extremes, negative zero, long mantissas.
fn value(i: u64, k: usize) -> f32 {
    let special = [
        f32::MIN_POSITIVE / 3.0,
        -0.0,
        f32::MAX,
        1e-38,
        0.1,
        -3.4028e38,
        16_777_217.0,
    ];
    if (i + k as u64).is_multiple_of(13) {
        return special[((i as usize) + k) % special.len()];
    }
    ((i as f32) * 0.731 + k as f32).sin() * 10f32.powi((k as i32 % 5) - 2)
}

/// The i-th synthetic tick. `wall` shifts the wall-clock fields only.
fn synthetic(i: u64, wall: f64) -> TickRecord {
    let mut r = TickRecord {
        tick: i,
        time: i as f64 * 0.02,
        wall_time: i as f64 * 0.02 + wall,
        n_sensors: 5,
        n_obs: 4,
        n_action: 2,
        n_command: 2,
        lateness_ns: (i as i64 % 7 - 3) * 1000 + (wall * 1e6) as i64,
        compute_ns: 20_000 + i + (wall * 1e6) as u64,
        policy_ns: 8_000 + i,
        ..Default::default()
    };
    for k in 0..5 {
        r.sensors[k] = value(i, k);
    }
    for k in 0..4 {
        r.obs[k] = value(i, k + 5) * 0.5;
    }
    if i % 50 == 7 {
        r.obs[2] = f32::NAN;
    }
    r.policy_ran = i % 10 != 3;
    for k in 0..2 {
        r.raw_action[k] = if r.policy_ran {
            value(i, k + 9)
        } else {
            f32::NAN
        };
        r.command[k] = value(i, k + 11).clamp(-1.0, 1.0);
    }
    if i.is_multiple_of(97) {
        r.events.set(SafetyEvents::STALE_SENSOR);
        r.events.set(SafetyEvents::CLAMPED);
    }
    if (500..505).contains(&i) {
        r.events.set(SafetyEvents::NON_FINITE_SENSOR);
        r.state = SafetyState::Safe;
    }
    if i == 700 {
        r.events.set(SafetyEvents::ESTOP);
    }
    if (700..710).contains(&i) {
        r.state = SafetyState::EStopped;
    }
    if i == 710 {
        r.events.set(SafetyEvents::ESTOP_RESET);
    }
    r
}

/// Ticks the recorder writes a /safety message for.
fn expected_safety(records: &[TickRecord]) -> usize {
    let mut prev = SafetyState::Normal;
    let mut n = 0;
    for r in records {
        if !r.events.is_empty() || r.state != prev {
            n += 1;
        }
        prev = r.state;
    }
    n
}

fn record(path: &Path, records: &[TickRecord], flush_every: Duration) -> RecordSummary {
    let (recorder, mut sink) = Recorder::start(path, header(), 4096, flush_every, false).unwrap();
    for r in records {
        assert!(sink.push(r));
    }
    recorder.finish().unwrap()
}

fn same_f32s(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| (x.is_nan() && y.is_nan()) || x.to_bits() == y.to_bits())
}

fn assert_tick_matches(got: &ganglion::record::RecordedTick, want: &TickRecord) {
    assert_eq!(got.tick, want.tick);
    assert_eq!(got.time.to_bits(), want.time.to_bits());
    assert!(
        same_f32s(&got.sensors, want.sensors()),
        "tick {}",
        want.tick
    );
    assert!(same_f32s(&got.obs, want.obs()), "tick {}", want.tick);
    assert!(
        same_f32s(&got.raw_action, want.raw_action()),
        "tick {}",
        want.tick
    );
    assert!(
        same_f32s(&got.command, want.command()),
        "tick {}",
        want.tick
    );
    assert_eq!(got.policy_ran, want.policy_ran);
    assert_eq!(got.state, want.state, "tick {}", want.tick);
    assert_eq!(got.events, want.events, "tick {}", want.tick);
    assert_eq!(got.wall_time.to_bits(), want.wall_time.to_bits());
}

#[test]
fn thousand_ticks_round_trip_through_our_reader_and_the_mcap_crate() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs/nested/run.mcap");
    let records: Vec<TickRecord> = (0..1000).map(|i| synthetic(i, 0.001)).collect();
    let summary = record(&path, &records, Duration::from_millis(20));
    let n_safety = expected_safety(&records);
    assert_eq!(summary.ticks, 1000);
    assert_eq!(summary.dropped, 0);
    assert_eq!(summary.messages, 4000 + n_safety as u64);
    assert_eq!(summary.path, path);

    // Our reader.
    let rec = read_recording(&path).unwrap();
    assert!(!rec.truncated, "{:?}", rec.stop_reason);
    assert_eq!(rec.channels, TOPICS);
    assert_eq!(rec.sensor_names, header().sensor_names);
    assert_eq!(rec.actuator_names, header().actuator_names);
    assert_eq!(
        rec.metadata.get("plant").map(String::as_str),
        Some("cartpole")
    );
    assert_eq!(rec.metadata.get("obs_dim").map(String::as_str), Some("4"));
    assert_eq!(rec.ticks.len(), 1000);
    assert_eq!(rec.dropped, 0);
    for (got, want) in rec.ticks.iter().zip(&records) {
        assert_tick_matches(got, want);
    }
    assert!(rec.ticks[7].obs[2].is_nan());
    assert!(rec.ticks[3].raw_action.iter().all(|v| v.is_nan()));
    assert_eq!(rec.ticks[703].state, SafetyState::EStopped);
    assert!(rec.ticks[700].events.has(SafetyEvents::ESTOP));
    assert_eq!(rec.payloads[TOPIC_SAFETY].len(), n_safety);
    assert_eq!(rec.payloads[TOPIC_SENSORS].len(), 1000);
    assert!(!rec.payloads.contains_key(TOPIC_TIMING));

    // The mcap crate, directly.
    let bytes = std::fs::read(&path).unwrap();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for msg in mcap::MessageStream::new(&bytes).unwrap() {
        let msg = msg.unwrap();
        let ch = &msg.channel;
        assert_eq!(ch.message_encoding, "json");
        let schema = ch.schema.as_ref().expect("every channel has a schema");
        assert_eq!(schema.encoding, "jsonschema");
        let js: serde_json::Value = serde_json::from_slice(&schema.data).unwrap();
        assert_eq!(js["type"], "object");
        let body: serde_json::Value = serde_json::from_slice(&msg.data).unwrap();
        for key in js["required"].as_array().unwrap() {
            assert!(
                body.get(key.as_str().unwrap()).is_some(),
                "{} lacks {key}",
                ch.topic
            );
        }
        let tick = body["tick"].as_u64().unwrap();
        assert_eq!(msg.sequence as u64, tick);
        let r = &records[tick as usize];
        assert_eq!(msg.log_time, (r.time * 1e9).round() as u64);
        assert_eq!(msg.publish_time, msg.log_time);
        if ch.topic == TOPIC_SENSORS {
            let names: Vec<String> = serde_json::from_str(&ch.metadata["names"]).unwrap();
            assert_eq!(names, header().sensor_names);
        }
        if ch.topic == TOPIC_ACTION {
            let names: Vec<String> = serde_json::from_str(&ch.metadata["actuators"]).unwrap();
            assert_eq!(names, header().actuator_names);
            if !r.policy_ran {
                assert_eq!(body["raw"], serde_json::json!([null, null]));
            }
        }
        *counts.entry(ch.topic.clone()).or_default() += 1;
    }
    assert_eq!(counts[TOPIC_SENSORS], 1000);
    assert_eq!(counts[TOPIC_OBSERVATION], 1000);
    assert_eq!(counts[TOPIC_ACTION], 1000);
    assert_eq!(counts[TOPIC_TIMING], 1000);
    assert_eq!(counts[TOPIC_SAFETY], n_safety);

    // Summary section and indexes (what Foxglove seeks with).
    let s = mcap::Summary::read(&bytes)
        .unwrap()
        .expect("finished file has a summary");
    let stats = s.stats.as_ref().unwrap();
    assert_eq!(stats.message_count, summary.messages);
    assert_eq!(stats.channel_count, 6);
    assert!(stats.chunk_count > 1);
    for c in &s.chunk_indexes {
        assert!(
            c.chunk_length <= 64 * 1024 + 100,
            "chunk of {} bytes",
            c.chunk_length
        );
    }
    let run = s
        .metadata_indexes
        .iter()
        .find(|m| m.name == "ganglion.run")
        .unwrap();
    let meta = mcap::read::metadata(&bytes, run).unwrap();
    assert_eq!(meta.metadata["plant"], "cartpole");
    let names: Vec<String> = serde_json::from_str(&meta.metadata["sensor_names"]).unwrap();
    assert_eq!(names, header().sensor_names);
}

#[test]
fn truncated_files_read_up_to_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.mcap");
    let records: Vec<TickRecord> = (0..1000).map(|i| synthetic(i, 0.0)).collect();
    record(&path, &records, Duration::from_millis(1));
    let bytes = std::fs::read(&path).unwrap();

    let cut_path = dir.path().join("cut.mcap");
    let mut last = 0;
    let mut cuts: Vec<usize> = (1..40)
        .map(|k| 200 + k * (bytes.len() - 200) / 40)
        .collect();
    cuts.extend([bytes.len() - 1, bytes.len() - 9, bytes.len() - 30]);
    for cut in cuts {
        std::fs::write(&cut_path, &bytes[..cut]).unwrap();
        let rec = read_recording(&cut_path).unwrap();
        assert!(rec.truncated, "cut at {cut}");
        assert!(rec.stop_reason.is_some());
        assert!(
            rec.ticks.len() >= last,
            "cut at {cut}: fewer ticks than a shorter cut"
        );
        last = rec.ticks.len();
        for (got, want) in rec.ticks.iter().zip(&records) {
            assert_tick_matches(got, want);
        }
        for list in rec.payloads.values() {
            assert!(list.iter().all(|(t, _)| (*t as usize) < rec.ticks.len()));
        }
    }
    assert!(last > 900, "a cut near the end keeps almost everything");
}

#[test]
fn a_live_file_is_readable_up_to_its_last_flush() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.mcap");
    let copy = dir.path().join("crash.mcap");
    let (recorder, mut sink) =
        Recorder::start(&path, header(), 1024, Duration::from_millis(5), false).unwrap();
    let records: Vec<TickRecord> = (0..300).map(|i| synthetic(i, 0.0)).collect();
    for r in &records {
        assert!(sink.push(r));
    }
    // What a SIGKILL now would leave: the file's bytes as they are.
    let deadline = Instant::now() + Duration::from_secs(10);
    let rec = loop {
        std::fs::copy(&path, &copy).unwrap();
        let rec = read_recording(&copy).unwrap();
        if rec.ticks.len() == records.len() || Instant::now() > deadline {
            break rec;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(rec.truncated);
    assert_eq!(rec.ticks.len(), records.len());
    for (got, want) in rec.ticks.iter().zip(&records) {
        assert_tick_matches(got, want);
    }
    assert_eq!(rec.sensor_names, header().sensor_names);

    // Dropping the recorder without finish still ends the file.
    drop(recorder);
    assert!(
        !sink.push(&synthetic(300, 0.0)),
        "push after the recorder stopped"
    );
    let rec = read_recording(&path).unwrap();
    assert!(!rec.truncated, "{:?}", rec.stop_reason);
    assert_eq!(rec.ticks.len(), 300);
}

#[test]
fn a_full_ring_drops_without_blocking_and_the_drop_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("drops.mcap");
    let (recorder, mut sink) =
        Recorder::start(&path, header(), 16, Duration::from_millis(50), false).unwrap();
    let mut refused = 0u64;
    let mut slowest = Duration::ZERO;
    let start = Instant::now();
    for i in 0..10_000 {
        let t = Instant::now();
        if !sink.push(&synthetic(i, 0.0)) {
            refused += 1;
        }
        slowest = slowest.max(t.elapsed());
    }
    let total = start.elapsed();
    assert!(
        refused > 0,
        "a 16-slot ring cannot keep up with a tight loop"
    );
    assert_eq!(sink.dropped(), refused);
    assert!(total < Duration::from_secs(2), "10k pushes took {total:?}");
    assert!(
        slowest < Duration::from_millis(50),
        "a push took {slowest:?}"
    );

    let summary = recorder.finish().unwrap();
    assert_eq!(summary.dropped, refused);
    assert_eq!(summary.ticks + refused, 10_000);

    let rec = read_recording(&path).unwrap();
    assert!(!rec.truncated);
    assert_eq!(rec.ticks.len() as u64, summary.ticks);
    assert_eq!(rec.dropped, refused);
    let mut prev = 0;
    for t in &rec.ticks {
        assert!(t.dropped_before >= prev);
        if t.dropped_before > prev {
            assert!(t.events.has(SafetyEvents::RECORD_DROP), "tick {}", t.tick);
        }
        prev = t.dropped_before;
    }
    assert!(
        rec.ticks
            .iter()
            .any(|t| t.events.has(SafetyEvents::RECORD_DROP))
    );
    // Every drop is accounted for: the last tick carries the rest.
    let last = rec.ticks.last().unwrap();
    assert!(last.dropped_before == refused || last.events.has(SafetyEvents::RECORD_DROP));
}

#[test]
fn identical_inputs_give_identical_deterministic_payloads() {
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb, pc, pd) = (
        dir.path().join("a.mcap"),
        dir.path().join("b.mcap"),
        dir.path().join("c.mcap"),
        dir.path().join("d.mcap"),
    );
    let a: Vec<TickRecord> = (0..400).map(|i| synthetic(i, 0.0)).collect();
    let b: Vec<TickRecord> = (0..400).map(|i| synthetic(i, 0.0042)).collect();
    let mut c = a.clone();
    c[123].command[1] += 0.25;
    record(&pa, &a, Duration::from_millis(10));
    record(&pb, &b, Duration::from_millis(3));
    record(&pc, &c, Duration::from_millis(10));
    record(&pd, &a[..399], Duration::from_millis(10));
    let (ra, rb, rc, rd) = (
        read_recording(&pa).unwrap(),
        read_recording(&pb).unwrap(),
        read_recording(&pc).unwrap(),
        read_recording(&pd).unwrap(),
    );
    assert_ne!(ra.ticks[5].wall_time, rb.ticks[5].wall_time);
    assert_eq!(compare_payloads(&ra, &rb), None);
    for topic in DETERMINISTIC_TOPICS {
        assert_eq!(ra.payloads.get(topic), rb.payloads.get(topic), "{topic}");
    }

    let m = compare_payloads(&ra, &rc).expect("a changed command is a mismatch");
    assert_eq!((m.tick, m.topic.as_str()), (123, TOPIC_ACTION), "{m}");
    assert!(
        m.to_string().contains("command") || m.detail.contains("differ"),
        "{m}"
    );

    let m = compare_payloads(&ra, &rd).expect("a missing tick is a mismatch");
    assert_eq!(m.tick, 399, "{m}");
}

#[test]
fn bad_files_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.mcap");
    std::fs::write(&garbage, b"this is not an mcap file at all, just text\n").unwrap();
    let err = read_recording(&garbage).unwrap_err();
    assert!(format!("{err:#}").contains("garbage.mcap"), "{err:#}");

    let empty = dir.path().join("empty.mcap");
    std::fs::write(&empty, b"").unwrap();
    assert!(read_recording(&empty).is_err());
    assert!(read_recording(&dir.path().join("missing.mcap")).is_err());

    let magic_then_junk = dir.path().join("junk.mcap");
    let mut junk = mcap::MAGIC.to_vec();
    junk.extend_from_slice(&[0xff; 64]);
    std::fs::write(&magic_then_junk, &junk).unwrap();
    assert!(read_recording(&magic_then_junk).is_err());

    // Corrupt bytes anywhere in a valid file: Ok or Err, never a panic.
    let good = dir.path().join("good.mcap");
    let records: Vec<TickRecord> = (0..60).map(|i| synthetic(i, 0.0)).collect();
    record(&good, &records, Duration::from_millis(1));
    let bytes = std::fs::read(&good).unwrap();
    let bad = dir.path().join("bad.mcap");
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for _ in 0..300 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut b = bytes.clone();
        let at = (x as usize) % b.len();
        b[at] ^= 1 << ((x >> 32) % 8);
        std::fs::write(&bad, &b).unwrap();
        if let Ok(rec) = read_recording(&bad) {
            assert!(rec.ticks.len() <= records.len());
        }
    }
}
