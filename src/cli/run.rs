//! `ganglion run`: the control loop on a dedicated thread, driving the plant a
//! robot config names with its policy, through the safety filter, optionally
//! recording every tick to MCAP; tick statistics at the end.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use clap::Args;
use serde::Serialize;

use crate::config::{self, RobotConfig};
use crate::policy::card::sha256_file;
use crate::record::{RecordSummary, Recorder, RecordingHeader};
use crate::runtime::rt::{self, RtStatus};
use crate::runtime::setup::{clock_mode, load_any_policy, plant_kind, plant_seed};
use crate::runtime::{ClockMode, ControlLoop, RunLimit, Summary, alloc_count};

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Robot config (TOML), e.g. robots/cartpole.toml.
    #[arg(long)]
    pub config: PathBuf,
    /// Stop after this many ticks.
    #[arg(long, conflicts_with = "seconds")]
    pub ticks: Option<u64>,
    /// Stop after this many seconds of loop time (default 10).
    #[arg(long)]
    pub seconds: Option<f64>,
    /// Record every tick to this MCAP file (overrides the config's record.path).
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// Simulated plants: run lockstep as fast as possible instead of real time.
    #[arg(long)]
    pub fast: bool,
    /// Override the plant's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// What a run reports (text or `--json`).
#[derive(Serialize, Debug)]
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
    pub allocations: AllocReport,
    pub realtime: RtStatus,
    pub recording: Option<RecordSummary>,
}

#[derive(Serialize, Debug)]
pub struct AllocReport {
    /// Whether the counting allocator is installed (it is in the binary).
    pub counted: bool,
    pub loop_per_tick: f64,
    pub policy_per_tick: f64,
}

/// Options of one run besides the config.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub limit: RunLimit,
    pub record: Option<PathBuf>,
    pub fast: bool,
    pub seed: Option<u64>,
}

static SIGNALLED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    SIGNALLED.store(true, Ordering::SeqCst);
}

fn install_signal_handlers() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
}

/// Loads a config, with every problem in the error.
pub fn load_config(path: &Path) -> Result<RobotConfig> {
    config::load(path).map_err(|e| anyhow!("{e}"))
}

/// Metadata every recording carries, enough to replay and re-simulate it.
pub fn recording_metadata(
    cfg: &RobotConfig,
    seed: u64,
    clock: ClockMode,
) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    m.insert("ganglion_version".into(), env!("CARGO_PKG_VERSION").into());
    m.insert("robot".into(), cfg.robot.clone());
    m.insert("config_path".into(), cfg.source_path.display().to_string());
    m.insert("config_text".into(), cfg.source_text.clone());
    m.insert("plant".into(), plant_kind(&cfg.plant).to_string());
    m.insert("seed".into(), seed.to_string());
    m.insert("rate_hz".into(), cfg.rate_hz.to_string());
    m.insert("clock".into(), clock.name().into());
    m.insert("policy_path".into(), cfg.policy.path.display().to_string());
    if let Ok(sha) = sha256_file(&cfg.policy.path) {
        m.insert("policy_sha256".into(), sha);
    }
    m
}

/// Runs a config to completion on a dedicated loop thread.
pub fn execute(mut cfg: RobotConfig, opts: &RunOptions) -> Result<RunReport> {
    if let Some(seed) = opts.seed {
        crate::runtime::setup::set_plant_seed(&mut cfg.plant, seed);
    }
    let seed = plant_seed(&cfg.plant);
    let clock = clock_mode(&cfg.plant, opts.fast);
    let (plant, zenoh_parts) = crate::runtime::setup::build_plant_linked(&cfg.plant)?;
    let policy = load_any_policy(&cfg)?;
    let record_path = opts.record.clone().or_else(|| cfg.record.path.clone());
    let (recorder, sink) = match &record_path {
        Some(path) => {
            let header = RecordingHeader {
                sensor_names: plant.sensor_names().iter().map(|s| s.to_string()).collect(),
                obs_dim: cfg.observation.fields.len(),
                action_dim: match &cfg.action.mapping {
                    config::ActionMapping::Discrete { .. } => 1,
                    config::ActionMapping::Continuous { scale, .. } => scale.len(),
                },
                actuator_names: plant
                    .actuator_names()
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                metadata: recording_metadata(&cfg, seed, clock),
            };
            let (rec, sink) = Recorder::start(
                path,
                header,
                cfg.record.ring_capacity,
                Duration::from_millis(cfg.record.flush_every_ms),
            )
            .with_context(|| format!("starting the recording {}", path.display()))?;
            (Some(rec), Some(sink))
        }
        None => (None, None),
    };
    let mut lp = ControlLoop::new(&cfg, plant, policy, clock, sink)?;
    let limit = if opts.limit.ticks.is_none() && opts.limit.seconds.is_none() {
        RunLimit {
            ticks: None,
            seconds: Some(10.0),
            ..Default::default()
        }
    } else {
        opts.limit
    };

    install_signal_handlers();
    let controls = lp.controls();
    // A zenoh robot: telemetry at ~10 Hz and the network e-stop.
    let telemetry = match zenoh_parts {
        Some(z) => Some(crate::io::zenoh::telemetry::TelemetryService::start(
            z.session,
            &z.robot,
            lp.live(),
            controls.clone(),
            z.counters,
            Duration::from_millis(100),
        )?),
        None => None,
    };
    let watcher_done = std::sync::Arc::new(AtomicBool::new(false));
    let watcher = {
        let controls = controls.clone();
        let done = watcher_done.clone();
        std::thread::spawn(move || {
            while !done.load(Ordering::Acquire) {
                if SIGNALLED.load(Ordering::SeqCst) {
                    controls.request_stop();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let rt_cfg = cfg.realtime.clone();
    let started = std::time::Instant::now();
    let handle = std::thread::Builder::new()
        .name("ganglion-loop".into())
        .spawn(move || {
            let status = rt::apply(&rt_cfg);
            lp.run(limit);
            (lp, status)
        })
        .context("spawning the control-loop thread")?;
    let (mut lp, rt_status) = handle
        .join()
        .map_err(|_| anyhow!("the control-loop thread panicked"))?;
    let wall = started.elapsed().as_secs_f64();
    watcher_done.store(true, Ordering::Release);
    let _ = watcher.join();
    if let Some(t) = telemetry {
        t.stop();
    }

    drop(lp.take_sink());
    let recording = match recorder {
        Some(r) => Some(r.finish().context("finishing the recording")?),
        None => None,
    };
    let ticks = lp.ticks().max(1) as f64;
    let (loop_allocs, policy_allocs) = lp.allocations();
    let paced = !matches!(clock, ClockMode::Lockstep { paced: false });
    Ok(RunReport {
        robot: cfg.robot.clone(),
        plant: plant_kind(&cfg.plant).to_string(),
        seed,
        clock: clock.name().into(),
        rate_hz: cfg.rate_hz,
        ticks: lp.ticks(),
        loop_time_s: lp.ticks() as f64 * cfg.period_s(),
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
        allocations: AllocReport {
            counted: alloc_count::is_active(),
            loop_per_tick: loop_allocs as f64 / ticks,
            policy_per_tick: policy_allocs as f64 / ticks,
        },
        realtime: rt_status,
        recording,
    })
}

pub fn print_report(r: &RunReport) {
    println!(
        "{}: {} ticks at {} Hz ({}), {:.2} s loop time in {:.2} s wall",
        r.robot, r.ticks, r.rate_hz, r.clock, r.loop_time_s, r.wall_time_s
    );
    let row = |name: &str, s: &Summary| {
        println!(
            "  {name:<9} p50 {:>8.1} µs  p90 {:>8.1}  p99 {:>8.1}  p99.9 {:>8.1}  max {:>8.1}",
            s.p50_us, s.p90_us, s.p99_us, s.p999_us, s.max_us
        )
    };
    if let Some(l) = &r.lateness {
        row("lateness", l);
    }
    row("compute", &r.compute);
    row("policy", &r.policy);
    println!("  deadline misses {}", r.deadline_misses);
    if r.safety_events.is_empty() {
        println!("  safety    no events; final state {}", r.final_state);
    } else {
        let ev: Vec<String> = r
            .safety_events
            .iter()
            .map(|(k, v)| format!("{k} ×{v}"))
            .collect();
        println!(
            "  safety    {}; final state {}",
            ev.join(", "),
            r.final_state
        );
    }
    match r.left_envelope_at_s {
        None => println!("  plant     stayed in its operating envelope"),
        Some(t) => println!("  plant     LEFT its envelope at t = {t:.2} s"),
    }
    if r.allocations.counted {
        println!(
            "  allocs    {:.2}/tick in the loop's code, {:.2}/tick inside the policy engine",
            r.allocations.loop_per_tick, r.allocations.policy_per_tick
        );
    }
    println!("  realtime  {}", r.realtime.summary());
    if let Some(rec) = &r.recording {
        println!(
            "  recording {} ({} ticks, {} messages, {} dropped)",
            rec.path.display(),
            rec.ticks,
            rec.messages,
            rec.dropped
        );
    }
}

pub fn run(args: RunArgs) -> Result<()> {
    let cfg = load_config(&args.config)?;
    let opts = RunOptions {
        limit: RunLimit {
            ticks: args.ticks,
            seconds: args.seconds,
            ..Default::default()
        },
        record: args.record.clone(),
        fast: args.fast,
        seed: args.seed,
    };
    let report = execute(cfg, &opts)?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_report(&report);
    }
    Ok(())
}
