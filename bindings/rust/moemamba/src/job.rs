// Jobs: generation that runs without blocking the caller (moemamba.h section 7).
// Session::submit_text() makes a Job; Runtime::frame() and Job::poll() deliver its
// events to the closure given in JobOptions::on_event.
use crate::error::{check, Error, Result};
use crate::grammar::GrammarState;
use crate::sampler::Sampler;
use crate::session::Session;
use moemamba_sys as sys;
use std::any::Any;
use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::ffi::{c_char, c_void};
use std::fmt;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// What a job is doing (MMB_JOB_*). A job only moves forward through these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum JobState {
    /// Submitted, not started (or waiting for session memory).
    Queued,
    /// Consuming its prompt.
    Prefill,
    /// Producing tokens.
    Generating,
    /// Done: [`Job::result`] says how it ended.
    Finished,
}

impl JobState {
    fn from_raw(raw: i32) -> JobState {
        match raw {
            sys::MMB_JOB_PREFILL => JobState::Prefill,
            sys::MMB_JOB_GENERATING => JobState::Generating,
            sys::MMB_JOB_FINISHED => JobState::Finished,
            _ => JobState::Queued,
        }
    }
}

/// One event of a job, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobEvent {
    /// A generated token (None for the flush of an unfinished character at the end)
    /// and the text it completes (whole UTF-8 characters, often empty).
    Token { token: Option<i32>, text: String },
    /// The job ended normally (max_tokens, EOS or stop text reached, or a prompt
    /// without generation consumed), or was cancelled. Always the last event.
    Finished { cancelled: bool },
    /// The job failed; always the last event.
    Failed(Error),
}

/// Receives a job's events. Called from [`Job::poll`] and [`crate::Runtime::frame`] on
/// the thread that calls them; never from a library thread.
pub type EventHandler = Box<dyn FnMut(JobEvent) + Send + 'static>;

/// Options of [`Session::submit_text`] and [`Session::submit_tokens`].
pub struct JobOptions {
    /// Most tokens to generate (ignored without a sampler).
    pub max_tokens: i32,
    /// Stop after the EOS token without emitting it.
    pub stop_at_eos: bool,
    /// Prepend BOS to a text prompt (if the model has one).
    pub add_bos: bool,
    /// Stop once the generated text contains this (it is emitted).
    pub stop_text: Option<String>,
    /// None: no events (read the results with [`Job::poll`]).
    pub on_event: Option<EventHandler>,
    /// None: free text. Else the job generates under this grammar state as
    /// [`Session::generate_grammar`] does, with its own copy taken at submission (pass
    /// `Some(state.try_clone()?)` to keep yours). A job whose grammar no token can
    /// continue ends with [`Status::Grammar`](crate::Status).
    pub grammar: Option<GrammarState>,
}

impl Default for JobOptions {
    fn default() -> Self {
        JobOptions { max_tokens: 256, stop_at_eos: true, add_bos: true, stop_text: None, on_event: None, grammar: None }
    }
}

impl fmt::Debug for JobOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobOptions")
            .field("max_tokens", &self.max_tokens)
            .field("stop_at_eos", &self.stop_at_eos)
            .field("add_bos", &self.add_bos)
            .field("stop_text", &self.stop_text)
            .field("on_event", &self.on_event.as_ref().map(|_| "FnMut(JobEvent)"))
            .field("grammar", &self.grammar)
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// --- panics inside C callbacks ---------------------------------------------------------

thread_local! {
    // A panic of a handler or task runner, caught before it reaches C; the call that
    // made the library call it resumes it once the C call has returned.
    static CAUGHT: RefCell<Option<Box<dyn Any + Send>>> = const { RefCell::new(None) };
}

pub(crate) fn catch(f: impl FnOnce()) {
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(f)) {
        CAUGHT.with(|c| {
            let mut c = c.borrow_mut();
            if c.is_none() {
                *c = Some(payload);
            }
        });
    }
}

/// Resumes a panic caught on this thread during the last library call.
pub(crate) fn resume_caught() {
    if let Some(payload) = CAUGHT.with(|c| c.borrow_mut().take()) {
        panic::resume_unwind(payload);
    }
}

// --- event delivery ----------------------------------------------------------------------

// A job's handler. Events wait in the queue while another thread (or an outer call on
// this one) runs the handler; whoever holds the handler drains the queue, so events
// keep their order and a handler that polls its own job does not deadlock.
struct Sink {
    queue: Mutex<VecDeque<JobEvent>>,
    handler: Mutex<EventHandler>,
    message: Mutex<Option<String>>,
}

impl Sink {
    fn deliver(&self, event: JobEvent) {
        lock(&self.queue).push_back(event);
        loop {
            let Ok(mut handler) = self.handler.try_lock() else { return };
            loop {
                let Some(event) = lock(&self.queue).pop_front() else { break };
                catch(|| handler(event));
            }
            drop(handler);
            if lock(&self.queue).is_empty() {
                return;
            }
        }
    }
}

// Sinks by id: C holds only the id, so a job dropped on one thread while another
// thread's frame is delivering its events finds nothing instead of freed memory.
static SINKS: Mutex<BTreeMap<usize, Arc<Sink>>> = Mutex::new(BTreeMap::new());
static NEXT_SINK: AtomicUsize = AtomicUsize::new(1);

unsafe extern "C" fn on_event(
    user: *mut c_void,
    _job: *mut sys::mmb_job,
    kind: i32,
    token: i32,
    text: *const c_char,
    len: usize,
    status: sys::mmb_status,
) {
    catch(|| {
        let Some(sink) = lock(&SINKS).get(&(user as usize)).cloned() else { return };
        let bytes = if len == 0 { &[][..] } else { unsafe { std::slice::from_raw_parts(text as *const u8, len) } };
        let text = String::from_utf8_lossy(bytes).into_owned();
        let event = match kind {
            sys::MMB_JOB_EVENT_TOKEN => JobEvent::Token { token: (token >= 0).then_some(token), text },
            sys::MMB_JOB_EVENT_FINISHED => JobEvent::Finished { cancelled: status == sys::MMB_ERR_CANCELLED },
            _ => {
                *lock(&sink.message) = Some(text.clone());
                JobEvent::Failed(Error::new(status, text))
            }
        };
        sink.deliver(event);
    });
}

// --- the job -------------------------------------------------------------------------------

struct Seen {
    state: JobState,
    result: sys::mmb_status,
    buf: Vec<u8>,
}

/// A prompt, and generation after it, running on a session without blocking.
///
/// It borrows its session mutably, so the compiler keeps the session from other use
/// until the job is dropped; dropping it cancels it if it still runs. `Send + Sync`:
/// another thread may [`cancel`](Job::cancel) or [`wait`](Job::wait) while this one
/// polls.
///
/// ```compile_fail
/// # fn f(model: &moemamba::Model, sampler: &moemamba::Sampler) -> moemamba::Result<()> {
/// let mut session = model.session()?;
/// let job = session.submit_text(Some(sampler), "Hello", Default::default())?;
/// session.step(1)?; // the session is busy while the job lives
/// job.poll()?;
/// # Ok(()) }
/// ```
/// ```compile_fail
/// # fn f(model: &moemamba::Model, sampler: &moemamba::Sampler) -> moemamba::Result<()> {
/// let mut session = model.session()?;
/// let job = session.submit_text(Some(sampler), "Hello", Default::default())?;
/// drop(job);
/// job.poll()?; // a dropped job cannot be polled
/// # Ok(()) }
/// ```
pub struct Job<'s> {
    raw: NonNull<sys::mmb_job>,
    sink: Option<(usize, Arc<Sink>)>,
    seen: Mutex<Seen>,
    _session: PhantomData<&'s mut ()>,
}

// The header: poll, wait and cancel from any thread; reads one at a time (the mutex).
unsafe impl Send for Job<'_> {}
unsafe impl Sync for Job<'_> {}

impl fmt::Debug for Job<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job").field("raw", &self.raw).field("state", &self.state()).finish()
    }
}

enum Prompt<'a> {
    Text(&'a str),
    Tokens(&'a [i32]),
}

impl<'m> Session<'m> {
    /// Starts a job that reads `prompt` into the session and, with a sampler, generates
    /// up to `options.max_tokens` tokens after it exactly as `mmb_generate()` would;
    /// returns at once. `sampler` None: only the prompt is read (a non-blocking
    /// prefill). The job samples with its own copy of the sampler, left unchanged.
    /// Errors: `Status::Budget` when one session does not fit in the runtime's session
    /// memory budget; `Status::InvalidArgument` for bad options.
    pub fn submit_text(&mut self, sampler: Option<&Sampler>, prompt: &str, options: JobOptions) -> Result<Job<'_>> {
        self.submit(sampler, Prompt::Text(prompt), options)
    }

    /// [`submit_text`](Session::submit_text) with a prompt of token ids (`add_bos` is
    /// ignored).
    pub fn submit_tokens(&mut self, sampler: Option<&Sampler>, tokens: &[i32], options: JobOptions) -> Result<Job<'_>> {
        self.submit(sampler, Prompt::Tokens(tokens), options)
    }

    fn submit(&mut self, sampler: Option<&Sampler>, prompt: Prompt<'_>, options: JobOptions) -> Result<Job<'_>> {
        let sink = options.on_event.map(|handler| {
            let id = NEXT_SINK.fetch_add(1, Ordering::Relaxed);
            let sink = Arc::new(Sink {
                queue: Mutex::new(VecDeque::new()),
                handler: Mutex::new(handler),
                message: Mutex::new(None),
            });
            lock(&SINKS).insert(id, sink.clone());
            (id, sink)
        });
        let stop = options.stop_text.as_deref().unwrap_or("");
        // Every field is set here, so mmb_job_options_init is not needed.
        let raw_options = sys::mmb_job_options {
            struct_size: std::mem::size_of::<sys::mmb_job_options>() as u32,
            max_tokens: options.max_tokens,
            stop_at_eos: options.stop_at_eos as i32,
            tokenize_flags: if options.add_bos { sys::MMB_TOKENIZE_ADD_BOS } else { 0 },
            stop_text: if stop.is_empty() { ptr::null() } else { stop.as_ptr().cast() },
            stop_text_len: stop.len(),
            on_event: sink.as_ref().map(|_| on_event as unsafe extern "C" fn(_, _, _, _, _, _, _)),
            event_user_data: sink.as_ref().map_or(ptr::null_mut(), |(id, _)| *id as *mut c_void),
            grammar: options.grammar.as_ref().map_or(ptr::null(), |g| g.as_raw().cast_const()),
        };
        let sampler = sampler.map_or(ptr::null_mut(), |s| s.as_raw());
        let mut raw = ptr::null_mut();
        // With a host task runner, run_task is called inside this call.
        let status = unsafe {
            match prompt {
                Prompt::Text(text) => sys::mmb_job_submit_text(
                    self.as_raw(),
                    sampler,
                    text.as_ptr().cast(),
                    text.len(),
                    &raw_options,
                    &mut raw,
                ),
                Prompt::Tokens(tokens) => sys::mmb_job_submit_tokens(
                    self.as_raw(),
                    sampler,
                    tokens.as_ptr(),
                    tokens.len(),
                    &raw_options,
                    &mut raw,
                ),
            }
        };
        let submitted = check(status);
        let job = NonNull::new(raw).map(|raw| Job {
            raw,
            sink,
            seen: Mutex::new(Seen { state: JobState::Queued, result: sys::MMB_OK, buf: vec![0u8; 256] }),
            _session: PhantomData,
        });
        resume_caught(); // a task runner's panic (the job, if any, is dropped: cancelled)
        submitted?;
        Ok(job.expect("mmb_job_submit returned MMB_OK and NULL"))
    }
}

impl Job<'_> {
    /// Delivers pending events to the job's handler (on this thread), notes the job's
    /// state, then returns the text generated since the last poll ("" when none). The
    /// poll that first sees the job finished returns its last text. A panic of the
    /// handler resumes here, after the library call.
    pub fn poll(&self) -> Result<String> {
        let (mut state, mut result) = (0i32, sys::MMB_OK);
        let status = unsafe { sys::mmb_job_poll(self.raw.as_ptr(), &mut state, &mut result) };
        resume_caught();
        check(status)?;
        // The state is read before the text: once it says finished, this text is the last.
        let mut seen = lock(&self.seen);
        let text = Self::take(&mut seen.buf, |buf, cap, len| unsafe {
            sys::mmb_job_read_text(self.raw.as_ptr(), buf.cast(), cap, len)
        })?;
        let state = JobState::from_raw(state);
        if state > seen.state {
            seen.state = state;
            seen.result = result;
        }
        Ok(String::from_utf8_lossy(&text).into_owned())
    }

    // Size-then-copy: a buffer too small takes nothing, so grow it and call again.
    fn take(buf: &mut Vec<u8>, call: impl Fn(*mut u8, usize, &mut usize) -> sys::mmb_status) -> Result<Vec<u8>> {
        let mut len = 0usize;
        let mut status = call(buf.as_mut_ptr(), buf.len(), &mut len);
        if status == sys::MMB_ERR_BUFFER_TOO_SMALL {
            buf.resize(len, 0);
            status = call(buf.as_mut_ptr(), buf.len(), &mut len);
        }
        check(status)?;
        Ok(buf[..len].to_vec())
    }

    /// The token ids generated since the last call.
    pub fn read_tokens(&self) -> Result<Vec<i32>> {
        let _reader = lock(&self.seen);
        let mut n = 0usize;
        let status = unsafe { sys::mmb_job_read_tokens(self.raw.as_ptr(), ptr::null_mut(), 0, &mut n) };
        if status != sys::MMB_ERR_BUFFER_TOO_SMALL {
            check(status)?;
            return Ok(Vec::new());
        }
        let mut tokens = vec![0i32; n];
        check(unsafe { sys::mmb_job_read_tokens(self.raw.as_ptr(), tokens.as_mut_ptr(), tokens.len(), &mut n) })?;
        tokens.truncate(n);
        Ok(tokens)
    }

    /// Blocks until the job finishes or `timeout` passes; returns whether it finished.
    /// With [`crate::JobMode::Frame`] the wait does the work itself. Delivers no events
    /// and leaves [`state`](Job::state) to the next poll.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        let ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
        let mut state = 0i32;
        check(unsafe { sys::mmb_job_wait(self.raw.as_ptr(), ms, &mut state) })?;
        Ok(state == sys::MMB_JOB_FINISHED)
    }

    /// Blocks until the job finishes.
    pub fn wait(&self) -> Result<()> {
        while !self.wait_timeout(Duration::from_secs(3600))? {}
        Ok(())
    }

    /// Asks the job to stop at the next token or prompt chunk; returns at once.
    /// Cancelling twice, or a finished job, does nothing.
    pub fn cancel(&self) -> Result<()> {
        check(unsafe { sys::mmb_job_cancel(self.raw.as_ptr()) })
    }

    /// The state as of the last [`poll`](Job::poll).
    pub fn state(&self) -> JobState {
        lock(&self.seen).state
    }

    /// True once a poll has seen the job finished.
    pub fn is_finished(&self) -> bool {
        self.state() == JobState::Finished
    }

    /// How the job ended, as of the last poll: `Ok(())` also while it runs;
    /// `Err` with `Status::Cancelled` when cancelled, or the failure (with the
    /// library's message when the job had an event handler, the only way the library
    /// gives it).
    pub fn result(&self) -> Result<()> {
        let result = lock(&self.seen).result;
        match result {
            sys::MMB_OK => Ok(()),
            sys::MMB_ERR_CANCELLED => Err(Error::new(result, "the job was cancelled")),
            _ => {
                let message = self.sink.as_ref().and_then(|(_, sink)| lock(&sink.message).clone());
                Err(Error::new(
                    result,
                    message
                        .unwrap_or_else(|| "the job failed (give it on_event to receive the library's message)".into()),
                ))
            }
        }
    }

    pub fn as_raw(&self) -> *mut sys::mmb_job {
        self.raw.as_ptr()
    }
}

impl Drop for Job<'_> {
    fn drop(&mut self) {
        if let Some((id, _)) = &self.sink {
            lock(&SINKS).remove(id);
        }
        unsafe { sys::mmb_job_destroy(self.raw.as_ptr()) }
    }
}
