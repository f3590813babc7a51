//! Training math, llm.c style: each layer's forward and backward side by side,
//! parameters, gradients and optimiser moments in flat `Vec<f32>` buffers, and a
//! finite-difference gradient check per layer (see `gradcheck`). CPU here; a
//! CUDA path mirroring it op for op comes behind the `cuda` feature.

pub mod activation;
pub mod attention;
pub mod conv;
pub mod dropout;
pub mod dt;
pub mod embedding;
pub mod gelu;
pub mod gemm;
pub mod init;
pub mod layernorm;
pub mod linear;
pub mod loss;
pub mod mlp;
pub mod onnx;
pub(crate) mod onnx_graph;
pub mod optim;
pub mod reduce;
pub mod vla;

#[cfg(feature = "cuda")]
pub mod cuda;
pub mod device;

#[cfg(test)]
mod gradcheck;

pub use activation::Activation;
pub use conv::Conv2d;
pub use dt::{DecisionTransformer, DtBatch, DtCache, DtConfig, DtError, DtLayout};
pub use gelu::BlockActivation;
pub use linear::Linear;
pub use mlp::{Mlp, MlpCache};
pub use optim::{Adam, LinearSchedule, Optimizer, OptimizerKind, RmsProp, clip_grad_norm};
