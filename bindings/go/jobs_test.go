package moemamba

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// Jobs, frames, events and session paging through the real library and a real bundle.
// Every job's output is compared with the blocking Generate of the same seed on a fresh
// session: a job must produce exactly what mmb_generate produces.

const jobPrompt = "The innkeeper leans over the counter and says: "

// Full-distribution sampling, so that any drift in state or RNG shows in the text.
func seededSampler(t testing.TB, seed uint64) *Sampler {
	sp, err := DefaultSamplerParams()
	if err != nil {
		t.Fatal(err)
	}
	sp.Temperature, sp.TopK, sp.TopP, sp.MinP, sp.Seed = 1, 0, 1, 0, seed
	s, err := NewSampler(sp)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type blockingRun struct {
	tokens []int32
	text   string
	state  []byte
}

// generateOn runs the blocking Generate on s (which stops at EOS, as the jobs below do).
func generateOn(t testing.TB, s *Session, seed uint64, prompt string, n int) blockingRun {
	sampler := seededSampler(t, seed)
	defer sampler.Close()
	var run blockingRun
	err := s.Generate(sampler, prompt, n, func(tok int32, text string) bool {
		if tok >= 0 {
			run.tokens = append(run.tokens, tok)
		}
		run.text += text
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if run.state, err = s.SaveState(); err != nil {
		t.Fatal(err)
	}
	return run
}

func blockingGenerate(t testing.TB, seed uint64, prompt string, n int) blockingRun {
	rt, m := loadModel(t)
	defer rt.Close()
	defer m.Close()
	s, err := m.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	return generateOn(t, s, seed, prompt, n)
}

func jobOptions(n int) JobOptions {
	o := DefaultJobOptions()
	o.MaxTokens = n
	return o
}

// drain polls a job until it finishes, calling rt.Frame first when rt is not nil.
func drain(t testing.TB, j *Job, rt *Runtime) (string, []int32) {
	text := ""
	for !j.Finished() {
		if rt != nil {
			if _, err := rt.Frame(500 * time.Microsecond); err != nil {
				t.Fatal(err)
			}
		} else {
			time.Sleep(time.Millisecond)
		}
		piece, err := j.Poll()
		if err != nil {
			t.Fatal(err)
		}
		text += piece
	}
	tokens, err := j.ReadTokens()
	if err != nil {
		t.Fatal(err)
	}
	return text, tokens
}

func equalTokens(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestJobTextEqualsGenerateInEveryMode(t *testing.T) {
	want := blockingGenerate(t, 42, jobPrompt, 40)
	host := func(task func()) { go task() }
	modes := map[string][]RuntimeOption{
		"worker": {WithJobMode(JobsWorker)},
		"frame":  {WithJobMode(JobsFrame)},
		"host":   {WithHostTasks(host)},
	}
	for name, opts := range modes {
		t.Run(name, func(t *testing.T) {
			rt, m := loadModel(t, opts...)
			defer rt.Close()
			defer m.Close()
			s, _ := m.NewSession()
			defer s.Close()
			sampler := seededSampler(t, 42)
			j, err := s.Submit(sampler, jobPrompt, jobOptions(40))
			if err != nil {
				t.Fatal(err)
			}
			sampler.Close() // the job samples with its own copy
			var frameRT *Runtime
			if name == "frame" {
				frameRT = rt
			}
			text, tokens := drain(t, j, frameRT)
			if err := j.Err(); err != nil {
				t.Fatal(err)
			}
			j.Close()
			if text != want.text || !equalTokens(tokens, want.tokens) {
				t.Fatalf("job %q %v, generate %q %v", text, tokens, want.text, want.tokens)
			}
			state, _ := s.SaveState()
			if !bytes.Equal(state, want.state) {
				t.Fatal("the session does not continue where Generate's does")
			}
		})
	}
}

func TestFramesAdvanceJobsWithStatsThatAddUp(t *testing.T) {
	const nJobs, nTokens = 4, 20
	rt, m := loadModel(t, WithJobMode(JobsFrame))
	defer rt.Close()
	defer m.Close()
	events := make([][]JobEvent, nJobs)
	jobs := make([]*Job, nJobs)
	prompts := make([]string, nJobs)
	for i := range jobs {
		prompts[i] = fmt.Sprintf("%s%d", jobPrompt, i)
		s, _ := m.NewSession()
		defer s.Close()
		sampler := seededSampler(t, uint64(100+i))
		defer sampler.Close()
		o := jobOptions(nTokens)
		i := i
		o.OnEvent = func(ev JobEvent) { events[i] = append(events[i], ev) }
		var err error
		if jobs[i], err = s.Submit(sampler, prompts[i], o); err != nil {
			t.Fatal(err)
		}
		defer jobs[i].Close()
	}
	var frames []FrameStats
	for {
		st, err := rt.Frame(100 * time.Microsecond)
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, st)
		if st.JobsActive == 0 {
			break
		}
		if len(frames) > 100000 {
			t.Fatal("the jobs never finish")
		}
	}
	if len(frames) < 3 {
		t.Fatalf("the work should spread over several frames, took %d", len(frames))
	}
	var sum FrameStats
	for _, f := range frames {
		sum.Steps += f.Steps
		sum.TokensGenerated += f.TokensGenerated
		sum.PromptTokens += f.PromptTokens
		sum.JobsFinished += f.JobsFinished
		sum.Events += f.Events
	}
	var promptTokens, eventCount, generated uint64
	for i := range jobs {
		toks, _ := m.Tokenize(prompts[i], 1 /* MMB_TOKENIZE_ADD_BOS */)
		promptTokens += uint64(len(toks))
		eventCount += uint64(len(events[i]))
		text, err := jobs[i].Poll()
		if err != nil || !jobs[i].Finished() {
			t.Fatalf("job %d: finished %v, %v", i, jobs[i].Finished(), err)
		}
		last := events[i][len(events[i])-1]
		if last.Kind != EventFinished || last.Status != OK {
			t.Fatalf("job %d: last event %+v", i, last)
		}
		evText := ""
		var evTokens []int32
		for _, ev := range events[i] {
			if ev.Kind == EventToken {
				evText += ev.Text
				if ev.Token >= 0 {
					evTokens = append(evTokens, ev.Token)
				}
			}
		}
		generated += uint64(len(evTokens))
		want := blockingGenerate(t, uint64(100+i), prompts[i], nTokens)
		if evText != text || text != want.text || !equalTokens(evTokens, want.tokens) {
			t.Fatalf("job %d: events %q, poll %q, generate %q", i, evText, text, want.text)
		}
	}
	if sum.TokensGenerated != generated || sum.PromptTokens != promptTokens || sum.JobsFinished != nJobs ||
		uint64(sum.Events) != eventCount {
		t.Fatalf("frame sums %+v; tokens %d, prompt tokens %d, events %d", sum, generated, promptTokens, eventCount)
	}
	if uint64(sum.Steps) >= sum.TokensGenerated {
		t.Fatalf("%d units for %d tokens: generating jobs should share batched steps", sum.Steps, sum.TokensGenerated)
	}
}

func TestCancelMidwayLeavesTheSessionUsable(t *testing.T) {
	rt, m := loadModel(t, WithJobMode(JobsFrame))
	defer rt.Close()
	defer m.Close()
	s, _ := m.NewSession()
	defer s.Close()
	sampler := seededSampler(t, 3)
	defer sampler.Close()
	o := jobOptions(200)
	o.StopAtEOS = false // so that only the cancel ends it
	j, err := s.Submit(sampler, jobPrompt, o)
	if err != nil {
		t.Fatal(err)
	}
	var tokens []int32
	for len(tokens) < 5 {
		rt.Frame(200 * time.Microsecond)
		j.Poll()
		more, _ := j.ReadTokens()
		tokens = append(tokens, more...)
	}
	var e *Error
	if err := s.Step(1, nil); !errors.As(err, &e) || e.Status != ErrBusy {
		t.Fatalf("a step during a job: %v", err)
	}
	if err := j.Cancel(); err != nil {
		t.Fatal(err)
	}
	if err := j.Cancel(); err != nil { // twice: nothing more happens
		t.Fatal(err)
	}
	j.Poll()
	more, _ := j.ReadTokens()
	tokens = append(tokens, more...)
	if !j.Finished() || !errors.As(j.Err(), &e) || e.Status != ErrCancelled {
		t.Fatalf("with no thread advancing it, a cancelled job ends at once: %v %v", j.Finished(), j.Err())
	}
	j.Close()
	if len(tokens) >= 200 {
		t.Fatal("the job was not cut short")
	}
	// Every emitted token entered the state: the session continues from there exactly
	// as a fresh session given the same state.
	promptTokens, _ := m.Tokenize(jobPrompt, 1)
	if pos, _ := s.Position(); pos != uint64(len(promptTokens)+len(tokens)) {
		t.Fatalf("position %d after %d prompt and %d emitted tokens", pos, len(promptTokens), len(tokens))
	}
	state, _ := s.SaveState()
	fresh, _ := m.NewSession()
	defer fresh.Close()
	if err := fresh.LoadState(state); err != nil {
		t.Fatal(err)
	}
	a, b := generateOn(t, s, 9, "more", 8), generateOn(t, fresh, 9, "more", 8)
	if a.text != b.text || !equalTokens(a.tokens, b.tokens) {
		t.Fatalf("continued %q, fresh %q", a.text, b.text)
	}

	// With the background worker a cancel from another goroutine races the work:
	// either way the job ends and the session is free again.
	rt2, m2 := loadModel(t)
	defer rt2.Close()
	defer m2.Close()
	s2, _ := m2.NewSession()
	defer s2.Close()
	j2, err := s2.Submit(sampler, strings.Repeat(jobPrompt, 12), jobOptions(64))
	if err != nil {
		t.Fatal(err)
	}
	go j2.Cancel()
	if done, err := j2.Wait(time.Minute); !done || err != nil {
		t.Fatalf("wait: %v %v", done, err)
	}
	j2.Poll()
	if err := j2.Err(); err != nil && (!errors.As(err, &e) || e.Status != ErrCancelled) {
		t.Fatal(err)
	}
	j2.Close()
	if err := s2.Step(1, nil); err != nil {
		t.Fatal(err)
	}
}

func TestPagingUnderAOneSessionBudgetIsTransparent(t *testing.T) {
	rt0, m0 := loadModel(t)
	one, _ := m0.NewSession()
	mem, err := rt0.SessionMemory()
	if err != nil || mem.ResidentBytes == 0 {
		t.Fatalf("%+v %v", mem, err)
	}
	perSession := mem.ResidentBytes
	one.Close()
	m0.Close()
	rt0.Close()
	prompts := []string{"first speaker: ", "second speaker, longer: "}
	want := []blockingRun{blockingGenerate(t, 20, prompts[0], 16), blockingGenerate(t, 21, prompts[1], 16)}
	for _, mode := range []int{JobsWorker, JobsFrame} {
		rt, m := loadModel(t, WithJobMode(mode), WithSessionMemoryBudget(perSession))
		// Both sessions first: with room for one, the second pages the idle first out
		// (a session with a running job could not be, and the creation would fail).
		var sessions []*Session
		var jobs []*Job
		for range prompts {
			s, err := m.NewSession()
			if err != nil {
				t.Fatal(err)
			}
			sessions = append(sessions, s)
		}
		for i, p := range prompts {
			sampler := seededSampler(t, uint64(20+i))
			j, err := sessions[i].Submit(sampler, p, jobOptions(16))
			sampler.Close()
			if err != nil {
				t.Fatal(err)
			}
			jobs = append(jobs, j)
		}
		texts := make([]string, len(jobs))
		for !jobs[0].Finished() || !jobs[1].Finished() {
			if mode == JobsFrame {
				rt.Frame(time.Millisecond)
			} else {
				time.Sleep(time.Millisecond)
			}
			for i, j := range jobs {
				piece, err := j.Poll()
				if err != nil {
					t.Fatal(err)
				}
				texts[i] += piece
			}
		}
		for i, j := range jobs {
			tokens, _ := j.ReadTokens()
			if texts[i] != want[i].text || !equalTokens(tokens, want[i].tokens) {
				t.Fatalf("mode %d job %d: %q, unbudgeted %q", mode, i, texts[i], want[i].text)
			}
			j.Close()
		}
		mem, _ := rt.SessionMemory()
		if mem.Sessions != 2 || mem.BudgetBytes != perSession || mem.ResidentBytes > perSession ||
			mem.PageOuts == 0 {
			t.Fatalf("mode %d: %+v with a budget of %d", mode, mem, perSession)
		}
		for i, s := range sessions {
			if state, _ := s.SaveState(); !bytes.Equal(state, want[i].state) {
				t.Fatalf("mode %d: session %d differs from the unbudgeted one", mode, i)
			}
		}
		// Both states were read with room for one session: one came back in (not
		// earlier: the first job may end before the second starts).
		if mem, _ := rt.SessionMemory(); mem.PageIns == 0 {
			t.Fatalf("mode %d: no page-in after reading both states: %+v", mode, mem)
		}
		if err := sessions[0].PageOut(); err != nil {
			t.Fatal(err)
		}
		if err := sessions[0].PageOut(); err != nil { // already out: nothing to do
			t.Fatal(err)
		}
		if mem, _ := rt.SessionMemory(); mem.PagedSessions == 0 || mem.PagedBytes == 0 {
			t.Fatalf("after PageOut: %+v", mem)
		}
		for _, s := range sessions {
			s.Close()
		}
		m.Close()
		rt.Close()
	}
	rt, m := loadModel(t, WithSessionMemoryBudget(64))
	defer rt.Close()
	defer m.Close()
	var e *Error
	if _, err := m.NewSession(); !errors.As(err, &e) || e.Status != ErrBudget {
		t.Fatalf("a session above the budget: %v", err)
	}
}

func TestJobMisuseGivesErrors(t *testing.T) {
	rt, m := loadModel(t)
	defer rt.Close()
	defer m.Close()
	s, _ := m.NewSession()
	defer s.Close()
	sampler := seededSampler(t, 1)
	defer sampler.Close()
	j, err := s.Submit(sampler, strings.Repeat(jobPrompt, 20), jobOptions(200))
	if err != nil {
		t.Fatal(err)
	}
	var e *Error
	if _, err := s.Submit(sampler, "x", jobOptions(4)); !errors.As(err, &e) || e.Status != ErrBusy {
		t.Fatalf("a second job on a busy session: %v", err)
	}
	if err := s.PageOut(); !errors.As(err, &e) || e.Status != ErrBusy {
		t.Fatalf("paging out a busy session: %v", err)
	}
	j.Close()
	j.Close()
	if _, err := j.Poll(); err != ErrClosed {
		t.Fatalf("poll after close: %v", err)
	}
	if err := j.Cancel(); err != ErrClosed {
		t.Fatalf("cancel after close: %v", err)
	}
	if _, err := j.Wait(time.Second); err != ErrClosed {
		t.Fatalf("wait after close: %v", err)
	}
	if err := s.Step(1, nil); err != nil { // closing the job freed the session
		t.Fatal(err)
	}
	if _, err := s.SubmitTokens(sampler, []int32{999}, jobOptions(4)); !errors.As(err, &e) || e.Status != ErrInvalidArg {
		t.Fatalf("a token out of range: %v", err)
	}
	if _, err := NewRuntime(1, WithJobMode(JobsHost)); !errors.As(err, &e) || e.Status != ErrInvalidArg {
		t.Fatalf("host mode without a task runner: %v", err)
	}

	// A handler's panic comes out of the Poll that delivered the event; a handler may
	// close its own job.
	o := jobOptions(4)
	o.OnEvent = func(JobEvent) { panic("from the handler") }
	j, _ = s.Submit(sampler, "abc", o)
	j.Wait(time.Minute)
	func() {
		defer func() {
			if r := recover(); r != "from the handler" {
				t.Fatalf("recovered %v", r)
			}
		}()
		j.Poll()
		t.Fatal("the handler's panic did not reach Poll")
	}()
	j.Close()
	var own *Job
	var mu sync.Mutex
	seen := 0
	o.OnEvent = func(JobEvent) {
		mu.Lock()
		seen++
		mu.Unlock()
		own.Close()
	}
	own, _ = s.Submit(sampler, "abc", o)
	own.Wait(time.Minute)
	own.Poll()
	if seen != 1 {
		t.Fatalf("%d events after the handler closed its job", seen)
	}
	if _, err := own.Poll(); err != ErrClosed {
		t.Fatalf("poll after the handler closed the job: %v", err)
	}

	// A job outlives the session it came from: closing the session cancels it.
	rt2, m2 := loadModel(t, WithJobMode(JobsFrame))
	s2, _ := m2.NewSession()
	late, _ := s2.Submit(sampler, "late", jobOptions(5))
	s2.Close()
	m2.Close()
	rt2.Close()
	late.Poll()
	if !late.Finished() || !errors.As(late.Err(), &e) || e.Status != ErrCancelled {
		t.Fatalf("a job whose session closed: %v %v", late.Finished(), late.Err())
	}
	late.Close()

	// Closing a job while another goroutine waits on it cancels it; the wait returns.
	long, _ := s.Submit(sampler, strings.Repeat(jobPrompt, 20), jobOptions(200))
	waited := make(chan error, 1)
	go func() {
		_, err := long.Wait(time.Minute)
		waited <- err
	}()
	time.Sleep(5 * time.Millisecond)
	long.Close()
	if err := <-waited; err != nil && err != ErrClosed {
		t.Fatal(err)
	}
	if err := s.Step(2, nil); err != nil {
		t.Fatal(err)
	}
}
