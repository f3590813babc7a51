//! The Decision Transformer (Chen et al. 2021): its configuration, batch
//! and flat parameter layout (`config`), the model's forward and backward
//! (`model`, with its CUDA kernels in `model.cu`), the ONNX export of the
//! whole K-window forward pass (`export`), and the finite-difference check
//! of every gradient (`gradcheck`, tests only).

pub mod config;
pub mod export;
#[cfg(test)]
mod gradcheck;
pub mod model;

pub use config::{DtBatch, DtConfig, DtError, DtLayout};
pub use model::{DecisionTransformer, DtCache};
