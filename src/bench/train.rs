//! `ganglion bench train-cartpole`: time-to-solve CartPole, ganglion PPO
//! against Stable-Baselines3 PPO, over several seeds and thread budgets.
//!
//! Fairness rules (both sides):
//! - the same thread budget: ganglion steps its envs on `T` VecEnv workers
//!   (the update runs on the calling thread between rollouts, so at most `T`
//!   threads are busy at once); SB3 runs torch with `T` intra-op threads and
//!   its envs in process (DummyVecEnv);
//! - the same stop rule: after each update (every 256 env steps), once the
//!   env-step count reaches the next multiple of `eval_every`, the
//!   deterministic policy plays `eval_episodes` *fresh* episodes (each
//!   evaluation continues one seeded episode stream, as gymnasium's env does
//!   when seeded once); stop at mean return ≥ `threshold`;
//! - the same clock: from just before the model is built to the stop,
//!   rollouts, updates and evaluations included; env construction and the
//!   Python interpreter's start-up excluded.

use std::path::Path;

use anyhow::{Result, bail};
use serde_json::{Value, json};

use crate::learn::{PpoConfig, train};
use crate::runtime::stats::{quantile_sorted, sorted};
use crate::sim::{Env, EnvSpec, StepResult, VecEnv, derive_seed, make_env};

pub struct TrainBench<'a> {
    pub first_seed: u64,
    pub seeds: usize,
    pub threads: Vec<usize>,
    pub eval_every: usize,
    pub eval_episodes: usize,
    pub threshold: f64,
    pub max_steps: usize,
    pub python: Option<&'a Path>,
}

/// The evaluation env: ignores the per-episode seeds `evaluate` passes (the
/// same 20 every time) and draws episode `k` of one stream instead, so each
/// evaluation sees new initial states.
struct FreshEpisodes {
    inner: Box<dyn Env>,
    stream: u64,
    next: u64,
}

impl Env for FreshEpisodes {
    fn spec(&self) -> &EnvSpec {
        self.inner.spec()
    }
    fn reset(&mut self, _seed: u64, obs: &mut [f32]) {
        self.inner.reset(derive_seed(self.stream, self.next), obs);
        self.next += 1;
    }
    fn step(&mut self, action: &[f32], obs: &mut [f32]) -> StepResult {
        self.inner.step(action, obs)
    }
}

pub fn train_cartpole(b: &TrainBench<'_>) -> Result<Value> {
    if b.seeds == 0 || b.threads.is_empty() || b.threads.contains(&0) {
        bail!("--seeds and every --threads value must be > 0");
    }
    let seeds: Vec<u64> = (0..b.seeds as u64).map(|i| b.first_seed + i).collect();
    let mut budgets = Vec::new();
    for &t in &b.threads {
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        for &seed in &seeds {
            eprintln!("[{t} thread(s), seed {seed}] ganglion PPO on rapier CartPole ...");
            let g = ganglion_run(b, seed, t)?;
            eprintln!(
                "  solved {} after {} steps, {:.2} s",
                g["solved"], g["env_steps"], g["wall_s"]
            );
            ours.push(g);
            if let Some(py) = b.python {
                eprintln!("[{t} thread(s), seed {seed}] SB3 PPO on gymnasium CartPole-v1 ...");
                let s = sb3_run(b, py, seed, t)?;
                eprintln!(
                    "  solved {} after {} steps, {:.2} s",
                    s["solved"], s["env_steps"], s["wall_s"]
                );
                theirs.push(s);
            }
        }
        let g = summary(
            &ours,
            json!({"env_workers": t, "update": "the calling thread"}),
        );
        let s = if theirs.is_empty() {
            json!({"skipped": "no Python baseline environment (run benches/python/setup_venv.sh)"})
        } else {
            let threads = theirs[0]["threads"].clone();
            summary(&theirs, threads)
        };
        let ratio = match (
            g.pointer("/wall_s/median").and_then(Value::as_f64),
            s.pointer("/wall_s/median").and_then(Value::as_f64),
        ) {
            (Some(a), Some(b)) if b > 0.0 => Some(a / b),
            _ => None,
        };
        budgets.push(json!({
            "threads": t,
            "ganglion": g,
            "sb3": s,
            "median_time_ratio_ganglion_over_sb3": ratio,
        }));
    }
    Ok(json!({
        "bench": "train-cartpole",
        "seeds": seeds,
        "envs": {"ganglion": "rapier CartPole (ganglion-sim)", "sb3": "gymnasium CartPole-v1"},
        "hyperparameters": "RL-Zoo CartPole PPO: 8 envs x 32 steps, batch 256, 20 epochs, gamma 0.98, lambda 0.8, lr 1e-3 and clip 0.2 linear to 0 over max_steps, 64-64 tanh",
        "stop_rule": {
            "eval_every": b.eval_every,
            "eval_episodes": b.eval_episodes,
            "threshold": b.threshold,
            "max_steps": b.max_steps,
            "checked": "after each update, once the env-step count reaches the next multiple of eval_every",
            "eval_episodes_fresh": true,
        },
        "timed": "from just before the model is built to the stop: rollouts, updates and evaluations; env construction and interpreter start-up excluded",
        "budgets": budgets,
        "target_ratio": 0.2,
    }))
}

fn ganglion_run(b: &TrainBench<'_>, seed: u64, threads: usize) -> Result<Value> {
    let cfg = PpoConfig {
        total_timesteps: b.max_steps,
        eval_every: b.eval_every,
        eval_episodes: b.eval_episodes,
        stop_at: Some(b.threshold),
        threads,
        ..Default::default()
    };
    let mut venv = VecEnv::new(
        || make_env("cartpole").expect("registered"),
        cfg.n_envs,
        cfg.threads,
        seed,
    );
    let mut eval_env = FreshEpisodes {
        inner: make_env("cartpole")?,
        stream: derive_seed(seed, 0xE7A1),
        next: 0,
    };
    let outcome = train(&cfg, &mut venv, &mut eval_env, seed, |_| {});
    let evals: Vec<Value> = outcome
        .curve
        .points
        .iter()
        .filter_map(|p| {
            p.eval_mean_return
                .map(|r| json!({"steps": p.steps, "mean_return": r}))
        })
        .collect();
    Ok(json!({
        "seed": seed,
        "solved": outcome.solved,
        "env_steps": outcome.steps,
        "wall_s": (outcome.wall_s * 1000.0).round() / 1000.0,
        "evals": evals,
    }))
}

fn sb3_run(b: &TrainBench<'_>, python: &Path, seed: u64, threads: usize) -> Result<Value> {
    let arg = |s: &str, v: String| [s.to_string(), v];
    let args: Vec<String> = [
        arg("--seed", seed.to_string()),
        arg("--threads", threads.to_string()),
        arg("--eval-every", b.eval_every.to_string()),
        arg("--eval-episodes", b.eval_episodes.to_string()),
        arg("--threshold", b.threshold.to_string()),
        arg("--max-steps", b.max_steps.to_string()),
    ]
    .into_iter()
    .flatten()
    .chain(std::iter::once("--json".to_string()))
    .collect();
    super::python_json(python, "benches/python/sb3_cartpole.py", &args)
}

/// Median and range of wall time and steps over the runs (an unsolved run
/// counts with its full budget, so then the median is a lower bound).
fn summary(runs: &[Value], threads: Value) -> Value {
    let solved = runs.iter().filter(|r| r["solved"] == true).count();
    let col = |k: &str| -> Vec<f64> { runs.iter().filter_map(|r| r[k].as_f64()).collect() };
    let mut out = json!({
        "threads": threads,
        "solved": format!("{solved}/{}", runs.len()),
        "wall_s": spread(col("wall_s")),
        "env_steps": spread(col("env_steps")),
        "runs": runs,
    });
    if let Some(v) = runs.first().and_then(|r| r.get("versions")) {
        out["versions"] = v.clone();
    }
    out
}

fn spread(v: Vec<f64>) -> Value {
    if v.is_empty() {
        return Value::Null;
    }
    let v = sorted(v);
    json!({"median": quantile_sorted(&v, 0.5), "min": v[0], "max": v[v.len() - 1]})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_episodes_differ_between_evaluations() {
        let mut env = FreshEpisodes {
            inner: make_env("cartpole").unwrap(),
            stream: 7,
            next: 0,
        };
        let mut a = vec![0.0f32; 4];
        let mut b = vec![0.0f32; 4];
        env.reset(42, &mut a);
        env.reset(42, &mut b);
        assert_ne!(
            a, b,
            "the same seed passed twice must still give a new episode"
        );
    }

    #[test]
    fn spread_takes_the_middle() {
        let s = spread(vec![3.0, 1.0, 2.0, 10.0]);
        assert_eq!(s["median"], 2.5);
        assert_eq!(s["min"], 1.0);
        assert_eq!(s["max"], 10.0);
    }
}
