// The compute thread pool: every task once, worker ids usable for scratch, and
// concurrent submitters never deadlock.
#include <catch2/catch.hpp>

#include "base/thread_pool.hpp"

#include <atomic>
#include <thread>
#include <vector>

TEST_CASE("thread pool runs every task exactly once", "[threads]") {
  for (int threads : {1, 2, 3, 8}) {
    mmb::ThreadPool pool(threads);
    CHECK(pool.size() == threads);
    for (size_t n : {size_t(0), size_t(1), size_t(7), size_t(1000)}) {
      std::vector<std::atomic<int>> hits(n);
      std::atomic<int> bad_worker{0};
      for (int rep = 0; rep < 20; ++rep)
        pool.run(n, [&](size_t i, int worker) {
          hits[i].fetch_add(1);
          if (worker < 0 || worker >= threads) bad_worker.fetch_add(1);
        });
      for (size_t i = 0; i < n; ++i) CHECK(hits[i].load() == 20);
      CHECK(bad_worker.load() == 0);
    }
  }
}

TEST_CASE("thread pool worker ids are exclusive while tasks run", "[threads]") {
  mmb::ThreadPool pool(4);
  std::vector<std::atomic<int>> in_use(4);
  std::atomic<int> collisions{0};
  pool.run(2000, [&](size_t, int worker) {
    if (in_use[size_t(worker)].exchange(1) != 0) collisions.fetch_add(1);
    std::this_thread::yield();  // widen the window in which a collision would show
    in_use[size_t(worker)].store(0);
  });
  CHECK(collisions.load() == 0);
}

TEST_CASE("thread pool serves concurrent submitters", "[threads]") {
  mmb::ThreadPool pool(3);
  std::atomic<long> total{0};
  std::vector<std::thread> submitters;
  for (int t = 0; t < 6; ++t)
    submitters.emplace_back([&] {
      for (int rep = 0; rep < 200; ++rep) pool.run(50, [&](size_t i, int) { total.fetch_add(long(i)); });
    });
  for (auto& s : submitters) s.join();
  CHECK(total.load() == 6L * 200L * (49L * 50L / 2L));
}
