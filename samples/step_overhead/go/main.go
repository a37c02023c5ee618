// Command step_overhead prints what the Go binding adds to a call: Session.Step and
// Session.Position against the same C calls made bare through cgo, and against a loop
// written in C (no cgo crossing per call), all in this process on sessions of the same
// bundle. Each figure is the fastest of many short interleaved blocks, so that time
// the thread spends switched out on a busy machine does not count.
//
// Usage: step_overhead BUNDLE
package main

/*
#include <moemamba/moemamba.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static mmb_runtime* c_runtime;
static mmb_model* c_model;
static mmb_session* c_session;

static int c_open(const char* path) {
  mmb_runtime_options o;
  if (mmb_runtime_options_init(&o, sizeof o) != MMB_OK) return 1;
  o.n_threads = 1;
  if (mmb_runtime_create(&o, &c_runtime) != MMB_OK) return 1;
  if (mmb_model_load_file(c_runtime, path, NULL, &c_model) != MMB_OK) return 1;
  return mmb_session_create(c_model, NULL, &c_session) != MMB_OK;
}

static int64_t c_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static mmb_status c_step(int32_t token) { return mmb_session_step(c_session, token, NULL, 0); }
static mmb_status c_position(uint64_t* p) { return mmb_session_get_position(c_session, p); }

// n steps timed inside C.
static int64_t c_step_loop(int first, int n) {
  int64_t t0 = c_now();
  for (int i = first; i < first + n; i++) mmb_session_step(c_session, i * 31 % 256, NULL, 0);
  return c_now() - t0;
}

static int64_t c_position_loop(int n) {
  uint64_t p = 0, sum = 0;
  int64_t t0 = c_now();
  for (int i = 0; i < n; i++) { mmb_session_get_position(c_session, &p); sum += p; }
  int64_t t = c_now() - t0;
  return sum == 1 ? t + 1 : t;
}
*/
import "C"

import (
	"fmt"
	"math"
	"os"
	"time"
	"unsafe"

	"moemamba.dev/moemamba"
)

// fastest runs f rounds times and returns the shortest time per call of a block of n.
func fastest(rounds, n int, f func() time.Duration) float64 {
	best := math.MaxFloat64
	for r := 0; r < rounds; r++ {
		if d := float64(f().Nanoseconds()) / float64(n); d < best {
			best = d
		}
	}
	return best
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: step_overhead BUNDLE")
		os.Exit(2)
	}
	rt, err := moemamba.NewRuntime(1)
	if err != nil {
		panic(err)
	}
	model, err := rt.LoadFile(os.Args[1])
	if err != nil {
		panic(err)
	}
	session, err := model.NewSession()
	if err != nil {
		panic(err)
	}
	path := C.CString(os.Args[1])
	defer C.free(unsafe.Pointer(path))
	if C.c_open(path) != 0 {
		panic(C.GoString(C.mmb_last_error()))
	}

	const block, rounds = 5, 400
	binding := func() time.Duration {
		start := time.Now()
		for i := 0; i < block; i++ {
			if err := session.Step(int32(i*31%256), nil); err != nil {
				panic(err)
			}
		}
		return time.Since(start)
	}
	bare := func() time.Duration {
		start := time.Now()
		for i := 0; i < block; i++ {
			if C.c_step(C.int32_t(i*31%256)) != 0 {
				panic("step failed")
			}
		}
		return time.Since(start)
	}
	inC := func() time.Duration { return time.Duration(C.c_step_loop(0, block)) }
	for i := 0; i < 20; i++ { // warm up caches
		binding()
		bare()
		inC()
	}
	var b, g, c float64 = math.MaxFloat64, math.MaxFloat64, math.MaxFloat64
	for r := 0; r < rounds; r++ { // interleaved, so that load changes hit all three
		b = math.Min(b, fastest(1, block, binding))
		g = math.Min(g, fastest(1, block, bare))
		c = math.Min(c, fastest(1, block, inC))
	}
	fmt.Printf("go step (logits NULL, 1 thread): binding %.3f us/call, bare cgo %.3f us/call, C loop %.3f us/call; "+
		"overhead vs C %+.3f us/call\n", b/1e3, g/1e3, c/1e3, (b-c)/1e3)

	const reps = 100000
	pb := fastest(10, reps, func() time.Duration {
		start := time.Now()
		for i := 0; i < reps; i++ {
			if _, err := session.Position(); err != nil {
				panic(err)
			}
		}
		return time.Since(start)
	})
	pg := fastest(10, reps, func() time.Duration {
		var p C.uint64_t
		start := time.Now()
		for i := 0; i < reps; i++ {
			C.c_position(&p)
		}
		return time.Since(start)
	})
	pc := fastest(10, reps, func() time.Duration { return time.Duration(C.c_position_loop(reps)) })
	fmt.Printf("go position: binding %.1f ns/call, bare cgo %.1f ns/call, C loop %.1f ns/call\n", pb, pg, pc)
}
