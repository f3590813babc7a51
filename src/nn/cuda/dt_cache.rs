//! Device buffers of the GPU Decision Transformer: the uploaded batch, every
//! activation the backward pass reads (the CUDA twin of `DtCache`), and the
//! gradient scratch. Allocated once for a batch capacity and window length,
//! then reused every step.

use super::CudaError;
use super::gpu::{Buf, Gpu};
use super::ops_attn::{GpuAttnCache, GpuAttnScratch};
use crate::nn::attention::CausalAttention;
use crate::nn::dt::DtConfig;

/// Per-block activations (as `dt_model::BlockCache`).
pub(super) struct GpuBlockCache {
    pub ln1: Buf<f32>,
    pub ln1_mean: Buf<f32>,
    pub ln1_rstd: Buf<f32>,
    pub attn: GpuAttnCache,
    pub atty: Buf<f32>,
    pub drop1: Buf<f32>,
    pub res_mid: Buf<f32>,
    pub ln2: Buf<f32>,
    pub ln2_mean: Buf<f32>,
    pub ln2_rstd: Buf<f32>,
    pub fch: Buf<f32>,
    pub fca: Buf<f32>,
    pub drop2: Buf<f32>,
}

pub(super) struct GpuDtCache {
    pub cap_batch: usize,
    pub k: usize,
    // The batch, uploaded.
    pub states: Buf<f32>,
    pub actions: Buf<f32>,
    pub rtg: Buf<f32>,
    pub timesteps: Buf<i32>,
    pub mask: Buf<f32>,
    pub target: Buf<f32>,
    /// Host staging for the timesteps as `i32`.
    pub ts_host: Vec<i32>,
    // Per token.
    pub tok_ts: Buf<i32>,
    pub bias: Buf<f32>,
    pub r_emb: Buf<f32>,
    pub s_emb: Buf<f32>,
    pub a_emb: Buf<f32>,
    pub x_emb: Buf<f32>,
    pub emb_mean: Buf<f32>,
    pub emb_rstd: Buf<f32>,
    pub emb_drop: Buf<f32>,
    pub res: Vec<Buf<f32>>,
    pub blocks: Vec<GpuBlockCache>,
    pub lnf: Buf<f32>,
    pub lnf_mean: Buf<f32>,
    pub lnf_rstd: Buf<f32>,
    pub preds: Buf<f32>,
    pub res_s: Buf<f32>,
    pub qkv: Buf<f32>,
    pub tmp: Buf<f32>,
    pub dpred: Buf<f32>,
    pub dres: Buf<f32>,
    pub dbuf: Buf<f32>,
    pub dbuf2: Buf<f32>,
    pub dwide: Buf<f32>,
    pub row_loss: Buf<f32>,
    pub scratch: GpuAttnScratch,
}

impl GpuDtCache {
    /// Buffers for up to `cap_batch` windows of `k` timesteps; the dropout
    /// masks only when `cfg.dropout > 0`.
    pub fn new(gpu: &Gpu, cfg: &DtConfig, cap_batch: usize, k: usize) -> Result<Self, CudaError> {
        let (e, f, bk) = (cfg.embed, cfg.hidden(), cap_batch * k);
        let n = 3 * bk;
        let dropout = cfg.dropout > 0.0;
        let dn = if dropout { n * e } else { 0 };
        let attn = CausalAttention {
            seq: 3 * k,
            embed: e,
            heads: cfg.heads,
        };
        let z = |len: usize| gpu.zeros::<f32>(len);
        let mut blocks = Vec::with_capacity(cfg.layers);
        for _ in 0..cfg.layers {
            blocks.push(GpuBlockCache {
                ln1: z(n * e)?,
                ln1_mean: z(n)?,
                ln1_rstd: z(n)?,
                attn: GpuAttnCache::new(gpu, &attn, cap_batch, dropout)?,
                atty: z(n * e)?,
                drop1: z(dn)?,
                res_mid: z(n * e)?,
                ln2: z(n * e)?,
                ln2_mean: z(n)?,
                ln2_rstd: z(n)?,
                fch: z(n * f)?,
                fca: z(n * f)?,
                drop2: z(dn)?,
            });
        }
        Ok(GpuDtCache {
            cap_batch,
            k,
            states: z(bk * cfg.state_dim)?,
            actions: z(bk * cfg.act_dim)?,
            rtg: z(bk)?,
            timesteps: gpu.zeros(bk)?,
            mask: z(bk)?,
            target: z(bk * cfg.target_width())?,
            ts_host: vec![0; bk],
            tok_ts: gpu.zeros(n)?,
            bias: z(n)?,
            r_emb: z(bk * e)?,
            s_emb: z(bk * e)?,
            a_emb: z(bk * e)?,
            x_emb: z(n * e)?,
            emb_mean: z(n)?,
            emb_rstd: z(n)?,
            emb_drop: z(dn)?,
            res: (0..=cfg.layers)
                .map(|_| z(n * e))
                .collect::<Result<_, _>>()?,
            blocks,
            lnf: z(bk * e)?,
            lnf_mean: z(bk)?,
            lnf_rstd: z(bk)?,
            preds: z(bk * cfg.act_dim)?,
            res_s: z(bk * e)?,
            qkv: z(n * 3 * e)?,
            tmp: z(n * e)?,
            dpred: z(bk * cfg.act_dim)?,
            dres: z(n * e)?,
            dbuf: z(n * e)?,
            dbuf2: z(n * e)?,
            dwide: z(n * f.max(3 * e))?,
            row_loss: z(bk)?,
            scratch: GpuAttnScratch::new(gpu, &attn, cap_batch)?,
        })
    }
}
