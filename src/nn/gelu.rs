//! The transformer block's feed-forward activation: GELU (tanh approximation,
//! as GPT-2) or ReLU. Forward writes `y = f(x)` into a second buffer because
//! GELU's backward needs the pre-activation `x`.

use super::activation::fast_tanh;

/// √(2/π).
pub const GELU_C: f32 = 0.797_884_6;
/// Cubic coefficient of the tanh approximation.
pub const GELU_A: f32 = 0.044_715;

/// GELU, tanh approximation: `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`.
#[inline]
pub fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + fast_tanh(GELU_C * (x + GELU_A * x * x * x)))
}

/// d gelu / dx.
#[inline]
pub fn gelu_grad(x: f32) -> f32 {
    let t = fast_tanh(GELU_C * (x + GELU_A * x * x * x));
    0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * GELU_C * (1.0 + 3.0 * GELU_A * x * x)
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlockActivation {
    #[default]
    Gelu,
    Relu,
}

impl BlockActivation {
    /// `y ← f(x)`.
    pub fn forward(self, x: &[f32], y: &mut [f32]) {
        match self {
            BlockActivation::Gelu => y.iter_mut().zip(x).for_each(|(o, v)| *o = gelu(*v)),
            BlockActivation::Relu => y.iter_mut().zip(x).for_each(|(o, v)| *o = v.max(0.0)),
        }
    }

    /// Training forward: `y ← f(x)` and `x ← f'(x)` in place, so the backward
    /// pass is one multiply (`backward_from_grad`) instead of recomputing tanh.
    pub fn forward_train(self, x: &mut [f32], y: &mut [f32]) {
        match self {
            BlockActivation::Gelu => y.iter_mut().zip(x).for_each(|(o, v)| {
                let x = *v;
                let t = fast_tanh(GELU_C * (x + GELU_A * x * x * x));
                *o = 0.5 * x * (1.0 + t);
                *v = 0.5 * (1.0 + t)
                    + 0.5 * x * (1.0 - t * t) * GELU_C * (1.0 + 3.0 * GELU_A * x * x);
            }),
            BlockActivation::Relu => y.iter_mut().zip(x).for_each(|(o, v)| {
                *o = v.max(0.0);
                *v = if *v > 0.0 { 1.0 } else { 0.0 };
            }),
        }
    }

    /// `d ← d · f'` given the derivative `forward_train` left behind.
    pub fn backward_from_grad(grad: &[f32], d: &mut [f32]) {
        d.iter_mut().zip(grad).for_each(|(g, f)| *g *= f);
    }

    /// `d ← d · f'(x)`.
    pub fn backward(self, x: &[f32], d: &mut [f32]) {
        match self {
            BlockActivation::Gelu => d.iter_mut().zip(x).for_each(|(g, v)| *g *= gelu_grad(*v)),
            BlockActivation::Relu => d.iter_mut().zip(x).for_each(|(g, v)| {
                if *v <= 0.0 {
                    *g = 0.0
                }
            }),
        }
    }
}

impl std::str::FromStr for BlockActivation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "gelu" => Ok(BlockActivation::Gelu),
            "relu" => Ok(BlockActivation::Relu),
            _ => Err(format!("unknown activation `{s}` (expected gelu or relu)")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gelu_matches_reference_values() {
        // PyTorch gelu(approximate="tanh") at a few points.
        for (x, want) in [
            (0.0f32, 0.0f32),
            (1.0, 0.841_192),
            (-1.0, -0.158_808),
            (3.0, 2.996_363),
        ] {
            assert!((gelu(x) - want).abs() < 1e-5, "gelu({x}) = {}", gelu(x));
        }
    }
}
