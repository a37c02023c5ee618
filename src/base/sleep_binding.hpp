// Binds a sleeping pool worker to CPUs of its own, so that the thread that wakes it
// does not decide where it runs. Linux places a woken thread by the waker's view: when
// the sleeper's CPU looks busy to it (on a VM, a vCPU whose host thread was preempted
// looks busy although it is idle), the sleeper is queued on the waker's CPU, behind
// the waker, and a worker that should run beside the calling thread waits for it
// instead until the load balancer moves it, milliseconds later. Bound, the wake-up
// brings it back to its own CPU. Elsewhere (Windows keeps an ideal processor per
// thread; macOS has no binding) this does nothing.
#pragma once

namespace mmb {

// The CPU the calling thread runs on now; -1 where that is unknown.
int current_cpu();

class SleepBinding {
 public:
  // Binds the calling thread to the CPU it is on now, or, when that is `avoid` (the
  // CPU the thread that will wake it runs on), to every other CPU it may use. Binds
  // nothing when the thread may use only one CPU.
  explicit SleepBinding(int avoid);
  // Gives the thread back the CPUs it was allowed before.
  ~SleepBinding();
  SleepBinding(const SleepBinding&) = delete;
  SleepBinding& operator=(const SleepBinding&) = delete;

  bool bound() const { return bound_; }

 private:
  bool bound_ = false;
  alignas(8) unsigned char allowed_[128];  // the affinity before: a Linux cpu_set_t
};

}  // namespace mmb
