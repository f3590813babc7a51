//! The code planner's language model (issue 24, in progress): a small
//! on-device decoder taught to write programs over the robot API
//! (`crate::program`). `lora` holds the adapters and their explicit
//! forward/backward training pass.

pub mod data;
pub mod eval;
pub mod generate;
pub mod lora;
pub mod train;
