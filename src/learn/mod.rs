//! Trainers: PPO for actor-critic policies (`ppo`, `actor_critic`, `dist`,
//! per-env `presets`; rollouts from a local `VecEnv` or remote workers through
//! a `RolloutSource`) and the Decision Transformer (`dt_train`) on datasets
//! read from recordings (`dataset`). `eval` is the one evaluation that `eval`,
//! `demo` and the trainers share. Each trainer writes an ONNX model (through
//! `nn::onnx`), a model card, and a learning or loss curve (CSV + PNG) beside
//! it.

pub mod actor_critic;
pub mod curve;
pub mod dataset;
pub mod dist;
pub mod dt_train;
pub mod eval;
pub mod ppo;
pub mod presets;
pub mod verify;

pub use actor_critic::{ActorCritic, NativeActor};
pub use curve::{CurvePoint, LearningCurve};
pub use eval::{EvalReport, evaluate};
pub use ppo::{PpoConfig, PpoOutcome, train};
pub use presets::ppo_preset;
