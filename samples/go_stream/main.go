// Command go_stream streams a continuation of a prompt to stdout, one piece of text
// per token as the tokens are chosen, through the Go binding (bindings/go).
//
// Usage: go_stream BUNDLE PROMPT [TOKENS [TEMPERATURE]]   (temperature 0 = greedy)
package main

import (
	"fmt"
	"os"
	"strconv"

	"moemamba.dev/moemamba"
)

func run(bundle, prompt string, tokens int, temperature float32) error {
	rt, err := moemamba.NewRuntime(0)
	if err != nil {
		return err
	}
	defer rt.Close()
	model, err := rt.LoadFile(bundle)
	if err != nil {
		return err
	}
	defer model.Close()
	session, err := model.NewSession()
	if err != nil {
		return err
	}
	defer session.Close()
	params, err := moemamba.DefaultSamplerParams()
	if err != nil {
		return err
	}
	params.Temperature = temperature
	sampler, err := moemamba.NewSampler(params)
	if err != nil {
		return err
	}
	defer sampler.Close()

	// Stream runs the generation on its own goroutine and sends each piece of text
	// (whole characters) as soon as its token is chosen; os.Stdout is unbuffered.
	texts, errs := session.Stream(sampler, prompt, tokens)
	for text := range texts {
		os.Stdout.WriteString(text)
	}
	if err := <-errs; err != nil {
		return err
	}
	fmt.Println()
	return nil
}

func main() {
	if len(os.Args) < 3 || len(os.Args) > 5 {
		fmt.Fprintf(os.Stderr, "usage: %s BUNDLE PROMPT [TOKENS [TEMPERATURE]]\n", os.Args[0])
		os.Exit(2)
	}
	tokens, temperature := 64, 0.8
	var err error
	if len(os.Args) > 3 {
		if tokens, err = strconv.Atoi(os.Args[3]); err != nil {
			fmt.Fprintln(os.Stderr, "TOKENS must be an integer")
			os.Exit(2)
		}
	}
	if len(os.Args) > 4 {
		if temperature, err = strconv.ParseFloat(os.Args[4], 32); err != nil {
			fmt.Fprintln(os.Stderr, "TEMPERATURE must be a number")
			os.Exit(2)
		}
	}
	if err := run(os.Args[1], os.Args[2], tokens, float32(temperature)); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
