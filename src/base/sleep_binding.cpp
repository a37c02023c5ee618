#include "base/sleep_binding.hpp"

#if defined(__linux__) && !defined(__EMSCRIPTEN__)
#include <sched.h>

#include <cstring>

namespace mmb {

int current_cpu() { return sched_getcpu(); }

SleepBinding::SleepBinding(int avoid) {
  static_assert(sizeof(cpu_set_t) == sizeof(allowed_), "allowed_ holds one cpu_set_t");
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0 || CPU_COUNT(&allowed) < 2) return;
  const int cpu = sched_getcpu();
  if (cpu < 0 || cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &allowed)) return;
  cpu_set_t bind;
  if (cpu != avoid) {
    CPU_ZERO(&bind);
    CPU_SET(cpu, &bind);
  } else {
    bind = allowed;
    CPU_CLR(cpu, &bind);
  }
  if (sched_setaffinity(0, sizeof bind, &bind) != 0) return;
  std::memcpy(allowed_, &allowed, sizeof allowed);
  bound_ = true;
}

SleepBinding::~SleepBinding() {
  if (!bound_) return;
  cpu_set_t allowed;
  std::memcpy(&allowed, allowed_, sizeof allowed);
  sched_setaffinity(0, sizeof allowed, &allowed);
}

}  // namespace mmb

#else

namespace mmb {

int current_cpu() { return -1; }
SleepBinding::SleepBinding(int) {}
SleepBinding::~SleepBinding() {}

}  // namespace mmb

#endif
