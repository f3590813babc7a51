//! The VLA head's forward and backward, side by side, over one flat
//! parameter buffer.
//!
//! Per sample, from the frozen encoder's features `F` (`feat × P`, P pixels
//! of the pooled map), the pixels' votes for an object centre `V` (`3 × P`,
//! metres, world frame), an additive mask (`P`: 0, or very negative where
//! the depth saw nothing), the instruction's embedding `e` and the
//! normalised proprioception `s`:
//!
//! ```text
//! G  = relu(W₁·F + b₁)                 hidden × P   pixel features
//! Q  = reshape(W_q·e + b_q)            K × hidden   one query per keypoint, from the words
//! A  = softmax_P(Q·G + mask)           K × P        where each query looks
//! KP = A·Vᵀ                            K × 3        the keypoints (soft-argmax over votes)
//! T  = W_t·e + b_t                     task         what to do
//! y  = MLP([10·KP, s, T])              H·A          the action chunk (normalised)
//! ```

use ganglion_sim::Rng;

use super::{VlaConfig, VlaInput};
use crate::nn::gemm::gemm;
use crate::nn::{Activation, Linear, Mlp, MlpCache};

/// Keypoints enter the trunk in decimetres (values of order 1).
pub const KEYPOINT_SCALE: f32 = 10.0;

#[derive(Clone, Debug)]
pub struct VlaHead {
    pub cfg: VlaConfig,
    /// Pixel features: `hidden × feat` weights (a 1×1 convolution).
    pub pixel: Linear,
    /// Instruction → keypoint queries (`K·hidden`).
    pub query: Linear,
    /// Instruction → task features.
    pub task: Linear,
    /// `[3K + proprio + task, mlp…, H·A]`.
    pub trunk: Mlp,
}

/// One sample's intermediate values, kept for its backward pass.
#[derive(Clone, Debug, Default)]
pub struct SampleCache {
    g: Vec<f32>,
    q: Vec<f32>,
    a: Vec<f32>,
    da: Vec<f32>,
    dg: Vec<f32>,
}

/// A batch's caches: per sample, and the trunk's.
#[derive(Clone, Debug, Default)]
pub struct VlaCache {
    samples: Vec<SampleCache>,
    /// `batch × embed`.
    embeds: Vec<f32>,
    /// `batch × task`.
    tasks: Vec<f32>,
    /// `batch × trunk input`.
    z: Vec<f32>,
    trunk: MlpCache,
    dq: Vec<f32>,
    dt: Vec<f32>,
}

impl VlaHead {
    pub fn new(cfg: VlaConfig) -> VlaHead {
        let pixel = Linear::new(cfg.feat, cfg.hidden, 0);
        let query = Linear::new(
            cfg.embed,
            cfg.keypoints * cfg.hidden,
            pixel.offset + pixel.num_params(),
        );
        let task = Linear::new(cfg.embed, cfg.task, query.offset + query.num_params());
        let mut sizes = vec![cfg.trunk_in()];
        sizes.extend_from_slice(&cfg.mlp);
        sizes.push(cfg.horizon * cfg.action);
        let trunk = Mlp::new(&sizes, Activation::Relu, task.offset + task.num_params());
        VlaHead {
            cfg,
            pixel,
            query,
            task,
            trunk,
        }
    }

    pub fn num_params(&self) -> usize {
        self.pixel.num_params()
            + self.query.num_params()
            + self.task.num_params()
            + self.trunk.num_params()
    }

    pub fn init(&self, params: &mut [f32], rng: &mut Rng) {
        self.pixel.init(params, 2f32.sqrt(), rng);
        self.query.init(params, 1.0, rng);
        self.task.init(params, 1.0, rng);
        self.trunk.init(params, 0.1, rng);
    }

    fn ensure(&self, cache: &mut VlaCache, batch: usize) {
        let (k, h, p) = (self.cfg.keypoints, self.cfg.hidden, self.cfg.pixels);
        if cache.samples.len() < batch {
            cache.samples.resize_with(batch, || SampleCache {
                g: vec![0.0; h * p],
                q: vec![0.0; k * h],
                a: vec![0.0; k * p],
                da: vec![0.0; k * p],
                dg: vec![0.0; h * p],
            });
        }
        cache.embeds.resize(batch * self.cfg.embed, 0.0);
        cache.tasks.resize(batch * self.cfg.task, 0.0);
        cache.z.resize(batch * self.cfg.trunk_in(), 0.0);
        cache.dq.resize(batch * k * h, 0.0);
        cache.dt.resize(batch * self.cfg.task, 0.0);
    }

    /// The action chunks (`batch × H·A`, normalised) for `inputs`; valid in
    /// `cache` until the next call.
    pub fn forward<'c>(
        &self,
        params: &[f32],
        inputs: &[VlaInput<'_>],
        cache: &'c mut VlaCache,
    ) -> &'c [f32] {
        let b = inputs.len();
        self.ensure(cache, b);
        let c = &self.cfg;
        let (e, zw) = (c.embed, c.trunk_in());
        for (i, x) in inputs.iter().enumerate() {
            cache.embeds[i * e..(i + 1) * e].copy_from_slice(&x.embed[..e]);
        }
        self.task
            .forward(params, &cache.embeds, &mut cache.tasks, b);
        let mut kp = vec![0.0f32; c.keypoints * 3];
        for (i, x) in inputs.iter().enumerate() {
            let s = &mut cache.samples[i];
            self.pixel_forward(params, x, s, &mut kp);
            let z = &mut cache.z[i * zw..(i + 1) * zw];
            let (zk, rest) = z.split_at_mut(3 * c.keypoints);
            let (zs, zt) = rest.split_at_mut(c.proprio);
            for (o, v) in zk.iter_mut().zip(&kp) {
                *o = KEYPOINT_SCALE * v;
            }
            zs.copy_from_slice(&x.proprio[..c.proprio]);
            zt.copy_from_slice(&cache.tasks[i * c.task..(i + 1) * c.task]);
        }
        self.trunk.forward(params, &cache.z, b, &mut cache.trunk)
    }

    /// One sample's attention: G, Q, A into `s`, the keypoints into `kp`.
    fn pixel_forward(&self, params: &[f32], x: &VlaInput<'_>, s: &mut SampleCache, kp: &mut [f32]) {
        let c = &self.cfg;
        let (k, h, p) = (c.keypoints, c.hidden, c.pixels);
        for (row, bias) in s.g.chunks_exact_mut(p).zip(self.pixel.bias(params)) {
            row.fill(*bias);
        }
        gemm(
            h,
            c.feat,
            p,
            self.pixel.weight(params),
            false,
            x.feat,
            false,
            1.0,
            &mut s.g,
        );
        s.g.iter_mut().for_each(|v| *v = v.max(0.0));
        self.query.forward(params, x.embed, &mut s.q, 1);
        for row in s.a.chunks_exact_mut(p) {
            row.copy_from_slice(&x.mask[..p]);
        }
        gemm(k, h, p, &s.q, false, &s.g, false, 1.0, &mut s.a);
        for row in s.a.chunks_exact_mut(p) {
            softmax_in_place(row);
        }
        gemm(k, p, 3, &s.a, false, x.votes, true, 0.0, kp);
    }

    /// Accumulates the gradients of a loss whose gradient with respect to
    /// the output of the last `forward` is `dout` (`batch × H·A`).
    pub fn backward(
        &self,
        params: &[f32],
        inputs: &[VlaInput<'_>],
        dout: &[f32],
        cache: &mut VlaCache,
        grads: &mut [f32],
    ) {
        let b = inputs.len();
        let c = &self.cfg;
        let (k, h, zw) = (c.keypoints, c.hidden, c.trunk_in());
        let dz = self
            .trunk
            .backward(params, dout, b, &mut cache.trunk, grads);
        let mut dkp = vec![0.0f32; k * 3];
        for (i, x) in inputs.iter().enumerate() {
            let dzi = &dz[i * zw..(i + 1) * zw];
            for (d, v) in dkp.iter_mut().zip(&dzi[..3 * k]) {
                *d = KEYPOINT_SCALE * v;
            }
            cache.dt[i * c.task..(i + 1) * c.task].copy_from_slice(&dzi[3 * k + c.proprio..]);
            let s = &mut cache.samples[i];
            let dq = &mut cache.dq[i * k * h..(i + 1) * k * h];
            self.pixel_backward(x, s, &dkp, dq, grads);
        }
        self.task
            .backward(params, &cache.embeds, &cache.dt, None, grads, b);
        self.query
            .backward(params, &cache.embeds, &cache.dq, None, grads, b);
    }

    fn pixel_backward(
        &self,
        x: &VlaInput<'_>,
        s: &mut SampleCache,
        dkp: &[f32],
        dq: &mut [f32],
        grads: &mut [f32],
    ) {
        let c = &self.cfg;
        let (k, h, p) = (c.keypoints, c.hidden, c.pixels);
        // dA = dKP·V, then through the softmax: dL = A ⊙ (dA − Σ A⊙dA).
        gemm(k, 3, p, dkp, false, x.votes, false, 0.0, &mut s.da);
        for (arow, drow) in s.a.chunks_exact(p).zip(s.da.chunks_exact_mut(p)) {
            let dot: f32 = arow.iter().zip(drow.iter()).map(|(a, d)| a * d).sum();
            for (d, a) in drow.iter_mut().zip(arow) {
                *d = a * (*d - dot);
            }
        }
        // dQ = dL·Gᵀ, dG = Qᵀ·dL (through the ReLU).
        gemm(k, p, h, &s.da, false, &s.g, true, 0.0, dq);
        gemm(h, k, p, &s.q, true, &s.da, false, 0.0, &mut s.dg);
        for (d, g) in s.dg.iter_mut().zip(&s.g) {
            if *g <= 0.0 {
                *d = 0.0;
            }
        }
        let wr = self.pixel.offset..self.pixel.offset + h * c.feat;
        gemm(
            h,
            p,
            c.feat,
            &s.dg,
            false,
            x.feat,
            true,
            1.0,
            &mut grads[wr.clone()],
        );
        for (gb, row) in grads[wr.end..wr.end + h]
            .iter_mut()
            .zip(s.dg.chunks_exact(p))
        {
            *gb += row.iter().sum::<f32>();
        }
    }

    /// The attention maps of the last `forward`'s sample `i` (`K × P`):
    /// where each instruction query looked.
    pub fn attention<'c>(&self, cache: &'c VlaCache, i: usize) -> &'c [f32] {
        &cache.samples[i].a
    }
}

/// Numerically stable softmax of one row, in place.
fn softmax_in_place(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in row.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    let inv = 1.0 / sum.max(f32::MIN_POSITIVE);
    row.iter_mut().for_each(|v| *v *= inv);
}

/// The L1 loss between `pred` and `target` (both `batch × n`), averaged,
/// with its gradient written into `grad`.
pub fn l1_loss(pred: &[f32], target: &[f32], grad: &mut [f32]) -> f32 {
    let n = pred.len().max(1) as f32;
    let mut loss = 0.0;
    for ((g, p), t) in grad.iter_mut().zip(pred).zip(target) {
        let d = p - t;
        loss += d.abs();
        *g = if d == 0.0 { 0.0 } else { d.signum() / n };
    }
    loss / n
}
