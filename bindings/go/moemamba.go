// Package moemamba runs MoE-Mamba language models through libmoemamba's C API.
//
// Every type owns one C object and frees it in Close (idempotent); a finalizer frees
// it too if the host forgets. Calls on a closed object return an error.
package moemamba

/*
#cgo LDFLAGS: -lmoemamba
#include <stdlib.h>
#include <moemamba/moemamba.h>

void mmb_go_set_run_task(mmb_runtime_options* o, uintptr_t runner); // job_callbacks.c

extern int32_t mmbGoToken(void* user_data, int32_t token, char* text, size_t len);
static int32_t mmb_go_token_trampoline(void* user_data, int32_t token, const char* text, size_t len) {
  return mmbGoToken(user_data, token, (char*)text, len);
}
static mmb_status mmb_go_generate(mmb_session* s, mmb_sampler* sp, const char* prompt, size_t len,
                                  const mmb_generate_options* o, uintptr_t handle) {
  return mmb_generate(s, sp, prompt, len, o, mmb_go_token_trampoline, (void*)handle);
}
*/
import "C"

import (
	"fmt"
	"runtime"
	"runtime/cgo"
	"sync"
	"unsafe"
)

// Status codes of the C API (the others: ErrBackend, ErrBusy, ErrBudget, ErrContextFull,
// ErrUnsupported, ErrTemplate).
const (
	OK                = 0
	ErrInvalidArg     = 1
	ErrIO             = 2
	ErrFormat         = 3
	ErrCancelled      = 7
	ErrBufferTooSmall = 8
)

// Error is a failed library call: its status and the library's message.
type Error struct {
	Status  int
	Name    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Name, e.Message) }

// ErrClosed is returned when an object is used after Close.
var ErrClosed = &Error{Status: ErrInvalidArg, Name: "MMB_ERR_INVALID_ARGUMENT", Message: "object is closed"}

// check turns a status into an error. The caller must still be on the OS thread that
// made the call, since the message is thread-local: callers lock the thread.
func check(st C.mmb_status) error {
	if st == 0 {
		return nil
	}
	return &Error{Status: int(st), Name: C.GoString(C.mmb_status_string(st)), Message: C.GoString(C.mmb_last_error())}
}

// call runs f on a locked OS thread so the thread-local message belongs to it.
func call(f func() C.mmb_status) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return check(f())
}

// saveBlob asks size for a state's byte count, has save write the state into a C
// buffer of that size, and returns what save wrote.
func saveBlob(size func(*C.size_t) C.mmb_status, save func(buf unsafe.Pointer, size C.size_t, written *C.size_t) C.mmb_status) ([]byte, error) {
	var n C.size_t
	if err := call(func() C.mmb_status { return size(&n) }); err != nil {
		return nil, err
	}
	if n == 0 {
		n = 1
	}
	buf := C.malloc(n)
	defer C.free(buf)
	var written C.size_t
	if err := call(func() C.mmb_status { return save(buf, n, &written) }); err != nil {
		return nil, err
	}
	return C.GoBytes(buf, C.int(written)), nil
}

// loadBlob copies state into C memory for load.
func loadBlob(state []byte, load func(buf unsafe.Pointer, size C.size_t) C.mmb_status) error {
	buf := C.CBytes(state)
	defer C.free(buf)
	return call(func() C.mmb_status { return load(buf, C.size_t(len(state))) })
}

// Version is the library's version string.
func Version() string { return C.GoString(C.mmb_version_string()) }

// Runtime holds the backend and worker threads.
type Runtime struct {
	mu   sync.RWMutex // write-locked only by Close
	p    *C.mmb_runtime
	host *hostTasks
}

// NewRuntime creates a runtime with nThreads compute threads (0: one per core), and
// options: WithBackend, WithDeviceIndex, and for jobs WithJobMode, WithHostTasks,
// WithSessionMemoryBudget.
func NewRuntime(nThreads int, opts ...RuntimeOption) (*Runtime, error) {
	var o C.mmb_runtime_options
	if err := call(func() C.mmb_status { return C.mmb_runtime_options_init(&o, C.size_t(unsafe.Sizeof(o))) }); err != nil {
		return nil, err
	}
	o.n_threads = C.int32_t(nThreads)
	var cfg runtimeConfig
	for _, opt := range opts {
		opt(&cfg)
	}
	o.backend = C.int32_t(cfg.backend)
	o.device_index = C.int32_t(cfg.deviceIndex)
	o.job_mode = C.int32_t(cfg.jobMode)
	o.session_memory_budget = C.uint64_t(cfg.budget)
	var host *hostTasks
	if cfg.runTask != nil {
		host = newHostTasks(cfg.runTask)
		C.mmb_go_set_run_task(&o, C.uintptr_t(host.id))
	}
	var p *C.mmb_runtime
	if err := call(func() C.mmb_status { return C.mmb_runtime_create(&o, &p) }); err != nil {
		return nil, err
	}
	r := &Runtime{p: p, host: host}
	runtime.SetFinalizer(r, (*Runtime).Close)
	return r, nil
}

// Close frees the runtime; harmless when repeated.
func (r *Runtime) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.p != nil {
		C.mmb_runtime_destroy(r.p)
		r.p = nil
	}
	return nil
}

// ModelInfo describes a loaded model.
type ModelInfo struct {
	VocabSize, DModel, NLayers, NMambaLayers, NMoeLayers, NMlpLayers int
	NExperts, TopK, BosID, EosID, PadID, UnkID                       int
	ParamsTotal, ParamsActive, StateBytes, Fingerprint               uint64
	Name                                                             string
	// NAttentionLayers counts the attention blocks (0: the session state is constant in size).
	NAttentionLayers int
	// ContextLength is a session's default context limit (SessionOptions.MaxContext 0);
	// 0 for a model without attention layers.
	ContextLength int
	// KVValuesPerToken is the key and value elements one token adds to a session's KV
	// cache (2 or 4 bytes each, by KVType); 0 without attention layers.
	KVValuesPerToken uint64
	// NChatTemplates counts the chat templates in the bundle (0: Render and NewChat give
	// ErrUnsupported).
	NChatTemplates int
	// NStopTokens counts the end-of-turn tokens besides EOS at which generation stops
	// (Model.StopTokens).
	NStopTokens int
}

// Model is an immutable loaded bundle, safe to share across goroutines.
type Model struct {
	mu   sync.RWMutex
	p    *C.mmb_model
	keep unsafe.Pointer // C copy of in-memory bundle bytes, freed with the model
	host *hostTasks     // the runtime's task runner: job submission may call it
}

func newModel(p *C.mmb_model, keep unsafe.Pointer) *Model {
	m := &Model{p: p, keep: keep}
	runtime.SetFinalizer(m, (*Model).Close)
	return m
}

// LoadFile loads a bundle from a file.
func (r *Runtime) LoadFile(path string) (*Model, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.p == nil {
		return nil, ErrClosed
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var p *C.mmb_model
	if err := call(func() C.mmb_status { return C.mmb_model_load_file(r.p, cpath, nil, &p) }); err != nil {
		return nil, err
	}
	m := newModel(p, nil)
	m.host = r.host
	return m, nil
}

// LoadMemory loads a bundle from bytes (copied by the library).
func (r *Runtime) LoadMemory(data []byte) (*Model, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.p == nil {
		return nil, ErrClosed
	}
	var o C.mmb_load_options
	if err := call(func() C.mmb_status { return C.mmb_load_options_init(&o, C.size_t(unsafe.Sizeof(o))) }); err != nil {
		return nil, err
	}
	o.flags = C.MMB_LOAD_COPY_MEMORY
	buf := C.CBytes(data)
	defer C.free(buf)
	var p *C.mmb_model
	if err := call(func() C.mmb_status {
		return C.mmb_model_load_memory(r.p, buf, C.size_t(len(data)), &o, &p)
	}); err != nil {
		return nil, err
	}
	m := newModel(p, nil)
	m.host = r.host
	return m, nil
}

// Close frees the model; sessions made from it keep what they need alive.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.p != nil {
		C.mmb_model_destroy(m.p)
		m.p = nil
	}
	return nil
}

// Info describes the model.
func (m *Model) Info() (ModelInfo, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.p == nil {
		return ModelInfo{}, ErrClosed
	}
	var i C.mmb_model_info
	i.struct_size = C.uint32_t(unsafe.Sizeof(i))
	if err := call(func() C.mmb_status { return C.mmb_model_get_info(m.p, &i) }); err != nil {
		return ModelInfo{}, err
	}
	return ModelInfo{
		VocabSize: int(i.vocab_size), DModel: int(i.d_model), NLayers: int(i.n_layers),
		NMambaLayers: int(i.n_mamba_layers), NMoeLayers: int(i.n_moe_layers), NMlpLayers: int(i.n_mlp_layers),
		NExperts: int(i.n_experts), TopK: int(i.top_k), BosID: int(i.bos_id), EosID: int(i.eos_id),
		PadID: int(i.pad_id), UnkID: int(i.unk_id), ParamsTotal: uint64(i.params_total),
		ParamsActive: uint64(i.params_active), StateBytes: uint64(i.state_bytes),
		Fingerprint: uint64(i.fingerprint), Name: C.GoString(i.name),
		NAttentionLayers: int(i.n_attention_layers), ContextLength: int(i.context_length),
		KVValuesPerToken: uint64(i.kv_values_per_token), NChatTemplates: int(i.n_chat_templates),
		NStopTokens: int(i.n_stop_tokens),
	}, nil
}

// infoRLocked returns the model's info and, on success, leaves m.mu read-locked for the
// caller to unlock.
func (m *Model) infoRLocked() (ModelInfo, error) {
	info, err := m.Info()
	if err != nil {
		return ModelInfo{}, err
	}
	m.mu.RLock()
	if m.p == nil {
		m.mu.RUnlock()
		return ModelInfo{}, ErrClosed
	}
	return info, nil
}

// Tokenize turns text into token ids (flags: MMB_TOKENIZE_* bits).
func (m *Model) Tokenize(text string, flags uint32) ([]int32, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.p == nil {
		return nil, ErrClosed
	}
	ctext := C.CString(text)
	defer C.free(unsafe.Pointer(ctext))
	var n C.size_t
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	st := C.mmb_tokenize(m.p, ctext, C.size_t(len(text)), nil, 0, &n, C.uint32_t(flags))
	if st != 0 && st != ErrBufferTooSmall {
		return nil, check(st)
	}
	if n == 0 {
		return []int32{}, nil
	}
	out := make([]int32, int(n))
	st = C.mmb_tokenize(m.p, ctext, C.size_t(len(text)), (*C.int32_t)(unsafe.Pointer(&out[0])), n, &n, C.uint32_t(flags))
	if err := check(st); err != nil {
		return nil, err
	}
	return out[:int(n)], nil
}

// Session is one stream of recurrent state. One call at a time per session.
type Session struct {
	mu       sync.Mutex
	p        *C.mmb_session
	vocab    int
	host     *hostTasks
	borrowed bool // a chat's session: the chat destroys it
}

// NewSession opens a session on the model with the default options (see NewSessionWith).
func (m *Model) NewSession() (*Session, error) {
	return m.NewSessionWith(SessionOptions{})
}

func newSession(p *C.mmb_session, vocab int) *Session {
	s := &Session{p: p, vocab: vocab}
	runtime.SetFinalizer(s, (*Session).Close)
	return s
}

// Close frees the session; harmless when repeated. On a chat's session (Chat.Session)
// it only ends this handle: the chat keeps its session.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p != nil {
		if !s.borrowed {
			C.mmb_session_destroy(s.p)
		}
		s.p = nil
	}
	return nil
}

// VocabSize is the length of the logits this session produces.
func (s *Session) VocabSize() int { return s.vocab }

func floatPtr(f []float32) *C.float {
	if len(f) == 0 {
		return nil
	}
	return (*C.float)(unsafe.Pointer(&f[0]))
}

// Step feeds one token; logits (len >= VocabSize, or nil) receives the next-token logits.
func (s *Session) Step(token int32, logits []float32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil {
		return ErrClosed
	}
	return call(func() C.mmb_status {
		return C.mmb_session_step(s.p, C.int32_t(token), floatPtr(logits), C.size_t(len(logits)))
	})
}

// Prefill feeds many tokens; logits receives the logits after the last one.
func (s *Session) Prefill(tokens []int32, logits []float32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil {
		return ErrClosed
	}
	if len(tokens) == 0 {
		return &Error{Status: ErrInvalidArg, Name: "MMB_ERR_INVALID_ARGUMENT", Message: "no tokens"}
	}
	return call(func() C.mmb_status {
		return C.mmb_session_prefill(s.p, (*C.int32_t)(unsafe.Pointer(&tokens[0])), C.size_t(len(tokens)),
			floatPtr(logits), C.size_t(len(logits)))
	})
}

// Reset puts the session back at position 0 (an empty state and context).
func (s *Session) Reset() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil {
		return ErrClosed
	}
	return call(func() C.mmb_status { return C.mmb_session_reset(s.p) })
}

// Position is the number of tokens fed so far.
func (s *Session) Position() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil {
		return 0, ErrClosed
	}
	var pos C.uint64_t
	err := call(func() C.mmb_status { return C.mmb_session_get_position(s.p, &pos) })
	return uint64(pos), err
}

// SaveState returns the session's state as bytes.
func (s *Session) SaveState() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil {
		return nil, ErrClosed
	}
	return saveBlob(
		func(size *C.size_t) C.mmb_status { return C.mmb_session_state_size(s.p, size) },
		func(buf unsafe.Pointer, size C.size_t, written *C.size_t) C.mmb_status {
			return C.mmb_session_state_save(s.p, buf, size, written)
		})
}

// LoadState replaces the session's state with one saved before.
func (s *Session) LoadState(state []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil {
		return ErrClosed
	}
	return loadBlob(state, func(buf unsafe.Pointer, size C.size_t) C.mmb_status {
		return C.mmb_session_state_load(s.p, buf, size)
	})
}

// Fork returns a new session with a copy of this one's state.
func (s *Session) Fork() (*Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil {
		return nil, ErrClosed
	}
	var p *C.mmb_session
	if err := call(func() C.mmb_status { return C.mmb_session_fork(s.p, &p) }); err != nil {
		return nil, err
	}
	f := newSession(p, s.vocab)
	f.host = s.host
	return f, nil
}

// SamplerParams mirrors mmb_sampler_params.
type SamplerParams struct {
	Temperature, TopP, MinP, RepetitionPenalty float32
	TopK                                       int
	Seed                                       uint64
}

// DefaultSamplerParams returns the library's defaults. It fails only when the loaded
// library is older than the header this package was built with.
func DefaultSamplerParams() (SamplerParams, error) {
	var p C.mmb_sampler_params
	if err := initSamplerParams(&p); err != nil {
		return SamplerParams{}, err
	}
	return SamplerParams{Temperature: float32(p.temperature), TopP: float32(p.top_p), MinP: float32(p.min_p),
		RepetitionPenalty: float32(p.repetition_penalty), TopK: int(p.top_k), Seed: uint64(p.seed)}, nil
}

// initSamplerParams fills p with the defaults, giving the library this package's size of it.
func initSamplerParams(p *C.mmb_sampler_params) error {
	return call(func() C.mmb_status { return C.mmb_sampler_params_init(p, C.size_t(unsafe.Sizeof(*p))) })
}

// Sampler picks tokens from logits.
type Sampler struct {
	mu sync.Mutex
	p  *C.mmb_sampler
}

// NewSampler creates a sampler.
func NewSampler(sp SamplerParams) (*Sampler, error) {
	var p C.mmb_sampler_params
	if err := initSamplerParams(&p); err != nil {
		return nil, err
	}
	p.temperature = C.float(sp.Temperature)
	p.top_p = C.float(sp.TopP)
	p.min_p = C.float(sp.MinP)
	p.repetition_penalty = C.float(sp.RepetitionPenalty)
	p.top_k = C.int32_t(sp.TopK)
	p.seed = C.uint64_t(sp.Seed)
	var out *C.mmb_sampler
	if err := call(func() C.mmb_status { return C.mmb_sampler_create(&p, &out) }); err != nil {
		return nil, err
	}
	s := &Sampler{p: out}
	runtime.SetFinalizer(s, (*Sampler).Close)
	return s, nil
}

// Close frees the sampler; harmless when repeated.
func (s *Sampler) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p != nil {
		C.mmb_sampler_destroy(s.p)
		s.p = nil
	}
	return nil
}

// Sample picks a token from logits and records it for the penalties.
func (s *Sampler) Sample(logits []float32) (int32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil {
		return 0, ErrClosed
	}
	var tok C.int32_t
	err := call(func() C.mmb_status {
		return C.mmb_sampler_sample(s.p, floatPtr(logits), C.size_t(len(logits)), &tok)
	})
	return int32(tok), err
}

// Detokenizer turns a stream of token ids into whole UTF-8 characters.
type Detokenizer struct {
	mu sync.Mutex
	p  *C.mmb_detokenizer
}

// NewDetokenizer creates a detokenizer for the model's vocabulary.
func (m *Model) NewDetokenizer() (*Detokenizer, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.p == nil {
		return nil, ErrClosed
	}
	var p *C.mmb_detokenizer
	if err := call(func() C.mmb_status { return C.mmb_detokenizer_create(m.p, &p) }); err != nil {
		return nil, err
	}
	d := &Detokenizer{p: p}
	runtime.SetFinalizer(d, (*Detokenizer).Close)
	return d, nil
}

// Close frees the detokenizer; harmless when repeated.
func (d *Detokenizer) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.p != nil {
		C.mmb_detokenizer_destroy(d.p)
		d.p = nil
	}
	return nil
}

// sized calls f with a buffer, growing it once when the library asks for more.
func sized(f func(buf *C.char, cap C.size_t, n *C.size_t) C.mmb_status) (string, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var small [256]C.char
	var n C.size_t
	st := f(&small[0], C.size_t(len(small)), &n)
	if st == 0 {
		return C.GoStringN(&small[0], C.int(n)), nil
	}
	if st != ErrBufferTooSmall {
		return "", check(st)
	}
	big := (*C.char)(C.malloc(n))
	defer C.free(unsafe.Pointer(big))
	if err := check(f(big, n, &n)); err != nil {
		return "", err
	}
	return C.GoStringN(big, C.int(n)), nil
}

// Push adds a token and returns the complete characters it finished (maybe "").
func (d *Detokenizer) Push(token int32) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.p == nil {
		return "", ErrClosed
	}
	return sized(func(b *C.char, c C.size_t, n *C.size_t) C.mmb_status {
		return C.mmb_detokenizer_push(d.p, C.int32_t(token), b, c, n)
	})
}

// Flush returns whatever bytes are still held (an incomplete character, replaced).
func (d *Detokenizer) Flush() (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.p == nil {
		return "", ErrClosed
	}
	return sized(func(b *C.char, c C.size_t, n *C.size_t) C.mmb_status {
		return C.mmb_detokenizer_flush(d.p, b, c, n)
	})
}

// TokenFunc receives each generated token and its text; return false to stop.
type TokenFunc func(token int32, text string) bool

//export mmbGoToken
func mmbGoToken(userData unsafe.Pointer, token C.int32_t, text *C.char, n C.size_t) C.int32_t {
	f := cgo.Handle(uintptr(userData)).Value().(TokenFunc)
	if f(int32(token), C.GoStringN(text, C.int(n))) {
		return 1
	}
	return 0
}

// GenerateOptions are the options of Session.GenerateWith, Session.StreamWith and
// Chat.GenerateWith.
type GenerateOptions struct {
	MaxTokens int // most tokens to generate
	// Grammar is nil for free text. Else structured output: each token is chosen among
	// those the state allows, the state advances with each emitted token, and generation
	// ends as soon as the grammar is complete (MustEnd) or at a stop token where it may
	// end. A generation that reaches MaxTokens first ends with the grammar unfinished:
	// check CanEnd.
	Grammar *GrammarState
}

// Generate runs mmb_generate: prompt in, up to maxTokens out, each passed to f.
// A false from f ends generation with an error of status ErrCancelled.
func (s *Session) Generate(sampler *Sampler, prompt string, maxTokens int, f TokenFunc) error {
	return s.GenerateWith(sampler, prompt, GenerateOptions{MaxTokens: maxTokens}, f)
}

// generateOptions fills mmb_generate_options from o; the caller holds o.Grammar's lock.
func generateOptions(o GenerateOptions) (C.mmb_generate_options, error) {
	var raw C.mmb_generate_options
	if err := call(func() C.mmb_status { return C.mmb_generate_options_init(&raw, C.size_t(unsafe.Sizeof(raw))) }); err != nil {
		return raw, err
	}
	raw.max_tokens = C.int32_t(o.MaxTokens)
	if o.Grammar != nil {
		raw.grammar = o.Grammar.p
	}
	return raw, nil
}

// lockGrammar locks a GenerateOptions' or JobOptions' grammar state, if any; the
// returned function unlocks it. ErrClosed for a closed state.
func lockGrammar(g *GrammarState) (func(), error) {
	if g == nil {
		return func() {}, nil
	}
	g.mu.Lock()
	if g.p == nil {
		g.mu.Unlock()
		return nil, ErrClosed
	}
	return g.mu.Unlock, nil
}

// GenerateWith is Generate with options: o.Grammar, when set, makes the output follow a
// grammar and advances in place.
func (s *Session) GenerateWith(sampler *Sampler, prompt string, opts GenerateOptions, f TokenFunc) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sampler.mu.Lock()
	defer sampler.mu.Unlock()
	if s.p == nil || sampler.p == nil {
		return ErrClosed
	}
	unlock, err := lockGrammar(opts.Grammar)
	if err != nil {
		return err
	}
	defer unlock()
	o, err := generateOptions(opts)
	if err != nil {
		return err
	}
	h := cgo.NewHandle(f)
	defer h.Delete()
	cprompt := C.CString(prompt)
	defer C.free(unsafe.Pointer(cprompt))
	return call(func() C.mmb_status {
		return C.mmb_go_generate(s.p, sampler.p, cprompt, C.size_t(len(prompt)), &o, C.uintptr_t(h))
	})
}

// Stream runs Generate on a goroutine and sends each piece of text on the channel,
// which is closed at the end; the error channel then receives the outcome.
func (s *Session) Stream(sampler *Sampler, prompt string, maxTokens int) (<-chan string, <-chan error) {
	return s.StreamWith(sampler, prompt, GenerateOptions{MaxTokens: maxTokens})
}

// StreamWith is Stream with options (GenerateWith).
func (s *Session) StreamWith(sampler *Sampler, prompt string, o GenerateOptions) (<-chan string, <-chan error) {
	texts := make(chan string, 16)
	errs := make(chan error, 1)
	go func() {
		err := s.GenerateWith(sampler, prompt, o, func(_ int32, text string) bool {
			if text != "" {
				texts <- text
			}
			return true
		})
		close(texts)
		errs <- err
	}()
	return texts, errs
}
