//! Validation of a parsed robot config, section by section: the top level,
//! `[plant]`, `[observation]`, `[record]`, `[realtime]` and `[clock]`;
//! `[policy]` is in `policy.rs`, `[action]` and `[safety]` in `action.rs`,
//! `[[camera]]` in `camera.rs`.
//! Each section reports all of its problems and yields its part of the
//! `RobotConfig` only when it is valid.

use std::path::Path;

use toml::Spanned;
use toml::de::DeTable;

use super::action::action_and_safety;
use super::policy::{path_value, policy};
use super::reader::{Item, Reporter, Table};
use super::robot_file::PlantUrdf;
use super::types::*;
use crate::policy::card::ModelCard;
use crate::record::tick::{MAX_ACT, MAX_OBS, MAX_SENSORS};
use crate::sim::{PLANT_KINDS, plant_signature};

/// Highest accepted `rate_hz`.
pub const MAX_RATE_HZ: f64 = 10_000.0;
/// Lowest accepted `rate_hz` (a 100 s period): slower is no control loop,
/// and a period must be representable as a wait the loop can interrupt.
pub const MIN_RATE_HZ: f64 = 0.01;
/// Largest accepted `[record] ring_capacity` (ticks).
pub const MAX_RING_CAPACITY: u64 = 1 << 20;
/// Smallest accepted `[record] ring_capacity` (ticks).
pub const MIN_RING_CAPACITY: u64 = 16;

const TOP_KEYS: &[&str] = &[
    "robot",
    "rate_hz",
    "plant",
    "policy",
    "observation",
    "action",
    "safety",
    "record",
    "realtime",
    "clock",
    "camera",
];

/// Sensor and actuator names of the configured plant kind.
pub(crate) struct Signature {
    pub(crate) kind: String,
    pub(crate) sensors: &'static [&'static str],
    pub(crate) actuators: &'static [&'static str],
}

/// Validates the whole document; `None` when any part is invalid (the
/// problems are in `rep`).
pub(crate) fn robot_config(
    file: &Path,
    text: &str,
    doc: &Spanned<DeTable<'_>>,
    rep: &mut Reporter,
) -> Option<RobotConfig> {
    let base = file.parent().unwrap_or(Path::new(""));
    let top = Table::root(doc);
    top.check_keys(rep, TOP_KEYS);

    let robot = top.require(rep, "robot").and_then(|i| key_name(rep, &i));
    let rate_hz = top.require(rep, "rate_hz").and_then(|i| rate(rep, &i));
    let (plant, sig, urdf) = match top.section(rep, "plant", true) {
        Some(t) => plant(rep, &t, base),
        None => (None, None, None),
    };
    let (policy, card) = match top.section(rep, "policy", true) {
        Some(t) => policy(rep, &t, base),
        None => (None, None),
    };
    let observation = top
        .section(rep, "observation", true)
        .and_then(|t| observation(rep, &t, sig.as_ref(), card.as_ref()));
    let action_t = top.section(rep, "action", true);
    let safety_t = top.section(rep, "safety", true);
    let (action, safety) = action_and_safety(
        rep,
        action_t.as_ref(),
        safety_t.as_ref(),
        sig.as_ref(),
        card.as_ref(),
        base,
    );
    let joint_limits = safety_t.as_ref().and_then(|t| {
        let actuators = action.as_ref().map(|a| a.actuators.as_slice());
        let urdf = urdf.as_ref().and_then(Option::as_ref);
        super::robot_file::joint_limits(rep, t, actuators, sig.as_ref(), urdf)
    });
    let workspace = safety_t.as_ref().and_then(|t| {
        let actuators = action.as_ref().map(|a| a.actuators.as_slice());
        super::robot_file::workspace(rep, t, actuators, sig.as_ref(), urdf.as_ref())
    });
    let safety = safety
        .zip(joint_limits)
        .zip(workspace)
        .map(|((mut s, limits), workspace)| {
            s.joint_limits = limits;
            s.workspace = workspace;
            s
        });
    let record = match top.get("record") {
        None => Some(RecordConfig::default()),
        Some(i) => i.table(rep).and_then(|t| record(rep, &t, base)),
    };
    let realtime = match top.get("realtime") {
        None => Some(RealtimeConfig::default()),
        Some(i) => i.table(rep).and_then(|t| realtime(rep, &t)),
    };
    let clock = match top.get("clock") {
        None => Some(ClockConfig::default()),
        Some(i) => i.table(rep).and_then(|t| clock(rep, &t, rate_hz)),
    };
    let cameras = super::camera::cameras(rep, &top, rate_hz, sig.as_ref());

    let plant = super::link::with_publish_period(plant, rate_hz);
    let plant = super::servo::with_rate(plant, rate_hz);
    let plant = super::zenoh::finish(plant, robot.as_deref(), base);
    Some(RobotConfig {
        source_path: file.to_path_buf(),
        source_text: text.to_string(),
        robot: robot?,
        rate_hz: rate_hz?,
        plant: plant?,
        policy: policy?,
        observation: observation?,
        action: action?,
        safety: safety?,
        record: record?,
        realtime: realtime?,
        clock: clock?,
        cameras: cameras?,
    })
}

/// `Some(default)` when absent, else what `read` makes of the value.
pub(crate) fn or_default<'a, T>(
    item: Option<Item<'a>>,
    default: T,
    read: impl FnOnce(&Item<'a>) -> Option<T>,
) -> Option<T> {
    match item {
        None => Some(default),
        Some(i) => read(&i),
    }
}

/// A list of finite numbers (as f32) and the items they came from.
pub(crate) struct Floats<'a> {
    pub(crate) values: Vec<f32>,
    pub(crate) items: Vec<Item<'a>>,
}

/// Reads an array of finite numbers, `len.0` of them when given (`len.1`
/// says why, e.g. "one per actuator"). `None` after reporting any problem.
pub(crate) fn floats<'a>(
    rep: &mut Reporter,
    item: &Item<'a>,
    len: Option<(usize, &str)>,
) -> Option<Floats<'a>> {
    let items = item.array(rep)?;
    let mut ok = true;
    let mut values = Vec::with_capacity(items.len());
    for e in &items {
        match e.number(rep) {
            Some(v) if (v as f32).is_finite() => values.push(v as f32),
            Some(v) => {
                e.report(rep, format!("must be a finite number, got {v}"));
                ok = false;
            }
            None => ok = false,
        }
    }
    if let Some((n, why)) = len
        && items.len() != n
    {
        item.report(
            rep,
            format!("has {} values, expected {n} ({why})", items.len()),
        );
        ok = false;
    }
    ok.then_some(Floats { values, items })
}

/// Reads a list of names, each in `known` when given (`what` is "sensor" or
/// "actuator"), without duplicates, 1..=`max` of them.
pub(crate) fn names(
    rep: &mut Reporter,
    item: &Item<'_>,
    known: Option<(&[&str], &str)>,
    what: &str,
    max: usize,
) -> Option<Vec<String>> {
    let items = item.array(rep)?;
    let mut ok = true;
    if items.is_empty() {
        item.report(rep, format!("must list at least one {what}"));
        ok = false;
    }
    if items.len() > max {
        item.report(
            rep,
            format!(
                "{} {what}s listed, at most {max} are supported",
                items.len()
            ),
        );
        // One problem for the list, not one per entry past the limit.
        return None;
    }
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for e in &items {
        let Some(name) = e.str(rep) else {
            ok = false;
            continue;
        };
        if let Some((known, kind)) = known
            && !known.contains(&name)
        {
            let article = if what.starts_with(['a', 'e', 'i', 'o', 'u']) {
                "an"
            } else {
                "a"
            };
            let msg = format!(
                "`{name}` is not {article} {what} of plant {kind} (its {what}s: {})",
                known.join(", ")
            );
            e.report(rep, msg);
            ok = false;
        } else if out.iter().any(|o| o == name) {
            e.report(rep, format!("`{name}` is listed twice"));
            ok = false;
        } else {
            out.push(name.to_string());
        }
    }
    ok.then_some(out)
}

/// The longest robot name (it names zenoh keys, recordings and reports).
pub const MAX_NAME_LEN: usize = 64;

/// A name that becomes part of zenoh keys and file names (a robot, a
/// camera): 1 to `MAX_NAME_LEN` characters of A-Z a-z 0-9 _ -.
pub(crate) fn key_name(rep: &mut Reporter, item: &Item<'_>) -> Option<String> {
    let name = item.str(rep)?;
    if name.len() > MAX_NAME_LEN {
        let msg = format!(
            "must be at most {MAX_NAME_LEN} characters, got {}",
            name.len()
        );
        item.report(rep, msg);
        return None;
    }
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid {
        item.report(
            rep,
            format!("must be a non-empty name of A-Z a-z 0-9 _ -, got {name:?}"),
        );
        return None;
    }
    Some(name.to_string())
}

fn rate(rep: &mut Reporter, item: &Item<'_>) -> Option<f64> {
    let v = item.number(rep)?;
    if !(MIN_RATE_HZ..=MAX_RATE_HZ).contains(&v) {
        item.report(
            rep,
            format!("must be between {MIN_RATE_HZ} and {MAX_RATE_HZ} (Hz), got {v}"),
        );
        return None;
    }
    Some(v)
}

/// The plant, its signature, and its URDF: `None` when not given,
/// `Some(None)` when given but broken (reported).
type PlantParts = (
    Option<PlantConfig>,
    Option<Signature>,
    Option<Option<PlantUrdf>>,
);

fn plant(rep: &mut Reporter, t: &Table<'_>, base: &Path) -> PlantParts {
    let kind_item = t.require(rep, "kind");
    let kind = kind_item.as_ref().and_then(|i| i.str(rep));
    if let (Some(k), Some(item)) = (kind, &kind_item)
        && k.starts_with("link:")
    {
        let (config, sig) = super::link::link_plant(rep, t, k, item);
        return (config, sig, None);
    }
    if let (Some(k), Some(item)) = (kind, &kind_item)
        && k.starts_with("servo:")
    {
        let (config, sig) = super::servo::servo_plant(rep, t, k, item);
        return (config, sig, None);
    }
    if kind == Some("zenoh") {
        let (config, sig) = super::zenoh::zenoh_plant(rep, t);
        return (config, sig, None);
    }
    if kind == Some(super::robot_file::URDF_ARM) {
        return super::robot_file::urdf_arm_plant(rep, t, base);
    }
    t.check_keys(rep, &["kind", "seed", "pace", "urdf"]);
    let urdf = super::robot_file::plant_urdf(rep, t, kind, base);
    let sig = match (kind, &kind_item) {
        (Some(kind), Some(item)) => match plant_signature(kind) {
            Some((sensors, actuators))
                if sensors.len() > MAX_SENSORS || actuators.len() > MAX_ACT =>
            {
                let msg = format!(
                    "plant kind `{kind}` has {} sensors and {} actuators, more than this \
                     build supports ({MAX_SENSORS} and {MAX_ACT})",
                    sensors.len(),
                    actuators.len()
                );
                item.report(rep, msg);
                None
            }
            Some((sensors, actuators)) if PLANT_KINDS.contains(&kind) => Some(Signature {
                kind: kind.to_string(),
                sensors,
                actuators,
            }),
            _ => {
                let known = format!(
                    "{}, {}",
                    PLANT_KINDS.join(", "),
                    super::robot_file::URDF_ARM
                );
                item.report(rep, format!("unknown plant kind `{kind}` (known: {known})"));
                None
            }
        },
        _ => None,
    };
    let (seed, pace) = seed_and_pace(rep, t);
    let urdf_ok = urdf.as_ref().is_none_or(Option::is_some);
    let config = match (&sig, seed, pace, urdf_ok) {
        (Some(sig), Some(seed), Some(pace), true) => match sig.kind.as_str() {
            kind if kind.starts_with("sim:") => Some(PlantConfig::Sim {
                kind: kind.to_string(),
                seed,
                pace,
                urdf: urdf
                    .as_ref()
                    .and_then(Option::as_ref)
                    .map(|u| u.path.clone()),
                drive: None,
            }),
            other => {
                let msg = format!("plant kind `{other}` is not supported by this build");
                rep.report(t.field("kind"), kind_item.and_then(|i| i.span()), msg);
                None
            }
        },
        _ => None,
    };
    (config, sig, urdf)
}

/// A simulated plant's `seed` (default 0) and `pace` (default realtime).
pub(crate) fn seed_and_pace(rep: &mut Reporter, t: &Table<'_>) -> (Option<u64>, Option<Pace>) {
    let seed = or_default(t.get("seed"), 0, |i| i.count(rep, 0, u64::MAX));
    let pace = or_default(t.get("pace"), Pace::Realtime, |i| {
        i.one_of(rep, &[("realtime", Pace::Realtime), ("fast", Pace::Fast)])
    });
    (seed, pace)
}

fn observation(
    rep: &mut Reporter,
    t: &Table<'_>,
    sig: Option<&Signature>,
    card: Option<&ModelCard>,
) -> Option<ObservationConfig> {
    t.check_keys(rep, &["fields", "offset", "scale"]);
    let fields_item = t.require(rep, "fields");
    let known = sig.map(|s| (s.sensors, s.kind.as_str()));
    let fields = fields_item
        .as_ref()
        .and_then(|i| names(rep, i, known, "sensor", MAX_OBS));
    if let (Some(fields), Some(card), Some(item)) = (&fields, card, &fields_item)
        && fields.len() != card.obs_dim
    {
        let msg = format!(
            "{} fields listed but the model card says obs_dim = {}",
            fields.len(),
            card.obs_dim
        );
        item.report(rep, msg);
    }
    let n = fields.as_ref().map(Vec::len);
    let len = n.map(|n| (n, "one per field"));
    let offset = or_default(t.get("offset"), None, |i| {
        floats(rep, i, len).map(|f| Some(f.values))
    });
    let scale = or_default(t.get("scale"), None, |i| {
        let f = floats(rep, i, len)?;
        let mut ok = true;
        for (v, e) in f.values.iter().zip(&f.items) {
            if *v == 0.0 {
                e.report(rep, "must not be 0");
                ok = false;
            }
        }
        ok.then_some(Some(f.values))
    });
    let (fields, offset, scale) = (fields?, offset?, scale?);
    if card.is_some_and(|c| c.obs_dim != fields.len()) {
        return None;
    }
    let n = fields.len();
    Some(ObservationConfig {
        fields,
        offset: offset.unwrap_or_else(|| vec![0.0; n]),
        scale: scale.unwrap_or_else(|| vec![1.0; n]),
    })
}

fn record(rep: &mut Reporter, t: &Table<'_>, base: &Path) -> Option<RecordConfig> {
    t.check_keys(rep, &["path", "flush_every_ms", "ring_capacity"]);
    let d = RecordConfig::default();
    let path = or_default(t.get("path"), None, |i| path_value(rep, i, base).map(Some));
    let flush_every_ms = or_default(t.get("flush_every_ms"), d.flush_every_ms, |i| {
        i.count(rep, 1, u64::MAX)
    });
    let ring_capacity = or_default(t.get("ring_capacity"), d.ring_capacity, |i| {
        let v = i.count(rep, MIN_RING_CAPACITY, MAX_RING_CAPACITY)?;
        usize::try_from(v).ok()
    });
    Some(RecordConfig {
        path: path?,
        flush_every_ms: flush_every_ms?,
        ring_capacity: ring_capacity?,
    })
}

fn realtime(rep: &mut Reporter, t: &Table<'_>) -> Option<RealtimeConfig> {
    t.check_keys(rep, &["enabled", "priority", "cpu", "lock_memory"]);
    let d = RealtimeConfig::default();
    let enabled = or_default(t.get("enabled"), d.enabled, |i| i.bool(rep));
    let priority = or_default(t.get("priority"), d.priority, |i| {
        i32::try_from(i.count(rep, 1, 99)?).ok()
    });
    let cpu = or_default(t.get("cpu"), None, |i| {
        // CPU_SETSIZE: the most CPUs an affinity mask can name.
        usize::try_from(i.count(rep, 0, 1023)?).ok().map(Some)
    });
    let lock_memory = or_default(t.get("lock_memory"), d.lock_memory, |i| i.bool(rep));
    Some(RealtimeConfig {
        enabled: enabled?,
        priority: priority?,
        cpu: cpu?,
        lock_memory: lock_memory?,
    })
}

fn clock(rep: &mut Reporter, t: &Table<'_>, rate_hz: Option<f64>) -> Option<ClockConfig> {
    t.check_keys(rep, &["spin_us"]);
    let spin_us = or_default(t.get("spin_us"), ClockConfig::default().spin_us, |i| {
        let v = i.count(rep, 0, u64::MAX)?;
        if let Some(rate_hz) = rate_hz {
            let period_us = 1e6 / rate_hz;
            if v as f64 >= period_us {
                let msg =
                    format!("must be < the tick period 1e6 / rate_hz = {period_us:.1} µs, got {v}");
                i.report(rep, msg);
                return None;
            }
        }
        Some(v)
    });
    Some(ClockConfig { spin_us: spin_us? })
}
