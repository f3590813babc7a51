//! A short fixed-seed PPO run on rapier CartPole must learn.
//!
//! Threshold: a uniformly random policy averages ~22 steps per episode on
//! CartPole. 24,576 env steps (96 iterations of the RL-Zoo settings) is a
//! quarter of the Zoo budget; the deterministic policy must then average ≥ 150
//! over 20 evaluation episodes — 7× random, which no policy that failed to learn
//! reaches, yet short of full solving so the test stays fast.

use ganglion::learn::{PpoConfig, train};
use ganglion::sim::{VecEnv, make_env};

#[test]
fn ppo_improves_cartpole_return() {
    let cfg = PpoConfig {
        total_timesteps: 24_576,
        eval_every: 24_576,
        eval_episodes: 20,
        threads: 2,
        ..Default::default()
    };
    let mut venv = VecEnv::new(|| make_env("cartpole").unwrap(), cfg.n_envs, cfg.threads, 3);
    let mut eval_env = make_env("cartpole").unwrap();
    let out = train(&cfg, &mut venv, eval_env.as_mut(), 3, |_| {});
    let eval = out.best_eval.expect("evaluated at the end");
    let first = out
        .curve
        .points
        .iter()
        .find_map(|p| p.train_mean_return)
        .unwrap();
    assert!(
        first < 60.0,
        "the first episodes should look random: {first}"
    );
    assert!(
        eval.mean_return >= 150.0,
        "eval mean return {}",
        eval.mean_return
    );
}
