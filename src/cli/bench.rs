//! `ganglion bench`: speed measurements, each against a baseline measured in the
//! same run. Python baselines (Stable-Baselines3, onnxruntime) run from the
//! virtualenv made by `benches/python/setup_venv.sh`; without it they are
//! reported as skipped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::learn::{PpoConfig, train};
use crate::policy::Policy;
use crate::sim::{Rng, VecEnv, make_env};

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
    /// (gymnasium), RL-Zoo hyperparameters, same stop rule.
    TrainCartpole {
        #[arg(long, default_value_t = 1)]
        seed: u64,
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
    /// Batch-1 policy latency: tract (ganglion) vs onnxruntime (Python).
    Latency {
        #[arg(long, default_value = "models/cartpole-ppo.onnx")]
        policy: PathBuf,
        #[arg(long, default_value_t = 20_000)]
        iters: usize,
    },
}

pub fn run(args: BenchArgs) -> Result<()> {
    let python = find_python(args.python.as_deref());
    let result = match args.which {
        BenchKind::TrainCartpole {
            seed,
            eval_every,
            eval_episodes,
            threshold,
            max_steps,
            no_baseline,
        } => train_cartpole(
            seed,
            eval_every,
            eval_episodes,
            threshold,
            max_steps,
            if no_baseline { None } else { python.as_deref() },
        )?,
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
        BenchKind::Latency { policy, iters } => latency(
            &super::repo_path(&policy.to_string_lossy()),
            iters,
            python.as_deref(),
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

fn train_cartpole(
    seed: u64,
    eval_every: usize,
    eval_episodes: usize,
    threshold: f64,
    max_steps: usize,
    python: Option<&Path>,
) -> Result<Value> {
    let cfg = PpoConfig {
        total_timesteps: max_steps,
        eval_every,
        eval_episodes,
        stop_at: Some(threshold),
        threads: 2,
        ..Default::default()
    };
    eprintln!("ganglion PPO on rapier CartPole (seed {seed}) ...");
    let mut venv = VecEnv::new(
        || make_env("cartpole").expect("registered"),
        cfg.n_envs,
        cfg.threads,
        seed,
    );
    let mut eval_env = make_env("cartpole")?;
    let outcome = train(&cfg, &mut venv, eval_env.as_mut(), seed, |_| {});
    let ours = json!({
        "framework": "ganglion",
        "seed": seed,
        "solved": outcome.solved,
        "env_steps": outcome.steps,
        "wall_s": outcome.wall_s,
        "evals": outcome.curve.points.iter().filter_map(|p| p.eval_mean_return.map(|r| json!({"steps": p.steps, "mean_return": r}))).collect::<Vec<_>>(),
    });
    let baseline = match python {
        Some(py) => {
            eprintln!("Stable-Baselines3 PPO on gymnasium CartPole-v1 (seed {seed}) ...");
            python_json(
                py,
                "benches/python/sb3_cartpole.py",
                &[
                    "--seed".into(),
                    seed.to_string(),
                    "--eval-every".into(),
                    eval_every.to_string(),
                    "--eval-episodes".into(),
                    eval_episodes.to_string(),
                    "--threshold".into(),
                    threshold.to_string(),
                    "--max-steps".into(),
                    max_steps.to_string(),
                    "--json".into(),
                ],
            )?
        }
        None => {
            json!({"skipped": "no Python baseline environment (run benches/python/setup_venv.sh)"})
        }
    };
    let ratio = baseline
        .get("wall_s")
        .and_then(Value::as_f64)
        .map(|b| outcome.wall_s / b);
    Ok(json!({
        "bench": "train-cartpole",
        "stop_rule": {"eval_every": eval_every, "eval_episodes": eval_episodes, "threshold": threshold, "max_steps": max_steps},
        "ganglion": ours,
        "baseline": baseline,
        "time_ratio_ganglion_over_sb3": ratio,
        "target_ratio": 0.2,
    }))
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

fn latency(policy_path: &Path, iters: usize, python: Option<&Path>) -> Result<Value> {
    let mut policy = super::eval::load_policy("cartpole", policy_path)?;
    let mut env = make_env("cartpole")?;
    let mut obs = vec![0.0f32; 4];
    env.reset(0, &mut obs);
    let mut action = [0.0f32];
    for _ in 0..1000 {
        policy.act(&obs, &mut action)?;
    }
    let mut samples = Vec::with_capacity(iters);
    for i in 0..iters {
        obs[0] = (i % 100) as f32 * 0.01;
        let t = Instant::now();
        policy.act(&obs, &mut action)?;
        samples.push(t.elapsed().as_nanos() as f64 / 1000.0);
    }
    samples.sort_by(f64::total_cmp);
    let q = |p: f64| samples[((samples.len() - 1) as f64 * p) as usize];
    let ours = json!({
        "framework": "tract",
        "median_us": q(0.5),
        "p99_us": q(0.99),
        "mean_us": samples.iter().sum::<f64>() / samples.len() as f64,
        "iters": iters,
    });
    let baseline = match python {
        Some(py) => python_json(
            py,
            "benches/python/ort_latency.py",
            &[
                "--model".into(),
                policy_path.display().to_string(),
                "--obs-dim".into(),
                "4".into(),
                "--iters".into(),
                iters.to_string(),
                "--json".into(),
            ],
        )?,
        None => {
            json!({"skipped": "no Python baseline environment (run benches/python/setup_venv.sh)"})
        }
    };
    let ratio = baseline
        .get("median_us")
        .and_then(Value::as_f64)
        .map(|b| q(0.5) / b);
    Ok(json!({
        "bench": "latency",
        "policy": policy_path.display().to_string(),
        "tract": ours,
        "onnxruntime": baseline,
        "median_ratio_tract_over_ort": ratio,
    }))
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
    let opts = super::run::RunOptions {
        limit: crate::runtime::RunLimit {
            ticks: None,
            seconds: Some(seconds),
            ..Default::default()
        },
        record: None,
        fast: false,
        seed: None,
    };
    let report = super::run::execute(cfg, &opts);
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
