//! Past one machine: sensor streams, actuator commands, telemetry and e-stop
//! over zenoh, between processes and hosts.
//!
//! Zenoh runs only in service threads (its own runtime plus the threads
//! here); the control loop sees lock-free latest-value slots (`slot`), as
//! with in-process streams, and a tick neither allocates, locks nor blocks.
//!
//! Sessions are peers with explicit endpoints: one side listens
//! (`tcp/127.0.0.1:7447`, `tls/…`), the other connects; multicast scouting
//! is off unless asked for. TLS, mutual TLS and an access-control rule (only
//! the configured controller may put on a robot's commands) come from
//! `LinkSecurity`. A robot without mutual TLS says so loudly, and by
//! default obeys one controller at a time (`owner`).
//!
//! # Key space
//!
//! | key | from → to | payload |
//! | --- | --- | --- |
//! | `ganglion/{robot}/sensors` | robot → controller | `wire::Frame` "GSN1": robot time, flags (envelope, watchdog, e-stop), sensor values |
//! | `ganglion/{robot}/commands` | controller → robot | `wire::Frame` "GCM1": loop time, actuator values |
//! | `ganglion/{robot}/telemetry` | controller → observers, ~10 Hz | JSON `Telemetry`: rate, lateness p99, misses, safety events |
//! | `ganglion/{robot}/status` | robot → observers, ~10 Hz | JSON `RobotStatus`: commands received, watchdog trips, safe state |
//! | `ganglion/{robot}/estop` | anyone → robot and controller | any payload latches the e-stop; `"reset"` clears it |
//! | `ganglion/train/{run}/…` | learner ↔ rollout workers | see `rollout` |

pub mod estop;
pub mod fleet;
pub mod owner;
pub mod plant;
pub mod rollout;
pub mod rollout_wire;
pub mod serve;
pub mod slot;
pub mod telemetry;
pub mod wire;

pub use crate::config::zenoh::{check_endpoint, valid_robot_name};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use zenoh::{Session, Wait};

pub use plant::{ZenohPlant, ZenohPlantOptions};
pub use slot::{Latest, LatestSlot};
pub use wire::{Frame, Kind};

/// Key expressions of one robot.
#[derive(Clone, Debug)]
pub struct Keys {
    pub sensors: String,
    pub commands: String,
    pub telemetry: String,
    pub status: String,
    pub estop: String,
}

impl Keys {
    pub fn new(robot: &str) -> Self {
        let k = |s: &str| format!("ganglion/{robot}/{s}");
        Keys {
            sensors: k("sensors"),
            commands: k("commands"),
            telemetry: k("telemetry"),
            status: k("status"),
            estop: k("estop"),
        }
    }
}

/// TLS files of one side of a link (PEM).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The CA that signed the other side's certificate.
    pub ca: PathBuf,
    /// This side's certificate and private key: required to listen, and to
    /// connect under mutual TLS.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Mutual TLS: a listener demands a client certificate signed by `ca`.
    pub mutual: bool,
}

/// Link security: TLS files, and who may command the robot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkSecurity {
    pub tls: Option<TlsFiles>,
    /// Robot side: only a peer whose certificate has this common name may put
    /// on `ganglion/{robot}/commands` (needs mutual TLS).
    pub controller_cn: Option<String>,
}

/// How one session joins the network.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Endpoints {
    /// Endpoints to listen on, e.g. `tcp/127.0.0.1:7447`.
    pub listen: Vec<String>,
    /// Endpoints to connect to.
    pub connect: Vec<String>,
    /// Multicast scouting (off by default: explicit endpoints only).
    pub multicast: bool,
    /// Run as a zenoh router rather than a peer: it forwards between the
    /// peers connected to it (a robot hosts its controller, `top` and other
    /// observers this way).
    pub router: bool,
    /// Run as a zenoh client: everything goes through the node it connects
    /// to (an observer like `ganglion top` hears all that node routes).
    pub client: bool,
}

impl Endpoints {
    /// A peer that connects to `connect` and listens nowhere.
    pub fn peer_of(connect: &[String]) -> Self {
        Endpoints {
            connect: connect.to_vec(),
            ..Default::default()
        }
    }

    /// A client of the node at `connect`: everything it says and hears goes
    /// through that node (observers and operators: `top`, `estop`).
    pub fn client_of(connect: &[String]) -> Self {
        Endpoints {
            client: true,
            ..Self::peer_of(connect)
        }
    }
}

fn json_str(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

fn json_list(items: &[String]) -> String {
    serde_json::Value::Array(
        items
            .iter()
            .map(|s| serde_json::Value::String(s.clone()))
            .collect(),
    )
    .to_string()
}

/// How long a client session (`top`, `estop`) tries to reach its node.
pub const CLIENT_CONNECT_TIMEOUT_MS: u64 = 3000;

/// The zenoh configuration of a peer session.
pub fn session_config(
    ep: &Endpoints,
    sec: &LinkSecurity,
    robot: Option<&str>,
) -> Result<zenoh::Config> {
    for e in ep.listen.iter().chain(&ep.connect) {
        check_endpoint(e).map_err(|m| anyhow!(m))?;
    }
    let mut c = zenoh::Config::default();
    let mut set = |key: &str, value: String| {
        c.insert_json5(key, &value)
            .map_err(|e| anyhow!("zenoh config `{key}` = {value}: {e}"))
    };
    let mode = match (ep.router, ep.client) {
        (true, _) => "router",
        (false, true) => "client",
        (false, false) => "peer",
    };
    set("mode", json_str(mode))?;
    set("listen/endpoints", json_list(&ep.listen))?;
    set("connect/endpoints", json_list(&ep.connect))?;
    set("scouting/multicast/enabled", ep.multicast.to_string())?;
    if ep.client {
        // A client has nothing to do alone, and zenoh opens a client session
        // only once it is linked: give up (an error naming the endpoints)
        // rather than retry forever inside `open`.
        set("connect/timeout_ms", CLIENT_CONNECT_TIMEOUT_MS.to_string())?;
    } else {
        // Keep retrying a connect endpoint that is not up yet, in the background.
        set("connect/timeout_ms", "-1".into())?;
        set("connect/exit_on_failure", "false".into())?;
    }
    set("transport/shared_memory/enabled", "false".into())?;
    if let Some(tls) = &sec.tls {
        let path = |p: &PathBuf, what: &str| -> Result<String> {
            if !p.is_file() {
                bail!("TLS {what} {} does not exist", p.display());
            }
            Ok(json_str(&p.display().to_string()))
        };
        set(
            "transport/link/tls/root_ca_certificate",
            path(&tls.ca, "CA certificate")?,
        )?;
        if let (Some(cert), Some(key)) = (&tls.cert, &tls.key) {
            let cert = path(cert, "certificate")?;
            let key = path(key, "private key")?;
            set("transport/link/tls/listen_certificate", cert.clone())?;
            set("transport/link/tls/listen_private_key", key.clone())?;
            set("transport/link/tls/connect_certificate", cert)?;
            set("transport/link/tls/connect_private_key", key)?;
        } else if !ep.listen.is_empty() || tls.mutual {
            bail!("TLS needs this side's certificate and key to listen or for mutual TLS");
        }
        set("transport/link/tls/enable_mtls", tls.mutual.to_string())?;
    }
    if let Some(cn) = &sec.controller_cn {
        let Some(robot) = robot else {
            bail!("an access-control rule needs the robot name");
        };
        if !sec.tls.as_ref().is_some_and(|t| t.mutual) {
            bail!(
                "restricting commands to controller `{cn}` needs mutual TLS (the controller is known by its certificate)"
            );
        }
        set("access_control", acl_json(robot, cn))?;
    }
    Ok(c)
}

/// The access-control rules of a robot: every peer may subscribe to any key
/// and put on the robot's public keys (telemetry, status, e-stop); only a
/// peer whose certificate's common name is `controller_cn` may put on its
/// commands. Deny by default.
pub fn acl_json(robot: &str, controller_cn: &str) -> String {
    let k = Keys::new(robot);
    serde_json::json!({
        "enabled": true,
        "default_permission": "deny",
        "rules": [
            {
                "id": "egress",
                "messages": ["put", "delete", "declare_subscriber", "query", "declare_queryable",
                             "reply", "liveliness_token", "declare_liveliness_subscriber",
                             "liveliness_query"],
                "flows": ["egress"],
                "permission": "allow",
                "key_exprs": ["**"]
            },
            {
                "id": "declarations",
                "messages": ["declare_subscriber", "query", "declare_queryable", "reply",
                             "liveliness_token", "declare_liveliness_subscriber", "liveliness_query"],
                "flows": ["ingress"],
                "permission": "allow",
                "key_exprs": ["**"]
            },
            {
                "id": "public-puts",
                "messages": ["put", "delete"],
                "flows": ["ingress"],
                "permission": "allow",
                "key_exprs": [k.telemetry, k.status, k.estop, k.sensors]
            },
            {
                "id": "commands",
                "messages": ["put"],
                "flows": ["ingress"],
                "permission": "allow",
                "key_exprs": [k.commands]
            }
        ],
        "subjects": [
            { "id": "anyone", "link_protocols": ["tcp", "tls"] },
            { "id": "controller", "cert_common_names": [controller_cn] }
        ],
        "policies": [
            { "id": "everyone", "rules": ["egress", "declarations", "public-puts"], "subjects": ["anyone"] },
            { "id": "controller", "rules": ["commands"], "subjects": ["controller"] }
        ]
    })
    .to_string()
}

/// Opens a peer session (synchronous API; zenoh's own runtime does the I/O).
pub fn open(ep: &Endpoints, sec: &LinkSecurity, robot: Option<&str>) -> Result<Session> {
    let cfg = session_config(ep, sec, robot)?;
    zenoh::open(cfg).wait().map_err(|e| {
        anyhow!(
            "opening the zenoh session (listen {:?}, connect {:?}): {e}",
            ep.listen,
            ep.connect
        )
    })
}

/// Waits until the session is linked to at least one peer or router.
pub fn wait_for_peer(session: &Session, timeout: Duration) -> Result<()> {
    let until = Instant::now() + timeout;
    loop {
        let info = session.info();
        if info.peers_zid().wait().next().is_some() || info.routers_zid().wait().next().is_some() {
            return Ok(());
        }
        if Instant::now() >= until {
            bail!(
                "no zenoh peer connected within {:.1} s",
                timeout.as_secs_f64()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Converts a zenoh error into an `anyhow` error with context.
pub(crate) fn zerr<T>(r: zenoh::Result<T>, what: &str) -> Result<T> {
    r.map_err(|e| anyhow!("{e}"))
        .with_context(|| what.to_string())
}

/// A TCP port that was free a moment ago on loopback, for a zenoh endpoint
/// (the probe listener is dropped before the caller binds, so another
/// process could take it in between). The benchmark and the tests share it.
pub fn free_local_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
