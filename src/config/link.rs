//! Validation of a `[plant]` section that names a joint node over a link
//! (`kind = "link:udp"` with its `address`, or `kind = "link:serial"` with
//! its `device` and `baud`): joint layout, clock, node watchdog and safe
//! mode.

use ganglion_firmware::SafeMode;

use super::endpoint::{DEFAULT_BAUD, LinkEndpoint, baud_ok, known_bauds};
use super::reader::{Item, Reporter, Table};
use super::types::{LinkClock, PlantConfig};
use super::validate::{Signature, or_default};
use crate::config::joints::{LAYOUTS, layout};

/// Largest accepted `watchdog_ms`.
pub const MAX_WATCHDOG_MS: u64 = 60_000;

pub(crate) fn link_plant(
    rep: &mut Reporter,
    t: &Table<'_>,
    kind: &str,
    kind_item: &Item<'_>,
) -> (Option<PlantConfig>, Option<Signature>) {
    t.check_keys(
        rep,
        &[
            "kind",
            "address",
            "device",
            "baud",
            "joints",
            "clock",
            "watchdog_ms",
            "node_safe",
            "seed",
            "pace",
        ],
    );
    // The endpoint, and whether the transport is known (its signature is
    // checked even when the endpoint itself is broken).
    let (endpoint, transport_ok) = match kind {
        "link:udp" => {
            for key in ["device", "baud"] {
                if let Some(i) = t.get(key) {
                    i.report(
                        rep,
                        format!("`{key}` is for kind = \"link:serial\"; link:udp takes `address`"),
                    );
                }
            }
            (udp_address(rep, t), true)
        }
        "link:serial" => {
            if let Some(i) = t.get("address") {
                i.report(
                    rep,
                    "`address` is for kind = \"link:udp\"; link:serial takes `device` and `baud`"
                        .to_string(),
                );
            }
            (serial_device(rep, t), true)
        }
        _ => {
            kind_item.report(
                rep,
                format!("unknown link transport `{kind}` (known: link:udp, link:serial)"),
            );
            (None, false)
        }
    };
    let joints = t.require(rep, "joints").and_then(|i| {
        let name = i.str(rep)?;
        match layout(name) {
            Some(l) => Some(l),
            None => {
                i.report(
                    rep,
                    format!(
                        "no joint layout for `{name}` (known: {})",
                        LAYOUTS.join(", ")
                    ),
                );
                None
            }
        }
    });
    let clock = or_default(t.get("clock"), LinkClock::Lockstep, |i| {
        i.one_of(
            rep,
            &[("lockstep", LinkClock::Lockstep), ("wall", LinkClock::Wall)],
        )
    });
    let watchdog_ms = or_default(t.get("watchdog_ms"), 60, |i| {
        i.count(rep, 1, MAX_WATCHDOG_MS).map(|v| v as u32)
    });
    let node_safe = or_default(t.get("node_safe"), SafeMode::Brake, |i| {
        let modes = [
            ("brake", SafeMode::Brake),
            ("hold", SafeMode::Hold),
            ("zero", SafeMode::Zero),
        ];
        i.one_of(rep, &modes)
    });
    let (seed, pace) = super::validate::seed_and_pace(rep, t);
    let sig = joints.filter(|_| transport_ok).map(|l| Signature {
        kind: kind.to_string(),
        sensors: l.link_sensors,
        actuators: l.actuators,
    });
    let config = (|| {
        Some(PlantConfig::Link {
            endpoint: endpoint?,
            joints: joints.filter(|_| transport_ok)?.plant.to_string(),
            clock: clock?,
            watchdog_ms: watchdog_ms?,
            node_safe: node_safe?,
            publish_period_us: 0,
            seed: seed?,
            pace: pace?,
        })
    })();
    (config, sig)
}

/// A link plant asks its node for one JointState per control period.
pub(crate) fn with_publish_period(
    plant: Option<PlantConfig>,
    rate_hz: Option<f64>,
) -> Option<PlantConfig> {
    match (plant, rate_hz) {
        (
            Some(PlantConfig::Link {
                endpoint,
                joints,
                clock,
                watchdog_ms,
                node_safe,
                seed,
                pace,
                ..
            }),
            Some(rate),
        ) => Some(PlantConfig::Link {
            endpoint,
            joints,
            clock,
            watchdog_ms,
            node_safe,
            publish_period_us: (1e6 / rate).round().max(1.0) as u32,
            seed,
            pace,
        }),
        (p, _) => p,
    }
}

/// `address = "HOST:PORT"` of a UDP node.
fn udp_address(rep: &mut Reporter, t: &Table<'_>) -> Option<LinkEndpoint> {
    let i = t.require(rep, "address")?;
    let text = i.str(rep)?;
    match text.parse::<std::net::SocketAddr>() {
        Ok(a) => Some(LinkEndpoint::Udp(a)),
        Err(_) => {
            i.report(
                rep,
                format!("must be an IP address and port like \"127.0.0.1:9000\", got {text:?}"),
            );
            None
        }
    }
}

/// `device = "/dev/ttyACM0"` and `baud` (default 1 Mbaud) of a serial node.
/// The device is opened when the plant is built: a robot file may name a
/// port that is not plugged in where it is checked.
fn serial_device(rep: &mut Reporter, t: &Table<'_>) -> Option<LinkEndpoint> {
    let device = t.require(rep, "device").and_then(|i| {
        let text = i.str(rep)?;
        if text.is_empty() {
            i.report(
                rep,
                "must name a serial device like \"/dev/ttyACM0\"".to_string(),
            );
            return None;
        }
        Some(std::path::PathBuf::from(text))
    });
    let baud = or_default(t.get("baud"), DEFAULT_BAUD, |i| {
        let b = i.count(rep, 1, u32::MAX as u64)? as u32;
        if baud_ok(b) {
            Some(b)
        } else {
            i.report(
                rep,
                format!("baud {b} is not supported (known: {})", known_bauds()),
            );
            None
        }
    });
    Some(LinkEndpoint::Serial {
        device: device?,
        baud: baud?,
    })
}
