//! `ganglion bench latency`: batch-1 policy latency, tract (ganglion's
//! `OnnxPolicy::act`) against onnxruntime called in process through its C API
//! (`bench_ort`), both on one thread in the same process, timed the same way
//! and interleaved in blocks so that both see the same machine. onnxruntime
//! through Python's `session.run` is a second, separate row.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::ort::{OrtSession, find_library};
use crate::policy::{Policy, argmax};
use crate::runtime::stats::quantile_sorted;
use crate::sim::make_env;

/// Calls per interleaved block.
const BLOCK: usize = 1000;
const WARMUP: usize = 1000;

const TIMED: &str = "one batch-1 call per sample, Instant::now() around it: copy the 4 \
observation floats into the input tensor, run the network, argmax of the 2 logits; \
tract and in-process onnxruntime alternate in blocks of 1000 calls in one process";

pub fn latency(
    policy_path: &Path,
    iters: usize,
    python: Option<&Path>,
    ort_lib: Option<&Path>,
) -> Result<Value> {
    if iters == 0 {
        bail!("--iters must be > 0");
    }
    let mut policy = crate::learn::eval::load_env_policy("cartpole", policy_path)?;
    let env = make_env("cartpole")?;
    let obs_dim = env.spec().observation.flat_dim();
    let head = policy.action_spec().head_dim();
    let mut obs = vec![0.0f32; obs_dim];
    let mut action = [0.0f32];

    let ort = match find_library(ort_lib, python) {
        Some(lib) => match OrtSession::open(&lib, policy_path, obs_dim, head) {
            Ok(s) => Ok((s, lib)),
            Err(e) => Err(format!("{e:#}")),
        },
        None => Err(
            "libonnxruntime.so not found: run benches/python/setup_venv.sh (it pip-installs \
             onnxruntime into ~/.cache/ganglion-venv), or set GANGLION_ORT_LIB=/path/to/libonnxruntime.so.<version>"
                .to_string(),
        ),
    };
    let (mut ort, ort_skipped) = match ort {
        Ok(o) => (Some(o), None),
        Err(msg) => {
            eprintln!("onnxruntime in process: skipped: {msg}");
            (None, Some(msg))
        }
    };

    // Same numbers from both before timing anything.
    let mut max_diff = 0.0f32;
    if let Some((s, _)) = ort.as_mut() {
        for i in 0..100 {
            fill(&mut obs, i);
            let ours = policy.raw_output(&obs)?;
            s.f32_input(0)
                .context("onnxruntime input")?
                .copy_from_slice(&obs);
            let theirs = s.run()?;
            for (a, b) in ours.iter().zip(theirs) {
                max_diff = max_diff.max((a - b).abs());
            }
        }
        if max_diff > 1e-3 {
            bail!("onnxruntime and tract disagree on the policy's logits by {max_diff}");
        }
    }

    for i in 0..WARMUP {
        fill(&mut obs, i);
        policy.act(&obs, &mut action)?;
        if let Some((s, _)) = ort.as_mut() {
            s.f32_input(0)
                .context("onnxruntime input")?
                .copy_from_slice(&obs);
            argmax(s.run()?)?;
        }
    }
    let mut tract_us = Vec::with_capacity(iters);
    let mut ort_us = Vec::with_capacity(if ort.is_some() { iters } else { 0 });
    let mut done = 0;
    while done < iters {
        let n = BLOCK.min(iters - done);
        for i in done..done + n {
            fill(&mut obs, i);
            let t = Instant::now();
            policy.act(&obs, &mut action)?;
            tract_us.push(t.elapsed().as_nanos() as f64 / 1000.0);
        }
        if let Some((s, _)) = ort.as_mut() {
            for i in done..done + n {
                fill(&mut obs, i);
                let t = Instant::now();
                s.f32_input(0)
                    .context("onnxruntime input")?
                    .copy_from_slice(&obs);
                let a = argmax(s.run()?)?;
                ort_us.push(t.elapsed().as_nanos() as f64 / 1000.0);
                std::hint::black_box(a);
            }
        }
        done += n;
    }

    let mut tract = json!({
        "framework": "tract",
        "call": "in process (Rust), OnnxPolicy::act",
        "threads": 1,
    });
    add_stats(&mut tract, &mut tract_us);
    let in_process = match &ort {
        Some((s, lib)) => {
            let mut row = json!({
            "framework": "onnxruntime",
            "version": s.version,
            "library": lib.display().to_string(),
            "call": "in process (Rust), C API OrtApi::Run on pre-bound input and output tensors",
            "threads": {"intra_op": 1, "inter_op": 1, "execution_mode": "sequential"},
            "graph_optimization": "all",
            "max_abs_logit_diff_vs_tract": max_diff,
            });
            add_stats(&mut row, &mut ort_us);
            row
        }
        None => {
            json!({"skipped": ort_skipped})
        }
    };
    drop(ort);

    let python_row = match python {
        Some(py) => super::python_json(
            py,
            "benches/python/ort_latency.py",
            &[
                "--model".into(),
                policy_path.display().to_string(),
                "--obs-dim".into(),
                obs_dim.to_string(),
                "--iters".into(),
                iters.to_string(),
                "--json".into(),
            ],
        )
        .context("the Python onnxruntime row")?,
        None => {
            json!({"skipped": "no Python baseline environment (run benches/python/setup_venv.sh)"})
        }
    };
    let median = |v: &Value| v.get("median_us").and_then(Value::as_f64);
    let tract_median = median(&tract).unwrap_or(f64::NAN);
    Ok(json!({
        "bench": "latency",
        "policy": policy_path.display().to_string(),
        "batch": 1,
        "iters": iters,
        "timed": TIMED,
        "tract": tract,
        "onnxruntime": in_process,
        "onnxruntime_python": python_row,
        "median_ratio_tract_over_ort": median(&in_process).map(|b| tract_median / b),
        "median_ratio_tract_over_ort_python": median(&python_row).map(|b| tract_median / b),
    }))
}

/// The observation of call `i`: a slowly varying cart position.
fn fill(obs: &mut [f32], i: usize) {
    obs.fill(0.0);
    obs[0] = (i % 100) as f32 * 0.01;
}

/// Adds median, p99 and mean (µs, rounded to ns) to `row`.
fn add_stats(row: &mut Value, samples: &mut [f64]) {
    samples.sort_by(f64::total_cmp);
    let q = |p: f64| quantile_sorted(samples, p);
    let ns = |x: f64| (x * 1000.0).round() / 1000.0;
    row["median_us"] = json!(ns(q(0.5)));
    row["p99_us"] = json!(ns(q(0.99)));
    row["mean_us"] = json!(ns(samples.iter().sum::<f64>() / samples.len() as f64));
}
