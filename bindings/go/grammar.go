package moemamba

/*
#include <stdlib.h>
#include <moemamba/moemamba.h>
*/
import "C"

import (
	"runtime"
	"sync"
	"unsafe"
)

// Structured output (moemamba.h section 9): a Grammar is compiled once per model from
// GBNF text, a JSON Schema or a list of choices, and shared by any number of goroutines;
// each generation keeps its own GrammarState, which says which tokens may come next.

const (
	// ErrGrammar: a grammar, JSON Schema or choice list is malformed or unusable (the
	// Error's Message gives the line and column, or the schema path), a grammar does not
	// allow a token (GrammarState.Accept), or no token can continue it.
	ErrGrammar = C.MMB_ERR_GRAMMAR
	// ErrStateMismatch: a saved state of another grammar (or session state of another
	// model).
	ErrStateMismatch = C.MMB_ERR_STATE_MISMATCH
)

// GrammarOption sets an option of a grammar (WithRoot, WithJSONWhitespace,
// WithMaskCacheBytes); the others keep the library's defaults.
type GrammarOption func(*C.mmb_grammar_options, *grammarStrings)

type grammarStrings struct{ root string }

// WithRoot names the start rule of a GBNF grammar (default "root").
func WithRoot(name string) GrammarOption {
	return func(_ *C.mmb_grammar_options, s *grammarStrings) { s.root = name }
}

// WithJSONWhitespace sets the most whitespace characters a JSON Schema's output may
// have at each place JSON allows them: 0 compact, default 1, up to 64.
func WithJSONWhitespace(n int) GrammarOption {
	return func(o *C.mmb_grammar_options, _ *grammarStrings) { o.json_whitespace = C.int32_t(n) }
}

// WithMaskCacheBytes sets the most bytes of token masks the grammar keeps for reuse
// (default 16 MiB; 0: none).
func WithMaskCacheBytes(n uint64) GrammarOption {
	return func(o *C.mmb_grammar_options, _ *grammarStrings) { o.mask_cache_bytes = C.size_t(n) }
}

// Grammar is a grammar, JSON Schema or choice list compiled for one model's vocabulary.
// Safe to share between goroutines. The library keeps the model alive for as long as
// the grammar (and every state made from it) lives.
type Grammar struct {
	mu    sync.RWMutex // write-locked only by Close
	p     *C.mmb_grammar
	vocab int
}

// NewGrammarGBNF compiles grammar text in the GBNF dialect (start rule "root" unless
// WithRoot names another). A malformed grammar gives an Error with Status ErrGrammar
// whose Message gives the line and column.
func (m *Model) NewGrammarGBNF(text string, opts ...GrammarOption) (*Grammar, error) {
	return m.newGrammar(C.MMB_GRAMMAR_GBNF, text, opts)
}

// NewGrammarJSONSchema compiles a JSON Schema (JSON text): the output is JSON that the
// schema accepts, properties in the schema's order. An unsupported or malformed schema
// gives ErrGrammar naming its path.
func (m *Model) NewGrammarJSONSchema(schema string, opts ...GrammarOption) (*Grammar, error) {
	return m.newGrammar(C.MMB_GRAMMAR_JSON_SCHEMA, schema, opts)
}

// NewGrammarChoice compiles a choice: the output is exactly one of items (at least one,
// none empty).
func (m *Model) NewGrammarChoice(items []string, opts ...GrammarOption) (*Grammar, error) {
	n := len(items)
	// C memory: the arrays hold pointers, which cgo forbids in Go memory passed to C.
	size := C.size_t(n)
	if size == 0 {
		size = 1
	}
	ptrMem := C.malloc(size * C.size_t(unsafe.Sizeof((*C.char)(nil))))
	defer C.free(ptrMem)
	lenMem := C.malloc(size * C.size_t(unsafe.Sizeof(C.size_t(0))))
	defer C.free(lenMem)
	ptrs := (*[1 << 28]*C.char)(ptrMem)[:n:n]
	lens := (*[1 << 28]C.size_t)(lenMem)[:n:n]
	for i, item := range items {
		ptrs[i] = (*C.char)(C.CBytes([]byte(item)))
		lens[i] = C.size_t(len(item))
	}
	defer func() {
		for _, p := range ptrs {
			C.free(unsafe.Pointer(p))
		}
	}()
	return m.compile(opts, func(model *C.mmb_model, o *C.mmb_grammar_options, out **C.mmb_grammar) C.mmb_status {
		return C.mmb_grammar_create_choice(model, (**C.char)(ptrMem), (*C.size_t)(lenMem), C.size_t(n), o, out)
	})
}

func (m *Model) newGrammar(kind C.int32_t, text string, opts []GrammarOption) (*Grammar, error) {
	ctext := C.CString(text)
	defer C.free(unsafe.Pointer(ctext))
	return m.compile(opts, func(model *C.mmb_model, o *C.mmb_grammar_options, out **C.mmb_grammar) C.mmb_status {
		return C.mmb_grammar_create(model, kind, ctext, C.size_t(len(text)), o, out)
	})
}

func (m *Model) compile(opts []GrammarOption,
	f func(*C.mmb_model, *C.mmb_grammar_options, **C.mmb_grammar) C.mmb_status) (*Grammar, error) {
	info, err := m.infoRLocked()
	if err != nil {
		return nil, err
	}
	defer m.mu.RUnlock()
	var o C.mmb_grammar_options
	if err := call(func() C.mmb_status { return C.mmb_grammar_options_init(&o, C.size_t(unsafe.Sizeof(o))) }); err != nil {
		return nil, err
	}
	var s grammarStrings
	for _, opt := range opts {
		opt(&o, &s)
	}
	freeRoot, err := setCString(&o.root, s.root, "root")
	if err != nil {
		return nil, err
	}
	defer freeRoot()
	var p *C.mmb_grammar
	if err := call(func() C.mmb_status { return f(m.p, &o, &p) }); err != nil {
		return nil, err
	}
	g := &Grammar{p: p, vocab: info.VocabSize}
	runtime.SetFinalizer(g, (*Grammar).Close)
	return g, nil
}

// Close releases the grammar; states made from it keep working. Harmless when repeated.
func (g *Grammar) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.p != nil {
		C.mmb_grammar_destroy(g.p)
		g.p = nil
	}
	return nil
}

// VocabSize is the vocabulary size of the model the grammar was compiled for.
func (g *Grammar) VocabSize() int { return g.vocab }

// NewState returns a state at the grammar's start.
func (g *Grammar) NewState() (*GrammarState, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.p == nil {
		return nil, ErrClosed
	}
	var p *C.mmb_grammar_state
	if err := call(func() C.mmb_status { return C.mmb_grammar_state_create(g.p, &p) }); err != nil {
		return nil, err
	}
	return newGrammarState(p, g.vocab), nil
}

// GrammarState is where one generation stands in a grammar: which tokens may come next.
// Pass it in GenerateOptions.Grammar or JobOptions.Grammar, or drive it by hand (Accept,
// Mask, Apply, Sampler.SampleGrammar). One goroutine at a time (a mutex makes sure).
type GrammarState struct {
	mu    sync.Mutex
	p     *C.mmb_grammar_state
	vocab int
}

func newGrammarState(p *C.mmb_grammar_state, vocab int) *GrammarState {
	s := &GrammarState{p: p, vocab: vocab}
	runtime.SetFinalizer(s, (*GrammarState).Close)
	return s
}

// Close frees the state; harmless when repeated.
func (s *GrammarState) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p != nil {
		C.mmb_grammar_state_destroy(s.p)
		s.p = nil
	}
	return nil
}

// Clone returns an independent copy at the same place (to fork a generation with its
// session).
func (s *GrammarState) Clone() (*GrammarState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil {
		return nil, ErrClosed
	}
	var p *C.mmb_grammar_state
	if err := call(func() C.mmb_status { return C.mmb_grammar_state_clone(s.p, &p) }); err != nil {
		return nil, err
	}
	return newGrammarState(p, s.vocab), nil
}

// Reset returns the state to the grammar's start.
func (s *GrammarState) Reset() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil {
		return ErrClosed
	}
	return call(func() C.mmb_status { return C.mmb_grammar_state_reset(s.p) })
}

// Accept advances the state past token. A token the grammar does not allow here gives
// ErrGrammar and changes nothing; a stop token where the grammar may end changes nothing.
func (s *GrammarState) Accept(token int32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil {
		return ErrClosed
	}
	return call(func() C.mmb_status { return C.mmb_grammar_state_accept(s.p, C.int32_t(token)) })
}

func (s *GrammarState) ends() (bool, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil {
		return false, false, ErrClosed
	}
	var can, must C.int32_t
	err := call(func() C.mmb_status { return C.mmb_grammar_state_can_end(s.p, &can, &must) })
	return can != 0, must != 0, err
}

// CanEnd reports whether the text so far is a complete output.
func (s *GrammarState) CanEnd() (bool, error) {
	can, _, err := s.ends()
	return can, err
}

// MustEnd reports whether the output is complete and no token can continue it.
func (s *GrammarState) MustEnd() (bool, error) {
	_, must, err := s.ends()
	return must, err
}

// MaskWords returns the tokens that may come next as a bitset: bit t%32 of word t/32
// is set when token t is allowed (stop tokens only where the grammar may end).
func (s *GrammarState) MaskWords() ([]uint32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil {
		return nil, ErrClosed
	}
	words := make([]uint32, (s.vocab+31)/32)
	err := call(func() C.mmb_status {
		return C.mmb_grammar_state_get_mask(s.p, (*C.uint32_t)(unsafe.Pointer(&words[0])), C.size_t(len(words)))
	})
	if err != nil {
		return nil, err
	}
	return words, nil
}

// Mask returns the tokens that may come next: entry t is true when token t is allowed.
func (s *GrammarState) Mask() ([]bool, error) {
	words, err := s.MaskWords()
	if err != nil {
		return nil, err
	}
	mask := make([]bool, s.vocab)
	for t := range mask {
		mask[t] = words[t/32]>>(uint(t)%32)&1 != 0
	}
	return mask, nil
}

// Apply sets every logit whose token the grammar does not allow here to -Inf, in place
// (logits holds the model's VocabSize values), for hosts that sample themselves.
func (s *GrammarState) Apply(logits []float32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil {
		return ErrClosed
	}
	return call(func() C.mmb_status {
		return C.mmb_grammar_state_apply(s.p, floatPtr(logits), C.size_t(len(logits)))
	})
}

// Save returns the state as bytes, for Load into a state of the same grammar.
func (s *GrammarState) Save() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil {
		return nil, ErrClosed
	}
	return saveBlob(
		func(size *C.size_t) C.mmb_status { return C.mmb_grammar_state_size(s.p, size) },
		func(buf unsafe.Pointer, size C.size_t, written *C.size_t) C.mmb_status {
			return C.mmb_grammar_state_save(s.p, buf, size, written)
		})
}

// Load replaces the state with a saved one of the same grammar; on error nothing
// changes (ErrStateMismatch: another grammar's; ErrFormat: damaged).
func (s *GrammarState) Load(state []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil {
		return ErrClosed
	}
	return loadBlob(state, func(buf unsafe.Pointer, size C.size_t) C.mmb_status {
		return C.mmb_grammar_state_load(s.p, buf, size)
	})
}

// SampleGrammar chooses a token as Sample does, among the tokens state allows, and
// advances the state past it (a stop token leaves it unchanged). ErrGrammar: no token
// can continue the grammar.
func (sp *Sampler) SampleGrammar(state *GrammarState, logits []float32) (int32, error) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	state.mu.Lock()
	defer state.mu.Unlock()
	if sp.p == nil || state.p == nil {
		return 0, ErrClosed
	}
	var tok C.int32_t
	err := call(func() C.mmb_status {
		return C.mmb_sampler_sample_grammar(sp.p, state.p, floatPtr(logits), C.size_t(len(logits)), &tok)
	})
	return int32(tok), err
}
