//! The recording format: topics, their JSON Schemas, and the JSON encoding and
//! decoding of each channel's messages. Encoding uses serde_json with structs
//! (fixed field order, shortest round-trip float formatting); non-finite
//! numbers are written as `null` and decoded back to NaN.

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;
use serde::ser::{SerializeSeq, Serializer};
use serde_json::json;

use super::json::{self, Json};
use super::tick::{SafetyEvents, SafetyState, TaskFields, TickRecord};

pub const TOPIC_SENSORS: &str = "/sensors";
pub const TOPIC_OBSERVATION: &str = "/observation";
pub const TOPIC_ACTION: &str = "/action";
pub const TOPIC_SAFETY: &str = "/safety";
pub const TOPIC_TIMING: &str = "/timing";
pub const TOPIC_TASK: &str = "/task";

/// Channels whose payloads are a pure function of the loop's inputs (everything
/// but `/timing`), in the order they are compared.
pub const DETERMINISTIC_TOPICS: [&str; 5] = [
    TOPIC_SENSORS,
    TOPIC_OBSERVATION,
    TOPIC_ACTION,
    TOPIC_SAFETY,
    TOPIC_TASK,
];

/// Message encoding of every channel.
pub const MESSAGE_ENCODING: &str = "json";
/// Schema encoding of every schema.
pub const SCHEMA_ENCODING: &str = "jsonschema";
/// Name of the Metadata record describing the run.
pub const RUN_METADATA: &str = "ganglion.run";
/// Name of the Metadata record written by `Recorder::finish`.
pub const SUMMARY_METADATA: &str = "ganglion.summary";

fn floats(description: &str) -> serde_json::Value {
    json!({
        "type": "array",
        "description": format!("{description} (null where the value was not finite)"),
        "items": { "type": ["number", "null"] },
    })
}

fn object(title: &str, properties: serde_json::Value, required: &[&str]) -> Vec<u8> {
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        "type": "object",
        "properties": properties,
        "required": required,
    });
    // A `Value` always serialises.
    serde_json::to_vec(&schema).unwrap_or_default()
}

/// `(topic, schema name, JSON Schema)` of every channel, in channel order.
pub fn schemas() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let tick = json!({ "type": "integer", "minimum": 0, "description": "control-loop tick" });
    let time = json!({ "type": ["number", "null"], "description": "loop clock (s)" });
    let events: Vec<&str> = SafetyEvents::ALL.iter().map(|(_, n)| *n).collect();
    vec![
        (
            TOPIC_SENSORS,
            "ganglion.Sensors",
            object(
                "ganglion.Sensors",
                json!({ "tick": tick, "time": time, "values": floats("sensor readings") }),
                &["tick", "time", "values"],
            ),
        ),
        (
            TOPIC_OBSERVATION,
            "ganglion.Observation",
            object(
                "ganglion.Observation",
                json!({ "tick": tick, "time": time, "obs": floats("policy observation") }),
                &["tick", "time", "obs"],
            ),
        ),
        (
            TOPIC_ACTION,
            "ganglion.Action",
            object(
                "ganglion.Action",
                json!({
                    "tick": tick,
                    "time": time,
                    "policy_ran": { "type": "boolean" },
                    "raw": floats("policy output in its action layout"),
                    "command": floats("filtered actuator command sent"),
                }),
                &["tick", "time", "policy_ran", "raw", "command"],
            ),
        ),
        (
            TOPIC_SAFETY,
            "ganglion.Safety",
            object(
                "ganglion.Safety",
                json!({
                    "tick": tick,
                    "time": time,
                    "state": { "type": "string", "enum": ["normal", "safe", "estop"] },
                    "events": { "type": "array", "items": { "type": "string", "enum": events } },
                }),
                &["tick", "time", "state", "events"],
            ),
        ),
        (
            TOPIC_TIMING,
            "ganglion.Timing",
            object(
                "ganglion.Timing",
                json!({
                    "tick": tick,
                    "wall_time": { "type": ["number", "null"], "description": "wall time since start (s)" },
                    "lateness_ns": { "type": "integer", "description": "tick start minus deadline" },
                    "compute_ns": { "type": "integer", "minimum": 0 },
                    "policy_ns": { "type": "integer", "minimum": 0 },
                    "dropped_before": { "type": "integer", "minimum": 0 },
                }),
                &[
                    "tick",
                    "wall_time",
                    "lateness_ns",
                    "compute_ns",
                    "policy_ns",
                    "dropped_before",
                ],
            ),
        ),
        (
            TOPIC_TASK,
            "ganglion.Task",
            object(
                "ganglion.Task",
                json!({
                    "tick": tick,
                    "time": time,
                    "episode": { "type": "integer", "minimum": 0 },
                    "reward": { "type": ["number", "null"], "description": "reward of this tick's transition" },
                    "terminated": { "type": "boolean", "description": "the episode ended in a terminal state after this tick" },
                    "truncated": { "type": "boolean", "description": "the episode was cut by its time limit after this tick" },
                }),
                &[
                    "tick",
                    "time",
                    "episode",
                    "reward",
                    "terminated",
                    "truncated",
                ],
            ),
        ),
    ]
}

fn ser_f32s<S: Serializer>(values: &[f32], s: S) -> Result<S::Ok, S::Error> {
    let mut seq = s.serialize_seq(Some(values.len()))?;
    for v in values {
        if v.is_finite() {
            seq.serialize_element(v)?;
        } else {
            seq.serialize_element(&None::<f32>)?;
        }
    }
    seq.end()
}

fn ser_f64<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.is_finite() {
        s.serialize_f64(*v)
    } else {
        s.serialize_none()
    }
}

fn ser_f32<S: Serializer>(v: &f32, s: S) -> Result<S::Ok, S::Error> {
    if v.is_finite() {
        s.serialize_f32(*v)
    } else {
        s.serialize_none()
    }
}

fn ser_events<S: Serializer>(ev: &SafetyEvents, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(ev.names())
}

#[derive(Serialize)]
struct SensorsMsg<'a> {
    tick: u64,
    #[serde(serialize_with = "ser_f64")]
    time: f64,
    #[serde(serialize_with = "ser_f32s")]
    values: &'a [f32],
}

#[derive(Serialize)]
struct ObservationMsg<'a> {
    tick: u64,
    #[serde(serialize_with = "ser_f64")]
    time: f64,
    #[serde(serialize_with = "ser_f32s")]
    obs: &'a [f32],
}

#[derive(Serialize)]
struct ActionMsg<'a> {
    tick: u64,
    #[serde(serialize_with = "ser_f64")]
    time: f64,
    policy_ran: bool,
    #[serde(serialize_with = "ser_f32s")]
    raw: &'a [f32],
    #[serde(serialize_with = "ser_f32s")]
    command: &'a [f32],
}

#[derive(Serialize)]
struct SafetyMsg {
    tick: u64,
    #[serde(serialize_with = "ser_f64")]
    time: f64,
    state: &'static str,
    #[serde(serialize_with = "ser_events")]
    events: SafetyEvents,
}

#[derive(Serialize)]
struct TimingMsg {
    tick: u64,
    #[serde(serialize_with = "ser_f64")]
    wall_time: f64,
    lateness_ns: i64,
    compute_ns: u64,
    policy_ns: u64,
    dropped_before: u64,
}

/// Encoders for each channel, writing into a reused buffer (cleared first).
pub fn encode_sensors(rec: &TickRecord, out: &mut Vec<u8>) -> Result<()> {
    out.clear();
    let msg = SensorsMsg {
        tick: rec.tick,
        time: rec.time,
        values: rec.sensors(),
    };
    Ok(serde_json::to_writer(out, &msg)?)
}

pub fn encode_observation(rec: &TickRecord, out: &mut Vec<u8>) -> Result<()> {
    out.clear();
    let msg = ObservationMsg {
        tick: rec.tick,
        time: rec.time,
        obs: rec.obs(),
    };
    Ok(serde_json::to_writer(out, &msg)?)
}

pub fn encode_action(rec: &TickRecord, out: &mut Vec<u8>) -> Result<()> {
    out.clear();
    let msg = ActionMsg {
        tick: rec.tick,
        time: rec.time,
        policy_ran: rec.policy_ran,
        raw: rec.raw_action(),
        command: rec.command(),
    };
    Ok(serde_json::to_writer(out, &msg)?)
}

/// `/safety` for one tick (the events are passed separately: the recorder adds
/// `record_drop` to them).
pub fn encode_safety(
    tick: u64,
    time: f64,
    state: SafetyState,
    events: SafetyEvents,
    out: &mut Vec<u8>,
) -> Result<()> {
    out.clear();
    let msg = SafetyMsg {
        tick,
        time,
        state: state.name(),
        events,
    };
    Ok(serde_json::to_writer(out, &msg)?)
}

pub fn encode_timing(rec: &TickRecord, out: &mut Vec<u8>) -> Result<()> {
    out.clear();
    let msg = TimingMsg {
        tick: rec.tick,
        wall_time: rec.wall_time,
        lateness_ns: rec.lateness_ns,
        compute_ns: rec.compute_ns,
        policy_ns: rec.policy_ns,
        dropped_before: rec.dropped_before,
    };
    Ok(serde_json::to_writer(out, &msg)?)
}

#[derive(Serialize)]
struct TaskMsg {
    tick: u64,
    #[serde(serialize_with = "ser_f64")]
    time: f64,
    episode: u32,
    #[serde(serialize_with = "ser_f32")]
    reward: f32,
    terminated: bool,
    truncated: bool,
}

pub fn encode_task(rec: &TickRecord, task: &TaskFields, out: &mut Vec<u8>) -> Result<()> {
    out.clear();
    let msg = TaskMsg {
        tick: rec.tick,
        time: rec.time,
        episode: task.episode,
        reward: task.reward,
        terminated: task.terminated,
        truncated: task.truncated,
    };
    Ok(serde_json::to_writer(out, &msg)?)
}

/// One decoded message.
#[derive(Clone, Debug, PartialEq)]
pub enum Decoded {
    Sensors {
        tick: u64,
        time: f64,
        values: Vec<f32>,
    },
    Observation {
        tick: u64,
        time: f64,
        obs: Vec<f32>,
    },
    Action {
        tick: u64,
        time: f64,
        policy_ran: bool,
        raw: Vec<f32>,
        command: Vec<f32>,
    },
    Safety {
        tick: u64,
        time: f64,
        state: SafetyState,
        events: SafetyEvents,
    },
    Timing {
        tick: u64,
        wall_time: f64,
        lateness_ns: i64,
        compute_ns: u64,
        policy_ns: u64,
        dropped_before: u64,
    },
    Task {
        tick: u64,
        time: f64,
        task: TaskFields,
    },
}

impl Decoded {
    pub fn tick(&self) -> u64 {
        match self {
            Decoded::Sensors { tick, .. }
            | Decoded::Observation { tick, .. }
            | Decoded::Action { tick, .. }
            | Decoded::Safety { tick, .. }
            | Decoded::Timing { tick, .. }
            | Decoded::Task { tick, .. } => *tick,
        }
    }
}

fn field<'j, 'a>(obj: &'j Json<'a>, key: &str) -> Result<&'j Json<'a>> {
    obj.get(key).ok_or_else(|| anyhow!("missing field `{key}`"))
}

fn u64_field(obj: &Json, key: &str) -> Result<u64> {
    field(obj, key)?
        .as_u64()
        .ok_or_else(|| anyhow!("`{key}` is not an unsigned integer"))
}

fn f64_field(obj: &Json, key: &str) -> Result<f64> {
    field(obj, key)?
        .as_f64()
        .ok_or_else(|| anyhow!("`{key}` is not a number"))
}

fn f32s_field(obj: &Json, key: &str) -> Result<Vec<f32>> {
    let items = field(obj, key)?
        .as_array()
        .ok_or_else(|| anyhow!("`{key}` is not an array"))?;
    items
        .iter()
        .map(|v| {
            v.as_f32()
                .ok_or_else(|| anyhow!("`{key}` holds a non-number"))
        })
        .collect()
}

fn bool_field(obj: &Json, key: &str) -> Result<bool> {
    field(obj, key)?
        .as_bool()
        .ok_or_else(|| anyhow!("`{key}` is not a boolean"))
}

/// Decodes a message of a known topic; `Ok(None)` for other topics.
pub fn decode(topic: &str, data: &[u8]) -> Result<Option<Decoded>> {
    let known = matches!(
        topic,
        TOPIC_SENSORS | TOPIC_OBSERVATION | TOPIC_ACTION | TOPIC_SAFETY | TOPIC_TIMING | TOPIC_TASK
    );
    if !known {
        return Ok(None);
    }
    let v = json::parse(data).map_err(|e| anyhow!("{topic}: bad JSON: {e}"))?;
    decode_value(topic, &v).with_context(|| format!("decoding a {topic} message"))
}

fn decode_value(topic: &str, v: &Json) -> Result<Option<Decoded>> {
    let tick = u64_field(v, "tick")?;
    Ok(Some(match topic {
        TOPIC_SENSORS => Decoded::Sensors {
            tick,
            time: f64_field(v, "time")?,
            values: f32s_field(v, "values")?,
        },
        TOPIC_OBSERVATION => Decoded::Observation {
            tick,
            time: f64_field(v, "time")?,
            obs: f32s_field(v, "obs")?,
        },
        TOPIC_ACTION => Decoded::Action {
            tick,
            time: f64_field(v, "time")?,
            policy_ran: bool_field(v, "policy_ran")?,
            raw: f32s_field(v, "raw")?,
            command: f32s_field(v, "command")?,
        },
        TOPIC_SAFETY => {
            let name = field(v, "state")?
                .as_str()
                .ok_or_else(|| anyhow!("`state` is not a string"))?;
            let state = SafetyState::from_name(name)
                .ok_or_else(|| anyhow!("unknown safety state `{name}`"))?;
            let names = field(v, "events")?
                .as_array()
                .ok_or_else(|| anyhow!("`events` is not an array"))?;
            let mut events = SafetyEvents::default();
            for n in names {
                let n = n
                    .as_str()
                    .ok_or_else(|| anyhow!("`events` holds a non-string"))?;
                // Unknown names (from a newer writer) are skipped.
                if let Some(bit) = SafetyEvents::from_name(n) {
                    events.set(bit);
                }
            }
            Decoded::Safety {
                tick,
                time: f64_field(v, "time")?,
                state,
                events,
            }
        }
        TOPIC_TIMING => Decoded::Timing {
            tick,
            wall_time: f64_field(v, "wall_time")?,
            lateness_ns: field(v, "lateness_ns")?
                .as_i64()
                .ok_or_else(|| anyhow!("`lateness_ns` is not an integer"))?,
            compute_ns: u64_field(v, "compute_ns")?,
            policy_ns: u64_field(v, "policy_ns")?,
            dropped_before: u64_field(v, "dropped_before")?,
        },
        TOPIC_TASK => Decoded::Task {
            tick,
            time: f64_field(v, "time")?,
            task: TaskFields {
                episode: u64_field(v, "episode")? as u32,
                reward: field(v, "reward")?.as_f32().unwrap_or(f32::NAN),
                terminated: bool_field(v, "terminated")?,
                truncated: bool_field(v, "truncated")?,
            },
        },
        other => bail!("unknown topic {other}"),
    }))
}
