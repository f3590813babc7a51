//! The Decision Transformer model: GPT-2 (pre-LN) over interleaved
//! (return-to-go, state, action) tokens, one flat parameter buffer, forward and
//! backward in one place with every activation kept in a reusable `DtCache`.
//! See `dt` for the configuration, batch and parameter layout.

use ganglion_sim::Rng;

use crate::nn::activation::fast_tanh;
use crate::nn::attention::{AttnCache, AttnScratch, CausalAttention, key_bias};
use crate::nn::dropout::{apply_mask, dropout_mask};
use crate::nn::dt::config::{DtBatch, DtConfig, DtError, DtLayout};
use crate::nn::gelu::BlockActivation;
use crate::nn::linear::Linear;
use crate::nn::loss::{cross_entropy, mse};

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
    /// (embed, hidden, act_dim, layers) the buffers were sized for.
    dims: (usize, usize, usize, usize),
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
    /// Final LayerNorm of the state tokens (the head's input) and predictions.
    preds: Vec<f32>,
    /// The state tokens' residual stream entering the last block.
    res_s: Vec<f32>,
    qkv: Vec<f32>,
    tmp: Vec<f32>,
    dpred: Vec<f32>,
    dres: Vec<f32>,
    dbuf: Vec<f32>,
    dbuf2: Vec<f32>,
    dwide: Vec<f32>,
    scratch: AttnScratch,
}

impl DtCache {
    fn ensure(&mut self, cfg: &DtConfig, batch: usize, k: usize) {
        let dims = (cfg.embed, cfg.hidden(), cfg.act_dim, cfg.layers);
        if batch <= self.cap_batch && k <= self.cap_k && self.dims == dims {
            return;
        }
        let (b, k) = if self.dims == dims {
            (batch.max(self.cap_batch), k.max(self.cap_k))
        } else {
            (batch, k)
        };
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
            dims,
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
            lnf: z(bk * e),
            lnf_mean: z(bk),
            lnf_rstd: z(bk),
            res_s: z(bk * e),
            preds: z(bk * cfg.act_dim),
            qkv: z(n * 3 * e),
            tmp: z(n * e),
            dpred: z(bk * cfg.act_dim),
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
            params[w.clone()]
                .iter_mut()
                .for_each(|v| *v = std * rng.normal());
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

    /// Checks that `cfg`, `layout` and the buffers still agree (the fields are
    /// public; changing `dropout` is fine, changing a size is not).
    pub fn check_shape(&self) -> Result<(), DtError> {
        self.cfg.validate()?;
        let (c, l) = (&self.cfg, &self.layout);
        let agrees = l.blocks.len() == c.layers
            && l.embed_state.in_dim == c.state_dim
            && l.embed_action.in_dim == c.act_dim
            && l.predict_action.out_dim == c.act_dim
            && l.embed_ln.dim == c.embed
            && l.embed_timestep.rows == c.max_timestep
            && l.blocks.iter().all(|b| b.mlp_fc.out_dim == c.hidden())
            && self.params.len() == l.num_params
            && self.grads.len() == l.num_params;
        if agrees {
            Ok(())
        } else {
            Err(DtError::Config(
                "config, layout and parameter buffers disagree (sizes changed after `new`)".into(),
            ))
        }
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
        self.check_shape()?;
        batch.validate(&self.cfg, false)?;
        self.forward_pass(batch, cache, train, rng);
        Ok(&cache.preds[..batch.batch * batch.k * self.cfg.act_dim])
    }

    /// The masked loss in evaluation mode (no dropout, no backward), e.g. on
    /// held-out windows.
    pub fn eval_loss(&self, batch: &DtBatch, cache: &mut DtCache) -> Result<f32, DtError> {
        self.check_shape()?;
        batch.validate(&self.cfg, true)?;
        // `rng` is untouched without dropout.
        self.forward_pass(batch, cache, false, &mut Rng::new(0));
        Ok(self.loss_into_dpred(batch, cache))
    }

    /// The loss of the predictions in `c`, leaving dL/d(pre-tanh output) in
    /// `c.dpred`.
    fn loss_into_dpred(&self, batch: &DtBatch, c: &mut DtCache) -> f32 {
        let ad = self.cfg.act_dim;
        let n = batch.batch * batch.k * ad;
        let (preds, dpred) = (&c.preds[..n], &mut c.dpred[..n]);
        if self.cfg.discrete {
            cross_entropy(preds, &batch.target, &batch.mask, ad, dpred)
        } else {
            let l = mse(preds, &batch.target, &batch.mask, ad, dpred);
            dpred
                .iter_mut()
                .zip(preds)
                .for_each(|(d, y)| *d *= 1.0 - y * y);
            l
        }
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
        self.check_shape()?;
        batch.validate(&self.cfg, true)?;
        self.forward_pass(batch, cache, true, rng);
        let loss = self.loss_into_dpred(batch, cache);
        self.backward_pass(batch, cache);
        Ok(loss)
    }

    /// The last block only computes what the head reads: after attention
    /// (which needs every token as a key) it continues with the state tokens
    /// alone, a third of the rows. Earlier blocks run on all `3·batch·k` rows.
    fn forward_pass(&self, batch: &DtBatch, c: &mut DtCache, train: bool, rng: &mut Rng) {
        let cfg = &self.cfg;
        let (lay, p) = (&self.layout, &self.params[..]);
        let (bk, k, e) = (batch.batch * batch.k, batch.k, cfg.embed);
        let (n, f) = (3 * bk, cfg.hidden());
        let ne = n * e;
        c.ensure(cfg, batch.batch, k);
        let drop = (train && cfg.dropout > 0.0).then_some(cfg.dropout);
        c.dropped = drop.is_some();

        for i in 0..bk {
            let ts = lay.embed_timestep.clamp(batch.timesteps[i]);
            c.tok_ts[3 * i..3 * i + 3].fill(ts);
            c.bias[3 * i..3 * i + 3].fill(key_bias(batch.mask[i]));
        }
        lay.embed_return
            .forward(p, &batch.returns_to_go, &mut c.r_emb, bk);
        lay.embed_state.forward(p, &batch.states, &mut c.s_emb, bk);
        lay.embed_action
            .forward(p, &batch.actions, &mut c.a_emb, bk);
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
        let last = cfg.layers - 1;
        for (l, blk) in lay.blocks.iter().enumerate() {
            let (before, after) = c.res.split_at_mut(l + 1);
            let (res_full, res_out) = (&before[l][..ne], &mut after[0]);
            let bc = &mut c.blocks[l];
            blk.ln1.forward(
                p,
                res_full,
                &mut bc.ln1,
                &mut bc.ln1_mean,
                &mut bc.ln1_rstd,
                n,
            );
            blk.attn_qkv.forward(p, &bc.ln1, &mut c.qkv, n);
            let dropout = drop.map(|pd| (pd, &mut *rng));
            let (rows, res_in) = if l == last {
                attn.forward(
                    &c.qkv,
                    &c.bias,
                    batch.batch,
                    &mut bc.attn,
                    &mut c.scratch,
                    dropout,
                    &mut c.tmp,
                );
                for i in 0..bk {
                    let src = (3 * i + 1) * e..(3 * i + 2) * e;
                    bc.atty[i * e..(i + 1) * e].copy_from_slice(&c.tmp[src.clone()]);
                    c.res_s[i * e..(i + 1) * e].copy_from_slice(&res_full[src]);
                }
                (bk, &c.res_s[..bk * e])
            } else {
                attn.forward(
                    &c.qkv,
                    &c.bias,
                    batch.batch,
                    &mut bc.attn,
                    &mut c.scratch,
                    dropout,
                    &mut bc.atty,
                );
                (n, res_full)
            };
            let (re, rf) = (rows * e, rows * f);
            blk.attn_proj.forward(p, &bc.atty, &mut c.tmp, rows);
            if let Some(pd) = drop {
                dropout_mask(&mut bc.drop1[..re], pd, rng);
                apply_mask(&mut c.tmp[..re], &bc.drop1);
            }
            for ((m, r), t) in bc.res_mid[..re].iter_mut().zip(res_in).zip(&c.tmp) {
                *m = r + t;
            }
            blk.ln2.forward(
                p,
                &bc.res_mid,
                &mut bc.ln2,
                &mut bc.ln2_mean,
                &mut bc.ln2_rstd,
                rows,
            );
            blk.mlp_fc.forward(p, &bc.ln2, &mut bc.fch, rows);
            if train {
                // Leaves f'(x) in `fch` for the backward pass.
                cfg.activation
                    .forward_train(&mut bc.fch[..rf], &mut bc.fca[..rf]);
            } else {
                cfg.activation.forward(&bc.fch[..rf], &mut bc.fca[..rf]);
            }
            blk.mlp_proj.forward(p, &bc.fca, &mut c.tmp, rows);
            if let Some(pd) = drop {
                dropout_mask(&mut bc.drop2[..re], pd, rng);
                apply_mask(&mut c.tmp[..re], &bc.drop2);
            }
            for ((o, m), t) in res_out[..re].iter_mut().zip(&bc.res_mid).zip(&c.tmp) {
                *o = m + t;
            }
        }

        // `res[layers]` holds the state tokens only, in timestep order.
        let top = &c.res[cfg.layers];
        lay.ln_f
            .forward(p, top, &mut c.lnf, &mut c.lnf_mean, &mut c.lnf_rstd, bk);
        let preds = &mut c.preds[..bk * cfg.act_dim];
        lay.predict_action.forward(p, &c.lnf, preds, bk);
        if !cfg.discrete {
            preds.iter_mut().for_each(|v| *v = fast_tanh(*v));
        }
    }

    /// Backward from `c.dpred` (gradient w.r.t. the pre-tanh outputs) after
    /// `forward_pass` in training mode with the same batch.
    fn backward_pass(&mut self, batch: &DtBatch, c: &mut DtCache) {
        let cfg = &self.cfg;
        let (lay, p, g) = (&self.layout, &self.params[..], &mut self.grads[..]);
        let (bk, e) = (batch.batch * batch.k, cfg.embed);
        let (n, f) = (3 * bk, cfg.hidden());
        let ne = n * e;

        let dlnf = &mut c.dbuf2[..bk * e];
        lay.predict_action
            .backward(p, &c.lnf, &c.dpred, Some(&mut *dlnf), g, bk);
        // Gradient of the residual stream; state rows only above the last block.
        let dres = &mut c.dres[..ne];
        dres[..bk * e].fill(0.0);
        let top = &c.res[cfg.layers];
        lay.ln_f
            .backward(p, top, &c.lnf_mean, &c.lnf_rstd, dlnf, dres, g, bk);

        let attn = CausalAttention {
            seq: 3 * batch.k,
            embed: e,
            heads: cfg.heads,
        };
        let last = cfg.layers - 1;
        for (l, blk) in lay.blocks.iter().enumerate().rev() {
            let bc = &c.blocks[l];
            let rows = if l == last { bk } else { n };
            let (re, rf) = (rows * e, rows * f);
            // MLP branch: res_out = res_mid + drop(proj(act(fc(ln2(res_mid))))).
            let dy = &mut c.dbuf[..re];
            dy.copy_from_slice(&dres[..re]);
            if c.dropped {
                apply_mask(dy, &bc.drop2);
            }
            let dh = &mut c.dwide[..rf];
            blk.mlp_proj
                .backward(p, &bc.fca, dy, Some(&mut *dh), g, rows);
            BlockActivation::backward_from_grad(&bc.fch[..rf], dh);
            blk.mlp_fc.backward(p, &bc.ln2, dh, Some(&mut *dy), g, rows);
            let dres_rows = &mut dres[..re];
            blk.ln2.backward(
                p,
                &bc.res_mid,
                &bc.ln2_mean,
                &bc.ln2_rstd,
                dy,
                dres_rows,
                g,
                rows,
            );
            // Attention branch: res_mid = res_in + drop(proj(attn(qkv(ln1(res_in))))).
            dy.copy_from_slice(dres_rows);
            if c.dropped {
                apply_mask(dy, &bc.drop1);
            }
            let datty = &mut c.dbuf2[..re];
            blk.attn_proj
                .backward(p, &bc.atty, dy, Some(&mut *datty), g, rows);
            let datty: &[f32] = if l == last {
                // Back to all 3·batch·k rows: zero for the tokens not computed.
                let full = &mut c.tmp[..ne];
                full.fill(0.0);
                c.dbuf[..re].copy_from_slice(&dres[..re]);
                dres.fill(0.0);
                for i in 0..bk {
                    let dst = (3 * i + 1) * e..(3 * i + 2) * e;
                    full[dst.clone()].copy_from_slice(&datty[i * e..(i + 1) * e]);
                    dres[dst].copy_from_slice(&c.dbuf[i * e..(i + 1) * e]);
                }
                full
            } else {
                datty
            };
            let dqkv = &mut c.dwide[..3 * ne];
            attn.backward(datty, &c.bias, batch.batch, &bc.attn, &mut c.scratch, dqkv);
            let dy = &mut c.dbuf[..ne];
            blk.attn_qkv
                .backward(p, &bc.ln1, dqkv, Some(&mut *dy), g, n);
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
            for (j, dst) in [&mut c.r_emb, &mut c.s_emb, &mut c.a_emb]
                .into_iter()
                .enumerate()
            {
                let src = (3 * i + j) * e;
                dst[row.clone()].copy_from_slice(&dx[src..src + e]);
            }
        }
        lay.embed_return
            .backward(p, &batch.returns_to_go, &c.r_emb, None, g, bk);
        lay.embed_state
            .backward(p, &batch.states, &c.s_emb, None, g, bk);
        lay.embed_action
            .backward(p, &batch.actions, &c.a_emb, None, g, bk);
    }
}
