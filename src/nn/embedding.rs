//! Learned embedding table (`rows × dim`, row-major, at `offset` in a flat
//! parameter buffer): the forward pass gathers rows by index, the backward pass
//! scatter-adds into the gathered rows' gradients. Indices past the table are
//! clamped to its last row, so bad input cannot index out of bounds.

use ganglion_sim::Rng;

#[derive(Clone, Debug, PartialEq)]
pub struct Embedding {
    pub rows: usize,
    pub dim: usize,
    pub offset: usize,
}

impl Embedding {
    pub fn new(rows: usize, dim: usize, offset: usize) -> Self {
        Embedding { rows, dim, offset }
    }

    pub fn num_params(&self) -> usize {
        self.rows * self.dim
    }

    pub fn table<'a>(&self, params: &'a [f32]) -> &'a [f32] {
        &params[self.offset..self.offset + self.rows * self.dim]
    }

    /// Normal(0, `std`) entries.
    pub fn init(&self, params: &mut [f32], std: f32, rng: &mut Rng) {
        for p in &mut params[self.offset..self.offset + self.rows * self.dim] {
            *p = std * rng.normal();
        }
    }

    /// The row used for `index` (clamped into the table).
    pub fn clamp(&self, index: usize) -> usize {
        index.min(self.rows.saturating_sub(1))
    }

    /// The table row for `index` (clamped).
    pub fn row<'a>(&self, params: &'a [f32], index: usize) -> &'a [f32] {
        let r = self.offset + self.clamp(index) * self.dim;
        &params[r..r + self.dim]
    }

    /// `out[i] += table[index[i]]` for each `dim`-wide row `i` of `out`.
    pub fn forward_add(&self, params: &[f32], index: &[usize], out: &mut [f32]) {
        for (o, &ix) in out.chunks_exact_mut(self.dim).zip(index) {
            for (ov, tv) in o.iter_mut().zip(self.row(params, ix)) {
                *ov += tv;
            }
        }
    }

    /// `dtable[index[i]] += dout[i]`.
    pub fn backward(&self, index: &[usize], dout: &[f32], grads: &mut [f32]) {
        for (d, &ix) in dout.chunks_exact(self.dim).zip(index) {
            let r = self.offset + self.clamp(ix) * self.dim;
            for (g, dv) in grads[r..r + self.dim].iter_mut().zip(d) {
                *g += dv;
            }
        }
    }
}
