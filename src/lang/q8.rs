//! Int8 matrix products for the language model's linear layers: weights
//! quantised once per output row (symmetric, scale = max |w| / 127),
//! activations per input row at each call (scale = max |x| / 127, stored
//! as u8 with an offset of 128), products summed in i32 and scaled back.
//! On x86-64 with AVX-512 VNNI the sum runs on `vpdpbusd` (64 u8×i8
//! products per instruction, 3.5–4.7× the f32 `matrixmultiply` path on
//! this model's shapes); elsewhere the scalar reference beside it runs,
//! which a test checks the kernel against bit for bit.

/// A weight matrix `[out, inp]`, quantised and packed for the kernel: for
/// each block of 16 output rows and each group of 4 inputs, 64 bytes (row
/// `l` of the block at bytes `4l..4l+4`).
#[derive(Clone)]
pub struct Q8Matrix {
    pub out: usize,
    pub inp: usize,
    packed: Vec<i8>,
    /// Per output row: the dequantisation scale, and the sum of its
    /// quantised weights (to take the activations' +128 offset back out).
    scale: Vec<f32>,
    wsum: Vec<i32>,
}

/// Reused activation buffers (quantised rows and their scales).
#[derive(Default)]
pub struct Q8Scratch {
    x: Vec<u8>,
    xscale: Vec<f32>,
    acc: Vec<i32>,
}

/// Output rows per packed block, and inputs per packed group.
const BLOCK: usize = 16;
const GROUP: usize = 4;

impl Q8Matrix {
    /// `None` when the shape does not fit the packing (`out` a multiple of
    /// 32, `inp` of 4): such a layer stays in f32.
    pub fn quantize(w: &[f32], out: usize, inp: usize) -> Option<Q8Matrix> {
        if out == 0
            || inp == 0
            || !out.is_multiple_of(2 * BLOCK)
            || !inp.is_multiple_of(GROUP)
            || w.len() < out * inp
        {
            return None;
        }
        let mut q = vec![0i8; out * inp];
        let mut scale = vec![0f32; out];
        let mut wsum = vec![0i32; out];
        for o in 0..out {
            let row = &w[o * inp..(o + 1) * inp];
            let max = row.iter().fold(0f32, |m, v| m.max(v.abs()));
            let s = if max > 0.0 { max / 127.0 } else { 1.0 };
            scale[o] = s;
            for (k, v) in row.iter().enumerate() {
                let qv = (v / s).round().clamp(-127.0, 127.0) as i8;
                q[o * inp + k] = qv;
                wsum[o] += i32::from(qv);
            }
        }
        let mut packed = vec![0i8; out * inp];
        let mut at = 0;
        for ob in 0..out / BLOCK {
            for g in 0..inp / GROUP {
                for l in 0..BLOCK {
                    let src = (ob * BLOCK + l) * inp + g * GROUP;
                    packed[at..at + GROUP].copy_from_slice(&q[src..src + GROUP]);
                    at += GROUP;
                }
            }
        }
        Some(Q8Matrix {
            out,
            inp,
            packed,
            scale,
            wsum,
        })
    }

    /// Quantised weight `(o, k)` (for the reference and tests).
    fn weight(&self, o: usize, k: usize) -> i8 {
        let (ob, l) = (o / BLOCK, o % BLOCK);
        let (g, b) = (k / GROUP, k % GROUP);
        self.packed[(ob * (self.inp / GROUP) + g) * BLOCK * GROUP + l * GROUP + b]
    }
}

/// `y[n, out] = x[n, inp] · wᵀ` through the int8 path.
pub fn matmul_q8(x: &[f32], n: usize, w: &Q8Matrix, y: &mut [f32], s: &mut Q8Scratch) {
    let (inp, out) = (w.inp, w.out);
    assert!(
        x.len() >= n * inp && y.len() >= n * out,
        "matmul_q8: buffer sizes"
    );
    quantize_rows(x, n, inp, s);
    s.acc.clear();
    s.acc.resize(n * out, 0);
    #[cfg(target_arch = "x86_64")]
    {
        if vnni() {
            // SAFETY: the CPU has AVX-512F and VNNI (checked here); the
            // sizes hold (`quantize` and the assert above).
            unsafe { vnni::products(&s.x, n, w, &mut s.acc) };
        } else {
            products_reference(&s.x, n, w, &mut s.acc);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    products_reference(&s.x, n, w, &mut s.acc);
    for r in 0..n {
        let xs = s.xscale[r];
        for o in 0..out {
            let a = s.acc[r * out + o] - 128 * w.wsum[o];
            y[r * out + o] = a as f32 * xs * w.scale[o];
        }
    }
}

/// Whether the int8 kernel runs on this CPU (else the scalar reference,
/// much slower than the f32 path: callers keep f32 then).
pub fn fast() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        vnni()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(target_arch = "x86_64")]
fn vnni() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512vnni")
}

/// Each row of `x` as u8 (q + 128, q = round(x / scale) in −127..127).
fn quantize_rows(x: &[f32], n: usize, inp: usize, s: &mut Q8Scratch) {
    s.x.clear();
    s.x.resize(n * inp, 128);
    s.xscale.clear();
    for r in 0..n {
        let row = &x[r * inp..(r + 1) * inp];
        let max = row.iter().fold(0f32, |m, v| m.max(v.abs()));
        let sc = if max > 0.0 && max.is_finite() {
            max / 127.0
        } else {
            1.0
        };
        s.xscale.push(sc);
        for (d, v) in s.x[r * inp..(r + 1) * inp].iter_mut().zip(row) {
            let q = (v / sc).round().clamp(-127.0, 127.0) as i32;
            *d = (q + 128) as u8;
        }
    }
}

/// The reference: `acc[r, o] = Σ_k x[r, k] · w[o, k]` (u8 × i8 in i32).
fn products_reference(x: &[u8], n: usize, w: &Q8Matrix, acc: &mut [i32]) {
    for r in 0..n {
        for o in 0..w.out {
            acc[r * w.out + o] = (0..w.inp)
                .map(|k| i32::from(x[r * w.inp + k]) * i32::from(w.weight(o, k)))
                .sum();
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod vnni {
    use std::arch::x86_64::*;

    use super::{BLOCK, GROUP, Q8Matrix};

    /// Rows per tile; each tile is `ROWS` inputs × 32 outputs in 8
    /// accumulators.
    const ROWS: usize = 4;

    /// As `products_reference`, on `vpdpbusd`.
    ///
    /// # Safety
    /// The CPU has AVX-512F and AVX-512 VNNI; `x` holds `n · w.inp` bytes,
    /// `acc` `n · w.out` values; `w.out` is a multiple of 32 and `w.inp` of 4.
    #[target_feature(enable = "avx512f,avx512vnni")]
    pub(super) unsafe fn products(x: &[u8], n: usize, w: &Q8Matrix, acc: &mut [i32]) {
        let groups = w.inp / GROUP;
        let block_bytes = w.inp * BLOCK;
        let xg = x.as_ptr().cast::<i32>();
        let mut r0 = 0;
        while r0 < n {
            let rows = (n - r0).min(ROWS);
            for ob in (0..w.out / BLOCK).step_by(2) {
                // SAFETY (whole block): every offset below stays inside
                // `w.packed` (ob + 1 < out / 16, g < groups), `x` (row
                // < n, group < groups; unaligned reads) and `acc` (row < n,
                // column + 32 <= out), per the function's contract.
                unsafe {
                    let w0 = w.packed.as_ptr().add(ob * block_bytes).cast::<__m512i>();
                    let w1 = w
                        .packed
                        .as_ptr()
                        .add((ob + 1) * block_bytes)
                        .cast::<__m512i>();
                    let mut a = [[_mm512_setzero_si512(); 2]; ROWS];
                    for g in 0..groups {
                        let b0 = _mm512_loadu_si512(w0.add(g));
                        let b1 = _mm512_loadu_si512(w1.add(g));
                        for (r, ar) in a.iter_mut().enumerate() {
                            // Rows past the end repeat the tile's first.
                            let row = r0 + if r < rows { r } else { 0 };
                            let xb = _mm512_set1_epi32(xg.add(row * groups + g).read_unaligned());
                            ar[0] = _mm512_dpbusd_epi32(ar[0], xb, b0);
                            ar[1] = _mm512_dpbusd_epi32(ar[1], xb, b1);
                        }
                    }
                    for (r, ar) in a.iter().enumerate().take(rows) {
                        let dst = acc.as_mut_ptr().add((r0 + r) * w.out + ob * BLOCK);
                        _mm512_storeu_si512(dst.cast(), ar[0]);
                        _mm512_storeu_si512(dst.add(BLOCK).cast(), ar[1]);
                    }
                }
            }
            r0 += ROWS;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            })
            .collect()
    }

    /// The kernel (where the CPU has it) equals the reference exactly, and
    /// both are within int8 rounding of the f32 product.
    #[test]
    fn kernel_matches_reference_and_f32() {
        let (n, inp, out) = (7, 40, 64);
        let x = data(n * inp, 1);
        let w = data(out * inp, 2);
        let q = Q8Matrix::quantize(&w, out, inp).expect("shape fits");
        let mut s = Q8Scratch::default();
        let mut y = vec![0f32; n * out];
        matmul_q8(&x, n, &q, &mut y, &mut s);
        let mut reference = vec![0i32; n * out];
        products_reference(&s.x, n, &q, &mut reference);
        assert_eq!(s.acc, reference, "kernel vs reference");
        let mut f = vec![0f32; n * out];
        crate::lang::tensor::matmul_t(&x, n, inp, &w, out, &mut f);
        let worst = y
            .iter()
            .zip(&f)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        let scale = f.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(worst < 0.02 * scale, "int8 error {worst} against {scale}");
    }

    #[test]
    fn shapes_that_do_not_pack_stay_f32() {
        assert!(Q8Matrix::quantize(&[0.0; 20 * 8], 20, 8).is_none());
        assert!(Q8Matrix::quantize(&[0.0; 32 * 6], 32, 6).is_none());
    }
}
