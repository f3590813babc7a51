//! GPU training benchmark (`cargo bench --features cuda --bench gpu_bench`):
//! Decision Transformer training tokens/s on the GPU (FP32 and TF32 products)
//! and on ganglion's CPU path, at the gym configuration (K = 20, 128-d,
//! 3 layers, 1 head, batch 64) and a 10× batch; PPO update time per
//! iteration on the GPU and the CPU. Prints one JSON object (the PyTorch side
//! is `benches/gpu/dt_torch_gpu.py`; `benches/gpu/run.sh` runs both).
//!
//! Flags: `--quick` (fewer steps), `--out FILE` (also write the JSON there).

use std::time::Instant;

use ganglion::learn::actor_critic::ActorCritic;
use ganglion::learn::dist::categorical;
use ganglion::learn::ppo::{PpoConfig, RolloutView};
use ganglion::nn::cuda::Gpu;
use ganglion::nn::cuda::dt::DtCuda;
use ganglion::nn::cuda::ppo::PpoCuda;
use ganglion::nn::dt::model::DecisionTransformer;
use ganglion::nn::dt::{DtBatch, DtConfig};
use ganglion::nn::{Activation, Adam, MlpCache, clip_grad_norm};
use ganglion::policy::ActionSpec;
use ganglion::sim::Rng;
use serde_json::{Value, json};

type R<T> = Result<T, Box<dyn std::error::Error>>;

fn dt_cfg() -> DtConfig {
    DtConfig {
        context: 20,
        embed: 128,
        layers: 3,
        heads: 1,
        dropout: 0.1,
        ..DtConfig::new(10, 2, false)
    }
}

fn synthetic_batch(cfg: &DtConfig, batch: usize, rng: &mut Rng) -> DtBatch {
    let mut b = DtBatch::for_config(cfg, batch);
    for v in b.states.iter_mut() {
        *v = rng.normal();
    }
    for (a, t) in b.actions.iter_mut().zip(b.target.iter_mut()) {
        *a = rng.uniform(-1.0, 1.0);
        *t = *a;
    }
    for (i, v) in b.returns_to_go.iter_mut().enumerate() {
        *v = rng.next_f32();
        b.timesteps[i] = rng.below(1000);
        b.mask[i] = 1.0;
    }
    b
}

fn dt_gpu(batch: usize, steps: usize, tf32: bool) -> R<Value> {
    let cfg = dt_cfg();
    let mut rng = Rng::new(0);
    let model = DecisionTransformer::new(cfg.clone(), &mut rng)?;
    let mut gpu = Gpu::new(0)?;
    gpu.set_tf32(tf32)?;
    let name = gpu.name.clone();
    let mut dev = DtCuda::new(gpu, &model, batch, steps.max(8))?;
    dev.opt.weight_decay = 1e-4;
    let b = synthetic_batch(&cfg, batch, &mut rng);
    let step = |dev: &mut DtCuda, slot: usize, rng: &mut Rng| -> R<()> {
        dev.zero_grads()?;
        dev.loss_and_backward(&b, rng, slot)?;
        dev.clip_and_step(1e-4, 0.25)?;
        Ok(())
    };
    for s in 0..5 {
        step(&mut dev, s, &mut rng)?;
    }
    dev.read_losses(1)?;
    let t = Instant::now();
    for s in 0..steps {
        step(&mut dev, s, &mut rng)?;
    }
    let losses = dev.read_losses(steps)?; // waits for the device
    let secs = t.elapsed().as_secs_f64();
    let tokens = (steps * batch * 3 * cfg.context) as f64;
    eprintln!(
        "GPU DT batch {batch} ({}): {:.0} tokens/s, {:.2} ms/step",
        if tf32 { "TF32" } else { "FP32" },
        tokens / secs,
        secs * 1e3 / steps as f64
    );
    Ok(
        json!({"device": name, "batch": batch, "tf32": tf32, "steps": steps, "seconds": secs,
              "tokens_per_s": tokens / secs, "ms_per_step": secs * 1e3 / steps as f64,
              "final_loss": losses.last().copied()}),
    )
}

fn dt_cpu(batch: usize, steps: usize) -> R<Value> {
    let cfg = dt_cfg();
    let mut rng = Rng::new(0);
    let mut model = DecisionTransformer::new(cfg.clone(), &mut rng)?;
    let b = synthetic_batch(&cfg, batch, &mut rng);
    let mut opt = Adam::new(model.num_params());
    opt.weight_decay = 1e-4;
    let mut cache = model.new_cache();
    let mut step = |model: &mut DecisionTransformer, rng: &mut Rng| -> R<()> {
        model.zero_grads();
        model.loss_and_backward(&b, &mut cache, rng)?;
        clip_grad_norm(&mut model.grads, 0.25);
        let DecisionTransformer { params, grads, .. } = model;
        opt.update(params, grads, 1e-4);
        Ok(())
    };
    step(&mut model, &mut rng)?;
    let t = Instant::now();
    for _ in 0..steps {
        step(&mut model, &mut rng)?;
    }
    let secs = t.elapsed().as_secs_f64();
    let tokens = (steps * batch * 3 * cfg.context) as f64;
    eprintln!("CPU DT batch {batch}: {:.0} tokens/s", tokens / secs);
    Ok(
        json!({"device": "cpu (ganglion nn, one thread)", "batch": batch, "steps": steps,
              "seconds": secs, "tokens_per_s": tokens / secs}),
    )
}

/// A synthetic CartPole-shaped rollout: obs, actions, logp, advantages, returns.
struct Rollout {
    obs: Vec<f32>,
    act: Vec<f32>,
    logp: Vec<f32>,
    adv: Vec<f32>,
    ret: Vec<f32>,
    order: Vec<usize>,
}

fn rollout(od: usize, n: usize, epochs: usize, rng: &mut Rng) -> Rollout {
    let mut order = Vec::with_capacity(n * epochs);
    let mut idx: Vec<usize> = (0..n).collect();
    for _ in 0..epochs {
        rng.shuffle(&mut idx);
        order.extend_from_slice(&idx);
    }
    Rollout {
        obs: (0..n * od).map(|_| rng.normal()).collect(),
        act: (0..n).map(|_| rng.below(2) as f32).collect(),
        logp: (0..n).map(|_| -std::f32::consts::LN_2).collect(),
        adv: (0..n).map(|_| rng.normal()).collect(),
        ret: (0..n).map(|_| rng.normal()).collect(),
        order,
    }
}

/// The CPU side of the same update (as `ppo::train_on` does it inline).
fn ppo_cpu_update(cfg: &PpoConfig, model: &mut ActorCritic, r: &Rollout, mb: usize) {
    let (od, n) = (model.obs_dim, r.logp.len());
    let mut opt = Adam::new(model.num_params()).with_eps(1e-5);
    let (mut ac, mut cc) = (MlpCache::default(), MlpCache::default());
    let mut x = vec![0.0f32; mb * od];
    let mut dh = vec![0.0f32; mb * 2];
    let mut dv = vec![0.0f32; mb];
    for epoch in r.order.chunks(n) {
        for batch in epoch.chunks(mb) {
            let k = batch.len();
            for (j, &i) in batch.iter().enumerate() {
                x[j * od..(j + 1) * od].copy_from_slice(&r.obs[i * od..(i + 1) * od]);
            }
            model.grads.fill(0.0);
            dh.fill(0.0);
            let inv = 1.0 / k as f32;
            let out = model.actor.forward(&model.params, &x, k, &mut ac).to_vec();
            for (j, &i) in batch.iter().enumerate() {
                let o = &out[j * 2..j * 2 + 2];
                let a = r.act[i] as usize;
                let lp = categorical::logp_entropy(o, a).0;
                let ratio = (lp - r.logp[i]).exp();
                let c = if ratio * r.adv[i] <= ratio.clamp(0.8, 1.2) * r.adv[i] {
                    -r.adv[i] * ratio * inv
                } else {
                    0.0
                };
                categorical::backward(o, a, c, 0.0, &mut dh[j * 2..j * 2 + 2]);
            }
            model
                .actor
                .backward(&model.params, &dh[..k * 2], k, &mut ac, &mut model.grads);
            let v = model.critic.forward(&model.params, &x, k, &mut cc).to_vec();
            for (j, &i) in batch.iter().enumerate() {
                dv[j] = cfg.vf_coef * 2.0 * (v[j] - r.ret[i]) * inv;
            }
            model
                .critic
                .backward(&model.params, &dv[..k], k, &mut cc, &mut model.grads);
            clip_grad_norm(&mut model.grads, cfg.max_grad_norm);
            let ActorCritic { params, grads, .. } = model;
            opt.update(params, grads, 1e-3);
        }
    }
}

fn ppo(name: &str, hidden: &[usize], n: usize, mb: usize, epochs: usize, iters: usize) -> R<Value> {
    let cfg = PpoConfig {
        hidden: hidden.to_vec(),
        batch_size: mb,
        n_epochs: epochs,
        ..Default::default()
    };
    let mut rng = Rng::new(1);
    let act = ActionSpec::Discrete { n: 2 };
    let mut model = ActorCritic::new(4, act, hidden, Activation::Tanh, 0.0, &mut rng);
    let r = rollout(4, n, epochs, &mut rng);
    let view = RolloutView {
        obs: &r.obs,
        actions: &r.act,
        logp: &r.logp,
        adv: &r.adv,
        ret: &r.ret,
        order: &r.order,
        minibatch: mb,
        lr: 1e-3,
        clip: 0.2,
    };
    let mut dev = PpoCuda::new(Gpu::new(0)?, &model, n, mb, epochs)?;
    dev.run(&cfg, &view)?;
    dev.params_to_host(&mut model.params)?;
    let t = Instant::now();
    for _ in 0..iters {
        dev.run(&cfg, &view)?;
        dev.params_to_host(&mut model.params)?; // what the trainer does
    }
    let gpu_ms = t.elapsed().as_secs_f64() * 1e3 / iters as f64;
    let t = Instant::now();
    let cpu_iters = iters.clamp(1, 3);
    for _ in 0..cpu_iters {
        ppo_cpu_update(&cfg, &mut model, &r, mb);
    }
    let cpu_ms = t.elapsed().as_secs_f64() * 1e3 / cpu_iters as f64;
    eprintln!("PPO update {name}: GPU {gpu_ms:.2} ms, CPU {cpu_ms:.2} ms per iteration");
    Ok(
        json!({"config": name, "hidden": hidden, "rollout": n, "minibatch": mb, "epochs": epochs,
              "gpu_ms_per_update": gpu_ms, "cpu_ms_per_update": cpu_ms,
              "cpu_over_gpu": cpu_ms / gpu_ms}),
    )
}

fn main() -> R<()> {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let out = args
        .iter()
        .position(|a| a == "--out")
        .and_then(|i| args.get(i + 1).cloned());
    if let Err(e) = Gpu::new(0) {
        let v = json!({"bench": "gpu", "skipped": e.to_string()});
        println!("{v}");
        eprintln!("SKIPPED: {e}");
        return Ok(());
    }
    let (s64, s640) = if quick { (30, 10) } else { (200, 60) };
    let mut dt = Vec::new();
    for (batch, steps, cpu_steps) in [(64, s64, 3), (640, s640, 1)] {
        dt.push(json!({
            "batch": batch,
            "gpu_fp32": dt_gpu(batch, steps, false)?,
            "gpu_tf32": dt_gpu(batch, steps, true)?,
            "cpu": dt_cpu(batch, cpu_steps)?,
        }));
    }
    let ppo_runs = vec![
        ppo(
            "cartpole preset (8×32 rollout)",
            &[64, 64],
            256,
            256,
            20,
            20,
        )?,
        ppo(
            "large (256×256, 8192 rollout)",
            &[256, 256],
            8192,
            1024,
            10,
            5,
        )?,
    ];
    let v = json!({"bench": "gpu", "dt": {"config": {"context": 20, "embed": 128, "layers": 3,
                   "heads": 1, "state_dim": 10, "act_dim": 2, "dropout": 0.1}, "runs": dt},
                   "ppo_update": ppo_runs});
    println!("{v}");
    if let Some(path) = out {
        std::fs::write(&path, serde_json::to_string_pretty(&v)?)?;
    }
    Ok(())
}
