//! Weight initialisation. Orthogonal init (as Stable-Baselines3 and most PPO
//! implementations use) keeps early policies near-uniform and gradients well
//! scaled.

use ganglion_sim::Rng;

/// Fills `w` (`rows × cols`, row-major) with a random orthogonal matrix scaled by
/// `gain`: orthonormal rows if rows ≤ cols, orthonormal columns otherwise.
pub fn orthogonal(w: &mut [f32], rows: usize, cols: usize, gain: f32, rng: &mut Rng) {
    assert_eq!(w.len(), rows * cols);
    // Orthonormalise the vectors along the longer side's complement: we build
    // `short` vectors of length `long` with modified Gram–Schmidt in f64.
    let (short, long) = if rows <= cols {
        (rows, cols)
    } else {
        (cols, rows)
    };
    let mut q = vec![0.0f64; short * long];
    for v in q.iter_mut() {
        *v = rng.normal() as f64;
    }
    for i in 0..short {
        for j in 0..i {
            let dot: f64 = (0..long).map(|t| q[i * long + t] * q[j * long + t]).sum();
            for t in 0..long {
                q[i * long + t] -= dot * q[j * long + t];
            }
        }
        let norm: f64 = (0..long)
            .map(|t| q[i * long + t].powi(2))
            .sum::<f64>()
            .sqrt();
        for t in 0..long {
            q[i * long + t] /= norm.max(1e-12);
        }
    }
    for r in 0..rows {
        for c in 0..cols {
            let v = if rows <= cols {
                q[r * long + c]
            } else {
                q[c * long + r]
            };
            w[r * cols + c] = gain * v as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_or_columns_are_orthonormal() {
        let mut rng = Rng::new(3);
        for (rows, cols) in [(4, 9), (9, 4), (6, 6)] {
            let mut w = vec![0.0; rows * cols];
            orthogonal(&mut w, rows, cols, 2.0, &mut rng);
            let (short, long) = if rows <= cols {
                (rows, cols)
            } else {
                (cols, rows)
            };
            // Entry t of the i-th orthonormal vector.
            let get = |i: usize, t: usize| {
                if rows <= cols {
                    w[i * cols + t]
                } else {
                    w[t * cols + i]
                }
            };
            for i in 0..short {
                for j in 0..short {
                    let dot: f32 = (0..long).map(|t| get(i, t) * get(j, t)).sum();
                    let want = if i == j { 4.0 } else { 0.0 };
                    assert!((dot - want).abs() < 1e-4, "{rows}x{cols} ({i},{j}) {dot}");
                }
            }
        }
    }
}
