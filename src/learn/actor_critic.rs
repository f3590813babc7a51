//! The actor-critic model: an actor MLP (obs → logits or mean), a critic MLP
//! (obs → value) and, for continuous actions, a state-independent log standard
//! deviation — all in one flat parameter buffer with one gradient buffer.

use std::path::Path;

use anyhow::Result;
use ganglion_sim::Rng;

use crate::nn::onnx::{mlp_model, write_model};
use crate::nn::{Activation, Mlp, MlpCache};
use crate::policy::{ActionSpec, Policy, PolicyError, argmax, check_finite};

#[derive(Clone, Debug)]
pub struct ActorCritic {
    pub obs_dim: usize,
    pub action: ActionSpec,
    pub actor: Mlp,
    pub critic: Mlp,
    /// Offset of the log-std vector (continuous actions only).
    pub log_std_offset: Option<usize>,
    pub params: Vec<f32>,
    pub grads: Vec<f32>,
}

impl ActorCritic {
    pub fn new(
        obs_dim: usize,
        action: ActionSpec,
        hidden: &[usize],
        activation: Activation,
        log_std_init: f32,
        rng: &mut Rng,
    ) -> Self {
        let head = action.head_dim();
        let mut sizes = vec![obs_dim];
        sizes.extend_from_slice(hidden);
        sizes.push(head);
        let actor = Mlp::new(&sizes, activation, 0);
        *sizes.last_mut().unwrap_or(&mut 0) = 1;
        let critic = Mlp::new(&sizes, activation, actor.num_params());
        let mut total = actor.num_params() + critic.num_params();
        let log_std_offset = match action {
            ActionSpec::Continuous { dim } => {
                total += dim;
                Some(total - dim)
            }
            ActionSpec::Discrete { .. } => None,
        };
        let mut params = vec![0.0; total];
        // As Stable-Baselines3: small policy head, unit value head.
        actor.init(&mut params, 0.01, rng);
        critic.init(&mut params, 1.0, rng);
        if let Some(o) = log_std_offset {
            params[o..].fill(log_std_init);
        }
        ActorCritic {
            obs_dim,
            action,
            actor,
            critic,
            log_std_offset,
            grads: vec![0.0; total],
            params,
        }
    }

    pub fn num_params(&self) -> usize {
        self.params.len()
    }

    pub fn log_std(&self) -> &[f32] {
        match self.log_std_offset {
            Some(o) => &self.params[o..o + self.action.head_dim()],
            None => &[],
        }
    }

    /// Writes `<out>` (actor) and `<out stem>.critic.onnx` (critic).
    pub fn export_onnx(
        &self,
        out: &Path,
        metadata: &[(&str, String)],
    ) -> Result<std::path::PathBuf> {
        let head_name = match self.action {
            ActionSpec::Discrete { .. } => "logits",
            ActionSpec::Continuous { .. } => "mean",
        };
        let actor = mlp_model(&self.actor, &self.params, "obs", head_name, metadata);
        write_model(&actor, out)?;
        let critic_path = out.with_extension("critic.onnx");
        let critic = mlp_model(&self.critic, &self.params, "obs", "value", metadata);
        write_model(&critic, &critic_path)?;
        Ok(critic_path)
    }
}

/// The deterministic actor of an `ActorCritic`, run natively (no ONNX): used for
/// evaluation during training.
pub struct NativeActor<'a> {
    model: &'a ActorCritic,
    cache: MlpCache,
}

impl<'a> NativeActor<'a> {
    pub fn new(model: &'a ActorCritic) -> Self {
        NativeActor {
            model,
            cache: MlpCache::default(),
        }
    }

    pub fn output(&mut self, obs: &[f32]) -> &[f32] {
        self.model
            .actor
            .forward(&self.model.params, obs, 1, &mut self.cache)
    }
}

impl Policy for NativeActor<'_> {
    fn act(&mut self, obs: &[f32], action: &mut [f32]) -> Result<(), PolicyError> {
        if obs.len() != self.model.obs_dim {
            return Err(PolicyError::ObsSize {
                got: obs.len(),
                want: self.model.obs_dim,
            });
        }
        let discrete = matches!(self.model.action, ActionSpec::Discrete { .. });
        let out = self.output(obs);
        if discrete {
            action[0] = argmax(out)? as f32;
        } else {
            let n = action.len().min(out.len());
            check_finite(&out[..n])?;
            action[..n].copy_from_slice(&out[..n]);
        }
        Ok(())
    }
}
