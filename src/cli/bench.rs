//! `ganglion bench`: speed measurements, each against a baseline measured in the
//! same run. Python baselines (Stable-Baselines3, onnxruntime, PyBullet) run from the
//! virtualenv made by `benches/python/setup_venv.sh`; without it they are
//! reported as skipped. `docs/benchmarks.md` has the numbers and the rules.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};

use ganglion::bench;

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
    /// Time-to-solve on CartPole: ganglion PPO, A2C and REINFORCE (rapier) vs
    /// Stable-Baselines3 PPO and A2C and a plain PyTorch REINFORCE (gymnasium),
    /// the same settings, stop rule (fresh evaluation episodes on both sides),
    /// thread budget and final 100-episode score, over several seeds.
    TrainCartpole {
        /// Algorithms, comma-separated: ppo, a2c, reinforce (REINFORCE runs at
        /// one thread only: one env, one thread on both sides).
        #[arg(long, value_delimiter = ',', default_value = "ppo")]
        algo: Vec<bench::train::Algo>,
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
        /// Step budget per run (default: PPO 200000, A2C and REINFORCE 500000).
        #[arg(long)]
        max_steps: Option<usize>,
        /// Skip the Python baselines.
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
    /// Worst-case tick compute per policy kind (MLP, Decision Transformer):
    /// p50 / p99 / p99.9 / max over many unpaced ticks, with and without a
    /// CPU-hog thread, and the ticks that overran the period.
    WorstCase {
        /// Ticks per run for the MLPs (the DT runs a tenth of them: its
        /// ticks cost ~30× more).
        #[arg(long, default_value_t = 1_000_000)]
        ticks: u64,
    },
    /// Decision Transformer: tract step latency at K = 20 (E = 128, 3 layers)
    /// vs onnxruntime on the same file, and training throughput in tokens/s vs
    /// PyTorch (same architecture and batch).
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
        /// Timed policy steps on each engine.
        #[arg(long, default_value_t = 2000)]
        iters: usize,
        /// libonnxruntime.so for the onnxruntime comparison (default:
        /// $GANGLION_ORT_LIB, else the Python venv's onnxruntime wheel).
        #[arg(long)]
        ort_lib: Option<PathBuf>,
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
    /// Camera frames per second at 128×128 RGB-D on the tabletop, one thread:
    /// ganglion's CPU rasterizer vs PyBullet's TinyRenderer drawing the same
    /// primitives from the same camera pose.
    Render {
        /// Timed frames per side (median and p95 ms/frame are reported).
        #[arg(long, default_value_t = 500)]
        frames: usize,
        /// Untimed frames first (default: min(50, frames)).
        #[arg(long)]
        warmup: Option<usize>,
        /// Skip the PyBullet baseline.
        #[arg(long)]
        no_baseline: bool,
        /// Write ganglion.png and pybullet.png (the first frame, RGB | depth)
        /// into this directory.
        #[arg(long)]
        png: Option<PathBuf>,
    },
    /// Dynamixel bus cycles per second (Sync Write of the goals + Sync Read
    /// of present load, velocity and position) against the bus emulator on
    /// a pty, beside the 100 Hz control rate; wire time at --baud beside it.
    Servo {
        #[arg(long, default_value_t = 10_000)]
        cycles: usize,
        #[arg(long, default_value_t = 6)]
        servos: u8,
        #[arg(long, default_value_t = 1_000_000)]
        baud: u32,
    },
    /// VLA chunk predictions per second in tract on one thread (goal ≥ 20),
    /// beside the perception network alone on the same rendered frames.
    Vla {
        /// The VLA model.
        #[arg(long, default_value = "models/vla.onnx")]
        model: PathBuf,
        /// Timed predictions (median and p95 ms are reported).
        #[arg(long, default_value_t = 200)]
        frames: usize,
        #[arg(long, default_value_t = 20)]
        warmup: usize,
    },
}

pub fn run(args: BenchArgs) -> Result<()> {
    let python = bench::find_python(args.python.as_deref());
    let result = match args.which {
        kind @ BenchKind::TrainCartpole { .. } => train_cartpole(kind, python.as_deref())?,
        kind @ (BenchKind::Vecenv { .. }
        | BenchKind::Loop { .. }
        | BenchKind::Hil { .. }
        | BenchKind::Zenoh { .. }) => {
            let hil = matches!(kind, BenchKind::Hil { .. });
            let v = runtime_bench(kind)?;
            if hil && !args.json {
                bench::hil::print(&v);
                return Ok(());
            }
            v
        }
        BenchKind::Dt {
            context,
            embed,
            layers,
            batch,
            steps,
            iters,
            ort_lib,
        } => bench::dt::run(&bench::dt::DtBench {
            context,
            embed,
            layers,
            batch,
            steps,
            iters,
            python: python.as_deref(),
            ort_lib: ort_lib.as_deref(),
        })?,
        BenchKind::Render {
            frames,
            warmup,
            no_baseline,
            png,
        } => {
            let v = bench::render::render_bench(&bench::render::RenderBench {
                frames,
                warmup: warmup.unwrap_or(frames.min(50)),
                python: python.as_deref(),
                no_baseline,
                png_dir: png.as_deref(),
            })?;
            if !args.json {
                bench::render::print(&v);
                return Ok(());
            }
            v
        }
        BenchKind::WorstCase { ticks } => {
            let v = bench::worst_case::worst_case(ticks)?;
            if !args.json {
                bench::worst_case::print(&v);
                return Ok(());
            }
            v
        }
        BenchKind::Vla {
            model,
            frames,
            warmup,
        } => {
            let v =
                bench::vla::vla_bench(&super::repo_path(&model.to_string_lossy()), frames, warmup)?;
            if !args.json {
                bench::vla::print(&v);
                return Ok(());
            }
            v
        }
        BenchKind::Servo {
            cycles,
            servos,
            baud,
        } => {
            let v = bench::servo::servo_bench(cycles, servos, baud)?;
            if !args.json {
                bench::servo::print(&v);
                return Ok(());
            }
            v
        }
        BenchKind::Latency {
            policy,
            iters,
            ort_lib,
        } => bench::latency::latency(
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

/// The runtime benches: the VecEnv, the control loop, HIL and zenoh.
fn runtime_bench(kind: BenchKind) -> Result<serde_json::Value> {
    Ok(match kind {
        BenchKind::Vecenv { steps, threads } => bench::control_loop::vecenv(steps, threads),
        BenchKind::Loop {
            rate,
            seconds,
            load,
            config,
            spin_us,
            rt,
        } => bench::control_loop::control_loop(
            &super::repo_path(&config.to_string_lossy()),
            rate,
            seconds,
            load,
            spin_us,
            rt,
        )?,
        BenchKind::Hil {
            episodes,
            seed,
            exchanges,
            no_qemu,
            firmware,
        } => bench::hil::hil(episodes, seed, exchanges, !no_qemu, firmware)?,
        BenchKind::Zenoh { exchanges, seconds } => bench::zenoh::zenoh_bench(exchanges, seconds)?,
        _ => anyhow::bail!("not a runtime benchmark"),
    })
}

/// Time-to-solve CartPole against Stable-Baselines3.
fn train_cartpole(kind: BenchKind, python: Option<&std::path::Path>) -> Result<serde_json::Value> {
    let BenchKind::TrainCartpole {
        algo,
        seed,
        seeds,
        threads,
        eval_every,
        eval_episodes,
        threshold,
        max_steps,
        no_baseline,
    } = kind
    else {
        anyhow::bail!("not the train-cartpole benchmark")
    };
    bench::train::train_cartpole(&bench::train::TrainBench {
        algos: algo,
        first_seed: seed,
        seeds,
        threads,
        eval_every,
        eval_episodes,
        threshold,
        max_steps,
        python: if no_baseline { None } else { python },
    })
}
