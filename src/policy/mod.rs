//! Policies: what turns an observation into an action, in the control loop and
//! in evaluation. `OnnxPolicy` runs any ONNX file with ganglion's convention
//! (see `nn::onnx`) through tract; a `ModelCard` beside the file says what the
//! model expects.

pub mod card;
pub mod dt;
pub mod noisy;
pub mod onnx;

pub use card::{ActionSpec, DtCard, ModelCard};
pub use dt::DtPolicy;
pub use noisy::NoisyPolicy;
pub use onnx::OnnxPolicy;

/// An error from a policy at run time (inference failed, wrong buffer sizes).
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("observation has {got} values, the policy expects {want}")]
    ObsSize { got: usize, want: usize },
    #[error("action buffer has {got} slots, the policy writes {want}")]
    ActionSize { got: usize, want: usize },
    #[error("inference failed: {0}")]
    Inference(String),
}

/// A deterministic controller: observation in, action out.
///
/// `act` writes `action` in the environment's action layout (a discrete action
/// is its index in one slot). It must not allocate after the first call where
/// the engine allows it; `reset` clears any per-episode state (e.g. a Decision
/// Transformer's context).
pub trait Policy: Send {
    fn act(&mut self, obs: &[f32], action: &mut [f32]) -> Result<(), PolicyError>;
    fn reset(&mut self) {}
    /// The reward that followed the last action, when the plant reports one
    /// (a Decision Transformer lowers its return-to-go by it).
    fn observe_reward(&mut self, _reward: f32) {}
}

/// Index of the largest value (first on ties); NaNs never win.
pub fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] || values[best].is_nan() {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    #[test]
    fn argmax_picks_first_max() {
        assert_eq!(super::argmax(&[0.1, 0.5, 0.5]), 1);
        assert_eq!(super::argmax(&[f32::NAN, 0.5]), 1);
        assert_eq!(super::argmax(&[2.0]), 0);
    }
}
