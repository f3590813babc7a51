//! Masked losses over rows of predictions, each returning the loss and writing
//! its gradient w.r.t. the predictions. A row counts when its mask is > 0.5;
//! the loss is a mean over counted rows (MSE also over each row's entries, as
//! PyTorch's `mse_loss` on the selected rows), accumulated in f64. No counted
//! rows: loss 0, gradient 0.

/// Whether a mask entry marks a real (not padded) row.
#[inline]
pub fn is_valid(mask: f32) -> bool {
    mask > 0.5
}

/// The class index a float target encodes, if it is one (`0 ≤ i < classes`).
#[inline]
pub fn class_index(target: f32, classes: usize) -> Option<usize> {
    (target.is_finite() && target >= 0.0 && target.fract() == 0.0 && (target as usize) < classes)
        .then_some(target as usize)
}

/// `mean((pred − target)²)` over the entries of valid rows; `pred`, `target`,
/// `dpred`: `rows × dim`.
pub fn mse(pred: &[f32], target: &[f32], mask: &[f32], dim: usize, dpred: &mut [f32]) -> f32 {
    let count = mask.iter().filter(|m| is_valid(**m)).count() * dim;
    dpred.fill(0.0);
    if count == 0 {
        return 0.0;
    }
    let scale = 2.0 / count as f32;
    let mut sum = 0.0f64;
    for (r, m) in mask.iter().enumerate() {
        if !is_valid(*m) {
            continue;
        }
        let span = r * dim..(r + 1) * dim;
        for ((p, t), d) in pred[span.clone()]
            .iter()
            .zip(&target[span.clone()])
            .zip(&mut dpred[span])
        {
            let e = p - t;
            sum += (e as f64) * (e as f64);
            *d = scale * e;
        }
    }
    (sum / count as f64) as f32
}

/// Mean cross-entropy of `logits` (`rows × classes`) against class indices
/// `target` (`rows`, as f32) over valid rows; rows whose target is not a class
/// index count as padding (callers validate targets first).
pub fn cross_entropy(
    logits: &[f32],
    target: &[f32],
    mask: &[f32],
    classes: usize,
    dlogits: &mut [f32],
) -> f32 {
    dlogits.fill(0.0);
    let label = |r: usize| class_index(target[r], classes).filter(|_| is_valid(mask[r]));
    let count = (0..mask.len()).filter(|r| label(*r).is_some()).count();
    if count == 0 || classes == 0 {
        return 0.0;
    }
    let inv = 1.0 / count as f32;
    let mut sum = 0.0f64;
    for r in 0..mask.len() {
        let Some(y) = label(r) else { continue };
        let z = &logits[r * classes..(r + 1) * classes];
        let d = &mut dlogits[r * classes..(r + 1) * classes];
        let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut total = 0.0f32;
        for (dv, zv) in d.iter_mut().zip(z) {
            *dv = (zv - max).exp();
            total += *dv;
        }
        sum += (total.ln() + max - z[y]) as f64;
        for dv in d.iter_mut() {
            *dv *= inv / total;
        }
        d[y] -= inv;
    }
    (sum / count as f64) as f32
}
