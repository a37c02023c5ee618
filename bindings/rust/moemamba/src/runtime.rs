// The runtime: the host's policy (backend, threads, who advances jobs, the session
// memory budget). Models keep it alive in C, so a Model does not borrow it.
use crate::error::{check, Result};
use crate::job::{catch, resume_caught};
use crate::options::defaults;
use moemamba_sys as sys;
use std::ffi::c_void;
use std::fmt;
use std::ptr::{self, NonNull};
use std::sync::Arc;
use std::time::Duration;

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

    /// What a runtime chose: MMB_BACKEND_CUDA or the CPU.
    fn chosen(raw: i32) -> Backend {
        if raw == sys::MMB_BACKEND_CUDA {
            Backend::Cuda
        } else {
            Backend::Cpu
        }
    }
}

/// What a runtime computes on (mmb_backend_info): see [`Runtime::backend_info`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendInfo {
    /// The backend chosen at creation: [`Backend::Cpu`] or [`Backend::Cuda`], never Auto.
    pub backend: Backend,
    /// Compute threads (the CPU backend's pool; CUDA's host-side work).
    pub n_threads: i32,
    /// The GPU's index for CUDA; -1 on the CPU.
    pub device_index: i32,
    /// The GPU's name, or "CPU".
    pub device_name: String,
    /// Bytes of device memory (0 on the CPU).
    pub device_memory_total: u64,
    /// Bytes of device memory this runtime's models and sessions hold now (0 on the CPU).
    pub device_memory_used: u64,
}

/// Who advances jobs (MMB_JOBS_*). The host's own job system is the third way: see
/// [`Runtime::with_task_runner`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobMode {
    /// A background thread of the runtime.
    Worker,
    /// Only the host's calls: [`Runtime::frame`] and [`crate::Job::wait`].
    Frame,
}

/// Options of [`Runtime::with_options`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeOptions {
    /// Which backend to use: Auto (the default) takes CUDA when a device and the
    /// plugin exist, else the CPU; Cuda fails with [`Status::Backend`](crate::Status)
    /// when it is not available.
    pub backend: Backend,
    /// Compute threads, the caller's included; 0 = one per core.
    pub n_threads: i32,
    /// The GPU's index for the CUDA backend (default 0; negative is an invalid argument).
    pub device_index: i32,
    pub job_mode: JobMode,
    /// Most bytes of session memory resident at once over all sessions; 0 = no limit.
    /// Above it idle sessions are paged out (compressed into host memory) and come back
    /// exactly on their next use.
    pub session_memory_budget: u64,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            backend: Backend::Auto,
            n_threads: 0,
            device_index: 0,
            job_mode: JobMode::Worker,
            session_memory_budget: 0,
        }
    }
}

/// What one [`Runtime::frame`] call did (mmb_frame_stats).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FrameStats {
    /// Units of work: batched token steps and prompt chunk rounds.
    pub steps: u32,
    pub tokens_generated: u64,
    pub prompt_tokens: u64,
    /// How long the call took, event delivery included.
    pub time: Duration,
    /// Unfinished jobs of the runtime when the call returned.
    pub jobs_active: u32,
    pub jobs_finished: u32,
    /// Events delivered by the call.
    pub events: u32,
    /// Slices of steps and prompt chunks run (a layer, the embedding or the head).
    pub slices: u32,
}

/// The session memory of a runtime (mmb_session_memory).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionMemory {
    pub sessions: u32,
    pub resident_sessions: u32,
    pub paged_sessions: u32,
    pub resident_bytes: u64,
    pub paged_bytes: u64,
    pub budget_bytes: u64,
    pub page_outs: u64,
    pub page_ins: u64,
}

/// One unit of library work handed to the task runner of
/// [`Runtime::with_task_runner`]: call [`run`](Task::run) once, on any thread. A task
/// dropped without running runs on a thread of its own, so that no job is left behind.
pub struct Task {
    task: sys::mmb_task_fn,
    data: *mut c_void,
    _host: Arc<HostTasks>,
}

// The header: "run task(task_data) exactly once, on any thread".
unsafe impl Send for Task {}

impl Task {
    pub fn run(mut self) {
        self.run_once();
    }

    fn run_once(&mut self) {
        if let Some(task) = self.task.take() {
            unsafe { task(self.data) }
            // The library may hand out the next task from here: a runner's panic resumes.
            resume_caught();
        }
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        if self.task.is_some() {
            let mut rest = Task { task: self.task.take(), data: self.data, _host: self._host.clone() };
            std::thread::spawn(move || rest.run_once());
        }
    }
}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task").field("pending", &self.task.is_some()).finish()
    }
}

/// The host's job system (run_task). Every model holds it, and every task, so it lives
/// as long as anything may call it.
pub(crate) struct HostTasks {
    run: Box<dyn Fn(Task) + Send + Sync>,
}

impl fmt::Debug for HostTasks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HostTasks")
    }
}

unsafe extern "C" fn run_task(user: *mut c_void, task: sys::mmb_task_fn, data: *mut c_void) {
    let host = user as *const HostTasks;
    // user is the Arc's pointer, kept alive by the model whose session submits.
    let host = unsafe {
        Arc::increment_strong_count(host);
        Arc::from_raw(host)
    };
    let task = Task { task, data, _host: host.clone() };
    catch(|| (host.run)(task));
}

/// Configuration, backend and worker threads. Usable from any number of threads.
#[derive(Debug)]
pub struct Runtime {
    raw: NonNull<sys::mmb_runtime>,
    host: Option<Arc<HostTasks>>,
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
        Runtime::create(options, None)
    }

    /// A runtime whose jobs advance on the host's own job system (MMB_JOBS_HOST):
    /// `run_task` receives each [`Task`] to run once on a thread of the host's choosing,
    /// soon (e.g. `|task| { pool.spawn(move || task.run()); }`). It is called from the
    /// thread that submits a job; `options.job_mode` is not used.
    pub fn with_task_runner(
        options: &RuntimeOptions,
        run_task: impl Fn(Task) + Send + Sync + 'static,
    ) -> Result<Runtime> {
        Runtime::create(options, Some(Arc::new(HostTasks { run: Box::new(run_task) })))
    }

    fn create(options: &RuntimeOptions, host: Option<Arc<HostTasks>>) -> Result<Runtime> {
        let mut raw_options = defaults(sys::mmb_runtime_options_init)?;
        raw_options.backend = options.backend.raw();
        raw_options.n_threads = options.n_threads;
        raw_options.device_index = options.device_index;
        raw_options.job_mode = match options.job_mode {
            JobMode::Worker => sys::MMB_JOBS_WORKER,
            JobMode::Frame => sys::MMB_JOBS_FRAME,
        };
        raw_options.session_memory_budget = options.session_memory_budget;
        if let Some(host) = &host {
            raw_options.job_mode = sys::MMB_JOBS_HOST;
            raw_options.run_task = Some(run_task);
            raw_options.run_task_user_data = Arc::as_ptr(host) as *mut c_void;
        }
        let mut raw = ptr::null_mut();
        check(unsafe { sys::mmb_runtime_create(&raw_options, &mut raw) })?;
        Ok(Runtime { raw: NonNull::new(raw).expect("mmb_runtime_create returned MMB_OK and NULL"), host })
    }

    pub(crate) fn host_tasks(&self) -> Option<Arc<HostTasks>> {
        self.host.clone()
    }

    /// The host's once-per-frame call: advances every job of the runtime until the next
    /// unit of work (a batched token step or a prompt chunk) would not fit in `budget`
    /// (overrunning by at most one unit), then delivers all pending events on this
    /// thread. With a zero budget it only delivers events; while another thread
    /// advances jobs it advances nothing. A panic of an event handler resumes here,
    /// after the library call.
    pub fn frame(&self, budget: Duration) -> Result<FrameStats> {
        let mut s: sys::mmb_frame_stats = unsafe { std::mem::zeroed() };
        s.struct_size = std::mem::size_of::<sys::mmb_frame_stats>() as u32;
        let budget_us = u64::try_from(budget.as_micros()).unwrap_or(u64::MAX);
        let status = unsafe { sys::mmb_runtime_frame(self.raw.as_ptr(), budget_us, &mut s) };
        resume_caught();
        check(status)?;
        Ok(FrameStats {
            steps: s.steps,
            tokens_generated: s.tokens_generated,
            prompt_tokens: s.prompt_tokens,
            time: Duration::from_micros(s.time_us),
            jobs_active: s.jobs_active,
            jobs_finished: s.jobs_finished,
            events: s.events,
            slices: s.slices,
        })
    }

    /// The sessions of this runtime and the memory they hold, resident and paged out.
    pub fn session_memory(&self) -> Result<SessionMemory> {
        let mut m: sys::mmb_session_memory = unsafe { std::mem::zeroed() };
        m.struct_size = std::mem::size_of::<sys::mmb_session_memory>() as u32;
        check(unsafe { sys::mmb_runtime_get_session_memory(self.raw.as_ptr(), &mut m) })?;
        Ok(SessionMemory {
            sessions: m.sessions,
            resident_sessions: m.resident_sessions,
            paged_sessions: m.paged_sessions,
            resident_bytes: m.resident_bytes,
            paged_bytes: m.paged_bytes,
            budget_bytes: m.budget_bytes,
            page_outs: m.page_outs,
            page_ins: m.page_ins,
        })
    }

    /// The backend chosen (Cpu or Cuda) and the compute thread count.
    pub fn backend(&self) -> Result<(Backend, i32)> {
        let (mut backend, mut threads) = (0, 0);
        check(unsafe { sys::mmb_runtime_get_backend(self.raw.as_ptr(), &mut backend, &mut threads) })?;
        Ok((Backend::chosen(backend), threads))
    }

    /// What the runtime computes on: the backend chosen, its threads, the device and its
    /// memory use (a snapshot).
    pub fn backend_info(&self) -> Result<BackendInfo> {
        let mut info: sys::mmb_backend_info = unsafe { std::mem::zeroed() };
        info.struct_size = std::mem::size_of::<sys::mmb_backend_info>() as u32;
        check(unsafe { sys::mmb_runtime_get_backend_info(self.raw.as_ptr(), &mut info) })?;
        // NUL-terminated by the library; read at most the array either way.
        let name: Vec<u8> = info.device_name.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
        Ok(BackendInfo {
            backend: Backend::chosen(info.backend),
            n_threads: info.n_threads,
            device_index: info.device_index,
            device_name: String::from_utf8_lossy(&name).into_owned(),
            device_memory_total: info.device_memory_total,
            device_memory_used: info.device_memory_used,
        })
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
