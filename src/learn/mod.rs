//! Trainers: PPO for actor-critic policies (`ppo`, `actor_critic`, `dist`,
//! per-env `presets`; rollouts from a local `VecEnv` or remote workers through
//! a `RolloutSource`, the workers' side in `worker`) and the Decision
//! Transformer (`dt_train`) on datasets read from recordings (`dataset`,
//! written by `collect`). `ppo_run` and `dt_run` are whole training runs as
//! `ganglion train` does them: export to ONNX (through `nn::onnx`), a model
//! card, a learning or loss curve (CSV + PNG), and the exported file measured
//! through tract. `eval` is the one evaluation that `eval`, `demo`, the
//! trainers and the tests share; `verify` re-measures shipped cards.

pub mod actor_critic;
pub mod collect;
pub mod collect_tabletop;
pub mod curve;
pub mod dataset;
pub mod demos;
pub mod dist;
pub mod dt_run;
pub mod dt_train;
pub mod eval;
pub mod eval_reach;
pub mod eval_tabletop;
pub mod ppo;
pub mod ppo_run;
pub mod presets;
pub mod reinforce;
mod tabletop_episode;
mod tracker;
pub mod verify;
pub mod worker;

pub use actor_critic::{ActorCritic, NativeActor};
pub use curve::{CurvePoint, LearningCurve};
pub use eval::{EvalReport, evaluate};
pub use ppo::{PpoConfig, PpoOutcome, train};
pub use presets::ppo_preset;
pub use reinforce::{ReinforceConfig, train_reinforce};
