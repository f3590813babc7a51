//! Adam(W) over flat buffers, global-norm gradient clipping, and linear
//! schedules.

/// Adam with optional decoupled weight decay (AdamW when `weight_decay > 0`).
#[derive(Clone, Debug)]
pub struct Adam {
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    step: u64,
    m: Vec<f32>,
    v: Vec<f32>,
}

impl Adam {
    pub fn new(num_params: usize) -> Self {
        Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            step: 0,
            m: vec![0.0; num_params],
            v: vec![0.0; num_params],
        }
    }

    pub fn with_eps(mut self, eps: f32) -> Self {
        self.eps = eps;
        self
    }

    pub fn steps_taken(&self) -> u64 {
        self.step
    }

    /// One update of `params` from `grads` at learning rate `lr`.
    pub fn update(&mut self, params: &mut [f32], grads: &[f32], lr: f32) {
        assert_eq!(params.len(), self.m.len(), "Adam: parameter count changed");
        self.step += 1;
        let t = self.step as i32;
        let c1 = 1.0 - self.beta1.powi(t);
        let c2 = 1.0 - self.beta2.powi(t);
        let (b1, b2, eps, wd) = (self.beta1, self.beta2, self.eps, self.weight_decay);
        for (((p, g), m), v) in params
            .iter_mut()
            .zip(grads)
            .zip(&mut self.m)
            .zip(&mut self.v)
        {
            *m = b1 * *m + (1.0 - b1) * g;
            *v = b2 * *v + (1.0 - b2) * g * g;
            let m_hat = *m / c1;
            let v_hat = *v / c2;
            *p -= lr * (m_hat / (v_hat.sqrt() + eps) + wd * *p);
        }
    }
}

/// RMSprop as PyTorch's `torch.optim.RMSprop` (not centred, no momentum):
/// `v ← α·v + (1 − α)·g²`, `p ← p − lr·g / (√v + ε)`. Stable-Baselines3's
/// A2C uses it with α = 0.99, ε = 1e-5.
pub struct RmsProp {
    pub alpha: f32,
    pub eps: f32,
    v: Vec<f32>,
}

impl RmsProp {
    pub fn new(num_params: usize) -> Self {
        RmsProp {
            alpha: 0.99,
            eps: 1e-5,
            v: vec![0.0; num_params],
        }
    }

    /// One update of `params` from `grads` at learning rate `lr`.
    pub fn update(&mut self, params: &mut [f32], grads: &[f32], lr: f32) {
        assert_eq!(
            params.len(),
            self.v.len(),
            "RMSprop: parameter count changed"
        );
        let (a, eps) = (self.alpha, self.eps);
        for ((p, g), v) in params.iter_mut().zip(grads).zip(&mut self.v) {
            *v = a * *v + (1.0 - a) * g * g;
            *p -= lr * g / (v.sqrt() + eps);
        }
    }
}

/// Which optimiser a trainer uses (`optimizer = "adam" | "rmsprop"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Adam with ε = 1e-5 (Stable-Baselines3's PPO).
    #[default]
    Adam,
    /// RMSprop, α = 0.99, ε = 1e-5 (Stable-Baselines3's A2C).
    Rmsprop,
}

/// An optimiser of either kind over one flat parameter buffer.
pub enum Optimizer {
    Adam(Adam),
    RmsProp(RmsProp),
}

impl Optimizer {
    pub fn new(kind: OptimizerKind, num_params: usize) -> Self {
        match kind {
            OptimizerKind::Adam => Optimizer::Adam(Adam::new(num_params).with_eps(1e-5)),
            OptimizerKind::Rmsprop => Optimizer::RmsProp(RmsProp::new(num_params)),
        }
    }

    pub fn update(&mut self, params: &mut [f32], grads: &[f32], lr: f32) {
        match self {
            Optimizer::Adam(o) => o.update(params, grads, lr),
            Optimizer::RmsProp(o) => o.update(params, grads, lr),
        }
    }
}

/// Scales `grads` so their global L2 norm is at most `max_norm`; returns the norm
/// before clipping.
pub fn clip_grad_norm(grads: &mut [f32], max_norm: f32) -> f32 {
    let norm = grads
        .iter()
        .map(|g| (*g as f64).powi(2))
        .sum::<f64>()
        .sqrt() as f32;
    if norm > max_norm && norm > 0.0 {
        let scale = max_norm / (norm + 1e-6);
        grads.iter_mut().for_each(|g| *g *= scale);
    }
    norm
}

/// A value going linearly from `start` (progress 0) to `end` (progress 1).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LinearSchedule {
    pub start: f32,
    pub end: f32,
}

impl LinearSchedule {
    pub fn constant(v: f32) -> Self {
        LinearSchedule { start: v, end: v }
    }

    pub fn at(&self, progress: f32) -> f32 {
        let p = progress.clamp(0.0, 1.0);
        self.start + (self.end - self.start) * p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adam_minimises_a_quadratic() {
        let mut p = vec![3.0f32, -2.0];
        let mut opt = Adam::new(2);
        for _ in 0..2000 {
            let g: Vec<f32> = p.iter().map(|x| 2.0 * x).collect();
            opt.update(&mut p, &g, 0.01);
        }
        assert!(p.iter().all(|x| x.abs() < 1e-2), "{p:?}");
    }

    /// Two steps by hand, as torch.optim.RMSprop(alpha=0.99, eps=1e-5)
    /// computes them.
    #[test]
    fn rmsprop_matches_the_reference_update() {
        let mut p = vec![1.0f32, -0.5];
        let mut opt = RmsProp::new(2);
        let lr = 0.01f32;
        let mut want = p.clone();
        let mut v = [0.0f32; 2];
        for g in [[0.3f32, -2.0], [0.1, 0.4]] {
            opt.update(&mut p, &g, lr);
            for i in 0..2 {
                v[i] = 0.99 * v[i] + 0.01 * g[i] * g[i];
                want[i] -= lr * g[i] / (v[i].sqrt() + 1e-5);
            }
        }
        for (a, b) in p.iter().zip(&want) {
            assert!(
                (a - b).abs() <= 1e-6 * b.abs().max(1.0),
                "{p:?} vs {want:?}"
            );
        }
        // The first step moves each parameter by lr / sqrt(1 - α) ≈ 10·lr.
        let mut q = vec![0.0f32];
        RmsProp::new(1).update(&mut q, &[5.0], 0.01);
        assert!((q[0] + 0.1).abs() < 1e-4, "{q:?}");
    }

    #[test]
    fn clipping_bounds_the_norm() {
        let mut g = vec![3.0f32, 4.0];
        let n = clip_grad_norm(&mut g, 1.0);
        assert!((n - 5.0).abs() < 1e-6);
        let after = (g[0] * g[0] + g[1] * g[1]).sqrt();
        assert!((after - 1.0).abs() < 1e-4);
        let mut small = vec![0.1f32];
        clip_grad_norm(&mut small, 1.0);
        assert_eq!(small, vec![0.1]);
    }

    #[test]
    fn schedule_interpolates() {
        let s = LinearSchedule {
            start: 1.0,
            end: 0.0,
        };
        assert_eq!(s.at(0.0), 1.0);
        assert_eq!(s.at(0.25), 0.75);
        assert_eq!(s.at(2.0), 0.0);
    }
}
