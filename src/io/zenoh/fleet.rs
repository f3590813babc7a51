//! Watching every robot on a zenoh network (`ganglion top`): the
//! controllers' telemetry (tick rate, lateness p99, deadline misses, safety
//! events) and the robots' status (commands received, watchdog, safe state),
//! kept per robot with when it was last heard. A robot that accepts commands
//! without mutual TLS, or that hears a second controller, is flagged
//! (`warnings`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ::zenoh::Wait;
use ::zenoh::pubsub::Subscriber;
use anyhow::{Result, anyhow};
use serde::Serialize;

use super::serve::RobotStatus;
use super::telemetry::Telemetry;

/// What is known about one robot.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RobotView {
    pub robot: String,
    pub telemetry: Option<Telemetry>,
    pub status: Option<RobotStatus>,
    /// Seconds since anything was heard from it.
    pub last_heard_s: f64,
    pub bad_messages: u64,
    /// What is unsafe about it: `insecure_commands` (no mutual TLS: any
    /// peer may command it), `other_controllers` (a second controller
    /// commanded it).
    pub warnings: Vec<String>,
}

/// The warnings of a robot's status (`RobotView::warnings`).
pub fn warnings(status: &RobotStatus) -> Vec<String> {
    let mut w = Vec::new();
    if status.command_auth == "none" {
        w.push("insecure_commands".to_string());
    }
    if status.other_controller_commands > 0 {
        w.push("other_controllers".to_string());
    }
    w
}

#[derive(Default)]
struct Board {
    robots: BTreeMap<String, (RobotView, Option<Instant>)>,
}

impl Board {
    /// Files one sample of `topic` (`telemetry` or `status`) from `robot`.
    fn hear(&mut self, robot: &str, topic: &str, bytes: &[u8]) {
        let entry = self.robots.entry(robot.to_string()).or_insert_with(|| {
            let view = RobotView {
                robot: robot.to_string(),
                ..Default::default()
            };
            (view, None)
        });
        let ok = match topic {
            "telemetry" => serde_json::from_slice::<Telemetry>(bytes)
                .map(|t| entry.0.telemetry = Some(t))
                .is_ok(),
            _ => serde_json::from_slice::<RobotStatus>(bytes)
                .map(|s| entry.0.status = Some(s))
                .is_ok(),
        };
        if ok {
            entry.1 = Some(Instant::now());
        } else {
            entry.0.bad_messages += 1;
        }
    }
}

/// Every robot heard on `ganglion/*/telemetry` and `ganglion/*/status`,
/// for as long as it lives.
pub struct Fleet {
    board: Arc<Mutex<Board>>,
    _sub: Subscriber<()>,
}

impl Fleet {
    /// Starts listening on `session`.
    pub fn watch(session: &::zenoh::Session) -> Result<Fleet> {
        let board = Arc::new(Mutex::new(Board::default()));
        let b = board.clone();
        let sub = session
            .declare_subscriber("ganglion/*/*")
            .callback(move |sample| {
                let key = sample.key_expr().as_str().to_string();
                let mut parts = key.split('/');
                let (Some(_), Some(robot), Some(topic)) =
                    (parts.next(), parts.next(), parts.next())
                else {
                    return;
                };
                if topic != "telemetry" && topic != "status" {
                    return;
                }
                if let Ok(mut b) = b.lock() {
                    b.hear(robot, topic, &sample.payload().to_bytes());
                }
            })
            .wait()
            .map_err(|e| anyhow!("subscribing to ganglion/*/*: {e}"))?;
        Ok(Fleet { board, _sub: sub })
    }

    /// Every robot heard so far, with seconds since it was last heard and
    /// its warnings.
    pub fn snapshot(&self) -> Vec<RobotView> {
        let Ok(b) = self.board.lock() else {
            return Vec::new();
        };
        b.robots
            .values()
            .map(|(v, at)| {
                let mut v = v.clone();
                v.last_heard_s = at.map_or(f64::INFINITY, |t| t.elapsed().as_secs_f64());
                v.warnings = v.status.as_ref().map(warnings).unwrap_or_default();
                v
            })
            .collect()
    }
}
