// The runtime: the host's policy (backend, threads). Models keep it alive in C, so a
// Model does not borrow it.
use crate::error::{check, Result};
use crate::options::defaults;
use moemamba_sys as sys;
use std::ptr::{self, NonNull};

/// The compute backend a runtime uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Auto,
    Cpu,
    Cuda,
}

impl Backend {
    fn raw(self) -> i32 {
        match self {
            Backend::Auto => sys::MMB_BACKEND_AUTO,
            Backend::Cpu => sys::MMB_BACKEND_CPU,
            Backend::Cuda => sys::MMB_BACKEND_CUDA,
        }
    }
}

/// Options of [`Runtime::with_options`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeOptions {
    pub backend: Backend,
    /// Compute threads, the caller's included; 0 = one per core.
    pub n_threads: i32,
    pub device_index: i32,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions { backend: Backend::Auto, n_threads: 0, device_index: 0 }
    }
}

/// Configuration, backend and worker threads. Usable from any number of threads.
#[derive(Debug)]
pub struct Runtime {
    raw: NonNull<sys::mmb_runtime>,
}

// The header: "a runtime may be used by any number of threads at once".
unsafe impl Send for Runtime {}
unsafe impl Sync for Runtime {}

impl Runtime {
    /// A runtime with the defaults (best backend, one thread per core).
    pub fn new() -> Result<Runtime> {
        Runtime::with_options(&RuntimeOptions::default())
    }

    pub fn with_options(options: &RuntimeOptions) -> Result<Runtime> {
        let mut raw_options = defaults(sys::mmb_runtime_options_init)?;
        raw_options.backend = options.backend.raw();
        raw_options.n_threads = options.n_threads;
        raw_options.device_index = options.device_index;
        let mut raw = ptr::null_mut();
        check(unsafe { sys::mmb_runtime_create(&raw_options, &mut raw) })?;
        Ok(Runtime { raw: NonNull::new(raw).expect("mmb_runtime_create returned MMB_OK and NULL") })
    }

    /// The backend chosen (Cpu or Cuda) and the compute thread count.
    pub fn backend(&self) -> Result<(Backend, i32)> {
        let (mut backend, mut threads) = (0, 0);
        check(unsafe { sys::mmb_runtime_get_backend(self.raw.as_ptr(), &mut backend, &mut threads) })?;
        let backend = if backend == sys::MMB_BACKEND_CUDA { Backend::Cuda } else { Backend::Cpu };
        Ok((backend, threads))
    }

    pub fn as_raw(&self) -> *mut sys::mmb_runtime {
        self.raw.as_ptr()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        unsafe { sys::mmb_runtime_destroy(self.raw.as_ptr()) }
    }
}
