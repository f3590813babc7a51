//! The few dense f32 operations the language models need (linear layers,
//! norms, activations), on row-major buffers, single-threaded through
//! `matrixmultiply`.

/// `y[n, out] = x[n, inp] · w[out, inp]ᵀ` (a linear layer without bias).
pub fn matmul_t(x: &[f32], n: usize, inp: usize, w: &[f32], out: usize, y: &mut [f32]) {
    assert!(
        x.len() >= n * inp && w.len() >= out * inp && y.len() >= n * out,
        "matmul_t: buffer sizes"
    );
    if n == 0 || out == 0 {
        return;
    }
    // SAFETY: the asserts above bound every index the strides describe.
    unsafe {
        matrixmultiply::sgemm(
            n,
            inp,
            out,
            1.0,
            x.as_ptr(),
            inp as isize,
            1,
            w.as_ptr(),
            1,
            inp as isize,
            0.0,
            y.as_mut_ptr(),
            out as isize,
            1,
        );
    }
}

/// Adds a bias to every row.
pub fn add_bias(y: &mut [f32], bias: &[f32]) {
    for row in y.chunks_mut(bias.len()) {
        for (a, b) in row.iter_mut().zip(bias) {
            *a += b;
        }
    }
}

/// RMS norm of each `d`-row of `x`, scaled by `w`, into `out`.
pub fn rms_norm(x: &[f32], w: &[f32], eps: f32, out: &mut [f32], d: usize) {
    for (row, o) in x.chunks(d).zip(out.chunks_mut(d)) {
        let ms = row.iter().map(|v| v * v).sum::<f32>() / d as f32;
        let inv = 1.0 / (ms + eps).sqrt();
        for ((oi, xi), wi) in o.iter_mut().zip(row).zip(w) {
            *oi = xi * inv * wi;
        }
    }
}

/// Layer norm of each `d`-row of `x` in place, with weight and bias.
pub fn layer_norm(x: &mut [f32], w: &[f32], b: &[f32], eps: f32, d: usize) {
    for row in x.chunks_mut(d) {
        let mean = row.iter().sum::<f32>() / d as f32;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / d as f32;
        let inv = 1.0 / (var + eps).sqrt();
        for ((v, wi), bi) in row.iter_mut().zip(w).zip(b) {
            *v = (*v - mean) * inv * wi + bi;
        }
    }
}

/// `gate = silu(gate) * up`.
pub fn silu_mul(gate: &mut [f32], up: &[f32]) {
    for (g, u) in gate.iter_mut().zip(up) {
        *g = *g / (1.0 + (-*g).exp()) * u;
    }
}

/// Exact (erf) GELU in place, as BERT uses.
pub fn gelu(x: &mut [f32]) {
    for v in x.iter_mut() {
        *v = 0.5 * *v * (1.0 + erf(*v / std::f32::consts::SQRT_2));
    }
}

/// erf with |error| < 1.2e-7 (Numerical Recipes' erfc Chebyshev fit).
fn erf(x: f32) -> f32 {
    let z = (x as f64).abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    let e = 1.0 - r;
    (if x >= 0.0 { e } else { -e }) as f32
}

/// Softmax of a row in place.
pub fn softmax(row: &mut [f32]) {
    let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let mut sum = 0.0;
    for v in row.iter_mut() {
        *v = (*v - m).exp();
        sum += *v;
    }
    for v in row.iter_mut() {
        *v /= sum;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_t_matches_loops() {
        let (n, inp, out) = (3, 5, 4);
        let x: Vec<f32> = (0..n * inp).map(|i| (i as f32 * 0.37).sin()).collect();
        let w: Vec<f32> = (0..out * inp).map(|i| (i as f32 * 0.11).cos()).collect();
        let mut y = vec![0.0; n * out];
        matmul_t(&x, n, inp, &w, out, &mut y);
        for i in 0..n {
            for o in 0..out {
                let r: f32 = (0..inp).map(|k| x[i * inp + k] * w[o * inp + k]).sum();
                assert!((r - y[i * out + o]).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn erf_known_values() {
        for (x, e) in [
            (0.0f32, 0.0f32),
            (0.5, 0.520_499_9),
            (1.0, 0.842_700_8),
            (-2.0, -0.995_322_3),
        ] {
            assert!((erf(x) - e).abs() < 1e-6, "erf({x})");
        }
    }
}
