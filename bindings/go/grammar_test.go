package moemamba

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

const actionSchema = `{"type":"object","properties":{"action":{"enum":["attack","flee","talk"]},"target":{"type":"string","maxLength":12}},"required":["action","target"],"additionalProperties":false}`

var choices = []string{"north", "south", "east", "west"}

// demoPath is MMB_TEST_DEMO_BUNDLE, else the repository's models/demo-moe-mamba.mmb.
func demoPath() string {
	if p := os.Getenv("MMB_TEST_DEMO_BUNDLE"); p != "" {
		return p
	}
	return filepath.Join("..", "..", "models", "demo-moe-mamba.mmb")
}

func samplerAt(t testing.TB, seed uint64) *Sampler {
	t.Helper()
	p, err := DefaultSamplerParams()
	if err != nil {
		t.Fatal(err)
	}
	p.Temperature = 1
	p.Seed = seed
	s, err := NewSampler(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustState(t testing.TB, g *Grammar) *GrammarState {
	t.Helper()
	s, err := g.NewState()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func isStatusErr(err error, status int) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == status
}

// checkAction parses text with encoding/json and checks it against actionSchema.
func checkAction(t *testing.T, text string) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(text))
	dec.DisallowUnknownFields()
	var v struct {
		Action *string `json:"action"`
		Target *string `json:"target"`
	}
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%q: %v", text, err)
	}
	if dec.More() {
		t.Fatalf("%q: text after the object", text)
	}
	if v.Action == nil || v.Target == nil {
		t.Fatalf("%q: a required property is missing", text)
	}
	switch *v.Action {
	case "attack", "flee", "talk":
	default:
		t.Fatalf("%q: action %q", text, *v.Action)
	}
	if utf8.RuneCountInString(*v.Target) > 12 {
		t.Fatalf("%q: target longer than 12", text)
	}
	// The properties come in the schema's order.
	if strings.Index(text, `"action"`) > strings.Index(text, `"target"`) {
		t.Fatalf("%q: properties out of order", text)
	}
}

func generateText(t *testing.T, s *Session, sp *Sampler, prompt string, o GenerateOptions) string {
	t.Helper()
	var b strings.Builder
	if err := s.GenerateWith(sp, prompt, o, func(_ int32, text string) bool {
		b.WriteString(text)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func canEnd(t *testing.T, s *GrammarState) bool {
	t.Helper()
	ok, err := s.CanEnd()
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func acceptText(t *testing.T, m *Model, s *GrammarState, text string) {
	t.Helper()
	tokens, err := m.Tokenize(text, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range tokens {
		if err := s.Accept(tok); err != nil {
			t.Fatalf("token %d of %q: %v", tok, text, err)
		}
	}
}

func TestGrammarJSONSchemaGeneration(t *testing.T) {
	rt, m := loadFrom(t, demoPath())
	defer rt.Close()
	defer m.Close()
	g, err := m.NewGrammarJSONSchema(actionSchema)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	for seed := uint64(1); seed <= 4; seed++ {
		s, err := m.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		st := mustState(t, g)
		sp := samplerAt(t, seed)
		text := generateText(t, s, sp, "The orc", GenerateOptions{MaxTokens: 200, Grammar: st})
		if !canEnd(t, st) {
			t.Fatalf("seed %d: unfinished %q", seed, text)
		}
		checkAction(t, text)

		// StreamWith, on another goroutine.
		st2 := mustState(t, g)
		s2, err := m.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		texts, errs := s2.StreamWith(samplerAt(t, seed), "The orc", GenerateOptions{MaxTokens: 200, Grammar: st2})
		var b strings.Builder
		for piece := range texts {
			b.WriteString(piece)
		}
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		checkAction(t, b.String())
		for _, c := range []interface{ Close() error }{s, s2, st, st2, sp} {
			c.Close()
		}
	}
}

func TestGrammarChoice(t *testing.T) {
	rt, m := loadFrom(t, demoPath())
	defer rt.Close()
	defer m.Close()
	g, err := m.NewGrammarChoice(choices)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	for seed := uint64(5); seed <= 7; seed++ {
		s, err := m.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		st := mustState(t, g)
		defer st.Close()
		text := generateText(t, s, samplerAt(t, seed), "We walked", GenerateOptions{MaxTokens: 50, Grammar: st})
		found := false
		for _, c := range choices {
			found = found || c == text
		}
		if !found {
			t.Fatalf("seed %d: %q is not a choice", seed, text)
		}
		if must, err := st.MustEnd(); err != nil || !must {
			t.Fatalf("must end: %v %v", must, err)
		}

		// A job takes its own copy of the state: the one given stays at the start.
		start := mustState(t, g)
		defer start.Close()
		s2, err := m.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		o := DefaultJobOptions()
		o.MaxTokens = 50
		o.Grammar = start
		job, err := s2.Submit(samplerAt(t, seed), "We walked", o)
		if err != nil {
			t.Fatal(err)
		}
		if done, err := job.Wait(time.Minute); err != nil || !done {
			t.Fatalf("wait: %v %v", done, err)
		}
		jobText, err := job.Poll()
		if err != nil || job.Err() != nil {
			t.Fatal(err, job.Err())
		}
		job.Close()
		found = false
		for _, c := range choices {
			found = found || c == jobText
		}
		if !found {
			t.Fatalf("job, seed %d: %q is not a choice", seed, jobText)
		}
		if canEnd(t, start) {
			t.Fatal("the job advanced the state it was given")
		}
	}
	if _, err := m.NewGrammarChoice(nil); !isStatusErr(err, ErrInvalidArg) {
		t.Fatalf("no items: %v", err)
	}
	if _, err := m.NewGrammarChoice([]string{"a", ""}); !isStatusErr(err, ErrGrammar) {
		t.Fatalf("an empty item: %v", err)
	}
}

func TestGrammarChatReply(t *testing.T) {
	chatPath, _ := chatBundlePaths(t)
	rt, m := loadFrom(t, chatPath)
	defer rt.Close()
	defer m.Close()
	g, err := m.NewGrammarChoice(choices)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	c, err := m.NewChat()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Add("user", "Which way?"); err != nil {
		t.Fatal(err)
	}
	st := mustState(t, g)
	defer st.Close()
	reply, err := c.GenerateWith(samplerAt(t, 9), GenerateOptions{MaxTokens: 50, Grammar: st}, nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ch := range choices {
		found = found || ch == reply.Text
	}
	if !found || !canEnd(t, st) {
		t.Fatalf("reply %q is not a choice", reply.Text)
	}
}

func TestGrammarGBNFAndErrors(t *testing.T) {
	rt, m := loadFrom(t, demoPath())
	defer rt.Close()
	defer m.Close()
	g, err := m.NewGrammarGBNF("root ::= \"yes\" | \"no\"\n")
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	s, err := m.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st := mustState(t, g)
	defer st.Close()
	if text := generateText(t, s, samplerAt(t, 1), "Is it", GenerateOptions{MaxTokens: 20, Grammar: st}); text != "yes" && text != "no" {
		t.Fatalf("%q", text)
	}
	named, err := m.NewGrammarGBNF("answer ::= [0-9]+\n", WithRoot("answer"), WithMaskCacheBytes(0))
	if err != nil {
		t.Fatal(err)
	}
	named.Close()

	_, err = m.NewGrammarGBNF(`root ::= ("a"`)
	var e *Error
	if !errors.As(err, &e) || e.Status != ErrGrammar || e.Name != "MMB_ERR_GRAMMAR" || !strings.Contains(e.Message, "line 1") {
		t.Fatalf("a bad grammar: %v", err)
	}
	if _, err := m.NewGrammarJSONSchema(`{"type": `); !isStatusErr(err, ErrGrammar) {
		t.Fatalf("bad JSON: %v", err)
	}
	if _, err := m.NewGrammarJSONSchema(`{"type":"string","pattern":"^a"}`); !isStatusErr(err, ErrGrammar) {
		t.Fatalf("an unsupported keyword: %v", err)
	}
}

func TestGrammarStateSaveLoadClone(t *testing.T) {
	rt, m := loadFrom(t, demoPath())
	defer rt.Close()
	defer m.Close()
	g, err := m.NewGrammarJSONSchema(actionSchema, WithJSONWhitespace(0))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	st := mustState(t, g)
	defer st.Close()
	acceptText(t, m, st, `{"action":"fl`)
	if canEnd(t, st) {
		t.Fatal("can end after a prefix")
	}
	blob, err := st.Save()
	if err != nil {
		t.Fatal(err)
	}
	clone, err := st.Clone()
	if err != nil {
		t.Fatal(err)
	}
	defer clone.Close()
	loaded := mustState(t, g)
	defer loaded.Close()
	if err := loaded.Load(blob); err != nil {
		t.Fatal(err)
	}
	mask, _ := st.Mask()
	cloneMask, _ := clone.Mask()
	loadedMask, _ := loaded.Mask()
	if !reflect.DeepEqual(mask, cloneMask) || !reflect.DeepEqual(mask, loadedMask) {
		t.Fatal("masks differ after clone or load")
	}
	if again, _ := loaded.Save(); !reflect.DeepEqual(again, blob) {
		t.Fatal("a loaded state saves differently")
	}
	acceptText(t, m, clone, `ee","target":"wolf"}`)
	if must, _ := clone.MustEnd(); !must {
		t.Fatal("the clone's object is not complete")
	}
	if canEnd(t, st) {
		t.Fatal("advancing the clone advanced the original")
	}
	acceptText(t, m, loaded, `ee","target":"bear"}`)
	if !canEnd(t, loaded) {
		t.Fatal("the loaded state's object is not complete")
	}
	bad, _ := m.Tokenize("}", 0)
	if err := st.Accept(bad[0]); !isStatusErr(err, ErrGrammar) {
		t.Fatalf("a refused token: %v", err)
	}
	if after, _ := st.Save(); !reflect.DeepEqual(after, blob) {
		t.Fatal("a refused token changed the state")
	}
	if err := st.Reset(); err != nil {
		t.Fatal(err)
	}
	fresh := mustState(t, g)
	defer fresh.Close()
	a, _ := st.Mask()
	b, _ := fresh.Mask()
	if !reflect.DeepEqual(a, b) {
		t.Fatal("reset is not the start")
	}
	other, err := m.NewGrammarChoice(choices)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	otherState := mustState(t, other)
	defer otherState.Close()
	if err := otherState.Load(blob); !isStatusErr(err, ErrStateMismatch) {
		t.Fatalf("another grammar's state: %v", err)
	}
	damaged := append([]byte(nil), blob...)
	damaged[len(damaged)-1] ^= 0x5a
	if err := st.Load(damaged); !isStatusErr(err, ErrFormat) && !isStatusErr(err, ErrStateMismatch) {
		t.Fatalf("a damaged state: %v", err)
	}
	clone.Close()
	if err := clone.Accept(0); err != ErrClosed {
		t.Fatalf("a closed state: %v", err)
	}
}

func TestGrammarMaskAgreesWithAccept(t *testing.T) {
	rt, m := loadFrom(t, demoPath())
	defer rt.Close()
	defer m.Close()
	g, err := m.NewGrammarJSONSchema(actionSchema)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	st := mustState(t, g)
	defer st.Close()
	acceptText(t, m, st, "{")
	mask, err := st.Mask()
	if err != nil {
		t.Fatal(err)
	}
	words, err := st.MaskWords()
	if err != nil {
		t.Fatal(err)
	}
	info, _ := m.Info()
	if len(mask) != info.VocabSize || len(words) != (info.VocabSize+31)/32 {
		t.Fatalf("mask of %d, %d words for a vocabulary of %d", len(mask), len(words), info.VocabSize)
	}
	var allowed, refused []int32
	for tok, ok := range mask {
		if ok {
			allowed = append(allowed, int32(tok))
		} else {
			refused = append(refused, int32(tok))
		}
	}
	if len(allowed) == 0 || len(refused) == 0 {
		t.Fatalf("%d allowed, %d refused", len(allowed), len(refused))
	}
	var picks []int32
	for i := 0; i < 6 && i < len(allowed); i++ {
		picks = append(picks, allowed[i])
	}
	for i := 0; i < 6; i++ {
		picks = append(picks, refused[i*(len(refused)/6)])
	}
	for _, tok := range picks {
		probe, err := st.Clone()
		if err != nil {
			t.Fatal(err)
		}
		err = probe.Accept(tok)
		probe.Close()
		if (err == nil) != mask[tok] {
			t.Fatalf("token %d: mask %v, accept %v", tok, mask[tok], err)
		}
		if err != nil && !isStatusErr(err, ErrGrammar) {
			t.Fatalf("token %d: %v", tok, err)
		}
	}

	logits := make([]float32, info.VocabSize)
	for i := range logits {
		logits[i] = 0.5
	}
	if err := st.Apply(logits); err != nil {
		t.Fatal(err)
	}
	for tok, v := range logits {
		if math.IsInf(float64(v), -1) == mask[tok] {
			t.Fatalf("token %d: logit %v, mask %v", tok, v, mask[tok])
		}
	}
	if err := st.Apply(logits[1:]); !isStatusErr(err, ErrInvalidArg) {
		t.Fatalf("short logits: %v", err)
	}

	sp := samplerAt(t, 3)
	defer sp.Close()
	flat := make([]float32, info.VocabSize)
	for i := 0; i < 4; i++ {
		probe, err := st.Clone()
		if err != nil {
			t.Fatal(err)
		}
		tok, err := sp.SampleGrammar(probe, flat)
		probe.Close()
		if err != nil || !mask[tok] {
			t.Fatalf("sampled %d (%v)", tok, err)
		}
	}
}
