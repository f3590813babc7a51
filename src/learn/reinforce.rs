//! REINFORCE (Williams 1992), the textbook Monte-Carlo policy gradient: play
//! whole episodes with the stochastic policy, then step along
//! `Σ_t (G_t − b(s_t)) ∇ log π(a_t | s_t)`, where `G_t` is the discounted
//! return from step t to the episode's end. Optional baseline `b`: the
//! critic, trained on the same returns (REINFORCE with baseline); without
//! it `b = 0`. Returns can be standardised per update (as PyTorch's own
//! REINFORCE example does), which works as a crude baseline. Same
//! `ActorCritic` model, `nn` layers, evaluation and curve as PPO, so the
//! exporter, card and `ganglion eval` are shared (`ppo_run.rs`).

use ganglion_sim::{Env, Rng, derive_seed};
use serde::{Deserialize, Serialize};

use super::actor_critic::ActorCritic;
use super::dist::{categorical, gaussian};
use super::ppo::{PpoOutcome, Progress};
use super::tracker::{EvalRule, Tracker};
use crate::nn::{Activation, Adam, MlpCache, clip_grad_norm};
use crate::policy::ActionSpec;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReinforceConfig {
    /// Whole episodes per gradient step.
    pub episodes_per_update: usize,
    pub gamma: f32,
    /// Adam's learning rate (constant).
    pub learning_rate: f32,
    /// Subtract the critic's value (trained on the same returns).
    pub baseline: bool,
    /// Standardise the update's returns (zero mean, unit deviation).
    pub normalize_returns: bool,
    pub vf_coef: f32,
    /// Global gradient-norm clip (0: none).
    pub max_grad_norm: f32,
    /// The step budget.
    pub total_timesteps: usize,
    pub hidden: Vec<usize>,
    pub activation: Activation,
    pub log_std_init: f32,
    pub eval_every: usize,
    pub eval_episodes: usize,
    pub stop_at: Option<f64>,
}

impl Default for ReinforceConfig {
    /// CartPole: the network of the PPO and A2C presets (64×64 tanh), one
    /// episode per update as the textbook, standardised returns and Adam at
    /// 1e-3 (PyTorch's example uses 1e-2 with a 128-unit dropout net;
    /// 1e-2 made this 64×64 net collapse to one action in some seeds).
    fn default() -> Self {
        ReinforceConfig {
            episodes_per_update: 1,
            gamma: 0.99,
            learning_rate: 1e-3,
            baseline: false,
            normalize_returns: true,
            vf_coef: 0.5,
            max_grad_norm: 0.0,
            total_timesteps: 500_000,
            hidden: vec![64, 64],
            activation: Activation::Tanh,
            log_std_init: 0.0,
            eval_every: 8192,
            eval_episodes: 20,
            stop_at: None,
        }
    }
}

/// One update's episodes, flattened step by step.
#[derive(Default)]
struct Episodes {
    obs: Vec<f32>,
    actions: Vec<f32>,
    rewards: Vec<f32>,
    /// Index one past each episode's last step.
    ends: Vec<usize>,
}

/// Trains `cfg` on fresh episodes of `env`; evaluates on `eval_env`.
pub fn train_reinforce(
    cfg: &ReinforceConfig,
    env: &mut dyn Env,
    eval_env: &mut dyn Env,
    seed: u64,
    mut on_progress: impl FnMut(&Progress<'_>),
) -> anyhow::Result<PpoOutcome> {
    if cfg.episodes_per_update == 0 {
        anyhow::bail!("episodes_per_update must be positive");
    }
    let mut tracker = Tracker::new(EvalRule {
        every: cfg.eval_every,
        episodes: cfg.eval_episodes,
        stop_at: cfg.stop_at,
        total_steps: cfg.total_timesteps,
        seed,
    });
    let spec = env.spec().clone();
    let od = spec.observation.flat_dim();
    let ad = spec.action.flat_dim();
    let action_spec = ActionSpec::from_space(&spec.action);
    let head = action_spec.head_dim();
    let discrete = spec.action.is_discrete();

    let mut rng = Rng::new(derive_seed(seed, 0x5EED_2E1F));
    let mut model = ActorCritic::new(
        od,
        action_spec,
        &cfg.hidden,
        cfg.activation,
        cfg.log_std_init,
        &mut rng,
    );
    let mut opt = Adam::new(model.num_params());
    let mut actor_cache = MlpCache::default();
    let mut critic_cache = MlpCache::default();
    let mut ep = Episodes::default();
    let mut obs = vec![0.0f32; od];
    let mut action = vec![0.0f32; ad];
    let mut returns: Vec<f32> = Vec::new();
    let mut d_head: Vec<f32> = Vec::new();
    let mut d_value: Vec<f32> = Vec::new();
    let mut values: Vec<f32> = Vec::new();
    let mut log_std = vec![0.0f32; model.log_std().len()];
    let mut d_log_std = vec![0.0f32; log_std.len()];
    let (mut steps, mut iteration, mut episode) = (0usize, 0usize, 0u64);

    while steps < cfg.total_timesteps {
        iteration += 1;
        // ---- Play whole episodes with the stochastic policy ---------------
        ep.obs.clear();
        ep.actions.clear();
        ep.rewards.clear();
        ep.ends.clear();
        log_std.copy_from_slice(model.log_std());
        for _ in 0..cfg.episodes_per_update {
            env.reset(derive_seed(seed, episode), &mut obs);
            episode += 1;
            let mut total = 0.0f32;
            loop {
                let out = model
                    .actor
                    .forward(&model.params, &obs, 1, &mut actor_cache);
                if discrete {
                    action[0] = categorical::sample(out, &mut rng) as f32;
                } else {
                    gaussian::sample(out, &log_std, &mut rng, &mut action);
                }
                ep.obs.extend_from_slice(&obs);
                ep.actions.extend_from_slice(&action);
                let r = env.step(&action, &mut obs);
                ep.rewards.push(r.reward);
                total += r.reward;
                if r.terminated || r.truncated {
                    break;
                }
            }
            ep.ends.push(ep.rewards.len());
            tracker.episode(total);
        }
        let n = ep.rewards.len();
        steps += n;

        // ---- Monte-Carlo returns G_t, per episode -------------------------
        returns.clear();
        returns.resize(n, 0.0);
        let mut begin = 0;
        for &end in &ep.ends {
            let mut g = 0.0f32;
            for t in (begin..end).rev() {
                g = ep.rewards[t] + cfg.gamma * g;
                returns[t] = g;
            }
            begin = end;
        }
        if cfg.normalize_returns && n > 1 {
            let m = returns.iter().sum::<f32>() / n as f32;
            let sd = (returns.iter().map(|g| (g - m).powi(2)).sum::<f32>() / n as f32).sqrt();
            for g in &mut returns {
                *g = (*g - m) / (sd + 1e-8);
            }
        }

        // ---- One gradient step over all the update's steps -----------------
        model.grads.fill(0.0);
        d_head.clear();
        d_head.resize(n * head, 0.0);
        d_log_std.fill(0.0);
        let inv_n = 1.0 / n as f32;
        // The critic's forward pass also serves its backward pass below
        // (`critic_cache` is not touched in between).
        values.clear();
        if cfg.baseline {
            values.extend_from_slice(model.critic.forward(
                &model.params,
                &ep.obs,
                n,
                &mut critic_cache,
            ));
        }
        {
            let out = model
                .actor
                .forward(&model.params, &ep.obs, n, &mut actor_cache);
            for t in 0..n {
                let o = &out[t * head..(t + 1) * head];
                let a = &ep.actions[t * ad..(t + 1) * ad];
                let b = if cfg.baseline { values[t] } else { 0.0 };
                // loss = −mean((G − b)·log π(a|s))
                let c_logp = -(returns[t] - b) * inv_n;
                let d = &mut d_head[t * head..(t + 1) * head];
                if discrete {
                    categorical::backward(o, a[0] as usize, c_logp, 0.0, d);
                } else {
                    gaussian::backward(o, &log_std, a, c_logp, 0.0, d, &mut d_log_std);
                }
            }
        }
        model.actor.backward(
            &model.params,
            &d_head,
            n,
            &mut actor_cache,
            &mut model.grads,
        );
        if cfg.baseline {
            // The critic regresses on the same (standardised) returns it is
            // subtracted from.
            d_value.clear();
            d_value.extend((0..n).map(|t| cfg.vf_coef * 2.0 * (values[t] - returns[t]) * inv_n));
            model.critic.backward(
                &model.params,
                &d_value,
                n,
                &mut critic_cache,
                &mut model.grads,
            );
        }
        if let Some(o) = model.log_std_offset {
            for (g, d) in model.grads[o..].iter_mut().zip(&d_log_std) {
                *g += d;
            }
        }
        if cfg.max_grad_norm > 0.0 {
            clip_grad_norm(&mut model.grads, cfg.max_grad_norm);
        }
        let ActorCritic { params, grads, .. } = &mut model;
        opt.update(params, grads, cfg.learning_rate);

        // ---- Evaluate, record -----------------------------------------------
        if tracker.after_update(iteration, steps, &model, eval_env, &mut on_progress)? {
            break;
        }
    }
    Ok(tracker.finish(model, steps))
}
