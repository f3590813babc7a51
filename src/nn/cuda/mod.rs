//! GPU training through cudarc (the `cuda` feature): the CUDA mirror of
//! `src/nn`, op for op. Kernel sources are `.cu` files beside the CPU modules
//! they mirror (`src/nn/layernorm.cu` next to `layernorm.rs`, …), compiled at
//! run time by NVRTC; matrix products are cuBLAS SGEMMs. libcuda, libnvrtc and
//! libcublas are loaded dynamically, so the crate builds with no CUDA toolkit,
//! and `probe` checks for them before anything could panic.
//!
//! - `probe`: can CUDA run here, and why not.
//! - `kernels`: the source table and NVRTC compilation.
//! - `gpu`: context, stream, cuBLAS, buffers, `gemm`.
//! - `ops`: one function per CPU op (linear, activations, LayerNorm,
//!   attention, embedding, dropout, losses, clipping, AdamW).
//! - `dt`: the Decision Transformer trainer with every buffer on the device.
//! - `ppo`: the actor-critic minibatch update of PPO on the device.

pub mod dt;
pub mod dt_cache;
pub mod gpu;
pub mod kernels;
pub mod ops;
pub mod ops_attn;
pub mod ppo;
pub mod probe;

pub use gpu::{Buf, DPtr, Gpu};

/// Why a CUDA operation failed or cannot run.
#[derive(Debug, thiserror::Error)]
pub enum CudaError {
    /// No driver, NVRTC, cuBLAS or device: GPU work cannot run here.
    #[error("CUDA is not available: {0}")]
    Unavailable(String),
    #[error("CUDA driver error: {0}")]
    Driver(String),
    #[error("cuBLAS error: {0}")]
    Blas(String),
    #[error("NVRTC failed to compile {file}:\n{log}")]
    Compile { file: String, log: String },
    #[error("{0}")]
    Shape(String),
}
