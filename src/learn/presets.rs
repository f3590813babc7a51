//! PPO hyperparameter presets per environment: what `ganglion train <env>`
//! starts from before command-line overrides. Each preset is the setting the
//! shipped model of that env was trained with.

use super::ppo::PpoConfig;
use crate::nn::LinearSchedule;

/// The PPO preset for an environment (the RL-Zoo CartPole settings, i.e.
/// `PpoConfig::default()`, for any env without a preset of its own).
pub fn ppo_preset(env: &str) -> PpoConfig {
    match env {
        "reacher" => reacher(),
        // CartPole: the defaults, which `models/cartpole-ppo.onnx` was
        // trained with and must keep reproducing byte for byte.
        _ => PpoConfig::default(),
    }
}

/// Reacher: started from RL-Zoo's Reacher-v2 PPO settings (8 envs × 512
/// steps, γ = 0.9, clip 0.3, no entropy bonus, grad-norm 0.5), tuned to learn
/// on two CPU cores in minutes: see the model card of `models/reacher-ppo.onnx`
/// for the measured curve.
fn reacher() -> PpoConfig {
    PpoConfig {
        n_envs: 8,
        n_steps: 512,
        batch_size: 64,
        n_epochs: 10,
        gamma: 0.9,
        gae_lambda: 0.9,
        learning_rate: LinearSchedule {
            start: 1e-4,
            end: 0.0,
        },
        clip_range: LinearSchedule::constant(0.3),
        ent_coef: 0.0,
        vf_coef: 0.5,
        max_grad_norm: 0.5,
        normalize_advantage: true,
        total_timesteps: 1_000_000,
        eval_every: 32_768,
        eval_episodes: 20,
        ..PpoConfig::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cartpole_preset_is_the_default() {
        let a = toml::Value::try_from(ppo_preset("cartpole")).ok();
        let b = toml::Value::try_from(PpoConfig::default()).ok();
        assert!(a.is_some() && a == b);
    }

    #[test]
    fn reacher_preset_differs() {
        let r = ppo_preset("reacher");
        assert_eq!(r.n_steps, 512);
        assert!(r.total_timesteps > PpoConfig::default().total_timesteps);
    }
}
