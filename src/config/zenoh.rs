//! Validation of a `[plant]` section that names a robot over zenoh
//! (`kind = "zenoh"`): its sensor layout, endpoints, and link security
//! (TLS files, mutual TLS, the controller's certificate name).

use std::path::{Path, PathBuf};

use ganglion_sim::{PLANT_KINDS, plant_signature};

use super::reader::{Item, Reporter, Table};
use super::types::{PlantConfig, ZenohTls};
use super::validate::{Signature, or_default};

fn endpoints(rep: &mut Reporter, item: Option<Item<'_>>) -> Option<Vec<String>> {
    let Some(item) = item else {
        return Some(Vec::new());
    };
    let mut out = Vec::new();
    let mut ok = true;
    for e in item.array(rep)? {
        match e.str(rep) {
            Some(text) => match check_endpoint(text) {
                Ok(()) => out.push(text.to_string()),
                Err(m) => {
                    e.report(rep, m);
                    ok = false;
                }
            },
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn tls(rep: &mut Reporter, t: &Table<'_>) -> Option<ZenohTls> {
    t.check_keys(rep, &["ca", "cert", "key", "mutual"]);
    let path = |rep: &mut Reporter, key: &str| -> Option<Option<PathBuf>> {
        match t.get(key) {
            None => Some(None),
            Some(i) => i.str(rep).map(|s| Some(PathBuf::from(s))),
        }
    };
    let ca = t
        .require(rep, "ca")
        .and_then(|i| i.str(rep))
        .map(PathBuf::from);
    let cert = path(rep, "cert");
    let key = path(rep, "key");
    let mutual = or_default(t.get("mutual"), false, |i| i.bool(rep));
    let (cert, key) = (cert?, key?);
    if cert.is_some() != key.is_some() {
        rep.report(
            t.field(if cert.is_some() { "key" } else { "cert" }),
            t.span(),
            "cert and key go together: give both or neither",
        );
        return None;
    }
    if mutual? && cert.is_none() {
        rep.report(
            t.field("cert"),
            t.span(),
            "mutual TLS needs this side's cert and key",
        );
        return None;
    }
    Some(ZenohTls {
        ca: ca?,
        cert,
        key,
        mutual: mutual?,
    })
}

pub(crate) fn zenoh_plant(
    rep: &mut Reporter,
    t: &Table<'_>,
) -> (Option<PlantConfig>, Option<Signature>) {
    t.check_keys(
        rep,
        &[
            "kind",
            "robot",
            "layout",
            "connect",
            "listen",
            "multicast",
            "connect_timeout_ms",
            "tls",
        ],
    );
    let robot = match t.get("robot") {
        None => Some(None),
        Some(i) => i.str(rep).and_then(|s| {
            if valid_robot_name(s) {
                Some(Some(s.to_string()))
            } else {
                i.report(rep, format!("{s:?} is not a robot name (A-Z a-z 0-9 _ -)"));
                None
            }
        }),
    };
    let mut layout = None;
    let sig = t.require(rep, "layout").and_then(|i| {
        let name = i.str(rep)?;
        layout = Some(name.to_string());
        match plant_signature(name) {
            Some((sensors, actuators)) => Some(Signature {
                kind: "zenoh".to_string(),
                sensors,
                actuators,
            }),
            None => {
                i.report(
                    rep,
                    format!(
                        "no sensor layout `{name}` (known: {})",
                        PLANT_KINDS.join(", ")
                    ),
                );
                None
            }
        }
    });
    let connect = endpoints(rep, t.get("connect"));
    let listen = endpoints(rep, t.get("listen"));
    if let (Some(c), Some(l)) = (&connect, &listen)
        && c.is_empty()
        && l.is_empty()
    {
        rep.report(
            t.field("connect"),
            t.span(),
            "give the robot's endpoint: connect = [\"tcp/127.0.0.1:7447\"] (or listen = [...])",
        );
    }
    let multicast = or_default(t.get("multicast"), false, |i| i.bool(rep));
    let timeout = or_default(t.get("connect_timeout_ms"), 5000, |i| {
        i.count(rep, 1, 600_000)
    });
    let tls = match t.get("tls") {
        None => Some(None),
        Some(i) => i.table(rep).and_then(|t| tls(rep, &t)).map(Some),
    };
    let config = (|| {
        Some(PlantConfig::Zenoh {
            robot: robot?.unwrap_or_default(),
            layout: layout.filter(|_| sig.is_some())?,
            connect: connect?,
            listen: listen?,
            multicast: multicast?,
            connect_timeout_ms: timeout?,
            tls: tls?,
        })
    })();
    (config, sig)
}

/// Fills in the robot name (default: the config's `robot`) and resolves the
/// TLS paths against the config file's directory.
pub(crate) fn finish(
    plant: Option<PlantConfig>,
    robot: Option<&str>,
    base: &Path,
) -> Option<PlantConfig> {
    match plant {
        Some(PlantConfig::Zenoh {
            robot: r,
            layout,
            connect,
            listen,
            multicast,
            connect_timeout_ms,
            tls,
        }) => Some(PlantConfig::Zenoh {
            robot: if r.is_empty() { robot?.to_string() } else { r },
            layout,
            connect,
            listen,
            multicast,
            connect_timeout_ms,
            tls: tls.map(|t| ZenohTls {
                ca: base.join(t.ca),
                cert: t.cert.map(|p| base.join(p)),
                key: t.key.map(|p| base.join(p)),
                mutual: t.mutual,
            }),
        }),
        p => p,
    }
}

/// Whether `name` can be a robot name in a key expression.
pub fn valid_robot_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Checks an endpoint like `tcp/127.0.0.1:7447` or `tls/localhost:7447`.
pub fn check_endpoint(text: &str) -> Result<(), String> {
    let Some((proto, addr)) = text.split_once('/') else {
        return Err(format!(
            "endpoint {text:?} must look like \"tcp/127.0.0.1:7447\" or \"tls/localhost:7447\""
        ));
    };
    if proto != "tcp" && proto != "tls" {
        return Err(format!(
            "endpoint {text:?}: transport `{proto}` is not built in (tcp, tls)"
        ));
    }
    let addr = addr.split('#').next().unwrap_or(addr);
    match addr.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(()),
        _ => Err(format!("endpoint {text:?}: `{addr}` is not host:port")),
    }
}
