//! `ganglion run`: parses the arguments, runs the robot a config describes
//! (`runtime::setup::execute`: the control loop on a dedicated thread, the
//! plant and policy the config names, the safety filter, an optional MCAP
//! recording) and prints the tick statistics.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};
use clap::Args;

use ganglion::assemble::{RunOptions, execute};
use ganglion::config::{self, RobotConfig};
use ganglion::runtime::{RunLimit, RunReport, Summary};

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Robot config (TOML), e.g. robots/cartpole.toml.
    #[arg(long)]
    pub config: PathBuf,
    /// Stop after this many ticks.
    #[arg(long, conflicts_with = "seconds")]
    pub ticks: Option<u64>,
    /// Stop after this many seconds of loop time (default 10).
    #[arg(long, value_parser = ganglion::input::parse_seconds)]
    pub seconds: Option<ganglion::input::Seconds>,
    /// Record every tick to this MCAP file (overrides the config's record.path).
    /// An existing file is never replaced unless it is an earlier recording
    /// and --overwrite is given.
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// Replace an earlier recording at the --record path.
    #[arg(long)]
    pub overwrite: bool,
    /// Run a policy file whose sha256 differs from its model card's
    /// (recorded in the recording's metadata).
    #[arg(long)]
    pub allow_unverified: bool,
    /// Simulated plants: run lockstep as fast as possible instead of real time.
    #[arg(long)]
    pub fast: bool,
    /// Override the plant's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Change one config field without copying the file, e.g.
    /// `--set safety.max[0]=5.0 --set plant.device=/dev/ttyUSB1`
    /// (repeatable; the value is TOML, a bare word a string; checked like
    /// the file, and recorded as the run's config).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Loads a config with `--set` overrides, with every problem in the error.
pub fn load_config(path: &Path, sets: &[String]) -> Result<RobotConfig> {
    config::load_with_overrides(path, config::Integrity::Verify, sets).map_err(|e| anyhow!("{e}"))
}

/// Loads a config whose policy file may differ from its model card: the
/// mismatch is printed as a warning and recorded.
pub fn load_config_unverified(path: &Path, sets: &[String]) -> Result<RobotConfig> {
    let cfg = config::load_with_overrides(path, config::Integrity::AllowUnverified, sets)
        .map_err(|e| anyhow!("{e}"))?;
    if let Err(e) = config::load_with_overrides(path, config::Integrity::Verify, sets) {
        eprintln!("warning: --allow-unverified: {e}");
    }
    Ok(cfg)
}

pub fn print_report(r: &RunReport) {
    println!(
        "{}: {} ticks at {} Hz ({}), {:.2} s loop time in {:.2} s wall",
        r.robot, r.ticks, r.rate_hz, r.clock, r.loop_time_s, r.wall_time_s
    );
    let row = |name: &str, s: &Summary| {
        println!(
            "  {name:<9} p50 {:>8.1} µs  p90 {:>8.1}  p99 {:>8.1}  p99.9 {:>8.1}  max {:>8.1}",
            s.p50_us, s.p90_us, s.p99_us, s.p999_us, s.max_us
        )
    };
    if let Some(l) = &r.lateness {
        row("lateness", l);
    }
    row("compute", &r.compute);
    row("policy", &r.policy);
    println!("  deadline misses {}", r.deadline_misses);
    if r.safety_events.is_empty() {
        println!("  safety    no events; final state {}", r.final_state);
    } else {
        let ev: Vec<String> = r
            .safety_events
            .iter()
            .map(|(k, v)| format!("{k} ×{v}"))
            .collect();
        println!(
            "  safety    {}; final state {}",
            ev.join(", "),
            r.final_state
        );
    }
    match r.left_envelope_at_s {
        None => println!("  plant     stayed in its operating envelope"),
        Some(t) => println!("  plant     LEFT its envelope at t = {t:.2} s"),
    }
    if r.allocations.counted {
        println!(
            "  allocs    {:.2}/tick in the loop's code, {:.2}/tick inside the policy engine \
             ({:.2}/tick served by its arena, {})",
            r.allocations.loop_per_tick,
            r.allocations.policy_per_tick,
            r.allocations.arena_per_tick,
            r.allocations.arena
        );
    }
    println!("  realtime  {}", r.realtime.summary());
    if let Some(rec) = &r.recording {
        println!(
            "  recording {} ({} ticks, {} messages, {} dropped)",
            rec.path.display(),
            rec.ticks,
            rec.messages,
            rec.dropped
        );
        if rec.frames + rec.frames_dropped > 0 {
            println!(
                "  frames    {} recorded ({:.1} MB), {} dropped",
                rec.frames,
                rec.frame_bytes as f64 / 1e6,
                rec.frames_dropped
            );
        }
    }
    for c in &r.cameras {
        println!(
            "  camera    {}: {} frames, {} missed, {} errors, {} refused by the source",
            c.name, c.frames, c.missed, c.errors, c.rejected
        );
    }
}

pub fn run(args: RunArgs) -> Result<()> {
    let cfg = if args.allow_unverified {
        load_config_unverified(&args.config, &args.set)?
    } else {
        load_config(&args.config, &args.set)?
    };
    let opts = RunOptions {
        limit: RunLimit {
            ticks: args.ticks,
            seconds: args.seconds.map(ganglion::input::Seconds::get),
            ..Default::default()
        },
        record: args.record.clone(),
        overwrite: args.overwrite,
        fast: args.fast,
        seed: args.seed,
    };
    let report = execute(cfg, &opts)?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_report(&report);
    }
    Ok(())
}
