//! Fully connected layer `y = x·Wᵀ + b` over a slice of a flat parameter
//! buffer: `W` (`out × in`, row-major) at `offset`, then `b` (`out`).

use super::gemm::gemm;
use super::init::orthogonal;
use ganglion_sim::Rng;

#[derive(Clone, Debug, PartialEq)]
pub struct Linear {
    pub in_dim: usize,
    pub out_dim: usize,
    /// Where this layer's parameters start in the model's flat buffer.
    pub offset: usize,
}

impl Linear {
    pub fn new(in_dim: usize, out_dim: usize, offset: usize) -> Self {
        Linear {
            in_dim,
            out_dim,
            offset,
        }
    }

    pub fn num_params(&self) -> usize {
        self.out_dim * self.in_dim + self.out_dim
    }

    /// The weight matrix within the whole flat buffer.
    pub fn weight<'a>(&self, params: &'a [f32]) -> &'a [f32] {
        &params[self.offset..self.offset + self.out_dim * self.in_dim]
    }

    pub fn bias<'a>(&self, params: &'a [f32]) -> &'a [f32] {
        let b = self.offset + self.out_dim * self.in_dim;
        &params[b..b + self.out_dim]
    }

    /// Orthogonal weights scaled by `gain`, zero bias.
    pub fn init(&self, params: &mut [f32], gain: f32, rng: &mut Rng) {
        let w = self.offset..self.offset + self.out_dim * self.in_dim;
        orthogonal(&mut params[w.clone()], self.out_dim, self.in_dim, gain, rng);
        params[w.end..w.end + self.out_dim].fill(0.0);
    }

    /// `x`: `batch × in`, `y`: `batch × out` (overwritten).
    pub fn forward(&self, params: &[f32], x: &[f32], y: &mut [f32], batch: usize) {
        let b = self.bias(params);
        for row in y[..batch * self.out_dim].chunks_exact_mut(self.out_dim) {
            row.copy_from_slice(b);
        }
        gemm(
            batch,
            self.in_dim,
            self.out_dim,
            x,
            false,
            self.weight(params),
            true,
            1.0,
            y,
        );
    }

    /// Accumulates `dW += dyᵀ·x` and `db += Σ dy` into `grads` (same layout as
    /// `params`), and writes `dx = dy·W` when asked.
    pub fn backward(
        &self,
        params: &[f32],
        x: &[f32],
        dy: &[f32],
        dx: Option<&mut [f32]>,
        grads: &mut [f32],
        batch: usize,
    ) {
        let (o, i) = (self.out_dim, self.in_dim);
        let w_range = self.offset..self.offset + o * i;
        gemm(
            o,
            batch,
            i,
            dy,
            true,
            x,
            false,
            1.0,
            &mut grads[w_range.clone()],
        );
        let db = &mut grads[w_range.end..w_range.end + o];
        for row in dy[..batch * o].chunks_exact(o) {
            for (g, d) in db.iter_mut().zip(row) {
                *g += d;
            }
        }
        if let Some(dx) = dx {
            gemm(batch, o, i, dy, false, self.weight(params), false, 0.0, dx);
        }
    }
}
