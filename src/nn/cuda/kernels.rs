//! The CUDA C kernel sources (each `.cu` file beside the CPU module it
//! mirrors, llm.c style), the table of kernel names per source, and their
//! compilation to PTX by NVRTC. `Kernels` holds every loaded function by name,
//! so a launch site cannot name a kernel that does not exist.

use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaFunction, CudaModule};
use cudarc::nvrtc::{CompileError, CompileOptions, Ptx};

use super::CudaError;

/// Prepended to every source: warp reductions, grid-stride loop, `fast_tanh`.
pub const PRELUDE: &str = include_str!("prelude.cuh");

/// One kernel source file.
pub struct KernelSource {
    /// Path in the repository, for error messages.
    pub file: &'static str,
    pub source: &'static str,
    /// The `extern "C" __global__` functions it must define.
    pub kernels: &'static [&'static str],
}

macro_rules! kernel_table {
    ($($file:literal => $src:expr => [$($name:ident),* $(,)?]),* $(,)?) => {
        /// Every kernel source and the kernels it defines.
        pub const SOURCES: &[KernelSource] = &[
            $(KernelSource { file: $file, source: $src, kernels: &[$(stringify!($name)),*] }),*
        ];

        /// Every kernel, loaded.
        #[allow(non_snake_case)]
        pub struct Kernels {
            $($(pub $name: CudaFunction,)*)*
        }

        impl Kernels {
            /// `modules` in `SOURCES` order.
            fn from_modules(modules: &[Arc<CudaModule>]) -> Result<Self, CudaError> {
                let mut it = modules.iter();
                $(
                    let m = it.next().ok_or_else(|| {
                        CudaError::Unavailable(format!("no module for {}", $file))
                    })?;
                    $(let $name = m.load_function(stringify!($name))
                        .map_err(|e| CudaError::Driver(format!("loading kernel `{}` of {}: {e}", stringify!($name), $file)))?;)*
                )*
                Ok(Kernels { $($($name,)*)* })
            }
        }
    };
}

kernel_table! {
    "src/nn/linear.cu" => include_str!("../linear.cu") => [bias_broadcast],
    "src/nn/activation.cu" => include_str!("../activation.cu") =>
        [tanh_forward, tanh_backward, relu_forward, relu_backward],
    "src/nn/gelu.cu" => include_str!("../gelu.cu") =>
        [gelu_forward, gelu_forward_train, relu_forward_copy, relu_forward_train],
    "src/nn/dropout.cu" => include_str!("../dropout.cu") => [dropout_mask, mul_inplace, mul_out],
    "src/nn/layernorm.cu" => include_str!("../layernorm.cu") =>
        [layernorm_forward, layernorm_backward],
    "src/nn/embedding.cu" => include_str!("../embedding.cu") =>
        [embedding_forward_add, embedding_backward],
    "src/nn/attention.cu" => include_str!("../attention.cu") => [
        attn_split_qkv, attn_merge_heads, attn_split_heads, attn_merge_qkv_grad,
        attn_softmax_forward, attn_softmax_backward,
    ],
    "src/nn/loss.cu" => include_str!("../loss.cu") =>
        [mse_forward_backward, cross_entropy_forward_backward, sum_scaled],
    "src/nn/optim.cu" => include_str!("../optim.cu") => [sq_sum_partial, clip_scale, adamw_step],
    "src/nn/dt/model.cu" => include_str!("../dt/model.cu") => [
        dt_interleave, dt_deinterleave, dt_token_meta, gather_token_rows, scatter_token_rows,
        add_into,
    ],
    "src/learn/dist.cu" => include_str!("../../learn/dist.cu") => [
        gather_rows, ppo_adv_stats, ppo_categorical_grad, ppo_gaussian_grad, ppo_value_grad,
    ],
}

/// Compiles one source (with the prelude) to PTX for `arch`
/// (e.g. `compute_90`; `None`: NVRTC's default). The caller must have checked
/// that libnvrtc loads (`probe::nvrtc_present`): cudarc panics otherwise.
pub fn compile(src: &KernelSource, arch: Option<&str>) -> Result<Ptx, CudaError> {
    let mut options = vec!["--std=c++14".to_string()];
    if let Some(a) = arch {
        options.push(format!("--gpu-architecture={a}"));
    }
    let opts = CompileOptions {
        options,
        name: Some(src.file.rsplit('/').next().unwrap_or(src.file).to_string()),
        ..Default::default()
    };
    let text = format!("{PRELUDE}\n#line 1 \"{}\"\n{}", src.file, src.source);
    cudarc::nvrtc::compile_ptx_with_opts(text, opts).map_err(|e| compile_error(src.file, e))
}

fn compile_error(file: &str, e: CompileError) -> CudaError {
    let detail = match e {
        CompileError::CompileError { log, .. } => log.to_string_lossy().into_owned(),
        other => format!("{other:?}"),
    };
    CudaError::Compile {
        file: file.to_string(),
        log: detail,
    }
}

/// Compiles every source for the device behind `ctx` and loads all kernels.
pub fn load_all(ctx: &Arc<CudaContext>) -> Result<Kernels, CudaError> {
    let (major, minor) = ctx
        .compute_capability()
        .map_err(|e| CudaError::Driver(format!("reading the compute capability: {e}")))?;
    let arch = format!("compute_{major}{minor}");
    let mut modules = Vec::with_capacity(SOURCES.len());
    for src in SOURCES {
        let ptx = compile(src, Some(&arch))?;
        let m = ctx
            .load_module(ptx)
            .map_err(|e| CudaError::Driver(format!("loading the PTX of {}: {e}", src.file)))?;
        modules.push(m);
    }
    Kernels::from_modules(&modules)
}
