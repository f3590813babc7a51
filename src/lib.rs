//! ganglion: a robot control runtime. A learned policy (ONNX, run by tract)
//! drives a robot or its rapier3d simulation; this crate holds the training
//! math (`nn`), trainers (`learn`), policy runners (`policy`) and the CLI's
//! commands (`cli`). See ARCHITECTURE.md for the map.

pub mod cli;
pub mod config;
pub mod io;
pub mod lang;
pub mod learn;
pub mod nn;
pub mod policy;
pub mod record;
pub mod runtime;
pub mod skills;

pub use ganglion_sim as sim;
