//! Hardware in the loop: the firmware node over UDP, a serial line and in qemu, its config,
//! faults on the link, and hostile frames.
//!
//! One test binary per area (issue 15): each links tract, candle and
//! zenoh once. Run one file with `cargo test --test hil <module>::`.

#[path = "../common/mod.rs"]
mod common;

mod config;
mod faults;
mod hostile;
mod serial;
mod servo;
mod udp;
