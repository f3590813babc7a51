//! Finding out, without panicking, whether CUDA can run here. cudarc loads
//! libcuda, libnvrtc and libcublas on first use and panics when one is
//! missing, so every entry point checks `is_culib_present` first; only then is
//! a context created (which returns an error, e.g. `CUDA_ERROR_NO_DEVICE`,
//! rather than panicking).

use std::sync::Arc;

use cudarc::driver::CudaContext;

use super::CudaError;

/// Whether NVRTC (libnvrtc) can be loaded: enough to compile kernels to PTX,
/// with no driver or GPU. It is found through the loader's search path
/// (`LD_LIBRARY_PATH`), e.g. the `nvidia-cuda-nvrtc-cu12` wheel's `lib/`.
pub fn nvrtc_present() -> bool {
    // SAFETY: only tries to dlopen the library by its usual names.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// Why CUDA cannot be used here, or `Ok` with the libraries all present.
pub fn libraries() -> Result<(), CudaError> {
    // SAFETY: as above, dlopen attempts only.
    let (driver, nvrtc, cublas) = unsafe {
        (
            cudarc::driver::sys::is_culib_present(),
            cudarc::nvrtc::sys::is_culib_present(),
            cudarc::cublas::sys::is_culib_present(),
        )
    };
    let mut missing = Vec::new();
    if !driver {
        missing.push("libcuda (the NVIDIA driver)");
    }
    if !nvrtc {
        missing.push("libnvrtc (NVRTC, e.g. pip package nvidia-cuda-nvrtc-cu12)");
    }
    if !cublas {
        missing.push("libcublas (e.g. pip package nvidia-cublas-cu12)");
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(CudaError::Unavailable(format!(
            "cannot load {} (searched the loader path; set LD_LIBRARY_PATH to the folder holding it)",
            missing.join(", ")
        )))
    }
}

/// A context on GPU `ordinal`, or why there is none.
pub fn context(ordinal: usize) -> Result<Arc<CudaContext>, CudaError> {
    libraries()?;
    let count = CudaContext::device_count().map_err(|e| {
        CudaError::Unavailable(format!("the CUDA driver reports no usable GPU: {e}"))
    })?;
    if count <= ordinal as i32 {
        return Err(CudaError::Unavailable(format!(
            "no CUDA device {ordinal} ({count} device(s) visible)"
        )));
    }
    CudaContext::new(ordinal)
        .map_err(|e| CudaError::Unavailable(format!("creating a context on GPU {ordinal}: {e}")))
}

/// One line naming the device, e.g. "NVIDIA H100 80GB HBM3 (sm_90, 79 GiB)".
pub fn describe(ctx: &CudaContext) -> String {
    let name = ctx.name().unwrap_or_else(|_| "unknown GPU".into());
    let cc = ctx
        .compute_capability()
        .map(|(a, b)| format!("sm_{a}{b}"))
        .unwrap_or_else(|_| "sm_?".into());
    let mem = ctx
        .total_mem()
        .map(|b| format!("{} GiB", b >> 30))
        .unwrap_or_else(|_| "? GiB".into());
    format!("{name} ({cc}, {mem})")
}
