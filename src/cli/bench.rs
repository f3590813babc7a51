//! `ganglion bench`: speed measurements, each against a baseline measured in the
//! same run. Python baselines (Stable-Baselines3, onnxruntime) run from the
//! virtualenv made by `benches/python/setup_venv.sh`; without it they are
//! reported as skipped. `docs/benchmarks.md` has the numbers and the rules.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::sim::{Rng, VecEnv, make_env};

// Kept beside this file as `bench_*.rs`.
#[path = "bench_latency.rs"]
mod latency;
#[path = "bench_ort.rs"]
mod ort;
#[path = "bench_train.rs"]
mod train;

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub which: BenchKind,
    /// Python interpreter with the baseline packages (default: $GANGLION_PYTHON,
    /// else ~/.cache/ganglion-venv/bin/python).
    #[arg(long, global = true)]
    pub python: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum BenchKind {
    /// Time-to-solve on CartPole: ganglion PPO (rapier) vs Stable-Baselines3 PPO
    /// (gymnasium), RL-Zoo hyperparameters, the same stop rule (fresh
    /// evaluation episodes on both sides) and thread budget, over several seeds.
    TrainCartpole {
        /// The first seed; runs use seeds seed, seed+1, ….
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// How many seeds (median and range are reported).
        #[arg(long, default_value_t = 5)]
        seeds: usize,
        /// Thread budgets, each run on both sides: ganglion VecEnv workers,
        /// SB3 torch intra-op threads.
        #[arg(long, value_delimiter = ',', default_value = "1,2")]
        threads: Vec<usize>,
        #[arg(long, default_value_t = 8192)]
        eval_every: usize,
        #[arg(long, default_value_t = 20)]
        eval_episodes: usize,
        #[arg(long, default_value_t = 475.0)]
        threshold: f64,
        #[arg(long, default_value_t = 200_000)]
        max_steps: usize,
        /// Skip the Stable-Baselines3 baseline.
        #[arg(long)]
        no_baseline: bool,
    },
    /// VecEnv throughput on rapier CartPole for N = 1, 8, 64.
    Vecenv {
        /// Env steps per measurement.
        #[arg(long, default_value_t = 200_000)]
        steps: usize,
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
    /// Control-loop timing in wall-clock mode: the CartPole policy on the sim
    /// plant paced to real time; lateness, misses and policy time per tick.
    Loop {
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Run a CPU-hog thread (a busy loop) alongside.
        #[arg(long)]
        load: bool,
        #[arg(long, default_value = "robots/cartpole.toml")]
        config: PathBuf,
        /// Busy-wait this long before each deadline (default: the config's).
        #[arg(long)]
        spin_us: Option<u64>,
        /// Apply the real-time setup (SCHED_FIFO, affinity, mlockall) where permitted.
        #[arg(long)]
        rt: bool,
    },
    /// Decision Transformer: tract step latency at K = 20 (E = 128, 3 layers)
    /// and training throughput in tokens/s vs PyTorch (same architecture and batch).
    Dt {
        #[arg(long, default_value_t = 20)]
        context: usize,
        #[arg(long, default_value_t = 128)]
        embed: usize,
        #[arg(long, default_value_t = 3)]
        layers: usize,
        #[arg(long, default_value_t = 64)]
        batch: usize,
        /// Timed training steps.
        #[arg(long, default_value_t = 30)]
        steps: usize,
        #[arg(long, default_value_t = 500)]
        iters: usize,
    },
    /// Hardware-in-the-loop CartPole: mean return over UDP and qemu vs pure
    /// sim, and the JointCommand → JointState round trip (median, p99).
    Hil {
        #[arg(long, default_value_t = 20)]
        episodes: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long, default_value_t = 2000)]
        exchanges: usize,
        /// Skip the qemu firmware node.
        #[arg(long)]
        no_qemu: bool,
        /// The firmware image (default: the cargo target dir's).
        #[arg(long)]
        firmware: Option<PathBuf>,
    },
    /// zenoh on loopback: command → state round trip (median, p99) against
    /// plain TCP, and the sensor stream at 1 kHz.
    Zenoh {
        #[arg(long, default_value_t = 5000)]
        exchanges: usize,
        /// Seconds of the 1 kHz sensor stream.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
    },
    /// Batch-1 policy latency, one thread: tract (ganglion) vs onnxruntime in
    /// process through its C API (the pip wheel's libonnxruntime.so, loaded at
    /// run time), and onnxruntime from Python as a second row.
    Latency {
        #[arg(long, default_value = "models/cartpole-ppo.onnx")]
        policy: PathBuf,
        #[arg(long, default_value_t = 20_000)]
        iters: usize,
        /// libonnxruntime.so (default: $GANGLION_ORT_LIB, else the one in the
        /// benchmark Python's onnxruntime package).
        #[arg(long)]
        ort_lib: Option<PathBuf>,
    },
}

pub fn run(args: BenchArgs) -> Result<()> {
    let python = find_python(args.python.as_deref());
    let result = match args.which {
        BenchKind::TrainCartpole {
            seed,
            seeds,
            threads,
            eval_every,
            eval_episodes,
            threshold,
            max_steps,
            no_baseline,
        } => train::train_cartpole(&train::TrainBench {
            first_seed: seed,
            seeds,
            threads,
            eval_every,
            eval_episodes,
            threshold,
            max_steps,
            python: if no_baseline { None } else { python.as_deref() },
        })?,
        BenchKind::Vecenv { steps, threads } => vecenv(steps, threads),
        BenchKind::Loop {
            rate,
            seconds,
            load,
            config,
            spin_us,
            rt,
        } => control_loop(
            &super::repo_path(&config.to_string_lossy()),
            rate,
            seconds,
            load,
            spin_us,
            rt,
        )?,
        BenchKind::Dt {
            context,
            embed,
            layers,
            batch,
            steps,
            iters,
        } => super::bench_dt::run(
            context,
            embed,
            layers,
            batch,
            steps,
            iters,
            python.as_deref(),
        )?,
        BenchKind::Hil {
            episodes,
            seed,
            exchanges,
            no_qemu,
            firmware,
        } => {
            let v = super::bench_hil::hil(episodes, seed, exchanges, !no_qemu, firmware)?;
            if !args.json {
                super::bench_hil::print(&v);
                return Ok(());
            }
            v
        }
        BenchKind::Zenoh { exchanges, seconds } => {
            super::bench_zenoh::zenoh_bench(exchanges, seconds)?
        }
        BenchKind::Latency {
            policy,
            iters,
            ort_lib,
        } => latency::latency(
            &super::repo_path(&policy.to_string_lossy()),
            iters,
            python.as_deref(),
            ort_lib.as_deref(),
        )?,
    };
    if args.json {
        println!("{}", serde_json::to_string(&result)?);
    } else {
        println!("{}", serde_json::to_string_pretty(&result)?);
    }
    Ok(())
}

fn find_python(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    if let Ok(p) = std::env::var("GANGLION_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let home = std::env::var("HOME").ok()?;
    let p = Path::new(&home).join(".cache/ganglion-venv/bin/python");
    p.exists().then_some(p)
}

pub(crate) fn python_json(python: &Path, script: &str, args: &[String]) -> Result<Value> {
    let script = super::repo_path(script);
    let out = Command::new(python)
        .arg(&script)
        .args(args)
        .output()
        .with_context(|| format!("running {} {}", python.display(), script.display()))?;
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .with_context(|| format!("{} printed no JSON", script.display()))?;
    serde_json::from_str(line).with_context(|| format!("parsing {} output", script.display()))
}

fn vecenv(steps: usize, threads: usize) -> Value {
    let mut rows = Vec::new();
    for n in [1usize, 8, 64] {
        let t = if n == 1 { 1 } else { threads };
        let mut v = VecEnv::new(|| make_env("cartpole").expect("registered"), n, t, 0);
        v.reset();
        let mut rng = Rng::new(1);
        let mut actions = vec![0.0f32; n];
        let iters = (steps / n).max(1);
        let start = Instant::now();
        for _ in 0..iters {
            for a in actions.iter_mut() {
                *a = (rng.next_u64() & 1) as f32;
            }
            v.step(&actions);
        }
        let secs = start.elapsed().as_secs_f64();
        let sps = (iters * n) as f64 / secs;
        eprintln!("N = {n:>2} ({t} thread(s)): {sps:>10.0} env-steps/s");
        rows.push(json!({"n_envs": n, "threads": t, "env_steps": iters * n, "seconds": secs, "steps_per_s": sps}));
    }
    json!({"bench": "vecenv", "env": "cartpole", "results": rows, "target_steps_per_s_at_64": 100000})
}

fn control_loop(
    config: &Path,
    rate: f64,
    seconds: f64,
    load: bool,
    spin_us: Option<u64>,
    rt: bool,
) -> Result<Value> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let mut cfg = super::run::load_config(config)?;
    if !(rate > 0.0 && rate <= 10_000.0) {
        bail!("--rate must be in (0, 10000] Hz");
    }
    cfg.rate_hz = rate;
    cfg.record.path = None;
    if let Some(s) = spin_us {
        cfg.clock.spin_us = s;
    }
    if rt {
        cfg.realtime.enabled = true;
        // The hog (if any) runs wherever the scheduler puts it; the loop gets CPU 1.
        cfg.realtime.cpu.get_or_insert(1);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let hog = load.then(|| {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut x = 0u64;
            while !stop.load(Ordering::Relaxed) {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                std::hint::black_box(x);
            }
        })
    });
    eprintln!(
        "control loop at {rate} Hz for {seconds} s, sim plant paced to wall time{} ...",
        if load { ", with a CPU-hog thread" } else { "" }
    );
    let opts = crate::assemble::RunOptions {
        limit: crate::runtime::RunLimit {
            ticks: None,
            seconds: Some(seconds),
            ..Default::default()
        },
        record: None,
        overwrite: false,
        fast: false,
        seed: None,
    };
    let report = crate::assemble::execute(cfg, &opts);
    stop.store(true, Ordering::Relaxed);
    if let Some(h) = hog {
        let _ = h.join();
    }
    let report = report?;
    Ok(json!({
        "bench": "loop",
        "rate_hz": rate,
        "seconds": seconds,
        "cpu_hog": load,
        "spin_us": spin_us,
        "ticks": report.ticks,
        "lateness_us": report.lateness,
        "compute_us": report.compute,
        "policy_us": report.policy,
        "deadline_misses": report.deadline_misses,
        "allocations": report.allocations,
        "realtime": report.realtime,
        "target_p99_lateness_us": 100,
    }))
}
