/* The C API's own figures that the bindings' overhead benchmarks are read against:
 * microseconds per mmb_session_step (logits NULL) and nanoseconds per
 * mmb_session_get_position (a call that does almost nothing), timed the way the
 * bindings time theirs (the same tokens, best of five rounds).
 * usage: step_overhead_c BUNDLE [CALLS [THREADS]] */
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
  mmb_runtime_options ro;
  mmb_runtime* runtime = NULL;
  mmb_model* model = NULL;
  mmb_session* session = NULL;
  const int calls = argc > 2 ? atoi(argv[2]) : 2000;
  const int reps = 1000000;
  double best = 1e30, t0, position_ns;
  uint64_t position = 0, sink = 0;
  int i, round;
  mmb_status s;
  if (argc < 2 || calls <= 0) {
    fprintf(stderr, "usage: %s BUNDLE [CALLS [THREADS]]\n", argv[0]);
    return 2;
  }
  mmb_runtime_options_init(&ro);
  ro.n_threads = argc > 3 ? atoi(argv[3]) : 1;
  if ((s = mmb_runtime_create(&ro, &runtime)) != MMB_OK) return fail("runtime", s);
  if ((s = mmb_model_load_file(runtime, argv[1], NULL, &model)) != MMB_OK) return fail("load", s);
  if ((s = mmb_session_create(model, NULL, &session)) != MMB_OK) return fail("session", s);
  for (i = 0; i < 200; i++) mmb_session_step(session, i * 31 % 256, NULL, 0); /* warm up */
  for (round = 0; round < 5; round++) {
    t0 = now_s();
    for (i = 0; i < calls; i++)
      if ((s = mmb_session_step(session, i * 31 % 256, NULL, 0)) != MMB_OK) return fail("step", s);
    t0 = now_s() - t0;
    if (t0 < best) best = t0;
  }
  t0 = now_s();
  for (i = 0; i < reps; i++) {
    mmb_session_get_position(session, &position);
    sink += position;
  }
  position_ns = (now_s() - t0) * 1e9 / reps;
  printf("c step (logits NULL, %d threads), %d calls, best of 5: %.3f us/call; get_position %.1f ns/call%s\n",
         ro.n_threads, calls, best * 1e6 / calls, position_ns, sink == 1 ? " " : "");
  mmb_session_destroy(session);
  mmb_model_destroy(model);
  mmb_runtime_destroy(runtime);
  return 0;
}
