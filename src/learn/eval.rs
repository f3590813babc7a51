//! Evaluation: run a deterministic policy for N seeded episodes and summarise
//! the returns. `ganglion eval`, `demo` and the trainers' periodic checks all
//! use this one function, so their numbers are comparable.

use std::path::Path;

use anyhow::{Context, Result};
use ganglion_sim::{Env, derive_seed, make_env};
use serde::Serialize;

use crate::policy::{ActionSpec, ModelCard, OnnxPolicy, Policy, PolicyError};

#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    pub episodes: usize,
    pub seed: u64,
    pub mean_return: f64,
    pub std_return: f64,
    pub min_return: f64,
    pub max_return: f64,
    pub mean_length: f64,
    pub returns: Vec<f32>,
}

/// Episode `k` starts from `derive_seed(seed, k)`, so any policy evaluated with
/// the same seed faces the same initial states.
pub fn evaluate(
    policy: &mut dyn Policy,
    env: &mut dyn Env,
    episodes: usize,
    seed: u64,
) -> Result<EvalReport, PolicyError> {
    let spec = env.spec().clone();
    let mut obs = vec![0.0; spec.observation.flat_dim()];
    let mut action = vec![0.0; spec.action.flat_dim()];
    let mut returns = Vec::with_capacity(episodes);
    let mut lengths = Vec::with_capacity(episodes);
    for k in 0..episodes {
        env.reset(derive_seed(seed, k as u64), &mut obs);
        policy.reset();
        let mut total = 0.0f32;
        let mut len = 0usize;
        loop {
            policy.act(&obs, &mut action)?;
            let r = env.step(&action, &mut obs);
            policy.observe_reward(r.reward);
            total += r.reward;
            len += 1;
            if r.done() || len >= spec.max_episode_steps {
                break;
            }
        }
        returns.push(total);
        lengths.push(len);
    }
    Ok(summarise(returns, &lengths, seed))
}

fn summarise(returns: Vec<f32>, lengths: &[usize], seed: u64) -> EvalReport {
    let n = returns.len().max(1) as f64;
    let mean = returns.iter().map(|r| *r as f64).sum::<f64>() / n;
    let var = returns
        .iter()
        .map(|r| (*r as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    EvalReport {
        episodes: returns.len(),
        seed,
        mean_return: mean,
        std_return: var.sqrt(),
        min_return: returns.iter().copied().fold(f32::INFINITY, f32::min) as f64,
        max_return: returns.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64,
        mean_length: lengths.iter().sum::<usize>() as f64 / n,
        returns,
    }
}

/// What `eval --json` prints.
#[derive(Serialize, Debug)]
pub struct EvalOutput {
    pub env: String,
    pub policy: String,
    #[serde(flatten)]
    pub report: EvalReport,
}

/// Loads a policy for `env`: with its card when there is one (checking that the
/// card is for this env's spaces), else from the env's spaces alone.
pub fn load_env_policy(env_name: &str, path: &Path) -> Result<OnnxPolicy> {
    let env = make_env(env_name)?;
    let spec = env.spec();
    let obs_dim = spec.observation.flat_dim();
    let action = ActionSpec::from_space(&spec.action);
    if crate::policy::card::card_path(path).exists() {
        let card = ModelCard::load_for(path)?;
        card.verify_sha256(path)?;
        if card.obs_dim != obs_dim || card.action != action {
            anyhow::bail!(
                "{}: the model card says obs_dim {} and action {:?}, but `{env_name}` has obs_dim {obs_dim} and action {:?}",
                path.display(),
                card.obs_dim,
                card.action,
                action
            );
        }
    }
    OnnxPolicy::load(path, obs_dim, action)
}

/// The one evaluation path shared by `ganglion eval`, `demo`, the trainers' final reports and the tests.
pub fn eval_policy_file(
    env_name: &str,
    path: &Path,
    episodes: usize,
    seed: u64,
) -> Result<EvalOutput> {
    let mut env = make_env(env_name)?;
    let mut policy = load_env_policy(env_name, path)?;
    let report = evaluate(&mut policy, env.as_mut(), episodes, seed)
        .with_context(|| format!("running {}", path.display()))?;
    Ok(EvalOutput {
        env: env_name.to_string(),
        policy: path.display().to_string(),
        report,
    })
}
