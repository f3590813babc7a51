//! Building a run from a robot config: the plant it names, the policy it
//! points at (with its model card), and the clock mode.

use anyhow::{Context, Result, bail};
use ganglion_sim::{Plant, make_plant};

use crate::config::{LinkClock, Pace, PlantConfig, PolicyKind, RobotConfig};
use crate::policy::{DtPolicy, ModelCard, OnnxPolicy, Policy};

use super::ClockMode;

/// The plant a config names, reset to its seeded initial state.
pub fn build_plant(cfg: &PlantConfig) -> Result<Box<dyn Plant>> {
    match cfg {
        PlantConfig::Sim { kind, seed, .. } => {
            let mut p = make_plant(kind)
                .with_context(|| format!("plant kind `{kind}` is not built into this binary"))?;
            p.reset(*seed);
            Ok(p)
        }
        PlantConfig::Link {
            address,
            joints,
            clock,
            watchdog_ms,
            node_safe,
            publish_period_us,
            seed,
            ..
        } => {
            let mut p = crate::io::LinkPlant::connect(crate::io::LinkOptions {
                address: *address,
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
        PlantConfig::Link { .. } | PlantConfig::Zenoh { .. } => ClockMode::Wall,
    }
}

/// The seed a plant was started from (recorded for re-simulation).
pub fn plant_seed(cfg: &PlantConfig) -> u64 {
    match cfg {
        PlantConfig::Sim { seed, .. } | PlantConfig::Link { seed, .. } => *seed,
        PlantConfig::Zenoh { .. } => 0,
    }
}

pub fn plant_kind(cfg: &PlantConfig) -> &str {
    match cfg {
        PlantConfig::Sim { kind, .. } => kind,
        PlantConfig::Link { .. } => "link:udp",
        PlantConfig::Zenoh { .. } => "zenoh",
    }
}

/// Sets the seed a plant starts from.
pub fn set_plant_seed(cfg: &mut PlantConfig, seed: u64) {
    match cfg {
        PlantConfig::Sim { seed: s, .. } | PlantConfig::Link { seed: s, .. } => *s = seed,
        // The remote robot seeds itself.
        PlantConfig::Zenoh { .. } => {}
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
    let text = std::fs::read_to_string(&cfg.policy.card)
        .with_context(|| format!("reading model card {}", cfg.policy.card.display()))?;
    let card: ModelCard = toml::from_str(&text)
        .with_context(|| format!("invalid model card {}", cfg.policy.card.display()))?;
    OnnxPolicy::load(&cfg.policy.path, card.obs_dim, card.action)
}

/// The policy a config names, of either kind: an MLP actor, or a Decision
/// Transformer conditioned on the config's `target_return`.
pub fn load_any_policy(cfg: &RobotConfig) -> Result<Box<dyn Policy>> {
    match cfg.policy.kind {
        PolicyKind::Mlp => Ok(Box::new(load_policy(cfg)?)),
        PolicyKind::DecisionTransformer => {
            let text = std::fs::read_to_string(&cfg.policy.card)
                .with_context(|| format!("reading model card {}", cfg.policy.card.display()))?;
            let card: ModelCard = toml::from_str(&text)
                .with_context(|| format!("invalid model card {}", cfg.policy.card.display()))?;
            Ok(Box::new(DtPolicy::load(
                &cfg.policy.path,
                &card,
                cfg.policy.target_return,
            )?))
        }
    }
}
