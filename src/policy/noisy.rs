//! Exploration noise around a policy, for collecting datasets of mixed quality:
//! Gaussian noise of standard deviation σ on continuous actions (clamped to
//! [-1, 1]), and ε-greedy with ε = σ on discrete ones. Seeded, so a collection
//! run is reproducible.

use ganglion_sim::Rng;

use super::{ActionSpec, Policy, PolicyError};

pub struct NoisyPolicy<P: Policy> {
    inner: P,
    action: ActionSpec,
    sigma: f32,
    rng: Rng,
}

impl<P: Policy> NoisyPolicy<P> {
    pub fn new(inner: P, action: ActionSpec, sigma: f32, seed: u64) -> Self {
        NoisyPolicy {
            inner,
            action,
            sigma: sigma.max(0.0),
            rng: Rng::new(seed),
        }
    }
}

impl<P: Policy> Policy for NoisyPolicy<P> {
    fn act(&mut self, obs: &[f32], action: &mut [f32]) -> Result<(), PolicyError> {
        self.inner.act(obs, action)?;
        match self.action {
            ActionSpec::Discrete { n } => {
                if self.rng.next_f32() < self.sigma {
                    action[0] = self.rng.below(n) as f32;
                }
            }
            ActionSpec::Continuous { .. } => {
                for a in action.iter_mut() {
                    *a = (*a + self.sigma * self.rng.normal()).clamp(-1.0, 1.0);
                }
            }
        }
        Ok(())
    }
    fn reset(&mut self) {
        self.inner.reset();
    }
    fn observe_reward(&mut self, reward: f32) {
        self.inner.observe_reward(reward);
    }
}
