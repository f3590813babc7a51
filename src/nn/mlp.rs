//! Multi-layer perceptron: Linear → act → … → Linear (no activation on the
//! output). Parameters live in a caller's flat buffer at an offset, so several
//! networks (actor, critic) can share one buffer, one gradient buffer and one
//! optimiser.

use super::activation::Activation;
use super::linear::Linear;
use ganglion_sim::Rng;

#[derive(Clone, Debug, PartialEq)]
pub struct Mlp {
    pub sizes: Vec<usize>,
    pub activation: Activation,
    pub layers: Vec<Linear>,
}

/// Activations kept from a forward pass for the backward pass. Grows to the
/// largest batch seen and is reused after that.
#[derive(Clone, Debug, Default)]
pub struct MlpCache {
    batch: usize,
    /// `acts[0]` is the input; `acts[l + 1]` the output of layer `l` (after its
    /// activation, except the last).
    acts: Vec<Vec<f32>>,
    grad_a: Vec<f32>,
    grad_b: Vec<f32>,
}

impl Mlp {
    /// `sizes = [in, hidden…, out]`, parameters starting at `offset`.
    pub fn new(sizes: &[usize], activation: Activation, offset: usize) -> Self {
        assert!(sizes.len() >= 2, "an MLP needs an input and an output size");
        let mut layers = Vec::with_capacity(sizes.len() - 1);
        let mut at = offset;
        for w in sizes.windows(2) {
            let l = Linear::new(w[0], w[1], at);
            at += l.num_params();
            layers.push(l);
        }
        Mlp {
            sizes: sizes.to_vec(),
            activation,
            layers,
        }
    }

    pub fn in_dim(&self) -> usize {
        self.sizes[0]
    }

    pub fn out_dim(&self) -> usize {
        *self.sizes.last().unwrap_or(&0)
    }

    pub fn num_params(&self) -> usize {
        self.layers.iter().map(Linear::num_params).sum()
    }

    /// Orthogonal init: hidden layers with the activation's gain, the output
    /// layer with `out_gain` (0.01 for a policy head, 1 for a value head).
    pub fn init(&self, params: &mut [f32], out_gain: f32, rng: &mut Rng) {
        let last = self.layers.len() - 1;
        for (i, l) in self.layers.iter().enumerate() {
            let gain = if i == last {
                out_gain
            } else {
                self.activation.init_gain()
            };
            l.init(params, gain, rng);
        }
    }

    pub fn new_cache(&self) -> MlpCache {
        MlpCache::default()
    }

    fn ensure(&self, cache: &mut MlpCache, batch: usize) {
        if cache.acts.len() != self.sizes.len() || cache.batch < batch {
            cache.acts = self.sizes.iter().map(|s| vec![0.0; s * batch]).collect();
            let widest = self.sizes.iter().copied().max().unwrap_or(0);
            cache.grad_a = vec![0.0; widest * batch];
            cache.grad_b = vec![0.0; widest * batch];
            cache.batch = batch;
        }
    }

    /// Forward pass for `batch` rows of `x`; returns the output (`batch × out`),
    /// which stays valid in the cache until the next call.
    pub fn forward<'c>(
        &self,
        params: &[f32],
        x: &[f32],
        batch: usize,
        cache: &'c mut MlpCache,
    ) -> &'c [f32] {
        self.ensure(cache, batch);
        let n_in = batch * self.sizes[0];
        cache.acts[0][..n_in].copy_from_slice(&x[..n_in]);
        let last = self.layers.len() - 1;
        for (i, layer) in self.layers.iter().enumerate() {
            let (before, after) = cache.acts.split_at_mut(i + 1);
            let out = &mut after[0][..batch * layer.out_dim];
            layer.forward(params, &before[i], out, batch);
            if i != last {
                self.activation.forward(out);
            }
        }
        &cache.acts[self.layers.len()][..batch * self.out_dim()]
    }

    /// Backward pass from `d_out` (`batch × out`) after `forward` with the same
    /// cache; accumulates into `grads`. Returns `d_input` (`batch × in`).
    pub fn backward<'c>(
        &self,
        params: &[f32],
        d_out: &[f32],
        batch: usize,
        cache: &'c mut MlpCache,
        grads: &mut [f32],
    ) -> &'c [f32] {
        let n_out = batch * self.out_dim();
        cache.grad_a[..n_out].copy_from_slice(&d_out[..n_out]);
        let last = self.layers.len() - 1;
        for (i, layer) in self.layers.iter().enumerate().rev() {
            if i != last {
                let y = &cache.acts[i + 1][..batch * layer.out_dim];
                self.activation
                    .backward(y, &mut cache.grad_a[..batch * layer.out_dim]);
            }
            layer.backward(
                params,
                &cache.acts[i],
                &cache.grad_a,
                Some(&mut cache.grad_b[..batch * layer.in_dim]),
                grads,
                batch,
            );
            std::mem::swap(&mut cache.grad_a, &mut cache.grad_b);
        }
        &cache.grad_a[..batch * self.in_dim()]
    }
}
