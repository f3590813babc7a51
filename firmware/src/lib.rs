//! ganglion-firmware: the joint plane of ganglion. A `#![no_std]`,
//! allocation-free joint node: the wire protocol both ends of a link share
//! (COBS-framed, CRC-32-checked messages with a version and a sequence
//! number) and the node logic (1 kHz PD/position loop, joint limits, command
//! watchdog, latched e-stop, fault reporting) over a `Hardware` trait. The
//! host links this crate too (`ganglion::io`), so both ends share one
//! definition; the `ganglion-firmware` binary runs it on an LM3S6965 in
//! qemu-system-arm.

#![no_std]

pub mod cobs;
pub mod crc;
pub mod message;
pub mod node;
pub mod wire;

pub use message::*;
pub use node::{Hardware, JointReadings, Node, NodeMode, TickOutput};
pub use wire::{DecodeError, EncodeError, Frame, FrameDecoder, decode_frame, encode_frame};
