//! `ganglion estop`: latch (or, with `--reset`, clear) the e-stop of a robot
//! on the zenoh network, then wait until the robot's status — and, when one
//! is running, its controller's telemetry — confirms it.

use std::time::Duration;

use anyhow::{Result, bail};
use clap::Args;

use super::tls_args::TlsArgs;
use ganglion::io::zenoh::estop::send;
use ganglion::io::zenoh::valid_robot_name;

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
    #[arg(long, default_value = "2", value_parser = ganglion::input::parse_positive_seconds)]
    pub timeout: ganglion::input::Seconds,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub tls: TlsArgs,
}

pub fn run(a: EstopArgs) -> Result<()> {
    if !valid_robot_name(&a.robot) {
        bail!("--robot {:?} cannot be a key expression", a.robot);
    }
    let timeout = Duration::from_secs_f64(a.timeout.get().clamp(0.1, 600.0));
    let out = send(&a.connect, &a.robot, !a.reset, timeout, &a.tls.security())?;
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
