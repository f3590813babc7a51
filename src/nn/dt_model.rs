//! The Decision Transformer model: GPT-2 (pre-LN) over interleaved
//! (return-to-go, state, action) tokens, one flat parameter buffer, forward and
//! backward in one place with every activation kept in a reusable `DtCache`.
//! See `dt` for the configuration, batch and parameter layout.

use ganglion_sim::Rng;

use super::activation::fast_tanh;
use super::attention::{AttnCache, AttnScratch, CausalAttention, key_bias};
use super::dropout::{apply_mask, dropout_mask};
use super::dt::{DtBatch, DtConfig, DtError, DtLayout};
use super::linear::Linear;
use super::loss::{cross_entropy, mse};

/// GPT-2's init scale.
const INIT_STD: f32 = 0.02;

/// Activations kept per block.
#[derive(Clone, Debug, Default)]
struct BlockCache {
    ln1: Vec<f32>,
    ln1_mean: Vec<f32>,
    ln1_rstd: Vec<f32>,
    attn: AttnCache,
    /// Attention output before the projection.
    atty: Vec<f32>,
    drop1: Vec<f32>,
    /// Residual stream after the attention branch.
    res_mid: Vec<f32>,
    ln2: Vec<f32>,
    ln2_mean: Vec<f32>,
    ln2_rstd: Vec<f32>,
    /// MLP hidden layer before and after the activation.
    fch: Vec<f32>,
    fca: Vec<f32>,
    drop2: Vec<f32>,
}

/// Everything a forward pass keeps for the backward pass, plus gradient
/// scratch. Grows to the largest batch and window seen, then is reused.
#[derive(Clone, Debug, Default)]
pub struct DtCache {
    cap_batch: usize,
    cap_k: usize,
    dropped: bool,
    /// Per token: clamped timestep and attention key bias.
    tok_ts: Vec<usize>,
    bias: Vec<f32>,
    r_emb: Vec<f32>,
    s_emb: Vec<f32>,
    a_emb: Vec<f32>,
    x_emb: Vec<f32>,
    emb_mean: Vec<f32>,
    emb_rstd: Vec<f32>,
    emb_drop: Vec<f32>,
    /// `res[l]`: residual stream entering block `l`; `res[layers]` leaves the last.
    res: Vec<Vec<f32>>,
    blocks: Vec<BlockCache>,
    lnf: Vec<f32>,
    lnf_mean: Vec<f32>,
    lnf_rstd: Vec<f32>,
    /// Final hidden states of the state tokens, and the predictions.
    hs: Vec<f32>,
    preds: Vec<f32>,
    qkv: Vec<f32>,
    tmp: Vec<f32>,
    dpred: Vec<f32>,
    dhs: Vec<f32>,
    dres: Vec<f32>,
    dbuf: Vec<f32>,
    dbuf2: Vec<f32>,
    dwide: Vec<f32>,
    scratch: AttnScratch,
}

impl DtCache {
    fn ensure(&mut self, cfg: &DtConfig, batch: usize, k: usize) {
        if batch <= self.cap_batch && k <= self.cap_k && self.blocks.len() == cfg.layers {
            return;
        }
        let (b, k) = (batch.max(self.cap_batch), k.max(self.cap_k));
        let (e, f, bk) = (cfg.embed, cfg.hidden(), b * k);
        let n = 3 * bk;
        let z = |len: usize| vec![0.0f32; len];
        let block = || BlockCache {
            ln1: z(n * e),
            ln1_mean: z(n),
            ln1_rstd: z(n),
            attn: AttnCache::default(),
            atty: z(n * e),
            drop1: z(n * e),
            res_mid: z(n * e),
            ln2: z(n * e),
            ln2_mean: z(n),
            ln2_rstd: z(n),
            fch: z(n * f),
            fca: z(n * f),
            drop2: z(n * e),
        };
        *self = DtCache {
            cap_batch: b,
            cap_k: k,
            dropped: false,
            tok_ts: vec![0; n],
            bias: z(n),
            r_emb: z(bk * e),
            s_emb: z(bk * e),
            a_emb: z(bk * e),
            x_emb: z(n * e),
            emb_mean: z(n),
            emb_rstd: z(n),
            emb_drop: z(n * e),
            res: (0..=cfg.layers).map(|_| z(n * e)).collect(),
            blocks: (0..cfg.layers).map(|_| block()).collect(),
            lnf: z(n * e),
            lnf_mean: z(n),
            lnf_rstd: z(n),
            hs: z(bk * e),
            preds: z(bk * cfg.act_dim),
            qkv: z(n * 3 * e),
            tmp: z(n * e),
            dpred: z(bk * cfg.act_dim),
            dhs: z(bk * e),
            dres: z(n * e),
            dbuf: z(n * e),
            dbuf2: z(n * e),
            dwide: z(n * f.max(3 * e)),
            scratch: AttnScratch::default(),
        };
    }
}

/// A Decision Transformer with its parameters and gradients.
#[derive(Clone, Debug)]
pub struct DecisionTransformer {
    pub cfg: DtConfig,
    pub layout: DtLayout,
    pub params: Vec<f32>,
    pub grads: Vec<f32>,
}

impl DecisionTransformer {
    /// GPT-2 init: weights Normal(0, 0.02) (residual output projections
    /// 0.02/√(2·layers)), biases 0, LayerNorm γ 1 β 0.
    pub fn new(cfg: DtConfig, rng: &mut Rng) -> Result<Self, DtError> {
        cfg.validate()?;
        let layout = DtLayout::new(&cfg);
        let mut params = vec![0.0f32; layout.num_params];
        let proj_std = INIT_STD / (2.0 * cfg.layers as f32).sqrt();
        let mut normal = |l: &Linear, std: f32, params: &mut [f32]| {
            let w = l.offset..l.offset + l.in_dim * l.out_dim;
            params[w.clone()].iter_mut().for_each(|v| *v = std * rng.normal());
            params[w.end..w.end + l.out_dim].fill(0.0);
        };
        normal(&layout.embed_return, INIT_STD, &mut params);
        normal(&layout.embed_state, INIT_STD, &mut params);
        normal(&layout.embed_action, INIT_STD, &mut params);
        for b in &layout.blocks {
            normal(&b.attn_qkv, INIT_STD, &mut params);
            normal(&b.attn_proj, proj_std, &mut params);
            normal(&b.mlp_fc, INIT_STD, &mut params);
            normal(&b.mlp_proj, proj_std, &mut params);
            b.ln1.init(&mut params);
            b.ln2.init(&mut params);
        }
        normal(&layout.predict_action, INIT_STD, &mut params);
        layout.embed_timestep.init(&mut params, INIT_STD, rng);
        layout.embed_ln.init(&mut params);
        layout.ln_f.init(&mut params);
        let grads = vec![0.0; params.len()];
        Ok(DecisionTransformer {
            cfg,
            layout,
            params,
            grads,
        })
    }

    pub fn num_params(&self) -> usize {
        self.params.len()
    }

    pub fn zero_grads(&mut self) {
        self.grads.fill(0.0);
    }

    pub fn new_cache(&self) -> DtCache {
        DtCache::default()
    }

    /// Action predictions `batch·k × act_dim` (tanh applied for continuous,
    /// logits for discrete), valid in `cache` until its next use. `train`
    /// turns dropout on (drawn from `rng`); otherwise `rng` is untouched.
    pub fn forward<'c>(
        &self,
        batch: &DtBatch,
        cache: &'c mut DtCache,
        train: bool,
        rng: &mut Rng,
    ) -> Result<&'c [f32], DtError> {
        batch.validate(&self.cfg, false)?;
        self.forward_pass(batch, cache, train, rng);
        Ok(&cache.preds[..batch.batch * batch.k * self.cfg.act_dim])
    }

    /// Forward in training mode, the masked loss (MSE for continuous,
    /// cross-entropy for discrete; mean over real timesteps), and the full
    /// backward pass accumulating into `grads` (zero them first).
    pub fn loss_and_backward(
        &mut self,
        batch: &DtBatch,
        cache: &mut DtCache,
        rng: &mut Rng,
    ) -> Result<f32, DtError> {
        batch.validate(&self.cfg, true)?;
        self.forward_pass(batch, cache, true, rng);
        let bk = batch.batch * batch.k;
        let ad = self.cfg.act_dim;
        let (preds, dpred) = (&cache.preds[..bk * ad], &mut cache.dpred[..bk * ad]);
        let loss = if self.cfg.discrete {
            cross_entropy(preds, &batch.target, &batch.mask, ad, dpred)
        } else {
            let l = mse(preds, &batch.target, &batch.mask, ad, dpred);
            dpred.iter_mut().zip(preds).for_each(|(d, y)| *d *= 1.0 - y * y);
            l
        };
        self.backward_pass(batch, cache);
        Ok(loss)
    }

    fn forward_pass(&self, batch: &DtBatch, c: &mut DtCache, train: bool, rng: &mut Rng) {
        let cfg = &self.cfg;
        let (lay, p) = (&self.layout, &self.params[..]);
        let (bk, k, e) = (batch.batch * batch.k, batch.k, cfg.embed);
        let (n, f) = (3 * bk, cfg.hidden());
        let (ne, nf) = (n * e, n * f);
        c.ensure(cfg, batch.batch, k);
        let drop = (train && cfg.dropout > 0.0).then_some(cfg.dropout);
        c.dropped = drop.is_some();

        for i in 0..bk {
            let ts = lay.embed_timestep.clamp(batch.timesteps[i]);
            c.tok_ts[3 * i..3 * i + 3].fill(ts);
            c.bias[3 * i..3 * i + 3].fill(key_bias(batch.mask[i]));
        }
        lay.embed_return.forward(p, &batch.returns_to_go, &mut c.r_emb, bk);
        lay.embed_state.forward(p, &batch.states, &mut c.s_emb, bk);
        lay.embed_action.forward(p, &batch.actions, &mut c.a_emb, bk);
        for i in 0..bk {
            let row = i * e..(i + 1) * e;
            for (j, src) in [&c.r_emb, &c.s_emb, &c.a_emb].into_iter().enumerate() {
                let dst = (3 * i + j) * e;
                c.x_emb[dst..dst + e].copy_from_slice(&src[row.clone()]);
            }
        }
        lay.embed_timestep
            .forward_add(p, &c.tok_ts[..n], &mut c.x_emb[..ne]);
        let res0 = &mut c.res[0][..ne];
        lay.embed_ln
            .forward(p, &c.x_emb, res0, &mut c.emb_mean, &mut c.emb_rstd, n);
        if let Some(pd) = drop {
            dropout_mask(&mut c.emb_drop[..ne], pd, rng);
            apply_mask(res0, &c.emb_drop);
        }

        let attn = CausalAttention {
            seq: 3 * k,
            embed: e,
            heads: cfg.heads,
        };
        for (l, blk) in lay.blocks.iter().enumerate() {
            let (before, after) = c.res.split_at_mut(l + 1);
            let (res_in, res_out) = (&before[l][..ne], &mut after[0][..ne]);
            let bc = &mut c.blocks[l];
            blk.ln1
                .forward(p, res_in, &mut bc.ln1, &mut bc.ln1_mean, &mut bc.ln1_rstd, n);
            blk.attn_qkv.forward(p, &bc.ln1, &mut c.qkv, n);
            let dropout = drop.map(|pd| (pd, &mut *rng));
            attn.forward(
                &c.qkv,
                &c.bias,
                batch.batch,
                &mut bc.attn,
                &mut c.scratch,
                dropout,
                &mut bc.atty,
            );
            blk.attn_proj.forward(p, &bc.atty, &mut c.tmp, n);
            if let Some(pd) = drop {
                dropout_mask(&mut bc.drop1[..ne], pd, rng);
                apply_mask(&mut c.tmp[..ne], &bc.drop1);
            }
            for ((m, r), t) in bc.res_mid[..ne].iter_mut().zip(res_in).zip(&c.tmp) {
                *m = r + t;
            }
            blk.ln2.forward(
                p,
                &bc.res_mid,
                &mut bc.ln2,
                &mut bc.ln2_mean,
                &mut bc.ln2_rstd,
                n,
            );
            blk.mlp_fc.forward(p, &bc.ln2, &mut bc.fch, n);
            cfg.activation.forward(&bc.fch[..nf], &mut bc.fca[..nf]);
            blk.mlp_proj.forward(p, &bc.fca, &mut c.tmp, n);
            if let Some(pd) = drop {
                dropout_mask(&mut bc.drop2[..ne], pd, rng);
                apply_mask(&mut c.tmp[..ne], &bc.drop2);
            }
            for ((o, m), t) in res_out.iter_mut().zip(&bc.res_mid).zip(&c.tmp) {
                *o = m + t;
            }
        }

        let last = &c.res[cfg.layers];
        lay.ln_f
            .forward(p, last, &mut c.lnf, &mut c.lnf_mean, &mut c.lnf_rstd, n);
        for i in 0..bk {
            let src = (3 * i + 1) * e;
            c.hs[i * e..(i + 1) * e].copy_from_slice(&c.lnf[src..src + e]);
        }
        let preds = &mut c.preds[..bk * cfg.act_dim];
        lay.predict_action.forward(p, &c.hs, preds, bk);
        if !cfg.discrete {
            preds.iter_mut().for_each(|v| *v = fast_tanh(*v));
        }
    }

    /// Backward from `c.dpred` (gradient w.r.t. the pre-tanh outputs) after
    /// `forward_pass` with the same batch.
    fn backward_pass(&mut self, batch: &DtBatch, c: &mut DtCache) {
        let cfg = &self.cfg;
        let (lay, p, g) = (&self.layout, &self.params[..], &mut self.grads[..]);
        let (bk, e) = (batch.batch * batch.k, cfg.embed);
        let (n, f) = (3 * bk, cfg.hidden());
        let (ne, nf) = (n * e, n * f);

        lay.predict_action
            .backward(p, &c.hs, &c.dpred, Some(&mut c.dhs[..bk * e]), g, bk);
        // Only the state tokens feed the head.
        let dlnf = &mut c.dbuf[..ne];
        dlnf.fill(0.0);
        for i in 0..bk {
            let dst = (3 * i + 1) * e;
            dlnf[dst..dst + e].copy_from_slice(&c.dhs[i * e..(i + 1) * e]);
        }
        let dres = &mut c.dres[..ne];
        dres.fill(0.0);
        let last = &c.res[cfg.layers];
        lay.ln_f
            .backward(p, last, &c.lnf_mean, &c.lnf_rstd, dlnf, dres, g, n);

        let attn = CausalAttention {
            seq: 3 * batch.k,
            embed: e,
            heads: cfg.heads,
        };
        for (l, blk) in lay.blocks.iter().enumerate().rev() {
            let bc = &c.blocks[l];
            // MLP branch: res_out = res_mid + drop(proj(act(fc(ln2(res_mid))))).
            let dy = &mut c.dbuf[..ne];
            dy.copy_from_slice(dres);
            if c.dropped {
                apply_mask(dy, &bc.drop2);
            }
            let dh = &mut c.dwide[..nf];
            blk.mlp_proj.backward(p, &bc.fca, dy, Some(&mut *dh), g, n);
            cfg.activation.backward(&bc.fch[..nf], dh);
            blk.mlp_fc.backward(p, &bc.ln2, dh, Some(&mut *dy), g, n);
            blk.ln2
                .backward(p, &bc.res_mid, &bc.ln2_mean, &bc.ln2_rstd, dy, dres, g, n);
            // Attention branch: res_mid = res_in + drop(proj(attn(qkv(ln1(res_in))))).
            dy.copy_from_slice(dres);
            if c.dropped {
                apply_mask(dy, &bc.drop1);
            }
            let datty = &mut c.dbuf2[..ne];
            blk.attn_proj.backward(p, &bc.atty, dy, Some(&mut *datty), g, n);
            let dqkv = &mut c.dwide[..3 * ne];
            attn.backward(datty, &c.bias, batch.batch, &bc.attn, &mut c.scratch, dqkv);
            blk.attn_qkv.backward(p, &bc.ln1, dqkv, Some(&mut *dy), g, n);
            blk.ln1
                .backward(p, &c.res[l], &bc.ln1_mean, &bc.ln1_rstd, dy, dres, g, n);
        }

        if c.dropped {
            apply_mask(dres, &c.emb_drop);
        }
        let dx = &mut c.dbuf[..ne];
        dx.fill(0.0);
        lay.embed_ln
            .backward(p, &c.x_emb, &c.emb_mean, &c.emb_rstd, dres, dx, g, n);
        lay.embed_timestep.backward(&c.tok_ts[..n], dx, g);
        // De-interleave into the three input embeddings' gradients (reusing
        // their forward buffers, no longer needed).
        for i in 0..bk {
            let row = i * e..(i + 1) * e;
            for (j, dst) in [&mut c.r_emb, &mut c.s_emb, &mut c.a_emb].into_iter().enumerate() {
                let src = (3 * i + j) * e;
                dst[row.clone()].copy_from_slice(&dx[src..src + e]);
            }
        }
        lay.embed_return
            .backward(p, &batch.returns_to_go, &c.r_emb, None, g, bk);
        lay.embed_state.backward(p, &batch.states, &c.s_emb, None, g, bk);
        lay.embed_action
            .backward(p, &batch.actions, &c.a_emb, None, g, bk);
    }
}
