//! The Decision Transformer on the GPU: parameters, gradients, AdamW moments
//! and every activation stay on the device across steps; a step uploads the
//! batch (sampled on the host, as the CPU trainer does) and queues forward,
//! loss, backward, gradient clipping and AdamW without waiting for the host.
//! Losses land in a device array the trainer reads when it reports.
//!
//! It mirrors `dt_model::DecisionTransformer::{forward_pass, backward_pass}`
//! op for op (the same last-block shortcut over state tokens only). With
//! dropout off the two agree to float rounding; with dropout on, the GPU draws
//! its masks from a counter-based hash seeded from the trainer's `Rng` (one
//! draw per step), so masks differ from the CPU's but are reproducible.

use ganglion_sim::{Rng, derive_seed};

use super::CudaError;
use super::dt_cache::GpuDtCache;
use super::gpu::{Buf, Gpu};
use super::ops::{GpuAdam, GradClip, i, launch};
use crate::nn::attention::CausalAttention;
use crate::nn::dt::model::DecisionTransformer;
use crate::nn::dt::{DtBatch, DtConfig, DtLayout};
use crate::nn::loss::{class_index, is_valid};
use cudarc::driver::PushKernelArg;

pub struct DtCuda {
    pub gpu: Gpu,
    pub cfg: DtConfig,
    pub layout: DtLayout,
    params: Buf<f32>,
    grads: Buf<f32>,
    cache: GpuDtCache,
    pub opt: GpuAdam,
    clip: GradClip,
    /// One loss per step, `loss_slots` long (the trainer reads them in chunks).
    losses: Buf<f32>,
    dropped: bool,
    /// Seed of this step's dropout masks and how many were drawn.
    drop_seed: u64,
    drop_count: u64,
}

fn shape(e: impl std::fmt::Display) -> CudaError {
    CudaError::Shape(e.to_string())
}

impl DtCuda {
    /// Uploads `model`'s parameters (zero gradients, zero Adam moments) and
    /// allocates activations for up to `cap_batch` windows of the model's
    /// context. `loss_slots`: how many step losses the device keeps.
    pub fn new(
        mut gpu: Gpu,
        model: &DecisionTransformer,
        cap_batch: usize,
        loss_slots: usize,
    ) -> Result<Self, CudaError> {
        model.check_shape().map_err(shape)?;
        let cfg = model.cfg.clone();
        let k = cfg.context;
        gpu.reserve_ones(3 * cap_batch * k)?;
        let cache = GpuDtCache::new(&gpu, &cfg, cap_batch, k)?;
        Ok(DtCuda {
            params: gpu.upload(&model.params)?,
            grads: gpu.zeros(model.params.len())?,
            opt: GpuAdam::new(&gpu, model.params.len())?,
            clip: GradClip::new(&gpu)?,
            losses: gpu.zeros(loss_slots.max(1))?,
            layout: model.layout.clone(),
            cfg,
            cache,
            gpu,
            dropped: false,
            drop_seed: 0,
            drop_count: 0,
        })
    }

    pub fn num_params(&self) -> usize {
        self.params.len()
    }

    pub fn zero_grads(&self) -> Result<(), CudaError> {
        self.gpu.zero(self.grads.p())
    }

    /// Copies the parameters into `out` (e.g. the CPU model, for export).
    pub fn params_to_host(&self, out: &mut [f32]) -> Result<(), CudaError> {
        self.gpu.read(self.params.p(), out)
    }

    pub fn grads_to_host(&self) -> Result<Vec<f32>, CudaError> {
        self.gpu.to_vec(self.grads.p())
    }

    /// The losses of slots `0..n` (waits for the device).
    pub fn read_losses(&self, n: usize) -> Result<Vec<f32>, CudaError> {
        self.gpu.to_vec(self.losses.p().head(n))
    }

    /// The gradient norm of the last `clip_and_step` (waits for the device).
    pub fn last_grad_norm(&self) -> Result<f32, CudaError> {
        Ok(self.gpu.to_vec(self.clip.norm())?[0])
    }

    /// Validates and uploads `batch`; returns how many rows the loss counts.
    fn upload(&mut self, batch: &DtBatch, targets: bool) -> Result<usize, CudaError> {
        batch.validate(&self.cfg, targets).map_err(shape)?;
        if batch.batch > self.cache.cap_batch || batch.k != self.cache.k {
            return Err(CudaError::Shape(format!(
                "batch {} × k {} does not fit the device buffers ({} × {})",
                batch.batch, batch.k, self.cache.cap_batch, self.cache.k
            )));
        }
        let (g, c) = (&self.gpu, &mut self.cache);
        g.write(c.states.p(), &batch.states)?;
        g.write(c.actions.p(), &batch.actions)?;
        g.write(c.rtg.p(), &batch.returns_to_go)?;
        g.write(c.mask.p(), &batch.mask)?;
        g.write(c.target.p(), &batch.target)?;
        let bk = batch.batch * batch.k;
        for (d, s) in c.ts_host[..bk].iter_mut().zip(&batch.timesteps) {
            *d = i32::try_from(*s).unwrap_or(i32::MAX);
        }
        g.write(c.timesteps.p(), &c.ts_host[..bk])?;
        let ad = self.cfg.act_dim;
        let count = if self.cfg.discrete {
            (0..bk)
                .filter(|&r| is_valid(batch.mask[r]) && class_index(batch.target[r], ad).is_some())
                .count()
        } else {
            batch.mask.iter().filter(|m| is_valid(**m)).count()
        };
        Ok(count)
    }

    /// Action predictions in evaluation mode (no dropout), `batch·k × act_dim`.
    pub fn forward(&mut self, batch: &DtBatch) -> Result<Vec<f32>, CudaError> {
        self.upload(batch, false)?;
        self.forward_pass(batch.batch, false)?;
        let n = batch.batch * batch.k * self.cfg.act_dim;
        self.gpu.to_vec(self.cache.preds.p().head(n))
    }

    /// Forward in training mode, the masked loss into loss slot `slot`, and
    /// the backward pass accumulating into the gradients (zero them first).
    /// Queues work only: nothing waits for the device.
    pub fn loss_and_backward(
        &mut self,
        batch: &DtBatch,
        rng: &mut Rng,
        slot: usize,
    ) -> Result<(), CudaError> {
        let count = self.upload(batch, true)?;
        if self.cfg.dropout > 0.0 {
            self.drop_seed = rng.next_u64();
            self.drop_count = 0;
        }
        self.forward_pass(batch.batch, true)?;
        self.loss_into_dpred(batch.batch, count, slot)?;
        self.backward_pass(batch.batch)
    }

    /// `clip_grad_norm(grads, max_norm)` then the AdamW step at `lr`.
    pub fn clip_and_step(&mut self, lr: f32, max_norm: f32) -> Result<(), CudaError> {
        self.clip.compute(&self.gpu, self.grads.p(), max_norm)?;
        self.opt.update(
            &self.gpu,
            self.params.p(),
            self.grads.p(),
            lr,
            self.clip.scale(),
        )
    }

    fn next_seed(&mut self) -> u64 {
        self.drop_count += 1;
        derive_seed(self.drop_seed, self.drop_count)
    }

    fn loss_into_dpred(&mut self, b: usize, count: usize, slot: usize) -> Result<(), CudaError> {
        let (ad, bk) = (self.cfg.act_dim, b * self.cache.k);
        let c = &self.cache;
        let loss = self.losses.p().at(slot, 1);
        let (preds, dpred) = (c.preds.p().head(bk * ad), c.dpred.p().head(bk * ad));
        let (g, t, m, rl) = (&self.gpu, c.target.p(), c.mask.p(), c.row_loss.p());
        if self.cfg.discrete {
            g.cross_entropy(preds, t, m, bk, ad, count, dpred, rl, loss)
        } else {
            g.mse(preds, t, m, bk, ad, count, dpred, rl, loss)?;
            g.activation_backward(crate::nn::Activation::Tanh, preds, dpred)
        }
    }

    fn forward_pass(&mut self, b: usize, train: bool) -> Result<(), CudaError> {
        let cfg = self.cfg.clone();
        let (k, e, f) = (self.cache.k, cfg.embed, cfg.hidden());
        let (bk, n) = (b * k, 3 * b * k);
        let ne = n * e;
        let drop = (train && cfg.dropout > 0.0).then_some(cfg.dropout);
        self.dropped = drop.is_some();
        let seeds: Vec<u64> = if drop.is_some() {
            (0..1 + 3 * cfg.layers).map(|_| self.next_seed()).collect()
        } else {
            Vec::new()
        };
        let (g, lay, p, c) = (&self.gpu, &self.layout, self.params.p(), &mut self.cache);

        launch!(g, dt_token_meta, g.elems(bk);
            c.timesteps.p().raw(), c.mask.p().raw(), c.tok_ts.p().raw(), c.bias.p().raw(),
            i(bk), i(cfg.max_timestep))?;
        g.linear_forward(&lay.embed_return, p, c.rtg.p(), c.r_emb.p(), bk)?;
        g.linear_forward(&lay.embed_state, p, c.states.p(), c.s_emb.p(), bk)?;
        g.linear_forward(&lay.embed_action, p, c.actions.p(), c.a_emb.p(), bk)?;
        launch!(g, dt_interleave, g.elems(bk * e);
            c.r_emb.p().raw(), c.s_emb.p().raw(), c.a_emb.p().raw(), c.x_emb.p().raw(),
            i(bk), i(e))?;
        g.embedding_forward_add(&lay.embed_timestep, p, c.tok_ts.p(), c.x_emb.p(), n)?;
        let res0 = c.res[0].p().head(ne);
        g.layernorm_forward(
            &lay.embed_ln,
            p,
            c.x_emb.p(),
            res0,
            c.emb_mean.p(),
            c.emb_rstd.p(),
            n,
        )?;
        if let Some(pd) = drop {
            let mask = c.emb_drop.p().head(ne);
            g.dropout_mask(mask, pd, seeds[0])?;
            g.mul_inplace(res0, mask)?;
        }

        let attn = CausalAttention {
            seq: 3 * k,
            embed: e,
            heads: cfg.heads,
        };
        let last = cfg.layers - 1;
        for (l, blk) in lay.blocks.iter().enumerate() {
            let res_full = c.res[l].p().head(ne);
            let res_out = c.res[l + 1].p();
            let bc = &mut c.blocks[l];
            let (ln1m, ln1r) = (bc.ln1_mean.p(), bc.ln1_rstd.p());
            g.layernorm_forward(&blk.ln1, p, res_full, bc.ln1.p(), ln1m, ln1r, n)?;
            g.linear_forward(&blk.attn_qkv, p, bc.ln1.p(), c.qkv.p(), n)?;
            let dropout = drop.map(|pd| (pd, seeds[1 + 3 * l]));
            let (rows, res_in) = if l == last {
                let (qkv, bias, tmp) = (c.qkv.p(), c.bias.p(), c.tmp.p());
                g.attention_forward(&attn, qkv, bias, b, &mut bc.attn, &c.scratch, dropout, tmp)?;
                launch!(g, gather_token_rows, g.elems(bk * e);
                    tmp.raw(), bc.atty.p().raw(), i(bk), i(e), 1i32)?;
                launch!(g, gather_token_rows, g.elems(bk * e);
                    res_full.raw(), c.res_s.p().raw(), i(bk), i(e), 1i32)?;
                (bk, c.res_s.p().head(bk * e))
            } else {
                let (qkv, bias, atty) = (c.qkv.p(), c.bias.p(), bc.atty.p());
                g.attention_forward(&attn, qkv, bias, b, &mut bc.attn, &c.scratch, dropout, atty)?;
                (n, res_full)
            };
            let (re, rf) = (rows * e, rows * f);
            let tmp = c.tmp.p().head(re);
            g.linear_forward(&blk.attn_proj, p, bc.atty.p(), tmp, rows)?;
            if let Some(pd) = drop {
                let mask = bc.drop1.p().head(re);
                g.dropout_mask(mask, pd, seeds[2 + 3 * l])?;
                g.mul_inplace(tmp, mask)?;
            }
            let res_mid = bc.res_mid.p().head(re);
            g.add_into(res_in, tmp, res_mid)?;
            let (ln2m, ln2r) = (bc.ln2_mean.p(), bc.ln2_rstd.p());
            g.layernorm_forward(&blk.ln2, p, res_mid, bc.ln2.p(), ln2m, ln2r, rows)?;
            g.linear_forward(&blk.mlp_fc, p, bc.ln2.p(), bc.fch.p(), rows)?;
            let (fch, fca) = (bc.fch.p().head(rf), bc.fca.p().head(rf));
            if train {
                g.block_act_forward_train(cfg.activation, fch, fca)?;
            } else {
                g.block_act_forward(cfg.activation, fch, fca)?;
            }
            g.linear_forward(&blk.mlp_proj, p, fca, tmp, rows)?;
            if let Some(pd) = drop {
                let mask = bc.drop2.p().head(re);
                g.dropout_mask(mask, pd, seeds[3 + 3 * l])?;
                g.mul_inplace(tmp, mask)?;
            }
            g.add_into(res_mid, tmp, res_out.head(re))?;
        }

        let top = c.res[cfg.layers].p().head(bk * e);
        let (lm, lr) = (c.lnf_mean.p(), c.lnf_rstd.p());
        g.layernorm_forward(&lay.ln_f, p, top, c.lnf.p(), lm, lr, bk)?;
        let preds = c.preds.p().head(bk * cfg.act_dim);
        g.linear_forward(&lay.predict_action, p, c.lnf.p(), preds, bk)?;
        if !cfg.discrete {
            g.activation_forward(crate::nn::Activation::Tanh, preds)?;
        }
        Ok(())
    }

    fn backward_pass(&mut self, b: usize) -> Result<(), CudaError> {
        let cfg = &self.cfg;
        let (g, lay, c) = (&self.gpu, &self.layout, &self.cache);
        let (p, gr) = (self.params.p(), self.grads.p());
        let (k, e, f) = (c.k, cfg.embed, cfg.hidden());
        let (bk, n) = (b * k, 3 * b * k);
        let ne = n * e;
        let dropped = self.dropped;

        let dlnf = c.dbuf2.p().head(bk * e);
        let dpred = c.dpred.p().head(bk * cfg.act_dim);
        g.linear_backward(&lay.predict_action, p, c.lnf.p(), dpred, Some(dlnf), gr, bk)?;
        let dres = c.dres.p().head(ne);
        g.zero(dres.head(bk * e))?;
        let top = c.res[cfg.layers].p();
        let (lm, lr) = (c.lnf_mean.p(), c.lnf_rstd.p());
        g.layernorm_backward(&lay.ln_f, p, top, lm, lr, dlnf, dres, gr, bk)?;

        let attn = CausalAttention {
            seq: 3 * k,
            embed: e,
            heads: cfg.heads,
        };
        let last = cfg.layers - 1;
        for (l, blk) in lay.blocks.iter().enumerate().rev() {
            let bc = &c.blocks[l];
            let rows = if l == last { bk } else { n };
            let (re, rf) = (rows * e, rows * f);
            // MLP branch.
            let dy = c.dbuf.p().head(re);
            g.copy(dres.head(re), dy)?;
            if dropped {
                g.mul_inplace(dy, bc.drop2.p().head(re))?;
            }
            let dh = c.dwide.p().head(rf);
            g.linear_backward(&blk.mlp_proj, p, bc.fca.p(), dy, Some(dh), gr, rows)?;
            g.mul_inplace(dh, bc.fch.p().head(rf))?;
            g.linear_backward(&blk.mlp_fc, p, bc.ln2.p(), dh, Some(dy), gr, rows)?;
            let dres_rows = dres.head(re);
            let (m2, r2) = (bc.ln2_mean.p(), bc.ln2_rstd.p());
            let res_mid = bc.res_mid.p();
            g.layernorm_backward(&blk.ln2, p, res_mid, m2, r2, dy, dres_rows, gr, rows)?;
            // Attention branch.
            g.copy(dres_rows, dy)?;
            if dropped {
                g.mul_inplace(dy, bc.drop1.p().head(re))?;
            }
            let datty = c.dbuf2.p().head(re);
            g.linear_backward(&blk.attn_proj, p, bc.atty.p(), dy, Some(datty), gr, rows)?;
            let datty = if l == last {
                // Back to all 3·batch·k rows: zero for the tokens not computed.
                let full = c.tmp.p().head(ne);
                g.zero(full)?;
                let saved = c.dbuf.p().head(re);
                g.copy(dres_rows, saved)?;
                g.zero(dres)?;
                launch!(g, scatter_token_rows, g.elems(bk * e);
                    datty.raw(), full.raw(), i(bk), i(e), 1i32)?;
                launch!(g, scatter_token_rows, g.elems(bk * e);
                    saved.raw(), dres.raw(), i(bk), i(e), 1i32)?;
                full
            } else {
                datty
            };
            let dqkv = c.dwide.p().head(3 * ne);
            g.attention_backward(&attn, datty, c.bias.p(), b, &bc.attn, &c.scratch, dqkv)?;
            let dy = c.dbuf.p().head(ne);
            g.linear_backward(&blk.attn_qkv, p, bc.ln1.p(), dqkv, Some(dy), gr, n)?;
            let (m1, r1) = (bc.ln1_mean.p(), bc.ln1_rstd.p());
            g.layernorm_backward(&blk.ln1, p, c.res[l].p(), m1, r1, dy, dres, gr, n)?;
        }

        if dropped {
            g.mul_inplace(dres, c.emb_drop.p().head(ne))?;
        }
        let dx = c.dbuf.p().head(ne);
        g.zero(dx)?;
        let (em, er) = (c.emb_mean.p(), c.emb_rstd.p());
        g.layernorm_backward(&lay.embed_ln, p, c.x_emb.p(), em, er, dres, dx, gr, n)?;
        g.embedding_backward(&lay.embed_timestep, c.tok_ts.p(), dx, gr, n)?;
        let (dr, ds, da) = (c.r_emb.p(), c.s_emb.p(), c.a_emb.p());
        launch!(g, dt_deinterleave, g.elems(bk * e);
            dx.raw(), dr.raw(), ds.raw(), da.raw(), i(bk), i(e))?;
        g.linear_backward(&lay.embed_return, p, c.rtg.p(), dr, None, gr, bk)?;
        g.linear_backward(&lay.embed_state, p, c.states.p(), ds, None, gr, bk)?;
        g.linear_backward(&lay.embed_action, p, c.actions.p(), da, None, gr, bk)?;
        Ok(())
    }
}
