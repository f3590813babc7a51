//! ganglion-sim: rapier3d worlds behind one `Env` trait, for training,
//! evaluation and tests. Observations are exact simulator state.

pub mod cartpole;
pub mod env;
pub mod plant;
pub mod reacher;
pub mod reacher_plant;
pub mod render;
pub mod rng;
pub mod space;
pub mod tabletop;
pub mod urdf;
pub mod vec_env;

pub use env::{ENV_NAMES, Env, StepResult, UnknownEnv, make_env};
pub use plant::{
    CartPolePlant, PLANT_KINDS, Plant, PlantHealth, TaskSignal, leak_names, make_plant,
    plant_signature,
};
pub use reacher_plant::ReacherPlant;
pub use rng::{Rng, derive_seed};
pub use space::{EnvSpec, Space};
pub use tabletop::{SceneSpec, TabletopPlant, TabletopState, TabletopWorld};
pub use vec_env::{EpisodeStats, VecEnv};
