//! Policies: what turns an observation into an action, in the control loop and
//! in evaluation. `OnnxPolicy` runs any ONNX file with ganglion's convention
//! (see `nn::onnx`) through tract; a `ModelCard` beside the file says what the
//! model expects.

pub mod card;
pub mod chunked;
pub mod dt;
pub mod ensemble;
pub mod noisy;
pub mod onnx;
pub mod vla;

pub use card::{ActionSpec, DtCard, ModelCard};
pub use chunked::{ChunkModel, ChunkSchedule, ChunkStats, ChunkedPolicy, Ensemble, Timing};
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
    /// The model computed a NaN or an infinity (output `index`): nothing it
    /// proposes this tick can be trusted.
    #[error("the policy output {index} is not finite ({value})")]
    NonFinite { index: usize, value: f32 },
    /// A chunked policy has no action for this tick: no chunk delivered so
    /// far covers it (the model is slower than its chunks last).
    #[error("the action queue is empty: no chunk covers this tick")]
    Starved,
    /// A chunked policy's model failed on a chunk (an error, a non-finite
    /// value, or its service thread ended).
    #[error("the chunk model failed")]
    ChunkFailed,
    /// The engine needed more memory in one tick than the loop's policy
    /// arena holds (`runtime::alloc_count`).
    #[error("the policy engine outgrew its {0}-byte arena this tick")]
    ArenaOverflow(usize),
}

thread_local! {
    /// Set while a call runs under `catch_engine_panic`: its panics are
    /// errors reported to the caller, not crashes to print.
    static QUIET_PANIC: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` (an engine call on untrusted input: tract on a model file, the
/// MCAP reader on a recording), turning a panic inside it into an error
/// message without printing the panic or a backtrace. Panics elsewhere, and on
/// other threads, are reported as usual.
pub fn catch_engine_panic<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET_PANIC.with(|q| q.get()) {
                previous(info);
            }
        }));
    });
    let was = QUIET_PANIC.with(|q| q.replace(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET_PANIC.with(|q| q.set(was));
    result.map_err(|payload| {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into());
        crate::input::printable(&msg, 200)
    })
}

/// Checks that every value a model produced is finite.
pub fn check_finite(values: &[f32]) -> Result<(), PolicyError> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(PolicyError::NonFinite {
            index,
            value: values[index],
        }),
        None => Ok(()),
    }
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
    /// Called once before a run's first tick, outside any tick, with the
    /// observation the plant gives then: a policy that needs time before its
    /// first action (a chunked one waiting for its first chunk) takes it
    /// here rather than in a tick.
    fn warm_up(&mut self, _obs: &[f32]) {}
    /// Whether `warm_up` does anything: the loop reads the sensors for it
    /// only then (an extra read would shift a fault plan or a noisy
    /// sensor's draws for every other policy).
    fn needs_warm_up(&self) -> bool {
        false
    }
    /// The reward that followed the last action, when the plant reports one
    /// (a Decision Transformer lowers its return-to-go by it).
    fn observe_reward(&mut self, _reward: f32) {}
    /// A new frame from the loop's camera `camera` (its index among the
    /// config's `[[camera]]` tables), offered in the tick that took it,
    /// before `act`, and before `warm_up`. Called from the control tick:
    /// copy what is needed into buffers allocated beforehand; never
    /// allocate, lock or block.
    fn observe_frame(&mut self, _camera: usize, _frame: &crate::camera::ImageFrame) {}
}

/// Index of the largest value (first on ties). Any non-finite value is an
/// error: an argmax over NaN or infinite logits would pick an action the
/// model never chose.
pub fn argmax(values: &[f32]) -> Result<usize, PolicyError> {
    check_finite(values)?;
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    #[test]
    fn argmax_picks_first_max() {
        assert_eq!(super::argmax(&[0.1, 0.5, 0.5]).ok(), Some(1));
        assert_eq!(super::argmax(&[2.0]).ok(), Some(0));
    }

    #[test]
    fn argmax_refuses_non_finite_logits() {
        for bad in [
            [f32::NAN, 0.5],
            [f32::NAN, f32::NAN],
            [f32::INFINITY, 0.0],
            [0.0, f32::NEG_INFINITY],
        ] {
            assert!(matches!(
                super::argmax(&bad),
                Err(super::PolicyError::NonFinite { .. })
            ));
        }
    }
}
