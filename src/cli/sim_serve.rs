//! `ganglion sim serve`: a simulated robot on the zenoh network, in real
//! time. It publishes its sensors on `ganglion/{robot}/sensors`, obeys
//! commands from `ganglion/{robot}/commands`, and falls back to zero force
//! when its command watchdog fires. Events are printed as JSON lines.
//! It obeys one controller at a time unless `--allow-multiple-controllers`,
//! and warns on stderr when it accepts commands without mutual TLS.

use std::io::Write;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};

use super::tls_args::TlsArgs;
use ganglion::io::zenoh::serve::{ServeOptions, serve};
use ganglion::io::zenoh::{Endpoints, LinkSecurity};

#[derive(Args, Debug)]
pub struct SimArgs {
    #[command(subcommand)]
    pub command: SimCommand,
}

#[derive(Subcommand, Debug)]
pub enum SimCommand {
    /// Serve a simulated robot over zenoh (sensors out, commands in).
    Serve(ServeArgs),
    /// Serve a simulated camera over zenoh (rendered frames out).
    Camera(super::sim_camera::CameraArgs),
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The robot: a simulated plant (cartpole, reacher); also its key-space name.
    #[arg(long, default_value = "cartpole")]
    pub robot: String,
    /// Name in the key space `ganglion/{name}/…` (default: the robot).
    #[arg(long)]
    pub name: Option<String>,
    /// Endpoint(s) to listen on, e.g. tcp/127.0.0.1:7447 or tls/localhost:7447.
    #[arg(long, required = true)]
    pub listen: Vec<String>,
    /// Endpoint(s) to connect to as well.
    #[arg(long)]
    pub connect: Vec<String>,
    /// Enable multicast scouting (off: explicit endpoints only).
    #[arg(long)]
    pub multicast: bool,
    /// Run as a zenoh router instead of a peer (forwards between the peers
    /// linked to it).
    #[arg(long)]
    pub router: bool,
    /// Seed of the initial state.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Physics steps and sensor frames per second.
    #[arg(long, default_value_t = 1000.0, value_parser = ganglion::input::parse_rate_hz)]
    pub rate_hz: f64,
    /// Command watchdog: zero force when no command came for this long (ms).
    #[arg(long, default_value_t = 100)]
    pub watchdog_ms: u64,
    /// Stop after this many seconds (default: until SIGINT/SIGTERM).
    #[arg(long, value_parser = ganglion::input::parse_seconds)]
    pub seconds: Option<ganglion::input::Seconds>,
    #[command(flatten)]
    pub tls: TlsArgs,
    /// Only a peer whose certificate has this common name may command the
    /// robot (needs --mtls).
    #[arg(long, requires = "mtls")]
    pub controller_cn: Option<String>,
    /// Obey only the first controller to command until it goes silent past
    /// the watchdog; drop, count and report commands from any other
    /// (`--single-controller=false` to allow several).
    #[arg(
        long,
        default_value_t = true,
        num_args = 0..=1,
        default_missing_value = "true",
        action = clap::ArgAction::Set
    )]
    pub single_controller: bool,
    /// Same as --single-controller=false: apply every controller's commands
    /// (a second controller is still reported).
    #[arg(long)]
    pub allow_multiple_controllers: bool,
}

pub fn run(args: SimArgs) -> Result<()> {
    match args.command {
        SimCommand::Serve(a) => run_serve(a),
        SimCommand::Camera(a) => super::sim_camera::run(a),
    }
}

fn run_serve(a: ServeArgs) -> Result<()> {
    let opts = serve_options(&a)?;
    ganglion::signals::install();
    let print = |v: &serde_json::Value| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{v}");
        let _ = out.flush();
    };
    print(&serde_json::json!({
        "event": "starting",
        "robot": opts.robot,
        "listen": opts.endpoints.listen,
        "rate_hz": opts.rate_hz,
        "watchdog_ms": a.watchdog_ms,
        "single_controller": opts.single_controller,
    }));
    let status = serve(&opts, ganglion::signals::stop_flag(), |e| {
        if let Some(w) = &e.warning {
            eprintln!("WARNING: {w}");
        }
        if e.event == "controller_refused" || e.event == "second_controller" {
            eprintln!(
                "WARNING: a second controller ({}) is commanding robot `{}`{}",
                e.controller.as_deref().unwrap_or("?"),
                opts.robot,
                if opts.single_controller {
                    "; its commands are dropped"
                } else {
                    " at the same time as the first"
                }
            );
        }
        print(&serde_json::to_value(e).unwrap_or_default());
    })?;
    print(&serde_json::json!({ "event": "exit", "status": status }));
    Ok(())
}

/// The served robot the flags describe.
fn serve_options(a: &ServeArgs) -> Result<ServeOptions> {
    let kind = format!("sim:{}", a.robot);
    if ganglion_sim::plant_signature(&kind).is_none() {
        bail!(
            "unknown robot `{}` (known: {})",
            a.robot,
            ganglion_sim::PLANT_KINDS
                .iter()
                .map(|k| k.trim_start_matches("sim:"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if a.watchdog_ms == 0 {
        bail!("--watchdog-ms must be > 0");
    }
    Ok(ServeOptions {
        robot: a.name.clone().unwrap_or_else(|| a.robot.clone()),
        kind,
        endpoints: Endpoints {
            listen: a.listen.clone(),
            connect: a.connect.clone(),
            multicast: a.multicast,
            router: a.router,
            client: false,
        },
        security: LinkSecurity {
            tls: a.tls.files(),
            controller_cn: a.controller_cn.clone(),
        },
        seed: a.seed,
        rate_hz: a.rate_hz,
        watchdog: Duration::from_millis(a.watchdog_ms),
        duration: a.seconds.map(ganglion::input::Seconds::duration),
        single_controller: a.single_controller && !a.allow_multiple_controllers,
    })
}
