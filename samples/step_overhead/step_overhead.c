/* The C API's own figures that the bindings' overhead benchmarks are read against:
 * microseconds per mmb_session_step (logits NULL) and nanoseconds per
 * mmb_session_get_position (a call that does almost nothing). Timed as the bindings'
 * benchmarks time theirs: the same tokens, the fastest of many short blocks (shorter
 * than a scheduler time slice, so that time spent switched out on a busy machine does
 * not count).
 * usage: step_overhead_c BUNDLE [THREADS] */
#define _POSIX_C_SOURCE 200809L
#include <moemamba/moemamba.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int fail(const char* what, mmb_status status) {
  fprintf(stderr, "%s: %s: %s\n", what, mmb_status_string(status), mmb_last_error());
  return 1;
}

int main(int argc, char** argv) {
  enum { BLOCK = 5, ROUNDS = 400, REPS = 100000 };
  mmb_runtime_options ro;
  mmb_runtime* runtime = NULL;
  mmb_model* model = NULL;
  mmb_session* session = NULL;
  double step_s = 1e30, position_s = 1e30, t0;
  uint64_t position = 0, sink = 0;
  int i, round;
  mmb_status s;
  if (argc < 2) {
    fprintf(stderr, "usage: %s BUNDLE [THREADS]\n", argv[0]);
    return 2;
  }
  if ((s = mmb_runtime_options_init(&ro, sizeof ro)) != MMB_OK) return fail("runtime options", s);
  ro.n_threads = argc > 2 ? atoi(argv[2]) : 1;
  if ((s = mmb_runtime_create(&ro, &runtime)) != MMB_OK) return fail("runtime", s);
  if ((s = mmb_model_load_file(runtime, argv[1], NULL, &model)) != MMB_OK) return fail("load", s);
  if ((s = mmb_session_create(model, NULL, &session)) != MMB_OK) return fail("session", s);
  for (round = -20; round < ROUNDS; round++) { /* the first rounds warm up the caches */
    t0 = now_s();
    for (i = 0; i < BLOCK; i++)
      if ((s = mmb_session_step(session, i * 31 % 256, NULL, 0)) != MMB_OK) return fail("step", s);
    t0 = now_s() - t0;
    if (round >= 0 && t0 < step_s) step_s = t0;
  }
  for (round = 0; round < 10; round++) {
    t0 = now_s();
    for (i = 0; i < REPS; i++) {
      mmb_session_get_position(session, &position);
      sink += position;
    }
    t0 = now_s() - t0;
    if (t0 < position_s) position_s = t0;
  }
  printf("c step (logits NULL, %d thread%s): %.3f us/call\nc position: %.1f ns/call%s\n", ro.n_threads,
         ro.n_threads == 1 ? "" : "s", step_s * 1e6 / BLOCK, position_s * 1e9 / REPS, sink == 1 ? " " : "");
  mmb_session_destroy(session);
  mmb_model_destroy(model);
  mmb_runtime_destroy(runtime);
  return 0;
}
