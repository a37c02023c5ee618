// A pool worker sleeps bound to its own CPU and gets its CPUs back when it wakes
// (base/sleep_binding.hpp): checked on real threads through the kernel's own view of
// their affinity.
#include <catch2/catch.hpp>

#include "base/sleep_binding.hpp"
#include "base/thread_pool.hpp"

#if defined(__linux__) && !defined(__EMSCRIPTEN__)
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace {

cpu_set_t affinity_of(pid_t tid) {
  cpu_set_t set;
  CPU_ZERO(&set);
  REQUIRE(sched_getaffinity(tid, sizeof set, &set) == 0);
  return set;
}

bool may_use_two_cpus() {
  const cpu_set_t set = affinity_of(0);
  return CPU_COUNT(&set) >= 2;
}

}  // namespace

// What a binding did on a fresh thread: the affinity before, while bound and after.
struct Binding {
  cpu_set_t before, during, after;
  int cpu;  // where the thread ran when it bound itself
  bool bound;
};

// `avoid_own`: the binding is told to avoid the CPU the thread is on.
Binding bind_on_a_new_thread(bool avoid_own) {
  Binding b{};
  std::thread([&] {
    b.before = affinity_of(0);
    b.cpu = mmb::current_cpu();
    {
      const mmb::SleepBinding bound(avoid_own ? b.cpu : -1);
      b.bound = bound.bound();
      b.during = affinity_of(0);
    }
    b.after = affinity_of(0);
  }).join();
  return b;
}

TEST_CASE("a sleep binding holds the thread on its CPU or off the waker's and gives its CPUs back", "[threads]") {
  if (!may_use_two_cpus()) {
    WARN("this process may use one CPU only: there is nothing to bind; skipped");
    return;
  }
  const Binding own = bind_on_a_new_thread(false);
  REQUIRE(own.bound);
  CHECK(CPU_COUNT(&own.during) == 1);
  CHECK(CPU_ISSET(own.cpu, &own.during));
  CHECK(CPU_EQUAL(&own.before, &own.after));

  const Binding apart = bind_on_a_new_thread(true);  // the thread was on the waker's CPU
  REQUIRE(apart.bound);
  CHECK(CPU_COUNT(&apart.during) == CPU_COUNT(&apart.before) - 1);
  CHECK_FALSE(CPU_ISSET(apart.cpu, &apart.during));
  CHECK(CPU_EQUAL(&apart.before, &apart.after));
}

TEST_CASE("a sleep binding gives back a narrowed affinity as it was and binds nothing on one CPU", "[threads]") {
  if (!may_use_two_cpus()) {
    WARN("this process may use one CPU only: there is nothing to bind; skipped");
    return;
  }
  std::thread([] {
    const cpu_set_t all = affinity_of(0);
    int first = -1, second = -1;
    for (int c = 0; c < CPU_SETSIZE && second < 0; ++c)
      if (CPU_ISSET(c, &all)) (first < 0 ? first : second) = c;
    cpu_set_t two;
    CPU_ZERO(&two);
    CPU_SET(first, &two);
    CPU_SET(second, &two);
    REQUIRE(sched_setaffinity(0, sizeof two, &two) == 0);
    { const mmb::SleepBinding bound(-1); CHECK(bound.bound()); }
    cpu_set_t after = affinity_of(0);
    CHECK(CPU_EQUAL(&two, &after));

    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    REQUIRE(sched_setaffinity(0, sizeof one, &one) == 0);
    { const mmb::SleepBinding bound(-1); CHECK_FALSE(bound.bound()); }
    after = affinity_of(0);
    CHECK(CPU_EQUAL(&one, &after));
  }).join();
}

TEST_CASE("a pool worker sleeps bound to one CPU and runs again with all of them", "[threads]") {
  if (!may_use_two_cpus()) {
    WARN("this process may use one CPU only: there is nothing to bind; skipped");
    return;
  }
  const cpu_set_t all = affinity_of(0);
  mmb::ThreadPool pool(2);
  std::atomic<pid_t> worker_tid{0};
  std::atomic<int> worker_cpus{0};
  auto record = [&](size_t, int worker) {
    if (worker == 0) {
      // Holds the caller's task until the worker has taken the other one.
      for (int i = 0; i < 2000 && worker_tid.load() == 0; ++i) std::this_thread::sleep_for(std::chrono::microseconds(100));
      return;
    }
    worker_tid.store(pid_t(syscall(SYS_gettid)));
    const cpu_set_t now = affinity_of(0);
    worker_cpus.store(CPU_COUNT(&now));
  };
  pool.run(2, record);
  REQUIRE(worker_tid.load() != 0);
  // Past the worker's spin (about a millisecond), it sleeps bound.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const cpu_set_t sleeping = affinity_of(worker_tid.load());
  CHECK(CPU_COUNT(&sleeping) == 1);
  // Woken, it works with every CPU it had.
  const pid_t tid = worker_tid.exchange(0);
  pool.run(2, record);
  REQUIRE(worker_tid.load() == tid);
  CHECK(worker_cpus.load() == CPU_COUNT(&all));
}

#else

TEST_CASE("a sleep binding holds the thread on its CPU or off the waker's and gives its CPUs back", "[threads]") {
  mmb::SleepBinding bound(-1);
  CHECK_FALSE(bound.bound());
  WARN("threads sleep unbound on this platform (Linux binds them)");
}

#endif
