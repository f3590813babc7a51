//! The GPU Decision Transformer and PPO update against the CPU path with the
//! same seed, then training runs on `--device cuda` held to the CPU tests'
//! acceptance thresholds. Needs a CUDA driver and GPU; without one each test
//! prints why and skips.
//!
//! Tolerance: with dropout off the GPU runs the CPU's arithmetic in another
//! summation order (~1e-6 relative per op). After a few dozen ops and a few
//! AdamW steps (whose first steps move each weight by ≈ lr whatever the
//! gradient's size) that stays below 1e-3 relative on losses and gradients and
//! 1e-4 absolute on parameters; a wrong op is off by O(1).
#![cfg(feature = "cuda")]

use ganglion::learn::dataset::{Dataset, Trajectory};
use ganglion::learn::dt_train::{DtTrainConfig, train_dt, train_dt_on};
use ganglion::learn::ppo::{PpoUpdater, train_on};
use ganglion::learn::{PpoConfig, train};
use ganglion::nn::cuda::dt::DtCuda;
use ganglion::nn::cuda::ppo::PpoCudaUpdater;
use ganglion::nn::device::Resolved;
use ganglion::nn::dt::model::DecisionTransformer;
use ganglion::nn::dt::{DtBatch, DtConfig};
use ganglion::nn::{Adam, clip_grad_norm};
use ganglion::sim::{Rng, VecEnv, make_env};

use super::parity::gpu_or_skip;

fn max_rel(a: &[f32], b: &[f32]) -> f32 {
    let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
    a.iter()
        .zip(b)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs() / scale))
}

fn batch_for(cfg: &DtConfig, n: usize, rng: &mut Rng) -> DtBatch {
    let mut b = DtBatch::for_config(cfg, n);
    let k = cfg.context;
    for s in 0..n {
        let pad = s % 3;
        for t in pad..k {
            let row = s * k + t;
            for v in &mut b.states[row * cfg.state_dim..(row + 1) * cfg.state_dim] {
                *v = rng.normal();
            }
            b.returns_to_go[row] = rng.next_f32();
            b.timesteps[row] = rng.below(cfg.max_timestep + 3); // some clamped
            b.mask[row] = 1.0;
            if cfg.discrete {
                let a = rng.below(cfg.act_dim);
                b.actions[row * cfg.act_dim + a] = 1.0;
                b.target[row] = a as f32;
            } else {
                for i in 0..cfg.act_dim {
                    let v = rng.uniform(-1.0, 1.0);
                    b.actions[row * cfg.act_dim + i] = v;
                    b.target[row * cfg.act_dim + i] = v;
                }
            }
        }
    }
    b
}

#[test]
fn dt_matches_the_cpu_model_step_for_step() {
    for discrete in [false, true] {
        let Some(gpu) = gpu_or_skip("dt_matches_the_cpu_model_step_for_step") else {
            return;
        };
        let cfg = DtConfig {
            context: 5,
            embed: 32,
            layers: 2,
            heads: 2,
            max_timestep: 12,
            dropout: 0.0,
            ..DtConfig::new(3, if discrete { 3 } else { 2 }, discrete)
        };
        let mut rng = Rng::new(11);
        let mut model = DecisionTransformer::new(cfg.clone(), &mut rng).unwrap();
        let mut dev = DtCuda::new(gpu, &model, 6, 8).unwrap();
        let batch = batch_for(&cfg, 6, &mut rng);
        let mut cache = model.new_cache();
        let preds = model
            .forward(&batch, &mut cache, false, &mut Rng::new(0))
            .unwrap()
            .to_vec();
        let gpreds = dev.forward(&batch).unwrap();
        assert!(max_rel(&gpreds, &preds) < 1e-4, "predictions ({discrete})");

        let mut opt = Adam::new(model.num_params());
        opt.weight_decay = 1e-4;
        dev.opt.weight_decay = 1e-4;
        let mut cpu_losses = Vec::new();
        for step in 0..5 {
            let b = batch_for(&cfg, 6, &mut rng);
            model.zero_grads();
            cpu_losses.push(model.loss_and_backward(&b, &mut cache, &mut rng).unwrap());
            dev.zero_grads().unwrap();
            dev.loss_and_backward(&b, &mut rng, step).unwrap();
            if step == 0 {
                let g = dev.grads_to_host().unwrap();
                let r = max_rel(&g, &model.grads);
                assert!(r < 1e-3, "gradients ({discrete}): {r}");
            }
            clip_grad_norm(&mut model.grads, 0.25);
            let DecisionTransformer { params, grads, .. } = &mut model;
            opt.update(params, grads, 1e-3);
            dev.clip_and_step(1e-3, 0.25).unwrap();
        }
        let losses = dev.read_losses(5).unwrap();
        assert!(
            max_rel(&losses, &cpu_losses) < 1e-3,
            "{losses:?} vs {cpu_losses:?}"
        );
        let mut p = vec![0.0; model.num_params()];
        dev.params_to_host(&mut p).unwrap();
        let worst = p
            .iter()
            .zip(&model.params)
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            worst < 1e-4,
            "parameters after 5 AdamW steps ({discrete}): {worst}"
        );
    }
}

/// Episodes whose actions are a fixed smooth function of the state.
fn synthetic_dataset(seed: u64, episodes: usize, len: usize, od: usize, ad: usize) -> Dataset {
    let mut rng = Rng::new(seed);
    let trajectories = (0..episodes)
        .map(|_| {
            let obs: Vec<f32> = (0..len * od).map(|_| rng.normal()).collect();
            let actions = obs
                .chunks_exact(od)
                .flat_map(|o| (0..ad).map(move |i| (0.7 * o[i] - 0.3 * o[od - 1 - i]).tanh()))
                .collect();
            let rewards = (0..len).map(|_| rng.next_f32()).collect();
            Trajectory {
                obs,
                actions,
                rewards,
                terminated: true,
                source: "synthetic".into(),
            }
        })
        .collect();
    Dataset {
        obs_dim: od,
        action_dim: ad,
        trajectories,
    }
}

#[test]
fn dt_training_on_cuda_follows_the_cpu_loss_curve() {
    if gpu_or_skip("dt_training_on_cuda_follows_the_cpu_loss_curve").is_none() {
        return;
    }
    // A synthetic dataset: actions are a fixed function of the state.
    let ds = synthetic_dataset(7, 40, 60, 4, 2);
    let action = ganglion::policy::ActionSpec::Continuous { dim: 2 };
    let cfg = DtTrainConfig {
        context: 8,
        embed: 32,
        layers: 2,
        heads: 2,
        dropout: 0.0,
        batch_size: 16,
        steps: 120,
        learning_rate: 1e-3,
        warmup_steps: 10,
        ..Default::default()
    };
    let cpu = train_dt(&cfg, &ds, &action, 5, |_, _| {}).unwrap();
    let gpu = train_dt_on(&cfg, &ds, &action, 5, Resolved::Cuda, |_, _| {}).unwrap();
    assert_eq!(cpu.losses.len(), gpu.losses.len());
    for ((s, a), (_, b)) in cpu.losses.iter().zip(&gpu.losses) {
        assert!(
            (a - b).abs() <= 2e-3 * a.abs().max(1e-2),
            "step {s}: cpu {a} gpu {b}"
        );
    }
    let last = |l: &[(usize, f32)]| l[l.len() - 10..].iter().map(|x| x.1).sum::<f32>() / 10.0;
    assert!(
        last(&gpu.losses) < 0.5 * gpu.losses[0].1,
        "the GPU run learned"
    );
}

fn ppo_cfg(steps: usize) -> PpoConfig {
    PpoConfig {
        total_timesteps: steps,
        eval_every: steps,
        eval_episodes: 20,
        threads: 2,
        ..Default::default()
    }
}

#[test]
fn ppo_update_on_cuda_matches_the_cpu_update() {
    let Some(gpu) = gpu_or_skip("ppo_update_on_cuda_matches_the_cpu_update") else {
        return;
    };
    // One iteration (256 steps, 20 epochs of one minibatch): same rollout,
    // same shuffles, 20 Adam steps each side.
    let cfg = PpoConfig {
        eval_every: 0,
        ..ppo_cfg(256)
    };
    let run = |up: Option<&mut dyn PpoUpdater>| {
        let mut venv = VecEnv::new(|| make_env("cartpole").unwrap(), cfg.n_envs, 2, 3);
        let mut eval_env = make_env("cartpole").unwrap();
        train_on(&cfg, &mut venv, eval_env.as_mut(), 3, up, |_| {}).unwrap()
    };
    let cpu = run(None);
    let mut up = PpoCudaUpdater::new(gpu);
    let dev = run(Some(&mut up));
    let worst = cpu
        .model
        .params
        .iter()
        .zip(&dev.model.params)
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(
        worst < 1e-4,
        "parameters after one PPO iteration differ by {worst}"
    );
}

/// The acceptance threshold of tests/learning/ppo_learns.rs, on the GPU.
#[test]
fn ppo_on_cuda_learns_cartpole() {
    let Some(gpu) = gpu_or_skip("ppo_on_cuda_learns_cartpole") else {
        return;
    };
    let cfg = ppo_cfg(24_576);
    let mut venv = VecEnv::new(|| make_env("cartpole").unwrap(), cfg.n_envs, cfg.threads, 3);
    let mut eval_env = make_env("cartpole").unwrap();
    let mut up = PpoCudaUpdater::new(gpu);
    let out = train_on(&cfg, &mut venv, eval_env.as_mut(), 3, Some(&mut up), |_| {}).unwrap();
    let eval = out.best_eval.expect("evaluated at the end");
    assert!(
        eval.mean_return >= 150.0,
        "eval mean return {}",
        eval.mean_return
    );
    // And the CPU run with this seed, for the record.
    let mut venv = VecEnv::new(|| make_env("cartpole").unwrap(), cfg.n_envs, cfg.threads, 3);
    let cpu = train(&cfg, &mut venv, eval_env.as_mut(), 3, |_| {});
    eprintln!(
        "PPO CartPole eval: GPU {:.1}, CPU {:.1}",
        eval.mean_return,
        cpu.best_eval.map(|e| e.mean_return).unwrap_or(f64::NAN)
    );
}
