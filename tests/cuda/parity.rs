//! GPU ops against their CPU references, forward and backward, op by op, then
//! the whole Decision Transformer (predictions, loss, every gradient, and
//! parameters after AdamW steps). Needs a CUDA driver and GPU; without one each
//! test prints why and skips.
//!
//! Tolerances: the GPU sums in a different order (cuBLAS tiles, warp
//! reductions, atomics) and contracts multiply-adds, so single ops agree to
//! ~1e-6 relative; 1e-4 relative (plus a small absolute floor for values near
//! zero) leaves room for that without hiding an indexing bug, which shows as
//! O(1) errors. The whole model compounds a few dozen ops: 1e-3 relative.
#![cfg(feature = "cuda")]

use ganglion::nn::activation::Activation;
use ganglion::nn::attention::{AttnCache, AttnScratch, CausalAttention, key_bias};
use ganglion::nn::cuda::ops::{GpuAdam, GradClip};
use ganglion::nn::cuda::ops_attn::{GpuAttnCache, GpuAttnScratch};
use ganglion::nn::cuda::{Buf, Gpu};
use ganglion::nn::embedding::Embedding;
use ganglion::nn::gelu::BlockActivation;
use ganglion::nn::layernorm::LayerNorm;
use ganglion::nn::linear::Linear;
use ganglion::nn::loss::{cross_entropy, mse};
use ganglion::nn::{Adam, clip_grad_norm};
use ganglion::sim::Rng;

/// A GPU, or `None` after printing why there is none.
pub fn gpu_or_skip(test: &str) -> Option<Gpu> {
    match Gpu::new(0) {
        Ok(g) => {
            eprintln!("{test}: on {}", g.name);
            Some(g)
        }
        Err(e) => {
            eprintln!("SKIPPED {test}: {e}");
            None
        }
    }
}

fn rand(n: usize, rng: &mut Rng) -> Vec<f32> {
    (0..n).map(|_| rng.normal()).collect()
}

/// Largest |a − b| / (atol + rtol·|b|); ≤ 1 passes.
fn check(what: &str, gpu: &[f32], cpu: &[f32], rtol: f32, fails: &mut Vec<String>) {
    assert_eq!(gpu.len(), cpu.len(), "{what}: lengths");
    let atol = rtol * 1e-2;
    let (mut worst, mut at) = (0.0f32, 0);
    for (i, (g, c)) in gpu.iter().zip(cpu).enumerate() {
        let r = (g - c).abs() / (atol + rtol * c.abs());
        if r > worst || r.is_nan() {
            worst = if r.is_nan() { f32::INFINITY } else { r };
            at = i;
        }
    }
    if worst > 1.0 {
        fails.push(format!(
            "{what}: [{at}] gpu {} cpu {} (ratio {worst:.2})",
            gpu[at], cpu[at]
        ));
    }
}

fn up(g: &Gpu, v: &[f32]) -> Buf<f32> {
    g.upload(v).expect("upload")
}

fn down(g: &Gpu, b: &Buf<f32>, n: usize) -> Vec<f32> {
    g.to_vec(b.p().head(n)).expect("download")
}

const TOL: f32 = 1e-4;

fn linear_and_activations(g: &Gpu, rng: &mut Rng, f: &mut Vec<String>) {
    let (batch, i, o) = (37, 19, 23);
    let l = Linear::new(i, o, 5);
    let params = rand(5 + l.num_params(), rng);
    let x = rand(batch * i, rng);
    let dy = rand(batch * o, rng);
    let mut y = vec![0.0; batch * o];
    l.forward(&params, &x, &mut y, batch);
    let mut grads = vec![0.0; params.len()];
    let mut dx = vec![0.0; batch * i];
    l.backward(&params, &x, &dy, Some(&mut dx), &mut grads, batch);
    let (dp, dxb, dyb, dgy, dgx) = (
        up(g, &params),
        up(g, &x),
        g.zeros::<f32>(batch * o).unwrap(),
        up(g, &dy),
        g.zeros::<f32>(batch * i).unwrap(),
    );
    let dgr = g.zeros::<f32>(params.len()).unwrap();
    g.linear_forward(&l, dp.p(), dxb.p(), dyb.p(), batch)
        .unwrap();
    g.linear_backward(&l, dp.p(), dxb.p(), dgy.p(), Some(dgx.p()), dgr.p(), batch)
        .unwrap();
    check("linear forward", &down(g, &dyb, batch * o), &y, TOL, f);
    check("linear dx", &down(g, &dgx, batch * i), &dx, TOL, f);
    check(
        "linear dW, db",
        &down(g, &dgr, params.len()),
        &grads,
        TOL,
        f,
    );

    for act in [Activation::Tanh, Activation::Relu] {
        let mut x = rand(1000, rng);
        x.iter_mut().step_by(7).for_each(|v| *v *= 6.0);
        let d = rand(1000, rng);
        let (bx, bd) = (up(g, &x), up(g, &d));
        act.forward(&mut x);
        let mut dd = d.clone();
        act.backward(&x, &mut dd);
        g.activation_forward(act, bx.p()).unwrap();
        g.activation_backward(act, bx.p(), bd.p()).unwrap();
        check(&format!("{act:?} forward"), &down(g, &bx, 1000), &x, TOL, f);
        check(
            &format!("{act:?} backward"),
            &down(g, &bd, 1000),
            &dd,
            TOL,
            f,
        );
    }
    for act in [BlockActivation::Gelu, BlockActivation::Relu] {
        let x = rand(1000, rng);
        let mut y = vec![0.0; 1000];
        act.forward(&x, &mut y);
        let mut xt = x.clone();
        let mut yt = vec![0.0; 1000];
        act.forward_train(&mut xt, &mut yt);
        let (bx, by, bxt, byt) = (
            up(g, &x),
            g.zeros::<f32>(1000).unwrap(),
            up(g, &x),
            g.zeros::<f32>(1000).unwrap(),
        );
        g.block_act_forward(act, bx.p(), by.p()).unwrap();
        g.block_act_forward_train(act, bxt.p(), byt.p()).unwrap();
        check(&format!("{act:?} forward"), &down(g, &by, 1000), &y, TOL, f);
        check(
            &format!("{act:?} train y"),
            &down(g, &byt, 1000),
            &yt,
            TOL,
            f,
        );
        check(
            &format!("{act:?} train f'"),
            &down(g, &bxt, 1000),
            &xt,
            TOL,
            f,
        );
    }
}

fn layernorm_and_embedding(g: &Gpu, rng: &mut Rng, f: &mut Vec<String>) {
    let (rows, d) = (301, 48);
    let ln = LayerNorm::new(d, 3);
    let mut params = rand(3 + 2 * d, rng);
    params[3..3 + d].iter_mut().for_each(|v| *v += 1.0);
    let x: Vec<f32> = rand(rows * d, rng).iter().map(|v| v * 3.0 + 0.5).collect();
    let dy = rand(rows * d, rng);
    let (mut y, mut mean, mut rstd) = (vec![0.0; rows * d], vec![0.0; rows], vec![0.0; rows]);
    ln.forward(&params, &x, &mut y, &mut mean, &mut rstd, rows);
    let mut dx = rand(rows * d, rng);
    let dx0 = dx.clone();
    let mut grads = vec![0.0; params.len()];
    ln.backward(&params, &x, &mean, &rstd, &dy, &mut dx, &mut grads, rows);
    let (bp, bx, by, bm, br, bdy, bdx, bg) = (
        up(g, &params),
        up(g, &x),
        g.zeros::<f32>(rows * d).unwrap(),
        g.zeros::<f32>(rows).unwrap(),
        g.zeros::<f32>(rows).unwrap(),
        up(g, &dy),
        up(g, &dx0),
        g.zeros::<f32>(params.len()).unwrap(),
    );
    g.layernorm_forward(&ln, bp.p(), bx.p(), by.p(), bm.p(), br.p(), rows)
        .unwrap();
    g.layernorm_backward(
        &ln,
        bp.p(),
        bx.p(),
        bm.p(),
        br.p(),
        bdy.p(),
        bdx.p(),
        bg.p(),
        rows,
    )
    .unwrap();
    check("layernorm forward", &down(g, &by, rows * d), &y, TOL, f);
    check("layernorm mean", &down(g, &bm, rows), &mean, TOL, f);
    check("layernorm rstd", &down(g, &br, rows), &rstd, TOL, f);
    check("layernorm dx (+=)", &down(g, &bdx, rows * d), &dx, TOL, f);
    check(
        "layernorm dγ dβ",
        &down(g, &bg, params.len()),
        &grads,
        TOL,
        f,
    );

    let e = Embedding::new(7, 16, 2);
    let params = rand(2 + e.num_params(), rng);
    let index: Vec<usize> = (0..50).map(|i| (i * 5) % 9).collect(); // some past the end
    let mut out = rand(50 * 16, rng);
    let out0 = out.clone();
    e.forward_add(&params, &index, &mut out);
    let dout = rand(50 * 16, rng);
    let mut grads = vec![0.0; params.len()];
    e.backward(&index, &dout, &mut grads);
    let idx: Vec<i32> = index.iter().map(|v| *v as i32).collect();
    let (bp, bo, bi, bd, bg) = (
        up(g, &params),
        up(g, &out0),
        g.upload(&idx).unwrap(),
        up(g, &dout),
        g.zeros::<f32>(params.len()).unwrap(),
    );
    g.embedding_forward_add(&e, bp.p(), bi.p(), bo.p(), 50)
        .unwrap();
    g.embedding_backward(&e, bi.p(), bd.p(), bg.p(), 50)
        .unwrap();
    check("embedding forward", &down(g, &bo, 800), &out, TOL, f);
    check(
        "embedding backward",
        &down(g, &bg, params.len()),
        &grads,
        TOL,
        f,
    );
}

fn attention(g: &Gpu, rng: &mut Rng, f: &mut Vec<String>) {
    let a = CausalAttention {
        seq: 12,
        embed: 16,
        heads: 2,
    };
    let batch = 3;
    let n = batch * a.seq;
    let qkv = rand(n * 3 * a.embed, rng);
    // Left padding in two sequences, one fully padded row pattern.
    let mut mask = vec![1.0f32; n];
    mask[..4].fill(0.0);
    mask[a.seq..a.seq + 1].fill(0.0);
    let bias: Vec<f32> = mask.iter().map(|m| key_bias(*m)).collect();
    let (mut cache, mut scratch) = (AttnCache::default(), AttnScratch::default());
    let mut out = vec![0.0; n * a.embed];
    a.forward(&qkv, &bias, batch, &mut cache, &mut scratch, None, &mut out);
    let dout = rand(n * a.embed, rng);
    let mut dqkv = vec![0.0; n * 3 * a.embed];
    a.backward(&dout, &bias, batch, &cache, &mut scratch, &mut dqkv);

    let mut gc = GpuAttnCache::new(g, &a, batch, false).unwrap();
    let gs = GpuAttnScratch::new(g, &a, batch).unwrap();
    let (bq, bb, bo, bd, bdq) = (
        up(g, &qkv),
        up(g, &bias),
        g.zeros::<f32>(n * a.embed).unwrap(),
        up(g, &dout),
        g.zeros::<f32>(n * 3 * a.embed).unwrap(),
    );
    g.attention_forward(&a, bq.p(), bb.p(), batch, &mut gc, &gs, None, bo.p())
        .unwrap();
    g.attention_backward(&a, bd.p(), bb.p(), batch, &gc, &gs, bdq.p())
        .unwrap();
    let probs = g.to_vec(gc.probs(&a, batch)).unwrap();
    check("attention probs", &probs, a.probs(&cache, batch), TOL, f);
    check(
        "attention forward",
        &down(g, &bo, n * a.embed),
        &out,
        TOL,
        f,
    );
    check(
        "attention dqkv",
        &down(g, &bdq, n * 3 * a.embed),
        &dqkv,
        1e-3,
        f,
    );
}

fn losses_and_optimiser(g: &Gpu, rng: &mut Rng, f: &mut Vec<String>) {
    let (rows, dim) = (40, 3);
    let pred = rand(rows * dim, rng);
    let target = rand(rows * dim, rng);
    let mask: Vec<f32> = (0..rows)
        .map(|r| if r % 5 == 0 { 0.0 } else { 1.0 })
        .collect();
    let count = mask.iter().filter(|m| **m > 0.5).count();
    let mut dpred = vec![0.0; rows * dim];
    let loss = mse(&pred, &target, &mask, dim, &mut dpred);
    let (bp, bt, bm, bd, brl, bl) = (
        up(g, &pred),
        up(g, &target),
        up(g, &mask),
        g.zeros::<f32>(rows * dim).unwrap(),
        g.zeros::<f32>(rows).unwrap(),
        g.zeros::<f32>(1).unwrap(),
    );
    g.mse(
        bp.p(),
        bt.p(),
        bm.p(),
        rows,
        dim,
        count,
        bd.p(),
        brl.p(),
        bl.p(),
    )
    .unwrap();
    check("mse loss", &down(g, &bl, 1), &[loss], TOL, f);
    check("mse grad", &down(g, &bd, rows * dim), &dpred, TOL, f);

    let classes = 4;
    let logits = rand(rows * classes, rng);
    let labels: Vec<f32> = (0..rows)
        .map(|r| if r == 7 { 2.5 } else { (r % classes) as f32 })
        .collect();
    let count = (0..rows).filter(|&r| mask[r] > 0.5 && r != 7).count();
    let mut dl = vec![0.0; rows * classes];
    let loss = cross_entropy(&logits, &labels, &mask, classes, &mut dl);
    let (bz, by, bdz) = (
        up(g, &logits),
        up(g, &labels),
        g.zeros::<f32>(rows * classes).unwrap(),
    );
    g.cross_entropy(
        bz.p(),
        by.p(),
        bm.p(),
        rows,
        classes,
        count,
        bdz.p(),
        brl.p(),
        bl.p(),
    )
    .unwrap();
    check("cross-entropy loss", &down(g, &bl, 1), &[loss], TOL, f);
    check(
        "cross-entropy grad",
        &down(g, &bdz, rows * classes),
        &dl,
        TOL,
        f,
    );

    // Clipping (both sides of the threshold) then AdamW, three steps.
    for max_norm in [0.5f32, 1e6] {
        let n = 5000;
        let mut p = rand(n, rng);
        let mut opt = Adam::new(n);
        opt.weight_decay = 1e-2;
        let bp = up(g, &p);
        let mut gopt = GpuAdam::new(g, n).unwrap();
        gopt.weight_decay = 1e-2;
        let clip = GradClip::new(g).unwrap();
        for step in 0..3 {
            let grads0 = rand(n, rng);
            let bg = up(g, &grads0);
            let mut grads = grads0.clone();
            let norm = clip_grad_norm(&mut grads, max_norm);
            opt.update(&mut p, &grads, 1e-2);
            clip.compute(g, bg.p(), max_norm).unwrap();
            gopt.update(g, bp.p(), bg.p(), 1e-2, clip.scale()).unwrap();
            let gnorm = g.to_vec(clip.norm()).unwrap();
            check(
                &format!("grad norm (max {max_norm}, step {step})"),
                &gnorm,
                &[norm],
                TOL,
                f,
            );
        }
        check(
            &format!("AdamW params (max {max_norm})"),
            &down(g, &bp, n),
            &p,
            TOL,
            f,
        );
    }

    // Dropout: keep rate and kept value, and the same seed gives the same mask.
    let n = 100_000;
    let (m1, m2) = (g.zeros::<f32>(n).unwrap(), g.zeros::<f32>(n).unwrap());
    g.dropout_mask(m1.p(), 0.25, 42).unwrap();
    g.dropout_mask(m2.p(), 0.25, 42).unwrap();
    let (v1, v2) = (down(g, &m1, n), down(g, &m2, n));
    if v1 != v2 {
        f.push("dropout: same seed, different masks".into());
    }
    let dropped = v1.iter().filter(|v| **v == 0.0).count() as f64 / n as f64;
    let kept_ok = v1
        .iter()
        .all(|v| *v == 0.0 || (*v - 1.0 / 0.75).abs() < 1e-6);
    // 100k Bernoulli(0.25): σ ≈ 0.0014, so ±0.01 is > 7σ.
    if (dropped - 0.25).abs() > 0.01 || !kept_ok {
        f.push(format!("dropout: rate {dropped}, values ok {kept_ok}"));
    }
}

#[test]
fn every_op_matches_its_cpu_reference() {
    let Some(g) = gpu_or_skip("every_op_matches_its_cpu_reference") else {
        return;
    };
    let mut rng = Rng::new(7);
    let mut fails = Vec::new();
    linear_and_activations(&g, &mut rng, &mut fails);
    layernorm_and_embedding(&g, &mut rng, &mut fails);
    attention(&g, &mut rng, &mut fails);
    losses_and_optimiser(&g, &mut rng, &mut fails);
    assert!(
        fails.is_empty(),
        "GPU/CPU mismatches:\n{}",
        fails.join("\n")
    );
}
