//! The perception network: four dilated 3×3 convolutions (dilation 1, 2, 4,
//! 8: a 31-pixel receptive field, wider than a bowl) with ReLU, then a 1×1
//! head. Output planes: `CLASSES` class logits, then three vote offsets to
//! the object's centre (x, y, z in the world, `UNIT_M` units), then three
//! log-scales of those offsets' errors (the decoder's weights). One flat
//! parameter buffer, forward and backward side by side, and the loss with
//! its gradient.

use std::path::Path;

use anyhow::{Context, Result};
use ganglion_sim::Rng;

use super::CLASSES;
use super::features::IN_CHANNELS;
use crate::nn::Conv2d;
use crate::nn::onnx::{ConvStage, conv_stack_model, write_model};

/// Hidden channels.
pub const WIDTH: usize = 16;
/// Output planes: logits, offsets, log-scales.
pub const OUT_CHANNELS: usize = CLASSES + 6;
pub const OFFSET_AT: usize = CLASSES;
pub const SCALE_AT: usize = CLASSES + 3;
/// Log-scales are clamped to this range (in `UNIT_M` units: 0.7 mm – 2 m).
pub const LOG_SCALE: (f32, f32) = (-5.0, 3.0);

#[derive(Clone, Debug)]
pub struct PerceptionNet {
    pub layers: Vec<Conv2d>,
}

impl Default for PerceptionNet {
    fn default() -> Self {
        Self::new()
    }
}

impl PerceptionNet {
    pub fn new() -> Self {
        let mut layers = Vec::new();
        let mut offset = 0;
        let mut cin = IN_CHANNELS;
        for d in [1, 2, 4, 8] {
            let c = Conv2d::new(cin, WIDTH, 3, d, offset);
            offset += c.num_params();
            cin = WIDTH;
            layers.push(c);
        }
        layers.push(Conv2d::new(WIDTH, OUT_CHANNELS, 1, 1, offset));
        PerceptionNet { layers }
    }

    pub fn num_params(&self) -> usize {
        self.layers.iter().map(|l| l.num_params()).sum()
    }

    pub fn init(&self, params: &mut [f32], rng: &mut Rng) {
        let last = self.layers.len() - 1;
        for (i, l) in self.layers.iter().enumerate() {
            let gain = if i == last { 0.1 } else { 2f32.sqrt() };
            l.init(params, gain, rng);
        }
    }

    /// Runs the network on `x` (`IN_CHANNELS × h × w`); the output planes
    /// are `cache.output()`.
    pub fn forward(&self, params: &[f32], x: &[f32], cache: &mut Cache) {
        let (h, w) = (cache.h, cache.w);
        let n = h * w;
        cache.acts[0][..IN_CHANNELS * n].copy_from_slice(&x[..IN_CHANNELS * n]);
        let last = self.layers.len() - 1;
        for (l, layer) in self.layers.iter().enumerate() {
            let (before, after) = cache.acts.split_at_mut(l + 1);
            let y = &mut after[0];
            layer.forward(params, &before[l], h, w, &mut cache.cols[l], y);
            if l != last {
                y.iter_mut().for_each(|v| *v = v.max(0.0));
            }
        }
    }

    /// Accumulates parameter gradients of the loss whose gradient with
    /// respect to the output is `dout` (as `forward` left `cache`).
    pub fn backward(&self, params: &[f32], cache: &mut Cache, dout: &[f32], grads: &mut [f32]) {
        let (h, w) = (cache.h, cache.w);
        let n = h * w;
        let last = self.layers.len() - 1;
        cache.grad[..OUT_CHANNELS * n].copy_from_slice(&dout[..OUT_CHANNELS * n]);
        for l in (0..=last).rev() {
            let layer = &self.layers[l];
            if l == 0 {
                layer.backward(params, &cache.cols[0], &cache.grad, h, w, None, grads);
                break;
            }
            let dx = &mut cache.grad_prev[..layer.cin * n];
            layer.backward(
                params,
                &cache.cols[l],
                &cache.grad[..layer.cout * n],
                h,
                w,
                Some((dx, &mut cache.dcol[..layer.col_rows() * n])),
                grads,
            );
            // Through the ReLU that made this layer's input.
            for (g, a) in dx.iter_mut().zip(&cache.acts[l]) {
                if *a <= 0.0 {
                    *g = 0.0;
                }
            }
            std::mem::swap(&mut cache.grad, &mut cache.grad_prev);
        }
    }

    /// Writes the network as ONNX: input `image` `[1, IN_CHANNELS, h, w]`, output
    /// `maps` `[1, OUT_CHANNELS, h, w]`.
    pub fn export(
        &self,
        params: &[f32],
        (h, w): (usize, usize),
        meta: &[(&str, String)],
        path: &Path,
    ) -> Result<()> {
        let last = self.layers.len() - 1;
        let stages: Vec<ConvStage> = self
            .layers
            .iter()
            .enumerate()
            .map(|(i, conv)| ConvStage {
                conv,
                relu: i != last,
            })
            .collect();
        let model = conv_stack_model(&stages, params, ("image", "maps"), (h, w), meta);
        write_model(&model, path).with_context(|| format!("writing {}", path.display()))
    }
}

/// Everything one image's forward pass keeps for its backward pass, sized
/// once for `h × w`.
pub struct Cache {
    pub h: usize,
    pub w: usize,
    cols: Vec<Vec<f32>>,
    /// `acts[l]`: the input of layer `l` (after the previous ReLU);
    /// `acts[last + 1]` is the output.
    acts: Vec<Vec<f32>>,
    dcol: Vec<f32>,
    grad: Vec<f32>,
    grad_prev: Vec<f32>,
}

impl Cache {
    pub fn new(net: &PerceptionNet, h: usize, w: usize) -> Cache {
        let n = h * w;
        let widest = net
            .layers
            .iter()
            .map(|l| l.cin.max(l.cout))
            .max()
            .unwrap_or(1);
        let mut acts = vec![vec![0.0; IN_CHANNELS * n]];
        acts.extend(net.layers.iter().map(|l| vec![0.0; l.cout * n]));
        Cache {
            h,
            w,
            cols: net
                .layers
                .iter()
                .map(|l| vec![0.0; l.col_rows() * n])
                .collect(),
            acts,
            dcol: vec![0.0; net.layers.iter().map(|l| l.col_rows()).max().unwrap_or(1) * n],
            grad: vec![0.0; widest * n],
            grad_prev: vec![0.0; widest * n],
        }
    }

    pub fn output(&self) -> &[f32] {
        self.acts.last().map_or(&[], |v| v.as_slice())
    }

    /// The last hidden layer (`WIDTH × h × w`, after its ReLU): the input
    /// of the 1×1 head, the features the VLA policy reads.
    pub fn hidden(&self) -> &[f32] {
        let n = self.acts.len();
        if n < 2 { &[] } else { &self.acts[n - 2] }
    }
}

/// What one image's loss is made of.
#[derive(Clone, Copy, Debug, Default)]
pub struct LossParts {
    pub class: f64,
    pub vote: f64,
    pub pixels: usize,
    pub object_pixels: usize,
}

/// Per-pixel targets for one image.
pub struct Targets<'a> {
    /// The class of each pixel.
    pub labels: &'a [u8],
    /// Offset from each object pixel's point to its object's centre
    /// (`UNIT_M` units, x, y, z).
    pub offsets: &'a [[f32; 3]],
    /// Whether the pixel has a depth return (votes need one).
    pub valid: &'a [bool],
}

/// Object pixels count this much more than background in the class loss
/// (objects cover a few percent of the image).
const OBJECT_WEIGHT: f32 = 10.0;

/// The loss of output `out` against `t` and its gradient `dout`: weighted
/// cross-entropy over all pixels, plus an L1 loss on the vote offsets of
/// object pixels, plus the Laplace negative log-likelihood of those
/// offsets' errors under the predicted log-scales (the scales learn how far
/// off each vote is; the offsets do not see that term, so a small scale can
/// never inflate their gradient). `vote` reports the mean L1 (dm).
pub fn loss(out: &[f32], t: &Targets, n: usize, dout: &mut [f32]) -> LossParts {
    dout[..OUT_CHANNELS * n].fill(0.0);
    let mut parts = LossParts {
        pixels: n,
        ..LossParts::default()
    };
    let objects = t
        .labels
        .iter()
        .zip(t.valid)
        .filter(|(l, v)| **l > 0 && **v)
        .count();
    parts.object_pixels = objects;
    let norm = 1.0 / objects.max(1) as f32;
    let mut logits = [0.0f32; CLASSES];
    for i in 0..n {
        for (c, v) in logits.iter_mut().enumerate() {
            *v = out[c * n + i];
        }
        let m = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let z: f32 = logits.iter().map(|v| (v - m).exp()).sum();
        let label = t.labels[i] as usize;
        let wt = if label > 0 { OBJECT_WEIGHT } else { 1.0 } / n as f32;
        parts.class += (wt * (m + z.ln() - logits[label])) as f64;
        for (c, v) in logits.iter().enumerate() {
            let p = (v - m).exp() / z;
            dout[c * n + i] = wt * (p - if c == label { 1.0 } else { 0.0 });
        }
        if label == 0 || !t.valid[i] {
            continue;
        }
        for a in 0..3 {
            let r = out[(OFFSET_AT + a) * n + i] - t.offsets[i][a];
            parts.vote += (norm * r.abs()) as f64;
            dout[(OFFSET_AT + a) * n + i] = norm * r.signum();
            let raw = out[(SCALE_AT + a) * n + i];
            let s = raw.clamp(LOG_SCALE.0, LOG_SCALE.1);
            if raw == s {
                dout[(SCALE_AT + a) * n + i] = SCALE_WEIGHT * norm * (1.0 - r.abs() * (-s).exp());
            }
        }
    }
    parts
}

/// The scale term's weight (it only shapes the decoder's weights).
const SCALE_WEIGHT: f32 = 0.1;

#[cfg(test)]
mod tests {
    use super::*;

    fn relative(numeric: f64, a: f64) -> f64 {
        (numeric - a).abs() / numeric.abs().max(a.abs()).max(1e-2)
    }

    /// The whole network's backward pass against finite differences of
    /// `L = Σ R ⊙ output` (a few parameters of each layer).
    #[test]
    fn network_gradients_match_finite_differences() {
        let net = PerceptionNet::new();
        let mut rng = Rng::new(4);
        let mut params = vec![0.0; net.num_params()];
        net.init(&mut params, &mut rng);
        let (h, w) = (6, 7);
        let n = h * w;
        let x: Vec<f32> = (0..IN_CHANNELS * n).map(|_| rng.normal()).collect();
        let r: Vec<f32> = (0..OUT_CHANNELS * n).map(|_| rng.normal()).collect();
        let mut cache = Cache::new(&net, h, w);
        let total = |params: &[f32], cache: &mut Cache| -> f64 {
            net.forward(params, &x, cache);
            cache
                .output()
                .iter()
                .zip(&r)
                .map(|(a, b)| (a * b) as f64)
                .sum()
        };
        total(&params, &mut cache);
        let mut grads = vec![0.0; net.num_params()];
        net.backward(&params, &mut cache, &r, &mut grads);
        for l in &net.layers {
            // Weights only: a bias moves a whole channel, and over every
            // pixel some ReLU kink is straddled (conv.rs checks biases).
            for k in [0, 7, l.num_params() / 2] {
                let i = l.offset + k;
                let orig = params[i];
                let eps = 1e-3;
                params[i] = orig + eps;
                let up = total(&params, &mut cache);
                params[i] = orig - eps;
                let down = total(&params, &mut cache);
                params[i] = orig;
                let numeric = (up - down) / (2.0 * eps as f64);
                let a = grads[i] as f64;
                assert!(
                    relative(numeric, a) < 2e-2,
                    "param {i}: analytic {a} vs numeric {numeric}"
                );
            }
        }
    }

    /// The loss's gradient with respect to the logits and the offsets
    /// against finite differences of the reported class + vote loss.
    #[test]
    fn loss_gradients_match_finite_differences() {
        let mut rng = Rng::new(9);
        let n = 12;
        let mut out: Vec<f32> = (0..OUT_CHANNELS * n).map(|_| rng.normal()).collect();
        let labels: Vec<u8> = (0..n)
            .map(|i| if i % 3 == 0 { 1 + (i % 12) as u8 } else { 0 })
            .collect();
        let offsets: Vec<[f32; 3]> = (0..n)
            .map(|_| [rng.normal(), rng.normal(), rng.normal()])
            .collect();
        let valid = vec![true; n];
        let t = Targets {
            labels: &labels,
            offsets: &offsets,
            valid: &valid,
        };
        let mut dout = vec![0.0; OUT_CHANNELS * n];
        loss(&out, &t, n, &mut dout);
        let mut scratch = vec![0.0; OUT_CHANNELS * n];
        for i in 0..(OFFSET_AT + 3) * n {
            let orig = out[i];
            let eps = 1e-3;
            out[i] = orig + eps;
            let up = loss(&out, &t, n, &mut scratch);
            out[i] = orig - eps;
            let down = loss(&out, &t, n, &mut scratch);
            out[i] = orig;
            let numeric = (up.class + up.vote - down.class - down.vote) / (2.0 * eps as f64);
            let a = dout[i] as f64;
            assert!(
                relative(numeric, a) < 2e-2,
                "output {i}: analytic {a} vs numeric {numeric}"
            );
        }
    }
}
