//! The e-stop from outside (`ganglion estop`): latch or clear a robot's
//! e-stop over zenoh, then wait until the robot's status — and, when one is
//! running, its controller's telemetry — confirms it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ::zenoh::Wait;
use ::zenoh::qos::{CongestionControl, Priority};
use anyhow::{Result, anyhow};
use serde::Serialize;

use super::serve::RobotStatus;
use super::telemetry::Telemetry;
use super::{Endpoints, Keys, LinkSecurity, open, wait_for_peer};

/// What `estop` saw after sending.
#[derive(Debug, Default, Serialize)]
pub struct EstopOutcome {
    pub robot: String,
    /// "estop" or "reset".
    pub sent: &'static str,
    /// The robot's status agrees (its e-stop flag is what was asked).
    pub robot_confirmed: bool,
    /// A controller's telemetry agrees (None: no controller heard).
    pub controller_confirmed: Option<bool>,
    /// Seconds from sending to the robot's confirmation.
    pub confirm_s: Option<f64>,
}

/// Sends the e-stop (`want = true`) or its reset to `robot` through
/// `connect` and waits up to `timeout` for the confirmations.
pub fn send(
    connect: &[String],
    robot: &str,
    want: bool,
    timeout: Duration,
    security: &LinkSecurity,
) -> Result<EstopOutcome> {
    // A client of the robot: the robot routes the e-stop on to its
    // controller (peers do not forward for other peers).
    let session = open(&Endpoints::client_of(connect), security, None)?;
    wait_for_peer(&session, timeout).map_err(|e| anyhow!("reaching {:?}: {e}", connect))?;
    let keys = Keys::new(robot);
    let heard: Arc<Mutex<(Option<RobotStatus>, Option<Telemetry>)>> = Arc::default();
    let subs = [keys.status.clone(), keys.telemetry.clone()].map(|key| {
        let heard = heard.clone();
        let is_status = key == keys.status;
        session
            .declare_subscriber(key)
            .callback(move |sample| {
                let bytes = sample.payload().to_bytes();
                let Ok(mut h) = heard.lock() else { return };
                if is_status {
                    if let Ok(s) = serde_json::from_slice::<RobotStatus>(&bytes) {
                        h.0 = Some(s);
                    }
                } else if let Ok(t) = serde_json::from_slice::<Telemetry>(&bytes) {
                    h.1 = Some(t);
                }
            })
            .wait()
            .map_err(|e| anyhow!("subscribing to {robot}'s status: {e}"))
    });
    let subs = subs.into_iter().collect::<Result<Vec<_>>>()?;
    let sent_at = Instant::now();
    session
        .put(keys.estop.clone(), if want { "estop" } else { "reset" })
        .congestion_control(CongestionControl::Block)
        .priority(Priority::RealTime)
        .wait()
        .map_err(|e| anyhow!("publishing on {}: {e}", keys.estop))?;
    let mut out = EstopOutcome {
        robot: robot.to_string(),
        sent: if want { "estop" } else { "reset" },
        ..Default::default()
    };
    // A status sent before the put may still be on its way: only one that
    // agrees counts, and the wait ends when the robot (and a controller, if
    // one speaks) agree or the timeout passes.
    while sent_at.elapsed() < timeout {
        if let Ok(mut h) = heard.lock() {
            if h.0.as_ref().is_some_and(|s| s.estop == want) && !out.robot_confirmed {
                out.robot_confirmed = true;
                out.confirm_s = Some(sent_at.elapsed().as_secs_f64());
            }
            if let Some(t) = h.1.take() {
                out.controller_confirmed = Some((t.state == "estop") == want);
            }
        }
        // The controller's telemetry comes at ~10 Hz: give it three periods
        // after the robot's confirmation before calling it unheard.
        let controller_settled = match out.controller_confirmed {
            Some(ok) => ok,
            None => out
                .confirm_s
                .is_some_and(|t| sent_at.elapsed().as_secs_f64() > t + 0.3),
        };
        if out.robot_confirmed && controller_settled {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(subs);
    let _ = session.close().wait();
    Ok(out)
}
