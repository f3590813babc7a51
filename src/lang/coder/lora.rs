//! LoRA adapters on a llama-family decoder, with an explicit forward and
//! backward (llm.c style): every projection of the adapted layers gets
//! `y = W x + s·B(A x)` (W frozen; A `[rank, in]`, B `[out, rank]`, all
//! adapters in one flat parameter buffer, s = alpha / rank). Only layers
//! from `first_layer` up are adapted, so the frozen layers below run once
//! per example (`frozen_hidden`) and their output is reused every epoch.
//! The loss is the mean cross-entropy of the next token at the positions
//! given. Grouped-query attention reuses `nn::attention` by repeating each
//! key/value head over its query heads and summing their gradients back.

use crate::lang::llama::{Llama, LlamaConfig};
use crate::lang::tensor::{matmul_t, rms_norm};
use crate::nn::attention::{AttnCache, AttnScratch, CausalAttention};
use crate::nn::gemm::gemm;

/// The adapted projections of a layer, in order.
pub const TARGETS: [&str; 7] = ["q", "k", "v", "o", "gate", "up", "down"];

/// Adapter settings.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoraConfig {
    pub rank: usize,
    pub alpha: f32,
    /// Layers `first_layer..n_layer` are adapted.
    pub first_layer: usize,
}

impl LoraConfig {
    pub fn scale(&self) -> f32 {
        self.alpha / self.rank as f32
    }
}

/// Where one adapter's A and B sit in the flat buffer.
#[derive(Clone, Copy, Debug)]
struct Slot {
    a: usize,
    b: usize,
    inp: usize,
    out: usize,
}

/// (in, out) of each target projection.
fn shapes(c: &LlamaConfig) -> [(usize, usize); 7] {
    let (d, kvd, ff) = (c.d_model, c.n_kv_head * c.head_dim, c.d_ff);
    [
        (d, d),
        (d, kvd),
        (d, kvd),
        (d, d),
        (d, ff),
        (d, ff),
        (ff, d),
    ]
}

/// The adapters: one flat buffer of every A and B.
#[derive(Clone, Debug)]
pub struct Lora {
    pub cfg: LoraConfig,
    pub params: Vec<f32>,
    slots: Vec<[Slot; 7]>,
}

impl Lora {
    /// Fresh adapters: A uniform in ±1/√in, B zero (so the adapted model
    /// starts as the base model).
    pub fn new(model: &LlamaConfig, cfg: LoraConfig, seed: u64) -> Lora {
        let mut lora = Lora::zeros(model, cfg);
        let mut rng = ganglion_sim::Rng::new(seed);
        for layer in &lora.slots {
            for s in layer {
                let bound = 1.0 / (s.inp as f32).sqrt();
                for v in &mut lora.params[s.a..s.a + cfg.rank * s.inp] {
                    *v = rng.uniform(-bound, bound);
                }
            }
        }
        lora
    }

    /// Adapters of this shape, all zero (the layout for loading).
    pub fn zeros(model: &LlamaConfig, cfg: LoraConfig) -> Lora {
        let mut at = 0;
        let mut slots = Vec::new();
        for _ in cfg.first_layer..model.n_layer {
            let mut layer = [Slot {
                a: 0,
                b: 0,
                inp: 0,
                out: 0,
            }; 7];
            for (s, (inp, out)) in layer.iter_mut().zip(shapes(model)) {
                *s = Slot {
                    a: at,
                    b: at + cfg.rank * inp,
                    inp,
                    out,
                };
                at += cfg.rank * (inp + out);
            }
            slots.push(layer);
        }
        Lora {
            cfg,
            params: vec![0.0; at],
            slots,
        }
    }

    /// Adds the adapters into `model`'s weights: W += s·B·A. The merged
    /// model runs with the plain forward (`Llama::forward_tree`).
    pub fn merge_into(&self, model: &mut Llama) {
        model.weights_changed();
        let (r, sc) = (self.cfg.rank, self.cfg.scale());
        for (k, layer) in self.slots.iter().enumerate() {
            let weights = model.layers[self.cfg.first_layer + k].projections_mut();
            for (s, w) in layer.iter().zip(weights) {
                let (a, b) = (&self.params[s.a..s.b], &self.params[s.b..s.b + s.out * r]);
                let mut ba = vec![0.0f32; s.out * s.inp];
                gemm(s.out, r, s.inp, b, false, a, false, 0.0, &mut ba);
                for (wi, d) in w.iter_mut().zip(&ba) {
                    *wi += sc * d;
                }
            }
        }
    }
}

/// The hidden states entering layer `upto` for `tokens` (positions 0..),
/// through the frozen layers below it.
pub fn frozen_hidden(model: &Llama, tokens: &[u32], upto: usize) -> Vec<f32> {
    let d = model.cfg.d_model;
    let mut x = vec![0f32; tokens.len() * d];
    for (i, &t) in tokens.iter().enumerate() {
        let t = (t as usize).min(model.cfg.vocab - 1);
        x[i * d..(i + 1) * d].copy_from_slice(&model.tok_embd[t * d..(t + 1) * d]);
    }
    let mut run = Pass::new(model, tokens.len());
    for li in 0..upto.min(model.cfg.n_layer) {
        run.layer_forward(model, li, None, &mut x);
    }
    x
}

/// Activations of one layer kept for its backward pass.
#[derive(Clone, Default)]
struct Saved {
    x_in: Vec<f32>,
    h1: Vec<f32>,
    /// x·Aᵀ of each adapter input (rank columns).
    xa: [Vec<f32>; 7],
    attn: AttnCache,
    att_out: Vec<f32>,
    x_mid: Vec<f32>,
    h2: Vec<f32>,
    gate: Vec<f32>,
    up: Vec<f32>,
    act: Vec<f32>,
}

/// One sequence's pass: buffers sized for its length.
struct Pass {
    t: usize,
    attn: CausalAttention,
    scratch: AttnScratch,
    cos: Vec<f32>,
    sin: Vec<f32>,
    saved: Vec<Saved>,
}

impl Pass {
    fn new(model: &Llama, t: usize) -> Pass {
        let c = model.cfg;
        let half = c.head_dim / 2;
        let (mut cos, mut sin) = (vec![0f32; t * half], vec![0f32; t * half]);
        for i in 0..t {
            for j in 0..half {
                let f = c.rope_base.powf(-(2.0 * j as f32) / c.head_dim as f32);
                let (s, co) = (i as f32 * f).sin_cos();
                cos[i * half + j] = co;
                sin[i * half + j] = s;
            }
        }
        Pass {
            t,
            attn: CausalAttention {
                seq: t,
                embed: c.d_model,
                heads: c.n_head,
            },
            scratch: AttnScratch::default(),
            cos,
            sin,
            saved: Vec::new(),
        }
    }

    /// Rotates (or, with `inverse`, rotates back) adjacent pairs of every
    /// head of `buf` (`[t, heads·head_dim]`).
    fn rope(&self, buf: &mut [f32], heads: usize, hd: usize, inverse: bool) {
        let half = hd / 2;
        let sign = if inverse { -1.0 } else { 1.0 };
        for i in 0..self.t {
            for h in 0..heads {
                let row = &mut buf[(i * heads + h) * hd..(i * heads + h + 1) * hd];
                for j in 0..half {
                    let (a, b) = (row[2 * j], row[2 * j + 1]);
                    let (co, s) = (self.cos[i * half + j], sign * self.sin[i * half + j]);
                    row[2 * j] = a * co - b * s;
                    row[2 * j + 1] = a * s + b * co;
                }
            }
        }
    }

    /// A projection with its adapter: `y = x·Wᵀ + s·(x·Aᵀ)·Bᵀ`; returns
    /// x·Aᵀ for the backward pass (empty without an adapter).
    fn project(
        &self,
        x: &[f32],
        w: &[f32],
        adapter: Option<(&Lora, Slot)>,
        y: &mut [f32],
    ) -> Vec<f32> {
        let t = self.t;
        let Some((lora, s)) = adapter else {
            let (inp, out) = (x.len() / t.max(1), y.len() / t.max(1));
            matmul_t(x, t, inp, w, out, y);
            return Vec::new();
        };
        let r = lora.cfg.rank;
        matmul_t(x, t, s.inp, w, s.out, y);
        let mut xa = vec![0f32; t * r];
        gemm(
            t,
            s.inp,
            r,
            x,
            false,
            &lora.params[s.a..s.b],
            true,
            0.0,
            &mut xa,
        );
        let mut low = vec![0f32; t * s.out];
        gemm(
            t,
            r,
            s.out,
            &xa,
            false,
            &lora.params[s.b..s.b + s.out * r],
            true,
            0.0,
            &mut low,
        );
        let sc = lora.cfg.scale();
        for (yi, l) in y.iter_mut().zip(&low) {
            *yi += sc * l;
        }
        xa
    }

    /// The backward pass of `project`: adds dL/dx into `dx` and the
    /// adapter's gradients into `grads`.
    #[allow(clippy::too_many_arguments)]
    fn project_back(
        &self,
        x: &[f32],
        xa: &[f32],
        w: &[f32],
        adapter: Option<(&Lora, Slot)>,
        dy: &[f32],
        dx: &mut [f32],
        grads: &mut [f32],
    ) {
        let t = self.t;
        let (inp, out) = (x.len() / t.max(1), dy.len() / t.max(1));
        gemm(t, out, inp, dy, false, w, false, 1.0, dx);
        let Some((lora, s)) = adapter else { return };
        let (r, sc) = (lora.cfg.rank, lora.cfg.scale());
        // dB += s·dyᵀ·xa ; dxa = s·dy·B ; dA += dxaᵀ·x ; dx += dxa·A.
        let mut db = vec![0f32; out * r];
        gemm(out, t, r, dy, true, xa, false, 0.0, &mut db);
        for (g, v) in grads[s.b..s.b + out * r].iter_mut().zip(&db) {
            *g += sc * v;
        }
        let mut dxa = vec![0f32; t * r];
        gemm(
            t,
            out,
            r,
            dy,
            false,
            &lora.params[s.b..s.b + out * r],
            false,
            0.0,
            &mut dxa,
        );
        dxa.iter_mut().for_each(|v| *v *= sc);
        gemm(r, t, inp, &dxa, true, x, false, 1.0, &mut grads[s.a..s.b]);
        gemm(
            t,
            r,
            inp,
            &dxa,
            false,
            &lora.params[s.a..s.b],
            false,
            1.0,
            dx,
        );
    }

    /// Layer `li` forward on `x` in place; with `lora`, its activations are
    /// kept (in order) for `layer_backward`.
    fn layer_forward(&mut self, model: &Llama, li: usize, lora: Option<&Lora>, x: &mut [f32]) {
        let c = model.cfg;
        let (t, d, hd, kvd, ff) = (
            self.t,
            c.d_model,
            c.head_dim,
            c.n_kv_head * c.head_dim,
            c.d_ff,
        );
        let l = &model.layers[li];
        let slot = |k: usize| {
            lora.and_then(|lr| {
                li.checked_sub(lr.cfg.first_layer)
                    .and_then(|j| lr.slots.get(j))
                    .map(|s| (lr, s[k]))
            })
        };
        let mut sv = Saved {
            x_in: x.to_vec(),
            ..Saved::default()
        };
        sv.h1 = vec![0f32; t * d];
        rms_norm(x, &l.attn_norm, c.eps, &mut sv.h1, d);
        let (mut q, mut k, mut v) = (vec![0f32; t * d], vec![0f32; t * kvd], vec![0f32; t * kvd]);
        sv.xa[0] = self.project(&sv.h1, &l.wq, slot(0), &mut q);
        sv.xa[1] = self.project(&sv.h1, &l.wk, slot(1), &mut k);
        sv.xa[2] = self.project(&sv.h1, &l.wv, slot(2), &mut v);
        self.rope(&mut q, c.n_head, hd, false);
        self.rope(&mut k, c.n_kv_head, hd, false);
        // Pack Q, K, V with each key/value head repeated over its group.
        let group = c.n_head / c.n_kv_head;
        let mut qkv = vec![0f32; t * 3 * d];
        for i in 0..t {
            let row = &mut qkv[i * 3 * d..(i + 1) * 3 * d];
            row[..d].copy_from_slice(&q[i * d..(i + 1) * d]);
            for h in 0..c.n_head {
                let g = h / group;
                let src = i * kvd + g * hd..i * kvd + (g + 1) * hd;
                row[d + h * hd..d + (h + 1) * hd].copy_from_slice(&k[src.clone()]);
                row[2 * d + h * hd..2 * d + (h + 1) * hd].copy_from_slice(&v[src]);
            }
        }
        sv.att_out = vec![0f32; t * d];
        let bias = vec![0f32; t];
        self.attn.forward(
            &qkv,
            &bias,
            1,
            &mut sv.attn,
            &mut self.scratch,
            None,
            &mut sv.att_out,
        );
        let mut proj = vec![0f32; t * d];
        sv.xa[3] = self.project(&sv.att_out, &l.wo, slot(3), &mut proj);
        for (xi, p) in x.iter_mut().zip(&proj) {
            *xi += p;
        }
        sv.x_mid = x.to_vec();
        sv.h2 = vec![0f32; t * d];
        rms_norm(x, &l.ffn_norm, c.eps, &mut sv.h2, d);
        sv.gate = vec![0f32; t * ff];
        sv.up = vec![0f32; t * ff];
        sv.xa[4] = self.project(&sv.h2, &l.w_gate, slot(4), &mut sv.gate);
        sv.xa[5] = self.project(&sv.h2, &l.w_up, slot(5), &mut sv.up);
        sv.act = sv
            .gate
            .iter()
            .zip(&sv.up)
            .map(|(g, u)| g / (1.0 + (-g).exp()) * u)
            .collect();
        sv.xa[6] = self.project(&sv.act, &l.w_down, slot(6), &mut proj);
        for (xi, p) in x.iter_mut().zip(&proj) {
            *xi += p;
        }
        if lora.is_some() {
            self.saved.push(sv);
        }
    }

    /// The backward pass of an adapted layer: `dx` holds dL/d(output) and
    /// becomes dL/d(input); adapter gradients are added into `grads`.
    fn layer_backward(
        &mut self,
        model: &Llama,
        li: usize,
        lora: &Lora,
        sv: &Saved,
        dx: &mut [f32],
        grads: &mut [f32],
    ) {
        let c = model.cfg;
        let (t, d, hd, kvd, ff) = (
            self.t,
            c.d_model,
            c.head_dim,
            c.n_kv_head * c.head_dim,
            c.d_ff,
        );
        let l = &model.layers[li];
        let slots = lora.slots[li - lora.cfg.first_layer];
        let ad = |k: usize| Some((lora, slots[k]));
        // MLP: x_out = x_mid + down(silu(gate)·up).
        let mut d_act = vec![0f32; t * ff];
        self.project_back(&sv.act, &sv.xa[6], &l.w_down, ad(6), dx, &mut d_act, grads);
        let (mut dg, mut du) = (vec![0f32; t * ff], vec![0f32; t * ff]);
        for i in 0..t * ff {
            let g = sv.gate[i];
            let sg = 1.0 / (1.0 + (-g).exp());
            du[i] = d_act[i] * g * sg;
            dg[i] = d_act[i] * sv.up[i] * sg * (1.0 + g * (1.0 - sg));
        }
        let mut dh2 = vec![0f32; t * d];
        self.project_back(&sv.h2, &sv.xa[4], &l.w_gate, ad(4), &dg, &mut dh2, grads);
        self.project_back(&sv.h2, &sv.xa[5], &l.w_up, ad(5), &du, &mut dh2, grads);
        rms_norm_back(&sv.x_mid, &l.ffn_norm, c.eps, &dh2, dx, d);
        // Attention: x_mid = x_in + o(att(q, k, v)).
        let mut d_att = vec![0f32; t * d];
        self.project_back(&sv.att_out, &sv.xa[3], &l.wo, ad(3), dx, &mut d_att, grads);
        let mut dqkv = vec![0f32; t * 3 * d];
        let bias = vec![0f32; t];
        self.attn
            .backward(&d_att, &bias, 1, &sv.attn, &mut self.scratch, &mut dqkv);
        let group = c.n_head / c.n_kv_head;
        let (mut dq, mut dk, mut dv) =
            (vec![0f32; t * d], vec![0f32; t * kvd], vec![0f32; t * kvd]);
        for i in 0..t {
            let row = &dqkv[i * 3 * d..(i + 1) * 3 * d];
            dq[i * d..(i + 1) * d].copy_from_slice(&row[..d]);
            for h in 0..c.n_head {
                let g = h / group;
                for j in 0..hd {
                    dk[i * kvd + g * hd + j] += row[d + h * hd + j];
                    dv[i * kvd + g * hd + j] += row[2 * d + h * hd + j];
                }
            }
        }
        self.rope(&mut dq, c.n_head, hd, true);
        self.rope(&mut dk, c.n_kv_head, hd, true);
        let mut dh1 = vec![0f32; t * d];
        self.project_back(&sv.h1, &sv.xa[0], &l.wq, ad(0), &dq, &mut dh1, grads);
        self.project_back(&sv.h1, &sv.xa[1], &l.wk, ad(1), &dk, &mut dh1, grads);
        self.project_back(&sv.h1, &sv.xa[2], &l.wv, ad(2), &dv, &mut dh1, grads);
        rms_norm_back(&sv.x_in, &l.attn_norm, c.eps, &dh1, dx, d);
    }
}

/// Adds the gradient of `y = rms_norm(x)·w` with respect to x, given dy,
/// into `dx`.
fn rms_norm_back(x: &[f32], w: &[f32], eps: f32, dy: &[f32], dx: &mut [f32], d: usize) {
    for ((row, g), out) in x.chunks(d).zip(dy.chunks(d)).zip(dx.chunks_mut(d)) {
        let ms = row.iter().map(|v| v * v).sum::<f32>() / d as f32;
        let inv = 1.0 / (ms + eps).sqrt();
        let dot: f32 = row.iter().zip(g).zip(w).map(|((x, g), w)| x * g * w).sum();
        let k = inv * inv * inv * dot / d as f32;
        for (((o, xi), gi), wi) in out.iter_mut().zip(row).zip(g).zip(w) {
            *o += inv * gi * wi - xi * k;
        }
    }
}

/// The loss (sum over `targets` of −log p(next token)) of a sequence whose
/// hidden states entering layer `lora.cfg.first_layer` are `x0`
/// (`frozen_hidden`); `targets[i] = Some(tok)` asks position i to predict
/// `tok`. With `grads`, dL/d(adapters) × `weight` is added into it.
pub fn loss_and_grads(
    model: &Llama,
    lora: &Lora,
    x0: &[f32],
    targets: &[Option<u32>],
    weight: f32,
    grads: Option<&mut [f32]>,
) -> f32 {
    let c = model.cfg;
    let (t, d, vocab) = (targets.len(), c.d_model, c.vocab);
    let mut pass = Pass::new(model, t);
    let mut x = x0.to_vec();
    for li in lora.cfg.first_layer..c.n_layer {
        pass.layer_forward(model, li, Some(lora), &mut x);
    }
    let pos: Vec<(usize, u32)> = targets
        .iter()
        .enumerate()
        .filter_map(|(i, t)| t.map(|t| (i, t)))
        .collect();
    let m = pos.len();
    let mut sel = vec![0f32; m * d];
    for (r, &(i, _)) in pos.iter().enumerate() {
        sel[r * d..(r + 1) * d].copy_from_slice(&x[i * d..(i + 1) * d]);
    }
    let mut hn = vec![0f32; m * d];
    rms_norm(&sel, &model.out_norm, c.eps, &mut hn, d);
    let w = model.output_weight();
    let mut logits = vec![0f32; m * vocab];
    matmul_t(&hn, m, d, w, vocab, &mut logits);
    let mut loss = 0.0f32;
    for (r, &(_, tok)) in pos.iter().enumerate() {
        let row = &mut logits[r * vocab..(r + 1) * vocab];
        let max = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        let sum: f32 = row.iter().map(|v| (v - max).exp()).sum();
        let lse = max + sum.ln();
        loss += lse - row[(tok as usize).min(vocab - 1)];
        // Softmax − one-hot, the gradient of the loss in the logits.
        for v in row.iter_mut() {
            *v = (*v - lse).exp() * weight;
        }
        row[(tok as usize).min(vocab - 1)] -= weight;
    }
    let Some(grads) = grads else { return loss };
    let mut dhn = vec![0f32; m * d];
    gemm(m, vocab, d, &logits, false, w, false, 0.0, &mut dhn);
    let mut dsel = vec![0f32; m * d];
    rms_norm_back(&sel, &model.out_norm, c.eps, &dhn, &mut dsel, d);
    let mut dx = vec![0f32; t * d];
    for (r, &(i, _)) in pos.iter().enumerate() {
        for k in 0..d {
            dx[i * d + k] += dsel[r * d + k];
        }
    }
    let saved = std::mem::take(&mut pass.saved);
    for (k, sv) in saved.iter().enumerate().rev() {
        pass.layer_backward(model, lora.cfg.first_layer + k, lora, sv, &mut dx, grads);
    }
    loss
}

#[cfg(test)]
#[path = "lora_tests.rs"]
mod tests;
