package moemamba

import (
	"bytes"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// hybridBundlePath is a small hybrid bundle (attention, Mamba-2 and MoE layers; a
// default context of 2048 tokens): MMB_TEST_HYBRID_BUNDLE (the ctest command makes it),
// else one written with `mmb synth --shape small-hybrid` by the CLI of MMB_TEST_CLI.
func hybridBundlePath(t testing.TB) string {
	if p := os.Getenv("MMB_TEST_HYBRID_BUNDLE"); p != "" {
		return p
	}
	cli := os.Getenv("MMB_TEST_CLI")
	if cli == "" {
		t.Fatal("neither MMB_TEST_HYBRID_BUNDLE nor MMB_TEST_CLI is set (run through ctest)")
	}
	p := filepath.Join(t.TempDir(), "small-hybrid.mmb")
	if out, err := exec.Command(cli, "synth", "--shape", "small-hybrid", "--quiet", "-o", p).CombinedOutput(); err != nil {
		t.Fatalf("mmb synth: %v\n%s", err, out)
	}
	return p
}

func loadHybrid(t testing.TB, opts ...RuntimeOption) (*Runtime, *Model) {
	return loadFrom(t, hybridBundlePath(t), opts...)
}

// sessionWith opens a session with options o; the caller closes it.
func sessionWith(t *testing.T, m *Model, o SessionOptions) *Session {
	t.Helper()
	s, err := m.NewSessionWith(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func isStatus(err error, status int) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == status
}

func position(t *testing.T, s *Session) uint64 {
	t.Helper()
	p, err := s.Position()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestModelInfoDescribesAttentionLayers(t *testing.T) {
	rt, m := loadHybrid(t)
	defer rt.Close()
	defer m.Close()
	info, err := m.Info()
	if err != nil {
		t.Fatal(err)
	}
	if info.NAttentionLayers < 1 || info.ContextLength != 2048 || info.KVValuesPerToken == 0 {
		t.Fatalf("small-hybrid: %+v", info)
	}
	tinyRuntime, tiny := loadModel(t)
	defer tinyRuntime.Close()
	defer tiny.Close()
	info, err = tiny.Info()
	if err != nil {
		t.Fatal(err)
	}
	if info.NAttentionLayers != 0 || info.ContextLength != 0 || info.KVValuesPerToken != 0 {
		t.Fatalf("tiny has no attention layers: %+v", info)
	}
}

func TestFullContextRefusesTheNextToken(t *testing.T) {
	rt, m := loadHybrid(t)
	defer rt.Close()
	defer m.Close()
	s := sessionWith(t, m, SessionOptions{MaxContext: 8})
	defer s.Close()
	tokens := []int32{1, 2, 3, 4, 5, 6, 7, 8}
	logits := make([]float32, s.VocabSize())
	if err := s.Prefill(tokens, logits); err != nil {
		t.Fatal(err)
	}
	if p := position(t, s); p != 8 {
		t.Fatalf("position %d after 8 tokens", p)
	}

	err := s.Step(9, nil)
	var e *Error
	if !errors.As(err, &e) || e.Status != ErrContextFull || e.Name != "MMB_ERR_CONTEXT_FULL" || e.Message == "" {
		t.Fatalf("the 9th token: %v", err)
	}
	if err := s.Step(9, logits); !isStatus(err, ErrContextFull) {
		t.Fatalf("the 9th token with logits: %v", err)
	}
	if err := s.Prefill([]int32{9, 10}, nil); !isStatus(err, ErrContextFull) {
		t.Fatalf("a prefill past the context: %v", err)
	}
	if p := position(t, s); p != 8 {
		t.Fatalf("position %d after refused tokens, want 8: nothing consumed", p)
	}

	// After a reset the whole context is there again, and stepping gives what a fresh
	// session gives.
	if err := s.Reset(); err != nil {
		t.Fatal(err)
	}
	if p := position(t, s); p != 0 {
		t.Fatalf("position %d after reset", p)
	}
	afterReset := make([]float32, s.VocabSize())
	if err := s.Step(1, afterReset); err != nil {
		t.Fatal(err)
	}
	fresh, err := m.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	want := make([]float32, s.VocabSize())
	if err := fresh.Step(1, want); err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if math.Abs(float64(afterReset[i]-want[i])) > 1e-5*math.Max(1, math.Abs(float64(want[i]))) {
			t.Fatalf("logit %d after reset: %v vs %v", i, afterReset[i], want[i])
		}
	}
	if err := s.Prefill(tokens[1:], nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Step(9, nil); !isStatus(err, ErrContextFull) {
		t.Fatalf("the 9th token after reset: %v", err)
	}

	// A prefill that would cross the limit is refused whole.
	short := sessionWith(t, m, SessionOptions{MaxContext: 8})
	defer short.Close()
	if err := short.Prefill(append(tokens, 9), nil); !isStatus(err, ErrContextFull) {
		t.Fatalf("9 tokens into 8: %v", err)
	}
	if p := position(t, short); p != 0 {
		t.Fatalf("position %d after a refused prefill", p)
	}
}

func TestDefaultContextIsTheModels(t *testing.T) {
	rt, m := loadHybrid(t)
	defer rt.Close()
	defer m.Close()
	info, _ := m.Info()
	s, err := m.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tokens := make([]int32, info.ContextLength)
	for i := range tokens {
		tokens[i] = int32(i % 256)
	}
	if err := s.Prefill(tokens, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Step(1, nil); !isStatus(err, ErrContextFull) {
		t.Fatalf("token %d: %v", info.ContextLength+1, err)
	}
	if p := position(t, s); p != 2048 {
		t.Fatalf("position %d", p)
	}
}

func TestGenerationStopsAtTheContextLimit(t *testing.T) {
	rt, m := loadHybrid(t)
	defer rt.Close()
	defer m.Close()
	s := sessionWith(t, m, SessionOptions{MaxContext: 8})
	defer s.Close()
	sampler := greedySampler(t)
	defer sampler.Close()
	n := 0
	err := s.Generate(sampler, "abcd", 16, func(int32, string) bool { n++; return true })
	if !isStatus(err, ErrContextFull) {
		t.Fatalf("generating past the context: %v", err)
	}
	if p := position(t, s); p != 8 || n != 4 {
		t.Fatalf("position %d after %d tokens, want 8 after 4: each token passed on entered the state", p, n)
	}
}

func TestAPromptPastTheContextIsRefusedAtSubmit(t *testing.T) {
	rt, m := loadHybrid(t, WithJobMode(JobsFrame)) // jobs advance in frames: Job.Wait does the work
	defer rt.Close()
	defer m.Close()
	s := sessionWith(t, m, SessionOptions{MaxContext: 8})
	defer s.Close()
	o := DefaultJobOptions()
	o.OnEvent = func(JobEvent) {}
	j, err := s.SubmitTokens(nil, []int32{1, 2, 3, 4, 5, 6, 7, 8, 9}, o)
	var e *Error
	if j != nil || !errors.As(err, &e) || e.Status != ErrContextFull || !strings.Contains(e.Message, "context") {
		t.Fatalf("submitting 9 tokens to a context of 8: job %v, error %v", j, err)
	}
	if p := position(t, s); p != 0 {
		t.Fatalf("position %d: nothing is submitted", p)
	}
	if err := s.Step(1, nil); err != nil { // not busy: no job holds the session
		t.Fatalf("a step after the refused submit: %v", err)
	}
	if p := position(t, s); p != 1 {
		t.Fatalf("position %d after one step", p)
	}
}

func TestJobPastTheContextFailsWithContextFull(t *testing.T) {
	rt, m := loadHybrid(t, WithJobMode(JobsFrame)) // jobs advance in frames: Job.Wait does the work
	defer rt.Close()
	defer m.Close()
	s := sessionWith(t, m, SessionOptions{MaxContext: 8})
	defer s.Close()
	sampler := greedySampler(t)
	defer sampler.Close()
	o := DefaultJobOptions()
	o.MaxTokens = 16
	o.StopAtEOS = false
	var message string
	o.OnEvent = func(e JobEvent) {
		if e.Kind == EventError {
			message = e.Text
		}
	}
	prompt := []int32{1, 2, 3, 4}
	j, err := s.SubmitTokens(sampler, prompt, o)
	if err != nil {
		t.Fatal(err)
	}
	if done, err := j.Wait(time.Minute); !done || err != nil {
		t.Fatalf("wait: %v %v", done, err)
	}
	if _, err := j.Poll(); err != nil || !j.Finished() {
		t.Fatalf("poll: %v, state %v", err, j.State())
	}
	if !isStatus(j.Err(), ErrContextFull) || !strings.Contains(message, "context") {
		t.Fatalf("job: %v (event text %q)", j.Err(), message)
	}
	tokens, err := j.ReadTokens()
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
	if len(tokens) != 4 {
		t.Fatalf("tokens %v: 4 prompt tokens and 4 more fill the context", tokens)
	}
	if p := position(t, s); p != 8 {
		t.Fatalf("position %d, want 8", p)
	}
	state, err := s.SaveState()
	if err != nil {
		t.Fatal(err)
	}

	// Every emitted token entered the state: the prompt and then each token, stepped
	// into a fresh session as the job does, give the same state, and each token is the
	// greedy choice after the ones before it.
	fresh := sessionWith(t, m, SessionOptions{MaxContext: 8})
	defer fresh.Close()
	logits := make([]float32, fresh.VocabSize())
	if err := fresh.Prefill(prompt, logits); err != nil {
		t.Fatal(err)
	}
	for i, token := range tokens {
		if want := argmax(logits); token != want {
			t.Fatalf("token %d is %d, the greedy choice is %d", i, token, want)
		}
		if err := fresh.Step(token, logits); err != nil {
			t.Fatal(err)
		}
	}
	want, err := fresh.SaveState()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(state, want) {
		t.Fatalf("the job's state (%d bytes) differs from the prompt and its 4 tokens stepped into a fresh session (%d bytes)",
			len(state), len(want))
	}
}

func TestF32KVCacheGivesTheLogitsOfF16(t *testing.T) {
	rt, m := loadHybrid(t)
	defer rt.Close()
	defer m.Close()
	tokens, err := m.Tokenize("The quick brown fox jumps over the lazy dog.", 0)
	if err != nil {
		t.Fatal(err)
	}
	logitsWith := func(o SessionOptions) []float32 {
		s, err := m.NewSessionWith(o)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		logits := make([]float32, s.VocabSize())
		if err := s.Prefill(tokens, nil); err != nil {
			t.Fatal(err)
		}
		if err := s.Step('!', logits); err != nil {
			t.Fatal(err)
		}
		return logits
	}
	f16 := logitsWith(SessionOptions{KVType: KVF16})
	f32 := logitsWith(SessionOptions{KVType: KVF32})
	def := logitsWith(SessionOptions{})
	scale := 1e-30
	for i := range f16 {
		if def[i] != f16[i] {
			t.Fatalf("logit %d: the default %v vs f16 %v", i, def[i], f16[i])
		}
		scale = math.Max(scale, math.Abs(float64(f16[i])))
	}
	for i := range f16 {
		if math.Abs(float64(f32[i]-f16[i])) > 1e-2*scale {
			t.Fatalf("logit %d: f32 %v vs f16 %v (scale %v)", i, f32[i], f16[i], scale)
		}
	}
	if argmax(f32) != argmax(f16) {
		t.Fatalf("argmax f32 %d vs f16 %d", argmax(f32), argmax(f16))
	}
}

func TestSessionOptionsAreCheckedAndIgnoredWithoutAttention(t *testing.T) {
	rt, m := loadHybrid(t)
	defer rt.Close()
	defer m.Close()
	var e *Error
	if _, err := m.NewSessionWith(SessionOptions{MaxContext: 1<<24 + 1}); !errors.As(err, &e) ||
		e.Status != ErrInvalidArg || !strings.Contains(e.Message, "max_context") {
		t.Fatalf("max_context 2^24+1: %v", err)
	}
	if _, err := m.NewSessionWith(SessionOptions{KVType: 7}); !errors.As(err, &e) ||
		e.Status != ErrInvalidArg || !strings.Contains(e.Message, "kv_type") {
		t.Fatalf("kv_type 7: %v", err)
	}
	if KVF16.String() != "f16" || KVF32.String() != "f32" || KVType(7).String() != "kv(7)" {
		t.Fatalf("names: %v %v %v", KVF16, KVF32, KVType(7))
	}

	// A pure-Mamba model has no context limit: the options change nothing.
	tinyRuntime, tiny := loadModel(t)
	defer tinyRuntime.Close()
	defer tiny.Close()
	limited, err := tiny.NewSessionWith(SessionOptions{MaxContext: 8, KVType: KVF32})
	if err != nil {
		t.Fatal(err)
	}
	defer limited.Close()
	plain, err := tiny.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	tokens := []int32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	got := make([]float32, limited.VocabSize())
	want := make([]float32, plain.VocabSize())
	if err := limited.Prefill(tokens, got); err != nil {
		t.Fatal(err)
	}
	if err := plain.Prefill(tokens, want); err != nil {
		t.Fatal(err)
	}
	if p := position(t, limited); p != 12 {
		t.Fatalf("position %d", p)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("logit %d: %v vs %v", i, got[i], want[i])
		}
	}
}
