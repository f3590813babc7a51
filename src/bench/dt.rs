//! `ganglion bench dt`: the Decision Transformer's cost. Step latency of the
//! exported K-window model in tract (batch 1, one core) against onnxruntime
//! in process on the same file (`ort.rs`, 1 thread, every graph
//! optimisation), and training throughput of `nn`'s explicit
//! forward/backward in tokens/s against the same architecture and batch in
//! PyTorch (`benches/python/dt_torch.py`), all measured in the same run.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

use super::ort::{OrtInput, OrtSession, find_library};

use crate::nn::dt::model::DecisionTransformer;
use crate::nn::dt::{DtBatch, DtConfig};
use crate::nn::{Adam, clip_grad_norm};
use crate::policy::card::{CARD_FORMAT, DtCard, ModelCard};
use crate::policy::{ActionSpec, DtPolicy, Policy};
use crate::runtime::stats::quantile_sorted;
use crate::sim::Rng;

const STATE_DIM: usize = 10;
const ACT_DIM: usize = 2;

/// What `ganglion bench dt` measures.
pub struct DtBench<'a> {
    pub context: usize,
    pub embed: usize,
    pub layers: usize,
    /// Training batch.
    pub batch: usize,
    /// Timed training steps.
    pub steps: usize,
    /// Timed policy steps.
    pub iters: usize,
    pub python: Option<&'a Path>,
    /// `libonnxruntime.so` (default: the Python venv's wheel).
    pub ort_lib: Option<&'a Path>,
}

/// Steps timed in a row on one engine before the other takes its turn, so
/// both see the same machine load.
const BLOCK: usize = 100;
/// Episodes of 200 steps, as Reacher's: the window fills and slides.
const EPISODE: usize = 200;

pub fn run(bench: &DtBench<'_>) -> Result<Value> {
    let DtBench {
        context,
        embed,
        layers,
        batch,
        steps,
        iters,
        python,
        ..
    } = *bench;
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
    let mut ort = match find_library(bench.ort_lib, python) {
        Some(lib) => OrtWindow::open(&lib, &path, &cfg).map_err(|e| format!("{e:#}")),
        None => {
            Err("no libonnxruntime.so (run benches/python/setup_venv.sh or pass --ort-lib)".into())
        }
    };
    let latency = step_latency(&mut policy, ort.as_mut().ok(), iters)?;
    let _ = std::fs::remove_dir_all(&dir);
    let tract_us = latency.0;
    eprintln!(
        "tract DT step (K = {context}, E = {embed}, {layers} layers): median {:.0} µs, p99 {:.0} µs",
        tract_us["median_us"], tract_us["p99_us"]
    );
    let ort_json = match (&ort, latency.1) {
        (Ok(w), Some(v)) => {
            eprintln!(
                "onnxruntime {} DT step, same file: median {:.0} µs, p99 {:.0} µs",
                w.session.version, v["median_us"], v["p99_us"]
            );
            json!({"version": w.session.version, "median_us": v["median_us"], "p99_us": v["p99_us"],
                   "max_abs_diff": latency.2})
        }
        (Err(msg), _) => {
            eprintln!("onnxruntime DT step: skipped: {msg}");
            json!({"skipped": msg})
        }
        (Ok(_), None) => json!({"skipped": "not run"}),
    };
    let ratio = ort_json["median_us"]
        .as_f64()
        .and_then(|o| tract_us["median_us"].as_f64().map(|t| t / o));
    let latency = json!({
        "median_us": tract_us["median_us"],
        "p99_us": tract_us["p99_us"],
        "iters": iters,
        "target_median_us": 500,
        "onnxruntime": ort_json,
        "median_ratio_tract_over_onnxruntime": ratio,
    });

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

/// onnxruntime on the DT file, fed the window `DtPolicy` keeps (the same
/// sliding, padding, return-to-go and timestep rules), so both engines run
/// the same inputs.
struct OrtWindow {
    session: OrtSession,
    k: usize,
    state_dim: usize,
    act_dim: usize,
    max_timestep: usize,
    t: usize,
    rtg: f32,
}

const STATES: usize = 0;
const ACTIONS: usize = 1;
const RETURNS: usize = 2;
const TIMESTEPS: usize = 3;
const MASK: usize = 4;

impl OrtWindow {
    fn open(lib: &Path, model: &Path, cfg: &DtConfig) -> Result<Self> {
        let (k, sd, ad) = (cfg.context, cfg.state_dim, cfg.act_dim);
        let inputs = vec![
            OrtInput::f32(&[1, k, sd]),
            OrtInput::f32(&[1, k, ad]),
            OrtInput::f32(&[1, k, 1]),
            OrtInput::i64(&[1, k]),
            OrtInput::f32(&[1, k]),
        ];
        let session = OrtSession::open_with(lib, model, inputs, ad)?;
        Ok(OrtWindow {
            session,
            k,
            state_dim: sd,
            act_dim: ad,
            max_timestep: cfg.max_timestep,
            t: 0,
            rtg: 1.0,
        })
    }

    fn clear(&mut self) -> Result<()> {
        self.t = 0;
        self.rtg = 1.0;
        for i in [STATES, ACTIONS, RETURNS, MASK] {
            self.f32(i)?.fill(0.0);
        }
        self.session
            .i64_input(TIMESTEPS)
            .context("timesteps")?
            .fill(0);
        Ok(())
    }

    fn f32(&mut self, i: usize) -> Result<&mut [f32]> {
        self.session.f32_input(i).context("onnxruntime f32 input")
    }

    /// One step: slide, write the newest step, run, keep the action.
    fn step(&mut self, obs: &[f32], action: &mut [f32]) -> Result<()> {
        let (k, sd, ad) = (self.k, self.state_dim, self.act_dim);
        for (i, width) in [(STATES, sd), (ACTIONS, ad), (RETURNS, 1), (MASK, 1)] {
            self.f32(i)?.copy_within(width.., 0);
        }
        let ts = self.session.i64_input(TIMESTEPS).context("timesteps")?;
        ts.copy_within(1.., 0);
        ts[k - 1] = self.t.min(self.max_timestep - 1) as i64;
        self.f32(STATES)?[(k - 1) * sd..].copy_from_slice(obs);
        self.f32(ACTIONS)?[(k - 1) * ad..].fill(0.0);
        let rtg = self.rtg;
        self.f32(RETURNS)?[k - 1] = rtg;
        self.f32(MASK)?[k - 1] = 1.0;
        let out = self.session.run()?;
        let row = &out[out.len() - ad..];
        for (a, v) in action.iter_mut().zip(row) {
            *a = v.clamp(-1.0, 1.0);
        }
        self.f32(ACTIONS)?[(k - 1) * ad..].copy_from_slice(action);
        self.t += 1;
        Ok(())
    }
}

/// What the latency loop drives: `DtPolicy` and `OrtWindow` alike.
trait Engine {
    fn act(&mut self, obs: &[f32], action: &mut [f32]) -> Result<()>;
    fn reset(&mut self) -> Result<()>;
    fn observe_reward(&mut self, r: f32);
}

impl Engine for DtPolicy {
    fn act(&mut self, obs: &[f32], action: &mut [f32]) -> Result<()> {
        Ok(Policy::act(self, obs, action)?)
    }
    fn reset(&mut self) -> Result<()> {
        Policy::reset(self);
        Ok(())
    }
    fn observe_reward(&mut self, r: f32) {
        Policy::observe_reward(self, r);
    }
}

impl Engine for OrtWindow {
    fn act(&mut self, obs: &[f32], action: &mut [f32]) -> Result<()> {
        self.step(obs, action)
    }
    fn reset(&mut self) -> Result<()> {
        self.clear()
    }
    fn observe_reward(&mut self, r: f32) {
        self.rtg -= r;
    }
}

/// The synthetic observation of step `i`.
fn fill(obs: &mut [f32], i: usize) {
    for (j, o) in obs.iter_mut().enumerate() {
        *o = ((i * 7 + j) % 13) as f32 * 0.1 - 0.6;
    }
}

/// Step latency of tract (through `DtPolicy`, what the loop runs) and of
/// onnxruntime when given, in alternating blocks over the same episodes:
/// (tract summary, onnxruntime summary, largest action difference).
fn step_latency(
    policy: &mut DtPolicy,
    ort: Option<&mut OrtWindow>,
    iters: usize,
) -> Result<(Value, Option<Value>, f32)> {
    let with_ort = ort.is_some();
    let mut engines: Vec<&mut dyn Engine> = vec![policy];
    engines.extend(ort.map(|w| w as &mut dyn Engine));
    let mut obs = [0.0f32; STATE_DIM];
    let mut actions = [[0.0f32; ACT_DIM]; 2];
    // Same actions from both over a whole episode before timing anything.
    let mut max_diff = 0.0f32;
    if with_ort {
        for e in engines.iter_mut() {
            e.reset()?;
        }
        for i in 0..EPISODE {
            fill(&mut obs, i);
            for (e, a) in engines.iter_mut().zip(&mut actions) {
                e.act(&obs, a)?;
                e.observe_reward(-0.01);
            }
            for (a, b) in actions[0].iter().zip(&actions[1]) {
                max_diff = max_diff.max((a - b).abs());
            }
        }
        if max_diff > 1e-3 {
            bail!("onnxruntime and tract disagree on the DT's actions by {max_diff}");
        }
    }
    let mut times: Vec<Vec<f64>> = engines.iter().map(|_| Vec::with_capacity(iters)).collect();
    // 50 untimed warm-up steps, then `iters` timed ones, in blocks.
    let total = iters + 50;
    let mut done = 0;
    while done < total {
        let n = BLOCK.min(total - done);
        for (e, us) in engines.iter_mut().zip(&mut times) {
            for i in done..done + n {
                if i % EPISODE == 0 {
                    e.reset()?;
                }
                fill(&mut obs, i);
                let t = Instant::now();
                e.act(&obs, &mut actions[0])?;
                e.observe_reward(-0.01);
                if i >= 50 {
                    us.push(t.elapsed().as_secs_f64() * 1e6);
                }
            }
        }
        done += n;
    }
    let summary = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        json!({"median_us": quantile_sorted(&v, 0.5), "p99_us": quantile_sorted(&v, 0.99)})
    };
    let mut times = times.into_iter().map(summary);
    let tract = times.next().unwrap_or(Value::Null);
    Ok((tract, times.next(), max_diff))
}
