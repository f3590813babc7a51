//! Assembling a run from a robot config: the plant it names (a simulator,
//! a joint node over a link, a robot over zenoh), the policy it points at
//! (with its model card), the clock mode, and `execute`, which runs the
//! whole of it (what `ganglion run` does). It sits outside `runtime` because
//! it builds the `io` plants: `runtime` runs a plant and a policy it is
//! given and knows nothing of how they were made.

use anyhow::{Context, Result, anyhow, bail};
use ganglion_sim::tabletop::arm::TabletopArm;
use ganglion_sim::{Plant, TabletopPlant, make_plant};

use crate::config::{LinkClock, Pace, PlantConfig, PolicyKind, RobotConfig};
use crate::policy::onnx::OnnxChunks;
use crate::policy::{
    ChunkSchedule, ChunkedPolicy, DtPolicy, ModelCard, OnnxPolicy, Policy, Timing,
};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::runtime::session::{RecordTo, RunReport, Session, SessionOptions, recording_metadata};
use crate::runtime::{ClockMode, RunLimit};

/// The plant a config names, reset to its seeded initial state.
pub fn build_plant(cfg: &PlantConfig) -> Result<Box<dyn Plant>> {
    match cfg {
        PlantConfig::Sim {
            kind,
            seed,
            urdf: Some(urdf),
            ..
        } if kind == "sim:tabletop" => {
            let arm = TabletopArm::load(urdf).map_err(|e| anyhow!("plant.urdf: {e}"))?;
            let mut p: Box<dyn Plant> = Box::new(TabletopPlant::with_arm(None, *seed, &arm));
            p.reset(*seed);
            Ok(p)
        }
        PlantConfig::Sim {
            kind,
            seed,
            urdf: Some(urdf),
            drive,
            ..
        } if kind == crate::config::URDF_ARM => {
            let drive = drive.unwrap_or_default();
            let plant = ganglion_sim::urdf::UrdfPlant::load(urdf, drive)
                .map_err(|e| anyhow!("plant.urdf: {e}"))?;
            let mut p: Box<dyn Plant> = Box::new(plant);
            p.reset(*seed);
            Ok(p)
        }
        PlantConfig::Sim { kind, seed, .. } => {
            let mut p = make_plant(kind)
                .with_context(|| format!("plant kind `{kind}` is not built into this binary"))?;
            p.reset(*seed);
            Ok(p)
        }
        PlantConfig::Link {
            endpoint,
            joints,
            clock,
            watchdog_ms,
            node_safe,
            publish_period_us,
            seed,
            ..
        } => {
            let mut p = crate::io::LinkPlant::connect(crate::io::LinkOptions {
                endpoint: endpoint.clone(),
                joints: joints.clone(),
                lockstep: *clock == LinkClock::Lockstep,
                watchdog_us: watchdog_ms.saturating_mul(1000),
                publish_period_us: *publish_period_us,
                safe_mode: *node_safe,
                timeout: std::time::Duration::from_secs(5),
            })?;
            p.reset(*seed);
            Ok(Box::new(p))
        }
        PlantConfig::Zenoh { .. } => Ok(build_zenoh_plant(cfg)?.0),
        PlantConfig::Servo(c) => Ok(Box::new(crate::servo::ServoBusPlant::connect(c.clone())?)),
    }
}

/// What a run needs besides the plant to serve a zenoh robot's telemetry
/// and e-stop: the session and the link counters.
pub struct ZenohParts {
    pub robot: String,
    pub session: zenoh::Session,
    pub counters: std::sync::Arc<crate::io::zenoh::plant::LinkCounters>,
}

/// The plant a config names, with the zenoh parts when it is a zenoh robot.
pub fn build_plant_linked(cfg: &PlantConfig) -> Result<(Box<dyn Plant>, Option<ZenohParts>)> {
    match cfg {
        PlantConfig::Zenoh { .. } => {
            let (p, parts) = build_zenoh_plant(cfg)?;
            Ok((p, Some(parts)))
        }
        _ => Ok((build_plant(cfg)?, None)),
    }
}

fn build_zenoh_plant(cfg: &PlantConfig) -> Result<(Box<dyn Plant>, ZenohParts)> {
    let PlantConfig::Zenoh {
        robot,
        layout,
        connect,
        listen,
        multicast,
        connect_timeout_ms,
        tls,
    } = cfg
    else {
        bail!("not a zenoh plant");
    };
    use crate::io::zenoh::{Endpoints, LinkSecurity, TlsFiles, ZenohPlant, ZenohPlantOptions};
    let p = ZenohPlant::connect(ZenohPlantOptions {
        robot: robot.clone(),
        layout: layout.clone(),
        endpoints: Endpoints {
            listen: listen.clone(),
            connect: connect.clone(),
            multicast: *multicast,
            router: false,
            client: false,
        },
        security: LinkSecurity {
            tls: tls.as_ref().map(|t| TlsFiles {
                ca: t.ca.clone(),
                cert: t.cert.clone(),
                key: t.key.clone(),
                mutual: t.mutual,
            }),
            controller_cn: None,
        },
        connect_timeout: std::time::Duration::from_millis(*connect_timeout_ms),
    })?;
    let parts = ZenohParts {
        robot: robot.clone(),
        session: p.session().clone(),
        counters: p.counters(),
    };
    Ok((Box::new(p), parts))
}

/// The clock a plant runs under, unless the caller overrides the pacing.
pub fn clock_mode(cfg: &PlantConfig, fast: bool) -> ClockMode {
    match cfg {
        PlantConfig::Sim { pace, .. } => ClockMode::Lockstep {
            paced: !fast && *pace == Pace::Realtime,
        },
        PlantConfig::Link {
            clock: LinkClock::Lockstep,
            pace,
            ..
        } => ClockMode::Lockstep {
            paced: !fast && *pace == Pace::Realtime,
        },
        PlantConfig::Link { .. } | PlantConfig::Zenoh { .. } | PlantConfig::Servo(_) => {
            ClockMode::Wall
        }
    }
}

/// The seed a plant was started from (recorded for re-simulation).
pub fn plant_seed(cfg: &PlantConfig) -> u64 {
    match cfg {
        PlantConfig::Sim { seed, .. } | PlantConfig::Link { seed, .. } => *seed,
        PlantConfig::Zenoh { .. } | PlantConfig::Servo(_) => 0,
    }
}

pub fn plant_kind(cfg: &PlantConfig) -> &str {
    match cfg {
        PlantConfig::Sim { kind, .. } => kind,
        PlantConfig::Link {
            endpoint: crate::io::transport::LinkEndpoint::Udp(_),
            ..
        } => "link:udp",
        PlantConfig::Link { .. } => "link:serial",
        PlantConfig::Zenoh { .. } => "zenoh",
        PlantConfig::Servo(_) => "servo:dynamixel",
    }
}

/// Sets the seed a plant starts from.
pub fn set_plant_seed(cfg: &mut PlantConfig, seed: u64) {
    match cfg {
        PlantConfig::Sim { seed: s, .. } | PlantConfig::Link { seed: s, .. } => *s = seed,
        // The remote robot seeds itself; a servo bus is hardware.
        PlantConfig::Zenoh { .. } | PlantConfig::Servo(_) => {}
    }
}

/// Loads the policy file with the shapes its card declares.
pub fn load_policy(cfg: &RobotConfig) -> Result<OnnxPolicy> {
    if cfg.policy.kind != PolicyKind::Mlp {
        bail!(
            "{}: policy kind decision-transformer is not supported by this build yet",
            cfg.source_path.display()
        );
    }
    let card = ModelCard::load(&cfg.policy.card)?;
    OnnxPolicy::load(&cfg.policy.path, card.obs_dim, card.action)
}

/// The policy a config names, of either kind: an MLP actor, or a Decision
/// Transformer conditioned on the config's `target_return`. A chunked one
/// (`chunk = …`) that runs asynchronously uses simulated-time latency, as in
/// an unpaced lockstep run (what tests and `replay` need).
pub fn load_any_policy(cfg: &RobotConfig) -> Result<Box<dyn Policy>> {
    load_policy_for(cfg, ClockMode::Lockstep { paced: false })
}

/// As `load_any_policy`, for a loop that keeps time as `clock` does: an
/// asynchronous chunked policy waits for nothing in a real-time loop (its
/// chunks land when ready) and models its latency in ticks in an unpaced
/// simulation (so the run is reproducible).
pub fn load_policy_for(cfg: &RobotConfig, clock: ClockMode) -> Result<Box<dyn Policy>> {
    let Some(ch) = &cfg.policy.chunking else {
        return load_unchunked(cfg);
    };
    if cfg.policy.kind != PolicyKind::Mlp {
        bail!(
            "{}: chunked execution (`chunk`) needs an mlp-kind model that writes a whole chunk",
            cfg.source_path.display()
        );
    }
    let card = ModelCard::load(&cfg.policy.card)?;
    let onnx = OnnxPolicy::load(&cfg.policy.path, card.obs_dim, card.action)?;
    let model = OnnxChunks::new(onnx, ch.horizon, cfg.action.mapping.dim())?;
    let timing = match (ch.asynchronous, clock) {
        (false, _) => Timing::Inline,
        (true, ClockMode::Lockstep { paced: false }) => Timing::Lockstep {
            latency: ch.latency_ticks,
        },
        (true, _) => Timing::Wall,
    };
    let schedule = ChunkSchedule {
        every: ch.every,
        decay: ch.decay,
        timing,
    };
    Ok(Box::new(ChunkedPolicy::new(Box::new(model), schedule)))
}

fn load_unchunked(cfg: &RobotConfig) -> Result<Box<dyn Policy>> {
    match cfg.policy.kind {
        PolicyKind::Mlp => Ok(Box::new(load_policy(cfg)?)),
        PolicyKind::DecisionTransformer => {
            let card = ModelCard::load(&cfg.policy.card)?;
            Ok(Box::new(DtPolicy::load(
                &cfg.policy.path,
                &card,
                cfg.policy.target_return,
            )?))
        }
    }
}

/// The fallback controller at `path` (`safety.fallback`), with the shapes
/// its card declares (the config check matched them to the policy's).
pub fn load_fallback(path: &std::path::Path) -> Result<Box<dyn Policy>> {
    let card = ModelCard::load(&crate::policy::card::card_path(path))?;
    let policy = OnnxPolicy::load(path, card.obs_dim, card.action)
        .with_context(|| format!("loading the fallback controller {}", path.display()))?;
    Ok(Box::new(policy))
}

/// Options of one run besides the config.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub limit: RunLimit,
    pub record: Option<std::path::PathBuf>,
    /// Replace an earlier recording at `record`.
    pub overwrite: bool,
    pub fast: bool,
    pub seed: Option<u64>,
}

/// Runs the robot `cfg` describes to completion: builds its plant and
/// policy, records when asked, serves a zenoh robot's telemetry and network
/// e-stop, stops on a signal, and runs the loop on its own real-time thread.
pub fn execute(mut cfg: RobotConfig, opts: &RunOptions) -> Result<RunReport> {
    if let Some(seed) = opts.seed {
        set_plant_seed(&mut cfg.plant, seed);
    }
    let seed = plant_seed(&cfg.plant);
    let clock = clock_mode(&cfg.plant, opts.fast);
    let (plant, zenoh_parts) = build_plant_linked(&cfg.plant)?;
    let policy = load_policy_for(&cfg, clock)?;
    let kind = plant_kind(&cfg.plant).to_string();
    let record_path = opts.record.clone().or_else(|| cfg.record.path.clone());
    let limit = if opts.limit.ticks.is_none() && opts.limit.seconds.is_none() {
        RunLimit {
            seconds: Some(10.0),
            ..opts.limit
        }
    } else {
        opts.limit
    };
    // Cameras: frame buffers and sources made here, before the loop starts.
    let cameras = match cfg.cameras.is_empty() {
        true => None,
        false => Some(crate::camera::CameraRig::from_config(&cfg, seed)?),
    };
    let fallback = cfg
        .safety
        .fallback
        .as_deref()
        .map(load_fallback)
        .transpose()?;
    let mut session = Session::with_cameras(
        &cfg,
        plant,
        policy,
        SessionOptions {
            clock,
            limit,
            record: record_path.map(|path| RecordTo {
                path,
                overwrite: opts.overwrite,
                metadata: recording_metadata(&cfg, &kind, seed, clock),
                min_ring_capacity: 0,
            }),
            realtime_thread: true,
            episode: 0,
            seed,
            plant_kind: kind,
        },
        cameras,
    )?;
    if let Some(f) = fallback {
        session.set_fallback(f);
    }

    crate::signals::install();
    let controls = session.controls();
    // A zenoh robot: telemetry at ~10 Hz and the network e-stop.
    let telemetry = match zenoh_parts {
        Some(z) => Some(crate::io::zenoh::telemetry::TelemetryService::start(
            z.session,
            &z.robot,
            session.live(),
            controls.clone(),
            z.counters,
            Duration::from_millis(100),
        )?),
        None => None,
    };
    let watcher_done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let controls = controls.clone();
        let done = watcher_done.clone();
        std::thread::spawn(move || {
            while !done.load(Ordering::Acquire) {
                if crate::signals::stop_requested() {
                    controls.request_stop();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let result = session.run();
    watcher_done.store(true, Ordering::Release);
    let _ = watcher.join();
    if let Some(t) = telemetry {
        t.stop();
    }
    Ok(result?.0)
}
