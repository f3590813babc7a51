//! Perception learned in simulation: from one RGB-D frame of a calibrated
//! camera to the object state the rest of ganglion uses (each object's kind,
//! colour, table position, and whether it lies on the table, on a block, in
//! a bowl or in the gripper).
//!
//! The shape: a small fully convolutional network (dilated 3×3 convolutions,
//! `nn::Conv2d`) labels every pixel with an object class (kind × colour, or
//! nothing) and predicts, for object pixels, the offset from the surface
//! point the pixel sees (depth back-projected through the camera) to the
//! object's centre, with a confidence per axis. Each object's position is
//! the confidence-weighted mean of its pixels' votes, so it is found to a
//! fraction of a pixel; relations follow from the positions with the same
//! rules the simulator's own state uses (`TabletopState::block_place`).
//!
//! - `features`: the network's input planes from a frame and its camera.
//! - `net`: the network, forward and backward, export.
//! - `decode`: maps → detections → a perceived `TabletopState`.
//! - `engine`: the exported model in tract (what runs on a robot).
//! - `train`, `eval`: learning it from random views, and scoring it.

pub mod card;
pub mod decode;
pub mod engine;
pub mod eval;
pub mod features;
pub mod net;
pub mod train;

pub use decode::{Detection, Perceived, align, perceive_state};
pub use engine::Perception;
pub use net::PerceptionNet;

use ganglion_sim::tabletop::scene::COLORS;

/// Pixel classes: nothing, a block of each colour, a bowl of each colour.
pub const CLASSES: usize = 1 + 2 * NUM_COLORS;
pub const NUM_COLORS: usize = 6;

/// What an object is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Block,
    Bowl,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Block => "block",
            Kind::Bowl => "bowl",
        }
    }
}

/// The class of a `kind` of colour `color` (an index into `COLORS`).
pub fn class_of(kind: Kind, color: usize) -> usize {
    match kind {
        Kind::Block => 1 + color,
        Kind::Bowl => 1 + NUM_COLORS + color,
    }
}

/// The kind and colour of class `c` (≥ 1).
pub fn class_parts(c: usize) -> Option<(Kind, &'static str)> {
    match c {
        1..=NUM_COLORS => Some((Kind::Block, COLORS[c - 1])),
        c if c > NUM_COLORS && c < CLASSES => Some((Kind::Bowl, COLORS[c - 1 - NUM_COLORS])),
        _ => None,
    }
}

/// The index of colour `name` in `COLORS`.
pub fn color_index(name: &str) -> Option<usize> {
    COLORS.iter().position(|c| *c == name)
}

/// Where the shipped perception model lives.
pub const MODEL: &str = "models/perception.onnx";

/// The camera perception is trained for: the fixed overhead camera at
/// 128×128.
pub fn camera() -> ganglion_sim::render::Camera {
    ganglion_sim::render::Camera::overhead(128, 128)
}
