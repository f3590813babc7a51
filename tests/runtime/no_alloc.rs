//! Nothing in a tick reaches the system allocator: 10,000 ticks after
//! warm-up, with the real tract policy, the rapier plant and recording on,
//! count zero allocations in the loop's own code and zero inside the policy
//! engine, whose per-tick allocations the loop's policy arena serves (MLP,
//! Decision Transformer, a chunked policy reading camera frames). Counts are
//! per loop (the loop's own thread), so other tests running meanwhile never
//! mix in. The arena's own rules: a block that outlives its tick stops the
//! arena and stays intact; a tick that outgrows it is a policy error and
//! gets the safe action.

use crate::common;

use std::time::Duration;

use ganglion::assemble::build_plant;
use ganglion::record::Recorder;
use ganglion::runtime::alloc_count::{self, CountingAlloc};
use ganglion::runtime::{ClockMode, ControlLoop, RunLimit};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

#[test]
fn no_allocation_in_ticks() {
    let cfg = common::cartpole_config();
    let dir = tempfile::tempdir().unwrap();
    let plant = build_plant(&cfg.plant).unwrap();
    let header = common::cartpole_header(plant.as_ref());
    let (recorder, sink) = Recorder::start(
        &dir.path().join("a.mcap"),
        header,
        16_384,
        Duration::from_millis(20),
        false,
    )
    .unwrap();
    let policy = common::cartpole_policy(&cfg);
    let mut lp = ControlLoop::new(
        &cfg,
        plant,
        Box::new(policy),
        ClockMode::Lockstep { paced: false },
        Some(sink),
    )
    .unwrap();
    lp.run(RunLimit {
        ticks: Some(200),
        seconds: None,
        ..Default::default()
    });
    assert!(alloc_count::is_active(), "counting allocator installed");
    lp.run(RunLimit {
        ticks: Some(10_200),
        seconds: None,
        ..Default::default()
    });
    assert_eq!(lp.ticks(), 10_200);
    let (in_loop, in_engine, from_arena) = lp.allocations();
    eprintln!("policy engine (tract): {from_arena:.2} allocations per tick from its arena");
    assert_eq!(in_loop, 0.0, "allocations in the loop's own code");
    assert_eq!(
        in_engine, 0.0,
        "system allocations inside the policy engine"
    );
    assert!(
        from_arena > 0.0,
        "tract allocates per run: the arena served it"
    );
    assert_eq!(lp.arena_serving(), Some(true));
    drop(lp.take_sink());
    let summary = recorder.finish().unwrap();
    assert_eq!(summary.ticks + summary.dropped, 10_200);
}

/// The same with two simulated cameras (overhead 128×128 every tick, wrist
/// 96×96 every 5th) rendering into their buffers and the recorder's frame
/// ring: still no allocation in the loop's own code.
#[test]
fn no_allocation_in_ticks_with_cameras() {
    let root = common::repo();
    let cfg = ganglion::config::load(&root.join("robots/tabletop-camera.toml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    let plant = build_plant(&cfg.plant).unwrap();
    let rig = ganglion::camera::CameraRig::from_config(&cfg, 3).unwrap();
    let header = ganglion::record::RecordingHeader {
        sensor_names: plant.sensor_names().iter().map(|s| s.to_string()).collect(),
        obs_dim: cfg.observation.fields.len(),
        action_dim: 1,
        actuator_names: plant
            .actuator_names()
            .iter()
            .map(|s| s.to_string())
            .collect(),
        metadata: Default::default(),
    };
    let (recorder, sink) = Recorder::start_with(
        &dir.path().join("c.mcap"),
        header,
        &rig.specs(),
        4096,
        Duration::from_millis(20),
        false,
    )
    .unwrap();
    let policy = ganglion::assemble::load_any_policy(&cfg).unwrap();
    let mut lp = ControlLoop::new(
        &cfg,
        plant,
        policy,
        ClockMode::Lockstep { paced: false },
        Some(sink),
    )
    .unwrap();
    lp.set_cameras(rig);
    lp.run(RunLimit {
        ticks: Some(20),
        ..Default::default()
    });
    lp.run(RunLimit {
        ticks: Some(320),
        ..Default::default()
    });
    assert_eq!(lp.ticks(), 320);
    let frames = lp.cameras().unwrap().counters()[0].frames;
    assert_eq!(frames, 320, "the overhead camera took a frame every tick");
    let (in_loop, in_engine, _) = lp.allocations();
    assert_eq!(
        in_loop, 0.0,
        "allocations in the loop's own code with cameras"
    );
    assert_eq!(
        in_engine, 0.0,
        "system allocations inside the policy engine"
    );
    drop(lp.take_sink());
    let summary = recorder.finish().unwrap();
    assert_eq!(summary.frames + summary.frames_dropped, 320 + 64);
}

/// With the overhead camera and a chunked policy that reads its frames
/// (inline, and on a lockstep service thread): the frames reach the policy
/// and still nothing is allocated in the loop's own code.
#[test]
fn no_allocation_in_ticks_with_a_policy_reading_frames() {
    use ganglion::policy::Timing;
    for timing in [Timing::Inline, Timing::Lockstep { latency: 2 }] {
        let mut lp = crate::chunked::tabletop_frame_loop(timing, 2);
        lp.run(RunLimit {
            ticks: Some(20),
            ..Default::default()
        });
        lp.run(RunLimit {
            ticks: Some(220),
            ..Default::default()
        });
        assert_eq!(lp.ticks(), 220);
        // The last action came from the frame of its chunk's tick.
        assert_eq!(lp.last_record().raw_action[4], 219.0, "{timing:?}");
        assert_eq!(lp.cameras().unwrap().counters()[0].frames, 220);
        let (in_loop, in_engine, _) = lp.allocations();
        assert_eq!(
            in_loop, 0.0,
            "{timing:?}: allocations in the loop's own code"
        );
        assert_eq!(
            in_engine, 0.0,
            "{timing:?}: system allocations inside the policy engine"
        );
    }
}

/// The Decision Transformer on the reacher (a 291-allocation tract run per
/// tick): all of it from the arena.
#[test]
fn no_allocation_in_ticks_with_the_decision_transformer() {
    let root = common::repo();
    let text = std::fs::read_to_string(root.join("robots/reacher.toml"))
        .unwrap()
        .replace(
            "path = \"../models/reacher-ppo.onnx\"\nkind = \"mlp\"",
            "path = \"../models/reacher-dt.onnx\"\nkind = \"decision-transformer\"\ntarget_return = -6.0",
        );
    assert!(text.contains("reacher-dt"));
    let cfg = ganglion::config::parse(&root.join("robots/reacher-dt.toml"), &text)
        .unwrap_or_else(|e| panic!("{e}"));
    let plant = build_plant(&cfg.plant).unwrap();
    let policy = ganglion::assemble::load_any_policy(&cfg).unwrap();
    let mut lp = ControlLoop::new(
        &cfg,
        plant,
        policy,
        ClockMode::Lockstep { paced: false },
        None,
    )
    .unwrap();
    lp.run(RunLimit {
        ticks: Some(300),
        ..Default::default()
    });
    assert_eq!(lp.ticks(), 300);
    let (in_loop, in_engine, from_arena) = lp.allocations();
    assert_eq!(in_loop, 0.0);
    assert_eq!(in_engine, 0.0, "system allocations inside the DT engine");
    assert!(from_arena > 100.0, "{from_arena}");
    assert!(
        lp.filter()
            .counters()
            .all(|(n, c)| n != "policy_error" || c == 0),
        "the DT ran every tick"
    );
}

/// A policy whose engine keeps what it allocates (`keep`), or asks for more
/// than the arena holds (`huge`), besides a scratch vector per call.
struct Hoarder {
    kept: Vec<Vec<u8>>,
    keep_at: usize,
    huge_at: usize,
    calls: usize,
}

impl ganglion::policy::Policy for Hoarder {
    fn act(
        &mut self,
        obs: &[f32],
        action: &mut [f32],
    ) -> Result<(), ganglion::policy::PolicyError> {
        self.calls += 1;
        let scratch: Vec<f32> = obs.iter().map(|v| v * 0.0).collect();
        if self.calls == self.keep_at {
            self.kept.push(vec![0xA5; 1000]);
        }
        // A kept block must never be handed out again.
        if self.kept.iter().any(|b| b.iter().any(|&x| x != 0xA5)) {
            return Err(ganglion::policy::PolicyError::Inference(
                "a kept block was overwritten".into(),
            ));
        }
        if self.calls == self.huge_at {
            let big: Vec<u8> = Vec::with_capacity(alloc_count::POLICY_ARENA_BYTES + 1);
            std::hint::black_box(&big);
        }
        action.fill(scratch.iter().sum());
        Ok(())
    }
}

fn hoarder_loop(keep_at: usize, huge_at: usize) -> ControlLoop {
    let cfg = common::cartpole_config();
    let plant = build_plant(&cfg.plant).unwrap();
    let policy = Hoarder {
        kept: Vec::with_capacity(4),
        keep_at,
        huge_at,
        calls: 0,
    };
    ControlLoop::new(
        &cfg,
        plant,
        Box::new(policy),
        ClockMode::Lockstep { paced: false },
        None,
    )
    .unwrap()
}

#[test]
fn a_block_that_outlives_its_tick_stops_the_arena_and_stays_intact() {
    let mut lp = hoarder_loop(10, 0);
    lp.run(RunLimit {
        ticks: Some(9),
        ..Default::default()
    });
    assert_eq!(lp.arena_serving(), Some(true));
    lp.run(RunLimit {
        ticks: Some(200),
        ..Default::default()
    });
    // The kept block made the arena stop: later scratch vectors come from
    // the system allocator (reported), and the kept block was never reused.
    assert_eq!(lp.arena_serving(), Some(false));
    let (_, in_engine, _) = lp.allocations();
    assert!(in_engine > 0.5, "{in_engine}");
    assert!(
        lp.filter()
            .counters()
            .all(|(n, c)| n != "policy_error" || c == 0)
    );
}

#[test]
fn a_tick_that_outgrows_the_arena_is_a_policy_error_with_the_safe_action() {
    let mut lp = hoarder_loop(0, 20);
    lp.run(RunLimit {
        ticks: Some(19),
        ..Default::default()
    });
    let before = lp
        .filter()
        .counters()
        .find(|(n, _)| *n == "policy_error")
        .map_or(0, |(_, c)| c);
    assert_eq!(before, 0);
    lp.run(RunLimit {
        ticks: Some(20),
        ..Default::default()
    });
    let rec = lp.last_record();
    assert!(
        rec.events.has(ganglion::record::SafetyEvents::POLICY_ERROR),
        "{:?}",
        rec.events
    );
    assert_eq!(rec.command[0], 0.0, "the safe action");
    // It was one tick: the arena serves on.
    lp.run(RunLimit {
        ticks: Some(40),
        ..Default::default()
    });
    assert_eq!(lp.arena_serving(), Some(true));
    assert!(
        !lp.last_record()
            .events
            .has(ganglion::record::SafetyEvents::POLICY_ERROR)
    );
}
