//! The runtime benchmarks: `VecEnv` throughput at 1, 8 and 64 envs, and the
//! control loop's lateness at a rate (optionally with a CPU hog and on a
//! real-time thread).

use std::path::Path;
use std::time::Instant;

use anyhow::{Result, bail};
use serde_json::{Value, json};

use crate::sim::{Rng, VecEnv, make_env};

/// Env-steps per second of CartPole at 1, 8 and 64 envs.
pub fn vecenv(steps: usize, threads: usize) -> Value {
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

/// The loop at `rate` Hz for `seconds` on the config's sim plant: lateness,
/// compute and policy time, deadline misses, allocations.
pub fn control_loop(
    config: &Path,
    rate: f64,
    seconds: f64,
    load: bool,
    spin_us: Option<u64>,
    rt: bool,
) -> Result<Value> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let mut cfg = crate::config::load(config).map_err(|e| anyhow::anyhow!("{e}"))?;
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
