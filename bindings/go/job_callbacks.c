// The C side of the Go binding's job callbacks: the trampolines handed to the library
// and wrappers that tell them which Go call is delivering on this thread.
#include <moemamba/moemamba.h>

#include "_cgo_export.h"

// The Go call (a cgo.Handle of its delivery record) that is inside the library on this
// thread: a panic of a handler or task runner is recorded there and raised again in Go
// once the C call has returned, instead of unwinding through the library's frames.
static _Thread_local uintptr_t current_delivery;

static void job_event(void* user, mmb_job* job, int32_t kind, int32_t token, const char* text, size_t len,
                      mmb_status status) {
  (void)job;
  mmbGoJobEvent((uintptr_t)user, current_delivery, kind, token, (char*)text, len, status);
}

static void run_task(void* user, mmb_task_fn task, void* data) {
  mmbGoRunTask((uintptr_t)user, (uintptr_t)task, (uintptr_t)data, current_delivery);
}

void mmb_go_set_run_task(mmb_runtime_options* o, uintptr_t runner) {
  o->run_task = run_task;
  o->run_task_user_data = (void*)runner;
}

void mmb_go_call_task(uintptr_t task, uintptr_t data, uintptr_t delivery) {
  uintptr_t outer = current_delivery;
  current_delivery = delivery;  // the library may hand out the next task from here
  ((mmb_task_fn)task)((void*)data);
  current_delivery = outer;
}

void mmb_go_set_events(mmb_job_options* o, uintptr_t sink) {
  o->on_event = sink ? job_event : NULL;
  o->event_user_data = (void*)sink;
}

mmb_status mmb_go_job_submit_text(mmb_session* s, mmb_sampler* sp, const char* prompt, size_t len,
                                  const mmb_job_options* o, mmb_job** out, uintptr_t delivery) {
  uintptr_t outer = current_delivery;
  current_delivery = delivery;
  mmb_status st = mmb_job_submit_text(s, sp, prompt, len, o, out);
  current_delivery = outer;
  return st;
}

mmb_status mmb_go_job_submit_tokens(mmb_session* s, mmb_sampler* sp, const int32_t* tokens, size_t n,
                                    const mmb_job_options* o, mmb_job** out, uintptr_t delivery) {
  uintptr_t outer = current_delivery;
  current_delivery = delivery;
  mmb_status st = mmb_job_submit_tokens(s, sp, tokens, n, o, out);
  current_delivery = outer;
  return st;
}

mmb_status mmb_go_job_poll(mmb_job* job, int32_t* state, mmb_status* result, uintptr_t delivery) {
  uintptr_t outer = current_delivery;
  current_delivery = delivery;
  mmb_status st = mmb_job_poll(job, state, result);
  current_delivery = outer;
  return st;
}

mmb_status mmb_go_runtime_frame(mmb_runtime* rt, uint64_t budget_us, mmb_frame_stats* stats, uintptr_t delivery) {
  uintptr_t outer = current_delivery;
  current_delivery = delivery;
  mmb_status st = mmb_runtime_frame(rt, budget_us, stats);
  current_delivery = outer;
  return st;
}
