//! Every CUDA kernel source compiles to PTX with NVRTC and defines every kernel
//! the Rust side loads, on a machine with no GPU and no driver: only libnvrtc
//! is needed (`pip install nvidia-cuda-nvrtc-cu12`, then put its `lib/` folder
//! on `LD_LIBRARY_PATH`; `.ci/run` does both). Without libnvrtc the test says
//! so and skips.
#![cfg(feature = "cuda")]

use ganglion::nn::cuda::kernels::{SOURCES, compile};
use ganglion::nn::cuda::probe::nvrtc_present;

/// Architectures the kernels must compile for: A100 (and NVRTC's floor for
/// what the kernels use), H100/H200.
const ARCHES: &[&str] = &["compute_80", "compute_90"];

#[test]
fn every_kernel_source_compiles_to_ptx() {
    if !nvrtc_present() {
        eprintln!(
            "SKIPPED: libnvrtc cannot be loaded, so the CUDA kernels were not compiled. \
             Install it with `pip install nvidia-cuda-nvrtc-cu12` and add its \
             nvidia/cuda_nvrtc/lib folder to LD_LIBRARY_PATH (.ci/run does this)."
        );
        return;
    }
    let mut failures = Vec::new();
    let mut kernels = 0;
    for arch in ARCHES {
        for src in SOURCES {
            match compile(src, Some(arch)) {
                Ok(ptx) => {
                    let text = ptx.to_src();
                    for name in src.kernels {
                        if !text.contains(&format!(".entry {name}(")) {
                            failures.push(format!(
                                "{} ({arch}): kernel `{name}` listed in kernels.rs is not defined",
                                src.file
                            ));
                        }
                        kernels += 1;
                    }
                }
                Err(e) => failures.push(format!("{arch}: {e}")),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    eprintln!(
        "compiled {} sources ({kernels} kernel entries) for {ARCHES:?}",
        SOURCES.len()
    );
}

#[test]
fn a_syntax_error_is_reported_with_the_file_name() {
    if !nvrtc_present() {
        eprintln!("SKIPPED: libnvrtc cannot be loaded (see every_kernel_source_compiles_to_ptx)");
        return;
    }
    let bad = ganglion::nn::cuda::kernels::KernelSource {
        file: "src/nn/broken.cu",
        source: "extern \"C\" __global__ void broken(float* x) { x[0] = undefined_name; }",
        kernels: &["broken"],
    };
    let err = compile(&bad, Some("compute_80")).expect_err("must not compile");
    let text = err.to_string();
    assert!(text.contains("src/nn/broken.cu"), "{text}");
    assert!(text.contains("undefined_name"), "{text}");
}
