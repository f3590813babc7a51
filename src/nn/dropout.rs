//! Inverted dropout: a mask of `0` (dropped, probability `p`) or `1/(1−p)`
//! (kept), drawn from a seeded `Rng` and kept for the backward pass, which
//! multiplies the incoming gradient by the same mask.

use ganglion_sim::Rng;

/// Fills `mask` with `0` or `1/(1−p)`. `p` is clamped to `[0, 1)`'s sane part:
/// `p ≤ 0` keeps everything.
pub fn dropout_mask(mask: &mut [f32], p: f32, rng: &mut Rng) {
    if p <= 0.0 || p.is_nan() {
        mask.fill(1.0);
        return;
    }
    let p = p.min(0.999);
    let keep = 1.0 / (1.0 - p);
    for m in mask.iter_mut() {
        *m = if rng.next_f32() < p { 0.0 } else { keep };
    }
}

/// `x ← x ⊙ mask` (forward) or `d ← d ⊙ mask` (backward).
pub fn apply_mask(x: &mut [f32], mask: &[f32]) {
    x.iter_mut().zip(mask).for_each(|(v, m)| *v *= m);
}
