//! Chunked, asynchronous policies in the real loop (rapier Reacher): a model
//! that takes 200 ms per chunk drives a 25 Hz loop paced to wall time with
//! no deadline miss and no tick without an action while its chunks last;
//! one whose chunks run out leaves ticks to the safety filter's safe action,
//! counted; a chunked ONNX model named in the robot config runs the same
//! way twice in lockstep (latency in ticks) and replays bit-exactly; a model
//! that reads the camera acts on the frame taken in its observation's tick,
//! inline, on a lockstep service and on a wall-clock one (tabletop).

use crate::common;

use std::time::Duration;

use ganglion::assemble::build_plant;
use ganglion::camera::ImageFrame;
use ganglion::config::{self, RobotConfig};
use ganglion::learn::ActorCritic;
use ganglion::nn::Activation;
use ganglion::policy::{ActionSpec, ChunkModel, ChunkSchedule, ChunkedPolicy, PolicyError, Timing};
use ganglion::runtime::alloc_count;
use ganglion::runtime::{ClockMode, ControlLoop, RunLimit};
use ganglion::sim::Rng;

/// Sleeps `delay` per chunk, then writes a small, slowly turning action.
struct SlowModel {
    delay: Duration,
    horizon: usize,
    calls: u32,
}

impl ChunkModel for SlowModel {
    fn obs_dim(&self) -> usize {
        10
    }
    fn action_dim(&self) -> usize {
        2
    }
    fn horizon(&self) -> usize {
        self.horizon
    }
    fn predict(
        &mut self,
        obs: &[f32],
        _: Option<&ImageFrame>,
        chunk: &mut [f32],
    ) -> Result<(), PolicyError> {
        std::thread::sleep(self.delay);
        self.calls += 1;
        for (i, a) in chunk.chunks_mut(2).enumerate() {
            a[0] = 0.1 * (obs[0] + i as f32 * 0.01).sin();
            a[1] = -0.1;
        }
        Ok(())
    }
}

fn reacher_at(rate_hz: f64) -> RobotConfig {
    let mut cfg = config::load(&common::repo().join("robots/reacher.toml")).unwrap();
    cfg.rate_hz = rate_hz;
    cfg
}

fn counter(lp: &ControlLoop, name: &str) -> u64 {
    lp.filter()
        .counters()
        .find(|(n, _)| *n == name)
        .map_or(0, |(_, c)| c)
}

fn run_paced(horizon: usize, ticks: u64) -> ControlLoop {
    let cfg = reacher_at(25.0);
    let plant = build_plant(&cfg.plant).unwrap();
    let model = SlowModel {
        delay: Duration::from_millis(200),
        horizon,
        calls: 0,
    };
    let policy = ChunkedPolicy::new(
        Box::new(model),
        ChunkSchedule {
            every: 1,
            decay: 0.01,
            timing: Timing::Wall,
        },
    );
    let mut lp = ControlLoop::new(
        &cfg,
        plant,
        Box::new(policy),
        ClockMode::Lockstep { paced: true },
        None,
    )
    .unwrap();
    lp.run(RunLimit {
        ticks: Some(ticks),
        seconds: None,
        ..Default::default()
    });
    assert_eq!(lp.ticks(), ticks);
    lp
}

#[test]
fn a_slow_chunk_model_never_makes_the_tick_wait() {
    let _rt = common::serial();
    // 200 ms per chunk of 12 actions (480 ms at 25 Hz): 3.2 s of control.
    let before = alloc_count::counts();
    let lp = run_paced(12, 80);
    let after = alloc_count::counts();
    assert_eq!(lp.stats.deadline_misses, 0, "deadline misses");
    assert_eq!(
        counter(&lp, "action_queue_empty"),
        0,
        "ticks without an action"
    );
    assert_eq!(counter(&lp, "policy_error"), 0);
    // The tick only moves buffers: neither its own code nor the policy's
    // side of it allocates (the model runs on the service thread).
    if alloc_count::is_active() {
        assert_eq!(after.0 - before.0, 0, "allocations in the loop's code");
        assert_eq!(
            after.1 - before.1,
            0,
            "allocations in the policy's tick side"
        );
    }
}

#[test]
fn ticks_past_the_last_chunk_get_the_safe_action_and_are_counted() {
    let _rt = common::serial();
    // Chunks of 2 actions (80 ms) from a 200 ms model: most ticks starve.
    let lp = run_paced(2, 40);
    let starved = counter(&lp, "action_queue_empty");
    assert!(starved >= 15, "{starved} starved ticks of 40");
    assert!(starved < 40, "some ticks had an action: {starved}");
    assert_eq!(lp.stats.deadline_misses, 0, "the tick still never waits");
    assert_eq!(counter(&lp, "policy_error"), 0);
    let r = lp.last_record();
    if r.events.0 & ganglion::record::SafetyEvents::QUEUE_EMPTY != 0 {
        assert_eq!(&r.command[..2], &[0.0, 0.0], "the safe action (zero)");
    }
}

/// A chunk model as a file: an MLP actor whose head is H × 2 wide, with its
/// card, and a copy of the Reacher config that runs it chunked.
fn chunked_config(dir: &std::path::Path, extra: &str) -> std::path::PathBuf {
    let horizon = 8;
    let mut rng = Rng::new(5);
    let mut m = ActorCritic::new(
        10,
        ActionSpec::Continuous { dim: 2 * horizon },
        &[16],
        Activation::Tanh,
        -0.5,
        &mut rng,
    );
    for p in m.params.iter_mut() {
        *p += 0.2 * rng.normal();
    }
    let model = dir.join("chunks.onnx");
    m.export_onnx(&model, &[]).unwrap();
    let bytes = std::fs::read(&model).unwrap();
    let card = ganglion::policy::ModelCard {
        format: ganglion::policy::card::CARD_FORMAT.into(),
        name: "chunks".into(),
        kind: "mlp".into(),
        env: "reacher".into(),
        algo: "random (a test's chunk model)".into(),
        seed: 5,
        ganglion_version: env!("CARGO_PKG_VERSION").into(),
        command: "tests/runtime/chunked.rs".into(),
        sha256: ganglion::input::sha256_hex(&bytes),
        obs_dim: 10,
        action: m.action.clone(),
        critic: None,
        training: Default::default(),
        eval: None,
        dt: None,
    };
    card.save_for(&model).unwrap();
    let base = std::fs::read_to_string(common::repo().join("robots/reacher.toml")).unwrap();
    let text = base
        .replace(
            "path = \"../models/reacher-ppo.onnx\"",
            &format!("path = \"chunks.onnx\"\nchunk = {horizon}\n{extra}"),
        )
        .replace("pace = \"realtime\"", "pace = \"fast\"");
    let cfg = dir.join("robot.toml");
    std::fs::write(&cfg, text).unwrap();
    cfg
}

#[test]
fn a_chunked_model_from_the_config_is_reproducible_and_replays() {
    let dir = tempfile::tempdir().unwrap();
    let cfg_path = chunked_config(dir.path(), "async = true\nevery = 2\nlatency_ticks = 3");
    let cfg = config::load(&cfg_path).unwrap_or_else(|e| panic!("{e}"));
    let run = |name: &str| {
        let rec = dir.path().join(name);
        let opts = ganglion::assemble::RunOptions {
            limit: RunLimit {
                ticks: Some(60),
                ..Default::default()
            },
            record: Some(rec.clone()),
            overwrite: true,
            fast: true,
            seed: Some(3),
        };
        ganglion::assemble::execute(cfg.clone(), &opts).unwrap();
        rec
    };
    let (a, b) = (run("a.mcap"), run("b.mcap"));
    let ra = ganglion::record::read_recording(&a).unwrap();
    let rb = ganglion::record::read_recording(&b).unwrap();
    assert_eq!(ra.ticks.len(), 60);
    let actions = |r: &ganglion::record::Recording| -> Vec<Vec<u32>> {
        r.ticks
            .iter()
            .map(|t| t.raw_action.iter().map(|v| v.to_bits()).collect())
            .collect()
    };
    assert!(ra.ticks.iter().all(|t| t.raw_action.len() == 2));
    assert_eq!(actions(&ra), actions(&rb), "two lockstep runs differ");
    assert!(
        ra.ticks
            .iter()
            .all(|t| t.raw_action.iter().all(|v| v.is_finite())),
        "a primed lockstep run has an action every tick"
    );
    for resim in [false, true] {
        let report = ganglion::replay::replay(&ganglion::replay::ReplayOptions {
            recording: a.clone(),
            resim,
            policy: None,
        })
        .unwrap();
        assert!(report.checked > 0);
        assert_eq!(report.mismatches, 0, "resim {resim}: {:?}", report.detail);
    }
}

#[test]
fn chunk_keys_are_checked_with_the_key_named() {
    let dir = tempfile::tempdir().unwrap();
    for (extra, key, what) in [
        (
            "async = true\nlatency_ticks = 8",
            "latency_ticks",
            "below `chunk`",
        ),
        ("every = 9", "every", "at most `chunk`"),
        ("ensemble_decay = -1.0", "ensemble_decay", "0..=10"),
        ("async = \"yes\"", "async", "boolean"),
    ] {
        let path = chunked_config(dir.path(), extra);
        let err = config::load(&path).expect_err(extra).to_string();
        assert!(err.contains(key) && err.contains(what), "{extra}: {err}");
    }
    // A chunk that does not divide the card's action width.
    let path = chunked_config(dir.path(), "");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("chunk = 8", "chunk = 3");
    std::fs::write(&path, text).unwrap();
    let err = config::load(&path).expect_err("chunk 3").to_string();
    assert!(err.contains("chunk") && err.contains("multiple"), "{err}");
}

/// A chunk model that reads the overhead camera: chunk row i for a frame
/// taken at tick s says s + i in the suction slot (the joints stand still),
/// so the action at tick t is t exactly when every chunk was predicted from
/// the frame taken in its own observation's tick. A black (never rendered)
/// frame says −1; no frame at all is an error.
pub struct FrameSeq {
    pub size: (usize, usize),
    pub horizon: usize,
}

impl ChunkModel for FrameSeq {
    fn obs_dim(&self) -> usize {
        ganglion::skills::executor::PROPRIO
    }
    fn action_dim(&self) -> usize {
        5
    }
    fn horizon(&self) -> usize {
        self.horizon
    }
    fn frame_size(&self) -> Option<(usize, usize)> {
        Some(self.size)
    }
    fn predict(
        &mut self,
        _: &[f32],
        frame: Option<&ImageFrame>,
        chunk: &mut [f32],
    ) -> Result<(), PolicyError> {
        let Some(f) = frame else {
            return Err(PolicyError::ChunkFailed);
        };
        let lit = f.rgb.iter().any(|&v| v > 0);
        for (i, a) in chunk.chunks_mut(5).enumerate() {
            a[..4].fill(0.0);
            a[4] = if lit { f.seq as f32 + i as f32 } else { -1.0 };
        }
        Ok(())
    }
}

/// The tabletop loop with the overhead camera (a frame every tick) and a
/// `FrameSeq` chunked policy.
pub fn tabletop_frame_loop(timing: Timing, every: u32) -> ControlLoop {
    use ganglion::learn::collect_tabletop::overhead_camera;
    let seed = 7;
    let mut cfg = ganglion::skills::executor::tabletop_config(
        &common::repo().join("models/arm-reach.onnx"),
        seed,
    )
    .expect("robots/tabletop.toml loads");
    let camera = overhead_camera(1);
    let size = (camera.width, camera.height);
    cfg.cameras = vec![camera];
    let plant = Box::new(ganglion::sim::TabletopPlant::new(
        Some(ganglion::sim::SceneSpec::random(seed)),
        seed,
    ));
    let rig = ganglion::camera::CameraRig::from_config(&cfg, seed).unwrap();
    let policy = ChunkedPolicy::new(
        Box::new(FrameSeq { size, horizon: 4 }),
        ChunkSchedule {
            every,
            decay: 0.0,
            timing,
        },
    );
    let mut lp = ControlLoop::new(
        &cfg,
        plant,
        Box::new(policy),
        ClockMode::Lockstep { paced: false },
        None,
    )
    .unwrap();
    lp.set_cameras(rig);
    lp
}

/// The policy's raw action (the suction slot) on each of `ticks` ticks.
fn frame_actions(timing: Timing, every: u32, ticks: u64) -> Vec<f32> {
    let mut lp = tabletop_frame_loop(timing, every);
    (1..=ticks)
        .map(|n| {
            lp.run(RunLimit {
                ticks: Some(n),
                ..Default::default()
            });
            lp.last_record().raw_action[4]
        })
        .collect()
}

#[test]
fn chunked_policies_act_on_the_frame_of_their_observation_tick() {
    for (timing, every) in [
        (Timing::Inline, 1),
        (Timing::Inline, 3),
        (Timing::Lockstep { latency: 2 }, 2),
        (Timing::Lockstep { latency: 0 }, 4),
    ] {
        let a = frame_actions(timing, every, 24);
        for (t, v) in a.iter().enumerate() {
            assert_eq!(*v, t as f32, "{timing:?} every {every}: tick {t}: {a:?}");
        }
    }
    // A wall-clock service in an unpaced loop may starve (NaN), but every
    // action it gives comes from the frame of its chunk's own tick.
    let a = frame_actions(Timing::Wall, 1, 24);
    assert!(
        a[0] == 0.0,
        "the warm-up chunk, from the warm-up frame: {a:?}"
    );
    for (t, v) in a.iter().enumerate() {
        assert!(v.is_nan() || *v == t as f32, "wall: tick {t}: {a:?}");
    }
}
