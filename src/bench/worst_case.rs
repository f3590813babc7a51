//! Worst cases, not medians: `ganglion bench worst-case` runs each policy
//! kind's loop for many ticks unpaced (lockstep, as fast as it goes) with
//! and without a CPU-hog thread, and reports the tick's compute time at
//! p50 / p99 / p99.9 / max and how many ticks would have missed the period.
//! Also the policy's time per call against its period, which `ganglion
//! check` prints as a warning when the policy is slower than the period.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::{Value, json};

use crate::config::RobotConfig;
use crate::runtime::stats::{Histogram, Summary};
use crate::runtime::{ClockMode, ControlLoop, RunLimit};

/// One policy kind on its robot.
struct Case {
    kind: &'static str,
    config: &'static str,
    overrides: &'static [&'static str],
    /// Runs of this kind take this share of `--ticks` (the DT is ~30× the
    /// MLP's cost per tick).
    share: f64,
}

const CASES: &[Case] = &[
    Case {
        kind: "mlp (CartPole)",
        config: "robots/cartpole.toml",
        overrides: &[],
        share: 1.0,
    },
    Case {
        kind: "mlp (reacher)",
        config: "robots/reacher.toml",
        overrides: &[],
        share: 1.0,
    },
    Case {
        kind: "decision-transformer (reacher)",
        config: "robots/reacher.toml",
        overrides: &[
            "policy.path=\"../models/reacher-dt.onnx\"",
            "policy.kind=\"decision-transformer\"",
            "policy.target_return=-6.0",
        ],
        share: 0.1,
    },
];

/// A busy thread that competes for the CPU until dropped.
struct Hog {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Hog {
    fn start() -> Hog {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut x = 0u64;
            while !s.load(Ordering::Relaxed) {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                std::hint::black_box(x);
            }
        });
        Hog {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Hog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn load(case: &Case) -> Result<RobotConfig> {
    let path = crate::repo_path(case.config);
    let overrides: Vec<String> = case.overrides.iter().map(|s| s.to_string()).collect();
    crate::config::load_with_overrides(&path, crate::config::Integrity::Verify, &overrides)
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// `ticks` unpaced ticks of `cfg`'s loop: the compute-time summary and the
/// ticks whose compute exceeded the period.
fn run_ticks(cfg: &RobotConfig, ticks: u64) -> Result<(Summary, u64, f64)> {
    let plant = crate::assemble::build_plant(&cfg.plant)?;
    let policy = crate::assemble::load_any_policy(cfg)?;
    let mut lp = ControlLoop::new(
        cfg,
        plant,
        policy,
        ClockMode::Lockstep { paced: false },
        None,
    )?;
    lp.run(RunLimit {
        ticks: Some(ticks),
        ..Default::default()
    });
    let period_us = cfg.period_s() * 1e6;
    let over = lp.stats.compute.count_above_us(period_us);
    Ok((lp.stats.compute.summary(), over, lp.allocations().1))
}

/// Every policy kind, with and without a CPU hog.
pub fn worst_case(ticks: u64) -> Result<Value> {
    let mut rows = Vec::new();
    for case in CASES {
        let cfg = load(case).with_context(|| case.kind)?;
        let n = ((ticks as f64 * case.share) as u64).max(1000);
        for hog in [false, true] {
            eprintln!(
                "{}: {n} ticks{} ...",
                case.kind,
                if hog { " with a CPU-hog thread" } else { "" }
            );
            let _hog = hog.then(Hog::start);
            let started = Instant::now();
            let (compute, over, engine_allocs) = run_ticks(&cfg, n)?;
            rows.push(json!({
                "policy": case.kind,
                "config": case.config,
                "cpu_hog": hog,
                "ticks": n,
                "rate_hz": cfg.rate_hz,
                "period_us": cfg.period_s() * 1e6,
                "compute_us": compute,
                "over_period": over,
                "engine_allocs_per_tick": engine_allocs,
                "seconds": started.elapsed().as_secs_f64(),
            }));
        }
    }
    Ok(json!({"bench": "worst-case", "ticks": ticks, "results": rows}))
}

pub fn print(v: &Value) {
    println!(
        "{:<32} {:>4} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>6}",
        "policy", "hog", "ticks", "p50 µs", "p99 µs", "p99.9 µs", "max µs", "period", "over"
    );
    let empty = Vec::new();
    for r in v["results"].as_array().unwrap_or(&empty) {
        let c = &r["compute_us"];
        let f = |k: &str| c[k].as_f64().unwrap_or(f64::NAN);
        println!(
            "{:<32} {:>4} {:>8} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.0} {:>6}",
            r["policy"].as_str().unwrap_or("?"),
            if r["cpu_hog"].as_bool() == Some(true) {
                "yes"
            } else {
                "no"
            },
            r["ticks"],
            f("p50_us"),
            f("p99_us"),
            f("p999_us"),
            f("max_us"),
            r["period_us"].as_f64().unwrap_or(f64::NAN),
            r["over_period"]
        );
    }
}

/// A policy's time per call, measured on zero observations after warm-up.
#[derive(Clone, Debug, Serialize)]
pub struct PolicyTiming {
    pub calls: usize,
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    pub period_us: f64,
}

impl PolicyTiming {
    /// Whether the policy's p99 fits in the period.
    pub fn within_budget(&self) -> bool {
        self.p99_us <= self.period_us
    }

    /// The warning `ganglion check` prints when it does not.
    pub fn warning(&self, rate_hz: f64) -> Option<String> {
        (!self.within_budget()).then(|| {
            format!(
                "warning: the policy takes {:.2} ms per call (p99 over {} calls; p50 {:.2}, \
                 max {:.2}), longer than the {:.2} ms period at {rate_hz} Hz: the loop will \
                 miss its deadlines",
                self.p99_us / 1e3,
                self.calls,
                self.p50_us / 1e3,
                self.max_us / 1e3,
                self.period_us / 1e3
            )
        })
    }
}

/// Times `calls` calls of `cfg`'s policy (after two warm-up calls).
pub fn policy_timing(cfg: &RobotConfig, calls: usize) -> Result<PolicyTiming> {
    let mut policy = crate::assemble::load_any_policy(cfg)?;
    let obs = vec![0.0f32; cfg.observation.fields.len()];
    let mut action = vec![0.0f32; cfg.action.mapping.dim()];
    policy.warm_up(&obs);
    let mut h = Histogram::new();
    for k in 0..calls + 2 {
        let t = Instant::now();
        // An error on zeros is the policy's own business; its time counts.
        let _ = policy.act(&obs, &mut action);
        if k >= 2 {
            h.record(t.elapsed().as_nanos() as u64);
        }
    }
    let s = h.summary();
    Ok(PolicyTiming {
        calls,
        p50_us: s.p50_us,
        p99_us: s.p99_us,
        max_us: s.max_us,
        period_us: cfg.period_s() * 1e6,
    })
}
