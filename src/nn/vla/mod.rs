//! The trainable head of the vision-language-action policy (issue 17; the
//! whole policy is `crate::vla`): from encoder features, an instruction
//! embedding and the arm's own sensors to a chunk of future actions.
//!
//! The shape: a frozen encoder (outside this module) gives per-pixel
//! features and per-pixel votes for object centres; the instruction's
//! sentence embedding (MiniLM, frozen)
//! becomes K queries that attend over the pixels (the language picks what
//! to look at: the named block, the named bowl); each query's attention
//! gives a keypoint, the attention-weighted mean of the votes (a spatial
//! soft-argmax, so positions come out to a fraction of a pixel); an MLP
//! trunk reads the keypoints, the proprioception and a task code from the
//! same embedding and predicts the next H actions (ACT-style chunks,
//! continuous, L1 loss).
//!
//! `model` holds forward and backward, side by side; `gradcheck` checks
//! them against finite differences.

pub mod model;

#[cfg(test)]
mod gradcheck;

pub use model::{VlaCache, VlaHead, l1_loss};

/// The head's sizes.
#[derive(Clone, Debug, PartialEq)]
pub struct VlaConfig {
    /// Encoder feature channels.
    pub feat: usize,
    /// Pixels of the (pooled) feature map.
    pub pixels: usize,
    /// Pixel feature width after the head's 1×1 layer.
    pub hidden: usize,
    /// Instruction queries (keypoints).
    pub keypoints: usize,
    /// Instruction embedding width.
    pub embed: usize,
    /// Task code width.
    pub task: usize,
    /// Proprioception inputs.
    pub proprio: usize,
    /// The trunk's hidden layers.
    pub mlp: Vec<usize>,
    /// Actions per chunk (H).
    pub horizon: usize,
    /// Action width (A).
    pub action: usize,
}

impl VlaConfig {
    /// The trunk's input width: keypoints, proprioception, task code.
    pub fn trunk_in(&self) -> usize {
        3 * self.keypoints + self.proprio + self.task
    }
}

/// One sample's inputs.
#[derive(Clone, Copy, Debug)]
pub struct VlaInput<'a> {
    /// `feat × pixels`, channel-major.
    pub feat: &'a [f32],
    /// `3 × pixels`: each pixel's vote for its object's centre (m).
    pub votes: &'a [f32],
    /// `pixels`: added to every query's logits (0 where the depth is valid).
    pub mask: &'a [f32],
    /// The instruction embedding.
    pub embed: &'a [f32],
    /// Normalised proprioception.
    pub proprio: &'a [f32],
}
