//! `ganglion bench train-cartpole`: time-to-solve CartPole, ganglion's PPO,
//! A2C and REINFORCE against Python baselines (Stable-Baselines3 PPO and
//! A2C; a plain PyTorch REINFORCE, which SB3 lacks), over several seeds and
//! thread budgets.
//!
//! Fairness rules (both sides):
//! - the same algorithm settings: RL-Zoo's CartPole PPO and A2C entries,
//!   REINFORCE as `learn::ReinforceConfig::default()` (the Python script
//!   restates them), the same 64-64 tanh network;
//! - the same thread budget: ganglion steps its envs on `T` VecEnv workers
//!   (the update runs on the calling thread between rollouts, so at most `T`
//!   threads are busy at once); SB3 runs torch with `T` intra-op threads and
//!   its envs in process (DummyVecEnv). REINFORCE plays one env on one
//!   thread on both sides, so it runs at T = 1 only;
//! - the same stop rule: after each update, once the env-step count reaches
//!   the next multiple of `eval_every`, the deterministic policy plays
//!   `eval_episodes` *fresh* episodes (each evaluation continues one seeded
//!   episode stream, as gymnasium's env does when seeded once); stop at mean
//!   return ≥ `threshold`;
//! - the same clock: from just before the model is built to the stop,
//!   rollouts, updates and evaluations included; env construction and the
//!   Python interpreter's start-up excluded;
//! - the same score: the best-evaluated policy (the solving one when solved)
//!   plays `FINAL_EPISODES` more episodes after the clock stops.

use std::path::Path;

use anyhow::{Result, bail};
use serde_json::{Value, json};

use crate::learn::{
    NativeActor, PpoConfig, PpoOutcome, ReinforceConfig, evaluate, train, train_reinforce,
};
use crate::runtime::stats::{quantile_sorted, sorted};
use crate::sim::{Env, EnvSpec, StepResult, VecEnv, derive_seed, make_env};

/// Episodes of the final score (the textbook "100 consecutive episodes").
pub const FINAL_EPISODES: usize = 100;

/// The algorithms compared, each with its Python counterpart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algo {
    Ppo,
    A2c,
    Reinforce,
}

impl std::str::FromStr for Algo {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ppo" => Ok(Algo::Ppo),
            "a2c" => Ok(Algo::A2c),
            "reinforce" => Ok(Algo::Reinforce),
            other => Err(format!(
                "unknown algorithm `{other}` (available: ppo, a2c, reinforce)"
            )),
        }
    }
}

impl Algo {
    pub fn name(self) -> &'static str {
        match self {
            Algo::Ppo => "ppo",
            Algo::A2c => "a2c",
            Algo::Reinforce => "reinforce",
        }
    }

    /// The step budget when `--max-steps` is not given: PPO solves well
    /// inside 200k; A2C's RL-Zoo budget and REINFORCE's default are 500k.
    pub fn default_max_steps(self) -> usize {
        match self {
            Algo::Ppo => 200_000,
            Algo::A2c | Algo::Reinforce => 500_000,
        }
    }

    fn baseline(self) -> (&'static str, &'static str) {
        match self {
            Algo::Ppo => ("SB3 PPO", "benches/python/sb3_cartpole.py"),
            Algo::A2c => ("SB3 A2C", "benches/python/sb3_cartpole.py"),
            Algo::Reinforce => ("PyTorch REINFORCE", "benches/python/reinforce_cartpole.py"),
        }
    }

    fn settings(self) -> &'static str {
        match self {
            Algo::Ppo => {
                "RL-Zoo CartPole PPO: 8 envs x 32 steps, batch 256, 20 epochs, gamma 0.98, lambda 0.8, lr 1e-3 and clip 0.2 linear to 0 over max_steps, 64-64 tanh"
            }
            Algo::A2c => {
                "RL-Zoo CartPole A2C on SB3 defaults: 8 envs x 5 steps, gamma 0.99, lambda 1, lr 7e-4, RMSprop, vf 0.5, grad-norm 0.5, no entropy bonus, 64-64 tanh"
            }
            Algo::Reinforce => {
                "REINFORCE: one episode per update, gamma 0.99, returns standardised, no baseline, Adam 1e-3, 64-64 tanh"
            }
        }
    }
}

pub struct TrainBench<'a> {
    pub algos: Vec<Algo>,
    pub first_seed: u64,
    pub seeds: usize,
    pub threads: Vec<usize>,
    pub eval_every: usize,
    pub eval_episodes: usize,
    pub threshold: f64,
    /// The step budget; `None`: each algorithm's default.
    pub max_steps: Option<usize>,
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
    if b.seeds == 0 || b.threads.is_empty() || b.threads.contains(&0) || b.algos.is_empty() {
        bail!("--algo, --seeds and every --threads value must be given and > 0");
    }
    let seeds: Vec<u64> = (0..b.seeds as u64).map(|i| b.first_seed + i).collect();
    let mut algos = Vec::new();
    for &algo in &b.algos {
        let max_steps = b.max_steps.unwrap_or(algo.default_max_steps());
        let (baseline, _) = algo.baseline();
        let mut budgets = Vec::new();
        for &t in &b.threads {
            if algo == Algo::Reinforce && t > 1 {
                continue;
            }
            let mut ours = Vec::new();
            let mut theirs = Vec::new();
            for &seed in &seeds {
                let tag = format!("[{} T={t} seed {seed}]", algo.name());
                eprintln!("{tag} ganglion on rapier CartPole ...");
                let g = ganglion_run(b, algo, max_steps, seed, t)?;
                report_run(&g);
                ours.push(g);
                if let Some(py) = b.python {
                    eprintln!("{tag} {baseline} on gymnasium CartPole-v1 ...");
                    let s = baseline_run(b, algo, max_steps, py, seed, t)?;
                    report_run(&s);
                    theirs.push(s);
                }
            }
            budgets.push(budget(t, &ours, &theirs));
        }
        algos.push(json!({
            "algo": algo.name(),
            "baseline": baseline,
            "hyperparameters": algo.settings(),
            "max_steps": max_steps,
            "budgets": budgets,
        }));
    }
    Ok(json!({
        "bench": "train-cartpole",
        "seeds": seeds,
        "envs": {"ganglion": "rapier CartPole (ganglion-sim)", "baseline": "gymnasium CartPole-v1"},
        "stop_rule": {
            "eval_every": b.eval_every,
            "eval_episodes": b.eval_episodes,
            "threshold": b.threshold,
            "checked": "after each update, once the env-step count reaches the next multiple of eval_every",
            "eval_episodes_fresh": true,
        },
        "final_score": format!("the best-evaluated policy over {FINAL_EPISODES} more episodes, after the clock stops"),
        "timed": "from just before the model is built to the stop: rollouts, updates and evaluations; env construction and interpreter start-up excluded",
        "algos": algos,
        "target_ratio": 0.2,
    }))
}

fn report_run(r: &Value) {
    eprintln!(
        "  solved {} after {} steps, {:.2} s; final {FINAL_EPISODES}-episode mean {:.1}",
        r["solved"],
        r["env_steps"],
        r["wall_s"].as_f64().unwrap_or(f64::NAN),
        r["final_mean_return"].as_f64().unwrap_or(f64::NAN)
    );
}

/// One thread budget's summary on both sides and their median time ratio.
fn budget(t: usize, ours: &[Value], theirs: &[Value]) -> Value {
    let g = summary(
        ours,
        json!({"env_workers": t, "update": "the calling thread"}),
    );
    let s = if theirs.is_empty() {
        json!({"skipped": "no Python baseline environment (run benches/python/setup_venv.sh)"})
    } else {
        summary(theirs, theirs[0]["threads"].clone())
    };
    let ratio = match (
        g.pointer("/wall_s/median").and_then(Value::as_f64),
        s.pointer("/wall_s/median").and_then(Value::as_f64),
    ) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    };
    json!({
        "threads": t,
        "ganglion": g,
        "baseline": s,
        "median_time_ratio_ganglion_over_baseline": ratio,
    })
}

fn ganglion_run(
    b: &TrainBench<'_>,
    algo: Algo,
    max_steps: usize,
    seed: u64,
    threads: usize,
) -> Result<Value> {
    let mut eval_env = FreshEpisodes {
        inner: make_env("cartpole")?,
        stream: derive_seed(seed, 0xE7A1),
        next: 0,
    };
    let outcome: PpoOutcome = if algo == Algo::Reinforce {
        let cfg = ReinforceConfig {
            total_timesteps: max_steps,
            eval_every: b.eval_every,
            eval_episodes: b.eval_episodes,
            stop_at: Some(b.threshold),
            ..Default::default()
        };
        let mut env = make_env("cartpole")?;
        train_reinforce(&cfg, env.as_mut(), &mut eval_env, seed, |_| {})?
    } else {
        let preset = match algo {
            Algo::A2c => crate::learn::presets::a2c_preset("cartpole"),
            _ => PpoConfig::default(),
        };
        let cfg = PpoConfig {
            total_timesteps: max_steps,
            eval_every: b.eval_every,
            eval_episodes: b.eval_episodes,
            stop_at: Some(b.threshold),
            threads,
            ..preset
        };
        let mut venv = VecEnv::new(
            || make_env("cartpole").expect("registered"),
            cfg.n_envs,
            cfg.threads,
            seed,
        );
        train(&cfg, &mut venv, &mut eval_env, seed, |_| {})
    };
    // The final score, after the clock: fresh episodes of their own stream.
    let mut actor = NativeActor::new(&outcome.model);
    let mut env = make_env("cartpole")?;
    let final_eval = evaluate(
        &mut actor,
        env.as_mut(),
        FINAL_EPISODES,
        derive_seed(seed, 0xF1A1),
    )
    .map_err(|e| anyhow::anyhow!("scoring the trained policy: {e}"))?;
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
        "algo": algo.name(),
        "seed": seed,
        "solved": outcome.solved,
        "env_steps": outcome.steps,
        "wall_s": (outcome.wall_s * 1000.0).round() / 1000.0,
        "final_mean_return": final_eval.mean_return,
        "final_episodes": FINAL_EPISODES,
        "evals": evals,
    }))
}

fn baseline_run(
    b: &TrainBench<'_>,
    algo: Algo,
    max_steps: usize,
    python: &Path,
    seed: u64,
    threads: usize,
) -> Result<Value> {
    let arg = |s: &str, v: String| [s.to_string(), v];
    let mut args: Vec<String> = [
        arg("--seed", seed.to_string()),
        arg("--threads", threads.to_string()),
        arg("--eval-every", b.eval_every.to_string()),
        arg("--eval-episodes", b.eval_episodes.to_string()),
        arg("--threshold", b.threshold.to_string()),
        arg("--max-steps", max_steps.to_string()),
        arg("--final-episodes", FINAL_EPISODES.to_string()),
    ]
    .into_iter()
    .flatten()
    .chain(std::iter::once("--json".to_string()))
    .collect();
    if algo != Algo::Reinforce {
        args.extend(["--algo".to_string(), algo.name().to_string()]);
    }
    super::python_json(python, algo.baseline().1, &args)
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
        "final_mean_return": spread(col("final_mean_return")),
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
