//! `ganglion node`: a joint node for hardware-in-the-loop, serving a
//! simulated plant over the wire protocol on UDP (`--link udp:HOST:PORT`)
//! or a serial line (`--link serial:DEVICE[@BAUD]`, or `serial:pty` for a
//! new pseudo-terminal whose path it prints). The node logic runs on the
//! host, or the real firmware image runs in qemu-system-arm (`--qemu`) with
//! the plant here across its emulated UART. Link faults can be injected for
//! drills (`--fault`). The node answers one controller: `--controller
//! ADDR`, or the first to send a valid frame.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};

use ganglion::io::NodeSummary;
use ganglion::io::qemu::{BUILD_COMMAND, QEMU, default_firmware};
use ganglion::io::{
    FaultKind, FaultPlan, LinkEndpoint, NodeBackendKind, NodeBinding, NodeClock, NodeLink,
    NodeOptions, serve_bound,
};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ClockArg {
    /// Node time advances only on the controller's SimStep (deterministic).
    Lockstep,
    /// The node ticks at 1 kHz of wall time.
    Realtime,
}

#[derive(Args, Debug)]
pub struct NodeArgs {
    /// Where to listen: udp:HOST:PORT, serial:DEVICE[@BAUD] (default
    /// 1000000 baud), or serial:pty (a new pseudo-terminal; its path is
    /// printed for the controller's `device`).
    #[arg(long, default_value = "udp:127.0.0.1:9000")]
    pub link: String,
    /// Answer only the controller at this address (HOST:PORT, or
    /// udp:HOST:PORT); datagrams from anywhere else are dropped unread.
    /// Default: the first address that sends a valid frame, until it says
    /// Bye or goes silent for --release-after-ms.
    #[arg(long)]
    pub controller: Option<String>,
    /// Without --controller: release a controller silent this long (ms of
    /// wall time), so another may bind.
    #[arg(long, default_value_t = 1000)]
    pub release_after_ms: u64,
    /// The plant the node drives (a sim plant with a joint layout).
    #[arg(long, default_value = "sim:cartpole")]
    pub plant: String,
    /// Run the firmware image in qemu-system-arm instead of the node logic on the host.
    #[arg(long)]
    pub qemu: bool,
    /// The firmware image for --qemu (default: the cargo target dir's
    /// thumbv7m-none-eabi/release/ganglion-firmware).
    #[arg(long)]
    pub firmware: Option<PathBuf>,
    /// The emulator for --qemu.
    #[arg(long, default_value = QEMU)]
    pub qemu_bin: String,
    #[arg(long, value_enum, default_value_t = ClockArg::Lockstep)]
    pub clock: ClockArg,
    /// Seed of the plant's first state (each SimReset brings its own).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Lockstep episode length in control steps (0: unlimited; CartPole-v1: 500).
    #[arg(long, default_value_t = 500)]
    pub max_steps: u32,
    /// Inject a link fault: drop | corrupt | delay | reorder | restart.
    #[arg(long)]
    pub fault: Option<String>,
    /// Node time (ms) the fault window opens (restart: when the node reboots).
    #[arg(long, default_value_t = 2000)]
    pub fault_at_ms: u64,
    /// How long the fault window stays open (ms).
    #[arg(long, default_value_t = 500)]
    pub fault_for_ms: u64,
    /// Probability that a frame in the window is affected.
    #[arg(long, default_value_t = 1.0)]
    pub fault_rate: f64,
    /// --fault delay: how late frames arrive (ms).
    #[arg(long, default_value_t = 200)]
    pub fault_delay_ms: u64,
    #[arg(long, default_value_t = 1)]
    pub fault_seed: u64,
    /// Stop after this many seconds (default: until Ctrl-C).
    #[arg(long, value_parser = ganglion::input::parse_seconds)]
    pub seconds: Option<ganglion::input::Seconds>,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub fn node_options(args: &NodeArgs) -> Result<NodeOptions> {
    let link = NodeLink::parse(&args.link).map_err(|e| anyhow::anyhow!("--link: {e:#}"))?;
    let backend = if args.qemu {
        let firmware = match args.firmware.clone().or_else(default_firmware) {
            Some(f) => f,
            None => {
                bail!("no firmware image found; build it with `{BUILD_COMMAND}` or pass --firmware")
            }
        };
        NodeBackendKind::Qemu {
            qemu: args.qemu_bin.clone(),
            firmware,
        }
    } else {
        NodeBackendKind::Host
    };
    let fault = match &args.fault {
        None => None,
        Some(k) => {
            let kind: FaultKind = k.parse().map_err(anyhow::Error::msg)?;
            if !(0.0..=1.0).contains(&args.fault_rate) {
                bail!("--fault-rate must be in 0..=1, got {}", args.fault_rate);
            }
            Some(FaultPlan {
                kind,
                at_us: args.fault_at_ms * 1000,
                for_us: args.fault_for_ms * 1000,
                rate: args.fault_rate,
                delay_us: args.fault_delay_ms * 1000,
                seed: args.fault_seed,
            })
        }
    };
    Ok(NodeOptions {
        link,
        plant: args.plant.clone(),
        seed: args.seed,
        clock: match args.clock {
            ClockArg::Lockstep => NodeClock::Lockstep,
            ClockArg::Realtime => NodeClock::Realtime,
        },
        backend,
        max_steps: args.max_steps,
        fault,
    })
}

/// Which controller the node answers.
pub fn node_binding(args: &NodeArgs) -> Result<NodeBinding> {
    let controller = match &args.controller {
        None => None,
        Some(c) => {
            let text = c.strip_prefix("udp:").unwrap_or(c);
            Some(
                ganglion::io::link::addr(text)
                    .map_err(|e| anyhow::anyhow!("--controller: {e:#}"))?,
            )
        }
    };
    if args.release_after_ms == 0 {
        bail!("--release-after-ms must be > 0");
    }
    Ok(NodeBinding {
        controller,
        release_after: Duration::from_millis(args.release_after_ms),
    })
}

pub fn run(args: NodeArgs) -> Result<()> {
    let opts = node_options(&args)?;
    let binding = node_binding(&args)?;
    ganglion::signals::install();
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = crossbeam::channel::bounded(1);
    let watcher = spawn_watcher(
        stop.clone(),
        rx,
        binding.controller.map(|c| format!("udp:{c}")),
        args.seconds.map(ganglion::input::Seconds::duration),
    );
    let result = serve_bound(&opts, &binding, stop.clone(), Some(tx));
    stop.store(true, Ordering::Release);
    let _ = watcher.join();
    let summary = result?;
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        print_summary(&summary);
    }
    Ok(())
}

/// Announces the bound address once the node is listening, and sets `stop`
/// on a signal or when `limit` has passed.
fn spawn_watcher(
    stop: Arc<AtomicBool>,
    rx: crossbeam::channel::Receiver<LinkEndpoint>,
    binding_text: Option<String>,
    limit: Option<Duration>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let started = std::time::Instant::now();
        let mut announced = false;
        while !stop.load(Ordering::Acquire) {
            if !announced && let Ok(endpoint) = rx.try_recv() {
                match (&binding_text, &endpoint) {
                    (_, LinkEndpoint::Serial { device, .. }) => eprintln!(
                        "node listening on {endpoint}; a controller opens {} \
                         (plant.device)",
                        device.display()
                    ),
                    (Some(c), _) => eprintln!("node listening on {endpoint}, answering only {c}"),
                    (None, _) => eprintln!(
                        "node listening on {endpoint}, answering the first controller \
                         to send a valid frame"
                    ),
                }
                announced = true;
            }
            if ganglion::signals::stop_requested() || limit.is_some_and(|l| started.elapsed() >= l)
            {
                stop.store(true, Ordering::Release);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    })
}

fn print_summary(summary: &NodeSummary) {
    println!(
        "node: {} ticks, {} steps, {} episodes, {} commands in, {} states out; link faults {:?}",
        summary.ticks,
        summary.steps,
        summary.episodes,
        summary.commands_delivered,
        summary.states_sent,
        summary.link
    );
    for f in &summary.faults {
        println!(
            "  fault {:<12} at {:>10.3} s (detail {})",
            f.name,
            f.time_us as f64 * 1e-6,
            f.detail
        );
    }
    for r in &summary.restarts {
        println!("  restart at {:.3} s", *r as f64 * 1e-6);
    }
    let p = &summary.peer;
    println!(
        "  controller {} ({} bound, {} bye, {} released silent); ignored: {} foreign, \
         {} undecodable datagrams, {} refused frames, {} refused steps",
        p.controller.as_deref().unwrap_or("-"),
        p.bindings,
        p.byes,
        p.released_silent,
        p.foreign_datagrams,
        p.undecodable,
        p.refused_frames,
        p.refused_steps
    );
}
