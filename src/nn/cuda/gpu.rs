//! One GPU: context, stream, cuBLAS handle and the loaded kernels, plus
//! device buffers addressed by raw pointer views (`DPtr`). Everything runs on
//! one stream, in order, so the buffers need no event tracking; a view checks
//! its bounds when it is cut, and every op states the lengths it needs.
//!
//! Matrices are row-major as on the CPU; `gemm` maps them onto column-major
//! cuBLAS with the transposition trick (`Cᵀ = Bᵀ·Aᵀ`).

use std::marker::PhantomData;
use std::sync::Arc;

use cudarc::cublas::{CudaBlas, sys as blas_sys};
use cudarc::driver::{CudaContext, CudaSlice, CudaStream, DevicePtr, DeviceRepr, LaunchConfig};
use cudarc::driver::{ValidAsZeroBits, result as drv};

use super::CudaError;
use super::kernels::{Kernels, load_all};
use super::probe;

/// A bounds-carrying view of device memory: `len` elements of `T` at `ptr`.
#[derive(Debug)]
pub struct DPtr<T> {
    ptr: u64,
    len: usize,
    _t: PhantomData<T>,
}

impl<T> Clone for DPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for DPtr<T> {}

impl<T> DPtr<T> {
    pub fn len(self) -> usize {
        self.len
    }

    pub fn is_empty(self) -> bool {
        self.len == 0
    }

    /// `len` elements from `start` (panics past the end: a bug, not input).
    pub fn at(self, start: usize, len: usize) -> DPtr<T> {
        assert!(
            start + len <= self.len,
            "device view {start}..{} out of {}",
            start + len,
            self.len
        );
        DPtr {
            ptr: self.ptr + (start * std::mem::size_of::<T>()) as u64,
            len,
            _t: PhantomData,
        }
    }

    /// The first `len` elements.
    pub fn head(self, len: usize) -> DPtr<T> {
        self.at(0, len)
    }

    /// The raw device address (for kernel arguments).
    pub fn raw(self) -> u64 {
        self.ptr
    }

    /// Asserts that the view holds at least `n` elements (`what` names it).
    pub fn need(self, n: usize, what: &str) -> Self {
        assert!(self.len >= n, "{what}: {} elements, need {n}", self.len);
        self
    }
}

/// Owned device memory.
pub struct Buf<T> {
    _slice: CudaSlice<T>,
    view: DPtr<T>,
}

impl<T> Buf<T> {
    pub fn p(&self) -> DPtr<T> {
        self.view
    }

    pub fn len(&self) -> usize {
        self.view.len
    }

    pub fn is_empty(&self) -> bool {
        self.view.len == 0
    }
}

/// Threads per block for element-wise kernels.
const THREADS: u32 = 256;

pub struct Gpu {
    pub ctx: Arc<CudaContext>,
    pub stream: Arc<CudaStream>,
    blas: CudaBlas,
    pub k: Kernels,
    /// Device name, compute capability and memory.
    pub name: String,
    tf32: bool,
    sm_count: u32,
    /// A vector of ones for bias gradients (`dbias = 1ᵀ·dy`); see `reserve_ones`.
    ones: Buf<f32>,
}

impl Gpu {
    /// Probes for the driver, NVRTC and cuBLAS, creates a context on GPU
    /// `ordinal`, and compiles and loads every kernel.
    pub fn new(ordinal: usize) -> Result<Gpu, CudaError> {
        let ctx = probe::context(ordinal)?;
        // One stream, in-order: cudarc's per-buffer events are not needed.
        // SAFETY: nothing in this crate uses a buffer on two streams.
        unsafe { ctx.disable_event_tracking() };
        let stream = ctx
            .new_stream()
            .map_err(|e| CudaError::Driver(format!("creating a stream: {e}")))?;
        let blas = CudaBlas::new(stream.clone())
            .map_err(|e| CudaError::Blas(format!("creating the cuBLAS handle: {e}")))?;
        let k = load_all(&ctx)?;
        let sm_count = ctx
            .attribute(
                cudarc::driver::sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT,
            )
            .map(|v| v.max(1) as u32)
            .unwrap_or(80);
        let name = probe::describe(&ctx);
        let mut gpu = Gpu {
            ones: Buf {
                _slice: stream
                    .alloc_zeros::<f32>(1)
                    .map_err(|e| CudaError::Driver(format!("allocating: {e}")))?,
                view: DPtr {
                    ptr: 0,
                    len: 0,
                    _t: PhantomData,
                },
            },
            ctx,
            stream,
            blas,
            k,
            name,
            tf32: false,
            sm_count,
        };
        gpu.reserve_ones(4096)?;
        Ok(gpu)
    }

    /// Makes the ones vector at least `rows` long (the most rows any linear
    /// layer's backward pass will see).
    pub fn reserve_ones(&mut self, rows: usize) -> Result<(), CudaError> {
        if self.ones.len() < rows {
            self.ones = self.upload(&vec![1.0f32; rows])?;
        }
        Ok(())
    }

    /// The ones vector (at least `reserve_ones` long).
    pub fn ones(&self) -> DPtr<f32> {
        self.ones.p()
    }

    /// TF32 tensor-core products (faster, ~10 mantissa bits in the inputs of
    /// each product). Off by default; see the parity tests for its accuracy.
    pub fn set_tf32(&mut self, on: bool) -> Result<(), CudaError> {
        let mode = if on {
            blas_sys::cublasMath_t::CUBLAS_TF32_TENSOR_OP_MATH
        } else {
            blas_sys::cublasMath_t::CUBLAS_DEFAULT_MATH
        };
        // SAFETY: a valid handle owned by `self.blas`.
        let status = unsafe { blas_sys::cublasSetMathMode(*self.blas.handle(), mode) };
        if status != blas_sys::cublasStatus_t::CUBLAS_STATUS_SUCCESS {
            return Err(CudaError::Blas(format!("cublasSetMathMode: {status:?}")));
        }
        self.tf32 = on;
        Ok(())
    }

    pub fn tf32(&self) -> bool {
        self.tf32
    }

    pub fn sm_count(&self) -> u32 {
        self.sm_count
    }

    /// A zeroed buffer of `n` elements.
    pub fn zeros<T: DeviceRepr + ValidAsZeroBits>(&self, n: usize) -> Result<Buf<T>, CudaError> {
        let slice = self
            .stream
            .alloc_zeros::<T>(n.max(1))
            .map_err(|e| CudaError::Driver(format!("allocating {n} elements: {e}")))?;
        Ok(self.wrap(slice, n))
    }

    /// A buffer holding a copy of `host`.
    pub fn upload<T: DeviceRepr + ValidAsZeroBits>(&self, host: &[T]) -> Result<Buf<T>, CudaError> {
        let b = self.zeros::<T>(host.len())?;
        self.write(b.p(), host)?;
        Ok(b)
    }

    fn wrap<T>(&self, slice: CudaSlice<T>, n: usize) -> Buf<T> {
        let ptr = {
            let (ptr, _sync) = slice.device_ptr(&self.stream);
            ptr
        };
        Buf {
            view: DPtr {
                ptr,
                len: n,
                _t: PhantomData,
            },
            _slice: slice,
        }
    }

    /// Copies `host` to the start of `dst` (in stream order; `host` may be
    /// reused as soon as this returns).
    pub fn write<T>(&self, dst: DPtr<T>, host: &[T]) -> Result<(), CudaError> {
        let dst = dst.need(host.len(), "upload target");
        if host.is_empty() {
            return Ok(());
        }
        // SAFETY: `dst` holds at least `host.len()` elements (checked above).
        unsafe { drv::memcpy_htod_async(dst.raw(), host, self.stream.cu_stream()) }
            .map_err(|e| CudaError::Driver(format!("host-to-device copy: {e}")))
    }

    /// Copies the first `host.len()` elements of `src` to `host`, waiting for
    /// the stream.
    pub fn read<T>(&self, src: DPtr<T>, host: &mut [T]) -> Result<(), CudaError> {
        let src = src.need(host.len(), "download source");
        if !host.is_empty() {
            // SAFETY: bounds checked above; synchronised before returning.
            unsafe { drv::memcpy_dtoh_async(host, src.raw(), self.stream.cu_stream()) }
                .map_err(|e| CudaError::Driver(format!("device-to-host copy: {e}")))?;
        }
        self.sync()
    }

    /// `src` as a new host vector.
    pub fn to_vec<T: Clone + Default>(&self, src: DPtr<T>) -> Result<Vec<T>, CudaError> {
        let mut v = vec![T::default(); src.len()];
        self.read(src, &mut v)?;
        Ok(v)
    }

    /// Sets every byte of `dst` to zero (in stream order).
    pub fn zero<T>(&self, dst: DPtr<T>) -> Result<(), CudaError> {
        if dst.is_empty() {
            return Ok(());
        }
        // SAFETY: exactly the view's bytes.
        unsafe {
            drv::memset_d8_async(
                dst.raw(),
                0,
                dst.len() * std::mem::size_of::<T>(),
                self.stream.cu_stream(),
            )
        }
        .map_err(|e| CudaError::Driver(format!("memset: {e}")))
    }

    /// Device-to-device copy of `src` into the start of `dst`.
    pub fn copy<T>(&self, src: DPtr<T>, dst: DPtr<T>) -> Result<(), CudaError> {
        let dst = dst.need(src.len(), "copy target");
        if src.is_empty() {
            return Ok(());
        }
        // SAFETY: both views hold `src.len()` elements.
        unsafe {
            drv::memcpy_dtod_async(
                dst.raw(),
                src.raw(),
                src.len() * std::mem::size_of::<T>(),
                self.stream.cu_stream(),
            )
        }
        .map_err(|e| CudaError::Driver(format!("device-to-device copy: {e}")))
    }

    /// Waits for everything queued so far.
    pub fn sync(&self) -> Result<(), CudaError> {
        self.stream
            .synchronize()
            .map_err(|e| CudaError::Driver(format!("stream synchronise: {e}")))
    }

    /// Launch shape for a grid-stride element-wise kernel over `n` items.
    pub fn elems(&self, n: usize) -> LaunchConfig {
        let blocks = n
            .div_ceil(THREADS as usize)
            .clamp(1, 32 * self.sm_count as usize);
        LaunchConfig {
            grid_dim: (blocks as u32, 1, 1),
            block_dim: (THREADS, 1, 1),
            shared_mem_bytes: 0,
        }
    }

    /// Launch shape for one warp per row (8 warps per block).
    pub fn warp_rows(&self, rows: usize) -> LaunchConfig {
        LaunchConfig {
            grid_dim: (rows.div_ceil(8).max(1) as u32, 1, 1),
            block_dim: (THREADS, 1, 1),
            shared_mem_bytes: 0,
        }
    }

    /// One block of `THREADS` threads.
    pub fn one_block(&self) -> LaunchConfig {
        LaunchConfig {
            grid_dim: (1, 1, 1),
            block_dim: (THREADS, 1, 1),
            shared_mem_bytes: 0,
        }
    }

    /// `c[m×n] = beta·c + a·b` with the CPU `gemm`'s conventions: `a` is
    /// `m×k` (stored `k×m` if `trans_a`), `b` is `k×n` (stored `n×k` if
    /// `trans_b`), all row-major.
    #[allow(clippy::too_many_arguments)]
    pub fn gemm(
        &self,
        m: usize,
        k: usize,
        n: usize,
        a: DPtr<f32>,
        trans_a: bool,
        b: DPtr<f32>,
        trans_b: bool,
        beta: f32,
        c: DPtr<f32>,
    ) -> Result<(), CudaError> {
        self.gemm_batched(m, k, n, a, trans_a, b, trans_b, beta, c, 1)
    }

    /// `batch` independent `gemm`s over consecutive matrices (strides `m·k`,
    /// `k·n`, `m·n`): cuBLAS strided-batched.
    #[allow(clippy::too_many_arguments)]
    pub fn gemm_batched(
        &self,
        m: usize,
        k: usize,
        n: usize,
        a: DPtr<f32>,
        trans_a: bool,
        b: DPtr<f32>,
        trans_b: bool,
        beta: f32,
        c: DPtr<f32>,
        batch: usize,
    ) -> Result<(), CudaError> {
        a.need(batch * m * k, "gemm a");
        b.need(batch * k * n, "gemm b");
        c.need(batch * m * n, "gemm c");
        if m == 0 || n == 0 || batch == 0 {
            return Ok(());
        }
        use blas_sys::cublasOperation_t::{CUBLAS_OP_N, CUBLAS_OP_T};
        // Column-major: Cᵀ (n×m) = op(B)ᵀ… — B's storage first, then A's.
        let (op_b, ldb) = if trans_b {
            (CUBLAS_OP_T, k)
        } else {
            (CUBLAS_OP_N, n)
        };
        let (op_a, lda) = if trans_a {
            (CUBLAS_OP_T, m)
        } else {
            (CUBLAS_OP_N, k)
        };
        let i = |v: usize| v as std::ffi::c_int;
        let alpha = 1.0f32;
        let h = *self.blas.handle();
        // SAFETY: the extents were checked against the views above.
        let r = unsafe {
            if batch == 1 {
                cudarc::cublas::result::sgemm(
                    h,
                    op_b,
                    op_a,
                    i(n),
                    i(m),
                    i(k),
                    &alpha,
                    b.raw() as *const f32,
                    i(ldb.max(1)),
                    a.raw() as *const f32,
                    i(lda.max(1)),
                    &beta,
                    c.raw() as *mut f32,
                    i(n),
                )
            } else {
                cudarc::cublas::result::sgemm_strided_batched(
                    h,
                    op_b,
                    op_a,
                    i(n),
                    i(m),
                    i(k),
                    &alpha,
                    b.raw() as *const f32,
                    i(ldb.max(1)),
                    (k * n) as i64,
                    a.raw() as *const f32,
                    i(lda.max(1)),
                    (m * k) as i64,
                    &beta,
                    c.raw() as *mut f32,
                    i(n),
                    (m * n) as i64,
                    i(batch),
                )
            }
        };
        r.map_err(|e| CudaError::Blas(format!("sgemm {m}×{k}×{n} (batch {batch}): {e}")))
    }
}
