//! Finite-difference gradient checks for the Decision Transformer's layers
//! (embedding, LayerNorm, causal attention with its softmax, key mask and
//! dropout, GELU/ReLU, the masked losses) and for whole tiny models, continuous
//! and discrete, w.r.t. every parameter. Layer losses are `L = Σ r ⊙ y` as in
//! `gradcheck`.

use crate::nn::attention::{AttnCache, AttnScratch, CausalAttention, PAD_BIAS, key_bias};
use crate::nn::dt::config::{DtBatch, DtConfig};
use crate::nn::dt::model::DecisionTransformer;
use crate::nn::embedding::Embedding;
use crate::nn::gelu::BlockActivation;
use crate::nn::gradcheck::{check, check_with as check_tight, dot, random};
use crate::nn::layernorm::LayerNorm;
use crate::nn::loss::{cross_entropy, mse};
use ganglion_sim::Rng;

#[test]
fn embedding_gradients() {
    let mut rng = Rng::new(21);
    let emb = Embedding::new(5, 3, 4);
    let mut params = random(4 + emb.num_params(), &mut rng);
    let index = [0usize, 4, 2, 4, 9]; // 9 clamps to row 4
    let r = random(index.len() * 3, &mut rng);
    let mut grads = vec![0.0; params.len()];
    emb.backward(&index, &r, &mut grads);
    assert!(grads[..4].iter().all(|g| *g == 0.0));
    check("embedding", &mut params, &grads, |pp| {
        let mut out = vec![0.0; index.len() * 3];
        emb.forward_add(pp, &index, &mut out);
        dot(&out, &r)
    });
}

#[test]
fn layernorm_gradients() {
    let mut rng = Rng::new(22);
    let (rows, d) = (4, 6);
    let ln = LayerNorm::new(d, 3);
    let mut params = random(3 + ln.num_params(), &mut rng);
    let x = random(rows * d, &mut rng);
    let r = random(rows * d, &mut rng);
    let (mut y, mut mean, mut rstd) = (vec![0.0; rows * d], vec![0.0; rows], vec![0.0; rows]);
    ln.forward(&params, &x, &mut y, &mut mean, &mut rstd, rows);
    let mut grads = vec![0.0; params.len()];
    let mut dx = vec![0.0; rows * d];
    ln.backward(&params, &x, &mean, &rstd, &r, &mut dx, &mut grads, rows);
    let mut run = |pp: &[f32], xx: &[f32]| {
        ln.forward(pp, xx, &mut y, &mut mean, &mut rstd, rows);
        dot(&y, &r)
    };
    let p0 = params.clone();
    check_tight("layernorm dx", &mut x.clone(), &dx, 1e-2, 5e-3, |xx| {
        run(&p0, xx)
    });
    check_tight("layernorm dparams", &mut params, &grads, 1e-2, 5e-3, |pp| {
        run(pp, &x)
    });
}

#[test]
fn activation_gradients() {
    let mut rng = Rng::new(23);
    for act in [BlockActivation::Gelu, BlockActivation::Relu] {
        let mut x: Vec<f32> = random(32, &mut rng)
            .into_iter()
            .map(|v| 2.0 * if v.abs() < 0.1 { v + 0.3 } else { v })
            .collect();
        let r = random(32, &mut rng);
        let mut d = r.clone();
        act.backward(&x, &mut d);
        check_tight(&format!("{act:?}"), &mut x, &d, 1e-2, 5e-3, |xx| {
            let mut y = vec![0.0; xx.len()];
            act.forward(xx, &mut y);
            dot(&y, &r)
        });
    }
}

#[test]
fn attention_gradients_with_mask_and_dropout() {
    let mut rng = Rng::new(24);
    let attn = CausalAttention {
        seq: 5,
        embed: 6,
        heads: 2,
    };
    let batch = 2;
    let n = batch * attn.seq;
    // Sequence 1 has its first two tokens padded.
    let mask = [1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0];
    let bias: Vec<f32> = mask.iter().map(|m| key_bias(*m)).collect();
    assert_eq!(bias[5], PAD_BIAS);
    let r = random(n * attn.embed, &mut rng);
    for p_drop in [0.0f32, 0.3] {
        let mut qkv = random(n * 3 * attn.embed, &mut rng);
        let (mut cache, mut scratch) = (AttnCache::default(), AttnScratch::default());
        let mut out = vec![0.0; n * attn.embed];
        let seed_rng = Rng::new(99);
        let mut run = |x: &[f32], cache: &mut AttnCache, out: &mut Vec<f32>| {
            let mut dr = seed_rng.clone(); // the same dropout mask every time
            let drop = (p_drop > 0.0).then_some((p_drop, &mut dr));
            attn.forward(x, &bias, batch, cache, &mut scratch, drop, out);
            dot(out, &r)
        };
        run(&qkv, &mut cache, &mut out);
        // Real queries put no weight on padded keys.
        let probs = attn.probs(&cache, batch);
        for h in 0..attn.heads {
            for i in 2..attn.seq {
                for j in 0..2 {
                    assert_eq!(probs[((attn.heads + h) * attn.seq + i) * attn.seq + j], 0.0);
                }
            }
        }
        let mut dqkv = vec![0.0; n * 3 * attn.embed];
        let mut s2 = AttnScratch::default();
        attn.backward(&r, &bias, batch, &cache, &mut s2, &mut dqkv);
        let mut c2 = AttnCache::default();
        let mut o2 = out.clone();
        check_tight(
            &format!("attention p={p_drop}"),
            &mut qkv,
            &dqkv,
            5e-2, // f32 noise in the 60-term loss is ~1e-4 absolute
            5e-3,
            |xx| run(xx, &mut c2, &mut o2),
        );
    }
}

#[test]
fn loss_gradients() {
    let mut rng = Rng::new(25);
    let (rows, dim) = (5, 3);
    let mask = [1.0, 0.0, 1.0, 1.0, 0.0];
    let mut pred = random(rows * dim, &mut rng);
    let target = random(rows * dim, &mut rng);
    let mut d = vec![0.0; rows * dim];
    mse(&pred, &target, &mask, dim, &mut d);
    assert!(d[dim..2 * dim].iter().all(|g| *g == 0.0), "padded row");
    let mut scratch = vec![0.0; rows * dim];
    check_tight("mse", &mut pred, &d, 1e-2, 5e-3, |pp| {
        mse(pp, &target, &mask, dim, &mut scratch) as f64
    });

    let labels = [2.0, 7.0, 0.0, 1.0, 1.0]; // row 1 is padding (bad label ignored)
    let mut logits = random(rows * dim, &mut rng);
    cross_entropy(&logits, &labels, &mask, dim, &mut d);
    check_tight("cross-entropy", &mut logits, &d, 1e-2, 5e-3, |ll| {
        cross_entropy(ll, &labels, &mask, dim, &mut scratch) as f64
    });
    // No valid rows: zero loss and gradient, no NaN.
    let l = mse(&pred, &target, &[0.0; 5], dim, &mut d);
    assert_eq!(l, 0.0);
    assert!(d.iter().all(|g| *g == 0.0));
}

fn tiny_batch(cfg: &DtConfig, rng: &mut Rng) -> DtBatch {
    let (b, k) = (2, cfg.context);
    let mut batch = DtBatch::for_config(cfg, b);
    for v in batch.states.iter_mut().chain(&mut batch.returns_to_go) {
        *v = rng.normal();
    }
    // Sample 0 full; sample 1 left-padded by one timestep.
    for s in 0..b {
        for t in 0..k {
            let row = s * k + t;
            let real = s == 0 || t >= 1;
            batch.mask[row] = if real { 1.0 } else { 0.0 };
            batch.timesteps[row] = if real { 3 * s + t + 2 } else { 0 }; // some past max_timestep
            let a = &mut batch.actions[row * cfg.act_dim..(row + 1) * cfg.act_dim];
            if cfg.discrete {
                let c = rng.below(cfg.act_dim);
                a[c] = 1.0;
                batch.target[row] = c as f32;
            } else {
                a.iter_mut().for_each(|v| *v = rng.uniform(-1.0, 1.0));
                for i in 0..cfg.act_dim {
                    batch.target[row * cfg.act_dim + i] = 0.8 * rng.uniform(-1.0, 1.0);
                }
            }
        }
    }
    batch
}

#[test]
fn whole_dt_gradients() {
    // Dropout off (as required), plus one run with dropout on and the same
    // masks drawn for every evaluation.
    for (discrete, dropout) in [(false, 0.0), (true, 0.0), (false, 0.2)] {
        let mut cfg = DtConfig::new(3, 2, discrete);
        cfg.embed = 8;
        cfg.layers = 2;
        cfg.heads = 2;
        cfg.context = 3;
        cfg.max_timestep = 6;
        cfg.dropout = dropout;
        let mut rng = Rng::new(26 + discrete as u64);
        let mut model = DecisionTransformer::new(cfg.clone(), &mut rng).unwrap();
        // Away from the tiny init so every path carries gradient.
        for p in model.params.iter_mut() {
            *p += 0.3 * rng.normal();
        }
        let batch = tiny_batch(&cfg, &mut rng);
        let mut cache = model.new_cache();
        model.zero_grads();
        let train_loss = model
            .loss_and_backward(&batch, &mut cache, &mut Rng::new(5))
            .unwrap();
        if dropout == 0.0 {
            assert_eq!(model.eval_loss(&batch, &mut cache).unwrap(), train_loss);
        }
        let grads = model.grads.clone();
        let mut probe = model.clone();
        let mut c2 = model.new_cache();
        let mut loss = |pp: &[f32]| {
            probe.params.copy_from_slice(pp);
            probe.zero_grads();
            probe
                .loss_and_backward(&batch, &mut c2, &mut Rng::new(5))
                .unwrap() as f64
        };
        for (name, range) in model.layout.groups() {
            let ana = &grads[range.clone()];
            assert!(
                ana.iter().any(|g| g.abs() > 1e-6),
                "{name}: all-zero gradient"
            );
            let mut params = model.params.clone();
            check_tight(
                &format!("dt (discrete {discrete}, dropout {dropout}) {name}"),
                &mut params[range.clone()],
                ana,
                2e-2,
                2e-2,
                |sub| {
                    let mut full = model.params.clone();
                    full[range.clone()].copy_from_slice(sub);
                    loss(&full)
                },
            );
        }
    }
}
