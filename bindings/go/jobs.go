package moemamba

/*
#include <stdlib.h>
#include <moemamba/moemamba.h>

// job_callbacks.c
uintptr_t mmb_go_delivery_begin(uintptr_t delivery);
void mmb_go_delivery_end(uintptr_t outer);
void mmb_go_set_run_task(mmb_runtime_options* o, uintptr_t runner);
void mmb_go_call_task(uintptr_t task, uintptr_t data);
void mmb_go_set_events(mmb_job_options* o, uintptr_t sink);
*/
import "C"

import (
	"runtime"
	"runtime/cgo"
	"sync"
	"time"
	"unsafe"
)

// Who advances jobs (MMB_JOBS_*): see WithJobMode and WithHostTasks.
const (
	JobsWorker = 0 // a background thread of the runtime (the default)
	JobsFrame  = 1 // only Runtime.Frame and Job.Wait
	JobsHost   = 2 // the host's own job system (WithHostTasks)
)

// Statuses of the job API.
const (
	ErrBusy   = 11 // the session runs a job
	ErrBudget = 12 // the session memory budget cannot hold this
)

// JobState is what a job is doing (MMB_JOB_*); a job only moves forward through them.
type JobState int

const (
	JobQueued     JobState = 0
	JobPrefill    JobState = 1
	JobGenerating JobState = 2
	JobFinished   JobState = 3
)

// Kinds of JobEvent (MMB_JOB_EVENT_*).
const (
	EventToken    = 0 // a generated token and the text it completes
	EventFinished = 1 // the job ended: Status OK or ErrCancelled; always the last event
	EventError    = 2 // the job failed: Status and Text say why; always the last event
)

// JobEvent is one event of a job. Token is -1 when the event has none (the flush of an
// unfinished character at the end, FINISHED, ERROR).
type JobEvent struct {
	Kind   int
	Token  int32
	Text   string
	Status int
}

// JobOptions are the options of Session.Submit; start from DefaultJobOptions.
type JobOptions struct {
	MaxTokens int    // most tokens to generate (ignored without a sampler)
	StopAtEOS bool   // stop after the EOS token without emitting it
	AddBOS    bool   // prepend BOS to a text prompt (if the model has one)
	StopText  string // stop once the generated text contains it ("" none)
	// OnEvent receives the job's events, from Job.Poll and Runtime.Frame on the
	// goroutine that calls them; nil: no events.
	OnEvent func(JobEvent)
	// Grammar is nil for free text. Else the job generates under this grammar state as
	// GenerateOptions.Grammar describes, with its own copy taken at submission: the state
	// given is left unchanged. A job whose grammar no token can continue ends with
	// ErrGrammar.
	Grammar *GrammarState
}

// DefaultJobOptions returns the library's defaults: 256 tokens, stop at EOS, add BOS.
func DefaultJobOptions() JobOptions {
	return JobOptions{MaxTokens: 256, StopAtEOS: true, AddBOS: true}
}

// FrameStats is what one Runtime.Frame call did.
type FrameStats struct {
	Steps           uint32 // units of work: batched token steps and prompt chunk rounds
	TokensGenerated uint64
	PromptTokens    uint64
	Time            time.Duration // event delivery included
	JobsActive      uint32        // unfinished jobs when the call returned
	JobsFinished    uint32
	Events          uint32 // events delivered
	Slices          uint32 // slices of steps and prompt chunks run (a layer, the embedding or the head)
}

// SessionMemory is the session memory of a runtime.
type SessionMemory struct {
	Sessions, ResidentSessions, PagedSessions                 uint32
	ResidentBytes, PagedBytes, BudgetBytes, PageOuts, PageIns uint64
}

// RuntimeOption is an option of NewRuntime.
type RuntimeOption func(*runtimeConfig)

type runtimeConfig struct {
	jobMode     int
	budget      uint64
	runTask     func(task func())
	backend     Backend
	deviceIndex int
}

// WithJobMode says who advances jobs: JobsWorker (default) or JobsFrame.
func WithJobMode(mode int) RuntimeOption { return func(c *runtimeConfig) { c.jobMode = mode } }

// WithSessionMemoryBudget caps the resident session memory in bytes (0: no limit).
// Above it idle sessions are paged out and come back exactly on their next use.
func WithSessionMemoryBudget(bytes uint64) RuntimeOption {
	return func(c *runtimeConfig) { c.budget = bytes }
}

// WithHostTasks makes the host's job system advance jobs (JobsHost): run receives each
// task, to call once on a goroutine of the host's choosing, soon (`go task()` will do).
// It is called from the goroutine that submits a job.
func WithHostTasks(run func(task func())) RuntimeOption {
	return func(c *runtimeConfig) { c.jobMode, c.runTask = JobsHost, run }
}

// A registry by id: C holds only the id, never a Go pointer, and a callback arriving
// after its owner is gone finds nothing.
type registry struct {
	mu    sync.Mutex
	next  uintptr
	items map[uintptr]interface{}
}

func (r *registry) add(v interface{}) uintptr {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.items == nil {
		r.items = map[uintptr]interface{}{}
	}
	r.next++
	r.items[r.next] = v
	return r.next
}

func (r *registry) get(id uintptr) interface{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.items[id]
}

func (r *registry) remove(id uintptr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.items, id)
}

var runners, sinks registry

// hostTasks owns a runtime's task runner in the registry. The runtime, its models and
// their sessions hold it, so it lives while a job submission may call the runner.
// (It holds a pointer too: finalizers of tiny pointer-free objects may never run.)
type hostTasks struct {
	id  uintptr
	run func(task func())
}

func newHostTasks(run func(task func())) *hostTasks {
	h := &hostTasks{id: runners.add(run), run: run}
	runtime.SetFinalizer(h, func(h *hostTasks) { runners.remove(h.id) })
	return h
}

// delivery collects a panic of a handler or task runner called back during one C call.
type delivery struct {
	handle   cgo.Handle
	outer    C.uintptr_t
	panicked bool
	value    interface{}
}

// beginDelivery precedes a C call that may call back; the OS thread must stay locked
// until the matching done.
func beginDelivery() *delivery {
	d := &delivery{}
	d.handle = cgo.NewHandle(d)
	d.outer = C.mmb_go_delivery_begin(C.uintptr_t(d.handle))
	return d
}

// done follows the C call: the first panic raised under it panics again here.
func (d *delivery) done() {
	C.mmb_go_delivery_end(d.outer)
	d.handle.Delete()
	if d.panicked {
		panic(d.value)
	}
}

func recordPanic(id C.uintptr_t, value interface{}) {
	if id == 0 {
		return
	}
	if d, ok := cgo.Handle(uintptr(id)).Value().(*delivery); ok && !d.panicked {
		d.panicked, d.value = true, value
	}
}

//export mmbGoRunTask
func mmbGoRunTask(user, task, data, deliveryID C.uintptr_t) {
	var once sync.Once
	call := func() {
		once.Do(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			d := beginDelivery() // the library may hand out the next task from here
			C.mmb_go_call_task(task, data)
			d.done()
		})
	}
	run, _ := runners.get(uintptr(user)).(func(func()))
	if run == nil {
		go call()
		return
	}
	defer func() {
		// The task still runs exactly once; the submitting call panics afterwards.
		if r := recover(); r != nil {
			go call()
			recordPanic(deliveryID, r)
		}
	}()
	run(call)
}

// eventSink is a job's handler, with the message of its ERROR event.
type eventSink struct {
	fn      func(JobEvent)
	mu      sync.Mutex
	message string
}

//export mmbGoJobEvent
func mmbGoJobEvent(sinkID, deliveryID C.uintptr_t, kind, token C.int32_t, text *C.char, n C.size_t,
	status C.mmb_status) {
	sink, _ := sinks.get(uintptr(sinkID)).(*eventSink)
	if sink == nil {
		return
	}
	ev := JobEvent{Kind: int(kind), Token: int32(token), Status: int(status)}
	if n > 0 {
		ev.Text = C.GoStringN(text, C.int(n))
	}
	if ev.Kind == EventError {
		sink.mu.Lock()
		sink.message = ev.Text
		sink.mu.Unlock()
	}
	defer func() {
		if r := recover(); r != nil {
			recordPanic(deliveryID, r)
		}
	}()
	sink.fn(ev)
}

// Frame is the host's once-per-frame call: it advances every job of the runtime until
// the next unit of work (a batched token step or a prompt chunk) would not fit in
// budget (overrunning by at most one unit), then delivers all pending events on this
// goroutine. With budget 0 it only delivers events. A handler's panic is raised here
// once the C call has returned.
func (r *Runtime) Frame(budget time.Duration) (FrameStats, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.p == nil {
		return FrameStats{}, ErrClosed
	}
	var s C.mmb_frame_stats
	s.struct_size = C.uint32_t(unsafe.Sizeof(s))
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	d := beginDelivery()
	st := C.mmb_runtime_frame(r.p, C.uint64_t(budget.Microseconds()), &s)
	d.done()
	if err := check(st); err != nil {
		return FrameStats{}, err
	}
	return FrameStats{Steps: uint32(s.steps), TokensGenerated: uint64(s.tokens_generated),
		PromptTokens: uint64(s.prompt_tokens), Time: time.Duration(s.time_us) * time.Microsecond,
		JobsActive: uint32(s.jobs_active), JobsFinished: uint32(s.jobs_finished), Events: uint32(s.events), Slices: uint32(s.slices)}, nil
}

// SessionMemory reports the sessions of the runtime and the memory they hold.
func (r *Runtime) SessionMemory() (SessionMemory, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.p == nil {
		return SessionMemory{}, ErrClosed
	}
	var m C.mmb_session_memory
	m.struct_size = C.uint32_t(unsafe.Sizeof(m))
	if err := call(func() C.mmb_status { return C.mmb_runtime_get_session_memory(r.p, &m) }); err != nil {
		return SessionMemory{}, err
	}
	return SessionMemory{Sessions: uint32(m.sessions), ResidentSessions: uint32(m.resident_sessions),
		PagedSessions: uint32(m.paged_sessions), ResidentBytes: uint64(m.resident_bytes),
		PagedBytes: uint64(m.paged_bytes), BudgetBytes: uint64(m.budget_bytes), PageOuts: uint64(m.page_outs),
		PageIns: uint64(m.page_ins)}, nil
}

// PageOut pages the session out now: its state is compressed into host memory and its
// memory freed until the next call that needs it. ErrBusy while a job runs on it.
func (s *Session) PageOut() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil {
		return ErrClosed
	}
	return call(func() C.mmb_status { return C.mmb_session_page_out(s.p) })
}

// Job is a prompt, and generation after it, running on a session without blocking.
// Poll, Wait, Cancel and the state getters may be called from any goroutine. Close
// (or the finalizer) cancels a running job; Close during a call on another goroutine,
// or from the job's own handler, frees it when that call returns. The job keeps its
// session alive; the session answers ErrBusy until the job finishes.
type Job struct {
	mu      sync.Mutex // guards the fields below; never held over a C call
	p       *C.mmb_job
	calls   int
	closed  bool
	state   JobState
	result  int
	sinkID  uintptr
	sink    *eventSink
	session *Session
	readMu  sync.Mutex // one reader at a time per job
}

// Submit starts a job that reads prompt into the session and, with a sampler,
// generates up to o.MaxTokens tokens after it exactly as Generate would; it returns at
// once. A nil sampler only reads the prompt (a non-blocking prefill). The job samples
// with its own copy of the sampler, left unchanged. Keep the Job: Close cancels it.
func (s *Session) Submit(sampler *Sampler, prompt string, o JobOptions) (*Job, error) {
	cprompt := C.CString(prompt)
	defer C.free(unsafe.Pointer(cprompt))
	return s.submit(sampler, o, func(sp *C.mmb_sampler, opts *C.mmb_job_options, out **C.mmb_job) C.mmb_status {
		return C.mmb_job_submit_text(s.p, sp, cprompt, C.size_t(len(prompt)), opts, out)
	})
}

// SubmitTokens is Submit with a prompt of token ids (o.AddBOS is not used).
func (s *Session) SubmitTokens(sampler *Sampler, tokens []int32, o JobOptions) (*Job, error) {
	var ids *C.int32_t
	if len(tokens) > 0 {
		ids = (*C.int32_t)(unsafe.Pointer(&tokens[0]))
	}
	return s.submit(sampler, o, func(sp *C.mmb_sampler, opts *C.mmb_job_options, out **C.mmb_job) C.mmb_status {
		return C.mmb_job_submit_tokens(s.p, sp, ids, C.size_t(len(tokens)), opts, out)
	})
}

func (s *Session) submit(sampler *Sampler, o JobOptions,
	f func(*C.mmb_sampler, *C.mmb_job_options, **C.mmb_job) C.mmb_status) (*Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil {
		return nil, ErrClosed
	}
	var sp *C.mmb_sampler
	if sampler != nil {
		sampler.mu.Lock()
		defer sampler.mu.Unlock()
		if sampler.p == nil {
			return nil, ErrClosed
		}
		sp = sampler.p
	}
	unlock, err := lockGrammar(o.Grammar)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Every field is set here, so mmb_job_options_init is not needed.
	var opts C.mmb_job_options
	opts.struct_size = C.uint32_t(unsafe.Sizeof(opts))
	opts.max_tokens = C.int32_t(o.MaxTokens)
	if o.StopAtEOS {
		opts.stop_at_eos = 1
	}
	if o.AddBOS {
		opts.tokenize_flags = C.MMB_TOKENIZE_ADD_BOS
	}
	if o.StopText != "" {
		opts.stop_text = C.CString(o.StopText)
		defer C.free(unsafe.Pointer(opts.stop_text))
		opts.stop_text_len = C.size_t(len(o.StopText))
	}
	var sink *eventSink
	var sinkID uintptr
	if o.OnEvent != nil {
		sink = &eventSink{fn: o.OnEvent}
		sinkID = sinks.add(sink)
	}
	C.mmb_go_set_events(&opts, C.uintptr_t(sinkID))
	if o.Grammar != nil {
		opts.grammar = o.Grammar.p
	}
	var p *C.mmb_job
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	d := beginDelivery() // with WithHostTasks the runner is called inside this call
	st := f(sp, &opts, &p)
	if err := check(st); err != nil {
		sinks.remove(sinkID)
		d.done()
		return nil, err
	}
	j := &Job{p: p, sinkID: sinkID, sink: sink, session: s}
	runtime.SetFinalizer(j, (*Job).Close)
	d.done() // a task runner's panic: the job is left to the finalizer
	return j, nil
}

// enter marks a call in flight; the handle stays valid until the matching exit.
func (j *Job) enter() (*C.mmb_job, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil, ErrClosed
	}
	j.calls++
	return j.p, nil
}

func (j *Job) exit() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.calls--
	j.releaseIfIdle()
}

func (j *Job) releaseIfIdle() {
	if j.closed && j.calls == 0 && j.p != nil {
		C.mmb_job_destroy(j.p)
		j.p = nil
	}
}

// Close cancels the job if it runs and frees it; harmless when repeated.
func (j *Job) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil
	}
	j.closed = true
	sinks.remove(j.sinkID)
	if j.calls > 0 {
		C.mmb_job_cancel(j.p) // the call in flight frees it when it returns
	}
	j.releaseIfIdle()
	return nil
}

// Poll delivers the job's pending events to OnEvent (on this goroutine), notes its
// state, and returns the text generated since the last Poll ("" when none). The Poll
// that first sees the job finished returns its last text. A handler's panic is raised
// here once the C call has returned.
func (j *Job) Poll() (string, error) {
	p, err := j.enter()
	if err != nil {
		return "", err
	}
	defer j.exit()
	var state C.int32_t
	var result C.mmb_status
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	d := beginDelivery()
	st := C.mmb_job_poll(p, &state, &result)
	d.done()
	if err := check(st); err != nil {
		return "", err
	}
	// The state is read before the text: once it says finished, this text is the last.
	j.readMu.Lock()
	text, err := sized(func(b *C.char, c C.size_t, n *C.size_t) C.mmb_status {
		return C.mmb_job_read_text(p, b, c, n)
	})
	j.readMu.Unlock()
	if err != nil {
		return "", err
	}
	j.mu.Lock()
	if s := JobState(state); s > j.state {
		j.state, j.result = s, int(result)
	}
	j.mu.Unlock()
	return text, nil
}

// ReadTokens returns the token ids generated since the last ReadTokens.
func (j *Job) ReadTokens() ([]int32, error) {
	p, err := j.enter()
	if err != nil {
		return nil, err
	}
	defer j.exit()
	j.readMu.Lock()
	defer j.readMu.Unlock()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var n C.size_t
	st := C.mmb_job_read_tokens(p, nil, 0, &n)
	if st != ErrBufferTooSmall {
		return []int32{}, check(st)
	}
	out := make([]int32, int(n))
	if err := check(C.mmb_job_read_tokens(p, (*C.int32_t)(unsafe.Pointer(&out[0])), n, &n)); err != nil {
		return nil, err
	}
	return out[:int(n)], nil
}

// Wait blocks until the job finishes or timeout passes and says whether it finished.
// With JobsFrame the wait does the work itself. It delivers no events and leaves State
// to the next Poll.
func (j *Job) Wait(timeout time.Duration) (bool, error) {
	p, err := j.enter()
	if err != nil {
		return false, err
	}
	defer j.exit()
	ms := timeout.Milliseconds()
	if ms > 0xFFFFFFFF {
		ms = 0xFFFFFFFF
	}
	var state C.int32_t
	err = call(func() C.mmb_status { return C.mmb_job_wait(p, C.uint32_t(ms), &state) })
	return JobState(state) == JobFinished, err
}

// Cancel asks the job to stop at the next token or prompt chunk and returns at once.
// Cancelling twice, or a finished job, does nothing; a closed job gives ErrClosed.
func (j *Job) Cancel() error {
	p, err := j.enter()
	if err != nil {
		return err
	}
	defer j.exit()
	return call(func() C.mmb_status { return C.mmb_job_cancel(p) })
}

// State is the job's state as of the last Poll.
func (j *Job) State() JobState {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.state
}

// Finished is true once a Poll has seen the job finished.
func (j *Job) Finished() bool { return j.State() == JobFinished }

// Err says how the job ended, as of the last Poll: nil (also while it runs), an *Error
// with Status ErrCancelled, or the failure (with the library's message when the job
// had an OnEvent handler, the only way the library gives it).
func (j *Job) Err() error {
	j.mu.Lock()
	result := j.result
	j.mu.Unlock()
	if result == OK {
		return nil
	}
	name := C.GoString(C.mmb_status_string(C.mmb_status(result)))
	if result == ErrCancelled {
		return &Error{Status: result, Name: name, Message: "the job was cancelled"}
	}
	message := "the job failed (give it OnEvent to receive the library's message)"
	if j.sink != nil {
		j.sink.mu.Lock()
		if j.sink.message != "" {
			message = j.sink.message
		}
		j.sink.mu.Unlock()
	}
	return &Error{Status: result, Name: name, Message: message}
}
