package moemamba

import (
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// The ctest command makes the bundle with `mmb synth --shape tiny` and passes its path
// and the mmb CLI's path in the environment.
func bundlePath(t testing.TB) string {
	p := os.Getenv("MMB_TEST_BUNDLE")
	if p == "" {
		t.Fatal("MMB_TEST_BUNDLE is not set (run through ctest)")
	}
	return p
}

// loadFrom loads the bundle at path into a new one-thread runtime.
func loadFrom(t testing.TB, path string, opts ...RuntimeOption) (*Runtime, *Model) {
	rt, err := NewRuntime(1, opts...)
	if err != nil {
		t.Fatal(err)
	}
	m, err := rt.LoadFile(path)
	if err != nil {
		rt.Close()
		t.Fatal(err)
	}
	return rt, m
}

func loadModel(t testing.TB, opts ...RuntimeOption) (*Runtime, *Model) {
	return loadFrom(t, bundlePath(t), opts...)
}

// greedySampler samples at temperature 0: always the argmax.
func greedySampler(t testing.TB) *Sampler {
	sp, err := DefaultSamplerParams()
	if err != nil {
		t.Fatal(err)
	}
	sp.Temperature = 0
	sampler, err := NewSampler(sp)
	if err != nil {
		t.Fatal(err)
	}
	return sampler
}

func argmax(l []float32) int32 {
	best := 0
	for i := range l {
		if l[i] > l[best] {
			best = i
		}
	}
	return int32(best)
}

func TestLoadFileAndMemory(t *testing.T) {
	rt, m := loadModel(t)
	defer rt.Close()
	defer m.Close()
	info, err := m.Info()
	if err != nil {
		t.Fatal(err)
	}
	if info.VocabSize != 256 {
		t.Fatalf("vocab %d, want 256", info.VocabSize)
	}
	if info.NMambaLayers == 0 || info.NMoeLayers == 0 || info.StateBytes == 0 {
		t.Fatalf("tiny should have every layer kind and a state: %+v", info)
	}
	data, err := os.ReadFile(bundlePath(t))
	if err != nil {
		t.Fatal(err)
	}
	m2, err := rt.LoadMemory(data)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	info2, _ := m2.Info()
	if info2.Fingerprint != info.Fingerprint {
		t.Fatalf("fingerprints differ: %x vs %x", info2.Fingerprint, info.Fingerprint)
	}
}

func TestUTF8RoundTrip(t *testing.T) {
	rt, m := loadModel(t)
	defer rt.Close()
	defer m.Close()
	text := "héllo 世界"
	toks, err := m.Tokenize(text, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(toks) != len(text) {
		t.Fatalf("byte tokenizer gave %d tokens for %d bytes", len(toks), len(text))
	}
	d, err := m.NewDetokenizer()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	out := ""
	for _, tok := range toks {
		piece, err := d.Push(tok)
		if err != nil {
			t.Fatal(err)
		}
		if !utf8.ValidString(piece) {
			t.Fatalf("piece %q is not whole characters", piece)
		}
		out += piece
	}
	rest, err := d.Flush()
	if err != nil {
		t.Fatal(err)
	}
	if out+rest != text {
		t.Fatalf("round trip %q, want %q", out+rest, text)
	}
}

func TestGreedyMatchesStepLoopAndCLI(t *testing.T) {
	rt, m := loadModel(t)
	defer rt.Close()
	defer m.Close()
	const prompt = "hello"
	const n = 12
	sampler := greedySampler(t)
	defer sampler.Close()
	s, _ := m.NewSession()
	defer s.Close()
	var genToks []int32
	genText := ""
	if err := s.Generate(sampler, prompt, n, func(tok int32, text string) bool {
		genToks = append(genToks, tok)
		genText += text
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if len(genToks) == 0 {
		t.Fatal("no tokens generated")
	}

	// The same by hand: prefill the prompt, then argmax over the logits.
	info, _ := m.Info()
	s2, _ := m.NewSession()
	defer s2.Close()
	toks, _ := m.Tokenize(prompt, 1 /* MMB_TOKENIZE_ADD_BOS */)
	logits := make([]float32, s2.VocabSize())
	if err := s2.Prefill(toks, logits); err != nil {
		t.Fatal(err)
	}
	var loopToks []int32
	for i := 0; i < n; i++ {
		tok := argmax(logits)
		if int(tok) == info.EosID {
			break
		}
		loopToks = append(loopToks, tok)
		if err := s2.Step(tok, logits); err != nil {
			t.Fatal(err)
		}
	}
	if len(loopToks) != len(genToks) {
		t.Fatalf("step loop %v, generate %v", loopToks, genToks)
	}
	for i := range loopToks {
		if loopToks[i] != genToks[i] {
			t.Fatalf("step loop %v, generate %v", loopToks, genToks)
		}
	}

	cli := os.Getenv("MMB_TEST_CLI")
	if cli == "" {
		t.Fatal("MMB_TEST_CLI is not set (run through ctest)")
	}
	out, err := exec.Command(cli, "generate", bundlePath(t), "--prompt", prompt, "--temp", "0",
		"--max-tokens", "12", "--threads", "1").Output()
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != genText {
		t.Fatalf("mmb generate printed %q, the binding %q", out, genText)
	}

	// Streaming over a channel gives the same text.
	s3, _ := m.NewSession()
	defer s3.Close()
	texts, errs := s3.Stream(sampler, prompt, n)
	streamed := ""
	for piece := range texts {
		streamed += piece
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	if streamed != genText {
		t.Fatalf("stream %q, generate %q", streamed, genText)
	}
}

func TestPrefillEqualsSteps(t *testing.T) {
	rt, m := loadModel(t)
	defer rt.Close()
	defer m.Close()
	toks, _ := m.Tokenize("the quick brown fox", 0)
	a, _ := m.NewSession()
	defer a.Close()
	b, _ := m.NewSession()
	defer b.Close()
	la := make([]float32, a.VocabSize())
	lb := make([]float32, b.VocabSize())
	if err := a.Prefill(toks, la); err != nil {
		t.Fatal(err)
	}
	for _, tok := range toks {
		if err := b.Step(tok, lb); err != nil {
			t.Fatal(err)
		}
	}
	for i := range la {
		diff := math.Abs(float64(la[i] - lb[i]))
		if diff > 1e-5*math.Max(1, math.Abs(float64(lb[i]))) {
			t.Fatalf("logit %d: prefill %g, steps %g", i, la[i], lb[i])
		}
	}
	pos, _ := a.Position()
	if pos != uint64(len(toks)) {
		t.Fatalf("position %d, want %d", pos, len(toks))
	}
}

func TestStateSaveLoadFork(t *testing.T) {
	rt, m := loadModel(t)
	defer rt.Close()
	defer m.Close()
	toks, _ := m.Tokenize("abc", 0)
	s, _ := m.NewSession()
	defer s.Close()
	if err := s.Prefill(toks, nil); err != nil {
		t.Fatal(err)
	}
	state, err := s.SaveState()
	if err != nil {
		t.Fatal(err)
	}
	fork, err := s.Fork()
	if err != nil {
		t.Fatal(err)
	}
	defer fork.Close()
	want := make([]float32, s.VocabSize())
	if err := s.Step('d', want); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, s.VocabSize())
	if err := fork.Step('d', got); err != nil {
		t.Fatal(err)
	}
	fresh, _ := m.NewSession()
	defer fresh.Close()
	if err := fresh.LoadState(state); err != nil {
		t.Fatal(err)
	}
	got2 := make([]float32, s.VocabSize())
	if err := fresh.Step('d', got2); err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if got[i] != want[i] || got2[i] != want[i] {
			t.Fatalf("logit %d: original %g, fork %g, loaded %g", i, want[i], got[i], got2[i])
		}
	}
	if err := fresh.LoadState(state[:len(state)/2]); err == nil {
		t.Fatal("a truncated state loaded")
	}
}

func TestErrors(t *testing.T) {
	rt, m := loadModel(t)
	defer rt.Close()
	defer m.Close()
	var e *Error
	_, err := rt.LoadFile(filepath.Join(t.TempDir(), "missing.mmb"))
	if !errors.As(err, &e) || e.Status != ErrIO || e.Message == "" {
		t.Fatalf("missing file: %v", err)
	}
	_, err = rt.LoadMemory([]byte("not a bundle at all"))
	if !errors.As(err, &e) || e.Status != ErrFormat || e.Message == "" {
		t.Fatalf("garbage bundle: %v", err)
	}
	s, _ := m.NewSession()
	err = s.Step(100000, nil)
	if !errors.As(err, &e) || e.Status != ErrInvalidArg || e.Message == "" {
		t.Fatalf("bad token: %v", err)
	}
	s.Close()
	s.Close()
	if err := s.Step(1, nil); err != ErrClosed {
		t.Fatalf("step after close: %v", err)
	}
	m.Close()
	if _, err := m.Info(); err != ErrClosed {
		t.Fatalf("info after close: %v", err)
	}
}

func TestManySessionsOnGoroutines(t *testing.T) {
	rt, m := loadModel(t)
	defer rt.Close()
	defer m.Close()
	toks, _ := m.Tokenize("shared model, own sessions", 0)
	ref, _ := m.NewSession()
	want := make([]float32, ref.VocabSize())
	if err := ref.Prefill(toks, want); err != nil {
		t.Fatal(err)
	}
	ref.Close()
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := m.NewSession()
			if err != nil {
				errs <- err.Error()
				return
			}
			defer s.Close()
			got := make([]float32, s.VocabSize())
			for _, tok := range toks {
				if err := s.Step(tok, got); err != nil {
					errs <- err.Error()
					return
				}
			}
			for i := range got {
				if math.Abs(float64(got[i]-want[i])) > 1e-5*math.Max(1, math.Abs(float64(want[i]))) {
					errs <- "logits differ between goroutines"
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

// TestStepOverhead prints the cost per step of the wrapper against a bare cgo call.
func TestStepOverhead(t *testing.T) {
	rt, m := loadModel(t)
	defer rt.Close()
	defer m.Close()
	s, _ := m.NewSession()
	defer s.Close()
	const n = 2000
	for i := 0; i < 200; i++ { // warm up caches
		s.Step(int32(i%256), nil)
	}
	// Best of five interleaved rounds, so both see the same machine load.
	wrapped, bare := time.Duration(math.MaxInt64), time.Duration(math.MaxInt64)
	for round := 0; round < 5; round++ {
		start := time.Now()
		for i := 0; i < n; i++ {
			if err := s.Step(int32(i%256), nil); err != nil {
				t.Fatal(err)
			}
		}
		if d := time.Since(start); d < wrapped {
			wrapped = d
		}
		if d := bareSteps(s, n); d < bare {
			bare = d
		}
	}
	t.Logf("step x%d: binding %.2f us/call, bare cgo %.2f us/call, overhead %.2f us/call",
		n, float64(wrapped.Nanoseconds())/1e3/n, float64(bare.Nanoseconds())/1e3/n,
		float64((wrapped-bare).Nanoseconds())/1e3/n)
}

// The test machines have no NVIDIA driver: the CPU is the only backend there.
func TestCPURuntimeDescribesTheCPU(t *testing.T) {
	rt, err := NewRuntime(3, WithBackend(BackendCPU))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	want := BackendInfo{Backend: BackendCPU, NThreads: 3, DeviceIndex: -1, DeviceName: "CPU"}
	info, err := rt.BackendInfo()
	if err != nil || info != want {
		t.Fatalf("BackendInfo() = %+v, %v; want %+v", info, err, want)
	}
	m, err := rt.LoadFile(bundlePath(t))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if info, err = rt.BackendInfo(); err != nil || info != want {
		t.Fatalf("with a model loaded: %+v, %v; want %+v", info, err, want)
	}
	if info.Backend.String() != "cpu" {
		t.Fatalf("Backend.String() = %q", info.Backend.String())
	}
	rt.Close()
	if _, err := rt.BackendInfo(); err != ErrClosed {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
}

func TestAutoFallsBackToTheCPU(t *testing.T) {
	rt, err := NewRuntime(2)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	info, err := rt.BackendInfo()
	want := BackendInfo{Backend: BackendCPU, NThreads: 2, DeviceIndex: -1, DeviceName: "CPU"}
	if err != nil || info != want {
		t.Fatalf("BackendInfo() = %+v, %v; want %+v", info, err, want)
	}
}

func TestCUDAWithoutADriverIsABackendError(t *testing.T) {
	rt, err := NewRuntime(1, WithBackend(BackendCUDA))
	if err == nil {
		rt.Close()
		t.Fatal("a CUDA runtime was created on a machine without the driver")
	}
	var e *Error
	if !errors.As(err, &e) || e.Status != ErrBackend || e.Name != "MMB_ERR_BACKEND" {
		t.Fatalf("got %v, want ErrBackend", err)
	}
	if !strings.Contains(e.Message, "NVIDIA driver") {
		t.Fatalf("the message does not name the driver: %q", e.Message)
	}
}

func TestNegativeDeviceIndexIsRefused(t *testing.T) {
	for _, b := range []Backend{BackendCPU, BackendAuto, BackendCUDA} {
		rt, err := NewRuntime(1, WithBackend(b), WithDeviceIndex(-1))
		if err == nil {
			rt.Close()
			t.Fatalf("%v: device index -1 was accepted", b)
		}
		var e *Error
		if !errors.As(err, &e) || e.Status != ErrInvalidArg || !strings.Contains(e.Message, "device_index") {
			t.Fatalf("%v: got %v, want an invalid argument naming device_index", b, err)
		}
	}
}
