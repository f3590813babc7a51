//! A run is one object. `Session` takes a validated config, a plant and a
//! policy (built elsewhere: `crate::assemble` builds them from a config), the
//! recording and clock options; `run` drives the control loop to its limit
//! (on its own real-time thread when asked), finishes the recording and
//! returns the report. `ganglion run`, `collect`, `demo`, the HIL harness,
//! the skill executor and the tests all start runs through it, so a
//! recording's header, the loop and the report are built in one place.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use ganglion_sim::Plant;
use serde::Serialize;

use super::live::LiveStats;
use super::rt::{self, RtStatus};
use super::{ClockMode, ControlLoop, LoopControls, RunLimit, Summary, alloc_count};
use crate::config::RobotConfig;
use crate::policy::Policy;
use crate::record::{RecordSummary, Recorder, RecordingHeader};

/// Where and how a session records.
#[derive(Clone, Debug, Default)]
pub struct RecordTo {
    pub path: PathBuf,
    /// Replace an earlier recording at `path` (never any other file).
    pub overwrite: bool,
    /// Run metadata (see `recording_metadata`), extended by the caller.
    pub metadata: BTreeMap<String, String>,
    /// A ring larger than the config's (a fast lockstep run outpaces the
    /// recorder thread).
    pub min_ring_capacity: usize,
}

/// How a session runs.
#[derive(Clone, Debug)]
pub struct SessionOptions {
    pub clock: ClockMode,
    pub limit: RunLimit,
    pub record: Option<RecordTo>,
    /// Run the loop on a dedicated thread with the config's `[realtime]`
    /// settings applied (priority, locked memory); else on the caller's.
    pub realtime_thread: bool,
    /// The episode number recorded with task signals.
    pub episode: u32,
    /// The seed the plant started from (reported).
    pub seed: u64,
    /// The plant kind (reported), e.g. `sim:cartpole` or `link:udp`.
    pub plant_kind: String,
}

/// What a run reports (`ganglion run` prints it as text or `--json`).
#[derive(Serialize, Debug, Clone)]
pub struct RunReport {
    pub robot: String,
    pub plant: String,
    pub seed: u64,
    pub clock: String,
    pub rate_hz: f64,
    pub ticks: u64,
    pub loop_time_s: f64,
    pub wall_time_s: f64,
    pub lateness: Option<Summary>,
    pub compute: Summary,
    pub policy: Summary,
    pub deadline_misses: u64,
    pub safety_events: BTreeMap<String, u64>,
    pub final_state: String,
    pub estop_latched: bool,
    pub in_envelope: bool,
    pub left_envelope_at_s: Option<f64>,
    /// Sum of the rewards a simulated task reported.
    pub episode_return: f64,
    pub allocations: AllocReport,
    pub realtime: RtStatus,
    pub recording: Option<RecordSummary>,
    /// Per camera: frames taken, captures missed or failed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cameras: Vec<crate::camera::rig::CameraCounters>,
}

#[derive(Serialize, Debug, Clone)]
pub struct AllocReport {
    /// Whether the counting allocator is installed (it is in the binary).
    pub counted: bool,
    /// After the policy's warm-up: allocations from the system allocator in
    /// the loop's own code and inside the policy engine.
    pub loop_per_tick: f64,
    pub policy_per_tick: f64,
    /// The engine's allocations served from the loop's policy arena instead.
    pub arena_per_tick: f64,
    /// The arena's state: "serving", "stopped: …" or "off".
    pub arena: String,
}

/// One run of a control loop, ready to start.
pub struct Session {
    lp: ControlLoop,
    recorder: Option<Recorder>,
    opts: SessionOptions,
    robot: String,
    rate_hz: f64,
    period: f64,
    realtime: crate::config::RealtimeConfig,
}

impl Session {
    /// Wires `plant` and `policy` as `cfg` says and opens the recording.
    /// The plant should already be reset to its initial state.
    pub fn new(
        cfg: &RobotConfig,
        plant: Box<dyn Plant>,
        policy: Box<dyn Policy>,
        opts: SessionOptions,
    ) -> Result<Session> {
        Self::with_cameras(cfg, plant, policy, opts, None)
    }

    /// As `new`, with the run's cameras (recorded on `/camera/{name}/…`).
    pub fn with_cameras(
        cfg: &RobotConfig,
        plant: Box<dyn Plant>,
        policy: Box<dyn Policy>,
        opts: SessionOptions,
        cameras: Option<crate::camera::CameraRig>,
    ) -> Result<Session> {
        let specs = cameras.as_ref().map(|c| c.specs()).unwrap_or_default();
        let (recorder, sink) = match &opts.record {
            Some(to) => {
                let header = RecordingHeader {
                    sensor_names: names(plant.sensor_names()),
                    obs_dim: cfg.observation.fields.len(),
                    action_dim: cfg.action.mapping.dim(),
                    actuator_names: names(plant.actuator_names()),
                    metadata: to.metadata.clone(),
                };
                let (rec, sink) = Recorder::start_with(
                    &to.path,
                    header,
                    &specs,
                    cfg.record.ring_capacity.max(to.min_ring_capacity),
                    Duration::from_millis(cfg.record.flush_every_ms),
                    to.overwrite,
                )
                .with_context(|| format!("starting the recording {}", to.path.display()))?;
                (Some(rec), Some(sink))
            }
            None => (None, None),
        };
        let mut lp = ControlLoop::new(cfg, plant, policy, opts.clock, sink)?;
        lp.set_episode(opts.episode);
        if let Some(rig) = cameras {
            lp.set_cameras(rig);
        }
        Ok(Session {
            lp,
            recorder,
            robot: cfg.robot.clone(),
            rate_hz: cfg.rate_hz,
            period: cfg.period_s(),
            realtime: cfg.realtime.clone(),
            opts,
        })
    }

    /// Sets the fallback controller (`safety.fallback`; see
    /// `ControlLoop::set_fallback`).
    pub fn set_fallback(&mut self, fallback: Box<dyn Policy>) {
        self.lp.set_fallback(fallback);
    }

    /// The loop's controls (e-stop, reset, stop), for other threads.
    pub fn controls(&self) -> Arc<LoopControls> {
        self.lp.controls()
    }

    /// Shares another controls block (e.g. one a skill uses to end its run).
    pub fn set_controls(&mut self, controls: Arc<LoopControls>) {
        self.lp.set_controls(controls);
    }

    /// Live tick statistics other threads may read while the loop runs.
    pub fn live(&self) -> Arc<LiveStats> {
        self.lp.live()
    }

    /// Runs to the limit (or a stop request), finishes the recording and
    /// reports. The loop is handed back (its plant, its filter's counters).
    pub fn run(self) -> Result<(RunReport, ControlLoop)> {
        let Session {
            mut lp,
            recorder,
            opts,
            robot,
            rate_hz,
            period,
            realtime,
        } = self;
        let limit = opts.limit;
        let started = Instant::now();
        let (mut lp, rt_status) = if opts.realtime_thread {
            std::thread::Builder::new()
                .name("ganglion-loop".into())
                .spawn(move || {
                    let status = rt::apply(&realtime);
                    lp.run(limit);
                    (lp, status)
                })
                .context("spawning the control-loop thread")?
                .join()
                .map_err(|_| anyhow!("the control-loop thread panicked"))?
        } else {
            lp.run(limit);
            (lp, RtStatus::default())
        };
        let wall = started.elapsed().as_secs_f64();
        drop(lp.take_sink());
        let recording = match recorder {
            Some(r) => Some(r.finish().context("finishing the recording")?),
            None => None,
        };
        let (loop_per_tick, policy_per_tick, arena_per_tick) = lp.allocations();
        let paced = !matches!(opts.clock, ClockMode::Lockstep { paced: false });
        let report = RunReport {
            robot,
            plant: opts.plant_kind.clone(),
            seed: opts.seed,
            clock: opts.clock.name().into(),
            rate_hz,
            ticks: lp.ticks(),
            loop_time_s: lp.ticks() as f64 * period,
            wall_time_s: wall,
            lateness: paced.then(|| lp.stats.lateness.summary()),
            compute: lp.stats.compute.summary(),
            policy: lp.stats.policy.summary(),
            deadline_misses: lp.stats.deadline_misses,
            safety_events: lp
                .filter()
                .counters()
                .filter(|(_, c)| *c > 0)
                .map(|(n, c)| (n.to_string(), c))
                .collect(),
            final_state: lp.state().name().into(),
            estop_latched: lp.filter().is_latched(),
            in_envelope: lp.left_envelope_at().is_none(),
            left_envelope_at_s: lp.left_envelope_at(),
            episode_return: lp.episode_return(),
            allocations: AllocReport {
                counted: alloc_count::is_active(),
                loop_per_tick,
                policy_per_tick,
                arena_per_tick,
                arena: match lp.arena_serving() {
                    None => "off",
                    Some(true) => "serving",
                    Some(false) => "stopped: a block outlived its tick",
                }
                .into(),
            },
            realtime: rt_status,
            recording,
            cameras: lp
                .cameras()
                .map(|c| c.counters().to_vec())
                .unwrap_or_default(),
        };
        Ok((report, lp))
    }
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Metadata every recording carries, enough to replay and re-simulate it:
/// the config's text, the seed, the clock, the policy file and whether its
/// sha256 matched its card.
pub fn recording_metadata(
    cfg: &RobotConfig,
    plant_kind: &str,
    seed: u64,
    clock: ClockMode,
) -> BTreeMap<String, String> {
    use crate::input::{FileKind, read_file};
    let mut m = BTreeMap::new();
    m.insert("ganglion_version".into(), env!("CARGO_PKG_VERSION").into());
    m.insert("robot".into(), cfg.robot.clone());
    m.insert("config_path".into(), cfg.source_path.display().to_string());
    m.insert("config_text".into(), cfg.source_text.clone());
    m.insert("plant".into(), plant_kind.to_string());
    m.insert("seed".into(), seed.to_string());
    m.insert("rate_hz".into(), cfg.rate_hz.to_string());
    m.insert("clock".into(), clock.name().into());
    m.insert("policy_path".into(), cfg.policy.path.display().to_string());
    if let Ok(bytes) = read_file(&cfg.policy.path, FileKind::Model) {
        m.insert("policy_sha256".into(), crate::input::sha256_hex(&bytes));
    }
    let card_sha = crate::policy::ModelCard::load(&cfg.policy.card)
        .ok()
        .map(|c| c.sha256);
    if let Some(card_sha) = card_sha {
        let verified = m.get("policy_sha256") == Some(&card_sha);
        m.insert("policy_card_sha256".into(), card_sha);
        m.insert("policy_verified".into(), verified.to_string());
    }
    m
}
