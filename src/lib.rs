//! ganglion: a robot control runtime. A learned policy (ONNX, run by tract)
//! drives a robot or its rapier3d simulation (`ganglion_sim`, re-exported as
//! `sim`) through the real-time control loop and safety filter (`runtime`),
//! configured by one TOML file per robot (`config`) and recorded to MCAP
//! (`record`). This crate also holds the training math (`nn`), trainers
//! (`learn`), policy runners (`policy`), the tabletop skills (`skills`), the
//! language layer (`lang`), the links to firmware nodes and over zenoh
//! (`io`), the checks on input from outside (`input`) and the CLI's commands
//! (`cli`). See docs/ARCHITECTURE.md for the map.

pub mod assemble;
pub mod cli;
pub mod config;
pub mod input;
pub mod io;
pub mod lang;
pub mod learn;
pub mod nn;
pub mod policy;
pub mod record;
pub mod runtime;
pub mod skills;

pub use ganglion_sim as sim;
