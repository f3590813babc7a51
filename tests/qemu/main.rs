//! The real firmware image in qemu-system-arm: it boots and answers, runs
//! the shipped policy, reboots and recovers, and refuses hostile datagrams.
//! Each test skips with its reason without qemu or the thumbv7m target.
//!
//! Its own binary, not part of `hil`: under load the image boots slower,
//! and bytes that reach its UART before the firmware has enabled it are
//! lost or cut. That stalled these tests now and then once they shared a
//! process with the other HIL tests; the bridge now waits for a booted image
//! to answer a Heartbeat (`io::node_backend`), and the tests that talk to
//! the UART directly probe the same way.

#[path = "../common/mod.rs"]
mod common;

mod qemu;
