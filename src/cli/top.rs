//! `ganglion top`: a live view of every robot on the zenoh network — the
//! controllers' telemetry (tick rate, lateness p99, deadline misses, safety
//! events) and the robots' status (commands received, watchdog, safe state),
//! refreshed in the terminal; `--once --json` prints one snapshot. A robot
//! that accepts commands without mutual TLS, or that hears a second
//! controller, is flagged (`warnings`).

use std::io::Write;
use std::time::Duration;

use anyhow::{Result, anyhow};
use clap::Args;
use zenoh::Wait;

use super::tls_args::TlsArgs;
use ganglion::io::zenoh::fleet::{Fleet, RobotView};
use ganglion::io::zenoh::{Endpoints, open};

#[derive(Args, Debug)]
pub struct TopArgs {
    /// Endpoint(s) to connect to (a robot or a controller), e.g. tcp/127.0.0.1:7447.
    #[arg(long)]
    pub connect: Vec<String>,
    /// Endpoint(s) to listen on.
    #[arg(long)]
    pub listen: Vec<String>,
    /// Enable multicast scouting.
    #[arg(long)]
    pub multicast: bool,
    /// Print one snapshot and exit.
    #[arg(long)]
    pub once: bool,
    /// With --once: print JSON.
    #[arg(long)]
    pub json: bool,
    /// With --once: how long to listen before the snapshot (s).
    #[arg(long, default_value = "2", value_parser = ganglion::input::parse_seconds)]
    pub seconds: ganglion::input::Seconds,
    /// Refresh period (ms).
    #[arg(long, default_value_t = 500)]
    pub refresh_ms: u64,
    #[command(flatten)]
    pub tls: TlsArgs,
}

pub fn run(a: TopArgs) -> Result<()> {
    if a.connect.is_empty() && a.listen.is_empty() && !a.multicast {
        return Err(anyhow!(
            "give --connect <endpoint> (e.g. tcp/127.0.0.1:7447), --listen, or --multicast"
        ));
    }
    let session = open(
        &Endpoints {
            listen: a.listen.clone(),
            connect: a.connect.clone(),
            multicast: a.multicast,
            router: false,
            client: true,
        },
        &a.tls.security(),
        None,
    )?;
    let fleet = Fleet::watch(&session)?;
    if a.once {
        std::thread::sleep(a.seconds.duration());
        let views = fleet.snapshot();
        if a.json {
            println!("{}", serde_json::to_string(&views)?);
        } else {
            print!("{}", render(&views));
        }
    } else {
        loop {
            let views = fleet.snapshot();
            let mut out = std::io::stdout().lock();
            // Clear the screen, cursor home.
            let _ = write!(out, "\x1b[2J\x1b[H{}", render(&views));
            let _ = out.flush();
            drop(out);
            std::thread::sleep(Duration::from_millis(a.refresh_ms.max(50)));
        }
    }
    drop(fleet);
    let _ = session.close().wait();
    Ok(())
}

/// The table `top` shows.
pub fn render(views: &[RobotView]) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "{:<14} {:>8} {:>10} {:>10} {:>7} {:<7} {:<28} {:>9} {:<14}\n",
        "ROBOT",
        "RATE Hz",
        "LATE p99",
        "COMP p99",
        "MISSES",
        "STATE",
        "SAFETY EVENTS",
        "CMDS RX",
        "ROBOT SIDE"
    ));
    if views.is_empty() {
        s.push_str("(no robots heard yet)\n");
    }
    for v in views {
        render_robot(&mut s, v);
    }
    s
}

/// One robot's row, and its warnings under it.
fn render_robot(s: &mut String, v: &RobotView) {
    {
        let (rate, late, comp, misses, state, events) = match &v.telemetry {
            Some(t) => (
                format!("{:.1}", t.rate_hz),
                format!("{:.0} µs", t.lateness_p99_us),
                format!("{:.0} µs", t.compute_p99_us),
                t.deadline_misses.to_string(),
                t.state.clone(),
                t.safety_events
                    .iter()
                    .map(|(k, c)| format!("{k}×{c}"))
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            None => (
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                String::new(),
            ),
        };
        let (rx, side) = match &v.status {
            Some(st) => (
                st.commands_received.to_string(),
                if st.estop {
                    "E-STOP".to_string()
                } else if st.safe {
                    format!("SAFE (wd×{})", st.watchdog_trips)
                } else {
                    "ok".to_string()
                },
            ),
            None => ("-".into(), "-".into()),
        };
        s.push_str(&format!(
            "{:<14} {:>8} {:>10} {:>10} {:>7} {:<7} {:<28} {:>9} {:<14}{}\n",
            v.robot,
            rate,
            late,
            comp,
            misses,
            state,
            if events.is_empty() {
                "-".to_string()
            } else {
                events
            },
            rx,
            side,
            if v.last_heard_s > 2.0 {
                format!("  (silent {:.0} s)", v.last_heard_s)
            } else {
                String::new()
            }
        ));
        render_warnings(s, v);
    }
}

/// The lines under a robot's row that say what is unsafe about it.
fn render_warnings(s: &mut String, v: &RobotView) {
    {
        if let Some(st) = &v.status {
            if st.command_auth == "none" {
                s.push_str(&format!(
                    "  ! {}: INSECURE: accepts commands and e-stops from any peer (no mutual TLS)\n",
                    v.robot
                ));
            }
            if st.other_controller_commands > 0 {
                s.push_str(&format!(
                    "  ! {}: {} commands from a second controller{} (owner {})\n",
                    v.robot,
                    st.other_controller_commands,
                    if st.single_controller {
                        ", dropped"
                    } else {
                        ", applied"
                    },
                    st.controller.as_deref().unwrap_or("-")
                ));
            }
        }
    }
}
