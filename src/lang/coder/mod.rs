//! The code planner's language model (issue 24): a small
//! on-device decoder taught to write programs over the robot API
//! (`crate::program`). `data` makes its examples, `lora` holds the
//! adapters and their explicit forward/backward training pass, `train`
//! teaches them, `generate` writes programs under `grammar`, `eval` scores
//! them; `fewshot` is the untaught alternative (a prompt of worked
//! examples) for the base model and for completion servers.

pub mod data;
pub mod eval;
pub mod fewshot;
pub mod generate;
pub mod grammar;
pub mod lora;
pub mod train;
