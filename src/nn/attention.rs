//! Causal multi-head self-attention core (between the QKV projection and the
//! output projection): per sequence and head, `P = softmax(Q·Kᵀ/√d + bias)`
//! over keys `j ≤ i`, then `Y = P·V`. `bias` is per key (0 for real tokens,
//! `PAD_BIAS` for padding) so no real query attends to padding; a fully padded
//! row stays finite. Optional dropout on `P`. Q, K, V are kept head-major
//! (`batch × heads × seq × head_dim`) so every product is one `gemm`.

use super::dropout::dropout_mask;
use super::gemm::gemm;
use super::reduce;
use ganglion_sim::Rng;

/// Added to the scores of padded keys (a large negative, not −∞).
pub const PAD_BIAS: f32 = -1e9;

/// The key bias of a mask entry: `(mask − 1)·1e9`, i.e. 0 for 1 and −1e9 for 0
/// (the same arithmetic the ONNX export uses).
#[inline]
pub fn key_bias(mask: f32) -> f32 {
    (mask - 1.0) * -PAD_BIAS
}

/// Whether a key bias marks a padded key.
#[inline]
fn is_padded(bias: f32) -> bool {
    bias <= 0.5 * PAD_BIAS
}

#[derive(Clone, Debug, PartialEq)]
pub struct CausalAttention {
    /// Tokens per sequence.
    pub seq: usize,
    pub embed: usize,
    pub heads: usize,
}

/// Activations kept for the backward pass (sized by `ensure`).
#[derive(Clone, Debug, Default)]
pub struct AttnCache {
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    /// Softmax probabilities, `batch × heads × seq × seq` (0 above the diagonal).
    att: Vec<f32>,
    /// Dropout mask on `att`, when `dropped`.
    drop: Vec<f32>,
    dropped: bool,
}

/// Per-(sequence, head) temporaries shared by all layers.
#[derive(Clone, Debug, Default)]
pub struct AttnScratch {
    pd: Vec<f32>,
    dp: Vec<f32>,
    y: Vec<f32>,
    dy: Vec<f32>,
    dq: Vec<f32>,
    dk: Vec<f32>,
}

impl AttnScratch {
    pub fn ensure(&mut self, seq: usize, head_dim: usize) {
        let (tt, td) = (seq * seq, seq * head_dim);
        for (buf, n) in [
            (&mut self.pd, tt),
            (&mut self.dp, tt),
            (&mut self.y, td),
            (&mut self.dy, td),
            (&mut self.dq, td),
            (&mut self.dk, td),
        ] {
            if buf.len() < n {
                buf.resize(n, 0.0);
            }
        }
    }
}

impl CausalAttention {
    pub fn head_dim(&self) -> usize {
        self.embed / self.heads.max(1)
    }

    /// Sizes `cache` for `batch` sequences (reuses it when large enough).
    pub fn ensure(&self, cache: &mut AttnCache, batch: usize) {
        let n = batch * self.seq * self.embed;
        let a = batch * self.heads * self.seq * self.seq;
        for (buf, len) in [
            (&mut cache.q, n),
            (&mut cache.k, n),
            (&mut cache.v, n),
            (&mut cache.att, a),
            (&mut cache.drop, a),
        ] {
            if buf.len() < len {
                buf.resize(len, 0.0);
            }
        }
    }

    /// Softmax probabilities of the last forward pass (for tests).
    pub fn probs<'a>(&self, cache: &'a AttnCache, batch: usize) -> &'a [f32] {
        &cache.att[..batch * self.heads * self.seq * self.seq]
    }

    /// `qkv`: `batch·seq × 3·embed` (Q, K, V side by side, heads contiguous in
    /// each); `bias`: `batch·seq` per-key bias; `out`: `batch·seq × embed`.
    /// `dropout`: probability and generator, in training.
    #[allow(clippy::too_many_arguments)]
    pub fn forward(
        &self,
        qkv: &[f32],
        bias: &[f32],
        batch: usize,
        cache: &mut AttnCache,
        scratch: &mut AttnScratch,
        dropout: Option<(f32, &mut Rng)>,
        out: &mut [f32],
    ) {
        let (t, e, h, d) = (self.seq, self.embed, self.heads, self.head_dim());
        self.ensure(cache, batch);
        scratch.ensure(t, d);
        cache.dropped = false;
        if let Some((p, rng)) = dropout.filter(|(p, _)| *p > 0.0) {
            dropout_mask(&mut cache.drop[..batch * h * t * t], p, rng);
            cache.dropped = true;
        }
        // Split QKV into head-major Q, K, V.
        for b in 0..batch {
            for ti in 0..t {
                let row = &qkv[(b * t + ti) * 3 * e..(b * t + ti + 1) * 3 * e];
                for hh in 0..h {
                    let dst = ((b * h + hh) * t + ti) * d;
                    cache.q[dst..dst + d].copy_from_slice(&row[hh * d..(hh + 1) * d]);
                    cache.k[dst..dst + d].copy_from_slice(&row[e + hh * d..e + (hh + 1) * d]);
                    cache.v[dst..dst + d]
                        .copy_from_slice(&row[2 * e + hh * d..2 * e + (hh + 1) * d]);
                }
            }
        }
        let scale = 1.0 / (d as f32).sqrt();
        for b in 0..batch {
            let key_bias = &bias[b * t..(b + 1) * t];
            for hh in 0..h {
                let bh = b * h + hh;
                let (qs, ps) = (bh * t * d..(bh + 1) * t * d, bh * t * t..(bh + 1) * t * t);
                let att = &mut cache.att[ps.clone()];
                gemm(
                    t,
                    d,
                    t,
                    &cache.q[qs.clone()],
                    false,
                    &cache.k[qs.clone()],
                    true,
                    0.0,
                    att,
                );
                for i in 0..t {
                    let row = &mut att[i * t..(i + 1) * t];
                    let mut max = f32::NEG_INFINITY;
                    for j in 0..=i {
                        row[j] = row[j] * scale + key_bias[j];
                        max = max.max(row[j]);
                    }
                    let mut sum = 0.0f32;
                    for v in &mut row[..=i] {
                        *v = (*v - max).exp();
                        sum += *v;
                    }
                    let inv = 1.0 / sum;
                    row[..=i].iter_mut().for_each(|v| *v *= inv);
                    row[i + 1..].fill(0.0);
                }
                let p: &[f32] = if cache.dropped {
                    for ((o, a), m) in scratch.pd[..t * t]
                        .iter_mut()
                        .zip(&*att)
                        .zip(&cache.drop[ps])
                    {
                        *o = a * m;
                    }
                    &scratch.pd[..t * t]
                } else {
                    att
                };
                gemm(t, t, d, p, false, &cache.v[qs], false, 0.0, &mut scratch.y);
                for ti in 0..t {
                    let dst = (b * t + ti) * e + hh * d;
                    out[dst..dst + d].copy_from_slice(&scratch.y[ti * d..(ti + 1) * d]);
                }
            }
        }
    }

    /// From `dout` (`batch·seq × embed`) after `forward` with the same cache
    /// and `bias`, writes `dqkv` (`batch·seq × 3·embed`). Scores of padded keys
    /// pass no gradient: in f32 `s − 1e9` rounds to −1e9, so the forward pass
    /// does not depend on them (this matters only for fully padded rows, whose
    /// real-key weights are already 0).
    pub fn backward(
        &self,
        dout: &[f32],
        bias: &[f32],
        batch: usize,
        cache: &AttnCache,
        scratch: &mut AttnScratch,
        dqkv: &mut [f32],
    ) {
        let (t, e, h, d) = (self.seq, self.embed, self.heads, self.head_dim());
        scratch.ensure(t, d);
        let scale = 1.0 / (d as f32).sqrt();
        let s = scratch;
        for b in 0..batch {
            let key_bias = &bias[b * t..(b + 1) * t];
            for hh in 0..h {
                let bh = b * h + hh;
                let (qs, ps) = (bh * t * d..(bh + 1) * t * d, bh * t * t..(bh + 1) * t * t);
                let att = &cache.att[ps.clone()];
                for ti in 0..t {
                    let src = (b * t + ti) * e + hh * d;
                    s.dy[ti * d..(ti + 1) * d].copy_from_slice(&dout[src..src + d]);
                }
                let p: &[f32] = if cache.dropped {
                    for ((o, a), m) in s.pd[..t * t]
                        .iter_mut()
                        .zip(att)
                        .zip(&cache.drop[ps.clone()])
                    {
                        *o = a * m;
                    }
                    &s.pd[..t * t]
                } else {
                    att
                };
                // dV = Pᵀ·dY straight into s.y (reused as dV).
                gemm(t, t, d, p, true, &s.dy, false, 0.0, &mut s.y);
                // dP = dY·Vᵀ, through the dropout mask.
                gemm(
                    t,
                    d,
                    t,
                    &s.dy,
                    false,
                    &cache.v[qs.clone()],
                    true,
                    0.0,
                    &mut s.dp,
                );
                if cache.dropped {
                    for (g, m) in s.dp[..t * t].iter_mut().zip(&cache.drop[ps]) {
                        *g *= m;
                    }
                }
                // Softmax backward: dS = P ⊙ (dP − Σ P·dP), times the scale.
                for i in 0..t {
                    let pr = &att[i * t..(i + 1) * t];
                    let dr = &mut s.dp[i * t..(i + 1) * t];
                    let dot = reduce::dot(&pr[..=i], &dr[..=i]);
                    for j in 0..=i {
                        dr[j] = if is_padded(key_bias[j]) {
                            0.0
                        } else {
                            pr[j] * (dr[j] - dot) * scale
                        };
                    }
                    dr[i + 1..].fill(0.0);
                }
                gemm(
                    t,
                    t,
                    d,
                    &s.dp,
                    false,
                    &cache.k[qs.clone()],
                    false,
                    0.0,
                    &mut s.dq,
                );
                gemm(t, t, d, &s.dp, true, &cache.q[qs], false, 0.0, &mut s.dk);
                for ti in 0..t {
                    let row = &mut dqkv[(b * t + ti) * 3 * e..(b * t + ti + 1) * 3 * e];
                    let src = ti * d..(ti + 1) * d;
                    row[hh * d..(hh + 1) * d].copy_from_slice(&s.dq[src.clone()]);
                    row[e + hh * d..e + (hh + 1) * d].copy_from_slice(&s.dk[src.clone()]);
                    row[2 * e + hh * d..2 * e + (hh + 1) * d].copy_from_slice(&s.y[src]);
                }
            }
        }
    }
}
