//! Trainers. PPO for actor-critic policies now; the Decision Transformer joins
//! here later. Each trainer writes an ONNX model (through `nn::onnx`), a model
//! card, and a learning curve (CSV + PNG) beside it.

pub mod actor_critic;
pub mod curve;
pub mod dataset;
pub mod dist;
pub mod dt_train;
pub mod eval;
pub mod ppo;
pub mod presets;

pub use actor_critic::{ActorCritic, NativeActor};
pub use curve::{CurvePoint, LearningCurve};
pub use eval::{EvalReport, evaluate};
pub use ppo::{PpoConfig, PpoOutcome, train};
pub use presets::ppo_preset;
