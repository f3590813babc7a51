//! 2-D convolution, stride 1, "same" zero padding, with dilation: one image
//! at a time in channel-major layout (`C × H × W`), as im2col then one SGEMM.
//! Weights `cout × cin × k × k` (ONNX `Conv`'s layout) at `offset` in the
//! flat buffer, then the bias (`cout`). Forward and backward side by side; a
//! direct-loop reference and finite differences check them.

use super::gemm::gemm;
use super::init::orthogonal;
use ganglion_sim::Rng;

#[derive(Clone, Debug, PartialEq)]
pub struct Conv2d {
    pub cin: usize,
    pub cout: usize,
    /// Kernel side (odd).
    pub k: usize,
    pub dilation: usize,
    /// Where this layer's parameters start in the model's flat buffer.
    pub offset: usize,
}

impl Conv2d {
    pub fn new(cin: usize, cout: usize, k: usize, dilation: usize, offset: usize) -> Self {
        debug_assert!(k % 2 == 1, "odd kernels only");
        Conv2d {
            cin,
            cout,
            k,
            dilation,
            offset,
        }
    }

    pub fn num_params(&self) -> usize {
        self.cout * self.col_rows() + self.cout
    }

    /// Rows of the im2col matrix: `cin × k × k`.
    pub fn col_rows(&self) -> usize {
        self.cin * self.k * self.k
    }

    /// Zero padding on each side ("same" output size).
    pub fn pad(&self) -> usize {
        self.dilation * (self.k - 1) / 2
    }

    pub fn weight<'a>(&self, params: &'a [f32]) -> &'a [f32] {
        &params[self.offset..self.offset + self.cout * self.col_rows()]
    }

    pub fn bias<'a>(&self, params: &'a [f32]) -> &'a [f32] {
        let b = self.offset + self.cout * self.col_rows();
        &params[b..b + self.cout]
    }

    /// Orthogonal filters scaled by `gain`, zero bias.
    pub fn init(&self, params: &mut [f32], gain: f32, rng: &mut Rng) {
        let n = self.cout * self.col_rows();
        let w = self.offset..self.offset + n;
        orthogonal(
            &mut params[w.clone()],
            self.cout,
            self.col_rows(),
            gain,
            rng,
        );
        params[w.end..w.end + self.cout].fill(0.0);
    }

    /// Unfolds `x` (`cin × h × w`) into `col` (`cin·k·k × h·w`): row
    /// `(c, ky, kx)` holds the input each output pixel sees at that tap.
    pub fn im2col(&self, x: &[f32], h: usize, w: usize, col: &mut [f32]) {
        let (k, d, pad) = (self.k, self.dilation as isize, self.pad() as isize);
        let hw = h * w;
        for c in 0..self.cin {
            let plane = &x[c * hw..(c + 1) * hw];
            for ky in 0..k {
                for kx in 0..k {
                    let row = &mut col[((c * k + ky) * k + kx) * hw..][..hw];
                    let oy = ky as isize * d - pad;
                    let ox = kx as isize * d - pad;
                    for y in 0..h {
                        let out = &mut row[y * w..(y + 1) * w];
                        let sy = y as isize + oy;
                        if sy < 0 || sy >= h as isize {
                            out.fill(0.0);
                            continue;
                        }
                        let src = &plane[sy as usize * w..(sy as usize + 1) * w];
                        // Output x reads source x + ox where that is inside.
                        let lo = (-ox).clamp(0, w as isize) as usize;
                        let hi = (w as isize - ox).clamp(0, w as isize) as usize;
                        out[..lo].fill(0.0);
                        if hi > lo {
                            let s0 = (lo as isize + ox) as usize;
                            out[lo..hi].copy_from_slice(&src[s0..s0 + (hi - lo)]);
                        }
                        out[hi.max(lo)..].fill(0.0);
                    }
                }
            }
        }
    }

    /// The adjoint of `im2col`: adds each column entry back to the input
    /// pixel it came from. `dx` is overwritten.
    fn col2im(&self, dcol: &[f32], h: usize, w: usize, dx: &mut [f32]) {
        let (k, d, pad) = (self.k, self.dilation as isize, self.pad() as isize);
        let hw = h * w;
        dx[..self.cin * hw].fill(0.0);
        for c in 0..self.cin {
            let plane = &mut dx[c * hw..(c + 1) * hw];
            for ky in 0..k {
                for kx in 0..k {
                    let row = &dcol[((c * k + ky) * k + kx) * hw..][..hw];
                    let oy = ky as isize * d - pad;
                    let ox = kx as isize * d - pad;
                    let lo = (-ox).clamp(0, w as isize) as usize;
                    let hi = (w as isize - ox).clamp(0, w as isize) as usize;
                    if hi <= lo {
                        continue;
                    }
                    for y in 0..h {
                        let sy = y as isize + oy;
                        if sy < 0 || sy >= h as isize {
                            continue;
                        }
                        let s0 = sy as usize * w + (lo as isize + ox) as usize;
                        let dst = &mut plane[s0..s0 + (hi - lo)];
                        for (a, g) in dst.iter_mut().zip(&row[y * w + lo..y * w + hi]) {
                            *a += g;
                        }
                    }
                }
            }
        }
    }

    /// `y` (`cout × h × w`) = conv(`x`); `col` (`col_rows × h·w`) keeps the
    /// unfolded input for the backward pass.
    pub fn forward(
        &self,
        params: &[f32],
        x: &[f32],
        h: usize,
        w: usize,
        col: &mut [f32],
        y: &mut [f32],
    ) {
        let hw = h * w;
        self.im2col(x, h, w, col);
        for (row, b) in y[..self.cout * hw]
            .chunks_exact_mut(hw)
            .zip(self.bias(params))
        {
            row.fill(*b);
        }
        gemm(
            self.cout,
            self.col_rows(),
            hw,
            self.weight(params),
            false,
            col,
            false,
            1.0,
            y,
        );
    }

    /// Accumulates `dW += dy·colᵀ`, `db += Σ dy` into `grads` and, when
    /// asked, writes `dx` (through `dcol`, scratch of `col`'s size).
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        &self,
        params: &[f32],
        col: &[f32],
        dy: &[f32],
        h: usize,
        w: usize,
        dx: Option<(&mut [f32], &mut [f32])>,
        grads: &mut [f32],
    ) {
        let (hw, rows) = (h * w, self.col_rows());
        let wr = self.offset..self.offset + self.cout * rows;
        gemm(
            self.cout,
            hw,
            rows,
            dy,
            false,
            col,
            true,
            1.0,
            &mut grads[wr.clone()],
        );
        for (g, row) in grads[wr.end..wr.end + self.cout]
            .iter_mut()
            .zip(dy.chunks_exact(hw))
        {
            *g += row.iter().sum::<f32>();
        }
        if let Some((dx, dcol)) = dx {
            gemm(
                rows,
                self.cout,
                hw,
                self.weight(params),
                true,
                dy,
                false,
                0.0,
                dcol,
            );
            self.col2im(dcol, h, w, dx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::gradcheck::{check, dot, random};
    use super::*;

    /// Direct nested loops: the reference the im2col path must match.
    fn direct(c: &Conv2d, p: &[f32], x: &[f32], h: usize, w: usize) -> Vec<f32> {
        let (k, d, pad) = (c.k as isize, c.dilation as isize, c.pad() as isize);
        let mut y = vec![0.0; c.cout * h * w];
        for o in 0..c.cout {
            for yy in 0..h as isize {
                for xx in 0..w as isize {
                    let mut s = c.bias(p)[o];
                    for i in 0..c.cin {
                        for ky in 0..k {
                            for kx in 0..k {
                                let (sy, sx) = (yy + ky * d - pad, xx + kx * d - pad);
                                if sy < 0 || sx < 0 || sy >= h as isize || sx >= w as isize {
                                    continue;
                                }
                                let wi = ((o * c.cin + i) * c.k + ky as usize) * c.k + kx as usize;
                                s += c.weight(p)[wi] * x[(i * h + sy as usize) * w + sx as usize];
                            }
                        }
                    }
                    y[(o * h + yy as usize) * w + xx as usize] = s;
                }
            }
        }
        y
    }

    fn layers() -> Vec<Conv2d> {
        vec![
            Conv2d::new(2, 3, 3, 1, 0),
            Conv2d::new(3, 2, 3, 2, 0),
            Conv2d::new(2, 2, 1, 1, 0),
            Conv2d::new(1, 2, 3, 4, 0),
        ]
    }

    #[test]
    fn im2col_forward_matches_the_direct_loops() {
        let mut rng = Rng::new(3);
        let (h, w) = (7, 9);
        for c in layers() {
            let p = random(c.num_params(), &mut rng);
            let x = random(c.cin * h * w, &mut rng);
            let mut col = vec![0.0; c.col_rows() * h * w];
            let mut y = vec![0.0; c.cout * h * w];
            c.forward(&p, &x, h, w, &mut col, &mut y);
            for (a, b) in y.iter().zip(direct(&c, &p, &x, h, w)) {
                assert!((a - b).abs() < 1e-4, "{c:?}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn conv_gradients() {
        let mut rng = Rng::new(5);
        let (h, w) = (5, 6);
        for c in layers() {
            let mut p = random(c.num_params(), &mut rng);
            let mut x = random(c.cin * h * w, &mut rng);
            let r = random(c.cout * h * w, &mut rng);
            let mut col = vec![0.0; c.col_rows() * h * w];
            let mut dcol = vec![0.0; c.col_rows() * h * w];
            let mut y = vec![0.0; c.cout * h * w];
            c.forward(&p, &x, h, w, &mut col, &mut y);
            let mut grads = vec![0.0; c.num_params()];
            let mut dx = vec![0.0; c.cin * h * w];
            c.backward(&p, &col, &r, h, w, Some((&mut dx, &mut dcol)), &mut grads);
            let xs = x.clone();
            check("conv params", &mut p, &grads, |p| {
                dot(&direct(&c, p, &xs, h, w), &r)
            });
            let ps = p.clone();
            check("conv input", &mut x, &dx, |x| {
                dot(&direct(&c, &ps, x, h, w), &r)
            });
        }
    }
}
