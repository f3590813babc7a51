//! The CUDA mirror of the CPU ops, one method per op, with the CPU module's
//! argument order: `Linear`, `Activation`, `BlockActivation`, `LayerNorm`,
//! `Embedding`, dropout, the masked losses, global-norm clipping and Adam(W).
//! Attention is in `ops_attn`. Each takes the CPU layer description (offsets
//! into the flat parameter buffer) and device views instead of slices.

use cudarc::driver::{LaunchConfig, PushKernelArg};

use super::CudaError;
use super::gpu::{Buf, DPtr, Gpu};
use crate::nn::activation::Activation;
use crate::nn::embedding::Embedding;
use crate::nn::gelu::BlockActivation;
use crate::nn::layernorm::LayerNorm;
use crate::nn::linear::Linear;

/// Launches kernel `$k` of `$gpu` with `$cfg` and the listed arguments
/// (device views as raw addresses, sizes as `i32`, scalars as they are).
macro_rules! launch {
    ($gpu:expr, $k:ident, $cfg:expr; $($arg:expr),* $(,)?) => {{
        let mut b = $gpu.stream.launch_builder(&$gpu.k.$k);
        $( let a = $arg; b.arg(&a); )*
        // SAFETY: each op checks its views' lengths before launching, and the
        // kernels index only within those lengths.
        unsafe { b.launch($cfg) }
            .map(|_| ())
            .map_err(|e| CudaError::Driver(format!("launching {}: {e}", stringify!($k))))
    }};
}
pub(crate) use launch;

/// Sizes passed to kernels as `int`.
pub(crate) fn i(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Weight and bias views of a linear layer.
fn lin_views(l: &Linear, params: DPtr<f32>) -> (DPtr<f32>, DPtr<f32>) {
    let w = l.in_dim * l.out_dim;
    (params.at(l.offset, w), params.at(l.offset + w, l.out_dim))
}

impl Gpu {
    /// `Linear::forward`: `y = x·Wᵀ + b`.
    pub fn linear_forward(
        &self,
        l: &Linear,
        params: DPtr<f32>,
        x: DPtr<f32>,
        y: DPtr<f32>,
        batch: usize,
    ) -> Result<(), CudaError> {
        let (w, b) = lin_views(l, params);
        let n = batch * l.out_dim;
        let y = y.need(n, "linear y");
        x.need(batch * l.in_dim, "linear x");
        launch!(self, bias_broadcast, self.elems(n); y.raw(), b.raw(), i(batch), i(l.out_dim))?;
        self.gemm(batch, l.in_dim, l.out_dim, x, false, w, true, 1.0, y)
    }

    /// `Linear::backward`: `dW += dyᵀ·x`, `db += 1ᵀ·dy`, `dx = dy·W` if asked.
    #[allow(clippy::too_many_arguments)]
    pub fn linear_backward(
        &self,
        l: &Linear,
        params: DPtr<f32>,
        x: DPtr<f32>,
        dy: DPtr<f32>,
        dx: Option<DPtr<f32>>,
        grads: DPtr<f32>,
        batch: usize,
    ) -> Result<(), CudaError> {
        let (o, i_) = (l.out_dim, l.in_dim);
        let (w, _) = lin_views(l, params);
        let (dw, db) = lin_views(l, grads);
        self.gemm(o, batch, i_, dy, true, x, false, 1.0, dw)?;
        let ones = self.ones().need(batch, "ones vector (Gpu::reserve_ones)");
        self.gemm(1, batch, o, ones, false, dy, false, 1.0, db)?;
        if let Some(dx) = dx {
            self.gemm(batch, o, i_, dy, false, w, false, 0.0, dx)?;
        }
        Ok(())
    }

    /// `Activation::forward`, in place.
    pub fn activation_forward(&self, act: Activation, x: DPtr<f32>) -> Result<(), CudaError> {
        let n = x.len();
        match act {
            Activation::Tanh => launch!(self, tanh_forward, self.elems(n); x.raw(), i(n)),
            Activation::Relu => launch!(self, relu_forward, self.elems(n); x.raw(), i(n)),
        }
    }

    /// `Activation::backward`: `d ← d·f'` given the output `y`.
    pub fn activation_backward(
        &self,
        act: Activation,
        y: DPtr<f32>,
        d: DPtr<f32>,
    ) -> Result<(), CudaError> {
        let n = d.len();
        y.need(n, "activation y");
        match act {
            Activation::Tanh => {
                launch!(self, tanh_backward, self.elems(n); y.raw(), d.raw(), i(n))
            }
            Activation::Relu => {
                launch!(self, relu_backward, self.elems(n); y.raw(), d.raw(), i(n))
            }
        }
    }

    /// `BlockActivation::forward`: `y ← f(x)` over `x.len()` values.
    pub fn block_act_forward(
        &self,
        act: BlockActivation,
        x: DPtr<f32>,
        y: DPtr<f32>,
    ) -> Result<(), CudaError> {
        let n = x.len();
        y.need(n, "activation y");
        match act {
            BlockActivation::Gelu => {
                launch!(self, gelu_forward, self.elems(n); x.raw(), y.raw(), i(n))
            }
            BlockActivation::Relu => {
                launch!(self, relu_forward_copy, self.elems(n); x.raw(), y.raw(), i(n))
            }
        }
    }

    /// `BlockActivation::forward_train`: `y ← f(x)`, `x ← f'(x)`.
    pub fn block_act_forward_train(
        &self,
        act: BlockActivation,
        x: DPtr<f32>,
        y: DPtr<f32>,
    ) -> Result<(), CudaError> {
        let n = x.len();
        y.need(n, "activation y");
        match act {
            BlockActivation::Gelu => {
                launch!(self, gelu_forward_train, self.elems(n); x.raw(), y.raw(), i(n))
            }
            BlockActivation::Relu => {
                launch!(self, relu_forward_train, self.elems(n); x.raw(), y.raw(), i(n))
            }
        }
    }

    /// `x ← x ⊙ m` (`apply_mask`, `BlockActivation::backward_from_grad`).
    pub fn mul_inplace(&self, x: DPtr<f32>, m: DPtr<f32>) -> Result<(), CudaError> {
        let n = x.len();
        m.need(n, "mask");
        launch!(self, mul_inplace, self.elems(n); x.raw(), m.raw(), i(n))
    }

    /// `out ← a ⊙ b`.
    pub fn mul_out(&self, a: DPtr<f32>, b: DPtr<f32>, out: DPtr<f32>) -> Result<(), CudaError> {
        let n = a.len();
        b.need(n, "mul b");
        out.need(n, "mul out");
        launch!(self, mul_out, self.elems(n); a.raw(), b.raw(), out.raw(), i(n))
    }

    /// `out ← a + b`.
    pub fn add_into(&self, a: DPtr<f32>, b: DPtr<f32>, out: DPtr<f32>) -> Result<(), CudaError> {
        let n = a.len();
        b.need(n, "add b");
        out.need(n, "add out");
        launch!(self, add_into, self.elems(n); a.raw(), b.raw(), out.raw(), i(n))
    }

    /// `dropout_mask`: `0` with probability `p`, else `1/(1−p)`, from `seed`
    /// (`p ≤ 0` or NaN keeps everything, as the CPU).
    pub fn dropout_mask(&self, mask: DPtr<f32>, p: f32, seed: u64) -> Result<(), CudaError> {
        let p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 0.999) };
        let n = mask.len();
        launch!(self, dropout_mask, self.elems(n); mask.raw(), i(n), p, seed)
    }

    /// `LayerNorm::forward` over `rows` rows.
    #[allow(clippy::too_many_arguments)]
    pub fn layernorm_forward(
        &self,
        ln: &LayerNorm,
        params: DPtr<f32>,
        x: DPtr<f32>,
        y: DPtr<f32>,
        mean: DPtr<f32>,
        rstd: DPtr<f32>,
        rows: usize,
    ) -> Result<(), CudaError> {
        let d = ln.dim;
        let (g, b) = (params.at(ln.offset, d), params.at(ln.offset + d, d));
        x.need(rows * d, "layernorm x");
        y.need(rows * d, "layernorm y");
        mean.need(rows, "layernorm mean");
        rstd.need(rows, "layernorm rstd");
        launch!(self, layernorm_forward, self.warp_rows(rows);
            x.raw(), y.raw(), mean.raw(), rstd.raw(), g.raw(), b.raw(), i(rows), i(d))
    }

    /// `LayerNorm::backward`: `dγ`, `dβ` into `grads`, `dx +=`.
    #[allow(clippy::too_many_arguments)]
    pub fn layernorm_backward(
        &self,
        ln: &LayerNorm,
        params: DPtr<f32>,
        x: DPtr<f32>,
        mean: DPtr<f32>,
        rstd: DPtr<f32>,
        dy: DPtr<f32>,
        dx: DPtr<f32>,
        grads: DPtr<f32>,
        rows: usize,
    ) -> Result<(), CudaError> {
        let d = ln.dim;
        let g = params.at(ln.offset, d);
        let (dg, db) = (grads.at(ln.offset, d), grads.at(ln.offset + d, d));
        for (v, what) in [(x, "x"), (dy, "dy"), (dx, "dx")] {
            v.need(rows * d, what);
        }
        mean.need(rows, "mean");
        rstd.need(rows, "rstd");
        let blocks = rows.div_ceil(8).clamp(1, 2 * self.sm_count() as usize);
        let cfg = LaunchConfig {
            grid_dim: (blocks as u32, 1, 1),
            block_dim: (256, 1, 1),
            shared_mem_bytes: (2 * d * 4) as u32,
        };
        launch!(self, layernorm_backward, cfg;
            x.raw(), mean.raw(), rstd.raw(), dy.raw(), dx.raw(), g.raw(), dg.raw(), db.raw(),
            i(rows), i(d))
    }

    /// `Embedding::forward_add`: `out[r] += table[index[r]]` (clamped).
    pub fn embedding_forward_add(
        &self,
        e: &Embedding,
        params: DPtr<f32>,
        index: DPtr<i32>,
        out: DPtr<f32>,
        rows: usize,
    ) -> Result<(), CudaError> {
        let table = params.at(e.offset, e.rows * e.dim);
        index.need(rows, "embedding index");
        out.need(rows * e.dim, "embedding out");
        launch!(self, embedding_forward_add, self.elems(rows * e.dim);
            out.raw(), table.raw(), index.raw(), i(rows), i(e.dim), i(e.rows))
    }

    /// `Embedding::backward`: `dtable[index[r]] += dout[r]` (atomics).
    pub fn embedding_backward(
        &self,
        e: &Embedding,
        index: DPtr<i32>,
        dout: DPtr<f32>,
        grads: DPtr<f32>,
        rows: usize,
    ) -> Result<(), CudaError> {
        let dtable = grads.at(e.offset, e.rows * e.dim);
        index.need(rows, "embedding index");
        dout.need(rows * e.dim, "embedding dout");
        launch!(self, embedding_backward, self.elems(rows * e.dim);
            dtable.raw(), index.raw(), dout.raw(), i(rows), i(e.dim), i(e.rows))
    }

    /// `loss::mse` over `rows` rows of `dim`, `count` of them valid (from the
    /// host's mask); the loss lands in `loss[0]`. `row_loss`: `rows` scratch.
    #[allow(clippy::too_many_arguments)]
    pub fn mse(
        &self,
        pred: DPtr<f32>,
        target: DPtr<f32>,
        mask: DPtr<f32>,
        rows: usize,
        dim: usize,
        count: usize,
        dpred: DPtr<f32>,
        row_loss: DPtr<f32>,
        loss: DPtr<f32>,
    ) -> Result<(), CudaError> {
        for (v, what) in [(pred, "pred"), (target, "target"), (dpred, "dpred")] {
            v.need(rows * dim, what);
        }
        mask.need(rows, "mask");
        row_loss.need(rows, "row loss");
        let entries = count * dim;
        let scale = if entries == 0 {
            0.0
        } else {
            2.0 / entries as f32
        };
        launch!(self, mse_forward_backward, self.elems(rows);
            pred.raw(), target.raw(), mask.raw(), i(rows), i(dim), scale, dpred.raw(),
            row_loss.raw())?;
        launch!(self, sum_scaled, self.one_block();
            row_loss.raw(), i(rows), entries as f32, loss.need(1, "loss").raw())
    }

    /// `loss::cross_entropy` over `rows` rows of `classes` logits, `count`
    /// of them labelled (valid mask and a class-index target).
    #[allow(clippy::too_many_arguments)]
    pub fn cross_entropy(
        &self,
        logits: DPtr<f32>,
        target: DPtr<f32>,
        mask: DPtr<f32>,
        rows: usize,
        classes: usize,
        count: usize,
        dlogits: DPtr<f32>,
        row_loss: DPtr<f32>,
        loss: DPtr<f32>,
    ) -> Result<(), CudaError> {
        logits.need(rows * classes, "logits");
        dlogits.need(rows * classes, "dlogits");
        target.need(rows, "target");
        mask.need(rows, "mask");
        row_loss.need(rows, "row loss");
        let inv = if count == 0 { 0.0 } else { 1.0 / count as f32 };
        launch!(self, cross_entropy_forward_backward, self.elems(rows);
            logits.raw(), target.raw(), mask.raw(), i(rows), i(classes), inv, dlogits.raw(),
            row_loss.raw())?;
        launch!(self, sum_scaled, self.one_block();
            row_loss.raw(), i(rows), count as f32, loss.need(1, "loss").raw())
    }
}

/// Blocks of the first clipping reduction stage.
const NORM_PARTS: usize = 256;

/// `clip_grad_norm` on the device: the norm and the clip scale stay in device
/// memory (`scale()` feeds `GpuAdam::update`); nothing waits for the host.
pub struct GradClip {
    partial: Buf<f64>,
    /// `[norm, scale]`.
    out: Buf<f32>,
}

impl GradClip {
    pub fn new(gpu: &Gpu) -> Result<Self, CudaError> {
        Ok(GradClip {
            partial: gpu.zeros(NORM_PARTS)?,
            out: gpu.upload(&[0.0f32, 1.0])?,
        })
    }

    /// Computes the global L2 norm of `grads` and the factor that clips it to
    /// `max_norm` (applied by the optimiser step).
    pub fn compute(&self, gpu: &Gpu, grads: DPtr<f32>, max_norm: f32) -> Result<(), CudaError> {
        let cfg = LaunchConfig {
            grid_dim: (NORM_PARTS as u32, 1, 1),
            block_dim: (256, 1, 1),
            shared_mem_bytes: 0,
        };
        let n = grads.len() as i64;
        launch!(gpu, sq_sum_partial, cfg; grads.raw(), n, self.partial.p().raw())?;
        let out = self.out.p();
        launch!(gpu, clip_scale, gpu.one_block();
            self.partial.p().raw(), i(NORM_PARTS), max_norm, out.at(0, 1).raw(), out.at(1, 1).raw())
    }

    /// The gradient norm before clipping (device, one value).
    pub fn norm(&self) -> DPtr<f32> {
        self.out.p().at(0, 1)
    }

    /// The factor the optimiser multiplies the gradients by (device).
    pub fn scale(&self) -> DPtr<f32> {
        self.out.p().at(1, 1)
    }
}

/// `Adam` with its moments on the device.
pub struct GpuAdam {
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    step: u64,
    m: Buf<f32>,
    v: Buf<f32>,
}

impl GpuAdam {
    pub fn new(gpu: &Gpu, num_params: usize) -> Result<Self, CudaError> {
        Ok(GpuAdam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            step: 0,
            m: gpu.zeros(num_params)?,
            v: gpu.zeros(num_params)?,
        })
    }

    pub fn steps_taken(&self) -> u64 {
        self.step
    }

    /// `Adam::update` on `grads · gscale[0]` (the clip factor).
    pub fn update(
        &mut self,
        gpu: &Gpu,
        params: DPtr<f32>,
        grads: DPtr<f32>,
        lr: f32,
        gscale: DPtr<f32>,
    ) -> Result<(), CudaError> {
        let n = self.m.len();
        params.need(n, "adam params");
        grads.need(n, "adam grads");
        self.step += 1;
        let t = self.step as i32;
        let c1 = 1.0 - self.beta1.powi(t);
        let c2 = 1.0 - self.beta2.powi(t);
        launch!(gpu, adamw_step, gpu.elems(n);
            params.raw(), grads.raw(), self.m.p().raw(), self.v.p().raw(), n as i64, lr,
            self.beta1, self.beta2, c1, c2, self.eps, self.weight_decay, gscale.need(1, "scale").raw())
    }
}
