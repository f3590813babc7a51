//! A small vision-language-action policy (issue 17, the RT-2 idea at a
//! size this machine trains): camera pixels, an instruction and the arm's
//! own sensors in, a chunk of future joint speeds and suction out, run by
//! tract in the control loop through `policy::chunked`.
//!
//! The parts: `encoder` (the perception network's convolutions, frozen:
//! features and object-centre votes per pixel), `nn::vla` (the trainable
//! head: instruction queries attending over the pixels, keypoints, an MLP
//! trunk), `data` (demonstrations from `collect tabletop` as samples),
//! `train` (behaviour cloning), `export` (one ONNX graph), `card` (the model
//! card). The runtime side is `policy::vla`.

pub mod card;
pub mod data;
pub mod encoder;
pub mod engine;
pub mod export;
pub mod make;
pub mod train;

/// Where the shipped model lives.
pub const MODEL: &str = "models/vla.onnx";
/// Sentence embedding width (MiniLM).
pub const EMBED: usize = 384;
/// Actions: four joint speeds and suction.
pub const ACTION: usize = 5;

/// The policy's proprioception from the loop's observation (the tabletop's
/// first 13 sensors): as they are, except the load sensor, which reports
/// the held block's index (or −1), becomes 1 when holding and 0 when not —
/// a real suction cup's pressure switch says no more.
pub fn proprio_features(obs: &[f32], out: &mut [f32]) {
    let n = out.len().min(obs.len());
    out[..n].copy_from_slice(&obs[..n]);
    if n > 12 {
        out[12] = if obs[12] >= 0.0 { 1.0 } else { 0.0 };
    }
}
