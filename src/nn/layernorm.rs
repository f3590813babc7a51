//! Layer normalisation over the last dimension, `y = (x − μ)·rstd·γ + β`, with
//! `γ` (`dim`) then `β` (`dim`) at `offset` in a flat parameter buffer. The
//! forward pass keeps each row's mean and reciprocal standard deviation for the
//! backward pass, as llm.c does.

use super::reduce;

/// ε inside the square root, as GPT-2 and PyTorch's default.
pub const LN_EPS: f32 = 1e-5;

#[derive(Clone, Debug, PartialEq)]
pub struct LayerNorm {
    pub dim: usize,
    /// Where `γ` starts in the model's flat buffer; `β` follows it.
    pub offset: usize,
}

impl LayerNorm {
    pub fn new(dim: usize, offset: usize) -> Self {
        LayerNorm { dim, offset }
    }

    pub fn num_params(&self) -> usize {
        2 * self.dim
    }

    pub fn gamma<'a>(&self, params: &'a [f32]) -> &'a [f32] {
        &params[self.offset..self.offset + self.dim]
    }

    pub fn beta<'a>(&self, params: &'a [f32]) -> &'a [f32] {
        &params[self.offset + self.dim..self.offset + 2 * self.dim]
    }

    /// `γ = 1`, `β = 0`.
    pub fn init(&self, params: &mut [f32]) {
        let (g, b) = params[self.offset..self.offset + 2 * self.dim].split_at_mut(self.dim);
        g.fill(1.0);
        b.fill(0.0);
    }

    /// `x`, `y`: `rows × dim`; `mean`, `rstd`: `rows` (all overwritten but `x`).
    pub fn forward(
        &self,
        params: &[f32],
        x: &[f32],
        y: &mut [f32],
        mean: &mut [f32],
        rstd: &mut [f32],
        rows: usize,
    ) {
        let d = self.dim;
        let (g, b) = (self.gamma(params), self.beta(params));
        let inv_d = 1.0 / d as f32;
        for r in 0..rows {
            let xr = &x[r * d..(r + 1) * d];
            let m = reduce::sum(xr) * inv_d;
            let var = reduce::sq_dev(xr, m) * inv_d;
            let s = 1.0 / (var + LN_EPS).sqrt();
            for (((o, xv), gv), bv) in y[r * d..(r + 1) * d].iter_mut().zip(xr).zip(g).zip(b) {
                *o = (xv - m) * s * gv + bv;
            }
            mean[r] = m;
            rstd[r] = s;
        }
    }

    /// Accumulates `dγ`, `dβ` into `grads` and `dx` into `dx` (`+=`, so a
    /// residual stream's gradient can be passed straight in).
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        &self,
        params: &[f32],
        x: &[f32],
        mean: &[f32],
        rstd: &[f32],
        dy: &[f32],
        dx: &mut [f32],
        grads: &mut [f32],
        rows: usize,
    ) {
        let d = self.dim;
        let g = self.gamma(params);
        let (dg, db) = grads[self.offset..self.offset + 2 * d].split_at_mut(d);
        let inv_d = 1.0 / d as f32;
        for r in 0..rows {
            let xr = &x[r * d..(r + 1) * d];
            let dyr = &dy[r * d..(r + 1) * d];
            let (m, s) = (mean[r], rstd[r]);
            // dnorm = dy·γ; dx = rstd·(dnorm − mean(dnorm) − x̂·mean(dnorm·x̂)).
            let mut sum_dn = [0.0f32; 8];
            let mut sum_dn_xh = [0.0f32; 8];
            let mut step = |i: usize, lane: usize| {
                let xh = (xr[i] - m) * s;
                let dn = dyr[i] * g[i];
                sum_dn[lane] += dn;
                sum_dn_xh[lane] += dn * xh;
                dg[i] += dyr[i] * xh;
                db[i] += dyr[i];
            };
            let whole = d / 8 * 8;
            for c in (0..whole).step_by(8) {
                for lane in 0..8 {
                    step(c + lane, lane);
                }
            }
            for i in whole..d {
                step(i, 0);
            }
            let (sum_dn, sum_dn_xh) = (reduce::sum(&sum_dn), reduce::sum(&sum_dn_xh));
            let (mean_dn, mean_dn_xh) = (sum_dn * inv_d, sum_dn_xh * inv_d);
            for (i, o) in dx[r * d..(r + 1) * d].iter_mut().enumerate() {
                let xh = (xr[i] - m) * s;
                *o += s * (dyr[i] * g[i] - mean_dn - xh * mean_dn_xh);
            }
        }
    }
}
