//! Action distributions for policy-gradient heads: categorical over logits and
//! diagonal Gaussian with a state-independent log standard deviation. Each has
//! sampling, log-probability, entropy, and the backward of
//! `c_logp·log π(a) + c_ent·H` with respect to its inputs.

use ganglion_sim::Rng;

/// log Σ exp(x), stable.
fn log_sum_exp(x: &[f32]) -> f32 {
    let m = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    m + x.iter().map(|v| (v - m).exp()).sum::<f32>().ln()
}

pub mod categorical {
    use super::*;

    pub fn sample(logits: &[f32], rng: &mut Rng) -> usize {
        let lse = log_sum_exp(logits);
        let u = rng.next_f32();
        let mut acc = 0.0;
        for (i, l) in logits.iter().enumerate() {
            acc += (l - lse).exp();
            if u < acc {
                return i;
            }
        }
        logits.len() - 1
    }

    /// (log π(a), entropy)
    pub fn logp_entropy(logits: &[f32], a: usize) -> (f32, f32) {
        let lse = log_sum_exp(logits);
        let ent = -logits
            .iter()
            .map(|l| {
                let lp = l - lse;
                lp.exp() * lp
            })
            .sum::<f32>();
        (logits[a] - lse, ent)
    }

    /// Accumulates `d(c_logp·log π(a) + c_ent·H)/d logits` into `dlogits`.
    pub fn backward(logits: &[f32], a: usize, c_logp: f32, c_ent: f32, dlogits: &mut [f32]) {
        let lse = log_sum_exp(logits);
        let (_, ent) = logp_entropy(logits, a);
        for (j, (l, d)) in logits.iter().zip(dlogits.iter_mut()).enumerate() {
            let lp = l - lse;
            let p = lp.exp();
            let onehot = if j == a { 1.0 } else { 0.0 };
            // d log π(a)/d l_j = 1[j=a] − p_j ;  dH/d l_j = −p_j (log p_j + H)
            *d += c_logp * (onehot - p) + c_ent * (-p * (lp + ent));
        }
    }
}

pub mod gaussian {
    use super::*;

    const HALF_LOG_2PI: f32 = 0.918_938_5;

    pub fn sample(mean: &[f32], log_std: &[f32], rng: &mut Rng, out: &mut [f32]) {
        for ((o, m), s) in out.iter_mut().zip(mean).zip(log_std) {
            *o = m + s.exp() * rng.normal();
        }
    }

    /// (log π(a), entropy)
    pub fn logp_entropy(mean: &[f32], log_std: &[f32], a: &[f32]) -> (f32, f32) {
        let mut lp = 0.0;
        let mut ent = 0.0;
        for ((m, s), x) in mean.iter().zip(log_std).zip(a) {
            let z = (x - m) / s.exp();
            lp += -0.5 * z * z - s - HALF_LOG_2PI;
            ent += s + 0.5 + HALF_LOG_2PI;
        }
        (lp, ent)
    }

    /// Accumulates gradients of `c_logp·log π(a) + c_ent·H` into `dmean` and
    /// `dlog_std`.
    pub fn backward(
        mean: &[f32],
        log_std: &[f32],
        a: &[f32],
        c_logp: f32,
        c_ent: f32,
        dmean: &mut [f32],
        dlog_std: &mut [f32],
    ) {
        for i in 0..mean.len() {
            let inv_var = (-2.0 * log_std[i]).exp();
            let diff = a[i] - mean[i];
            dmean[i] += c_logp * diff * inv_var;
            dlog_std[i] += c_logp * (diff * diff * inv_var - 1.0) + c_ent;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(f: impl Fn(&[f32]) -> f32, x: &[f32], i: usize) -> f32 {
        let eps = 1e-3;
        let mut up = x.to_vec();
        up[i] += eps;
        let mut down = x.to_vec();
        down[i] -= eps;
        (f(&up) - f(&down)) / (2.0 * eps)
    }

    #[test]
    fn categorical_gradient_check() {
        let logits = [0.3f32, -1.2, 0.8];
        let (c_lp, c_ent) = (0.7, -0.3);
        for a in 0..3 {
            let mut d = [0.0; 3];
            categorical::backward(&logits, a, c_lp, c_ent, &mut d);
            let f = |l: &[f32]| {
                let (lp, h) = categorical::logp_entropy(l, a);
                c_lp * lp + c_ent * h
            };
            for (i, di) in d.iter().enumerate() {
                assert!((di - numeric(f, &logits, i)).abs() < 2e-3, "a={a} i={i}");
            }
        }
    }

    #[test]
    fn gaussian_gradient_check() {
        let mean = [0.2f32, -0.5];
        let log_std = [-0.3f32, 0.4];
        let a = [0.5f32, -1.5];
        let (c_lp, c_ent) = (1.3, 0.2);
        let mut dm = [0.0; 2];
        let mut ds = [0.0; 2];
        gaussian::backward(&mean, &log_std, &a, c_lp, c_ent, &mut dm, &mut ds);
        let fm = |m: &[f32]| {
            let (lp, h) = gaussian::logp_entropy(m, &log_std, &a);
            c_lp * lp + c_ent * h
        };
        let fs = |s: &[f32]| {
            let (lp, h) = gaussian::logp_entropy(&mean, s, &a);
            c_lp * lp + c_ent * h
        };
        for i in 0..2 {
            assert!((dm[i] - numeric(fm, &mean, i)).abs() < 2e-3);
            assert!((ds[i] - numeric(fs, &log_std, i)).abs() < 2e-3);
        }
    }

    #[test]
    fn categorical_sampling_follows_probabilities() {
        let logits = [0.0f32, (3.0f32).ln()]; // p = [0.25, 0.75]
        let mut rng = Rng::new(5);
        let n = 20_000;
        let ones = (0..n)
            .filter(|_| categorical::sample(&logits, &mut rng) == 1)
            .count();
        let p = ones as f32 / n as f32;
        assert!((p - 0.75).abs() < 0.015, "{p}");
    }
}
