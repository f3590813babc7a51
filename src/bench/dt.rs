//! `ganglion bench dt`: the Decision Transformer's cost. Step latency of the
//! exported K-window model in tract (batch 1, one core), and training
//! throughput of `nn`'s explicit forward/backward in tokens/s, against the
//! same architecture and batch in PyTorch (`benches/python/dt_torch.py`),
//! measured in the same run.

use std::path::Path;
use std::time::Instant;

use anyhow::{Result, anyhow};
use serde_json::{Value, json};

use crate::nn::dt::model::DecisionTransformer;
use crate::nn::dt::{DtBatch, DtConfig};
use crate::nn::{Adam, clip_grad_norm};
use crate::policy::card::{CARD_FORMAT, DtCard, ModelCard};
use crate::policy::{ActionSpec, DtPolicy, Policy};
use crate::runtime::stats::quantile_sorted;
use crate::sim::Rng;

const STATE_DIM: usize = 10;
const ACT_DIM: usize = 2;

pub fn run(
    context: usize,
    embed: usize,
    layers: usize,
    batch: usize,
    steps: usize,
    iters: usize,
    python: Option<&Path>,
) -> Result<Value> {
    let cfg = DtConfig {
        context,
        embed,
        layers,
        heads: 1,
        ..DtConfig::new(STATE_DIM, ACT_DIM, false)
    };
    let mut rng = Rng::new(0);
    let mut model = DecisionTransformer::new(cfg.clone(), &mut rng).map_err(|e| anyhow!("{e}"))?;

    // Latency: the exported model through DtPolicy (what the loop runs).
    let dir = std::env::temp_dir().join(format!("ganglion-bench-dt-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("dt.onnx");
    crate::nn::dt::export::export_dt(&model, &path, &[])?;
    let card = ModelCard {
        format: CARD_FORMAT.into(),
        name: "bench".into(),
        kind: "decision-transformer".into(),
        env: "synthetic".into(),
        algo: "dt".into(),
        seed: 0,
        ganglion_version: env!("CARGO_PKG_VERSION").into(),
        command: String::new(),
        sha256: String::new(),
        obs_dim: STATE_DIM,
        action: ActionSpec::Continuous { dim: ACT_DIM },
        critic: None,
        training: toml::Table::new(),
        eval: None,
        dt: Some(DtCard {
            context,
            rtg_scale: 1.0,
            max_timestep: cfg.max_timestep,
            state_mean: vec![0.0; STATE_DIM],
            state_std: vec![1.0; STATE_DIM],
            default_target: 1.0,
            target_returns: vec![],
            achieved_returns: vec![],
            dataset_return_min: 0.0,
            dataset_return_mean: 0.0,
            dataset_return_max: 0.0,
            dataset_returns: vec![],
        }),
    };
    let mut policy = DtPolicy::load(&path, &card, Some(1.0))?;
    let _ = std::fs::remove_dir_all(&dir);
    let mut obs = [0.0f32; STATE_DIM];
    let mut action = [0.0f32; ACT_DIM];
    let mut samples = Vec::with_capacity(iters);
    for i in 0..(iters + 50) {
        // Episodes of 200 steps, as Reacher's: the window fills and slides.
        if i % 200 == 0 {
            policy.reset();
        }
        for (j, o) in obs.iter_mut().enumerate() {
            *o = ((i * 7 + j) % 13) as f32 * 0.1 - 0.6;
        }
        let t = Instant::now();
        policy.act(&obs, &mut action)?;
        policy.observe_reward(-0.01);
        if i >= 50 {
            samples.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    samples.sort_by(f64::total_cmp);
    let latency = json!({
        "median_us": quantile_sorted(&samples, 0.5),
        "p99_us": quantile_sorted(&samples, 0.99),
        "iters": iters,
        "target_median_us": 1000,
    });
    eprintln!(
        "tract DT step (K = {context}, E = {embed}, {layers} layers): median {:.0} µs, p99 {:.0} µs",
        quantile_sorted(&samples, 0.5),
        quantile_sorted(&samples, 0.99)
    );

    // Training throughput on synthetic batches (generated once).
    let mut b = DtBatch::for_config(&cfg, batch);
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
    let mut opt = Adam::new(model.num_params());
    opt.weight_decay = 1e-4;
    let mut cache = model.new_cache();
    let mut step = |model: &mut DecisionTransformer, rng: &mut Rng| -> Result<()> {
        model.zero_grads();
        model
            .loss_and_backward(&b, &mut cache, rng)
            .map_err(|e| anyhow!("{e}"))?;
        clip_grad_norm(&mut model.grads, 0.25);
        let DecisionTransformer { params, grads, .. } = model;
        opt.update(params, grads, 1e-4);
        Ok(())
    };
    for _ in 0..3 {
        step(&mut model, &mut rng)?;
    }
    let t = Instant::now();
    for _ in 0..steps {
        step(&mut model, &mut rng)?;
    }
    let secs = t.elapsed().as_secs_f64();
    let tokens = (steps * batch * 3 * context) as f64;
    let ours = json!({
        "framework": "ganglion",
        "threads": 1,
        "params": model.num_params(),
        "steps": steps,
        "seconds": secs,
        "tokens_per_s": tokens / secs,
        "ms_per_step": secs * 1000.0 / steps as f64,
    });
    eprintln!(
        "ganglion DT training: {:.0} tokens/s ({:.1} ms/step, batch {batch})",
        tokens / secs,
        secs * 1000.0 / steps as f64
    );
    let mut torch = Vec::new();
    if let Some(py) = python {
        for threads in [1, 2] {
            let r = super::python_json(
                py,
                "benches/python/dt_torch.py",
                &[
                    "--state-dim".into(),
                    STATE_DIM.to_string(),
                    "--act-dim".into(),
                    ACT_DIM.to_string(),
                    "--context".into(),
                    context.to_string(),
                    "--embed".into(),
                    embed.to_string(),
                    "--layers".into(),
                    layers.to_string(),
                    "--batch".into(),
                    batch.to_string(),
                    "--steps".into(),
                    steps.to_string(),
                    "--threads".into(),
                    threads.to_string(),
                    // The same arithmetic as ours: the last block runs its
                    // MLP on the state tokens only (all the head reads).
                    "--prune-last".into(),
                    "--json".into(),
                ],
            )?;
            eprintln!(
                "PyTorch DT training, {threads} thread(s): {:.0} tokens/s",
                r["tokens_per_s"].as_f64().unwrap_or(f64::NAN)
            );
            torch.push(r);
        }
    }
    let ratios: Vec<Value> = torch
        .iter()
        .map(|r| {
            json!({
                "threads": r["threads"],
                "ganglion_over_pytorch": r["tokens_per_s"].as_f64().map(|t| (tokens / secs) / t),
            })
        })
        .collect();
    Ok(json!({
        "bench": "dt",
        "config": {"context": context, "embed": embed, "layers": layers, "heads": 1, "batch": batch,
                   "state_dim": STATE_DIM, "act_dim": ACT_DIM},
        "tract_step_latency": latency,
        "training": ours,
        "pytorch": if torch.is_empty() { json!({"skipped": "no Python baseline environment (run benches/python/setup_venv.sh)"}) } else { json!(torch) },
        "throughput_ratio": ratios,
    }))
}
