//! The robot over zenoh on loopback: config, one controller at a time, remote
//! runs, rollout workers, TLS.
//!
//! One test binary per area (issue 15): each links tract, candle and
//! zenoh once. Run one file with `cargo test --test zenoh <module>::`.

#[path = "../common/mod.rs"]
mod common;

mod camera;
mod config;
mod controllers;
mod remote;
mod rollouts;
mod sim_robot;
mod tls;
