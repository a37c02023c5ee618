package moemamba

/*
#include <stdlib.h>
#include <moemamba/moemamba.h>

extern int32_t mmbGoToken(void* user_data, int32_t token, char* text, size_t len); // moemamba.go
static int32_t mmb_go_chat_token(void* user_data, int32_t token, const char* text, size_t len) {
  return mmbGoToken(user_data, token, (char*)text, len);
}
static mmb_status mmb_go_chat_generate(mmb_chat* chat, mmb_sampler* sampler, const mmb_generate_options* o,
                                       uintptr_t handle, mmb_chat_stats* stats) {
  return mmb_chat_generate(chat, sampler, o, handle ? mmb_go_chat_token : NULL, (void*)handle, stats);
}
*/
import "C"

import (
	"runtime"
	"runtime/cgo"
	"strings"
	"unsafe"
)

// Statuses of the chat API (values taken from moemamba.h).
const (
	// ErrUnsupported: among others, a model without a chat template of the name asked
	// for (ModelInfo.NChatTemplates 0: every chat call).
	ErrUnsupported = C.MMB_ERR_UNSUPPORTED
	// ErrTemplate: the model's chat template refused the conversation (its
	// raise_exception(), e.g. roles that do not alternate) or ran past its limits; the
	// Error's Message is the template's own.
	ErrTemplate = C.MMB_ERR_TEMPLATE
)

// ChatMessage is one turn of a conversation: a role ("system", "user", "assistant",
// "tool" or whatever the template knows) and its text.
type ChatMessage struct {
	Role, Content string
}

// ChatStats is what one Chat.Prefill or Chat.Generate did.
type ChatStats struct {
	Restarted       bool   // the new rendering did not continue what the session had seen, so it started over
	PromptTokens    uint64 // tokens of the whole rendered conversation
	ReusedTokens    uint64 // of those, already in the session: not computed again
	PrefilledTokens uint64 // fed to the session by this call
	GeneratedTokens uint64 // tokens of the reply (Chat.Generate)
}

// ChatReply is what Chat.Generate returns: the reply as it joined the history, and
// what the turn computed.
type ChatReply struct {
	Text  string
	Stats ChatStats
}

// ChatOptions are the options of Model.NewChatWith; the zero value is the defaults.
type ChatOptions struct {
	// TemplateName is a named template of the bundle ("tool_use", ...); "": its main one.
	TemplateName string
	// Session holds the options of the chat's session.
	Session SessionOptions
}

func newChatStats() C.mmb_chat_stats {
	var s C.mmb_chat_stats
	s.struct_size = C.uint32_t(unsafe.Sizeof(s))
	return s
}

func chatStats(s *C.mmb_chat_stats) ChatStats {
	return ChatStats{Restarted: s.restarted != 0, PromptTokens: uint64(s.prompt_tokens),
		ReusedTokens: uint64(s.reused_tokens), PrefilledTokens: uint64(s.prefilled_tokens),
		GeneratedTokens: uint64(s.generated_tokens)}
}

// cString copies s for a C API that takes NUL-terminated text; the caller frees it.
func cString(s, what string) (*C.char, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return nil, &Error{Status: ErrInvalidArg, Name: "MMB_ERR_INVALID_ARGUMENT", Message: what + " holds a NUL byte"}
	}
	return C.CString(s), nil
}

// setCString stores a C copy of s in *dst unless s is empty; the caller calls free when
// C no longer reads it.
func setCString(dst **C.char, s, what string) (free func(), err error) {
	if s == "" {
		return func() {}, nil
	}
	p, err := cString(s, what)
	if err != nil {
		return nil, err
	}
	*dst = p
	return func() { C.free(unsafe.Pointer(p)) }, nil
}

// StopTokens lists the model's end-of-turn tokens besides EOS (e.g. <|im_end|>), at
// which generation, jobs and chats stop.
func (m *Model) StopTokens() ([]int32, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.p == nil {
		return nil, ErrClosed
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var n C.size_t
	st := C.mmb_model_get_stop_tokens(m.p, nil, 0, &n)
	if st != 0 && st != ErrBufferTooSmall {
		return nil, check(st)
	}
	out := make([]int32, int(n))
	if n == 0 {
		return out, nil
	}
	if err := check(C.mmb_model_get_stop_tokens(m.p, (*C.int32_t)(unsafe.Pointer(&out[0])), n, &n)); err != nil {
		return nil, err
	}
	return out[:int(n)], nil
}

// Render returns the prompt text the model's chat template makes of messages, exactly
// (tokenize it with MMB_TOKENIZE_PARSE_SPECIAL and without BOS: the template adds what
// the model wants). addGenerationPrompt ends it with the opening of the assistant's
// turn; templateName "" is the main template. Errors: ErrTemplate when the template
// refuses the conversation, ErrUnsupported when the model has no such template.
func (m *Model) Render(messages []ChatMessage, addGenerationPrompt bool, templateName string) (string, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.p == nil {
		return "", ErrClosed
	}
	var raw *C.mmb_chat_message
	if len(messages) > 0 {
		raw = (*C.mmb_chat_message)(C.calloc(C.size_t(len(messages)), C.size_t(unsafe.Sizeof(C.mmb_chat_message{}))))
		defer C.free(unsafe.Pointer(raw))
	}
	list := unsafe.Slice(raw, len(messages))
	defer func() {
		for _, msg := range list {
			C.free(unsafe.Pointer(msg.role))
			C.free(unsafe.Pointer(msg.content))
		}
	}()
	for i, msg := range messages {
		var err error
		if list[i].role, err = cString(msg.Role, "role"); err != nil {
			return "", err
		}
		if list[i].content, err = cString(msg.Content, "content"); err != nil {
			return "", err
		}
	}
	var name *C.char
	if templateName != "" {
		var err error
		if name, err = cString(templateName, "template name"); err != nil {
			return "", err
		}
		defer C.free(unsafe.Pointer(name))
	}
	generation := C.int32_t(0)
	if addGenerationPrompt {
		generation = 1
	}
	return sized(func(b *C.char, c C.size_t, n *C.size_t) C.mmb_status {
		return C.mmb_chat_render(m.p, name, raw, C.size_t(len(messages)), generation, b, c, n)
	})
}

// Chat is a conversation bound to a session of its own: each turn renders the whole
// history with the model's chat template and computes only the tokens the session has
// not seen. Calls on a chat and on its session are serialized.
type Chat struct {
	p *C.mmb_chat
	s *Session // the chat's own session; its mutex guards the chat too
}

// NewChat opens a conversation on the model's main template with an empty history.
// A model without chat templates gives ErrUnsupported.
func (m *Model) NewChat() (*Chat, error) {
	return m.NewChatWith(ChatOptions{})
}

// NewChatWith opens a conversation on a named template, or with session options.
func (m *Model) NewChatWith(o ChatOptions) (*Chat, error) {
	info, err := m.infoRLocked()
	if err != nil {
		return nil, err
	}
	defer m.mu.RUnlock()
	// C memory: the options struct that C reads may not point into Go memory.
	so := (*C.mmb_session_options)(C.malloc(C.size_t(unsafe.Sizeof(C.mmb_session_options{}))))
	defer C.free(unsafe.Pointer(so))
	if err := o.Session.fill(so); err != nil {
		return nil, err
	}
	var raw C.mmb_chat_options
	if err := call(func() C.mmb_status {
		return C.mmb_chat_options_init(&raw, C.size_t(unsafe.Sizeof(raw)))
	}); err != nil {
		return nil, err
	}
	raw.session = so
	freeName, err := setCString(&raw.template_name, o.TemplateName, "template name")
	if err != nil {
		return nil, err
	}
	defer freeName()
	var p *C.mmb_chat
	if err := call(func() C.mmb_status { return C.mmb_chat_create(m.p, &raw, &p) }); err != nil {
		return nil, err
	}
	c := &Chat{p: p, s: &Session{p: C.mmb_chat_get_session(p), vocab: info.VocabSize, host: m.host, borrowed: true}}
	runtime.SetFinalizer(c, (*Chat).Close)
	return c, nil
}

// Close frees the chat and its session (whose Session then returns ErrClosed);
// harmless when repeated.
func (c *Chat) Close() error {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if c.p != nil {
		c.s.p = nil
		C.mmb_chat_destroy(c.p)
		c.p = nil
	}
	return nil
}

// Session is the chat's own session, for its position, state, a fork or paging; it
// lives as long as the chat (Close on it does nothing to the chat). Stepping it
// directly puts it out of step with the history: the next turn then starts over
// (ChatStats.Restarted).
func (c *Chat) Session() *Session { return c.s }

// lock takes the chat's lock and returns the chat pointer, or ErrClosed.
func (c *Chat) lock() (*C.mmb_chat, error) {
	c.s.mu.Lock()
	if c.p == nil {
		c.s.mu.Unlock()
		return nil, ErrClosed
	}
	return c.p, nil
}

// Add appends a message to the history; nothing is computed until the next Prefill or
// Generate.
func (c *Chat) Add(role, content string) error {
	crole, err := cString(role, "role")
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(crole))
	ccontent, err := cString(content, "content")
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(ccontent))
	p, err := c.lock()
	if err != nil {
		return err
	}
	defer c.s.mu.Unlock()
	return call(func() C.mmb_status { return C.mmb_chat_add(p, crole, ccontent) })
}

// MessageCount is the number of messages in the history, Generate's replies included.
func (c *Chat) MessageCount() (int, error) {
	p, err := c.lock()
	if err != nil {
		return 0, err
	}
	defer c.s.mu.Unlock()
	return messageCount(p)
}

func messageCount(p *C.mmb_chat) (int, error) {
	var n C.size_t
	err := call(func() C.mmb_status { return C.mmb_chat_get_message_count(p, &n) })
	return int(n), err
}

// Message returns message i of the history.
func (c *Chat) Message(i int) (ChatMessage, error) {
	p, err := c.lock()
	if err != nil {
		return ChatMessage{}, err
	}
	defer c.s.mu.Unlock()
	return message(p, i)
}

func message(p *C.mmb_chat, i int) (ChatMessage, error) {
	if i < 0 {
		return ChatMessage{}, &Error{Status: ErrInvalidArg, Name: "MMB_ERR_INVALID_ARGUMENT",
			Message: "negative message index"}
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var roleLen, contentLen C.size_t
	st := C.mmb_chat_get_message(p, C.size_t(i), nil, 0, &roleLen, nil, 0, &contentLen)
	if st == 0 {
		return ChatMessage{}, nil
	}
	if st != ErrBufferTooSmall {
		return ChatMessage{}, check(st)
	}
	buf := (*C.char)(C.malloc(roleLen + contentLen + 1))
	defer C.free(unsafe.Pointer(buf))
	content := (*C.char)(unsafe.Add(unsafe.Pointer(buf), roleLen))
	st = C.mmb_chat_get_message(p, C.size_t(i), buf, roleLen, &roleLen, content, contentLen, &contentLen)
	if err := check(st); err != nil {
		return ChatMessage{}, err
	}
	return ChatMessage{Role: C.GoStringN(buf, C.int(roleLen)), Content: C.GoStringN(content, C.int(contentLen))}, nil
}

// Messages returns a copy of the history.
func (c *Chat) Messages() ([]ChatMessage, error) {
	p, err := c.lock()
	if err != nil {
		return nil, err
	}
	defer c.s.mu.Unlock()
	n, err := messageCount(p)
	if err != nil {
		return nil, err
	}
	out := make([]ChatMessage, n)
	for i := range out {
		if out[i], err = message(p, i); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Prefill brings the session up to date with the history (without the generation
// prompt), e.g. a character's system prompt at load time, so the first reply starts at
// once. Errors: ErrTemplate, ErrContextFull.
func (c *Chat) Prefill() (ChatStats, error) {
	p, err := c.lock()
	if err != nil {
		return ChatStats{}, err
	}
	defer c.s.mu.Unlock()
	stats := newChatStats()
	if err := call(func() C.mmb_status { return C.mmb_chat_prefill(p, &stats) }); err != nil {
		return ChatStats{}, err
	}
	return chatStats(&stats), nil
}

// Generate writes the assistant's reply to the history: it prefills only what the
// session has not seen, then samples until the model ends its turn (not emitted),
// maxTokens, or f returns false; f (nil: none) receives each token and its text. The
// reply joins the history as an "assistant" message, also when stopped early.
// Errors: ErrTemplate, ErrContextFull.
func (c *Chat) Generate(sampler *Sampler, maxTokens int, f TokenFunc) (ChatReply, error) {
	return c.GenerateWith(sampler, GenerateOptions{MaxTokens: maxTokens}, f)
}

// GenerateWith is Generate with options: opts.Grammar, when set, makes the reply follow
// a grammar (a JSON object, one of a list of choices...) and advances in place.
func (c *Chat) GenerateWith(sampler *Sampler, opts GenerateOptions, f TokenFunc) (ChatReply, error) {
	p, err := c.lock()
	if err != nil {
		return ChatReply{}, err
	}
	defer c.s.mu.Unlock()
	sampler.mu.Lock()
	defer sampler.mu.Unlock()
	if sampler.p == nil {
		return ChatReply{}, ErrClosed
	}
	unlock, err := lockGrammar(opts.Grammar)
	if err != nil {
		return ChatReply{}, err
	}
	defer unlock()
	o, err := generateOptions(opts)
	if err != nil {
		return ChatReply{}, err
	}
	var handle C.uintptr_t
	if f != nil {
		h := cgo.NewHandle(f)
		defer h.Delete()
		handle = C.uintptr_t(h)
	}
	stats := newChatStats()
	if err := call(func() C.mmb_status { return C.mmb_go_chat_generate(p, sampler.p, &o, handle, &stats) }); err != nil {
		return ChatReply{}, err
	}
	n, err := messageCount(p)
	if err != nil {
		return ChatReply{}, err
	}
	reply, err := message(p, n-1)
	if err != nil {
		return ChatReply{}, err
	}
	return ChatReply{Text: reply.Content, Stats: chatStats(&stats)}, nil
}

// Reset empties the history and resets the session.
func (c *Chat) Reset() error {
	p, err := c.lock()
	if err != nil {
		return err
	}
	defer c.s.mu.Unlock()
	return call(func() C.mmb_status { return C.mmb_chat_reset(p) })
}

// SaveState returns the conversation (history and session state) as bytes, for
// LoadState in this process or another with the same bundle.
func (c *Chat) SaveState() ([]byte, error) {
	p, err := c.lock()
	if err != nil {
		return nil, err
	}
	defer c.s.mu.Unlock()
	return saveBlob(
		func(size *C.size_t) C.mmb_status { return C.mmb_chat_state_size(p, size) },
		func(buf unsafe.Pointer, size C.size_t, written *C.size_t) C.mmb_status {
			return C.mmb_chat_state_save(p, buf, size, written)
		})
}

// LoadState replaces the history and session state with a saved conversation; on error
// nothing changes (ErrFormat: not a chat state; MMB_ERR_STATE_MISMATCH: another
// model's).
func (c *Chat) LoadState(state []byte) error {
	p, err := c.lock()
	if err != nil {
		return err
	}
	defer c.s.mu.Unlock()
	return loadBlob(state, func(buf unsafe.Pointer, size C.size_t) C.mmb_status {
		return C.mmb_chat_state_load(p, buf, size)
	})
}
