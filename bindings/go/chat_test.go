package moemamba

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// chatML is ChatML, as Qwen-style instruct models write it.
const chatML = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}" +
	"{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"

// plain is a second, named template of the ChatML bundle.
const plain = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}" +
	"{% if add_generation_prompt %}assistant:{% endif %}"

// refusing is a template that refuses every conversation.
const refusing = "{{ raise_exception('roles must alternate') }}"

var chatBundles struct {
	once           sync.Once
	dir            string
	chat, refusing string
	err            error
}

// packWithTemplate writes the demo bundle again with template as its chat template and,
// when plainTemplate is not "", that as the template "plain":
// `mmb pack DEMO -o NAME.mmb --chat-template NAME.jinja [--chat-template plain=FILE]`.
// The demo bundle is MMB_TEST_DEMO_BUNDLE, else the repository's models/demo-moe-mamba.mmb.
func packWithTemplate(cli, dir, name, template, plainTemplate string) (string, error) {
	demo := os.Getenv("MMB_TEST_DEMO_BUNDLE")
	if demo == "" {
		demo = filepath.Join("..", "..", "models", "demo-moe-mamba.mmb")
	}
	jinja := filepath.Join(dir, name+".jinja")
	bundle := filepath.Join(dir, name+".mmb")
	if err := os.WriteFile(jinja, []byte(template), 0o644); err != nil {
		return "", err
	}
	args := []string{"pack", demo, "-o", bundle, "--chat-template", jinja, "--quiet"}
	if plainTemplate != "" {
		file := filepath.Join(dir, name+"-plain.jinja")
		if err := os.WriteFile(file, []byte(plainTemplate), 0o644); err != nil {
			return "", err
		}
		args = append(args, "--chat-template", "plain="+file)
	}
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		return "", errors.New("mmb pack --chat-template: " + err.Error() + "\n" + string(out))
	}
	return bundle, nil
}

// chatBundlePaths packs the ChatML and the refusing bundles once per test binary.
func chatBundlePaths(t testing.TB) (chat, refused string) {
	t.Helper()
	chatBundles.once.Do(func() {
		cli := os.Getenv("MMB_TEST_CLI")
		if cli == "" {
			chatBundles.err = errors.New("MMB_TEST_CLI is not set (run through ctest)")
			return
		}
		if chatBundles.dir, chatBundles.err = os.MkdirTemp("", "moemamba-go-chat-"); chatBundles.err != nil {
			return
		}
		chatBundles.chat, chatBundles.err = packWithTemplate(cli, chatBundles.dir, "chatml", chatML, plain)
		if chatBundles.err != nil {
			return
		}
		chatBundles.refusing, chatBundles.err = packWithTemplate(cli, chatBundles.dir, "refusing", refusing, "")
	})
	if chatBundles.err != nil {
		t.Fatal(chatBundles.err)
	}
	return chatBundles.chat, chatBundles.refusing
}

func TestMain(m *testing.M) {
	code := m.Run()
	if chatBundles.dir != "" {
		os.RemoveAll(chatBundles.dir)
	}
	os.Exit(code)
}

// openModel loads the bundle at path; the model and its runtime close when the test ends.
func openModel(t *testing.T, path string) *Model {
	rt, m := loadFrom(t, path)
	t.Cleanup(func() {
		m.Close()
		rt.Close()
	})
	return m
}

func loadChatModel(t *testing.T) *Model {
	chat, _ := chatBundlePaths(t)
	return openModel(t, chat)
}

// newChat opens a chat on the main template; it closes when the test ends, if not before.
func newChat(t *testing.T, m *Model) *Chat {
	t.Helper()
	c, err := m.NewChat()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func mustAdd(t *testing.T, c *Chat, role, content string) {
	t.Helper()
	if err := c.Add(role, content); err != nil {
		t.Fatal(err)
	}
}

// reply generates greedily with a sampler of its own.
func reply(t *testing.T, c *Chat, maxTokens int) ChatReply {
	t.Helper()
	sampler := greedySampler(t)
	defer sampler.Close()
	r, err := c.Generate(sampler, maxTokens, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestABundleWithoutATemplateRefusesChats(t *testing.T) {
	m := openModel(t, bundlePath(t))
	info, _ := m.Info()
	stop, err := m.StopTokens()
	if err != nil || info.NChatTemplates != 0 || len(stop) != info.NStopTokens {
		t.Fatalf("info %+v, stop tokens %v (%v)", info, stop, err)
	}
	_, err = m.NewChat()
	var e *Error
	if !errors.As(err, &e) || e.Status != ErrUnsupported || e.Name != "MMB_ERR_UNSUPPORTED" || e.Message == "" {
		t.Fatalf("a chat without a template: %v", err)
	}
	if _, err := m.Render([]ChatMessage{{"user", "hi"}}, true, ""); !isStatus(err, ErrUnsupported) {
		t.Fatalf("render without a template: %v", err)
	}
}

func TestRenderGivesTheTemplatesTextExactly(t *testing.T) {
	m := loadChatModel(t)
	info, _ := m.Info()
	if info.NChatTemplates < 1 {
		t.Fatalf("no template: %+v", info)
	}
	if stop, err := m.StopTokens(); err != nil || len(stop) != info.NStopTokens {
		t.Fatalf("stop tokens %v (%v), info %+v", stop, err, info)
	}
	messages := []ChatMessage{{"system", "You are terse."}, {"user", "héllo 世界"}}
	const want = "<|im_start|>system\nYou are terse.<|im_end|>\n" +
		"<|im_start|>user\nhéllo 世界<|im_end|>\n<|im_start|>assistant\n"
	cases := []struct {
		prompt bool
		name   string
		want   string
	}{{true, "", want}, {false, "", strings.TrimSuffix(want, "<|im_start|>assistant\n")}, {true, "default", want}}
	for _, c := range cases {
		got, err := m.Render(messages, c.prompt, c.name)
		if err != nil || got != c.want {
			t.Fatalf("render(prompt %v, %q) = %q (%v), want %q", c.prompt, c.name, got, err, c.want)
		}
	}
	const plainWant = "system: You are terse.\nuser: héllo 世界\nassistant:"
	if got, err := m.Render(messages, true, "plain"); got != plainWant || err != nil {
		t.Fatalf("the named template: %q (%v)", got, err)
	}
	if got, err := m.Render(nil, false, ""); got != "" || err != nil {
		t.Fatalf("no messages: %q (%v)", got, err)
	}
	if _, err := m.Render(messages, true, "no_such_template"); !isStatus(err, ErrUnsupported) {
		t.Fatalf("an unknown template: %v", err)
	}
	if _, err := m.NewChatWith(ChatOptions{TemplateName: "no_such_template"}); !isStatus(err, ErrUnsupported) {
		t.Fatalf("a chat on an unknown template: %v", err)
	}
	if _, err := m.Render([]ChatMessage{{"user", "nul\x00inside"}}, true, ""); !isStatus(err, ErrInvalidArg) {
		t.Fatalf("a NUL byte: %v", err)
	}
}

func TestASecondTurnReusesWhatTheSessionHolds(t *testing.T) {
	m := loadChatModel(t)
	c := newChat(t, m)
	mustAdd(t, c, "system", "You are terse.")
	mustAdd(t, c, "user", "Where is the house?")
	sampler := greedySampler(t)
	defer sampler.Close()
	streamed := ""
	first, err := c.Generate(sampler, 12, func(_ int32, text string) bool { streamed += text; return true })
	if err != nil {
		t.Fatal(err)
	}
	s1 := first.Stats
	if s1.GeneratedTokens == 0 || s1.GeneratedTokens > 12 || s1.Restarted || s1.ReusedTokens != 0 ||
		s1.PrefilledTokens != s1.PromptTokens {
		t.Fatalf("first turn: %+v", s1)
	}
	// The prompt is the rendering, tokenized with special tokens and without BOS.
	rendered, _ := m.Render([]ChatMessage{{"system", "You are terse."}, {"user", "Where is the house?"}}, true, "")
	tokens, _ := m.Tokenize(rendered, 2 /* MMB_TOKENIZE_PARSE_SPECIAL */)
	if s1.PromptTokens != uint64(len(tokens)) {
		t.Fatalf("prompt tokens %d, the rendering has %d", s1.PromptTokens, len(tokens))
	}
	if streamed != first.Text {
		t.Fatalf("streamed %q, reply %q", streamed, first.Text)
	}
	if p := position(t, c.Session()); p != s1.PromptTokens+s1.GeneratedTokens {
		t.Fatalf("position %d after %+v", p, s1)
	}
	history, err := c.Messages()
	want := []ChatMessage{{"system", "You are terse."}, {"user", "Where is the house?"}, {"assistant", first.Text}}
	if err != nil || !reflect.DeepEqual(history, want) {
		t.Fatalf("history %q (%v)", history, err)
	}

	mustAdd(t, c, "user", "And the garden?")
	s2 := reply(t, c, 12).Stats
	// Everything the first turn computed, its prompt and its reply, is kept.
	if s2.Restarted || s2.ReusedTokens != s1.PromptTokens+s1.GeneratedTokens || s2.PrefilledTokens == 0 ||
		s2.ReusedTokens+s2.PrefilledTokens != s2.PromptTokens {
		t.Fatalf("second turn %+v after %+v", s2, s1)
	}
	if n, _ := c.MessageCount(); n != 5 {
		t.Fatalf("%d messages", n)
	}
}

func TestAChatOnANamedTemplateRendersWithIt(t *testing.T) {
	m := loadChatModel(t)
	c, err := m.NewChatWith(ChatOptions{TemplateName: "plain"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	mustAdd(t, c, "user", "Hi")
	s := reply(t, c, 4).Stats
	tokens := func(name string) uint64 {
		text, err := m.Render([]ChatMessage{{"user", "Hi"}}, true, name)
		if err != nil {
			t.Fatal(err)
		}
		ids, _ := m.Tokenize(text, 2 /* MMB_TOKENIZE_PARSE_SPECIAL */)
		return uint64(len(ids))
	}
	if s.PromptTokens != tokens("plain") || s.PromptTokens == tokens("") {
		t.Fatalf("prompt tokens %d: plain %d, main %d", s.PromptTokens, tokens("plain"), tokens(""))
	}
}

func TestPrefillComputesOnlyWhatIsNew(t *testing.T) {
	m := loadChatModel(t)
	c := newChat(t, m)
	mustAdd(t, c, "system", "You are a guard at the castle gate.")
	p1, err := c.Prefill()
	if err != nil || p1.PromptTokens == 0 || p1.PrefilledTokens != p1.PromptTokens || p1.ReusedTokens != 0 ||
		p1.GeneratedTokens != 0 {
		t.Fatalf("first prefill %+v (%v)", p1, err)
	}
	p2, err := c.Prefill()
	if err != nil || p2.PrefilledTokens != 0 || p2.ReusedTokens != p1.PromptTokens {
		t.Fatalf("second prefill %+v (%v)", p2, err)
	}
	mustAdd(t, c, "user", "Who goes there?")
	g := reply(t, c, 8).Stats
	if g.ReusedTokens != p1.PromptTokens || g.PrefilledTokens != g.PromptTokens-g.ReusedTokens {
		t.Fatalf("turn %+v after %+v", g, p1)
	}
}

func TestASavedChatContinuesExactlyAsTheOriginal(t *testing.T) {
	m := loadChatModel(t)
	c := newChat(t, m)
	mustAdd(t, c, "system", "You are terse.")
	mustAdd(t, c, "user", "Tell me of the king.")
	reply(t, c, 10)
	state, err := c.SaveState()
	if err != nil {
		t.Fatal(err)
	}
	history, _ := c.Messages()
	mustAdd(t, c, "user", "And the queen?")
	original := reply(t, c, 16)
	c.Close()

	loaded := newChat(t, m)
	mustAdd(t, loaded, "user", "to be replaced")
	if err := loaded.LoadState(state); err != nil {
		t.Fatal(err)
	}
	if got, _ := loaded.Messages(); !reflect.DeepEqual(got, history) {
		t.Fatalf("history after load %q, want %q", got, history)
	}
	mustAdd(t, loaded, "user", "And the queen?")
	if again := reply(t, loaded, 16); again != original {
		t.Fatalf("after load %+v, original %+v", again, original)
	}
	n, _ := loaded.MessageCount()
	if err := loaded.LoadState([]byte("not a chat state")); !isStatus(err, ErrFormat) {
		t.Fatalf("garbage: %v", err)
	}
	if err := loaded.LoadState(state[:len(state)/2]); err == nil {
		t.Fatal("half a state was accepted")
	}
	if n2, _ := loaded.MessageCount(); n2 != n {
		t.Fatalf("%d messages after refused loads, %d before", n2, n)
	}
}

func TestResetEmptiesTheHistoryAndTheSession(t *testing.T) {
	m := loadChatModel(t)
	c := newChat(t, m)
	mustAdd(t, c, "user", "Hello there.")
	reply(t, c, 4)
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	if n, _ := c.MessageCount(); n != 0 || position(t, c.Session()) != 0 {
		t.Fatalf("%d messages after reset", n)
	}
	mustAdd(t, c, "user", "Hello there.")
	if s := reply(t, c, 4).Stats; s.ReusedTokens != 0 || s.Restarted {
		t.Fatalf("a fresh start: %+v", s)
	}
}

func TestAFunctionThatStopsEndsTheReply(t *testing.T) {
	m := loadChatModel(t)
	c := newChat(t, m)
	mustAdd(t, c, "user", "Say something long.")
	sampler := greedySampler(t)
	defer sampler.Close()
	calls := 0
	r, err := c.Generate(sampler, 32, func(int32, string) bool { calls++; return false })
	if err != nil || calls != 1 || r.Stats.GeneratedTokens != 1 {
		t.Fatalf("%d calls, %+v (%v)", calls, r.Stats, err)
	}
	if msg, err := c.Message(1); err != nil || msg.Role != "assistant" {
		t.Fatalf("the reply is not in the history: %+v (%v)", msg, err)
	}
	if _, err := c.Message(2); !isStatus(err, ErrInvalidArg) {
		t.Fatalf("message 2 of 2: %v", err)
	}
}

func TestSteppingTheChatsSessionMakesTheNextTurnStartOver(t *testing.T) {
	m := loadChatModel(t)
	c := newChat(t, m)
	mustAdd(t, c, "user", "Hello there.")
	reply(t, c, 4)
	if err := c.Session().Step(1, nil); err != nil {
		t.Fatal(err)
	}
	mustAdd(t, c, "user", "Again.")
	if s := reply(t, c, 4).Stats; !s.Restarted || s.ReusedTokens != 0 || s.PrefilledTokens != s.PromptTokens {
		t.Fatalf("not restarted: %+v", s)
	}
}

func TestTheChatsSessionGoesWithTheChat(t *testing.T) {
	m := loadChatModel(t)
	c, err := m.NewChatWith(ChatOptions{Session: SessionOptions{MaxContext: 64}})
	if err != nil {
		t.Fatal(err)
	}
	s := c.Session()
	if position(t, s) != 0 {
		t.Fatal("a new chat's session is not at 0")
	}
	s.Close() // only the handle: the chat keeps its session
	mustAdd(t, c, "user", "Hello.")
	reply(t, c, 2)
	c.Close()
	c.Close()
	if _, err := s.Position(); err != ErrClosed {
		t.Fatalf("the session of a closed chat: %v", err)
	}
	if err := c.Add("user", "late"); err != ErrClosed {
		t.Fatalf("a closed chat: %v", err)
	}
}

func TestTheTemplatesRefusalIsErrTemplateWithItsMessage(t *testing.T) {
	_, refused := chatBundlePaths(t)
	m := openModel(t, refused)
	_, err := m.Render([]ChatMessage{{"user", "hi"}}, true, "")
	var e *Error
	if !errors.As(err, &e) || e.Status != ErrTemplate || e.Name != "MMB_ERR_TEMPLATE" ||
		!strings.Contains(e.Message, "roles must alternate") {
		t.Fatalf("render: %v", err)
	}
	c := newChat(t, m)
	mustAdd(t, c, "user", "hi")
	sampler := greedySampler(t)
	defer sampler.Close()
	_, err = c.Generate(sampler, 4, nil)
	if !isStatus(err, ErrTemplate) || !strings.Contains(err.Error(), "roles must alternate") {
		t.Fatalf("generate: %v", err)
	}
	if _, err := c.Prefill(); !isStatus(err, ErrTemplate) {
		t.Fatalf("prefill: %v", err)
	}
	if n, _ := c.MessageCount(); n != 1 || position(t, c.Session()) != 0 {
		t.Fatalf("%d messages: something happened", n)
	}
}
