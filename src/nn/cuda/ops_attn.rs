//! The CUDA mirror of `attention::CausalAttention`: the four products per
//! (sequence, head) as cuBLAS strided-batched SGEMMs over head-major Q, K, V,
//! with the masked causal softmax and its backward as warp-per-row kernels.
//! At the DT's sizes (3K ≤ 60 tokens, 128-wide heads) the score matrices are
//! small enough that batched SGEMM beats a fused kernel written here.

use super::CudaError;
use super::gpu::{Buf, DPtr, Gpu};
use super::ops::{i, launch};
use crate::nn::attention::CausalAttention;
use cudarc::driver::PushKernelArg;

/// What the forward pass keeps for the backward pass (one per layer), sized
/// for up to `cap_batch` sequences.
pub struct GpuAttnCache {
    q: Buf<f32>,
    k: Buf<f32>,
    v: Buf<f32>,
    /// Softmax probabilities, `batch × heads × seq × seq`.
    att: Buf<f32>,
    /// Dropout mask on `att`, and `att ⊙ mask` (what multiplied V).
    drop: Buf<f32>,
    pd: Buf<f32>,
    dropped: bool,
    cap_batch: usize,
}

/// Per-call temporaries shared by all layers.
pub struct GpuAttnScratch {
    y: Buf<f32>,
    dy: Buf<f32>,
    dp: Buf<f32>,
    dq: Buf<f32>,
    dk: Buf<f32>,
    dv: Buf<f32>,
    cap_batch: usize,
}

fn sizes(a: &CausalAttention, batch: usize) -> (usize, usize) {
    let hd = batch * a.seq * a.embed;
    let tt = batch * a.heads * a.seq * a.seq;
    (hd, tt)
}

impl GpuAttnCache {
    /// `dropout`: whether training will use attention dropout (allocates
    /// the mask buffers only then).
    pub fn new(
        gpu: &Gpu,
        a: &CausalAttention,
        cap_batch: usize,
        dropout: bool,
    ) -> Result<Self, CudaError> {
        let (hd, tt) = sizes(a, cap_batch);
        let dt = if dropout { tt } else { 0 };
        Ok(GpuAttnCache {
            q: gpu.zeros(hd)?,
            k: gpu.zeros(hd)?,
            v: gpu.zeros(hd)?,
            att: gpu.zeros(tt)?,
            drop: gpu.zeros(dt)?,
            pd: gpu.zeros(dt)?,
            dropped: false,
            cap_batch,
        })
    }

    /// Softmax probabilities of the last forward pass.
    pub fn probs(&self, a: &CausalAttention, batch: usize) -> DPtr<f32> {
        self.att.p().head(sizes(a, batch).1)
    }
}

impl GpuAttnScratch {
    pub fn new(gpu: &Gpu, a: &CausalAttention, cap_batch: usize) -> Result<Self, CudaError> {
        let (hd, tt) = sizes(a, cap_batch);
        Ok(GpuAttnScratch {
            y: gpu.zeros(hd)?,
            dy: gpu.zeros(hd)?,
            dp: gpu.zeros(tt)?,
            dq: gpu.zeros(hd)?,
            dk: gpu.zeros(hd)?,
            dv: gpu.zeros(hd)?,
            cap_batch,
        })
    }
}

fn check(a: &CausalAttention, batch: usize, cap: usize) -> Result<(), CudaError> {
    if batch > cap || a.heads == 0 || !a.embed.is_multiple_of(a.heads) {
        return Err(CudaError::Shape(format!(
            "attention: batch {batch} (capacity {cap}), embed {} over {} heads",
            a.embed, a.heads
        )));
    }
    Ok(())
}

impl Gpu {
    /// `CausalAttention::forward`: `qkv` (`batch·seq × 3·embed`), per-key
    /// `bias` (`batch·seq`), `out` (`batch·seq × embed`). `dropout`:
    /// probability and seed, in training.
    #[allow(clippy::too_many_arguments)]
    pub fn attention_forward(
        &self,
        a: &CausalAttention,
        qkv: DPtr<f32>,
        bias: DPtr<f32>,
        batch: usize,
        cache: &mut GpuAttnCache,
        scratch: &GpuAttnScratch,
        dropout: Option<(f32, u64)>,
        out: DPtr<f32>,
    ) -> Result<(), CudaError> {
        check(a, batch, cache.cap_batch.min(scratch.cap_batch))?;
        let (t, h, d) = (a.seq, a.heads, a.head_dim());
        let (hd, tt) = sizes(a, batch);
        qkv.need(3 * hd, "attention qkv");
        bias.need(batch * t, "attention bias");
        out.need(hd, "attention out");
        let (q, k, v) = (cache.q.p(), cache.k.p(), cache.v.p());
        let dims = (i(batch), i(t), i(h), i(d));
        launch!(self, attn_split_qkv, self.elems(hd);
            qkv.raw(), q.raw(), k.raw(), v.raw(), dims.0, dims.1, dims.2, dims.3)?;
        let bh = batch * h;
        let att = cache.att.p().head(tt);
        self.gemm_batched(t, d, t, q, false, k, true, 0.0, att, bh)?;
        let scale = 1.0 / (d as f32).sqrt();
        launch!(self, attn_softmax_forward, self.warp_rows(bh * t);
            att.raw(), bias.raw(), dims.0, dims.2, dims.1, scale)?;
        cache.dropped = false;
        let p = match dropout.filter(|(p, _)| *p > 0.0) {
            Some((pdrop, seed)) if !cache.drop.is_empty() => {
                let (mask, pd) = (cache.drop.p().head(tt), cache.pd.p().head(tt));
                self.dropout_mask(mask, pdrop, seed)?;
                self.mul_out(att, mask, pd)?;
                cache.dropped = true;
                pd
            }
            Some(_) => {
                return Err(CudaError::Shape(
                    "attention dropout requested but the cache was built without it".into(),
                ));
            }
            None => att,
        };
        let y = scratch.y.p().head(hd);
        self.gemm_batched(t, t, d, p, false, v, false, 0.0, y, bh)?;
        launch!(self, attn_merge_heads, self.elems(hd);
            y.raw(), out.raw(), dims.0, dims.1, dims.2, dims.3)
    }

    /// `CausalAttention::backward`: from `dout` (`batch·seq × embed`) after
    /// `attention_forward` with the same cache and `bias`, writes `dqkv`.
    #[allow(clippy::too_many_arguments)]
    pub fn attention_backward(
        &self,
        a: &CausalAttention,
        dout: DPtr<f32>,
        bias: DPtr<f32>,
        batch: usize,
        cache: &GpuAttnCache,
        scratch: &GpuAttnScratch,
        dqkv: DPtr<f32>,
    ) -> Result<(), CudaError> {
        check(a, batch, cache.cap_batch.min(scratch.cap_batch))?;
        let (t, h, d) = (a.seq, a.heads, a.head_dim());
        let (hd, tt) = sizes(a, batch);
        dout.need(hd, "attention dout");
        dqkv.need(3 * hd, "attention dqkv");
        let dims = (i(batch), i(t), i(h), i(d));
        let bh = batch * h;
        let dy = scratch.dy.p().head(hd);
        launch!(self, attn_split_heads, self.elems(hd);
            dout.raw(), dy.raw(), dims.0, dims.1, dims.2, dims.3)?;
        let att = cache.att.p().head(tt);
        let p = if cache.dropped {
            cache.pd.p().head(tt)
        } else {
            att
        };
        let (dq, dk, dv) = (
            scratch.dq.p().head(hd),
            scratch.dk.p().head(hd),
            scratch.dv.p().head(hd),
        );
        let dp = scratch.dp.p().head(tt);
        // dV = Pᵀ·dY; dP = dY·Vᵀ (through the dropout mask).
        self.gemm_batched(t, t, d, p, true, dy, false, 0.0, dv, bh)?;
        self.gemm_batched(t, d, t, dy, false, cache.v.p(), true, 0.0, dp, bh)?;
        if cache.dropped {
            self.mul_inplace(dp, cache.drop.p().head(tt))?;
        }
        let scale = 1.0 / (d as f32).sqrt();
        launch!(self, attn_softmax_backward, self.warp_rows(bh * t);
            att.raw(), dp.raw(), bias.raw(), dims.0, dims.2, dims.1, scale)?;
        self.gemm_batched(t, t, d, dp, false, cache.k.p(), false, 0.0, dq, bh)?;
        self.gemm_batched(t, t, d, dp, true, cache.q.p(), false, 0.0, dk, bh)?;
        launch!(self, attn_merge_qkv_grad, self.elems(hd);
            dq.raw(), dk.raw(), dv.raw(), dqkv.raw(), dims.0, dims.1, dims.2, dims.3)
    }
}
