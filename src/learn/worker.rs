//! The learning side of distributed PPO rollouts: what a rollout worker
//! computes (its envs, seeded by its index, stepped with the learner's
//! newest weights) and how the learner lays the workers' batches into one
//! rollout. The transport (zenoh keys, job, weights and batch messages) is
//! `io::zenoh::rollout`; nothing here knows about it.
//!
//! Reproducible for a fixed seed and worker count: worker `w` (its index,
//! not its id) runs envs seeded from `derive_seed(seed, ENV_STREAM + w)` and
//! samples actions from `derive_seed(seed, ACT_STREAM + w)`.

use anyhow::{Result, bail};
use ganglion_sim::{Rng, VecEnv, derive_seed, make_env};

use super::ppo::{CollectScratch, Rollout, collect_rollout};
use super::{ActorCritic, PpoConfig};
use crate::policy::ActionSpec;

pub const ENV_STREAM: u64 = 0x3000;
pub const ACT_STREAM: u64 = 0x4000;

/// One worker's envs, model and buffers.
pub struct RolloutWorker {
    venv: VecEnv,
    rng: Rng,
    model: ActorCritic,
    rollout: Rollout,
    scratch: CollectScratch,
    finished: Vec<f32>,
    gamma: f32,
}

impl RolloutWorker {
    /// Worker `index` of a run on `env` with `seed`, `envs` environments.
    pub fn new(env: &str, seed: u64, index: usize, ppo: &PpoConfig, envs: usize) -> Result<Self> {
        make_env(env)?;
        let mut venv = VecEnv::new(
            || make_env(env).expect("env checked above"),
            envs,
            ppo.threads.max(1),
            derive_seed(seed, ENV_STREAM + index as u64),
        );
        venv.reset();
        let spec = venv.spec().clone();
        let model = ActorCritic::new(
            spec.observation.flat_dim(),
            ActionSpec::from_space(&spec.action),
            &ppo.hidden,
            ppo.activation,
            ppo.log_std_init,
            &mut Rng::new(0),
        );
        let rollout = Rollout::new(
            ppo.n_steps,
            envs,
            spec.observation.flat_dim(),
            spec.action.flat_dim(),
        );
        Ok(RolloutWorker {
            venv,
            rng: Rng::new(derive_seed(seed, ACT_STREAM + index as u64)),
            model,
            rollout,
            scratch: CollectScratch::default(),
            finished: Vec::new(),
            gamma: ppo.gamma,
        })
    }

    /// Steps every env for one iteration with `params` (the learner's
    /// weights); the rollout and the returns of episodes that finished.
    pub fn collect(&mut self, params: &[f32]) -> Result<(&Rollout, &[f32])> {
        if params.len() != self.model.params.len() {
            bail!(
                "weights have {} parameters, the model {}",
                params.len(),
                self.model.params.len()
            );
        }
        self.model.params.copy_from_slice(params);
        self.finished.clear();
        collect_rollout(
            self.gamma,
            &self.model,
            &mut self.venv,
            &mut self.rng,
            &mut self.rollout,
            &mut self.finished,
            &mut self.scratch,
        );
        Ok((&self.rollout, &self.finished))
    }
}

/// Copies worker `w`'s rollout (its `r.n_envs` envs) into the learner's
/// rollout `out`, where that worker's envs are `w * r.n_envs ..`. The
/// caller has checked the shapes match.
pub fn place_worker_rollout(out: &mut Rollout, w: usize, r: &Rollout) {
    let (od, ad, epw, n_envs) = (out.obs_dim, out.act_dim, r.n_envs, out.n_envs);
    for t in 0..out.n_steps {
        for e in 0..epw {
            let (src, dst) = (t * epw + e, t * n_envs + w * epw + e);
            out.obs[dst * od..(dst + 1) * od].copy_from_slice(&r.obs[src * od..(src + 1) * od]);
            out.actions[dst * ad..(dst + 1) * ad]
                .copy_from_slice(&r.actions[src * ad..(src + 1) * ad]);
            out.logp[dst] = r.logp[src];
            out.values[dst] = r.values[src];
            out.rewards[dst] = r.rewards[src];
            out.dones[dst] = r.dones[src];
        }
    }
    let g = w * epw;
    out.last_obs[g * od..(g + epw) * od].copy_from_slice(&r.last_obs);
}
