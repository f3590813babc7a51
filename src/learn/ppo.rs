//! PPO (clipped surrogate, GAE, value loss, entropy bonus, minibatch epochs,
//! advantage normalisation, linear schedules) for the `ActorCritic` model, on a
//! `VecEnv`. Defaults are the RL-Zoo CartPole-v1 hyperparameters, so runs
//! compare directly with Stable-Baselines3.
//!
//! A2C is this trainer too (`presets::a2c_preset`): one epoch over the whole
//! rollout as one batch, so the only gradient step is taken where the
//! probability ratio is exactly 1 and the clipped surrogate's gradient is
//! A2C's `−A·∇log π`; n-step returns (λ = 1), no advantage normalisation,
//! and RMSprop, as Stable-Baselines3's A2C.

use ganglion_sim::{Env, EnvSpec, Rng, VecEnv, derive_seed};
use serde::{Deserialize, Serialize};

use super::actor_critic::ActorCritic;
use super::curve::LearningCurve;
use super::dist::{categorical, gaussian};
use super::eval::EvalReport;
use super::tracker::{EvalRule, Tracker};
use crate::nn::{Activation, LinearSchedule, MlpCache, Optimizer, OptimizerKind, clip_grad_norm};
use crate::policy::ActionSpec;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PpoConfig {
    pub n_envs: usize,
    pub n_steps: usize,
    pub batch_size: usize,
    pub n_epochs: usize,
    pub gamma: f32,
    pub gae_lambda: f32,
    pub learning_rate: LinearSchedule,
    pub clip_range: LinearSchedule,
    pub ent_coef: f32,
    pub vf_coef: f32,
    pub max_grad_norm: f32,
    pub normalize_advantage: bool,
    /// Horizon of the linear schedules, and the step budget.
    pub total_timesteps: usize,
    pub hidden: Vec<usize>,
    pub activation: Activation,
    pub log_std_init: f32,
    /// Environment worker threads (results do not depend on it).
    pub threads: usize,
    /// Evaluate the deterministic policy every this many env steps (0: never).
    pub eval_every: usize,
    pub eval_episodes: usize,
    /// Stop as soon as an evaluation's mean return reaches this.
    pub stop_at: Option<f64>,
    /// Adam (PPO) or RMSprop (A2C).
    #[serde(default)]
    pub optimizer: OptimizerKind,
}

impl Default for PpoConfig {
    fn default() -> Self {
        PpoConfig {
            n_envs: 8,
            n_steps: 32,
            batch_size: 256,
            n_epochs: 20,
            gamma: 0.98,
            gae_lambda: 0.8,
            learning_rate: LinearSchedule {
                start: 1e-3,
                end: 0.0,
            },
            clip_range: LinearSchedule {
                start: 0.2,
                end: 0.0,
            },
            ent_coef: 0.0,
            vf_coef: 0.5,
            max_grad_norm: 0.5,
            normalize_advantage: true,
            total_timesteps: 100_000,
            hidden: vec![64, 64],
            activation: Activation::Tanh,
            log_std_init: 0.0,
            threads: 2,
            eval_every: 8192,
            eval_episodes: 20,
            stop_at: None,
            optimizer: OptimizerKind::Adam,
        }
    }
}

/// Per-iteration report handed to the progress callback.
#[derive(Clone, Debug)]
pub struct Progress<'a> {
    pub iteration: usize,
    pub steps: usize,
    pub total_steps: usize,
    /// Mean return of the last (up to) 100 finished training episodes.
    pub mean_return: Option<f64>,
    pub last_eval: Option<f64>,
    /// The model after this iteration's update (for checkpoints).
    pub model: &'a ActorCritic,
}

pub struct PpoOutcome {
    /// The model with the best evaluation (or the final one if never evaluated).
    pub model: ActorCritic,
    pub curve: LearningCurve,
    pub steps: usize,
    pub wall_s: f64,
    pub best_eval: Option<EvalReport>,
    /// Whether `stop_at` was reached.
    pub solved: bool,
}

/// One iteration's rollout, handed to a `PpoUpdater` (`[t][env]` flattened).
pub struct RolloutView<'a> {
    pub obs: &'a [f32],
    pub actions: &'a [f32],
    pub logp: &'a [f32],
    pub adv: &'a [f32],
    pub ret: &'a [f32],
    /// Every epoch's shuffled order of `0..rollout`, concatenated (drawn from
    /// the trainer's `Rng`, exactly as the CPU update draws them).
    pub order: &'a [usize],
    pub minibatch: usize,
    pub lr: f32,
    pub clip: f32,
}

/// An update on another device (the GPU, `nn::cuda::ppo`): every epoch and
/// minibatch of one iteration, leaving the new parameters in `model.params`.
pub trait PpoUpdater {
    fn update(
        &mut self,
        cfg: &PpoConfig,
        model: &mut ActorCritic,
        rollout: &RolloutView<'_>,
    ) -> anyhow::Result<()>;
}

/// Trains a policy on `venv`; `eval_env` is a separate environment for the
/// periodic deterministic evaluations.
pub fn train(
    cfg: &PpoConfig,
    venv: &mut VecEnv,
    eval_env: &mut dyn Env,
    seed: u64,
    on_progress: impl FnMut(&Progress<'_>),
) -> PpoOutcome {
    match train_on(cfg, venv, eval_env, seed, None, on_progress) {
        Ok(outcome) => outcome,
        // The CPU update has no failure path; only an updater returns errors.
        Err(e) => unreachable!("CPU PPO update failed: {e}"),
    }
}

/// Where an iteration's rollout comes from: the local `VecEnv`, or rollout
/// workers in other processes (`io::zenoh::rollout`).
pub trait RolloutSource {
    fn spec(&self) -> &EnvSpec;
    fn num_envs(&self) -> usize;
    /// Resets every environment (before the first iteration).
    fn reset(&mut self) -> anyhow::Result<()>;
    /// Fills `out` with `out.n_steps` steps of every environment, acting
    /// with `model`; finished episodes' returns go into `finished`.
    fn collect(
        &mut self,
        model: &ActorCritic,
        rng: &mut Rng,
        out: &mut Rollout,
        finished: &mut Vec<f32>,
    ) -> anyhow::Result<()>;
}

/// One iteration's rollout, `[t][env]` flattened, and the observation each
/// environment ended in (to bootstrap the advantages from).
#[derive(Clone, Debug, Default)]
pub struct Rollout {
    pub n_steps: usize,
    pub n_envs: usize,
    pub obs_dim: usize,
    pub act_dim: usize,
    pub obs: Vec<f32>,
    pub actions: Vec<f32>,
    pub logp: Vec<f32>,
    pub values: Vec<f32>,
    /// Rewards, with a time limit's bootstrap `γ·V(final obs)` added.
    pub rewards: Vec<f32>,
    pub dones: Vec<bool>,
    pub last_obs: Vec<f32>,
}

impl Rollout {
    pub fn new(n_steps: usize, n_envs: usize, obs_dim: usize, act_dim: usize) -> Self {
        let n = n_steps * n_envs;
        Rollout {
            n_steps,
            n_envs,
            obs_dim,
            act_dim,
            obs: vec![0.0; n * obs_dim],
            actions: vec![0.0; n * act_dim],
            logp: vec![0.0; n],
            values: vec![0.0; n],
            rewards: vec![0.0; n],
            dones: vec![false; n],
            last_obs: vec![0.0; n_envs * obs_dim],
        }
    }
}

/// Scratch of `collect_rollout`.
#[derive(Default)]
pub struct CollectScratch {
    actor: MlpCache,
    critic: MlpCache,
    one: MlpCache,
    actions: Vec<f32>,
}

/// Steps `venv` for `out.n_steps` steps acting with `model` (actions drawn
/// from `rng`), filling `out`.
pub fn collect_rollout(
    gamma: f32,
    model: &ActorCritic,
    venv: &mut VecEnv,
    rng: &mut Rng,
    out: &mut Rollout,
    finished: &mut Vec<f32>,
    scratch: &mut CollectScratch,
) {
    let spec = venv.spec();
    let od = spec.observation.flat_dim();
    let ad = spec.action.flat_dim();
    let discrete = spec.action.is_discrete();
    let head = model.actor.out_dim();
    let n_envs = venv.num_envs();
    scratch.actions.resize(n_envs * ad, 0.0);
    let actions = &mut scratch.actions;
    for t in 0..out.n_steps {
        let row = t * n_envs;
        out.obs[row * od..(row + n_envs) * od].copy_from_slice(venv.obs());
        let values = model
            .critic
            .forward(&model.params, venv.obs(), n_envs, &mut scratch.critic);
        out.values[row..row + n_envs].copy_from_slice(values);
        let o_all = model
            .actor
            .forward(&model.params, venv.obs(), n_envs, &mut scratch.actor);
        for e in 0..n_envs {
            let o = &o_all[e * head..(e + 1) * head];
            let a = &mut actions[e * ad..(e + 1) * ad];
            let lp = if discrete {
                let k = categorical::sample(o, rng);
                a[0] = k as f32;
                categorical::logp_entropy(o, k).0
            } else {
                let log_std = &model.params[model.log_std_offset.unwrap_or(0)..][..head];
                gaussian::sample(o, log_std, rng, a);
                gaussian::logp_entropy(o, log_std, a).0
            };
            out.logp[row + e] = lp;
        }
        out.actions[row * ad..(row + n_envs) * ad].copy_from_slice(actions);
        venv.step(actions);
        for e in 0..n_envs {
            let mut r = venv.rewards()[e];
            if venv.truncated()[e] {
                // Time limits are not terminal: bootstrap from the value of
                // the state the episode was cut in.
                let fo = &venv.final_obs()[e * od..(e + 1) * od];
                let v = model.critic.forward(&model.params, fo, 1, &mut scratch.one)[0];
                r += gamma * v;
            }
            out.rewards[row + e] = r;
            out.dones[row + e] = venv.terminated()[e] || venv.truncated()[e];
        }
        finished.extend(venv.finished().iter().map(|f| f.episode_return));
    }
    out.last_obs.copy_from_slice(venv.obs());
}

/// The local environments as a rollout source.
pub struct LocalRollouts<'a> {
    pub venv: &'a mut VecEnv,
    pub gamma: f32,
    scratch: CollectScratch,
}

impl<'a> LocalRollouts<'a> {
    pub fn new(venv: &'a mut VecEnv, gamma: f32) -> Self {
        LocalRollouts {
            venv,
            gamma,
            scratch: CollectScratch::default(),
        }
    }
}

impl RolloutSource for LocalRollouts<'_> {
    fn spec(&self) -> &EnvSpec {
        self.venv.spec()
    }
    fn num_envs(&self) -> usize {
        self.venv.num_envs()
    }
    fn reset(&mut self) -> anyhow::Result<()> {
        self.venv.reset();
        Ok(())
    }
    fn collect(
        &mut self,
        model: &ActorCritic,
        rng: &mut Rng,
        out: &mut Rollout,
        finished: &mut Vec<f32>,
    ) -> anyhow::Result<()> {
        collect_rollout(
            self.gamma,
            model,
            self.venv,
            rng,
            out,
            finished,
            &mut self.scratch,
        );
        Ok(())
    }
}

/// `train`, with the minibatch updates on `updater` when given (rollouts,
/// advantages and evaluation stay on the CPU).
pub fn train_on(
    cfg: &PpoConfig,
    venv: &mut VecEnv,
    eval_env: &mut dyn Env,
    seed: u64,
    updater: Option<&mut dyn PpoUpdater>,
    on_progress: impl FnMut(&Progress<'_>),
) -> anyhow::Result<PpoOutcome> {
    let mut source = LocalRollouts::new(venv, cfg.gamma);
    train_from(cfg, &mut source, eval_env, seed, updater, on_progress)
}

/// PPO on rollouts from `source` (local envs or remote workers).
pub fn train_from(
    cfg: &PpoConfig,
    venv: &mut dyn RolloutSource,
    eval_env: &mut dyn Env,
    seed: u64,
    mut updater: Option<&mut dyn PpoUpdater>,
    mut on_progress: impl FnMut(&Progress<'_>),
) -> anyhow::Result<PpoOutcome> {
    let mut tracker = Tracker::new(EvalRule {
        every: cfg.eval_every,
        episodes: cfg.eval_episodes,
        stop_at: cfg.stop_at,
        total_steps: cfg.total_timesteps,
        seed,
    });
    let spec = venv.spec().clone();
    let od = spec.observation.flat_dim();
    let ad = spec.action.flat_dim();
    let action_spec = ActionSpec::from_space(&spec.action);
    let head = action_spec.head_dim();
    let discrete = spec.action.is_discrete();
    let n_envs = venv.num_envs();
    let rollout = cfg.n_steps * n_envs;

    let mut rng = Rng::new(derive_seed(seed, 0xA11CE));
    let mut model = ActorCritic::new(
        od,
        action_spec,
        &cfg.hidden,
        cfg.activation,
        cfg.log_std_init,
        &mut rng,
    );
    if updater.is_some() && cfg.optimizer != OptimizerKind::Adam {
        anyhow::bail!(
            "the GPU updater runs Adam only; train with optimizer = \"rmsprop\" on the CPU"
        );
    }
    let mut opt = Optimizer::new(cfg.optimizer, model.num_params());

    // Rollout storage, [t][env] flattened.
    let mut ro = Rollout::new(cfg.n_steps, n_envs, od, ad);
    let mut adv_buf = vec![0.0f32; rollout];
    let mut ret_buf = vec![0.0f32; rollout];
    let mut finished: Vec<f32> = Vec::new();

    let mut actor_cache = MlpCache::default();
    let mut critic_cache = MlpCache::default();

    let mb = cfg.batch_size.min(rollout).max(1);
    let mut mb_obs = vec![0.0f32; mb * od];
    let mut d_head = vec![0.0f32; mb * head];
    let mut d_value = vec![0.0f32; mb];
    // Log-std snapshot and its gradient, reused by every minibatch.
    let mut log_std = vec![0.0f32; model.log_std().len()];
    let mut d_log_std = vec![0.0f32; log_std.len()];
    let mut indices: Vec<usize> = (0..rollout).collect();
    let mut order: Vec<usize> = Vec::new();

    let mut steps = 0usize;
    let mut iteration = 0usize;

    venv.reset()?;
    while steps < cfg.total_timesteps {
        iteration += 1;
        let progress = steps as f32 / cfg.total_timesteps.max(1) as f32;
        let lr = cfg.learning_rate.at(progress);
        let clip = cfg.clip_range.at(progress);

        // ---- Collect a rollout -------------------------------------------------
        finished.clear();
        venv.collect(&model, &mut rng, &mut ro, &mut finished)?;
        steps += rollout;
        for &r in &finished {
            tracker.episode(r);
        }

        // ---- GAE -------------------------------------------------------------
        let last_values = model
            .critic
            .forward(&model.params, &ro.last_obs, n_envs, &mut critic_cache)
            .to_vec();
        for (e, &last_value) in last_values.iter().enumerate() {
            let mut gae = 0.0f32;
            for t in (0..cfg.n_steps).rev() {
                let i = t * n_envs + e;
                let next_value = if t + 1 == cfg.n_steps {
                    last_value
                } else {
                    ro.values[i + n_envs]
                };
                let nonterminal = if ro.dones[i] { 0.0 } else { 1.0 };
                let delta = ro.rewards[i] + cfg.gamma * next_value * nonterminal - ro.values[i];
                gae = delta + cfg.gamma * cfg.gae_lambda * nonterminal * gae;
                adv_buf[i] = gae;
                ret_buf[i] = gae + ro.values[i];
            }
        }

        // ---- Optimise ----------------------------------------------------------
        if let Some(up) = updater.as_deref_mut() {
            order.clear();
            for _epoch in 0..cfg.n_epochs {
                rng.shuffle(&mut indices);
                order.extend_from_slice(&indices);
            }
            let view = RolloutView {
                obs: &ro.obs,
                actions: &ro.actions,
                logp: &ro.logp,
                adv: &adv_buf,
                ret: &ret_buf,
                order: &order,
                minibatch: mb,
                lr,
                clip,
            };
            up.update(cfg, &mut model, &view)?;
        }
        for _epoch in 0..if updater.is_some() { 0 } else { cfg.n_epochs } {
            rng.shuffle(&mut indices);
            for batch in indices.chunks(mb) {
                let n = batch.len();
                for (j, &i) in batch.iter().enumerate() {
                    mb_obs[j * od..(j + 1) * od].copy_from_slice(&ro.obs[i * od..(i + 1) * od]);
                }
                let (adv_mean, adv_std) = if cfg.normalize_advantage && n > 1 {
                    let m = batch.iter().map(|&i| adv_buf[i]).sum::<f32>() / n as f32;
                    // Unbiased std, as torch's `std()` in Stable-Baselines3.
                    let v = batch.iter().map(|&i| (adv_buf[i] - m).powi(2)).sum::<f32>()
                        / (n - 1) as f32;
                    (m, v.sqrt() + 1e-8)
                } else {
                    (0.0, 1.0)
                };
                model.grads.fill(0.0);
                d_head[..n * head].fill(0.0);
                log_std.copy_from_slice(model.log_std());
                d_log_std.fill(0.0);
                let inv_n = 1.0 / n as f32;
                {
                    let out = model
                        .actor
                        .forward(&model.params, &mb_obs, n, &mut actor_cache);
                    for (j, &i) in batch.iter().enumerate() {
                        let o = &out[j * head..(j + 1) * head];
                        let a = &ro.actions[i * ad..(i + 1) * ad];
                        let new_lp = if discrete {
                            categorical::logp_entropy(o, a[0] as usize).0
                        } else {
                            gaussian::logp_entropy(o, &log_std, a).0
                        };
                        let ratio = (new_lp - ro.logp[i]).exp();
                        let adv = (adv_buf[i] - adv_mean) / adv_std;
                        // loss = −min(r·A, clip(r)·A): the gradient flows through
                        // r only where the unclipped term is the minimum.
                        let unclipped = ratio * adv;
                        let clipped = ratio.clamp(1.0 - clip, 1.0 + clip) * adv;
                        let c_logp = if unclipped <= clipped {
                            -adv * ratio * inv_n
                        } else {
                            0.0
                        };
                        // Entropy bonus: loss −= ent_coef·H (mean over batch).
                        let c_ent = -cfg.ent_coef * inv_n;
                        let d = &mut d_head[j * head..(j + 1) * head];
                        if discrete {
                            categorical::backward(o, a[0] as usize, c_logp, c_ent, d);
                        } else {
                            gaussian::backward(o, &log_std, a, c_logp, c_ent, d, &mut d_log_std);
                        }
                    }
                }
                model.actor.backward(
                    &model.params,
                    &d_head[..n * head],
                    n,
                    &mut actor_cache,
                    &mut model.grads,
                );
                {
                    let values = model
                        .critic
                        .forward(&model.params, &mb_obs, n, &mut critic_cache);
                    for (j, &i) in batch.iter().enumerate() {
                        // vf_coef · mean((V − R)²)
                        d_value[j] = cfg.vf_coef * 2.0 * (values[j] - ret_buf[i]) * inv_n;
                    }
                }
                model.critic.backward(
                    &model.params,
                    &d_value[..n],
                    n,
                    &mut critic_cache,
                    &mut model.grads,
                );
                if let Some(o) = model.log_std_offset {
                    for (g, d) in model.grads[o..].iter_mut().zip(&d_log_std) {
                        *g += d;
                    }
                }
                clip_grad_norm(&mut model.grads, cfg.max_grad_norm);
                let ActorCritic { params, grads, .. } = &mut model;
                opt.update(params, grads, lr);
            }
        }

        // ---- Evaluate, record ----------------------------------------------------
        if tracker.after_update(iteration, steps, &model, eval_env, &mut on_progress)? {
            break;
        }
    }
    Ok(tracker.finish(model, steps))
}
