//! f32 sums and dot products with eight independent accumulators, so the
//! compiler can keep them in vector registers (a plain `iter().sum()` is one
//! serial chain). Used by LayerNorm and the attention softmax.

/// `Σ x`.
#[inline]
pub fn sum(x: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = x.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for i in 0..8 {
            acc[i] += c[i];
        }
    }
    acc.iter().sum::<f32>() + rest.iter().sum::<f32>()
}

/// `Σ a·b` over the shorter length.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `Σ (x − m)²`.
#[inline]
pub fn sq_dev(x: &[f32], m: f32) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = x.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().map(|v| (v - m) * (v - m)).sum();
    for c in chunks {
        for i in 0..8 {
            acc[i] += (c[i] - m) * (c[i] - m);
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    #[test]
    fn matches_serial_sums() {
        let x: Vec<f32> = (0..37).map(|i| (i as f32 * 0.3).sin()).collect();
        let y: Vec<f32> = (0..37).map(|i| (i as f32 * 0.7).cos()).collect();
        let s: f32 = x.iter().sum();
        let d: f32 = x.iter().zip(&y).map(|(a, b)| a * b).sum();
        let q: f32 = x.iter().map(|v| (v - 0.1) * (v - 0.1)).sum();
        assert!((super::sum(&x) - s).abs() < 1e-5);
        assert!((super::dot(&x, &y) - d).abs() < 1e-5);
        assert!((super::sq_dev(&x, 0.1) - q).abs() < 1e-5);
    }
}
