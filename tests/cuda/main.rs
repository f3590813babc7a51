//! The `cuda` feature: NVRTC compiles every kernel, GPU and CPU agree, training
//! on the GPU. Each test skips with its reason where there is no GPU.
//!
//! One test binary per area (issue 15): each links tract, candle and
//! zenoh once. Run one file with `cargo test --test cuda <module>::`.

#[path = "../common/mod.rs"]
mod common;

mod nvrtc;
mod parity;
mod train;
