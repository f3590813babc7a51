//! The real firmware image in qemu-system-arm: it boots and answers, runs
//! the shipped policy, reboots and recovers, and refuses hostile datagrams.
//! Each test skips with its reason without qemu or the thumbv7m target.
//!
//! Its own binary, not part of `hil`: in one process with the other HIL
//! tests, these tests stalled now and then (a qemu node that never
//! answered, one reboot that never recovered) even one test at a time,
//! and alone they never did; the cause is not found yet (see the closing
//! note of issue 15).

#[path = "../common/mod.rs"]
mod common;

mod qemu;
