//! Matrix products for the layers, on `matrixmultiply`'s packed SGEMM kernels.
//! Row-major matrices; a transposed operand is expressed through strides.

/// `c[m×n] = beta·c + a·b`, where `a` is `m×k` (or its transpose if `trans_a`,
/// stored `k×m`) and `b` is `k×n` (or stored `n×k` if `trans_b`).
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    trans_a: bool,
    b: &[f32],
    trans_b: bool,
    beta: f32,
    c: &mut [f32],
) {
    assert!(a.len() >= m * k, "gemm: a too short");
    assert!(b.len() >= k * n, "gemm: b too short");
    assert!(c.len() >= m * n, "gemm: c too short");
    if m == 0 || n == 0 {
        return;
    }
    let (rsa, csa) = if trans_a {
        (1, m as isize)
    } else {
        (k as isize, 1)
    };
    let (rsb, csb) = if trans_b {
        (1, k as isize)
    } else {
        (n as isize, 1)
    };
    // SAFETY: the asserts above bound every index the kernel touches: rows/cols
    // within m, k, n with the strides derived from those same sizes.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            rsa,
            csa,
            b.as_ptr(),
            rsb,
            csb,
            beta,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: usize, k: usize, n: usize, a: &[f32], ta: bool, b: &[f32], tb: bool) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                for p in 0..k {
                    let av = if ta { a[p * m + i] } else { a[i * k + p] };
                    let bv = if tb { b[j * k + p] } else { b[p * n + j] };
                    c[i * n + j] += av * bv;
                }
            }
        }
        c
    }

    #[test]
    fn all_transpose_combinations() {
        let (m, k, n) = (3, 5, 4);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.71).cos()).collect();
        for ta in [false, true] {
            for tb in [false, true] {
                let mut c = vec![0.0; m * n];
                gemm(m, k, n, &a, ta, &b, tb, 0.0, &mut c);
                let r = naive(m, k, n, &a, ta, &b, tb);
                for (x, y) in c.iter().zip(&r) {
                    assert!((x - y).abs() < 1e-5);
                }
            }
        }
    }
}
