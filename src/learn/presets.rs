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
        "arm-reach" => arm_reach(),
        e if e.starts_with("reach:") => urdf_reach(),
        // CartPole: the defaults, which `models/cartpole-ppo.onnx` was
        // trained with and must keep reproducing byte for byte.
        _ => PpoConfig::default(),
    }
}

/// The A2C preset for an environment: RL-Zoo's CartPole-v1 A2C (8 envs,
/// 500k steps, no entropy bonus) on Stable-Baselines3's A2C defaults (5
/// steps per env per update, γ 0.99, λ 1, lr 7e-4 constant, value
/// coefficient 0.5, grad-norm 0.5, RMSprop α 0.99 ε 1e-5, advantages not
/// normalised), run by the PPO trainer with one epoch over the whole rollout
/// (see `ppo.rs`). Other envs start from the same settings.
pub fn a2c_preset(_env: &str) -> PpoConfig {
    let n_envs = 8;
    let n_steps = 5;
    PpoConfig {
        n_envs,
        n_steps,
        batch_size: n_envs * n_steps,
        n_epochs: 1,
        gamma: 0.99,
        gae_lambda: 1.0,
        learning_rate: LinearSchedule::constant(7e-4),
        clip_range: LinearSchedule::constant(0.2),
        ent_coef: 0.0,
        vf_coef: 0.5,
        max_grad_norm: 0.5,
        normalize_advantage: false,
        total_timesteps: 500_000,
        optimizer: crate::nn::OptimizerKind::Rmsprop,
        ..PpoConfig::default()
    }
}

/// Reacher: RL-Zoo's Reacher-v2 PPO settings (8 envs × 512 steps, batch
/// 64, 10 epochs, clip 0.3, no entropy bonus, grad-norm 0.5) with a longer
/// horizon and more capacity, which is what made them work here. Seed 1, 1M
/// steps, ~95 s on two cores, greedy policy over 100 episodes (`ganglion
/// eval`, seed 0):
///
/// | change from RL-Zoo (lr 1e-4, γ 0.9, λ 0.9, 64×64) | mean return |
/// |---------------------------------------------------|-------------|
/// | none                                              | −17.2       |
/// | lr 3e-4                                           | −15.8       |
/// | γ 0.99, λ 0.95                                    | −14.0       |
/// | γ 0.99, λ 0.95, lr 3e-4                           | −11.7       |
/// | γ 0.99, λ 0.95, lr 3e-4, 128×128 (this preset)    | −8.7        |
///
/// For reference: zero torque −47.5, uniform random actions −59.6, the
/// Jacobian-transpose controller −11.5. γ = 0.9 looks 10 steps (0.2 s)
/// ahead, too short for targets behind the arm, which take ~0.7 s to reach:
/// those were the episodes it failed.
fn reacher() -> PpoConfig {
    PpoConfig {
        n_envs: 8,
        n_steps: 512,
        batch_size: 64,
        n_epochs: 10,
        gamma: 0.99,
        gae_lambda: 0.95,
        learning_rate: LinearSchedule {
            start: 3e-4,
            end: 0.0,
        },
        clip_range: LinearSchedule::constant(0.3),
        ent_coef: 0.0,
        vf_coef: 0.5,
        max_grad_norm: 0.5,
        normalize_advantage: true,
        total_timesteps: 1_000_000,
        hidden: vec![128, 128],
        eval_every: 32_768,
        eval_episodes: 20,
        ..PpoConfig::default()
    }
}

/// The tabletop arm's reaching policy: the Reacher preset with a shorter
/// horizon (γ 0.98: episodes are 75 steps, targets take ~1 s to reach).
fn arm_reach() -> PpoConfig {
    PpoConfig {
        gamma: 0.98,
        total_timesteps: 1_000_000,
        ..reacher()
    }
}

/// `reach:FILE` (a URDF arm, e.g. the six-joint `robots/arm6.urdf`): the
/// `arm-reach` settings with four times the steps. On arm6: 2M steps
/// (before the base turned without end and the ready pose) 47.5% of
/// targets within 1 cm; 4M steps 93.4% (median 2.0 mm); 8M steps with
/// 6-s episodes collapsed after 0.8M steps (35%).
fn urdf_reach() -> PpoConfig {
    PpoConfig {
        total_timesteps: 4_000_000,
        ..arm_reach()
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
