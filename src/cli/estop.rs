//! `ganglion estop`: latch (or, with `--reset`, clear) the e-stop of a robot
//! on the zenoh network, then wait until the robot's status — and, when one
//! is running, its controller's telemetry — confirms it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use clap::Args;
use serde::Serialize;
use zenoh::Wait;
use zenoh::qos::{CongestionControl, Priority};

use super::tls_args::TlsArgs;
use crate::io::zenoh::serve::RobotStatus;
use crate::io::zenoh::telemetry::Telemetry;
use crate::io::zenoh::{Endpoints, Keys, open, valid_robot_name, wait_for_peer};

#[derive(Args, Debug)]
pub struct EstopArgs {
    /// Endpoint(s) of the robot (or a router), e.g. tcp/127.0.0.1:7447.
    #[arg(long, required = true)]
    pub connect: Vec<String>,
    /// The robot's name in the key space ganglion/{robot}/….
    #[arg(long, default_value = "cartpole")]
    pub robot: String,
    /// Clear a latched e-stop instead of latching one.
    #[arg(long)]
    pub reset: bool,
    /// How long to wait for the robot to confirm (s).
    #[arg(long, default_value = "2", value_parser = crate::input::parse_positive_seconds)]
    pub timeout: crate::input::Seconds,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub tls: TlsArgs,
}

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

pub fn run(a: EstopArgs) -> Result<()> {
    if !valid_robot_name(&a.robot) {
        bail!("--robot {:?} cannot be a key expression", a.robot);
    }
    // A client of the robot: the robot routes the e-stop on to its
    // controller (peers do not forward for other peers).
    let session = open(&Endpoints::client_of(&a.connect), &a.tls.security(), None)?;
    let timeout = Duration::from_secs_f64(a.timeout.get().clamp(0.1, 600.0));
    wait_for_peer(&session, timeout).map_err(|e| anyhow!("reaching {:?}: {e}", a.connect))?;
    let keys = Keys::new(&a.robot);
    let want = !a.reset;
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
            .map_err(|e| anyhow!("subscribing to {}'s status: {e}", a.robot))
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
        robot: a.robot.clone(),
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
    if a.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!(
            "{} sent to {}: robot {}, controller {}",
            out.sent,
            out.robot,
            if out.robot_confirmed {
                format!("confirmed in {:.0} ms", out.confirm_s.unwrap_or(0.0) * 1e3)
            } else {
                "NOT confirmed".into()
            },
            match out.controller_confirmed {
                Some(true) => "confirmed",
                Some(false) => "NOT confirmed",
                None => "not heard",
            }
        );
    }
    if !out.robot_confirmed {
        bail!(
            "robot `{}` did not confirm the {} within {:.1} s",
            a.robot,
            out.sent,
            timeout.as_secs_f64()
        );
    }
    Ok(())
}
