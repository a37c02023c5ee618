package moemamba

// #include <moemamba/moemamba.h>
import "C"

import (
	"strconv"
	"unsafe"
)

// ErrContextFull is the status of a step, prefill or job that does not fit in the
// session's context (SessionOptions.MaxContext): nothing was consumed. Reset the
// session, or use one with a larger context. Only models with attention layers have a
// context limit. Its value, 13, is taken from moemamba.h.
const ErrContextFull = C.MMB_ERR_CONTEXT_FULL

// KVType is the element type of a session's KV cache (MMB_KV_*, values taken from
// moemamba.h): how the attention layers store each key and value.
type KVType int

const (
	KVF16 KVType = C.MMB_KV_F16 // half precision, 2 bytes per value (the default)
	KVF32 KVType = C.MMB_KV_F32 // single precision, 4 bytes per value
)

func (k KVType) String() string {
	switch k {
	case KVF16:
		return "f16"
	case KVF32:
		return "f32"
	}
	return "kv(" + strconv.Itoa(int(k)) + ")"
}

// SessionOptions are the options of Model.NewSessionWith; the zero value is the
// defaults. Both concern models with attention layers (ModelInfo.NAttentionLayers > 0);
// other models ignore them.
type SessionOptions struct {
	// MaxContext is the most tokens the session can consume; one more fails with
	// ErrContextFull and consumes nothing. 0: the model's ModelInfo.ContextLength. Key
	// and value memory is taken as the context grows (pages of 64 tokens), not at
	// creation. At most 16777216.
	MaxContext uint64
	// KVType is how the KV cache stores keys and values (default KVF16).
	KVType KVType
}

// NewSessionWith opens a session on the model with a context limit and KV cache type
// of its own. A MaxContext above 16777216 is ErrInvalidArg.
func (m *Model) NewSessionWith(o SessionOptions) (*Session, error) {
	info, err := m.infoRLocked()
	if err != nil {
		return nil, err
	}
	defer m.mu.RUnlock()
	var raw C.mmb_session_options
	if err := o.fill(&raw); err != nil {
		return nil, err
	}
	var p *C.mmb_session
	if err := call(func() C.mmb_status { return C.mmb_session_create(m.p, &raw, &p) }); err != nil {
		return nil, err
	}
	s := newSession(p, info.VocabSize)
	s.host = m.host
	return s, nil
}

// fill writes o into the C options: the library's defaults first, then o's fields.
func (o SessionOptions) fill(raw *C.mmb_session_options) error {
	if err := call(func() C.mmb_status {
		return C.mmb_session_options_init(raw, C.size_t(unsafe.Sizeof(*raw)))
	}); err != nil {
		return err
	}
	raw.max_context = C.uint64_t(o.MaxContext)
	raw.kv_type = C.int32_t(o.KVType)
	return nil
}
