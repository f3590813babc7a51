//! onnxruntime in process, for `ganglion bench latency`: `libonnxruntime.so`
//! (the one in the `onnxruntime` pip wheel) is opened at run time with
//! `dlopen`, and driven through its stable C API (`OrtGetApiBase` → `OrtApi`,
//! a table of function pointers that only ever grows at the end). Nothing is
//! linked or compiled in for it: without the library the bench says how to get
//! it and reports only tract.

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::path::{Path, PathBuf};
use std::ptr;

use anyhow::{Context, Result, bail};

/// Ordinals in `OrtApi` (onnxruntime_c_api.h; all present since API version 1).
mod ordinal {
    pub const GET_ERROR_MESSAGE: usize = 2;
    pub const CREATE_ENV: usize = 3;
    pub const CREATE_SESSION: usize = 7;
    pub const RUN: usize = 9;
    pub const CREATE_SESSION_OPTIONS: usize = 10;
    pub const SET_SESSION_EXECUTION_MODE: usize = 13;
    pub const SET_SESSION_GRAPH_OPTIMIZATION_LEVEL: usize = 23;
    pub const SET_INTRA_OP_NUM_THREADS: usize = 24;
    pub const SET_INTER_OP_NUM_THREADS: usize = 25;
    pub const SESSION_GET_INPUT_COUNT: usize = 30;
    pub const SESSION_GET_INPUT_NAME: usize = 36;
    pub const SESSION_GET_OUTPUT_NAME: usize = 37;
    pub const CREATE_TENSOR_WITH_DATA_AS_ORT_VALUE: usize = 49;
    pub const GET_TENSOR_MUTABLE_DATA: usize = 51;
    pub const CREATE_CPU_MEMORY_INFO: usize = 69;
    pub const ALLOCATOR_FREE: usize = 76;
    pub const GET_ALLOCATOR_WITH_DEFAULT_OPTIONS: usize = 78;
    pub const RELEASE_ENV: usize = 92;
    pub const RELEASE_STATUS: usize = 93;
    pub const RELEASE_MEMORY_INFO: usize = 94;
    pub const RELEASE_SESSION: usize = 95;
    pub const RELEASE_VALUE: usize = 96;
    pub const RELEASE_SESSION_OPTIONS: usize = 100;
}

/// The C API version asked for: the oldest, whose table every later library
/// still serves (the functions used here all date from it).
const API_VERSION: u32 = 1;
const LOGGING_LEVEL_ERROR: c_int = 3;
const ORT_SEQUENTIAL: c_int = 0;
const ORT_ENABLE_ALL: c_int = 99;
const ARENA_ALLOCATOR: c_int = 1;
const MEM_TYPE_DEFAULT: c_int = 0;
const TENSOR_FLOAT: c_int = 1;
const TENSOR_INT64: c_int = 7;

type Status = *mut c_void;
type Ptr = *mut c_void;

#[repr(C)]
struct OrtApiBase {
    get_api: unsafe extern "C" fn(u32) -> *const *const c_void,
    get_version_string: unsafe extern "C" fn() -> *const c_char,
}

/// Where `libonnxruntime.so` is: `$GANGLION_ORT_LIB` (a file), else the
/// `onnxruntime` wheel in the benchmark Python's environment.
pub fn find_library(explicit: Option<&Path>, python: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("GANGLION_ORT_LIB") {
        return Some(PathBuf::from(p));
    }
    let python = python?;
    // <venv>/bin/python → <venv>/lib/python3.*/site-packages/onnxruntime/capi
    let venv = python.parent()?.parent()?;
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(venv.join("lib"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("site-packages/onnxruntime/capi"))
        .collect();
    if dirs.iter().all(|d| !d.is_dir()) {
        // Not a venv layout: ask the interpreter where its onnxruntime lives.
        let out = std::process::Command::new(python)
            .args([
                "-c",
                "import os, onnxruntime; print(os.path.join(os.path.dirname(onnxruntime.__file__), 'capi'))",
            ])
            .output()
            .ok()?;
        dirs = vec![PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())];
    }
    dirs.iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libonnxruntime.so"))
        })
}

/// One input tensor's buffer: the session's tensor points at `data`.
pub enum OrtInput {
    F32 { shape: Vec<i64>, data: Vec<f32> },
    I64 { shape: Vec<i64>, data: Vec<i64> },
}

impl OrtInput {
    /// A zero-filled f32 tensor of `shape`.
    pub fn f32(shape: &[usize]) -> Self {
        OrtInput::F32 {
            shape: shape.iter().map(|&d| d as i64).collect(),
            data: vec![0.0; shape.iter().product()],
        }
    }

    /// A zero-filled i64 tensor of `shape`.
    pub fn i64(shape: &[usize]) -> Self {
        OrtInput::I64 {
            shape: shape.iter().map(|&d| d as i64).collect(),
            data: vec![0; shape.iter().product()],
        }
    }

    /// (data pointer, bytes, shape, ONNX element type)
    fn raw(&mut self) -> (*mut c_void, usize, &[i64], c_int) {
        match self {
            OrtInput::F32 { shape, data } => (
                data.as_mut_ptr().cast(),
                data.len() * size_of::<f32>(),
                shape,
                TENSOR_FLOAT,
            ),
            OrtInput::I64 { shape, data } => (
                data.as_mut_ptr().cast(),
                data.len() * size_of::<i64>(),
                shape,
                TENSOR_INT64,
            ),
        }
    }
}

/// One onnxruntime session on the CPU execution provider, batch 1, with its
/// input and output tensors bound to buffers owned here (so a run allocates
/// no tensors).
pub struct OrtSession {
    api: *const *const c_void,
    pub version: String,
    env: Ptr,
    options: Ptr,
    session: Ptr,
    memory: Ptr,
    input_values: Vec<Ptr>,
    output_value: Ptr,
    input_names: Vec<CString>,
    output_name: CString,
    /// The buffers the input tensors point at, in the model's input order
    /// (never resized: the tensors alias them).
    inputs: Vec<OrtInput>,
    output_len: usize,
}

impl OrtSession {
    /// Opens `lib`, and `model` with 1 intra-op and 1 inter-op thread,
    /// sequential execution and every graph optimisation (Python's defaults
    /// but for the threads), for one f32 input `[1, obs_dim]` and `out_len`
    /// outputs.
    pub fn open(lib: &Path, model: &Path, obs_dim: usize, out_len: usize) -> Result<Self> {
        Self::open_with(lib, model, vec![OrtInput::f32(&[1, obs_dim])], out_len)
    }

    /// As `open`, for the model's inputs `inputs`, in its order.
    pub fn open_with(
        lib: &Path,
        model: &Path,
        inputs: Vec<OrtInput>,
        out_len: usize,
    ) -> Result<Self> {
        let api = load_api(lib)?;
        let mut s = OrtSession {
            api: api.0,
            version: api.1,
            env: ptr::null_mut(),
            options: ptr::null_mut(),
            session: ptr::null_mut(),
            memory: ptr::null_mut(),
            input_values: Vec::new(),
            output_value: ptr::null_mut(),
            input_names: Vec::new(),
            output_name: CString::default(),
            inputs,
            output_len: out_len,
        };
        // On an error, Drop releases whatever was made.
        s.init(model)?;
        Ok(s)
    }

    /// Input `i`'s buffer, if it is f32.
    pub fn f32_input(&mut self, i: usize) -> Option<&mut [f32]> {
        match self.inputs.get_mut(i)? {
            OrtInput::F32 { data, .. } => Some(data),
            OrtInput::I64 { .. } => None,
        }
    }

    /// Input `i`'s buffer, if it is i64.
    pub fn i64_input(&mut self, i: usize) -> Option<&mut [i64]> {
        match self.inputs.get_mut(i)? {
            OrtInput::I64 { data, .. } => Some(data),
            OrtInput::F32 { .. } => None,
        }
    }

    /// The function at `idx` of the table, as the type `F`.
    ///
    /// # Safety
    /// `F` must be the `unsafe extern "C" fn` type the C header gives that slot.
    unsafe fn f<F: Copy>(&self, idx: usize) -> F {
        debug_assert_eq!(size_of::<F>(), size_of::<*const c_void>());
        // SAFETY: `api` points at a table of at least RELEASE_SESSION_OPTIONS
        // + 1 function pointers (API version 1), and the caller names the type.
        unsafe { std::mem::transmute_copy(&*self.api.add(idx)) }
    }

    fn check(&self, status: Status, what: &str) -> Result<()> {
        if status.is_null() {
            return Ok(());
        }
        // SAFETY: slot types from onnxruntime_c_api.h; `status` is non-null
        // and owned here, released after its message is copied.
        let msg = unsafe {
            let get: unsafe extern "C" fn(Status) -> *const c_char =
                self.f(ordinal::GET_ERROR_MESSAGE);
            let msg = CStr::from_ptr(get(status)).to_string_lossy().into_owned();
            let release: unsafe extern "C" fn(Status) = self.f(ordinal::RELEASE_STATUS);
            release(status);
            msg
        };
        bail!("onnxruntime {what}: {msg}")
    }

    fn init(&mut self, model: &Path) -> Result<()> {
        let logid = c"ganglion-bench";
        let model_c = CString::new(model.as_os_str().as_encoded_bytes())?;
        // SAFETY: every call below uses the slot's signature from the C
        // header; out-pointers are valid locals or fields; the input and
        // output buffers outlive the tensors bound to them (both are
        // released in Drop before the Vecs are freed, and the Vecs are
        // never resized).
        unsafe {
            let create_env: unsafe extern "C" fn(c_int, *const c_char, *mut Ptr) -> Status =
                self.f(ordinal::CREATE_ENV);
            let st = create_env(LOGGING_LEVEL_ERROR, logid.as_ptr(), &mut self.env);
            self.check(st, "CreateEnv")?;
            let create_opts: unsafe extern "C" fn(*mut Ptr) -> Status =
                self.f(ordinal::CREATE_SESSION_OPTIONS);
            let st = create_opts(&mut self.options);
            self.check(st, "CreateSessionOptions")?;
            let set_int: [(usize, c_int, &str); 4] = [
                (ordinal::SET_INTRA_OP_NUM_THREADS, 1, "SetIntraOpNumThreads"),
                (ordinal::SET_INTER_OP_NUM_THREADS, 1, "SetInterOpNumThreads"),
                (
                    ordinal::SET_SESSION_EXECUTION_MODE,
                    ORT_SEQUENTIAL,
                    "SetSessionExecutionMode",
                ),
                (
                    ordinal::SET_SESSION_GRAPH_OPTIMIZATION_LEVEL,
                    ORT_ENABLE_ALL,
                    "SetSessionGraphOptimizationLevel",
                ),
            ];
            for (idx, value, what) in set_int {
                let set: unsafe extern "C" fn(Ptr, c_int) -> Status = self.f(idx);
                self.check(set(self.options, value), what)?;
            }
            let create_session: unsafe extern "C" fn(Ptr, *const c_char, Ptr, *mut Ptr) -> Status =
                self.f(ordinal::CREATE_SESSION);
            let st = create_session(self.env, model_c.as_ptr(), self.options, &mut self.session);
            self.check(st, "CreateSession")
                .with_context(|| format!("loading {}", model.display()))?;

            let count: unsafe extern "C" fn(Ptr, *mut usize) -> Status =
                self.f(ordinal::SESSION_GET_INPUT_COUNT);
            let mut n = 0usize;
            self.check(count(self.session, &mut n), "SessionGetInputCount")?;
            if n != self.inputs.len() {
                bail!(
                    "{}: expected {} input(s), found {n}",
                    model.display(),
                    self.inputs.len()
                );
            }
            let mut alloc: Ptr = ptr::null_mut();
            let get_alloc: unsafe extern "C" fn(*mut Ptr) -> Status =
                self.f(ordinal::GET_ALLOCATOR_WITH_DEFAULT_OPTIONS);
            self.check(get_alloc(&mut alloc), "GetAllocatorWithDefaultOptions")?;
            for i in 0..n {
                let name = self.name(ordinal::SESSION_GET_INPUT_NAME, i, alloc)?;
                self.input_names.push(name);
            }
            // Only the first output is the action head (as in `OnnxPolicy`).
            self.output_name = self.name(ordinal::SESSION_GET_OUTPUT_NAME, 0, alloc)?;

            let cpu: unsafe extern "C" fn(c_int, c_int, *mut Ptr) -> Status =
                self.f(ordinal::CREATE_CPU_MEMORY_INFO);
            let st = cpu(ARENA_ALLOCATOR, MEM_TYPE_DEFAULT, &mut self.memory);
            self.check(st, "CreateCpuMemoryInfo")?;
            let make: unsafe extern "C" fn(
                Ptr,
                *mut c_void,
                usize,
                *const i64,
                usize,
                c_int,
                *mut Ptr,
            ) -> Status = self.f(ordinal::CREATE_TENSOR_WITH_DATA_AS_ORT_VALUE);
            for i in 0..n {
                let (data, bytes, shape, elem) = self.inputs[i].raw();
                let mut value: Ptr = ptr::null_mut();
                let st = make(
                    self.memory,
                    data,
                    bytes,
                    shape.as_ptr(),
                    shape.len(),
                    elem,
                    &mut value,
                );
                self.check(st, "CreateTensorWithDataAsOrtValue")?;
                self.input_values.push(value);
            }
        }
        // The first run allocates the output tensor; later runs write into it.
        let out = self.run()?.len();
        if out != self.output_len {
            bail!(
                "{}: output `{}` has {out} values; expected {}",
                model.display(),
                self.output_name.to_string_lossy(),
                self.output_len
            );
        }
        Ok(())
    }

    /// Input or output `index`'s name, copied out of onnxruntime's allocator.
    ///
    /// # Safety
    /// `which` is SESSION_GET_INPUT_NAME or SESSION_GET_OUTPUT_NAME, `index`
    /// below that count, and `alloc` the default allocator.
    unsafe fn name(&self, which: usize, index: usize, alloc: Ptr) -> Result<CString> {
        // SAFETY: as documented above; the string is freed with the
        // allocator it came from.
        unsafe {
            let get: unsafe extern "C" fn(Ptr, usize, Ptr, *mut *mut c_char) -> Status =
                self.f(which);
            let mut raw: *mut c_char = ptr::null_mut();
            self.check(get(self.session, index, alloc, &mut raw), "SessionGet…Name")?;
            let name = CStr::from_ptr(raw).to_owned();
            let free: unsafe extern "C" fn(Ptr, *mut c_void) -> Status =
                self.f(ordinal::ALLOCATOR_FREE);
            self.check(free(alloc, raw.cast()), "AllocatorFree")?;
            Ok(name)
        }
    }

    /// One `Run` on the current contents of `input`; the output row.
    pub fn run(&mut self) -> Result<&[f32]> {
        // Arrays of at most 8 inputs on the stack: a run allocates nothing here.
        const MAX_INPUTS: usize = 8;
        let n = self.input_names.len();
        if n > MAX_INPUTS {
            bail!("onnxruntime bench sessions take at most {MAX_INPUTS} inputs, not {n}");
        }
        let mut inputs = [ptr::null::<c_char>(); MAX_INPUTS];
        let mut in_values = [ptr::null::<c_void>(); MAX_INPUTS];
        for i in 0..n {
            inputs[i] = self.input_names[i].as_ptr();
            in_values[i] = self.input_values[i].cast_const();
        }
        let outputs = [self.output_name.as_ptr()];
        // SAFETY: `Run`'s signature from the C header; `n` inputs (names and
        // values) and one output; `output_value` is either null (ORT
        // allocates it) or the tensor a previous run returned.
        unsafe {
            let run: unsafe extern "C" fn(
                Ptr,
                *const c_void,
                *const *const c_char,
                *const *const c_void,
                usize,
                *const *const c_char,
                usize,
                *mut Ptr,
            ) -> Status = self.f(ordinal::RUN);
            let st = run(
                self.session,
                ptr::null(),
                inputs.as_ptr(),
                in_values.as_ptr(),
                n,
                outputs.as_ptr(),
                1,
                &mut self.output_value,
            );
            self.check(st, "Run")?;
            let data: unsafe extern "C" fn(Ptr, *mut *mut c_void) -> Status =
                self.f(ordinal::GET_TENSOR_MUTABLE_DATA);
            let mut p: *mut c_void = ptr::null_mut();
            self.check(data(self.output_value, &mut p), "GetTensorMutableData")?;
            if p.is_null() {
                bail!("onnxruntime returned no output data");
            }
            Ok(std::slice::from_raw_parts(
                p.cast::<f32>().cast_const(),
                self.output_len,
            ))
        }
    }
}

impl Drop for OrtSession {
    fn drop(&mut self) {
        // SAFETY: release slots take the object they free (null is allowed);
        // tensors go before the memory info, the session before its options
        // and the env.
        unsafe {
            let release_value: unsafe extern "C" fn(Ptr) = self.f(ordinal::RELEASE_VALUE);
            for &p in &self.input_values {
                release_value(p);
            }
            for (idx, p) in [
                (ordinal::RELEASE_VALUE, self.output_value),
                (ordinal::RELEASE_MEMORY_INFO, self.memory),
                (ordinal::RELEASE_SESSION, self.session),
                (ordinal::RELEASE_SESSION_OPTIONS, self.options),
                (ordinal::RELEASE_ENV, self.env),
            ] {
                if !p.is_null() {
                    let release: unsafe extern "C" fn(Ptr) = self.f(idx);
                    release(p);
                }
            }
        }
        // The library stays loaded (unloading onnxruntime mid-process is not
        // supported by it).
    }
}

/// dlopens `lib` and returns its API table and version string.
fn load_api(lib: &Path) -> Result<(*const *const c_void, String)> {
    let path = CString::new(lib.as_os_str().as_encoded_bytes())?;
    // SAFETY: plain dlopen/dlsym; `OrtGetApiBase` has the signature
    // `const OrtApiBase* (void)` and returns a static struct.
    unsafe {
        let handle = libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
        if handle.is_null() {
            let err = libc::dlerror();
            let msg = if err.is_null() {
                "unknown error".into()
            } else {
                CStr::from_ptr(err).to_string_lossy().into_owned()
            };
            bail!("cannot load {}: {msg}", lib.display());
        }
        let sym = libc::dlsym(handle, c"OrtGetApiBase".as_ptr());
        if sym.is_null() {
            bail!("{} has no OrtGetApiBase", lib.display());
        }
        let get_base =
            std::mem::transmute::<*mut c_void, unsafe extern "C" fn() -> *const OrtApiBase>(sym);
        let base = get_base();
        if base.is_null() {
            bail!("OrtGetApiBase returned null");
        }
        let version = CStr::from_ptr(((*base).get_version_string)())
            .to_string_lossy()
            .into_owned();
        let api = ((*base).get_api)(API_VERSION);
        if api.is_null() {
            bail!("onnxruntime {version} does not serve C API version {API_VERSION}");
        }
        Ok((api, version))
    }
}
