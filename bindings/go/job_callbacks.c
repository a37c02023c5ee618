// The C side of the Go binding's job callbacks: the trampolines handed to the library,
// and the record of which Go call is delivering on this thread.
#include <moemamba/moemamba.h>

#include "_cgo_export.h"

// The Go call (a cgo.Handle of its delivery record) that is inside the library on this
// thread: a panic of a handler or task runner is recorded there and raised again in Go
// once the C call has returned, instead of unwinding through the library's frames. Go
// sets it around a call with its OS thread locked.
static _Thread_local uintptr_t current_delivery;

uintptr_t mmb_go_delivery_begin(uintptr_t delivery) {
  uintptr_t outer = current_delivery;
  current_delivery = delivery;
  return outer;
}

void mmb_go_delivery_end(uintptr_t outer) { current_delivery = outer; }

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

void mmb_go_call_task(uintptr_t task, uintptr_t data) { ((mmb_task_fn)task)((void*)data); }

void mmb_go_set_events(mmb_job_options* o, uintptr_t sink) {
  o->on_event = sink ? job_event : NULL;
  o->event_user_data = (void*)sink;
}
