//! The tabletop world the skills and the language layer act in: a table, a
//! four-joint arm with a suction cup (a rapier multibody), coloured blocks and
//! bowls. `scene` says what is on the table, `world` simulates it, `reach` is
//! the goal-conditioned reaching task the arm's policy is trained on, and
//! `plant` is the world as the control loop sees it.

pub mod arm;
pub mod plant;
pub mod reach;
pub mod scene;
pub mod state;
pub mod views;
pub mod world;

pub use plant::TabletopPlant;
pub use reach::ArmReach;
pub use scene::{Layout, Relation, SceneError, SceneSpec};
pub use state::TabletopState;
pub use world::TabletopWorld;
